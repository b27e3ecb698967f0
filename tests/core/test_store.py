"""The store adapter's guard rails, on Qdrant's embedded mode."""

from __future__ import annotations

import pytest
from qdrant_client import models

from core import schema
from core.errors import ErrorCode, VraagbaakError
from core.settings import Settings
from core.store import QdrantStore, window_votes
from core.types import Hit, Passage


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


# -- windows: the document-level list of hybrid retrieval (ingest side: tests/ingest/test_windows.py) --

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
