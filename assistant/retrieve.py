"""Retrieval: a question → the passages most likely to answer it, within the asker's access groups."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from assistant.passages import Part, boost, cite_chunks, collapse_duplicates, merge_neighbours
from assistant.rerank import Reranker, rerank_top
from core.embedding import Embedder
from core.lexical import BM25Encoder
from core.settings import RetrievalSettings
from core.store import Mode, QdrantStore
from core.types import Answer, Hit


@dataclass(frozen=True)
class Retrieval:
    """The hits for one question and the question's vector (reused to score answer sentences);
    `lexical_ids` are the chunk ids BM25 alone ranks first and `lexical_doc_ids` their documents,
    in the same order (None: not asked). `merged` holds, per passage made of neighbouring chunks,
    the real chunks it joins (citations are mapped back to them: `cite_chunks`); `duplicates`, per
    kept chunk id, the documents of the near-duplicate passages dropped in its favour."""

    hits: tuple[Hit, ...]
    query_vector: np.ndarray
    language: str
    lexical_ids: tuple[str, ...] | None = None
    lexical_doc_ids: tuple[str, ...] | None = None
    merged: Mapping[str, tuple[Part, ...]] = field(default_factory=dict)
    duplicates: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    documents: tuple[Hit, ...] | None = None

    @property
    def ranked(self) -> tuple[Hit, ...]:
        """The hits in order of their documents' relevance: re-ranked by the windows' document-level
        vote when windows voted (`documents`), else `hits`. What "which documents answer this" uses —
        the closest documents offered with a refusal, the retrieval evaluation — while answers are
        made from `hits`, the chunk lists' own order (docs/assistant.md, "Windows")."""
        return self.documents if self.documents is not None else self.hits

    def document_ids(self) -> list[str]:
        """The documents of `ranked`, each once, best first."""
        return list(dict.fromkeys(h.passage.doc_id for h in self.ranked))

    def cite_chunks(self, answer: Answer) -> Answer:
        """`answer` with each citation of a merged passage pointing at the real chunk holding its quote."""
        return cite_chunks(answer, self.merged)

    @property
    def agreement(self) -> float | None:
        """Does BM25 alone agree on the top passage? Half for the passage itself being among BM25's
        top 20, half for its document being among the documents of those 20: 1, 0.5 (same
        document, another passage — a follow-up, a long policy) or 0. None when that says nothing:
        not asked, nothing found, or the top passage is in another language than the question
        (BM25 cannot match across languages)."""
        if self.lexical_ids is None or not self.hits:
            return None
        top = self.hits[0].passage
        if top.language and top.language != self.language:
            return None
        passage = top.chunk_id in self.lexical_ids[:AGREEMENT_K]
        document = top.doc_id in (self.lexical_doc_ids or ())[:AGREEMENT_K]
        return (float(passage) + float(document)) / 2


AGREEMENT_K = 20
"""BM25 hits that count for agreement (fitted on the demo set with the weight and threshold,
docs/assistant.md: top 5 passages was tried first)."""


class Retriever:
    """Hybrid retrieval (dense + BM25, fused by RRF inside Qdrant), or one of the two alone; then
    per-source boosts, near duplicates collapsed, the reranker (if any) over the top passages, and
    neighbouring chunks merged, before the cut to `limit`. With `RetrievalSettings.window_weight`,
    the nearest windows of consecutive chunks also vote, for the document order (`Retrieval.ranked`)."""

    def __init__(self, store: QdrantStore, embedder: Embedder, settings: RetrievalSettings,
                 reranker: Reranker | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.encoder = BM25Encoder()
        self.reranker = reranker

    def _shaping(self) -> bool:
        s = self.settings
        return bool(s.source_boosts or s.dedupe or s.merge_neighbours or self.reranker is not None)

    def retrieve(self, question: str, *, language: str, groups: Sequence[str] | None,
                 mode: Mode | None = None, limit: int | None = None) -> Retrieval:
        vector = self.embedder.embed_queries([question])[0]
        return self.retrieve_with_vector(question, vector, language=language, groups=groups, mode=mode, limit=limit)

    def retrieve_with_vector(self, question: str, vector: np.ndarray, *, language: str,
                             groups: Sequence[str] | None, mode: Mode | None = None,
                             limit: int | None = None) -> Retrieval:
        """Retrieve with a question vector already computed (batch evaluation embeds all at once)."""
        mode = mode or self.settings.mode
        limit = limit or self.settings.top_k
        sparse = self.encoder.encode_query(question, language) if mode != "dense" else None
        # boosts, duplicates and merges change the list: fetch more, cut after
        fetch = min(max(2 * limit, self.settings.rerank_top_n), 100) if self._shaping() else limit
        ranking = self.store.rank(dense=vector.tolist(), sparse=sparse, mode=mode,
                                  limit=fetch, candidates=self.settings.candidates,
                                  groups=groups, language=language, rrf_k=self.settings.rrf_k,
                                  cross_lingual_weight=self.settings.cross_lingual_weight,
                                  include_stale=self.settings.include_stale,
                                  window_weight=self.settings.window_weight)
        hits = ranking.passages
        lexical = lexical_docs = None
        if mode == "hybrid" and sparse and hits:  # does BM25 alone agree on the top passage?
            found = self.store.search(dense=vector.tolist(), sparse=sparse, mode="bm25", limit=AGREEMENT_K,
                                      groups=groups, include_stale=self.settings.include_stale)
            lexical = tuple(h.passage.chunk_id for h in found)
            lexical_docs = tuple(h.passage.doc_id for h in found)
        hits, merged, duplicates = self.shape(question, hits, limit)
        # the document order: the windows' vote, with the per-source boosts (passages are shaped above)
        documents = (tuple(boost(ranking.documents, self.settings.source_boosts)[:limit])
                     if ranking.documents is not None else None)
        return Retrieval(hits=tuple(hits), query_vector=vector, language=language, lexical_ids=lexical,
                         lexical_doc_ids=lexical_docs, merged=merged, duplicates=duplicates, documents=documents)

    def shape(self, question: str, hits: Sequence[Hit], limit: int
              ) -> tuple[list[Hit], dict[str, tuple[Part, ...]], dict[str, tuple[str, ...]]]:
        """Boost, drop near duplicates, rerank the top, merge neighbours, cut to `limit`."""
        s = self.settings
        shaped = boost(hits, s.source_boosts)
        duplicates: dict[str, tuple[str, ...]] = {}
        if s.dedupe:
            shaped, duplicates = collapse_duplicates(shaped, s.duplicate_similarity)
        if self.reranker is not None:
            shaped = rerank_top(self.reranker, question, shaped, s.rerank_top_n)
        merged: dict[str, tuple[Part, ...]] = {}
        if s.merge_neighbours:
            shaped, merged = merge_neighbours(shaped)
        shaped = shaped[:limit]
        kept = {h.passage.chunk_id for h in shaped}
        return (shaped, {k: v for k, v in merged.items() if k in kept},
                {k: v for k, v in duplicates.items() if k in kept})
