"""Language of a text: Dutch or English (and a few neighbours), from function words.

Chunks and questions are mostly Dutch or English; function words ("de", "het", "the", "of")
separate them reliably from a handful of words on, without a model. A text with no telling
words gets the fallback language.
"""

from __future__ import annotations

import re
from functools import lru_cache

from bm25s.stopwords import STOPWORDS_DUTCH, STOPWORDS_EN, STOPWORDS_FRENCH, STOPWORDS_GERMAN

SUPPORTED = ("nl", "en", "de", "fr")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

# Short, frequent function words that tell the languages apart; question words weigh in too,
# since questions are short.
_MARKERS: dict[str, frozenset[str]] = {
    "nl": frozenset("""de het een en van in is dat op te met voor zijn er niet aan ook als bij
        of door om maar dan wordt worden naar uit heb hebt heeft ik je jij u wij we mijn moet
        kan kun kunt mag wat hoe hoeveel waar wanneer wie welke waarom deze dit die over
        nog geen wel tot onder zonder tussen krijg krijgt""".split()),
    "en": frozenset("""the a an and of to in is that on with for are be not at as by or from
        this it have has do does can may what how many much where when who which why my i
        you your we our get there will should must""".split()),
    "de": frozenset("""der die das und ist nicht mit ein eine für auf ich sie wir wie viele
        wann wo warum den dem des zu""".split()),
    "fr": frozenset("""le la les et est une des du pour dans que qui pas sur avec je vous
        nous combien comment quand où pourquoi""".split()),
}
_FULL = {"nl": STOPWORDS_DUTCH, "en": STOPWORDS_EN, "de": STOPWORDS_GERMAN, "fr": STOPWORDS_FRENCH}


@lru_cache(maxsize=8)
def stopwords(language: str) -> frozenset[str]:
    """The stopword list of a supported language (English for any other)."""
    return frozenset(_FULL.get(language, STOPWORDS_EN))


def detect_language(text: str, fallback: str = "nl") -> str:
    """Return the ISO 639-1 code of the text's language among SUPPORTED, or `fallback`."""
    words = [w.lower() for w in _WORD.findall(text[:4000])]
    if not words:
        return fallback
    scores = {lang: sum(1 for w in words if w in markers) for lang, markers in _MARKERS.items()}
    best = max(scores, key=lambda lang: (scores[lang], lang == fallback))
    if scores[best] == 0:
        return fallback
    return best
