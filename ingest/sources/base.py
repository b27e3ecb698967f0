"""The `Source` interface: one class per kind of place documents live (a folder or file share,
an intranet website, ...). A source lists what it holds as `SourceItem`s; the ingestion pipeline
decides per item whether it is new, changed or unchanged, parses, chunks, embeds and writes it,
and removes what a complete listing no longer names.

A source never touches the store or the registry. What it needs to remember between runs
(ETag/Last-Modified of a page, the links found on it) it returns in `SourceItem.state`; the
pipeline keeps that in the document registry and hands it back as `previous` on the next scan.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class SourceItem:
    """One thing a source holds: a file, an unpacked e-learning package, or a web page.

    - `uri`: stable key of the item within its source (relative path, or canonical URL); the
      document id is derived from (source id, uri).
    - `suffix`: decides the parser (".pdf", ".html", ...); "" for an unpacked package folder.
    - `data`: the bytes, or None when the item lives on disk (`path`) and is read by the pipeline,
      or when `not_modified` is True (the source confirmed it is unchanged, e.g. HTTP 304).
    - `path`: where the item is on disk, when it is.
    - `link`: where a reader opens the original (a URL), when not a local file.
    - `groups`: access groups from the sources file or a sidecar; empty = the source's default.
    - `metadata`: lifecycle and other metadata from the sources file or a sidecar (owner, version,
      effective, review, expires, superseded_by, ...); merged over what the parser finds.
    - `state`: what the source wants back next run for this uri (validators, outlinks).
    - `error`: set when the source could not get the item (fetch failed); the pipeline reports it
      as failed and keeps what was indexed before.
    """

    uri: str
    suffix: str
    data: bytes | None = None
    path: Path | None = None
    link: str | None = None
    modified: float | None = None
    size: int | None = None
    groups: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    state: Mapping[str, Any] = field(default_factory=dict)
    not_modified: bool = False
    error: str | None = None


class Source(ABC):
    """A place documents come from. Subclasses set `kind` and implement `scan`."""

    kind: ClassVar[str]

    def __init__(self, source_id: str, *, groups: tuple[str, ...] = ()) -> None:
        self.source_id = source_id
        self.groups = groups
        self.complete = True
        """False after a scan that could not list everything (a page limit, a fetch error on a
        listing page): the pipeline then removes nothing."""

    @abstractmethod
    def scan(self, previous: Mapping[str, Mapping[str, Any]]) -> Iterator[SourceItem]:
        """Yield every item the source holds now. `previous` maps uri → the `state` this source
        returned for it last run (empty on a first run)."""

    def describe(self) -> dict[str, Any]:
        """The source's configuration for display (no secrets)."""
        return {"id": self.source_id, "kind": self.kind, "groups": list(self.groups)}
