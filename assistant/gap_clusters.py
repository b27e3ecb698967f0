"""Clustering questions and labelling the clusters: pure functions over question vectors and texts
(no database), used by the content-gap topics in `assistant/gaps.py`.

Question vectors from the app's embedding model are centred on a fixed set of everyday workplace
questions — e5 vectors all point roughly the same way, and taking that common direction out spreads
topics apart — then clustered agglomeratively (average linkage) under a cosine distance threshold, so
the number of topics follows the data and a question unlike any other stays a topic of its own.
Labels are a topic's top terms by class-based TF-IDF.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import Stemmer

from core.embedding import Embedder
from core.language import stopwords

BACKGROUND_QUESTIONS = (
    "Hoeveel vakantiedagen heb ik per jaar?", "How many holidays do I get?", "Hoe meld ik me ziek?",
    "Who do I call when I am sick?", "Hoe declareer ik reiskosten?", "How do I submit an expense claim?",
    "Wat is het wachtwoordbeleid?", "How do I reset my password?", "Waar vind ik mijn loonstrook?",
    "When is the salary paid?", "Hoe werkt thuiswerken bij ons?", "Can I work from home on Fridays?",
    "Wie is mijn vertrouwenspersoon?", "How do I report a security incident?", "Wat moet ik doen bij brand?",
    "Where is the emergency exit?", "Hoe vraag ik een training aan?", "Is there a budget for courses?",
    "Wanneer is de kantine open?", "What is on the lunch menu?", "Hoe krijg ik toegang tot het gebouw?",
    "How do I book a meeting room?", "Wat staat er in de nieuwe cao?", "How much is the salary increase?",
    "Mag ik ChatGPT gebruiken voor mijn werk?", "Which AI tools are allowed?", "Hoe herken ik phishing?",
    "What should I do with a suspicious email?", "Hoe lang bewaren we persoonsgegevens?",
    "Who is the data protection officer?", "Hoe werkt de fietsregeling?", "Can I get a bike through work?",
    "Hoe bereik ik de IT-servicedesk?", "How do I install software on my laptop?",
    "Wat is de opzegtermijn?", "How long is the probation period?", "Hoe werkt de ondernemingsraad?",
    "When is the next town hall?", "Hoe vraag ik ouderschapsverlof aan?", "Can I take unpaid leave?",
    "Welke bezoekersregels gelden er?", "Do visitors need to sign in?", "Hoe werkt de sportschoolregeling?",
    "Is there a gym discount?", "Waar vind ik het organogram?", "Who is the manager of finance?",
    "Hoe wijzig ik mijn adres in het HR-portaal?", "How do I change my bank account number?",
)
"""Everyday workplace questions in both languages whose mean vector is taken out before clustering.
Fixed (not the mean of the questions at hand), so distances mean the same from one run to the next."""

_QUESTION_WORDS = frozenset("""
    kan kun kunt mag moet krijg krijgt krijgen wil hoe wat waar wanneer wie welke welk waarom hoeveel
    graag vraag vragen iemand iets ergens gaat doen regel regels wij ons onze jullie zijn dit jaar
    can could may must get gets getting want how what where when who which why many much does do did
    would should need please anyone someone something allowed rules rule under year too
""".split())
"""Words that make a question a question, not a topic: left out of labels beside the stop words."""

_TOKEN = re.compile(r"[^\W\d_][\w'-]*", re.UNICODE)


class QuestionSpace:
    """Question vectors from the app's embedder, cached per text, and their centred form."""

    def __init__(self, embedder: Embedder, cache_size: int = 20_000) -> None:
        self.embedder = embedder
        self._cache: dict[str, np.ndarray] = {}
        self._cache_size = cache_size
        self._mean: np.ndarray | None = None
        self._lock = threading.Lock()

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of the texts as questions (`query: ` prompt), one row each."""
        with self._lock:
            missing = sorted({t for t in texts if t not in self._cache})
            if missing:
                if len(self._cache) + len(missing) > self._cache_size:
                    self._cache.clear()
                for text, vector in zip(missing, self.embedder.embed_queries(missing), strict=True):
                    self._cache[text] = np.asarray(vector, dtype=np.float32)
            if not texts:
                return np.zeros((0, self.embedder.dim), dtype=np.float32)
            return np.stack([self._cache[t] for t in texts])

    def centre(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors less the background questions' mean, back to unit length."""
        if self._mean is None:
            self._mean = self.embedder.embed_queries(list(BACKGROUND_QUESTIONS)).mean(axis=0)
        return unit(vectors - self._mean)


def unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def cluster(centred: np.ndarray, distance_threshold: float) -> np.ndarray:
    """A cluster number per row: average-linkage agglomerative clustering under a cosine distance threshold."""
    if len(centred) < 2:
        return np.zeros(len(centred), dtype=int)
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                    distance_threshold=distance_threshold)
    return model.fit_predict(centred)


def _words(text: str, language: str) -> list[tuple[str, str]]:
    """(stem, surface form) of the content words of a question, in its language."""
    stop = stopwords("nl") | stopwords("en") | _QUESTION_WORDS
    words = [_fold(w) for w in _TOKEN.findall(text.lower().replace("’", "'"))]
    words = [w.removesuffix("'s") for w in words]
    kept = [w for w in words if len(w) > 2 and w not in stop]
    stems = _stemmer(language if language in ("nl", "en") else "en").stemWords(kept)
    return list(zip(stems, kept, strict=True))


@lru_cache(maxsize=4)
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer("dutch" if language == "nl" else "english")


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def topic_terms(groups: Sequence[Sequence[tuple[str, str]]], top: int = 4) -> list[list[str]]:
    """The top terms of each group of (text, language) questions by class-based TF-IDF: a term's
    frequency in the topic times log(1 + average words per topic / its frequency over all topics).
    Words are grouped by stem and shown in their most frequent form; a two-word phrase competes
    with single words, and a word already inside a chosen phrase is not chosen again."""
    counts: list[Counter[str]] = []
    surface: dict[str, Counter[str]] = {}
    for questions in groups:
        count: Counter[str] = Counter()
        for text, language in questions:
            pairs = _words(text, language)
            for stem, word in pairs:
                count[stem] += 1
                surface.setdefault(stem, Counter())[word] += 1
            for (s1, w1), (s2, w2) in zip(pairs, pairs[1:], strict=False):
                if s1 != s2:
                    count[f"{s1} {s2}"] += 1
                    surface.setdefault(f"{s1} {s2}", Counter())[f"{w1} {w2}"] += 1
        counts.append(count)
    total: Counter[str] = Counter()
    for count in counts:
        total.update(count)
    average = sum(total.values()) / max(len(counts), 1)
    result: list[list[str]] = []
    for count in counts:
        size = sum(count.values()) or 1
        scored = sorted(((c / size) * math.log(1 + average / total[t]) * (1.0 if " " not in t or c > 1 else 0.0),
                         len(t), t) for t, c in count.items())  # ties: the longer, more specific word
        chosen: list[str] = []
        covered: set[str] = set()
        for score, _, term in reversed(scored):
            shown = surface[term].most_common(1)[0][0]
            if score <= 0 or len(chosen) >= top:
                break
            parts = set(term.split())
            if parts <= covered or shown in chosen:
                continue
            chosen.append(shown)
            covered |= parts
        result.append(chosen)
    return result


def label(terms: Sequence[str]) -> str:
    return " · ".join(terms[:3]) if terms else "—"


def match_topics(new: np.ndarray, old: np.ndarray, min_similarity: float) -> dict[int, int]:
    """new cluster index → old topic index: a one-to-one assignment maximising total centroid
    similarity (Hungarian method), keeping only pairs at least `min_similarity` alike."""
    if not len(new) or not len(old):
        return {}
    from scipy.optimize import linear_sum_assignment

    similarity = unit(new) @ unit(old).T
    rows, cols = linear_sum_assignment(-similarity)
    return {int(r): int(c) for r, c in zip(rows, cols, strict=True) if similarity[r, c] >= min_similarity}
