"""Citations: a passage, the span of it that supports an answer, and a number to point at it."""

from __future__ import annotations

from core.types import Citation, Hit


def citation(number: int, hit: Hit, quote_start: int = 0, quote_end: int | None = None) -> Citation:
    """Cite `hit`, quoting `passage.text[quote_start:quote_end]` (the whole passage by default)."""
    passage = hit.passage
    end = len(passage.text) if quote_end is None else quote_end
    return Citation(
        number=number, chunk_id=passage.chunk_id, doc_id=passage.doc_id, version=passage.version,
        title=passage.title, uri=passage.uri, page=passage.page, section=" › ".join(passage.section_path),
        passage=passage.text, quote=passage.text[quote_start:end], quote_start=quote_start, quote_end=end,
        score=round(hit.dense_score or hit.score, 4), language=passage.language,
    )


def suggestions(hits: tuple[Hit, ...], limit: int = 3) -> tuple[Citation, ...]:
    """The closest documents for a "maybe look here" list: the first `limit` documents of `hits`, in
    their order (the retrieval's document ranking, `Retrieval.ranked`), each with its first passage."""
    seen: set[str] = set()
    found = []
    for hit in hits:
        if hit.passage.doc_id in seen:
            continue
        seen.add(hit.passage.doc_id)
        found.append(citation(len(found) + 1, hit))
        if len(found) == limit:
            break
    return tuple(found)
