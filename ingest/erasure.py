"""Erasing one document everywhere Vraagbaak keeps its text (GDPR): its chunks in the store, its
registry row (and a package's lessons), what derived data names it (the content-gap topics'
closest documents) and in-process caches that registered a hook. Answer records are kept: they are
the compliance log, and the report says how many of them cite the document.

The registry row becomes a tombstone (status `erased`: id, source and location only), so a file
that is still at its source is not indexed again by the next run; `allow_document` lifts it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Text, cast, func, select

from core.db import AnswerRecord, Database, GapTopicRow, utcnow
from core.errors import ErrorCode, VraagbaakError
from core.logging import kv
from ingest.pipeline import Ingestor

log = logging.getLogger(__name__)

ID_KEYS = ("doc_id", "document_id")
"""Keys under which derived data names a document."""
TEXT_KEYS = ("answer", "text", "excerpt", "quote", "passage", "snippet")
"""Text that may come from a document: emptied in any mapping that listed the erased document
(a gap topic's re-asked question keeps the question, loses the answer built from the document)."""

CacheHook = Callable[[str], int]
"""Drops what a cache holds of a document id; returns how many entries it dropped."""


@dataclass(frozen=True)
class ErasureReport:
    """What was removed where."""

    doc_id: str
    source_id: str
    uri: str
    title: str
    store_chunks: int
    registry_rows: int
    lessons: int
    gap_topics: int
    gap_entries: int
    caches: dict[str, int] = field(default_factory=dict)
    answer_records_kept: int = 0
    blocked: bool = False
    """A tombstone keeps the document out of later runs until an admin allows it again."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def erase_document(ingestor: Ingestor, database: Database, doc_id: str,
                   caches: Mapping[str, CacheHook] | None = None) -> ErasureReport:
    """Erase a document (NOT_FOUND when neither the registry nor the store knows it)."""
    entry = ingestor.registry.get(doc_id)
    lessons = list(entry.state.get("lessons", [])) if entry and entry.media_type == "package" else []
    ids = {doc_id, *lessons}
    chunks = sum(state.points for i in ids for state in ingestor.store.versions(i).values())
    if entry is None and not chunks:
        raise VraagbaakError(ErrorCode.NOT_FOUND, f"No document '{doc_id}' in the registry or the store.")
    if entry is not None and entry.status == "erased" and not chunks:
        raise VraagbaakError(ErrorCode.NOT_FOUND, f"Document '{doc_id}' was erased before ({entry.reason}).")
    rows = sum(1 for i in ids if ingestor.registry.get(i) is not None)
    ingestor.erase_document(doc_id)
    topics, entries = _scrub_gap_topics(database, ids)
    dropped = {}
    for name, hook in (caches or {}).items():
        try:
            dropped[name] = sum(hook(i) for i in ids)
        except Exception as exc:  # a cache that fails must be visible, never silently keep the text
            log.error("cache erasure failed", extra=kv(doc_id=doc_id, cache=name, error=str(exc)[:300]))
            raise VraagbaakError(ErrorCode.INTERNAL, f"The document left the store, but the cache '{name}' "
                                                     "could not drop it; try the erasure again.") from exc
    with database.session() as session:
        kept = session.scalar(select(func.count()).select_from(AnswerRecord)
                              .where(cast(AnswerRecord.cited, Text).contains(doc_id))) or 0
    report = ErasureReport(doc_id=doc_id, source_id=entry.source_id if entry else "", uri=entry.uri if entry else "",
                           title=entry.title if entry else "", store_chunks=chunks, registry_rows=rows,
                           lessons=len(lessons), gap_topics=topics, gap_entries=entries, caches=dropped,
                           answer_records_kept=kept, blocked=entry is not None)
    log.info("document erased everywhere", extra=kv(doc_id=doc_id, chunks=chunks, rows=rows, gap_topics=topics))
    return report


def allow_document(ingestor: Ingestor, doc_id: str) -> str:
    """Lift an erasure's tombstone so that the next run of its source indexes the document again
    (if the source still holds it); returns the source id. NOT_FOUND when it is not erased."""
    entry = ingestor.registry.get(doc_id)
    if entry is None or entry.status != "erased" or not ingestor.registry.allow(doc_id):
        raise VraagbaakError(ErrorCode.NOT_FOUND, f"No erased document '{doc_id}'.")
    log.info("erased document allowed again", extra=kv(doc_id=doc_id, source_id=entry.source_id))
    return entry.source_id


def _scrub_gap_topics(database: Database, ids: set[str]) -> tuple[int, int]:
    """Drop every mention of the documents from the gap topics' details; (topics changed, entries dropped)."""
    changed = dropped = 0
    with database.session() as session:
        for topic in session.scalars(select(GapTopicRow)):
            details, removed = _without(topic.details or {}, ids)
            if removed:
                topic.details, topic.updated_at = details, utcnow()
                changed += 1
                dropped += removed
    return changed, dropped


def _without(value: Any, ids: set[str]) -> tuple[Any, int]:
    """`value` (JSON) without the documents: list items that are one of the ids, entries keyed by
    one, and any mapping that names one under an id key. Returns the copy and how much went."""
    removed = 0
    if isinstance(value, list):
        kept = []
        for item in value:
            if _names(item, ids):
                removed += 1
                continue
            item, inner = _without(item, ids)
            removed += inner
            kept.append(item)
        return kept, removed
    if isinstance(value, dict):
        out = {}
        listed = False
        for key, item in value.items():
            if key in ids or (key in ID_KEYS and item in ids) or (isinstance(item, dict) and _names(item, ids)):
                removed += 1
                continue
            listed |= isinstance(item, list) and any(_names(i, ids) for i in item)
            out[key], inner = _without(item, ids)
            removed += inner
        if listed:
            for key in TEXT_KEYS:
                if isinstance(out.get(key), str) and out[key]:
                    out[key] = ""
                    removed += 1
        return out, removed
    return value, 0


def _names(item: Any, ids: set[str]) -> bool:
    if isinstance(item, str):
        return item in ids
    return isinstance(item, dict) and any(item.get(key) in ids for key in ID_KEYS)
