"""The store adapter's guard rails, on Qdrant's embedded mode."""

from __future__ import annotations

import pytest

from core.errors import ErrorCode, VraagbaakError
from core.settings import Settings
from core.store import QdrantStore


def test_second_process_on_the_same_folder_gets_a_clear_error(settings: Settings) -> None:
    first = QdrantStore.open(settings)
    try:
        with pytest.raises(VraagbaakError) as caught:
            QdrantStore.open(settings)
        assert caught.value.code is ErrorCode.STORE_UNAVAILABLE
        assert str(settings.store_path) in caught.value.message and "one process per folder" in caught.value.message
    finally:
        first.close()


def test_collection_of_another_dimension_is_refused(store: QdrantStore) -> None:
    store.ensure_collection(384)
    store.ensure_collection(384)  # idempotent
    with pytest.raises(VraagbaakError) as caught:
        store.ensure_collection(768)
    assert caught.value.code is ErrorCode.CONFIG_INVALID and "384" in caught.value.message


# -- windows: the document-level list of hybrid retrieval -----------------------------------------

import numpy as np  # noqa: E402
from qdrant_client import models  # noqa: E402

from core import schema  # noqa: E402
from core.embedding import Embedder  # noqa: E402
from core.lexical import BM25Encoder  # noqa: E402
from core.store import window_votes  # noqa: E402
from core.types import Hit, Passage  # noqa: E402
from ingest.pipeline import Ingestor, document_id  # noqa: E402

TRAVEL = "\n\n".join(
    f"## Regel {n}\n\n" + " ".join([f"Reiskosten voor dienstreizen met de trein worden vergoed volgens regel {n}, "
                                    "op vertoon van het vervoersbewijs en binnen dertig dagen na de reis."] * 6)
    for n in range(6))


def _hit(doc: str, version: str, ordinal: int, score: float) -> Hit:
    return Hit(Passage(chunk_id=f"{doc}-{ordinal}", doc_id=doc, version=version, title="", uri=doc, media_type="",
                       source_id="s", section_path=(), page=None, text="", language="nl", start=0, end=0,
                       ordinal=ordinal, groups=("everyone",)), score=score)


def _window(doc: str, version: str, first: int, last: int) -> models.ScoredPoint:
    return models.ScoredPoint(id=1, version=0, score=0.0, payload={
        schema.DOC_ID: doc, schema.VERSION: version, schema.FIRST: first, schema.LAST: last})


def test_a_chunk_gets_the_vote_of_the_window_that_holds_it() -> None:
    hits = [_hit("a", "v1", 0, 0.50), _hit("b", "v1", 7, 0.45), _hit("b", "v1", 2, 0.40), _hit("c", "v2", 1, 0.30)]
    windows = [_window("b", "v1", 5, 9), _window("c", "v1", 0, 3), _window("a", "v1", 1, 4)]
    voted = window_votes(hits, windows, weight=1.0, rrf_k=2)
    scores = {h.passage.chunk_id: h.score for h in voted}
    assert scores["b-7"] == pytest.approx(0.45 + 1 / 2)  # first window: 1 / (1 + k - 1)
    assert scores["b-2"] == 0.40  # same document, outside the window's span
    assert scores["c-1"] == 0.30  # the window is of another version of the document
    assert scores["a-0"] == 0.50  # ordinal 0 is not in a's window 1..4
    assert [h.passage.chunk_id for h in voted] == ["b-7", "a-0", "b-2", "c-1"]
    assert [h.rank for h in voted] == [1, 2, 3, 4]
    half = window_votes(hits, windows, weight=0.5, rrf_k=2)
    assert next(h.score for h in half if h.passage.chunk_id == "b-7") == pytest.approx(0.45 + 1 / 3)


def _windows_of(store: QdrantStore, doc_id: str) -> list[dict]:
    points, _ = store.client.scroll(store.windows, scroll_filter=models.Filter(must=[models.FieldCondition(
        key=schema.DOC_ID, match=models.MatchValue(value=doc_id))]), limit=100, with_payload=True)
    return sorted((p.payload or {} for p in points), key=lambda p: p[schema.FIRST])


def test_windows_follow_their_document_version_groups_and_lifecycle(
        store: QdrantStore, embedder: Embedder, settings: Settings, tmp_path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "reizen.md").write_text(f"# Reiskostenregeling\n\n{TRAVEL}", encoding="utf-8")
    (corpus / "kantine.md").write_text("# Kantine\n\nDe kantine is open van 8 tot 14 uur.", encoding="utf-8")
    ingestor = Ingestor(store, embedder, settings.ingest.model_copy(update={"default_groups": ["hr"]}))
    ingestor.ingest_folder(corpus, "docs")
    reizen = document_id("docs", "reizen.md")
    chunks = store.passages(reizen, groups=None)
    spans = _windows_of(store, reizen)
    assert len(chunks) >= 4 and 2 <= len(spans) < len(chunks)
    assert [p[schema.FIRST] for p in spans] == [0, *(p[schema.LAST] + 1 for p in spans[:-1])]  # no gap, no overlap
    assert spans[-1][schema.LAST] == max(c.ordinal for c in chunks)
    assert all(p[schema.GROUPS] == ["hr"] and p[schema.ACTIVE] is True and p[schema.WHOLE] is False for p in spans)
    kantine = _windows_of(store, document_id("docs", "kantine.md"))
    assert len(kantine) == 1 and kantine[0][schema.WHOLE] is True  # a short document: one window, no vote
    assert {p[schema.VERSION] for p in spans} == {chunks[0].version}

    question = "Hoe worden reiskosten van dienstreizen met de trein vergoed?"
    vector = embedder.embed_queries([question])[0].tolist()
    sparse = BM25Encoder().encode_query(question, "nl")
    plain = store.search(dense=vector, sparse=sparse, limit=10, groups=["hr"])
    voted = store.search(dense=vector, sparse=sparse, limit=10, groups=["hr"], window_weight=1.0)
    assert {h.passage.chunk_id for h in voted} <= {c.chunk_id for c in chunks} | {
        p.chunk_id for p in store.passages(document_id("docs", "kantine.md"), groups=None)}
    gained = {h.passage.chunk_id: h.score for h in voted}
    assert all(gained[h.passage.chunk_id] > h.score for h in plain if h.passage.doc_id == reizen)
    assert all(gained[h.passage.chunk_id] == h.score for h in plain if h.passage.doc_id != reizen)
    # the windows' query is filtered like the chunks': a reader outside `hr` gets neither
    assert store.search(dense=vector, sparse=sparse, limit=10, groups=["sales"], window_weight=1.0) == []

    # new groups and an expiry date reach the windows without re-embedding; an expired document is gone
    (corpus / "reizen.md.meta.yml").write_text("expires: 2001-01-01\n", encoding="utf-8")
    report = ingestor.ingest_folder(corpus, "docs")
    assert report.chunks == 0
    assert all(p[schema.EXPIRES_TS] is not None for p in _windows_of(store, reizen))
    assert not [h for h in store.search(dense=vector, sparse=sparse, limit=10, groups=["hr"], window_weight=1.0)
                if h.passage.doc_id == reizen]

    # a new version replaces the windows; removing the document removes them
    (corpus / "reizen.md.meta.yml").unlink()
    (corpus / "reizen.md").write_text(f"# Reiskostenregeling\n\n{TRAVEL.replace('dertig', 'veertig')}", encoding="utf-8")
    ingestor.ingest_folder(corpus, "docs")
    new_version = store.passages(reizen, groups=None)[0].version
    assert new_version != chunks[0].version
    assert {p[schema.VERSION] for p in _windows_of(store, reizen)} == {new_version}
    (corpus / "reizen.md").unlink()
    ingestor.ingest_folder(corpus, "docs")
    assert _windows_of(store, reizen) == [] and store.passages(reizen, groups=None) == []


def test_a_store_without_windows_answers_and_gets_them_on_the_next_ingest(
        store: QdrantStore, embedder: Embedder, settings: Settings, tmp_path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "reizen.md").write_text(f"# Reiskostenregeling\n\n{TRAVEL}", encoding="utf-8")
    ingestor = Ingestor(store, embedder, settings.ingest)
    ingestor.ingest_folder(corpus, "docs")
    reizen = document_id("docs", "reizen.md")
    expected = _windows_of(store, reizen)
    store.client.delete_collection(store.windows)  # as made before windows existed
    old = QdrantStore(store.client, store.collection, local=True)
    question = "Hoe worden reiskosten vergoed?"
    vector = embedder.embed_queries([question])[0].tolist()
    hits = old.search(dense=vector, sparse=BM25Encoder().encode_query(question, "nl"), limit=5, window_weight=1.0)
    assert hits and all(h.passage.doc_id == reizen for h in hits)  # no windows: the chunk lists alone

    report = Ingestor(old, embedder, settings.ingest, ingestor.registry).ingest_folder(corpus, "docs")
    assert report.unchanged == ("reizen.md",) and report.chunks == 0  # the chunks are not embedded again
    rebuilt = _windows_of(old, reizen)
    assert [(p[schema.FIRST], p[schema.LAST]) for p in rebuilt] == [(p[schema.FIRST], p[schema.LAST]) for p in expected]
    vectors = [np.asarray(p.vector[schema.DENSE]) for p in old.client.scroll(old.windows, limit=100, with_vectors=True)[0]]
    assert len(vectors) == len(expected) and all(abs(float(np.linalg.norm(v)) - 1) < 1e-3 for v in vectors)
