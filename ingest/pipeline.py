"""An ingestion run over one source: list what it holds, skip what is unchanged, (re)index what
changed, remove what disappeared, and record every document's outcome in the registry.

Crash safety: a new version's chunks are written invisible (`active=false`) and made searchable
in one switch that also drops the old version (`QdrantStore.activate`); the registry row is
written after that. A run killed at any point leaves at most invisible chunks or a stale row,
and the next run converges: same ids (content hashes), so rewriting is idempotent, and the
store's own view (`source_state`) decides what is complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.db import Database, utcnow
from core.embedding import Embedder
from core.errors import ErrorCode, VraagbaakError
from core.language import detect_language
from core.lexical import BM25Encoder, SparseVector
from core.logging import kv
from core.settings import IngestSettings
from core.store import QdrantStore, VersionState
from core.types import EVERYONE, Chunk, Document, FailedFile, IngestReport, Window
from ingest.chunk import chunk_document, windows
from ingest.lifecycle import lifecycle_metadata
from ingest.lms import is_package
from ingest.parse import Block, ParsedDocument, parse_file
from ingest.registry import Entry, Registry, stale_reason
from ingest.sources.base import Source, SourceItem
from ingest.sources.folder import FolderSource, list_units

log = logging.getLogger(__name__)

PACKAGE_SUFFIXES = frozenset({".zip", ".imscc", ".mbz"})
"""Files read as e-learning packages even when broken, so a bad update reports its reason and
keeps the lessons indexed before."""

__all__ = ["Ingestor", "Progress", "document_id", "content_version", "list_units", "PACKAGE_SUFFIXES"]


@dataclass(frozen=True)
class Progress:
    """Where a run stands, after each item."""

    files_done: int
    files_total: int | None
    pages: int
    chunks: int
    failed: int
    current: str
    elapsed_s: float

    @property
    def rate(self) -> float:
        """Files per second so far."""
        return self.files_done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current rate, when the total is known."""
        if self.files_total is None or self.rate <= 0:
            return None
        return max(self.files_total - self.files_done, 0) / self.rate


ProgressCallback = Callable[[Progress], None]


def document_id(source_id: str, relative_path: str) -> str:
    """Stable id of a document: its source and its path (or URL) in the source."""
    return hashlib.sha256(f"{source_id}\0{relative_path}".encode()).hexdigest()[:32]


def content_version(data: bytes) -> str:
    """Version of a document: the hash of its bytes."""
    return hashlib.sha256(data).hexdigest()[:32]


def _fingerprint(version: str, groups: Sequence[str], labels: Mapping[str, Any]) -> str:
    """Version plus what the source says about the document (groups, sidecar metadata)."""
    blob = json.dumps([version, sorted(groups), labels], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass
class _Run:
    source: Source
    entries: dict[str, Entry]
    store_state: dict[str, dict[str, VersionState]]
    force: bool
    started: float = field(default_factory=time.perf_counter)
    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[FailedFile] = field(default_factory=list)
    skipped: list[FailedFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    chunks: int = 0
    pages: int = 0

    def in_store(self, doc_id: str, version: str | None) -> bool:
        """The store holds exactly this version of the document, complete and searchable."""
        versions = self.store_state.get(doc_id, {})
        state = versions.get(version or "")
        return bool(state and state.complete and state.active and len(versions) == 1)


class Ingestor:
    """Keeps the store and the registry in step with sources."""

    def __init__(self, store: QdrantStore, embedder: Embedder, settings: IngestSettings,
                 registry: Registry | None = None, parse: Callable[[Path, bytes], ParsedDocument] | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.registry = registry or Registry(Database.open("sqlite://"))
        self.parse = parse or parse_file
        self.encoder = BM25Encoder(avg_len=settings.chunk_words * 0.6)
        self._stages: dict[str, float] = {}
        store.ensure_collection(embedder.dim)

    # -- runs -------------------------------------------------------------------------------------

    def ingest_folder(self, root: Path, source_id: str | None = None, progress: ProgressCallback | None = None,
                      *, force: bool = False) -> IngestReport:
        """Index every supported file below `root`; remove documents of the source no longer there."""
        root = Path(root).resolve()
        if not root.exists():
            raise VraagbaakError(ErrorCode.NOT_FOUND, f"No such file or folder: {root}")
        source = FolderSource(source_id or root.name, root, groups=tuple(self.settings.default_groups))
        return self.ingest_source(source, progress, force=force)

    def ingest_source(self, source: Source, progress: ProgressCallback | None = None, *,
                      force: bool = False) -> IngestReport:
        """One run over a source. `force` re-indexes unchanged documents and retries failed ones."""
        self._stages = {"parse": 0.0, "chunk": 0.0, "embed": 0.0, "sparse": 0.0, "upsert": 0.0}
        entries = self.registry.entries(source.source_id)
        run = _Run(source, entries, self.store.source_state(source.source_id), force)
        previous = {entry.uri: entry.state for entry in entries.values()}
        total = source.estimate() if hasattr(source, "estimate") else None
        whole_root = not (isinstance(source, FolderSource) and source.root.is_file())
        for done, item in enumerate(source.scan(previous), start=1):
            if item.path is not None and (item.suffix in PACKAGE_SUFFIXES or is_package(item.path)):
                self._package(item, run)
            else:
                self._item(item, run)
            if progress:
                progress(Progress(done, total, run.pages, run.chunks, len(run.failed), item.uri,
                                  time.perf_counter() - run.started))
        run.warnings.extend(getattr(source, "sidecar_warnings", ()))
        complete = source.complete and whole_root
        if complete:
            self._remove_missing(run)
        else:
            self.registry.seen(run.seen)
        self.backfill_windows(source.source_id)  # windows just switched on: from the stored chunks
        report = IngestReport(
            source_id=source.source_id, new=tuple(run.new), updated=tuple(run.updated),
            unchanged=tuple(run.unchanged), removed=tuple(run.removed), failed=tuple(run.failed),
            warnings=tuple(run.warnings), chunks=run.chunks, seconds=round(time.perf_counter() - run.started, 3),
            stage_seconds={k: round(v, 3) for k, v in self._stages.items()}, skipped=tuple(run.skipped),
            pages=run.pages, complete=source.complete)
        log.info("ingest finished", extra=kv(source_id=source.source_id, new=len(report.new),
                                             updated=len(report.updated), unchanged=len(report.unchanged),
                                             removed=len(report.removed), failed=len(report.failed),
                                             skipped=len(report.skipped), seconds=report.seconds))
        return report

    def ingest_texts(self, items: Iterable[tuple[str, str, str]], source_id: str) -> int:
        """Index plain texts given as (id, title, text) into a fresh collection, e.g. a BEIR corpus;
        embeds the whole batch at once. Returns the chunk count. (Not recorded in the registry.)"""
        prepared = []
        for item_id, title, text in items:
            document = Document(doc_id=item_id, version=content_version(f"{title}\n{text}".encode()),
                                source_id=source_id, uri=item_id, title=title, media_type="text",
                                language=detect_language(text))
            prepared.append((document, self._chunks(document, [Block(text, "text")])))
        all_chunks = [c for _, chunks in prepared for c in chunks]
        dense = self.embedder.embed_passages([c.embed_text for c in all_chunks])
        offset = 0
        for document, chunks in prepared:
            vectors = dense[offset:offset + len(chunks)]
            offset += len(chunks)
            sparse = [self.encoder.encode_document(c.embed_text, c.language) for c in chunks]
            self.store.upsert(document, chunks, vectors, sparse)
            if self.store.keeps_windows:
                found = windows(chunks, document.title)
                self.store.upsert_windows(document, found, self._window_vectors(found, chunks, vectors))
        return len(all_chunks)

    def backfill_windows(self, source_id: str | None = None) -> int:
        """When the store keeps windows: give the document versions indexed while windows were off
        their windows, from their stored chunks and vectors (embedding only windows of several
        chunks; no parsing). Returns how many documents got them."""
        if not self.store.keeps_windows:
            return 0
        missing = self.store.without_windows(source_id)
        for document, chunks, vectors in self.store.stored_chunks(missing):
            found = windows(chunks, document.title)
            self.store.upsert_windows(document, found, self._window_vectors(found, chunks, vectors))
        if missing:
            log.info("windows added", extra=kv(source_id=source_id, documents=len(missing)))
        return len(missing)

    def _window_vectors(self, found: Sequence[Window], chunks: Sequence[Chunk], dense: np.ndarray) -> np.ndarray:
        """A vector per window: its own embedding, or for a window of one chunk that chunk's vector."""
        by_ordinal = {c.ordinal: i for i, c in enumerate(chunks)}
        texts = [w.embed_text for w in found if w.embed_text]
        embedded = iter(self.embedder.embed_passages(texts)) if texts else iter(())
        return np.asarray([next(embedded) if w.embed_text else dense[by_ordinal[w.first]] for w in found],
                          dtype=np.float32)

    def erase_source(self, source_id: str) -> int:
        """Remove a source's documents from the store and the registry; returns how many."""
        entries = self.registry.entries(source_id)
        self.store.delete_source(source_id)
        self.registry.remove(entries)
        log.info("source erased", extra=kv(source_id=source_id, documents=len(entries)))
        return len(entries)

    def erase_document(self, doc_id: str) -> bool:
        """Remove one document from the store and the registry (GDPR erasure)."""
        entry = self.registry.get(doc_id)
        self.store.delete_document(doc_id)
        for lesson in (entry.state.get("lessons", []) if entry and entry.media_type == "package" else []):
            self.store.delete_document(lesson)
            self.registry.remove([lesson])
        if entry is not None:  # a tombstone: a file still at its source must not come back on the next run
            self.registry.block(doc_id, entry.source_id, entry.uri,
                                f"erased on {utcnow():%Y-%m-%d}; not indexed again until an admin allows it")
        log.info("document erased", extra=kv(doc_id=doc_id))
        return entry is not None

    def erased(self, doc_id: str, uri: str, run: _Run) -> bool:
        """True (and reported as skipped) when the document was erased and not allowed again."""
        entry = run.entries.get(doc_id)
        if entry is None or entry.status != "erased":
            return False
        run.seen.add(doc_id)
        run.skipped.append(FailedFile(uri, entry.reason or "erased"))
        return True

    def _remove_missing(self, run: _Run) -> None:
        """Documents the source no longer holds leave the store and the registry."""
        erased = {doc_id for doc_id, entry in run.entries.items() if entry.status == "erased"}
        gone = (set(run.entries) | set(run.store_state)) - run.seen - erased  # tombstones stay
        uris = {**{d: str(i["uri"]) for d, i in self.store.documents(run.source.source_id).items() if d in gone},
                **{d: e.uri for d, e in run.entries.items() if d in gone}}
        for doc_id in sorted(gone):
            self.store.delete_document(doc_id)
            entry = run.entries.get(doc_id)
            if entry is None or entry.media_type != "package":
                run.removed.append(uris.get(doc_id, doc_id))
            log.info("removed", extra=kv(doc_id=doc_id, uri=uris.get(doc_id)))
        self.registry.remove(gone)
        self.registry.seen(run.seen)

    # -- one document -----------------------------------------------------------------------------

    def _item(self, item: SourceItem, run: _Run) -> None:
        doc_id = document_id(run.source.source_id, item.uri)
        if self.erased(doc_id, item.uri, run):
            return
        run.seen.add(doc_id)
        entry = run.entries.get(doc_id)
        groups = item.groups or run.source.groups or tuple(self.settings.default_groups) or (EVERYONE,)
        if item.error:
            self._fail(run, doc_id, item, entry, VraagbaakError(ErrorCode.PARSE_FAILED, item.error))
            return
        if item.not_modified and entry and entry.status == "indexed" and run.in_store(doc_id, entry.version) \
                and not run.force:
            run.unchanged.append(item.uri)
            self.registry.record(doc_id, state=dict(item.state) or entry.state)
            return
        if (entry and not run.force and entry.status == "indexed" and entry.content_hash
                and item.modified is not None and entry.modified == item.modified and entry.size == item.size
                and entry.fingerprint == _fingerprint(entry.content_hash, groups, item.metadata)
                and run.in_store(doc_id, entry.version)):
            run.unchanged.append(item.uri)  # same modification time and size: not even read
            self.registry.record(doc_id, state=dict(item.state) or entry.state)
            return
        version: str | None = None
        fingerprint: str | None = None
        try:
            data = self._read(item)
            version = content_version(data)
            fingerprint = _fingerprint(version, groups, item.metadata)
            if entry and entry.content_hash == version and not run.force:
                if entry.status == "indexed" and run.in_store(doc_id, version) and entry.fingerprint == fingerprint:
                    run.unchanged.append(item.uri)
                    self.registry.record(doc_id, state=dict(item.state), modified=item.modified)
                    return
                if entry.status in ("failed", "skipped") and entry.fingerprint == fingerprint:
                    (run.failed if entry.status == "failed" else run.skipped).append(
                        FailedFile(item.uri, entry.reason or "failed before"))
                    self.registry.record(doc_id)
                    return
            with self._stage("parse"):
                parsed = self.parse(item.path or _name_for_parser(item), data)
            document = self._document(doc_id, version, item, parsed, groups, run)
            relabel = (entry is not None and entry.content_hash == version and run.in_store(doc_id, version)
                       and not run.force)
            if relabel:  # same content, new groups or lifecycle: no re-embedding
                self.store.relabel(document)
                chunks = entry.chunk_count if entry else 0
            else:
                chunks = self._index(document, parsed.blocks)
                run.chunks += chunks
            pages = max((b.page or 0 for b in parsed.blocks), default=0) or 1
            run.pages += pages
            self.registry.record(
                doc_id, source_id=run.source.source_id, uri=item.uri, title=document.title,
                media_type=document.media_type, content_hash=version, version=version, fingerprint=fingerprint,
                status="indexed", reason=None, chunk_count=chunks, pages=pages, parser=parsed.parser,
                ocr=bool(parsed.metadata.get("ocr_pages")), language=document.language, groups=document.groups,
                lifecycle=document.lifecycle, stale=stale_reason(document.lifecycle), link=item.link,
                modified=item.modified, size=len(data), state=dict(item.state), last_indexed=utcnow())
            run.warnings.extend(f"{item.uri}: {w}" for w in parsed.metadata.get("warnings", ()) or ())
            (run.updated if entry and entry.status == "indexed" or run.store_state.get(doc_id) else run.new).append(
                item.uri)
        except VraagbaakError as exc:
            if exc.code is ErrorCode.STORE_UNAVAILABLE:
                raise
            self._fail(run, doc_id, item, entry, exc, fingerprint=fingerprint, version=version)
        except OSError as exc:
            self._fail(run, doc_id, item, entry,
                       VraagbaakError(ErrorCode.PARSE_FAILED, f"cannot read the file: {exc.strerror or exc}"))

    def _read(self, item: SourceItem) -> bytes:
        if item.data is not None:
            data = item.data
        elif item.path is not None:
            size_mb = item.path.stat().st_size / 1_000_000
            if size_mb > self.settings.max_file_mb:
                raise VraagbaakError(ErrorCode.FILE_TOO_LARGE,
                                     f"file is {size_mb:.1f} MB, over the limit of {self.settings.max_file_mb} MB")
            data = item.path.read_bytes()
        else:
            raise VraagbaakError(ErrorCode.PARSE_FAILED, "the source gave no content")
        if len(data) / 1_000_000 > self.settings.max_file_mb:
            raise VraagbaakError(ErrorCode.FILE_TOO_LARGE,
                                 f"file is {len(data) / 1_000_000:.1f} MB, over the limit of {self.settings.max_file_mb} MB")
        return data

    def _document(self, doc_id: str, version: str, item: SourceItem, parsed: ParsedDocument,
                  groups: tuple[str, ...], run: _Run) -> Document:
        lifecycle, warnings = merged_lifecycle(parsed.metadata, item.metadata)
        run.warnings.extend(f"{item.uri}: {w}" for w in warnings)
        title = str(item.metadata.get("title") or parsed.title)
        language = detect_language(" ".join(b.text for b in parsed.blocks[:40]))
        return Document(doc_id=doc_id, version=version, source_id=run.source.source_id, uri=item.uri, title=title,
                        media_type=parsed.media_type, language=language, groups=groups,
                        path=str(item.path) if item.path else None, link=item.link, lifecycle=lifecycle)

    def _fail(self, run: _Run, doc_id: str, item: SourceItem, entry: Entry | None, exc: VraagbaakError, *,
              fingerprint: str | None = None, version: str | None = None) -> None:
        """Record a document that could not be (re)indexed; what was indexed before stays searchable."""
        skipped = exc.code is ErrorCode.UNSUPPORTED_FILE
        (run.skipped if skipped else run.failed).append(FailedFile(item.uri, exc.message))
        log.warning("file skipped" if skipped else "file failed", extra=kv(uri=item.uri, reason=exc.message))
        kept = entry.version if entry and run.in_store(doc_id, entry.version) else None
        self.registry.record(
            doc_id, source_id=run.source.source_id, uri=item.uri, status="skipped" if skipped else "failed",
            reason=exc.message, content_hash=version, fingerprint=fingerprint, version=kept,
            chunk_count=entry.chunk_count if kept and entry else 0, link=item.link, modified=item.modified,
            media_type=(entry.media_type if entry else "") or item.suffix.lstrip("."),
            state=dict(item.state) if not item.error else (entry.state if entry else {}))

    def _chunks(self, document: Document, blocks: Sequence[Block]) -> list[Chunk]:
        return chunk_document(document.doc_id, document.version, document.title, blocks,
                              language=document.language, chunk_words=self.settings.chunk_words,
                              overlap_words=self.settings.chunk_overlap_words)

    def _index(self, document: Document, blocks: Sequence[Block]) -> int:
        """Chunk, embed and write one document version invisibly, then switch readers to it."""
        with self._stage("chunk"):
            chunks = self._chunks(document, blocks)
        if not chunks:
            raise VraagbaakError(ErrorCode.EMPTY_DOCUMENT, "no text found in the file")
        found = windows(chunks, document.title) if self.store.keeps_windows else []
        with self._stage("embed"):
            dense = self.embedder.embed_passages([c.embed_text for c in chunks])
            window_vectors = self._window_vectors(found, chunks, dense)
        with self._stage("sparse"):
            sparse = [self.encoder.encode_document(c.embed_text, c.language) for c in chunks]
        with self._stage("upsert"):
            self._write(document, chunks, dense, sparse, found, window_vectors)
        log.info("indexed", extra=kv(doc_id=document.doc_id, uri=document.uri, chunks=len(chunks)))
        return len(chunks)

    def _index_many(self, documents: Sequence[tuple[Document, Sequence[Block]]]) -> list[int | VraagbaakError]:
        """Like `_index` for many small documents (a package's lessons): their chunks are embedded
        in one batch, then each document is written and switched on its own. Returns per document
        its chunk count or the error that stopped it."""
        outcomes: list[int | VraagbaakError] = []
        prepared: list[tuple[Document, list[Chunk]]] = []
        with self._stage("chunk"):
            for document, blocks in documents:
                chunks = self._chunks(document, blocks)
                prepared.append((document, chunks))
        texts = [c.embed_text for _, chunks in prepared for c in chunks]
        with self._stage("embed"):
            dense = self.embedder.embed_passages(texts) if texts else None
        offset = 0
        for document, chunks in prepared:
            if not chunks:
                outcomes.append(VraagbaakError(ErrorCode.EMPTY_DOCUMENT, "no text found in the lesson"))
                continue
            assert dense is not None
            vectors = dense[offset:offset + len(chunks)]
            offset += len(chunks)
            found = windows(chunks, document.title) if self.store.keeps_windows else []
            with self._stage("embed"):
                window_vectors = self._window_vectors(found, chunks, vectors)
            with self._stage("sparse"):
                sparse = [self.encoder.encode_document(c.embed_text, c.language) for c in chunks]
            with self._stage("upsert"):
                self._write(document, chunks, vectors, sparse, found, window_vectors)
            outcomes.append(len(chunks))
        return outcomes

    def _write(self, document: Document, chunks: Sequence[Chunk], dense: np.ndarray, sparse: Sequence[SparseVector],
               found: Sequence[Window], window_vectors: np.ndarray) -> None:
        """Write a version's chunks and windows (none while windows are off) invisibly, then switch
        readers to them; the switch removes every other chunk and window of the document."""
        self.store.upsert(document, chunks, dense, sparse, active=False)
        if found:
            self.store.upsert_windows(document, found, window_vectors, active=False)
        self.store.activate(document.doc_id, document.version, [c.chunk_id for c in chunks],
                            [w.window_id for w in found])

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        """Add the time spent in the block to the run's stage `name`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self._stages[name] = self._stages.get(name, 0.0) + time.perf_counter() - started

    # -- one e-learning package -------------------------------------------------------------------

    def _package(self, item: SourceItem, run: _Run) -> None:
        """Index each lesson of a package as a document whose section path starts with the course
        and its modules. The package has its own registry row (media type `package`) that lists
        its lessons, so an unchanged package is skipped without reading it."""
        from ingest.packages import index_package

        index_package(self, item, run)


def _name_for_parser(item: SourceItem) -> Path:
    """A file name for an item that has no file (a web page): its last URL segment with the suffix
    that decides the parser."""
    name = item.uri.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "index"
    return Path(name if name.lower().endswith(item.suffix) else f"{name}{item.suffix}")


def merged_lifecycle(*layers: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Lifecycle keys from each layer (parser properties, then sidecar/sources file); later wins."""
    merged: dict[str, str] = {}
    warnings: list[str] = []
    for layer in layers:
        found = lifecycle_metadata(dict(layer))
        warnings.extend(str(w) for w in found.pop("warnings", None) or ())  # type: ignore[union-attr]
        merged.update({k: str(v) for k, v in found.items()})
    return merged, warnings


def lesson_blocks(path: tuple[str, ...], blocks: Sequence[Block]) -> list[Block]:
    """A lesson's blocks under headings for its course and modules, so every chunk's section path
    reads course → module → lesson."""
    outline = [Block(title, "heading", level) for level, title in enumerate(path[:-1], start=1)]
    depth = len(outline)
    shifted = [Block(b.text, b.kind, b.level + depth if b.kind == "heading" else b.level, b.page) for b in blocks]
    if not any(b.kind == "heading" and b.text == path[-1] for b in shifted[:1]) and path:
        outline.append(Block(path[-1], "heading", depth + 1))
    return outline + shifted

