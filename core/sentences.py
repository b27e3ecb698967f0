"""Sentence splitting for Dutch and English text, with character spans (for highlighting)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Abbreviations after which a full stop does not end a sentence (lower-case, without the stop).
_ABBREVIATIONS = frozenset("""
bijv bv o.a e.d e.a d.w.z m.b.t t.a.v i.p.v z.s.m m.u.v a.u.b n.a.v ca cf enz etc evt incl excl max min
nr art lid jl jr dhr mevr mr dr drs ir ing prof st vs e.g i.e mrs ms no p pp fig approx dept tel resp
""".split())
_BOUNDARY = re.compile(r"([.!?…]+)([\"'”’)\]]*)(\s+)(?=[\"'“‘(\[]?[A-ZÀ-Ý0-9•\-–])|\n{2,}|\n(?=\s*[•\-–*] )")


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int
    end: int


def split_sentences(text: str) -> list[Sentence]:
    """Split text into sentences; `start`/`end` index into `text`."""
    sentences: list[Sentence] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.start(3) if match.group(3) else match.start()
        if match.group(1) == "." and _is_abbreviation(text, match.start(1)):
            continue
        _append(sentences, text, start, end)
        start = match.end()
    _append(sentences, text, start, len(text))
    return sentences


def _is_abbreviation(text: str, dot: int) -> bool:
    word_start = dot
    while word_start > 0 and not text[word_start - 1].isspace() and text[word_start - 1] not in "(\"'":
        word_start -= 1
    word = text[word_start:dot].lower().rstrip(".")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _append(sentences: list[Sentence], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start and any(c.isalnum() for c in text[start:end]):
        sentences.append(Sentence(text[start:end], start, end))
