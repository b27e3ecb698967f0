"""Rerankers: a second, closer look at the top passages, which reorders them.

`CrossEncoderReranker` scores (question, passage) pairs with a sentence-transformers cross-encoder
loaded from a local folder (sites bring their own model: no cross-encoder weights are on PyPI).
`LLMReranker` asks the configured OpenAI-compatible server to rate the passages 0–3 in one call;
on any failure or timeout it keeps the original order. docs/assistant.md has the measurements.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from core.errors import ErrorCode, VraagbaakError
from core.logging import kv
from core.settings import LLMSettings, RetrievalSettings
from core.types import Hit

log = logging.getLogger(__name__)


class Reranker(Protocol):
    """Reorders hits for a question; returns the same hits (no more, no fewer) in the new order."""

    name: str

    def rerank(self, question: str, hits: Sequence[Hit]) -> list[Hit]: ...


def rerank_top(reranker: Reranker, question: str, hits: Sequence[Hit], top_n: int) -> list[Hit]:
    """The first `top_n` hits reordered by `reranker`, the rest behind them as they were, re-ranked."""
    head = reranker.rerank(question, hits[:top_n]) if hits else []
    return [replace(h, rank=i) for i, h in enumerate([*head, *hits[top_n:]], start=1)]


def order_by(hits: Sequence[Hit], scores: Sequence[float]) -> list[Hit]:
    """Hits by descending score; equal scores keep their original order."""
    order = sorted(range(len(hits)), key=lambda i: (-float(scores[i]), i))
    return [hits[i] for i in order]


def _pair_text(hit: Hit) -> str:
    passage = hit.passage
    return f"{passage.title}: {passage.text}" if passage.title else passage.text


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder from a local folder (nothing is downloaded)."""

    name = "cross-encoder"

    def __init__(self, model_path: Path, *, batch_size: int = 16, max_length: int = 512) -> None:
        if not (Path(model_path) / "config.json").is_file():
            raise VraagbaakError(ErrorCode.CONFIG_INVALID,
                                 f"The cross-encoder folder {model_path} has no config.json (a saved model is expected).")
        from sentence_transformers import CrossEncoder

        self.batch_size = batch_size
        self.model = CrossEncoder(str(model_path), device="cpu", max_length=max_length, local_files_only=True)

    def scores(self, question: str, hits: Sequence[Hit]) -> list[float]:
        if not hits:
            return []
        pairs = [(question, _pair_text(h)) for h in hits]
        return [float(s) for s in self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False)]

    def rerank(self, question: str, hits: Sequence[Hit]) -> list[Hit]:
        return order_by(hits, self.scores(question, hits))


RERANK_PROMPT = """Rate how well each passage answers the question, from 0 (not relevant) to 3 (answers it).

Question: {question}

{passages}

Answer with one line per passage, in the form "[number] rating", and nothing else."""
_PASSAGE_WORDS = 100  # a passage is cut to this many words: the prompt stays small on a CPU
_RATING = re.compile(r"\[?\s*(\d{1,2})\s*\]?\s*[:=.)\-–]?\s*(?:rating\s*[:=]?\s*)?([0-3])\b", re.IGNORECASE)


def parse_ratings(text: str, count: int) -> dict[int, int]:
    """`[number] rating` lines → {index (0-based): rating}; numbers outside 1..count are ignored."""
    ratings: dict[int, int] = {}
    for line in text.splitlines():
        match = _RATING.search(line)
        if match and 1 <= int(match.group(1)) <= count:
            ratings.setdefault(int(match.group(1)) - 1, int(match.group(2)))
    return ratings


class LLMReranker:
    """Listwise relevance ratings 0–3 from the LLM server in one call; passages it rates equally
    (or leaves unrated, as 0) keep their fused order. Any failure keeps the original order."""

    name = "llm"

    def __init__(self, settings: LLMSettings, timeout_s: float = 20.0) -> None:
        from assistant.llm import chat_client

        if not settings.base_url:
            raise VraagbaakError(ErrorCode.CONFIG_INVALID, "The LLM reranker needs LLM_BASE_URL (an OpenAI-compatible server).")
        self.timeout_s = timeout_s
        self.llm = chat_client(settings, max_tokens=12 * 8, timeout_s=timeout_s)

    def prompt(self, question: str, hits: Sequence[Hit]) -> str:
        passages = "\n\n".join(f"[{i}] {' '.join(_pair_text(h).split()[:_PASSAGE_WORDS])}"
                               for i, h in enumerate(hits, start=1))
        return RERANK_PROMPT.format(question=question, passages=passages)

    def rerank(self, question: str, hits: Sequence[Hit]) -> list[Hit]:
        if len(hits) < 2:
            return list(hits)
        started = time.perf_counter()
        try:
            from llama_index.core.llms import ChatMessage

            response = self.llm.chat([ChatMessage(role="user", content=self.prompt(question, hits))])
            reply = response.message.content or ""
            ratings = parse_ratings(reply, len(hits))
            if time.perf_counter() - started > self.timeout_s:
                raise TimeoutError(f"the ratings took longer than {self.timeout_s} s")
        except Exception as exc:  # down, slow, garbage: the fused order stands
            log.warning("llm rerank failed; original order kept",
                        extra=kv(error=type(exc).__name__, seconds=round(time.perf_counter() - started, 2)))
            return list(hits)
        if not ratings:
            log.warning("llm rerank gave no ratings; original order kept", extra=kv(passages=len(hits), reply=reply[:200]))
            return list(hits)
        return order_by(hits, [ratings.get(i, 0) for i in range(len(hits))])


def build_reranker(settings: RetrievalSettings, llm: LLMSettings) -> Reranker | None:
    """The configured reranker (None for `none`); a clear CONFIG_INVALID when it cannot be built."""
    if settings.reranker == "cross-encoder":
        if settings.reranker_model is None:
            raise VraagbaakError(ErrorCode.CONFIG_INVALID,
                                 "reranker = cross-encoder needs VRAAGBAAK_RETRIEVAL__RERANKER_MODEL (a local model folder).")
        return CrossEncoderReranker(settings.reranker_model)
    if settings.reranker == "llm":
        return LLMReranker(llm, settings.rerank_timeout_s)
    return None
