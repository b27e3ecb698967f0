"""Shaping the retrieved passages before the generator sees them: per-source boosts, near
duplicates collapsed, neighbouring chunks of one document merged into one passage.

A merged passage exists only for the generator: its citations are mapped back to the real chunk
that holds the quote (`cite_chunks`), so a citation's chunk id, passage and quote offsets always
match the stored chunk that the document viewer and the audit views look up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from core.types import Answer, Citation, Hit, Passage

SHINGLE_WORDS = 4
"""Words per shingle for near-duplicate detection (a passage shorter than that is one shingle)."""
MAX_PARTS = 2
"""Chunks in one merged passage at most: keeps the LLM's five passages within its context."""
JOIN = "\n\n"
"""Between two neighbouring chunks that do not overlap (blocks are joined so in the document text;
the sentences of one long block, one character apart, get a space)."""
_WORD = re.compile(r"\w+")


def boost(hits: Sequence[Hit], boosts: Mapping[str, float]) -> list[Hit]:
    """Each hit's fused score multiplied by its source's boost (1 when not named), re-sorted (a stable
    sort: equal scores keep their order) and re-ranked."""
    if not boosts:
        return list(hits)
    scored = [replace(h, score=h.score * boosts.get(h.passage.source_id, 1.0)) for h in hits]
    return _ranked(sorted(scored, key=lambda h: -h.score))


def shingles(text: str, size: int = SHINGLE_WORDS) -> frozenset[tuple[str, ...]]:
    """The text's overlapping runs of `size` lower-cased words."""
    words = tuple(_WORD.findall(text.lower()))
    if len(words) <= size:
        return frozenset([words]) if words else frozenset()
    return frozenset(words[i:i + size] for i in range(len(words) - size + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def collapse_duplicates(hits: Sequence[Hit], threshold: float) -> tuple[list[Hit], dict[str, tuple[str, ...]]]:
    """The hits without those whose text nearly repeats a better-ranked kept hit (word-shingle
    Jaccard ≥ `threshold`), and per kept chunk id the document ids of the duplicates it stands for."""
    kept: list[tuple[Hit, frozenset]] = []
    duplicates: dict[str, list[str]] = {}
    for hit in hits:
        own = shingles(hit.passage.text)
        twin = next((k for k, theirs in kept if jaccard(own, theirs) >= threshold), None)
        if twin is None:
            kept.append((hit, own))
        else:
            found = duplicates.setdefault(twin.passage.chunk_id, [])
            if hit.passage.doc_id not in found:
                found.append(hit.passage.doc_id)
    return _ranked([h for h, _ in kept]), {k: tuple(v) for k, v in duplicates.items()}


@dataclass(frozen=True)
class Part:
    """One real chunk inside a merged passage: its hit and where its text begins in the merged text."""

    hit: Hit
    begin: int

    @property
    def end(self) -> int:
        return self.begin + len(self.hit.passage.text)


def merge_neighbours(hits: Sequence[Hit]) -> tuple[list[Hit], dict[str, tuple[Part, ...]]]:
    """Hits that are neighbouring chunks of one document version and section (ordinal n and n + 1)
    joined into one passage, at the place of the better-ranked one, with the best of their scores.
    Overlapping chunks (ingest repeats whole sentences between the pieces of a long block) are
    joined without repeating the overlap. Returns the hits and, per merged passage's chunk id (its
    first chunk's), the parts it is made of."""
    groups: list[list[Hit]] = []
    for hit in hits:
        group = next((g for g in groups if len(g) < MAX_PARTS and _neighbours(g, hit.passage)), None)
        if group is None:
            groups.append([hit])
        else:
            group.append(hit)
    merged_hits: list[Hit] = []
    parts: dict[str, tuple[Part, ...]] = {}
    for group in groups:
        if len(group) == 1:
            merged_hits.append(group[0])
            continue
        hit, pieces = _merge(group)
        merged_hits.append(hit)
        parts[hit.passage.chunk_id] = pieces
    return _ranked(merged_hits), parts


def _neighbours(group: list[Hit], passage: Passage) -> bool:
    first = group[0].passage
    if (passage.doc_id, passage.version, passage.section_path) != (first.doc_id, first.version, first.section_path):
        return False
    ordinals = [h.passage.ordinal for h in group]
    return passage.ordinal in (min(ordinals) - 1, max(ordinals) + 1)


def _merge(group: list[Hit]) -> tuple[Hit, tuple[Part, ...]]:
    ordered = sorted(group, key=lambda h: h.passage.ordinal)
    text = ""
    pieces: list[Part] = []
    previous: Passage | None = None
    for hit in ordered:
        passage = hit.passage
        overlap = _overlap(previous, passage) if previous is not None else 0
        if previous is None:
            begin = 0
            text = passage.text
        elif overlap:
            begin = len(text) - overlap
            text += passage.text[overlap:]
        else:  # the pieces of one long block are a space apart, blocks a blank line
            join = " " if passage.start - previous.end == 1 else JOIN
            begin = len(text) + len(join)
            text += join + passage.text
        pieces.append(Part(hit, begin))
        previous = passage
    first, last = ordered[0].passage, ordered[-1].passage
    best = min(group, key=lambda h: h.rank)
    passage = replace(first, text=text, start=first.start, end=last.end)
    return Hit(passage=passage, score=max(h.score for h in group), dense_score=max(h.dense_score for h in group),
               rank=best.rank), tuple(pieces)


def _overlap(previous: Passage, passage: Passage) -> int:
    """Characters that `passage` repeats from the end of `previous` (0: none, or the spans are not
    plain slices of the document text)."""
    size = previous.end - passage.start
    if size <= 0 or size > min(len(previous.text), len(passage.text)):
        return 0
    return size if previous.text[-size:] == passage.text[:size] else 0


def _ranked(hits: Sequence[Hit]) -> list[Hit]:
    return [replace(h, rank=i) for i, h in enumerate(hits, start=1)]


def cite_chunk(cite: Citation, parts: Sequence[Part]) -> Citation:
    """A citation of a merged passage as a citation of the real chunk that holds its quote: the
    first part that contains the whole quote; a quote across the join (several sentences from both
    chunks) goes to the part holding most of it and is cut to that part; a quote of the whole
    merged passage (a "maybe look here" suggestion) becomes the whole best-ranked chunk."""
    start, end = cite.quote_start, cite.quote_end
    if start <= 0 and end >= len(cite.passage):
        part = min(parts, key=lambda p: p.hit.rank)
        start, end = part.begin, part.end
    else:
        part = next((p for p in parts if p.begin <= start and end <= p.end), None)
        if part is None:
            part = max(parts, key=lambda p: (min(end, p.end) - max(start, p.begin), -p.hit.rank))
    passage = part.hit.passage
    local_start = min(max(start - part.begin, 0), len(passage.text))
    local_end = max(min(end - part.begin, len(passage.text)), local_start)
    return replace(cite, chunk_id=passage.chunk_id, page=passage.page, passage=passage.text,
                   quote=passage.text[local_start:local_end], quote_start=local_start, quote_end=local_end,
                   score=round(part.hit.dense_score or part.hit.score, 4), language=passage.language)


def cite_chunks(answer: Answer, merged: Mapping[str, Sequence[Part]]) -> Answer:
    """The answer with every citation and suggestion of a merged passage pointing at its real chunk."""
    if not merged:
        return answer

    def restore(cite: Citation) -> Citation:
        parts = merged.get(cite.chunk_id)
        if not parts or cite.passage == parts[0].hit.passage.text:
            return cite  # not a merged passage, or already the real chunk
        return cite_chunk(cite, parts)

    return replace(answer, citations=tuple(restore(c) for c in answer.citations),
                   suggestions=tuple(restore(c) for c in answer.suggestions))
