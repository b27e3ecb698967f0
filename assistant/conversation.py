"""Follow-up questions: "en voor parttimers?" means "Hoeveel vakantiedagen heb ik … voor parttimers?".

Without an LLM, a rule carries the previous question's topic into a question that cannot stand on
its own: a short question that opens with a connective ("en", "and", "wat als", "what about", "ook",
"also") or refers back ("dat", "die", "that", "it") is joined to the previous question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_CONNECTIVES = ("and what about", "what about", "how about", "en", "maar", "of", "ook", "dus", "and", "but", "or",
                "also", "so")
"""Words that open a follow-up and carry no meaning of their own: dropped when joining."""
_OPENERS_KEPT = ("wat als", "what if", "en als", "and if")
"""Openers that mark a follow-up but carry meaning: kept in the joined question."""
_STRIP = re.compile(r"^(" + "|".join(sorted(_CONNECTIVES, key=len, reverse=True)) + r")\b[\s,]*", re.IGNORECASE)
_OPENERS = re.compile(r"^(" + "|".join(sorted(_CONNECTIVES + _OPENERS_KEPT, key=len, reverse=True)) + r")\b",
                      re.IGNORECASE)
_BACK_REFERENCES = frozenset("dat dit die deze daar daarvoor daarmee hiervoor het ervan it that this they them those "
                             "there".split())
_MAX_FOLLOW_UP_WORDS = 7


def is_follow_up(question: str) -> bool:
    """Whether a question leans on the one before it."""
    words = re.findall(r"\w+", question.lower())
    if not words or len(words) > _MAX_FOLLOW_UP_WORDS + 3:
        return False
    return bool(_OPENERS.match(question.strip())) or (
        len(words) <= _MAX_FOLLOW_UP_WORDS and any(w in _BACK_REFERENCES for w in words))


def standalone_question(question: str, history: Sequence[str]) -> str:
    """The question made to stand on its own from the thread's earlier questions (newest last)."""
    question = " ".join(question.split())
    previous = next((q for q in reversed(history) if q.strip()), "")
    if not previous or not is_follow_up(question):
        return question
    topic = " ".join(previous.split()).rstrip(" ?!.")
    rest = question if question.lower().startswith(_OPENERS_KEPT) else _STRIP.sub("", question).strip()
    return f"{topic} — {rest}" if rest else f"{topic}?"
