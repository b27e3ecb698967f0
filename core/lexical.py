"""Sparse BM25 vectors made here (no model download): tokenise, drop stopwords, stem by language.

Documents carry the BM25 term-frequency part; Qdrant's IDF modifier adds the inverse document
frequency at query time, so the index stays correct as documents come and go.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import Stemmer

from core.language import SUPPORTED, detect_language, stopwords

_TOKEN = re.compile(r"\w+", re.UNICODE)
_STEMMER_NAMES = {"nl": "dutch", "en": "english", "de": "german", "fr": "french"}


@dataclass(frozen=True)
class SparseVector:
    """Indices (hashed terms) and their weights."""

    indices: tuple[int, ...]
    values: tuple[float, ...]

    def __bool__(self) -> bool:
        return bool(self.indices)


@lru_cache(maxsize=8)
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(_STEMMER_NAMES.get(language, "english"))


def _fold(token: str) -> str:
    """Lower-case and strip accents so `ideeën` and `ideeen` meet."""
    decomposed = unicodedata.normalize("NFKD", token.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def terms(text: str, language: str) -> list[str]:
    """The text's index terms: folded, stopwords removed, stemmed in `language`."""
    stop = stopwords(language)
    words = [w.lower() for w in _TOKEN.findall(text)]
    kept = [_fold(w) for w in words if w not in stop and (len(w) > 1 or w.isdigit())]
    return _stemmer(language).stemWords(kept)


def term_index(term: str) -> int:
    """A stable 31-bit index for a term."""
    return zlib.crc32(term.encode("utf-8")) & 0x7FFFFFFF


class BM25Encoder:
    """Encodes documents and queries as sparse vectors for Qdrant's BM25 (IDF modifier)."""

    def __init__(self, k1: float = 1.2, b: float = 0.75, avg_len: float = 120.0) -> None:
        self.k1, self.b, self.avg_len = k1, b, avg_len

    def encode_document(self, text: str, language: str) -> SparseVector:
        """Term weights tf·(k1+1)/(tf + k1·(1 − b + b·len/avg_len)) for one passage."""
        counts = Counter(terms(text, language))
        length = sum(counts.values())
        weights: dict[int, float] = {}
        for term, tf in counts.items():
            norm = tf + self.k1 * (1 - self.b + self.b * length / self.avg_len)
            index = term_index(term)
            weights[index] = weights.get(index, 0.0) + tf * (self.k1 + 1) / norm
        return _sparse(weights)

    def encode_query(self, text: str, language: str | None = None) -> SparseVector:
        """Query terms with weight 1, stemmed in the question's language. Short questions are easily
        misjudged, so the stems of the other main language (nl/en) join at half weight."""
        primary = language or detect_language(text)
        weights = {term_index(t): 1.0 for t in set(terms(text, primary))}
        for other in ("nl", "en"):
            if other != primary and primary in SUPPORTED:
                for t in set(terms(text, other)):
                    weights.setdefault(term_index(t), 0.5)
        return _sparse(weights)


def _sparse(weights: dict[int, float]) -> SparseVector:
    items = sorted(weights.items())
    return SparseVector(tuple(i for i, _ in items), tuple(v for _, v in items))
