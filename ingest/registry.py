"""The document registry: per document of a source what was indexed, what failed or was skipped
and why — the answer to "what does Vraagbaak know, and what not?" at any moment.

Rows are written after the store: a row that says `indexed` at a version means the store holds
that version completely. The store stays the truth for what is searchable; a crash between the
two is repaired by the next run (see `Ingestor`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, func, select

from core.db import Database, DocumentRow, SourceRow, utcnow

STATUSES = ("indexed", "failed", "skipped", "erased")
"""`erased`: a tombstone left by a GDPR erasure (ingest/erasure.py). It keeps only the id, source and
location, so that a file still at its source is not indexed again until an admin allows it."""


@dataclass(frozen=True)
class Entry:
    """What the registry holds about one document (a detached copy of its row)."""

    doc_id: str
    source_id: str
    uri: str
    title: str
    media_type: str
    content_hash: str | None
    version: str | None
    fingerprint: str | None
    status: str
    reason: str | None
    chunk_count: int
    pages: int
    parser: str
    ocr: bool
    language: str
    groups: tuple[str, ...]
    lifecycle: Mapping[str, Any]
    stale: str | None
    link: str | None
    modified: float | None
    size: int | None
    state: Mapping[str, Any]
    last_seen: datetime | None
    last_indexed: datetime | None

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["groups"] = list(self.groups)
        data["lifecycle"] = dict(self.lifecycle)
        data["state"] = dict(self.state)
        for key in ("last_seen", "last_indexed"):
            data[key] = _aware(data[key]).isoformat() if data[key] else None
        return data


def stale_reason(lifecycle: Mapping[str, Any], today: date | None = None) -> str | None:
    """Why a document is not in force today, or None: superseded, expired or not yet effective."""
    today = today or datetime.now(UTC).date()
    if lifecycle.get("superseded_by"):
        return "superseded"
    expires = _date(lifecycle.get("expires"))
    if expires and expires < today:
        return "expired"
    effective = _date(lifecycle.get("effective"))
    if effective and effective > today:
        return "not_yet_effective"
    return None


class Registry:
    """Reads and writes the `documents` and `sources` tables."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # -- documents ----------------------------------------------------------------------------------

    def entries(self, source_id: str | None = None, *, status: str | None = None) -> dict[str, Entry]:
        """doc_id → entry, for one source or all, optionally of one status."""
        query = select(DocumentRow)
        if source_id:
            query = query.where(DocumentRow.source_id == source_id)
        if status:
            query = query.where(DocumentRow.status == status)
        with self.database.session() as session:
            return {row.doc_id: _entry(row) for row in session.scalars(query)}

    def get(self, doc_id: str) -> Entry | None:
        with self.database.session() as session:
            row = session.get(DocumentRow, doc_id)
            return _entry(row) if row else None

    def record(self, doc_id: str, **fields: Any) -> None:
        """Create or update a document's row; `last_seen` is set to now."""
        fields.setdefault("last_seen", utcnow())
        if "groups" in fields:
            fields["groups"] = list(fields["groups"])
        with self.database.session() as session:
            row = session.get(DocumentRow, doc_id)
            if row is None:
                defaults = {"title": "", "media_type": "", "chunk_count": 0, "pages": 0, "parser": "", "ocr": False,
                            "language": "", "groups": [], "lifecycle": {}, "state": {}}
                row = DocumentRow(doc_id=doc_id, **{**defaults, **fields})
                session.add(row)
            else:
                for key, value in fields.items():
                    setattr(row, key, value)

    def seen(self, doc_ids: Iterable[str]) -> None:
        """Mark documents as still present at their source."""
        ids = list(doc_ids)
        now = utcnow()
        with self.database.session() as session:
            for start in range(0, len(ids), 500):
                for row in session.scalars(select(DocumentRow).where(DocumentRow.doc_id.in_(ids[start:start + 500]))):
                    row.last_seen = now

    def block(self, doc_id: str, source_id: str, uri: str, reason: str) -> None:
        """Replace a document's row by an `erased` tombstone: everything read from the document
        (title, groups, lifecycle, state, hashes) is dropped; the id, source and location stay."""
        with self.database.session() as session:
            session.execute(delete(DocumentRow).where(DocumentRow.doc_id == doc_id))
            session.add(DocumentRow(doc_id=doc_id, source_id=source_id, uri=uri, title="", media_type="",
                                    status="erased", reason=reason, chunk_count=0, pages=0, parser="", ocr=False,
                                    language="", groups=[], lifecycle={}, state={}, last_seen=utcnow()))

    def allow(self, doc_id: str) -> bool:
        """Lift an erasure's tombstone: the next run indexes the document again if its source still
        holds it. False when the document is not erased."""
        with self.database.session() as session:
            row = session.get(DocumentRow, doc_id)
            if row is None or row.status != "erased":
                return False
            session.delete(row)
            return True

    def remove(self, doc_ids: Iterable[str]) -> None:
        ids = list(doc_ids)
        with self.database.session() as session:
            for start in range(0, len(ids), 500):
                session.execute(delete(DocumentRow).where(DocumentRow.doc_id.in_(ids[start:start + 500])))

    def counts(self, source_id: str | None = None) -> dict[str, int]:
        """Number of documents per status, and of indexed ones not in force today (`stale`)."""
        query = select(DocumentRow.status, func.count()).group_by(DocumentRow.status)
        if source_id:
            query = query.where(DocumentRow.source_id == source_id)
        indexed = select(DocumentRow.lifecycle).where(DocumentRow.status == "indexed")
        if source_id:
            indexed = indexed.where(DocumentRow.source_id == source_id)
        with self.database.session() as session:
            counts = {status: 0 for status in STATUSES} | {status: n for status, n in session.execute(query)}
            today = datetime.now(UTC).date()  # only the lifecycle column: fast on a large registry
            counts["stale"] = sum(1 for lifecycle in session.scalars(indexed) if lifecycle and stale_reason(lifecycle, today))
        return counts

    def stale(self, source_id: str | None = None) -> list[Entry]:
        """Indexed documents that are not in force (superseded, expired, not yet effective), with
        their reasons computed for today."""
        found = []
        for entry in self.entries(source_id, status="indexed").values():
            reason = stale_reason(entry.lifecycle)
            if reason:
                found.append(Entry(**{**entry.__dict__, "stale": reason}))
        return sorted(found, key=lambda e: (e.source_id, e.uri))

    # -- sources ------------------------------------------------------------------------------------

    def sources(self) -> dict[str, SourceRow]:
        with self.database.session() as session:
            return {row.source_id: row for row in session.scalars(select(SourceRow))}

    def save_source(self, source_id: str, kind: str, config: Mapping[str, Any], origin: str) -> None:
        with self.database.session() as session:
            row = session.get(SourceRow, source_id)
            if row is None:
                session.add(SourceRow(source_id=source_id, kind=kind, config=dict(config), origin=origin))
            else:
                row.kind, row.config, row.origin, row.updated_at = kind, dict(config), origin, utcnow()

    def delete_source(self, source_id: str) -> bool:
        with self.database.session() as session:
            row = session.get(SourceRow, source_id)
            if row is None:
                return False
            session.delete(row)
            return True


def _entry(row: DocumentRow) -> Entry:
    return Entry(doc_id=row.doc_id, source_id=row.source_id, uri=row.uri, title=row.title, media_type=row.media_type,
                 content_hash=row.content_hash, version=row.version, fingerprint=row.fingerprint, status=row.status,
                 reason=row.reason, chunk_count=row.chunk_count, pages=row.pages, parser=row.parser, ocr=row.ocr,
                 language=row.language, groups=tuple(row.groups or ()), lifecycle=dict(row.lifecycle or {}),
                 stale=row.stale, link=row.link, modified=row.modified, size=row.size, state=dict(row.state or {}),
                 last_seen=_aware(row.last_seen), last_indexed=_aware(row.last_indexed))


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored moment is UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _date(value: Any) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
