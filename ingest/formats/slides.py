"""PPTX through python-pptx: each slide is a page; its title is a heading, its text frames are
paragraphs or bullets, its tables are table blocks, and its speaker notes follow its content.

(unstructured's partition_pptx puts the notes before the slide title, so they land under the
previous slide's heading, and turns short bullets into headings, which the chunker keeps only in
section paths.)
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

from ingest.formats.office import check_package, package_properties
from ingest.lifecycle import lifecycle_metadata
from ingest.parsed import Block, ParsedDocument
from ingest.text import rows_text


def parse_pptx(path: Path, data: bytes) -> ParsedDocument:
    from pptx import Presentation

    check_package(data, "pptx")
    deck = Presentation(io.BytesIO(data))
    blocks: list[Block] = []
    hidden = 0
    for number, slide in enumerate(deck.slides, start=1):
        if slide._element.get("show") == "0":  # hidden slides are drafts and leftovers
            hidden += 1
            continue
        title_shape = slide.shapes.title
        if title_shape is not None and title_shape.text_frame.text.strip():
            blocks.append(Block(" ".join(title_shape.text_frame.text.split()), "heading", 1, number))
        for shape in _reading_order(slide.shapes):
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            blocks.extend(_shape_blocks(shape, number))
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            if notes is not None and notes.text.strip():
                blocks.append(Block(" ".join(notes.text.split()), "text", 0, number))
    properties = package_properties(data)
    metadata: dict[str, object] = {"slides": len(deck.slides)}
    if hidden:
        metadata["hidden_slides"] = hidden
    lifecycle = lifecycle_metadata(properties)
    if "warnings" in lifecycle:
        metadata["warnings"] = lifecycle.pop("warnings")
    metadata.update(lifecycle)
    return ParsedDocument(title=str(properties.get("title") or ""), blocks=tuple(blocks), media_type="pptx",
                          metadata=metadata, parser="python-pptx")


def _reading_order(shapes) -> list:  # type: ignore[no-untyped-def]
    """Top to bottom, then left to right."""
    return sorted(shapes, key=lambda s: (s.top if s.top is not None else 0, s.left if s.left is not None else 0))


def _shape_blocks(shape, page: int) -> Iterator[Block]:  # type: ignore[no-untyped-def]
    if getattr(shape, "shapes", None) is not None:  # a group
        for inner in _reading_order(shape.shapes):
            yield from _shape_blocks(inner, page)
        return
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
        text = rows_text(rows)
        if text:
            yield Block(text, "table", 0, page)
        return
    if not getattr(shape, "has_text_frame", False) or not shape.has_text_frame:
        return
    for paragraph in shape.text_frame.paragraphs:
        text = " ".join(paragraph.text.split())
        if text:
            yield Block(("• " + text) if paragraph.level > 0 else text, "list" if paragraph.level > 0 else "text", 0,
                        page)
