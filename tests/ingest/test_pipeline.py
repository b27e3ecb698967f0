"""Ingestion into the real embedded Qdrant with the real model: idempotent, follows changes, never
dies on a bad file."""

from __future__ import annotations

import shutil
from pathlib import Path

from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from ingest.pipeline import Ingestor, document_id
from tests.fixtures import VERLOF_MD, bad_files, small_corpus


def test_second_run_changes_nothing(store: QdrantStore, embedder: Embedder, settings: Settings, tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs")
    ingestor = Ingestor(store, embedder, settings.ingest)
    first = ingestor.ingest_folder(corpus, "test")
    assert len(first.new) == 5 and not first.failed
    assert set(first.stage_seconds) == {"parse", "chunk", "embed", "sparse", "upsert"}
    assert first.stage_seconds["embed"] > 0 and sum(first.stage_seconds.values()) <= first.seconds
    count = store.count()
    second = ingestor.ingest_folder(corpus, "test")
    assert not second.changed
    assert len(second.unchanged) == 5 and second.chunks == 0
    assert store.count() == count


def test_updated_file_replaces_its_chunks(store: QdrantStore, embedder: Embedder, settings: Settings,
                                          tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs")
    ingestor = Ingestor(store, embedder, settings.ingest)
    ingestor.ingest_folder(corpus, "test")
    (corpus / "verlof.md").write_text(VERLOF_MD.replace("27 vakantiedagen", "29 vakantiedagen"), encoding="utf-8")
    report = ingestor.ingest_folder(corpus, "test")
    assert report.updated == ("verlof.md",)
    versions = store.versions(document_id("test", "verlof.md"))
    assert len(versions) == 1 and next(iter(versions.values())).complete
    texts = " ".join(p.text for p in store.passages(document_id("test", "verlof.md"), groups=None))
    assert "29 vakantiedagen" in texts and "27 vakantiedagen" not in texts


def test_deleted_file_disappears_from_the_store(store: QdrantStore, embedder: Embedder, settings: Settings,
                                                tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs")
    ingestor = Ingestor(store, embedder, settings.ingest)
    ingestor.ingest_folder(corpus, "test")
    (corpus / "security.docx").unlink()
    report = ingestor.ingest_folder(corpus, "test")
    assert report.removed == ("security.docx",)
    assert store.passages(document_id("test", "security.docx"), groups=None) == []
    assert document_id("test", "security.docx") not in store.documents("test")


def test_bad_files_are_reported_and_the_run_goes_on(store: QdrantStore, embedder: Embedder, settings: Settings,
                                                    tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs")
    bad_files(corpus / "bad")
    report = Ingestor(store, embedder, settings.ingest).ingest_folder(corpus, "test")
    reasons = {f.uri: f.reason for f in report.failed}
    assert set(reasons) == {"bad/corrupt.pdf", "bad/empty.docx"}
    assert "PDF" in reasons["bad/corrupt.pdf"]
    assert "empty" in reasons["bad/empty.docx"]
    assert [(f.uri, "unsupported" in f.reason) for f in report.skipped] == [("bad/blob.bin", True)]
    assert len(report.new) == 5


def test_half_written_version_is_completed_on_the_next_run(store: QdrantStore, embedder: Embedder,
                                                           settings: Settings, tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs")
    ingestor = Ingestor(store, embedder, settings.ingest)
    ingestor.ingest_folder(corpus, "test")
    doc = document_id("test", "verlof.md")
    before = store.versions(doc)
    # simulate a crash in the middle of writing: one chunk of the version is missing
    victim = store.passages(doc, groups=None)[0]
    from core.store import point_id

    store.client.delete(store.collection, points_selector=[point_id(victim.chunk_id)], wait=True)
    assert not next(iter(store.versions(doc).values())).complete
    report = ingestor.ingest_folder(corpus, "test")
    assert report.updated == ("verlof.md",)
    assert store.versions(doc) == before


def test_access_groups_land_on_every_chunk(store: QdrantStore, embedder: Embedder, settings: Settings,
                                           tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs")
    ingest_settings = settings.ingest.model_copy(update={"default_groups": ["hr"]})
    Ingestor(store, embedder, ingest_settings).ingest_folder(corpus, "hr-docs")
    passages = [p for doc in store.documents("hr-docs") for p in store.passages(doc, groups=None)]
    assert passages and all(p.groups == ("hr",) for p in passages)
    assert all(store.passages(doc, groups=["sales"]) == [] for doc in store.documents("hr-docs"))
    assert all(store.passages(doc, groups=["hr"]) for doc in store.documents("hr-docs"))


def test_single_file_can_be_ingested(store: QdrantStore, embedder: Embedder, settings: Settings,
                                     tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs")
    single = tmp_path / "single"
    single.mkdir()
    shutil.copy(corpus / "notes.txt", single / "notes.txt")
    report = Ingestor(store, embedder, settings.ingest).ingest_folder(single / "notes.txt", "one")
    assert report.new == ("notes.txt",)


def test_the_same_version_cut_anew_keeps_none_of_its_old_chunks(store: QdrantStore, embedder: Embedder,
                                                                 settings: Settings, tmp_path: Path) -> None:
    """`--force` after a change of the chunk size writes the same content version with other chunks:
    only the chunks of that run may stay searchable."""
    corpus = tmp_path / "docs"
    corpus.mkdir()
    paragraphs = [f"## Regel {i}\n\n" + " ".join(f"Artikel {i}.{j} bepaalt dat medewerkers {j + 2} dagen "
                                                    f"vooraf melden wanneer zij thuiswerken." for j in range(12))
                  for i in range(6)]
    (corpus / "regels.md").write_text("# Thuiswerkregels\n\n" + "\n\n".join(paragraphs), encoding="utf-8")
    doc_id = document_id("test", "regels.md")
    first = Ingestor(store, embedder, settings.ingest).ingest_folder(corpus, "test")
    smaller = settings.ingest.model_copy(update={"chunk_words": 40, "chunk_overlap_words": 5})
    again = Ingestor(store, embedder, smaller).ingest_folder(corpus, "test", force=True)
    assert again.updated == ("regels.md",) and again.chunks > first.chunks
    passages = store.passages(doc_id, groups=None)
    assert len(passages) == again.chunks == store.count()  # nothing of the first cut is left
    back = Ingestor(store, embedder, settings.ingest).ingest_folder(corpus, "test", force=True)
    assert len(store.passages(doc_id, groups=None)) == back.chunks == first.chunks == store.count()
