"""What a parser returns: a title and blocks (headings and text, with page numbers), plus metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

BlockKind = Literal["heading", "text", "list", "table"]


@dataclass(frozen=True)
class Block:
    """A heading (with its level, 1 = top) or a piece of body text, with the page it is on."""

    text: str
    kind: BlockKind = "text"
    level: int = 0
    page: int | None = None


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    blocks: tuple[Block, ...]
    media_type: str
    metadata: dict[str, object] = field(default_factory=dict)
    parser: str = ""
