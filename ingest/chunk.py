"""Heading-aware chunking.

Blocks are grouped under their section path (the headings above them) into chunks of about
`chunk_words` words; a chunk never spans two sections, and a block too long for one chunk is
split at sentence boundaries with a small overlap. Each chunk keeps the original text it was
cut from (a slice of the document text, with its character span) apart from the text that is
embedded, which has the title and section path prepended.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from core.language import detect_language
from core.sentences import split_sentences
from core.types import Chunk, Window
from ingest.parse import Block

BLOCK_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    words: int
    page: int | None


def document_text(blocks: Sequence[Block]) -> tuple[str, list[tuple[int, int]]]:
    """The document's text (blocks joined by blank lines) and each block's span in it."""
    parts, spans, offset = [], [], 0
    for block in blocks:
        spans.append((offset, offset + len(block.text)))
        parts.append(block.text)
        offset += len(block.text) + len(BLOCK_SEPARATOR)
    return BLOCK_SEPARATOR.join(parts), spans


def chunk_document(doc_id: str, version: str, title: str, blocks: Sequence[Block], *, language: str,
                   chunk_words: int = 180, overlap_words: int = 30) -> list[Chunk]:
    """Cut a parsed document into chunks."""
    text, spans = document_text(blocks)
    headings: list[tuple[int, str]] = []
    pending: list[_Span] = []
    groups: list[tuple[tuple[str, ...], list[_Span]]] = []

    def flush() -> None:
        if pending:
            groups.append((tuple(h for _, h in headings), list(pending)))
            pending.clear()

    for block, (start, end) in zip(blocks, spans, strict=True):
        if block.kind == "heading":
            flush()
            level = max(block.level, 1)
            while headings and headings[-1][0] >= level:
                headings.pop()
            headings.append((level, block.text))
            continue
        words = len(block.text.split())
        if words > chunk_words:
            flush()
            for piece in _split_long(text, start, end, block.page, chunk_words, overlap_words):
                groups.append((tuple(h for _, h in headings), [piece]))
            continue
        if pending and sum(s.words for s in pending) + words > chunk_words:
            flush()
        pending.append(_Span(start, end, words, block.page))
    flush()

    chunks = []
    for ordinal, (section_path, group) in enumerate(groups):
        start, end = group[0].start, group[-1].end
        body = text[start:end]
        page = next((s.page for s in group if s.page is not None), None)
        path = tuple(h for h in section_path if h != title)
        header = " › ".join((title, *path))
        chunk_id = hashlib.sha256(f"{doc_id}|{version}|{ordinal}|{body}".encode()).hexdigest()[:32]
        chunks.append(Chunk(chunk_id=chunk_id, doc_id=doc_id, version=version, ordinal=ordinal, text=body,
                            embed_text=f"{header}\n{body}", section_path=section_path, page=page,
                            start=start, end=end, language=detect_language(body, fallback=language)))
    return chunks


def windows(chunks: Sequence[Chunk], title: str, words: int = 400) -> list[Window]:
    """The document's chunks in reading order, cut into windows of consecutive chunks of up to
    `words` words (a chunk longer than that is a window alone): about the embedding model's input
    (512 tokens), the size of the passages whole-page retrievers embed. They cross section
    boundaries on purpose: a window says what a part of the document is about, the chunk says
    where the answer is. A window of several chunks is embedded as the title and their texts; a
    window of one chunk has no text of its own (`embed_text` empty): its vector is the chunk's. A
    document that fits in one window has one `whole` window, kept (so the store knows the document
    has its windows) but not voting — its chunks already stand for all of it, and its vote would
    only repeat the dense list's (docs/assistant.md, "Windows") — and not embedded either: it
    carries its first chunk's vector."""
    ordered = sorted(chunks, key=lambda c: c.ordinal)
    groups: list[list[Chunk]] = []
    size = 0
    for chunk in ordered:
        count = len(chunk.text.split())
        if groups and size + count <= words:
            groups[-1].append(chunk)
            size += count
        else:
            groups.append([chunk])
            size = count
    return [Window(window_id=hashlib.sha256("|".join(c.chunk_id for c in group).encode()).hexdigest()[:32],
                   doc_id=group[0].doc_id, version=group[0].version, first=group[0].ordinal, last=group[-1].ordinal,
                   embed_text="" if len(group) == 1 or len(groups) == 1
                   else f"{title}\n" + BLOCK_SEPARATOR.join(c.text for c in group), whole=len(groups) == 1)
            for group in groups]


def _split_long(text: str, start: int, end: int, page: int | None, chunk_words: int,
                overlap_words: int) -> list[_Span]:
    """Split one long block at sentence boundaries into windows of about `chunk_words` words."""
    sentences = split_sentences(text[start:end])
    pieces: list[_Span] = []
    i = 0
    while i < len(sentences):
        j, words = i, 0
        while j < len(sentences) and (words == 0 or words + len(sentences[j].text.split()) <= chunk_words):
            words += len(sentences[j].text.split())
            j += 1
        pieces.append(_Span(start + sentences[i].start, start + sentences[j - 1].end, words, page))
        if j >= len(sentences):
            break
        # step back over whole sentences to overlap by about `overlap_words`
        back, k = 0, j
        while k - 1 > i and back + len(sentences[k - 1].text.split()) <= overlap_words:
            k -= 1
            back += len(sentences[k].text.split())
        i = k
    return pieces
