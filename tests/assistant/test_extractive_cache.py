"""Candidate-sentence vectors are embedded once per process and reused (assistant/extractive.py
`SentenceVectors`): a repeated passage costs no new embeddings, the answer stays the same, and the
cache stays within its bound. The real model throughout; the wrapper only counts what it is asked."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from assistant.extractive import SentenceVectors
from assistant.service import Assistant
from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore


class Counting:
    """The real embedder, counting the passages it is asked to embed."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder, self.name, self.dim = embedder, embedder.name, embedder.dim
        self.passages: list[str] = []

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.passages += texts
        return self.embedder.embed_passages(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed_queries(texts)


def test_a_repeated_question_embeds_no_sentence_again_and_gets_the_same_answer(
        base_settings: Settings, demo_store: QdrantStore, embedder: Embedder) -> None:
    counting = Counting(embedder)
    assistant = Assistant.build(base_settings, demo_store, counting)  # type: ignore[arg-type]
    first = assistant.ask("Hoeveel vakantiedagen heb ik?", groups=None)
    embedded = len(counting.passages)
    assert first.answered and embedded >= 5  # the candidate sentences of the top passages
    again = assistant.ask("Hoeveel vakantiedagen heb ik?", groups=None, user="someone else")
    assert len(counting.passages) == embedded  # every candidate sentence came from the cache
    assert [s.text for s in again.sentences] == [s.text for s in first.sentences]
    assert again.confidence == first.confidence and again.citations == first.citations


def test_cached_vectors_equal_fresh_ones_in_input_order_within_the_bound(embedder: Embedder) -> None:
    texts = [f"Verlof: regel {i} over vakantiedagen en uren." for i in range(8)]
    cache = SentenceVectors(embedder, limit=5)
    fresh = embedder.embed_passages(texts)
    mixed = cache.embed_passages([texts[3], texts[0], texts[3]])
    assert np.allclose(mixed, fresh[[3, 0, 3]], atol=1e-5)
    assert np.allclose(cache.embed_passages(texts), fresh, atol=1e-5)
    assert len(cache) == 5  # the least recently used went
    assert cache.embed_passages([]).shape == (0, embedder.dim)
