"""Sources, labels and the registry: include/exclude globs, access groups and lifecycle from
sidecars and the sources file on every chunk, stale documents out of answers, the registry's
per-document outcome, and version switches that readers never see half-done."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from qdrant_client import models

from core import schema
from core.db import Database
from core.embedding import Embedder
from core.errors import VraagbaakError
from core.settings import Settings
from core.store import QdrantStore
from ingest.pipeline import Ingestor, document_id
from ingest.registry import Registry
from ingest.sources.config import load_sources_file, parse_source
from ingest.sources.folder import FolderSource, glob_match
from tests.fixtures import VERLOF_MD, bad_files, small_corpus


def _payloads(store: QdrantStore, doc_id: str) -> list[dict]:
    points, _ = store.client.scroll(store.collection, limit=1000, with_payload=True, scroll_filter=models.Filter(
        must=[models.FieldCondition(key=schema.DOC_ID, match=models.MatchValue(value=doc_id))]))
    return [p.payload or {} for p in points]


@pytest.mark.parametrize(("pattern", "path", "expected"), [
    ("**/*.pdf", "a.pdf", True), ("**/*.pdf", "x/y/a.pdf", True), ("*.pdf", "x/y/a.pdf", True),
    ("hr/*.md", "hr/a.md", True), ("hr/*.md", "hr/sub/a.md", False), ("hr/**", "hr/sub/a.md", True),
    ("**/concept/**", "beleid/concept/a.docx", True), ("**/concept/**", "beleid/a.docx", False),
])
def test_glob_patterns_treat_folders_as_in_a_shell(pattern: str, path: str, expected: bool) -> None:
    assert glob_match(pattern, path) is expected


def test_globs_sidecars_and_rules_put_groups_and_lifecycle_on_every_chunk(
        store: QdrantStore, embedder: Embedder, settings: Settings, tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs")
    (corpus / "hr").mkdir()
    (corpus / "hr" / "salaris.md").write_text("# Salarisschalen\n\nSchaal 8 loopt van 3.100 tot 4.400 euro bruto.\n",
                                              encoding="utf-8")
    (corpus / "hr" / ".vraagbaak.yml").write_text("groups: [hr]\nowner: HR-afdeling\n", encoding="utf-8")
    (corpus / "verlof.md.meta.yml").write_text("groups: [medewerkers]\neffective: 2024-01-01\nversion: '3.1'\n",
                                               encoding="utf-8")
    (corpus / "concept").mkdir()
    (corpus / "concept" / "ontwerp.md").write_text("# Concept\n\nNog niet vastgesteld.\n", encoding="utf-8")
    source = FolderSource("labels", corpus, exclude=["concept/**"], groups=("iedereen",),
                          group_rules={"*.pdf": ["finance"]})
    report = Ingestor(store, embedder, settings.ingest).ingest_source(source)
    assert not report.failed and "concept/ontwerp.md" not in report.new
    assert "verlof.md.meta.yml" not in report.new + tuple(f.uri for f in report.skipped)
    expected = {"hr/salaris.md": ["hr"], "verlof.md": ["medewerkers"], "onboarding.pdf": ["finance"],
                "notes.txt": ["iedereen"]}
    for uri, groups in expected.items():
        payloads = _payloads(store, document_id("labels", uri))
        assert payloads and all(p[schema.GROUPS] == groups for p in payloads), uri
    salaris = _payloads(store, document_id("labels", "hr/salaris.md"))
    assert all(p[schema.LIFECYCLE]["owner"] == "HR-afdeling" for p in salaris)
    verlof = _payloads(store, document_id("labels", "verlof.md"))
    assert all(p[schema.LIFECYCLE]["effective"] == "2024-01-01" and p[schema.LIFECYCLE]["doc_version"] == "3.1"
               for p in verlof)


def test_changed_sidecar_relabels_without_reembedding(store: QdrantStore, embedder: Embedder, settings: Settings,
                                                     tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs")
    ingestor = Ingestor(store, embedder, settings.ingest)
    ingestor.ingest_source(FolderSource("s", corpus))
    doc_id = document_id("s", "verlof.md")
    assert {tuple(p[schema.GROUPS]) for p in _payloads(store, doc_id)} == {("everyone",)}
    (corpus / "verlof.md.meta.yml").write_text("groups: [hr, directie]\n", encoding="utf-8")
    report = ingestor.ingest_source(FolderSource("s", corpus))
    assert report.updated == ("verlof.md",) and report.chunks == 0 and report.stage_seconds["embed"] == 0
    payloads = _payloads(store, doc_id)
    assert payloads and all(p[schema.GROUPS] == ["hr", "directie"] for p in payloads)
    assert ingestor.registry.get(doc_id).groups == ("hr", "directie")
    assert not ingestor.ingest_source(FolderSource("s", corpus)).changed


def test_superseded_and_expired_policies_are_left_out_of_answers_and_listed_as_stale(
        store: QdrantStore, embedder: Embedder, settings: Settings, tmp_path: Path) -> None:
    from assistant.service import Assistant

    corpus = tmp_path / "beleid"
    corpus.mkdir()
    (corpus / "thuiswerk-2021.md").write_text(
        "---\ntitle: Thuiswerkbeleid 2021\nsuperseded_by: Thuiswerkbeleid 2025\n---\n# Thuiswerkvergoeding\n\n"
        "De thuiswerkvergoeding bedraagt 2 euro per thuiswerkdag.\n", encoding="utf-8")
    (corpus / "thuiswerk-2025.md").write_text(
        "---\ntitle: Thuiswerkbeleid 2025\neffective_date: 2025-01-01\n---\n# Thuiswerkvergoeding\n\n"
        "De thuiswerkvergoeding bedraagt 2,35 euro per thuiswerkdag.\n", encoding="utf-8")
    (corpus / "fiets-oud.md").write_text(
        "---\ntitle: Fietsregeling oud\nVervaldatum: 31-12-2020\n---\n# Fietsregeling\n\n"
        "De fietsvergoeding bedraagt 0,19 euro per kilometer woon-werkverkeer.\n", encoding="utf-8")
    (corpus / "parkeer-2099.md").write_text(
        "---\ntitle: Parkeerbeleid 2099\nIngangsdatum: 1 januari 2099\n---\n# Parkeren\n\n"
        "Parkeren op het terrein kost vanaf dan 5 euro per dag.\n", encoding="utf-8")
    ingestor = Ingestor(store, embedder, settings.ingest)
    report = ingestor.ingest_folder(corpus, "beleid")
    assert len(report.new) == 4 and not report.failed
    stale = {e.uri: e.stale for e in ingestor.registry.stale("beleid")}
    assert stale == {"thuiswerk-2021.md": "superseded", "fiets-oud.md": "expired",
                     "parkeer-2099.md": "not_yet_effective"}

    assistant = Assistant.build(settings, store, embedder)
    answer = assistant.ask("Hoeveel is de thuiswerkvergoeding per dag?", groups=None)
    assert answer.answered and "2,35 euro" in answer.text
    assert {c.title for c in answer.citations} == {"Thuiswerkbeleid 2025"}
    refused = assistant.ask("Wat is de fietsvergoeding per kilometer?", groups=None)
    assert all("0,19" not in c.passage for c in refused.citations + refused.suggestions)

    with_stale = settings.model_copy(update={"retrieval": settings.retrieval.model_copy(update={"include_stale": True})})
    old = Assistant.build(with_stale, store, embedder).ask("Wat is de fietsvergoeding per kilometer?", groups=None)
    assert any("0,19" in c.passage for c in old.citations + old.suggestions)


def test_registry_records_every_outcome_with_its_reason(store: QdrantStore, embedder: Embedder, settings: Settings,
                                                       tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs")
    bad_files(corpus / "bad")
    database = Database.open(f"sqlite:///{tmp_path / 'app.db'}")
    registry = Registry(database)
    ingestor = Ingestor(store, embedder, settings.ingest, registry)
    ingestor.ingest_folder(corpus, "docs")
    entries = {e.uri: e for e in registry.entries("docs").values()}
    assert {uri: e.status for uri, e in entries.items()} == {
        "expenses.html": "indexed", "notes.txt": "indexed", "onboarding.pdf": "indexed", "security.docx": "indexed",
        "verlof.md": "indexed", "bad/corrupt.pdf": "failed", "bad/empty.docx": "failed", "bad/blob.bin": "skipped"}
    pdf = entries["onboarding.pdf"]
    assert pdf.parser == "pypdfium2" and pdf.pages >= 2 and pdf.chunk_count > 0 and not pdf.ocr
    assert pdf.language in {"nl", "en"} and pdf.content_hash and pdf.last_indexed is not None
    assert "PDF" in entries["bad/corrupt.pdf"].reason and "unsupported" in entries["bad/blob.bin"].reason
    assert registry.counts("docs") == {"indexed": 5, "failed": 2, "skipped": 1, "erased": 0, "stale": 0}

    (corpus / "notes.txt").unlink()
    report = ingestor.ingest_folder(corpus, "docs")
    assert report.removed == ("notes.txt",) and "notes.txt" not in {e.uri for e in registry.entries("docs").values()}
    assert not store.passages(document_id("docs", "notes.txt"), groups=None)
    database.close()

    reopened = Registry(Database.open(f"sqlite:///{tmp_path / 'app.db'}"))  # survives a restart, migrations idempotent
    assert reopened.counts("docs")["indexed"] == 4


def test_readers_never_see_two_versions_or_none_while_a_document_is_replaced(
        store: QdrantStore, embedder: Embedder, settings: Settings, tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs")
    ingestor = Ingestor(store, embedder, settings.ingest)
    ingestor.ingest_folder(corpus, "swap")
    doc_id = document_id("swap", "verlof.md")
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            passages = store.passages(doc_id, groups=None)
            seen.append((len(passages), len({p.version for p in passages})))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for days in (28, 29, 30):
            (corpus / "verlof.md").write_text(VERLOF_MD.replace("27 vakantiedagen", f"{days} vakantiedagen") +
                                              "\nExtra alinea.\n" * (days - 27), encoding="utf-8")
            assert ingestor.ingest_folder(corpus, "swap").updated == ("verlof.md",)
    finally:
        stop.set()
        reader.join()
    assert len(seen) > 20
    assert all(count > 0 and versions == 1 for count, versions in seen), [s for s in seen if s[1] != 1][:5]
    assert "30 vakantiedagen" in " ".join(p.text for p in store.passages(doc_id, groups=None))


def test_sources_file_is_validated_with_clear_reasons(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    good = tmp_path / "sources.yml"
    good.write_text("sources:\n  - id: beleid\n    kind: folder\n    path: docs\n    include: ['**/*.pdf']\n"
                    "    groups: [hr]\n  - id: intranet\n    kind: web\n    start_urls: [http://127.0.0.1:1/]\n",
                    encoding="utf-8")
    folder, web = load_sources_file(good)
    assert folder.path == (tmp_path / "docs").resolve() and folder.groups == ["hr"] and web.max_pages == 500
    for text, reason in [("sources:\n  - id: x\n    kind: ftp\n", "kind"),
                         ("sources:\n  - id: Bad Id\n    kind: folder\n    path: docs\n", "id"),
                         ("sources:\n  - id: a\n    kind: folder\n    path: d\n  - id: a\n    kind: folder\n    path: d\n",
                          "twice"),
                         ("sources: [unclosed\n", "YAML"),
                         ("sources:\n  - id: a\n    kind: folder\n    path: d\n    colour: blue\n", "colour")]:
        bad = tmp_path / "bad.yml"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(VraagbaakError) as error:
            load_sources_file(bad)
        assert reason in error.value.message
    with pytest.raises(VraagbaakError, match="start_urls or a sitemap"):
        parse_source({"id": "w", "kind": "web"}).build()


def test_same_modification_time_and_size_skips_reading_and_force_reads_again(
        store: QdrantStore, embedder: Embedder, settings: Settings, tmp_path: Path) -> None:
    import os

    corpus = small_corpus(tmp_path / "docs")
    ingestor = Ingestor(store, embedder, settings.ingest)
    ingestor.ingest_folder(corpus, "m")
    verlof = corpus / "verlof.md"
    stat = verlof.stat()
    verlof.write_text(VERLOF_MD.replace("27 vakantiedagen", "29 vakantiedagen"), encoding="utf-8")  # same size
    os.utime(verlof, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert "verlof.md" in ingestor.ingest_folder(corpus, "m").unchanged  # trusted without reading
    forced = ingestor.ingest_folder(corpus, "m", force=True)
    assert "verlof.md" in forced.updated and not forced.unchanged  # force re-indexes every document
    assert "29 vakantiedagen" in " ".join(p.text for p in store.passages(document_id("m", "verlof.md"), None))
