"""Retrieval: a question → the passages most likely to answer it, within the asker's access groups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.embedding import Embedder
from core.lexical import BM25Encoder
from core.settings import RetrievalSettings
from core.store import Mode, QdrantStore
from core.types import Hit


@dataclass(frozen=True)
class Retrieval:
    """The hits for one question and the question's vector (reused to score answer sentences);
    `lexical_ids` are the chunk ids BM25 alone ranks first (None: not asked)."""

    hits: tuple[Hit, ...]
    query_vector: np.ndarray
    language: str
    lexical_ids: tuple[str, ...] | None = None

    @property
    def agreement(self) -> float | None:
        """1 when BM25 alone also ranks the top passage in its top 5, 0 when not; None when that
        says nothing: not asked, nothing found, or the top passage is in another language than
        the question (BM25 cannot match across languages)."""
        if self.lexical_ids is None or not self.hits:
            return None
        top = self.hits[0].passage
        if top.language and top.language != self.language:
            return None
        return 1.0 if top.chunk_id in self.lexical_ids[:_AGREEMENT_K] else 0.0


_AGREEMENT_K = 5


class Retriever:
    """Hybrid retrieval (dense + BM25, fused by RRF inside Qdrant), or one of the two alone."""

    def __init__(self, store: QdrantStore, embedder: Embedder, settings: RetrievalSettings) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.encoder = BM25Encoder()

    def retrieve(self, question: str, *, language: str, groups: Sequence[str] | None,
                 mode: Mode | None = None, limit: int | None = None) -> Retrieval:
        vector = self.embedder.embed_queries([question])[0]
        return self.retrieve_with_vector(question, vector, language=language, groups=groups, mode=mode, limit=limit)

    def retrieve_with_vector(self, question: str, vector: np.ndarray, *, language: str,
                             groups: Sequence[str] | None, mode: Mode | None = None,
                             limit: int | None = None) -> Retrieval:
        """Retrieve with a question vector already computed (batch evaluation embeds all at once)."""
        mode = mode or self.settings.mode
        sparse = self.encoder.encode_query(question, language) if mode != "dense" else None
        hits = self.store.search(dense=vector.tolist(), sparse=sparse, mode=mode,
                                 limit=limit or self.settings.top_k, candidates=self.settings.candidates,
                                 groups=groups, language=language, rrf_k=self.settings.rrf_k,
                                 cross_lingual_weight=self.settings.cross_lingual_weight,
                                 include_stale=self.settings.include_stale)
        lexical = None
        if mode == "hybrid" and sparse and hits:  # does BM25 alone agree on the top passage?
            lexical = tuple(h.passage.chunk_id for h in self.store.search(
                dense=vector.tolist(), sparse=sparse, mode="bm25", limit=_AGREEMENT_K, groups=groups))
        return Retrieval(hits=tuple(hits), query_vector=vector, language=language, lexical_ids=lexical)
