"""Embedded mode keeps each filter's mask between searches; every write drops them (real local Qdrant, real model)."""

from __future__ import annotations

from pathlib import Path

from core.embedding import Embedder
from core.lexical import BM25Encoder
from core.settings import Settings
from core.store import QdrantStore
from ingest.pipeline import Ingestor
from tests.fixtures import small_corpus

QUESTION = "Hoeveel vakantiedagen krijg ik?"


def _search(store: QdrantStore, embedder: Embedder, groups: list[str]) -> list[str]:
    vector = embedder.embed_queries([QUESTION])[0]
    sparse = BM25Encoder().encode_query(QUESTION, "nl")
    hits = store.search(dense=vector.tolist(), sparse=sparse, mode="hybrid", limit=6, groups=groups,
                        language="nl", cross_lingual_weight=0.7)
    return [h.passage.chunk_id for h in hits]


def test_cached_masks_follow_every_write(store: QdrantStore, embedder: Embedder, settings: Settings,
                                         tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs")
    as_hr = settings.ingest.model_copy(update={"default_groups": ["hr"]})
    Ingestor(store, embedder, as_hr).ingest_folder(corpus, "docs")
    hr_hits = _search(store, embedder, ["hr"])
    assert hr_hits and _search(store, embedder, ["sales"]) == []

    hits_before = store.client.mask_hits
    assert _search(store, embedder, ["hr"]) == hr_hits  # the same filter again: masks come from the cache
    assert store.client.mask_hits > hits_before

    # a write (new access groups on the same chunks) drops the masks: sales sees them at once, hr no more
    as_sales = settings.ingest.model_copy(update={"default_groups": ["sales"]})
    Ingestor(store, embedder, as_sales).ingest_folder(corpus, "docs")
    assert sorted(_search(store, embedder, ["sales"])) == sorted(hr_hits)
    assert _search(store, embedder, ["hr"]) == []

    store.delete_source("docs")  # and a delete
    assert _search(store, embedder, ["sales"]) == []
