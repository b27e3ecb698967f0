"""An ingestion run over a folder: find files, skip what is unchanged, (re)index what changed,
remove what disappeared, and report every file that failed with its reason."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
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
from ingest.parse import Block, parse_file

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""Called after each file with (relative path, files done, files in all)."""


def document_id(source_id: str, relative_path: str) -> str:
    """Stable id of a document: its source and its path in the source."""
    return hashlib.sha256(f"{source_id}\0{relative_path}".encode()).hexdigest()[:32]


def content_version(data: bytes) -> str:
    """Version of a document: the hash of its bytes."""
    return hashlib.sha256(data).hexdigest()[:32]


def list_files(root: Path) -> list[Path]:
    """Every regular file below `root`, in a stable order, leaving out hidden files and folders."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))


@dataclass
class _Tally:
    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[FailedFile] = field(default_factory=list)
    chunks: int = 0


class Ingestor:
    """Keeps a source's documents in the store in step with a folder."""

    def __init__(self, store: QdrantStore, embedder: Embedder, settings: IngestSettings) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.encoder = BM25Encoder(avg_len=settings.chunk_words * 0.6)
        store.ensure_collection(embedder.dim)

    def ingest_folder(self, root: Path, source_id: str | None = None, progress: Progress | None = None) -> IngestReport:
        """Index every supported file below `root`; remove documents of the source no longer there."""
        started = time.perf_counter()
        root = root.resolve()
        if not root.exists():
            raise VraagbaakError(ErrorCode.NOT_FOUND, f"No such file or folder: {root}")
        source = source_id or root.name
        tally = _Tally()
        files = list_files(root)
        seen: set[str] = set()
        for done, path in enumerate(files, start=1):
            relative = path.name if root.is_file() else path.relative_to(root).as_posix()
            doc_id = document_id(source, relative)
            seen.add(doc_id)
            self._ingest_file(path, relative, source, doc_id, tally)
            if progress:
                progress(relative, done, len(files))
        if root.is_dir():
            for doc_id, info in self.store.documents(source).items():
                if doc_id not in seen:
                    self.store.delete_document(doc_id)
                    tally.removed.append(str(info["uri"]))
                    log.info("removed", extra=kv(doc_id=doc_id, uri=info["uri"]))
        report = IngestReport(source_id=source, new=tuple(tally.new), updated=tuple(tally.updated),
                              unchanged=tuple(tally.unchanged), removed=tuple(tally.removed),
                              failed=tuple(tally.failed), chunks=tally.chunks,
                              seconds=round(time.perf_counter() - started, 3))
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

    def _index(self, document: Document, blocks: Sequence[Block]) -> int:
        """Chunk, embed and write one document version, then drop its other versions."""
        chunks = self._chunks(document, blocks)
        if not chunks:
            raise VraagbaakError(ErrorCode.EMPTY_DOCUMENT, "no text found in the file")
        dense = self.embedder.embed_passages([c.embed_text for c in chunks])
        sparse = [self.encoder.encode_document(c.embed_text, c.language) for c in chunks]
        self.store.upsert(document, chunks, dense, sparse)
        self.store.delete_document(document.doc_id, keep_version=document.version)
        log.info("indexed", extra=kv(doc_id=document.doc_id, uri=document.uri, chunks=len(chunks)))
        return len(chunks)
