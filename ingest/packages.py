"""E-learning packages in an ingestion run: each lesson becomes a document whose section path
reads course → module → lesson and whose URI is `package!/launch-file`.

The package itself has a registry row (media type `package`) holding the hash of the package
and the ids of its lessons, so an unchanged package is not even opened on the next run, and a
package that turns unreadable keeps the lessons indexed before (nothing is lost on a bad update).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from core.db import utcnow
from core.errors import VraagbaakError
from core.language import detect_language
from core.logging import kv
from core.types import EVERYONE, Document, FailedFile
from ingest.lms import PackageLimits, read_package
from ingest.registry import stale_reason
from ingest.sources.base import SourceItem

if TYPE_CHECKING:
    from ingest.pipeline import Ingestor, _Run

log = logging.getLogger(__name__)

_BATCH_LESSONS = 64


def package_hash(path: Path) -> str:
    """A zip/tar's bytes, or an unpacked package's file list with sizes and modification times."""
    digest = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    else:
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            stat = file.stat()
            digest.update(f"{file.relative_to(path).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def index_package(ingestor: Ingestor, item: SourceItem, run: _Run) -> None:
    from ingest.pipeline import _fingerprint, content_version, document_id, lesson_blocks, merged_lifecycle

    assert item.path is not None
    source_id = run.source.source_id
    registry = ingestor.registry
    package_id = document_id(source_id, item.uri)
    if ingestor.erased(package_id, item.uri, run):
        return
    run.seen.add(package_id)
    entry = run.entries.get(package_id)
    groups = item.groups or run.source.groups or tuple(ingestor.settings.default_groups) or (EVERYONE,)
    try:
        digest = package_hash(item.path)
    except OSError as exc:
        digest = f"unreadable:{exc}"
    fingerprint = _fingerprint(digest, groups, item.metadata)
    previous_lessons = list((entry.state if entry else {}).get("lessons", []))
    if entry and entry.status == "indexed" and entry.fingerprint == fingerprint and not run.force and all(
            lesson in run.entries and run.in_store(lesson, run.entries[lesson].version) for lesson in previous_lessons):
        run.seen.update(previous_lessons)
        run.unchanged.extend(run.entries[lesson].uri for lesson in previous_lessons)
        registry.record(package_id)
        return
    try:
        with ingestor._stage("parse"):
            course = read_package(item.path, PackageLimits(max_total_bytes=int(ingestor.settings.max_file_mb * 5_000_000)))
    except VraagbaakError as exc:
        run.failed.append(FailedFile(item.uri, exc.message))
        log.warning("package failed", extra=kv(uri=item.uri, reason=exc.message))
        kept = set(previous_lessons) | {d for d, e in run.entries.items() if e.uri.startswith(f"{item.uri}!")}
        run.seen.update(kept)
        registry.record(package_id, source_id=source_id, uri=item.uri, media_type="package", status="failed",
                        reason=exc.message, content_hash=digest, fingerprint=fingerprint,
                        state={"lessons": sorted(kept)}, modified=item.modified)
        return
    run.warnings.extend(f"{item.uri}: {warning}" for warning in course.warnings)
    lifecycle, warnings = merged_lifecycle(item.metadata)
    run.warnings.extend(f"{item.uri}: {w}" for w in warnings)
    lessons: list[str] = []
    keys: dict[str, int] = {}
    chunks_total = 0
    pending: list[tuple[Document, list, str, bool]] = []
    for lesson in course.lessons:
        if not lesson.has_text:
            continue
        key = f"{item.uri}#{lesson.entry}#{lesson.title}"
        keys[key] = keys.get(key, 0) + 1
        doc_id = document_id(source_id, f"{key}#{keys[key]}")
        uri = f"{item.uri}!/{lesson.launch or lesson.entry}"
        if ingestor.erased(doc_id, uri, run):
            continue
        lessons.append(doc_id)
        run.seen.add(doc_id)
        blocks = lesson_blocks(lesson.path, lesson.blocks)
        version = content_version("\n".join([*lesson.path, *(b.text for b in blocks)]).encode())
        lesson_fingerprint = _fingerprint(version, groups, item.metadata)
        lesson_entry = run.entries.get(doc_id)
        if (lesson_entry and lesson_entry.status == "indexed" and lesson_entry.fingerprint == lesson_fingerprint
                and run.in_store(doc_id, version) and not run.force):
            run.unchanged.append(uri)
            chunks_total += lesson_entry.chunk_count
            continue
        language = detect_language(" ".join(b.text for b in blocks[:40]))
        document = Document(doc_id=doc_id, version=version, source_id=source_id, uri=uri, title=lesson.title,
                            media_type=course.format, language=language, groups=groups, path=str(item.path),
                            lifecycle=lifecycle)
        pending.append((document, blocks, lesson_fingerprint, lesson_entry is not None or doc_id in run.store_state))
    for start in range(0, len(pending), _BATCH_LESSONS):  # small lessons are embedded together
        batch = pending[start:start + _BATCH_LESSONS]
        outcomes = ingestor._index_many([(document, blocks) for document, blocks, _, _ in batch])
        for (document, _, lesson_fingerprint, existed), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, VraagbaakError):
                run.failed.append(FailedFile(document.uri, outcome.message))
                registry.record(document.doc_id, source_id=source_id, uri=document.uri, status="failed",
                                reason=outcome.message, media_type=course.format, content_hash=document.version,
                                fingerprint=lesson_fingerprint)
                continue
            run.chunks += outcome
            chunks_total += outcome
            run.pages += 1
            registry.record(document.doc_id, source_id=source_id, uri=document.uri, title=document.title,
                            media_type=course.format, content_hash=document.version, version=document.version,
                            fingerprint=lesson_fingerprint, status="indexed", reason=None, chunk_count=outcome,
                            pages=1, parser=f"lms:{course.format}", language=document.language, groups=groups,
                            lifecycle=lifecycle, stale=stale_reason(lifecycle), modified=item.modified,
                            last_indexed=utcnow())
            (run.updated if existed else run.new).append(document.uri)
    registry.record(package_id, source_id=source_id, uri=item.uri, title=course.title, media_type="package",
                    content_hash=digest, version=digest, fingerprint=fingerprint, status="indexed",
                    reason=None, chunk_count=chunks_total, pages=len(lessons), parser=f"lms:{course.format}",
                    groups=groups, state={"lessons": lessons}, modified=item.modified, last_indexed=utcnow())
