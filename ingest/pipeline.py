"""An ingestion run over a folder: find files, skip what is unchanged, (re)index what changed,
remove what disappeared, and report every file that failed with its reason."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from core.embedding import Embedder
from core.errors import ErrorCode, VraagbaakError
from core.language import detect_language
from core.lexical import BM25Encoder
from core.logging import kv
from core.settings import IngestSettings
from core.store import QdrantStore
from core.types import EVERYONE, Chunk, Document, FailedFile, IngestReport
from ingest.chunk import chunk_document
from ingest.lms import PackageLimits, is_package, read_package
from ingest.parse import Block, parse_file

log = logging.getLogger(__name__)

PACKAGE_SUFFIXES = frozenset({".zip", ".imscc", ".mbz"})
"""Files read as e-learning packages even when broken, so a bad update reports its reason and
keeps the lessons indexed before."""

Progress = Callable[[str, int, int], None]
"""Called after each file with (relative path, files done, files in all)."""


def document_id(source_id: str, relative_path: str) -> str:
    """Stable id of a document: its source and its path in the source."""
    return hashlib.sha256(f"{source_id}\0{relative_path}".encode()).hexdigest()[:32]


def content_version(data: bytes) -> str:
    """Version of a document: the hash of its bytes."""
    return hashlib.sha256(data).hexdigest()[:32]


def list_units(root: Path) -> list[Path]:
    """What a run indexes below `root`, in a stable order: regular files, and unpacked e-learning
    packages as one unit each (not descended into); hidden files and folders are left out."""
    if root.is_file() or is_package(root):
        return [root]
    units: list[Path] = []

    def walk(folder: Path) -> None:
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or path.is_symlink():
                continue
            if path.is_dir():
                if is_package(path):
                    units.append(path)
                else:
                    walk(path)
            elif path.is_file():
                units.append(path)

    walk(root)
    return units


@dataclass
class _Tally:
    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[FailedFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    chunks: int = 0
    stages: dict[str, float] = field(default_factory=dict)


class Ingestor:
    """Keeps a source's documents in the store in step with a folder."""

    def __init__(self, store: QdrantStore, embedder: Embedder, settings: IngestSettings) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.encoder = BM25Encoder(avg_len=settings.chunk_words * 0.6)
        self._stages: dict[str, float] = {}
        store.ensure_collection(embedder.dim)

    def ingest_folder(self, root: Path, source_id: str | None = None, progress: Progress | None = None) -> IngestReport:
        """Index every supported file below `root`; remove documents of the source no longer there."""
        started = time.perf_counter()
        root = root.resolve()
        if not root.exists():
            raise VraagbaakError(ErrorCode.NOT_FOUND, f"No such file or folder: {root}")
        source = source_id or root.name
        tally = _Tally()
        self._stages = {"parse": 0.0, "chunk": 0.0, "embed": 0.0, "sparse": 0.0, "upsert": 0.0}
        units = list_units(root)
        seen: set[str] = set()
        for done, path in enumerate(units, start=1):
            relative = path.name if path == root else path.relative_to(root).as_posix()
            if is_package(path) or path.suffix.lower() in PACKAGE_SUFFIXES:
                seen |= self._ingest_package(path, relative, source, tally)
            else:
                doc_id = document_id(source, relative)
                seen.add(doc_id)
                self._ingest_file(path, relative, source, doc_id, tally)
            if progress:
                progress(relative, done, len(units))
        if root.is_dir():
            for doc_id, info in self.store.documents(source).items():
                if doc_id not in seen:
                    self.store.delete_document(doc_id)
                    tally.removed.append(str(info["uri"]))
                    log.info("removed", extra=kv(doc_id=doc_id, uri=info["uri"]))
        report = IngestReport(source_id=source, new=tuple(tally.new), updated=tuple(tally.updated),
                              unchanged=tuple(tally.unchanged), removed=tuple(tally.removed),
                              failed=tuple(tally.failed), warnings=tuple(tally.warnings), chunks=tally.chunks,
                              seconds=round(time.perf_counter() - started, 3),
                              stage_seconds={k: round(v, 3) for k, v in self._stages.items()})
        log.info("ingest finished", extra=kv(source_id=source, new=len(report.new), updated=len(report.updated),
                                             unchanged=len(report.unchanged), removed=len(report.removed),
                                             failed=len(report.failed), seconds=report.seconds))
        return report

    def ingest_texts(self, items: Iterable[tuple[str, str, str]], source_id: str) -> int:
        """Index plain texts given as (id, title, text) into a fresh collection, e.g. a BEIR corpus;
        embeds the whole batch at once. Returns the chunk count."""
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
        return len(all_chunks)

    # -- one file ---------------------------------------------------------------------------------

    def _ingest_file(self, path: Path, relative: str, source: str, doc_id: str, tally: _Tally) -> None:
        try:
            size_mb = path.stat().st_size / 1_000_000
            if size_mb > self.settings.max_file_mb:
                raise VraagbaakError(ErrorCode.FILE_TOO_LARGE,
                                     f"file is {size_mb:.1f} MB, over the limit of {self.settings.max_file_mb} MB")
            data = path.read_bytes()
            version = content_version(data)
            existing = self.store.versions(doc_id)
            state = existing.get(version)
            if state and state.complete and len(existing) == 1:
                tally.unchanged.append(relative)
                return
            with self._stage("parse"):
                parsed = parse_file(path, data)
            language = detect_language(" ".join(b.text for b in parsed.blocks[:40]))
            groups = tuple(self.settings.default_groups) or (EVERYONE,)
            document = Document(doc_id=doc_id, version=version, source_id=source, uri=relative,
                                title=parsed.title, media_type=parsed.media_type, language=language,
                                groups=groups, path=str(path))
            tally.chunks += self._index(document, parsed.blocks)
            (tally.updated if existing else tally.new).append(relative)
        except VraagbaakError as exc:
            if exc.code is ErrorCode.STORE_UNAVAILABLE:
                raise
            tally.failed.append(FailedFile(relative, exc.message))
            log.warning("file failed", extra=kv(uri=relative, reason=exc.message))
        except OSError as exc:
            tally.failed.append(FailedFile(relative, f"cannot read the file: {exc.strerror or exc}"))
            log.warning("file failed", extra=kv(uri=relative, reason=str(exc)))

    def _chunks(self, document: Document, blocks: Sequence[Block]) -> list[Chunk]:
        return chunk_document(document.doc_id, document.version, document.title, blocks,
                              language=document.language, chunk_words=self.settings.chunk_words,
                              overlap_words=self.settings.chunk_overlap_words)

    # -- one e-learning package -------------------------------------------------------------------

    def _ingest_package(self, path: Path, relative: str, source: str, tally: _Tally) -> set[str]:
        """Index each lesson of a package as a document whose section path starts with the course
        and its modules; returns the ids of the package's documents."""
        try:
            with self._stage("parse"):
                course = read_package(path, PackageLimits(max_total_bytes=int(self.settings.max_file_mb * 5_000_000)))
        except VraagbaakError as exc:
            tally.failed.append(FailedFile(relative, exc.message))
            log.warning("package failed", extra=kv(uri=relative, reason=exc.message))
            # keep what an earlier run indexed from this package: nothing is lost on a bad update
            return {doc_id for doc_id, info in self.store.documents(source).items()
                    if str(info["uri"]).startswith(f"{relative}!")}
        tally.warnings.extend(f"{relative}: {warning}" for warning in course.warnings)
        groups = tuple(self.settings.default_groups) or (EVERYONE,)
        seen: set[str] = set()
        keys: dict[str, int] = {}
        for lesson in course.lessons:
            if not lesson.has_text:
                continue
            key = f"{relative}#{lesson.entry}#{lesson.title}"
            keys[key] = keys.get(key, 0) + 1
            doc_id = document_id(source, f"{key}#{keys[key]}")
            seen.add(doc_id)
            uri = f"{relative}!/{lesson.launch or lesson.entry}"
            blocks = lesson_blocks(lesson.path, lesson.blocks)
            version = content_version("\n".join([*lesson.path, *(b.text for b in blocks)]).encode())
            try:
                existing = self.store.versions(doc_id)
                state = existing.get(version)
                if state and state.complete and len(existing) == 1:
                    tally.unchanged.append(uri)
                    continue
                language = detect_language(" ".join(b.text for b in blocks[:40]))
                document = Document(doc_id=doc_id, version=version, source_id=source, uri=uri, title=lesson.title,
                                    media_type=course.format, language=language, groups=groups, path=str(path))
                tally.chunks += self._index(document, blocks)
                (tally.updated if existing else tally.new).append(uri)
            except VraagbaakError as exc:
                if exc.code is ErrorCode.STORE_UNAVAILABLE:
                    raise
                tally.failed.append(FailedFile(uri, exc.message))
        return seen

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        """Add the time spent in the block to the run's stage `name`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self._stages[name] = self._stages.get(name, 0.0) + time.perf_counter() - started

    def _index(self, document: Document, blocks: Sequence[Block]) -> int:
        """Chunk, embed and write one document version, then drop its other versions."""
        with self._stage("chunk"):
            chunks = self._chunks(document, blocks)
        if not chunks:
            raise VraagbaakError(ErrorCode.EMPTY_DOCUMENT, "no text found in the file")
        with self._stage("embed"):
            dense = self.embedder.embed_passages([c.embed_text for c in chunks])
        with self._stage("sparse"):
            sparse = [self.encoder.encode_document(c.embed_text, c.language) for c in chunks]
        with self._stage("upsert"):
            self.store.upsert(document, chunks, dense, sparse)
            self.store.delete_document(document.doc_id, keep_version=document.version)
        log.info("indexed", extra=kv(doc_id=document.doc_id, uri=document.uri, chunks=len(chunks)))
        return len(chunks)


def lesson_blocks(path: tuple[str, ...], blocks: Sequence[Block]) -> list[Block]:
    """A lesson's blocks under headings for its course and modules, so every chunk's section path
    reads course → module → lesson."""
    outline = [Block(title, "heading", level) for level, title in enumerate(path[:-1], start=1)]
    depth = len(outline)
    shifted = [Block(b.text, b.kind, b.level + depth if b.kind == "heading" else b.level, b.page) for b in blocks]
    if not any(b.kind == "heading" and b.text == path[-1] for b in shifted[:1]) and path:
        outline.append(Block(path[-1], "heading", depth + 1))
    return outline + shifted
