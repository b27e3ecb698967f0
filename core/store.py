"""The chunk store: Qdrant through qdrant-client, embedded (local mode) or a server by URL.

This is the one place that knows Qdrant's types; the rest of Vraagbaak sees `Chunk`, `Passage`
and `Hit`. Access-group filters are part of every query, so a passage a user may not read never
leaves the store for them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

import numpy as np
from qdrant_client import QdrantClient, models

from core import schema
from core.errors import ErrorCode, VraagbaakError
from core.lexical import SparseVector
from core.settings import Settings, StoreSettings
from core.types import EVERYONE, Chunk, Document, Hit, Passage, Window

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "bm25"]
_NAMESPACE = uuid.UUID("6f1c3b52-5d0e-4a8e-9c55-2f7f3f2b9a11")


def point_id(chunk_id: str) -> str:
    """Qdrant wants UUIDs or integers; chunk ids are hashes, mapped to a UUID deterministically."""
    return str(uuid.uuid5(_NAMESPACE, chunk_id))


@dataclass(frozen=True)
class Ranking:
    """One search's result. `passages`: the fused chunk lists in their own order (what answers are
    made from); `documents`: the same candidates re-ranked with the windows' document-level vote
    (what says which documents are relevant), None when no windows voted (then `passages` serves
    for both)."""

    passages: list[Hit]
    documents: list[Hit] | None


@dataclass(frozen=True)
class VersionState:
    """What the store holds of one document version: points present and points expected."""

    points: int
    expected: int
    active: bool = True

    @property
    def complete(self) -> bool:
        return self.points == self.expected


class QdrantStore:
    """Chunks with dense and sparse vectors in one collection; with `windows`, also the windows of
    consecutive chunks in a second one (`<collection>-windows`, schema.WINDOWS_SUFFIX)."""

    def __init__(self, client: QdrantClient, collection: str, *, local: bool,
                 config: StoreSettings | None = None, windows: bool = False) -> None:
        self._switch = threading.RLock()
        """Local mode: one call at a time (the embedded engine is not thread-safe: an ingestion job
        writing while the web app reads would break it), and the switch between document versions
        is one step for readers, who see the old version or the new one, never both or neither."""
        self.client = _Serialized(client, self._switch) if local else client
        self.collection = collection
        self.windows = f"{collection}{schema.WINDOWS_SUFFIX}"
        self.keeps_windows = windows
        """Whether ingestion writes windows (`retrieval.window_weight` > 0): only then is the windows
        collection made and filled. Without, windows left from a time they were on are still
        switched, relabelled and deleted with their documents, never written or searched."""
        self._has_windows = False
        self.local = local
        self.config = config or StoreSettings()
        """Cluster settings (shards, replicas, on-disk, quantization), applied when a server collection is made."""

    @classmethod
    def open(cls, settings: Settings) -> QdrantStore:
        """Connect to the configured server, or open the embedded store in the data folder. It keeps
        windows when retrieval gives them a weight."""
        windows = settings.retrieval.window_weight > 0
        try:
            if settings.store.url:
                key = settings.store.api_key.get_secret_value() if settings.store.api_key else None
                client = QdrantClient(url=settings.store.url, api_key=key, timeout=int(settings.store.timeout_s))
                return cls(client, settings.store.collection, local=False, config=settings.store, windows=windows)
            path = settings.store_path
            path.mkdir(parents=True, exist_ok=True)
            return cls(QdrantClient(path=str(path)), settings.store.collection, local=True, windows=windows)
        except RuntimeError as exc:  # local mode: the folder is locked by another process
            raise VraagbaakError(
                ErrorCode.STORE_UNAVAILABLE,
                f"The embedded store at {settings.store_path} is in use by another process "
                "(embedded mode allows one process per folder; stop the other one or use a Qdrant server).",
            ) from exc

    @classmethod
    def in_memory(cls, collection: str = "vraagbaak", *, windows: bool = False) -> QdrantStore:
        """A throwaway embedded store (tests, evaluation runs)."""
        return cls(QdrantClient(location=":memory:"), collection, local=True, windows=windows)

    def close(self) -> None:
        self.client.close()

    # -- schema ---------------------------------------------------------------------------------

    def ensure_collection(self, dim: int) -> None:
        """Create the collection (and, when the store keeps windows, the windows collection) if it is
        missing; refuse a collection made for another dimension."""
        try:
            if self.client.collection_exists(self.collection):
                info = self.client.get_collection(self.collection)
                vectors = info.config.params.vectors
                existing = vectors[schema.DENSE].size if isinstance(vectors, dict) else None
                if existing != dim:
                    raise VraagbaakError(
                        ErrorCode.CONFIG_INVALID,
                        f"Collection '{self.collection}' holds {existing}-dimensional vectors but the embedding "
                        f"model makes {dim}; re-ingest into a new collection after changing the model.",
                    )
            else:
                self.client.create_collection(self.collection,
                                              **collection_params(dim, None if self.local else self.config))
                self._index_payload(self.collection)
                log.info("created collection", extra={"ctx": {"collection": self.collection, "dim": dim}})
            if self.keeps_windows and not self.client.collection_exists(self.windows):  # windows just switched on
                params = collection_params(dim, None if self.local else self.config)
                params.pop("sparse_vectors_config")
                self.client.create_collection(self.windows, **params)
                self._index_payload(self.windows)
                log.info("created collection", extra={"ctx": {"collection": self.windows, "dim": dim}})
            self._has_windows = self.keeps_windows
        except VraagbaakError:
            raise
        except Exception as exc:
            raise _unavailable(exc) from exc

    def _index_payload(self, collection: str) -> None:
        if self.local:
            return
        for key in schema.KEYWORD_INDEXES:
            self.client.create_payload_index(collection, key, models.PayloadSchemaType.KEYWORD)
        for key in schema.BOOL_INDEXES:
            self.client.create_payload_index(collection, key, models.PayloadSchemaType.BOOL)
        for key in schema.FLOAT_INDEXES:
            self.client.create_payload_index(collection, key, models.PayloadSchemaType.FLOAT)

    def windows_exist(self) -> bool:
        """Whether the store has the windows collection. Once seen it stays; until then each call
        asks Qdrant (one cheap call), so a collection another process made (an ingest with windows
        on) is found, and its windows are deleted with their documents (erasure) even by a process
        that has windows off."""
        if not self._has_windows:
            try:
                self._has_windows = bool(self.client.collection_exists(self.windows))
            except Exception as exc:
                raise _unavailable(exc) from exc
        return self._has_windows

    # -- writing --------------------------------------------------------------------------------

    def upsert(self, document: Document, chunks: Sequence[Chunk], dense: np.ndarray,
               sparse: Sequence[SparseVector], batch_size: int = 256, *, active: bool = True) -> None:
        """Write a document version's chunks (idempotent: ids derive from the content). With
        `active=False` they stay invisible to readers until `activate` switches to them."""
        points = []
        indexed_at = time.time()
        for chunk, vector, sparse_vector in zip(chunks, dense, sparse, strict=True):
            vectors: dict[str, object] = {schema.DENSE: vector.tolist()}
            if sparse_vector:
                vectors[schema.SPARSE] = models.SparseVector(
                    indices=list(sparse_vector.indices), values=list(sparse_vector.values)
                )
            payload = _payload(document, chunk, len(chunks))
            payload[schema.ACTIVE] = active
            payload[schema.INDEXED_AT] = indexed_at
            points.append(models.PointStruct(id=point_id(chunk.chunk_id), vector=vectors, payload=payload))
        try:
            for i in range(0, len(points), batch_size):
                self.client.upsert(self.collection, points[i:i + batch_size], wait=True)
        except Exception as exc:
            raise _unavailable(exc) from exc

    def upsert_windows(self, document: Document, windows: Sequence[Window], dense: np.ndarray, *,
                       active: bool = True) -> None:
        """Write a document version's windows (ingest.chunk.windows) with the document's access
        groups and lifecycle, invisible until `activate` when `active=False`."""
        indexed_at = time.time()
        points = [models.PointStruct(id=point_id(w.window_id), vector={schema.DENSE: vector.tolist()}, payload={
            schema.DOC_ID: document.doc_id, schema.VERSION: document.version, schema.SOURCE_ID: document.source_id,
            schema.URI: document.uri, schema.GROUPS: list(document.groups), schema.FIRST: w.first,
            schema.LAST: w.last, schema.WHOLE: w.whole, schema.ACTIVE: active, schema.INDEXED_AT: indexed_at,
            **_lifecycle_payload(document.lifecycle)}) for w, vector in zip(windows, dense, strict=True)]
        try:
            for i in range(0, len(points), 256):
                self.client.upsert(self.windows, points[i:i + 256], wait=True)
        except Exception as exc:
            raise _unavailable(exc) from exc

    def activate(self, doc_id: str, version: str, chunk_ids: Sequence[str] | None = None,
                 window_ids: Sequence[str] | None = None) -> None:
        """Make `version` the document's searchable version and remove every other version, as one
        step for readers: in local mode under the lock searches take; on a server the two writes
        follow each other and `search` keeps only the newest version of a document meanwhile.
        With `chunk_ids` (the chunks just written) only those stay: the same version cut anew
        (`--force` after a change of the chunk size) leaves none of its old chunks behind;
        `window_ids` likewise for its windows (empty: the document keeps none)."""
        doc = _match(schema.DOC_ID, doc_id)
        this = _match(schema.VERSION, version)
        if chunk_ids is None:
            keep, drop = models.Filter(must=[doc, this]), models.Filter(must=[doc], must_not=[this])
        else:
            ids = models.HasIdCondition(has_id=[point_id(c) for c in chunk_ids])
            keep, drop = models.Filter(must=[doc, this, ids]), models.Filter(must=[doc], must_not=[ids])
        switches = [(self.collection, keep, drop)]
        if window_ids is not None and self.windows_exist():
            if window_ids:
                ids = models.HasIdCondition(has_id=[point_id(w) for w in window_ids])
                switches.append((self.windows, models.Filter(must=[doc, this, ids]),
                                 models.Filter(must=[doc], must_not=[ids])))
            else:  # windows off: none written, and those of earlier versions go
                switches.append((self.windows, None, models.Filter(must=[doc])))
        try:
            with self._switch:
                for collection, kept, dropped in switches:
                    if kept is not None:
                        self.client.set_payload(collection, payload={schema.ACTIVE: True},
                                                points=models.FilterSelector(filter=kept), wait=True)
                    self.client.delete(collection, points_selector=models.FilterSelector(filter=dropped), wait=True)
        except Exception as exc:
            raise _unavailable(exc) from exc

    def relabel(self, document: Document) -> None:
        """Change a document's access groups and lifecycle on its chunks without re-embedding."""
        payload = {schema.GROUPS: list(document.groups), schema.TITLE: document.title,
                   schema.LINK: document.link, **_lifecycle_payload(document.lifecycle)}
        selector = models.FilterSelector(filter=models.Filter(must=[_match(schema.DOC_ID, document.doc_id)]))
        try:
            self.client.set_payload(self.collection, payload=payload, points=selector, wait=True)
            if self.windows_exist():
                self.client.set_payload(self.windows, payload={k: v for k, v in payload.items()
                                                               if k not in (schema.TITLE, schema.LINK)},
                                        points=selector, wait=True)
        except Exception as exc:
            raise _unavailable(exc) from exc

    def delete_source(self, source_id: str) -> None:
        """Remove every chunk and window of a source."""
        selector = models.FilterSelector(filter=models.Filter(must=[_match(schema.SOURCE_ID, source_id)]))
        self._delete(selector)

    def _delete(self, selector: models.FilterSelector) -> None:
        """Delete the selected points of both collections."""
        try:
            self.client.delete(self.collection, points_selector=selector, wait=True)
            if self.windows_exist():
                self.client.delete(self.windows, points_selector=selector, wait=True)
        except Exception as exc:
            raise _unavailable(exc) from exc

    def delete_document(self, doc_id: str, keep_version: str | None = None) -> None:
        """Remove a document's chunks and windows, or all but those of `keep_version`."""
        must = [_match(schema.DOC_ID, doc_id)]
        must_not = [_match(schema.VERSION, keep_version)] if keep_version else []
        self._delete(models.FilterSelector(filter=models.Filter(must=must, must_not=must_not)))

    # -- reading --------------------------------------------------------------------------------

    def versions(self, doc_id: str) -> dict[str, VersionState]:
        """The versions of a document in the store, each with its point count and expected count."""
        return self.source_state(doc_id=doc_id).get(doc_id, {})

    def source_state(self, source_id: str | None = None, *, doc_id: str | None = None
                     ) -> dict[str, dict[str, VersionState]]:
        """doc_id → version → what the store holds of it, for a source (one scroll, not one per file)."""
        must = [_match(schema.SOURCE_ID, source_id)] if source_id else []
        if doc_id:
            must.append(_match(schema.DOC_ID, doc_id))
        counts: dict[tuple[str, str], int] = defaultdict(int)
        expected: dict[tuple[str, str], int] = {}
        active: dict[tuple[str, str], bool] = {}
        for payload in self._scroll(models.Filter(must=must) if must else None,
                                    [schema.DOC_ID, schema.VERSION, schema.CHUNK_COUNT, schema.ACTIVE]):
            key = (payload[schema.DOC_ID], payload[schema.VERSION])
            counts[key] += 1
            expected[key] = payload[schema.CHUNK_COUNT]
            active[key] = active.get(key, True) and payload.get(schema.ACTIVE, True) is not False
        state: dict[str, dict[str, VersionState]] = defaultdict(dict)
        for (doc, version), points in counts.items():
            state[doc][version] = VersionState(points, expected[(doc, version)], active[(doc, version)])
        return dict(state)

    def documents(self, source_id: str | None = None) -> dict[str, dict[str, object]]:
        """doc_id → {title, uri, version(s), chunks} for every document (of one source)."""
        flt = models.Filter(must=[_match(schema.SOURCE_ID, source_id)]) if source_id else None
        docs: dict[str, dict[str, object]] = {}
        for payload in self._scroll(flt, [schema.DOC_ID, schema.VERSION, schema.TITLE, schema.URI,
                                          schema.SOURCE_ID, schema.MEDIA_TYPE]):
            entry = docs.setdefault(payload[schema.DOC_ID], {
                "title": payload[schema.TITLE], "uri": payload[schema.URI], "versions": set(),
                "source_id": payload[schema.SOURCE_ID], "media_type": payload[schema.MEDIA_TYPE], "chunks": 0})
            entry["versions"].add(payload[schema.VERSION])  # type: ignore[union-attr]
            entry["chunks"] += 1  # type: ignore[operator]
        return docs

    def passages(self, doc_id: str, groups: Sequence[str] | None) -> list[Passage]:
        """A document's passages in reading order, if the groups may read it."""
        flt = models.Filter(must=[_match(schema.DOC_ID, doc_id), *_group_conditions(groups)], must_not=[_inactive()])
        with self._switch if self.local else _NO_LOCK:
            found = [_passage(p) for p in self._scroll(flt, None)]
        return sorted(found, key=lambda p: (p.version, p.ordinal))

    def original_path(self, doc_id: str, groups: Sequence[str] | None) -> tuple[str, str] | None:
        """(file path, media type) of a document's original, if the groups may read it."""
        flt = models.Filter(must=[_match(schema.DOC_ID, doc_id), *_group_conditions(groups)], must_not=[_inactive()])
        for payload in self._scroll(flt, [schema.PATH, schema.MEDIA_TYPE]):
            return (payload.get(schema.PATH) or "", payload.get(schema.MEDIA_TYPE) or "")
        return None

    def without_windows(self, source_id: str | None = None) -> list[tuple[str, str]]:
        """(doc_id, version) of the complete, searchable document versions (of a source) that have
        no windows: indexed while windows were off (or before they existed)."""
        if not self.windows_exist():
            return []
        flt = models.Filter(must=[_match(schema.SOURCE_ID, source_id)]) if source_id else None
        windowed = {(p[schema.DOC_ID], p[schema.VERSION])
                    for p in self._scroll(flt, [schema.DOC_ID, schema.VERSION], collection=self.windows)}
        return sorted((doc, version) for doc, versions in self.source_state(source_id).items()
                      for version, state in versions.items()
                      if state.complete and state.active and (doc, version) not in windowed)

    def stored_chunks(self, versions: Sequence[tuple[str, str]], batch: int = 256
                      ) -> Iterator[tuple[Document, list[Chunk], np.ndarray]]:
        """Stored document versions `(doc_id, version)` as written: per version its document fields,
        chunks (`embed_text` left empty) and dense vectors in reading order — to add what a newer
        index layout needs without parsing and embedding the documents again. One scroll per
        `batch` documents."""
        wanted = set(versions)
        doc_ids = sorted({doc for doc, _ in versions})
        for start in range(0, len(doc_ids), batch):
            flt = models.Filter(must=[models.FieldCondition(key=schema.DOC_ID, match=models.MatchAny(
                any=doc_ids[start:start + batch]))])
            found: dict[tuple[str, str], list] = defaultdict(list)
            offset = None
            try:
                while True:
                    points, offset = self.client.scroll(self.collection, scroll_filter=flt, limit=512, offset=offset,
                                                        with_payload=True, with_vectors=[schema.DENSE])
                    for point in points:
                        payload = point.payload or {}
                        key = (payload[schema.DOC_ID], payload[schema.VERSION])
                        if key in wanted:
                            found[key].append(point)
                    if offset is None:
                        break
            except Exception as exc:
                raise _unavailable(exc) from exc
            for (doc_id, version), points in sorted(found.items()):
                points.sort(key=lambda p: (p.payload or {}).get(schema.ORDINAL, 0))
                first = points[0].payload or {}
                document = Document(
                    doc_id=doc_id, version=version, source_id=first.get(schema.SOURCE_ID, ""),
                    uri=first.get(schema.URI, ""), title=first.get(schema.TITLE, ""),
                    media_type=first.get(schema.MEDIA_TYPE, ""), language=first.get(schema.DOC_LANGUAGE, ""),
                    groups=tuple(first.get(schema.GROUPS) or ()), path=first.get(schema.PATH),
                    link=first.get(schema.LINK), lifecycle=dict(first.get(schema.LIFECYCLE) or {}))
                chunks = [Chunk(chunk_id=passage.chunk_id, doc_id=doc_id, version=version, ordinal=passage.ordinal,
                                text=passage.text, embed_text="", section_path=passage.section_path,
                                page=passage.page, start=passage.start, end=passage.end, language=passage.language)
                          for passage in (_passage(p.payload or {}) for p in points)]
                vectors = np.asarray([p.vector[schema.DENSE] for p in points], dtype=np.float32)  # type: ignore[index]
                yield document, chunks, vectors

    def count(self) -> int:
        try:
            return self.client.count(self.collection, exact=True).count
        except Exception as exc:
            raise _unavailable(exc) from exc

    def search(self, *, dense: Sequence[float], sparse: SparseVector | None, mode: Mode = "hybrid",
               limit: int = 6, candidates: int = 40, groups: Sequence[str] | None = None,
               language: str | None = None, cross_lingual_weight: float = 0.0, rrf_k: int = 2,
               include_stale: bool = False, window_weight: float = 0.0) -> list[Hit]:
        """The passages of `rank` in document order: with the windows' vote when they vote."""
        ranking = self.rank(dense=dense, sparse=sparse, mode=mode, limit=limit, candidates=candidates,
                            groups=groups, language=language, cross_lingual_weight=cross_lingual_weight,
                            rrf_k=rrf_k, include_stale=include_stale, window_weight=window_weight)
        return ranking.documents if ranking.documents is not None else ranking.passages

    def rank(self, *, dense: Sequence[float], sparse: SparseVector | None, mode: Mode = "hybrid",
             limit: int = 6, candidates: int = 40, groups: Sequence[str] | None = None,
             language: str | None = None, cross_lingual_weight: float = 0.0, rrf_k: int = 2,
             include_stale: bool = False, window_weight: float = 0.0) -> Ranking:
        """Top passages for a question, filtered by access group inside the query.

        `hybrid` fuses candidate lists with reciprocal rank fusion in one Qdrant query (prefetch +
        RRF): dense over all passages, BM25, and — when `language` and `cross_lingual_weight` are
        given — dense over the passages in other languages than the question's. BM25 only matches
        passages in the question's language, so without that third list a cross-lingual answer gets
        half the votes of a same-language one. `dense` and `bm25` use one list.
        `groups=None` means no restriction (operators' tools and evaluation only). Documents not in
        force (superseded, expired, not yet effective) are left out unless `include_stale`.

        With `window_weight` (hybrid only), the document-level list votes too: the windows of
        consecutive chunks (schema.WINDOWS_SUFFIX) of documents longer than one window nearest to
        the question, found by a second query under the same filters, and each of the `candidates`
        fused chunks gains its window's reciprocal-rank vote (Qdrant's RRF formula, this weight,
        `rrf_k`): that re-sorted list, cut to `limit`, is `Ranking.documents`; `Ranking.passages`
        stays in the chunk lists' own order (docs/assistant.md, "Windows").
        """
        conditions = _group_conditions(groups)
        # to the minute: the filter (and, in local mode, its cached mask) stays the same for a minute
        hidden = [_inactive(), *([] if include_stale else _stale_conditions(_minute(time.time())))]
        flt = models.Filter(must=conditions, must_not=hidden)
        sparse_query = (models.SparseVector(indices=list(sparse.indices), values=list(sparse.values))
                        if sparse else None)
        vote = mode == "hybrid" and window_weight > 0 and self.windows_exist()
        common = {"query_filter": flt, "limit": max(limit, candidates) if vote else limit, "with_payload": True,
                  "with_vectors": [schema.DENSE]}
        windows = None
        try:
            with self._switch if self.local else _NO_LOCK:
                response = self._query(mode, dense, sparse_query, common, candidates, language,
                                       cross_lingual_weight, rrf_k)
                if vote and response is not None:
                    parts = models.Filter(must=conditions, must_not=[*hidden, _match(schema.WHOLE, True)])
                    windows = self.client.query_points(self.windows, query=list(dense), using=schema.DENSE,
                                                       query_filter=parts, limit=candidates,
                                                       with_payload=[schema.DOC_ID, schema.VERSION, schema.FIRST,
                                                                     schema.LAST])
        except Exception as exc:
            raise _unavailable(exc) from exc
        if response is None:
            return Ranking([], None)
        query_vector = np.asarray(dense, dtype=np.float32)
        newest: dict[str, tuple[float, str]] = {}
        for point in response.points:
            payload = point.payload or {}
            seen = newest.get(payload[schema.DOC_ID])
            stamp = (payload.get(schema.INDEXED_AT) or 0.0, payload[schema.VERSION])
            if seen is None or stamp > seen:
                newest[payload[schema.DOC_ID]] = stamp
        hits = []
        for point in response.points:
            payload = point.payload or {}
            if newest[payload[schema.DOC_ID]][1] != payload[schema.VERSION]:
                continue  # a server mid-switch between two versions of this document: keep the newer
            vector = point.vector.get(schema.DENSE) if isinstance(point.vector, dict) else None
            cosine = float(np.dot(query_vector, np.asarray(vector, dtype=np.float32))) if vector is not None else 0.0
            hits.append(Hit(passage=_passage(payload), score=float(point.score), dense_score=cosine,
                            rank=len(hits) + 1))
        voted = window_votes(hits, windows.points, window_weight, rrf_k)[:limit] if windows is not None else None
        return Ranking(hits[:limit], voted)

    def _query(self, mode: Mode, dense: Sequence[float], sparse_query: models.SparseVector | None,
               common: dict, candidates: int, language: str | None, cross_lingual_weight: float,
               rrf_k: int) -> models.QueryResponse | None:
        """One Qdrant query for `search`: a single list, or the fused hybrid lists."""
        if mode == "dense" or (mode == "hybrid" and sparse_query is None):
            return self.client.query_points(self.collection, query=list(dense), using=schema.DENSE, **common)
        if mode == "bm25":
            if sparse_query is None:
                return None
            return self.client.query_points(self.collection, query=sparse_query, using=schema.SPARSE, **common)
        # The query's filter (`common["query_filter"]`: groups and lifecycle) is propagated by Qdrant into
        # every prefetch, server and local mode alike; repeating it on a prefetch makes it checked twice
        # per point (local mode checks payload filters point by point, in Python).
        prefetch = [
            models.Prefetch(query=list(dense), using=schema.DENSE, limit=candidates),
            models.Prefetch(query=sparse_query, using=schema.SPARSE, limit=candidates),
        ]
        weights = [1.0, 1.0]
        if language and cross_lingual_weight > 0:
            other = models.Filter(must_not=[_match(schema.LANGUAGE, language)])
            prefetch.append(models.Prefetch(query=list(dense), using=schema.DENSE, filter=other, limit=candidates))
            weights.append(cross_lingual_weight)
        fusion = models.RrfQuery(rrf=models.Rrf(k=rrf_k, weights=weights))
        return self.client.query_points(self.collection, prefetch=prefetch, query=fusion, **common)

    def _scroll(self, flt: models.Filter | None, fields: list[str] | None, *,
                collection: str | None = None) -> Iterator[dict]:
        offset = None
        try:
            while True:
                points, offset = self.client.scroll(collection or self.collection, scroll_filter=flt, limit=512,
                                                    offset=offset,
                                                    with_payload=fields if fields else True, with_vectors=False)
                for point in points:
                    yield point.payload or {}
                if offset is None:
                    return
        except Exception as exc:
            raise _unavailable(exc) from exc


def window_votes(hits: Sequence[Hit], windows: Sequence[models.ScoredPoint], weight: float, rrf_k: int) -> list[Hit]:
    """Each hit's fused score plus the reciprocal-rank vote of the window holding its chunk (same
    document version, ordinal within the window's span; none when the window is not among
    `windows`), re-sorted (stable) and re-ranked."""
    spans: dict[tuple[str, str], list[tuple[int, int, int]]] = defaultdict(list)
    for position, point in enumerate(windows):
        payload = point.payload or {}
        spans[(payload[schema.DOC_ID], payload[schema.VERSION])].append(
            (int(payload[schema.FIRST]), int(payload[schema.LAST]), position))
    voted = []
    for hit in hits:
        position = next((p for first, last, p in spans.get((hit.passage.doc_id, hit.passage.version), ())
                         if first <= hit.passage.ordinal <= last), None)
        vote = 0.0 if position is None else 1 / ((position + 1.0) / weight + rrf_k - 1.0)
        voted.append(replace(hit, score=hit.score + vote))
    voted.sort(key=lambda h: -h.score)
    return [replace(h, rank=i + 1) for i, h in enumerate(voted)]


_NO_LOCK = contextlib.nullcontext()


# client calls that never change points or payloads; any other call clears the cached filter masks
_READS = frozenset({"query_points", "query_batch_points", "search", "search_batch", "scroll", "count",
                    "retrieve", "facet", "get_collection", "get_collections", "collection_exists"})
_MASKS_PER_COLLECTION = 64


class _Serialized:
    """A client whose every call holds a lock (embedded mode), and which caches filter masks.

    Local mode checks a query's payload filter against every point in Python, for each list of a
    hybrid query — most of the time of a search (docs/performance.md). The same access groups and
    lifecycle filter come back with every question, and points change only through this client: the
    mask of each filter is kept per collection and dropped by any call that is not a read. The result
    is the same as without the cache; the filter is still Qdrant's, applied inside the query."""

    def __init__(self, client: QdrantClient, lock: threading.RLock) -> None:
        self._client = client
        self._lock = lock
        self.mask_hits = 0  # for tests and benchmarks

    def __getattr__(self, name: str) -> object:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: object, **kwargs: object) -> object:
            with self._lock:
                if name in _READS:
                    self._cache_masks()
                    return attribute(*args, **kwargs)
                try:
                    return attribute(*args, **kwargs)
                finally:
                    self._drop_masks()

        return call

    def _collections(self) -> list[object]:
        local = getattr(self._client, "_client", None)
        return list(getattr(local, "collections", {}).values())

    def _cache_masks(self) -> None:
        for collection in self._collections():
            if "_vraagbaak_masks" in vars(collection) or not hasattr(collection, "_payload_and_non_deleted_mask"):
                continue
            compute = collection._payload_and_non_deleted_mask
            masks: dict[tuple[str | None, str | None], np.ndarray] = {}

            def cached(payload_filter: models.Filter | None, vector_name: str | None = None, *,
                       compute=compute, masks=masks) -> np.ndarray:  # noqa: ANN001 - bound per collection
                key = (payload_filter.model_dump_json() if payload_filter is not None else None, vector_name)
                mask = masks.get(key)
                if mask is None:
                    mask = masks[key] = compute(payload_filter, vector_name=vector_name)
                    while len(masks) > _MASKS_PER_COLLECTION:
                        masks.pop(next(iter(masks)))
                else:
                    self.mask_hits += 1
                return mask.copy()

            collection._vraagbaak_masks = masks
            collection._payload_and_non_deleted_mask = cached

    def _drop_masks(self) -> None:
        for collection in self._collections():
            masks = vars(collection).get("_vraagbaak_masks")
            if masks is not None:
                masks.clear()


def collection_params(dim: int, cluster: StoreSettings | None) -> dict[str, object]:
    """Arguments of `create_collection`: the dense (cosine) and sparse (BM25, IDF) vectors, and on a
    server the cluster settings — shards, replicas, on-disk vectors and payload, int8 quantization."""
    dense = models.VectorParams(size=dim, distance=models.Distance.COSINE,
                                on_disk=cluster.on_disk if cluster and cluster.on_disk else None)
    params: dict[str, object] = {
        "vectors_config": {schema.DENSE: dense},
        "sparse_vectors_config": {schema.SPARSE: models.SparseVectorParams(
            modifier=models.Modifier.IDF,
            index=models.SparseIndexParams(on_disk=True) if cluster and cluster.on_disk else None)},
    }
    if cluster is None:
        return params
    if cluster.shard_number:
        params["shard_number"] = cluster.shard_number
    if cluster.replication_factor:
        params["replication_factor"] = cluster.replication_factor
    if cluster.on_disk_payload:
        params["on_disk_payload"] = True
    if cluster.quantization == "int8":
        params["quantization_config"] = models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
            type=models.ScalarType.INT8, quantile=0.99, always_ram=True))
    return params


def _inactive() -> models.FieldCondition:
    """Points of a version still being written (payload `active` false); points without the key
    (written before it existed) count as active."""
    return models.FieldCondition(key=schema.ACTIVE, match=models.MatchValue(value=False))


def _minute(now: float) -> float:
    return float(int(now // 60) * 60)


def _stale_conditions(now: float) -> list[models.FieldCondition]:
    """What makes a document not in force: superseded, expired, or effective only later."""
    return [models.FieldCondition(key=schema.SUPERSEDED, match=models.MatchValue(value=True)),
            models.FieldCondition(key=schema.EXPIRES_TS, range=models.Range(lt=now)),
            models.FieldCondition(key=schema.EFFECTIVE_TS, range=models.Range(gt=now))]


def _lifecycle_payload(lifecycle: dict[str, str]) -> dict[str, object]:
    return {schema.LIFECYCLE: dict(lifecycle), schema.SUPERSEDED: bool(lifecycle.get("superseded_by")),
            schema.EFFECTIVE_TS: _timestamp(lifecycle.get("effective")),
            schema.EXPIRES_TS: _timestamp(lifecycle.get("expires"), end_of_day=True)}


def _timestamp(iso_date: str | None, *, end_of_day: bool = False) -> float | None:
    if not iso_date:
        return None
    try:
        day = datetime.fromisoformat(str(iso_date))
    except ValueError:
        return None
    if day.tzinfo is None:
        day = day.replace(tzinfo=UTC)
    return day.timestamp() + (86_399 if end_of_day and len(str(iso_date)) <= 10 else 0)


def _match(key: str, value: str | bool) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _group_conditions(groups: Sequence[str] | None) -> list[models.FieldCondition]:
    if groups is None:
        return []
    allowed = sorted({EVERYONE, *groups})
    return [models.FieldCondition(key=schema.GROUPS, match=models.MatchAny(any=allowed))]


def _payload(document: Document, chunk: Chunk, chunk_count: int) -> dict[str, object]:
    return {
        schema.DOC_ID: document.doc_id, schema.VERSION: document.version, schema.SOURCE_ID: document.source_id,
        schema.URI: document.uri, schema.PATH: document.path, schema.TITLE: document.title,
        schema.MEDIA_TYPE: document.media_type, schema.DOC_LANGUAGE: document.language,
        schema.GROUPS: list(document.groups), schema.SECTION_PATH: list(chunk.section_path),
        schema.PAGE: chunk.page, schema.TEXT: chunk.text, schema.LANGUAGE: chunk.language,
        schema.START: chunk.start, schema.END: chunk.end, schema.ORDINAL: chunk.ordinal,
        schema.CHUNK_COUNT: chunk_count, "chunk_id": chunk.chunk_id, schema.LINK: document.link,
        **_lifecycle_payload(document.lifecycle),
    }


def _passage(payload: dict) -> Passage:
    return Passage(
        chunk_id=payload.get("chunk_id", ""), doc_id=payload[schema.DOC_ID], version=payload[schema.VERSION],
        title=payload.get(schema.TITLE, ""), uri=payload.get(schema.URI, ""),
        media_type=payload.get(schema.MEDIA_TYPE, ""), source_id=payload.get(schema.SOURCE_ID, ""),
        section_path=tuple(payload.get(schema.SECTION_PATH) or ()), page=payload.get(schema.PAGE),
        text=payload.get(schema.TEXT, ""), language=payload.get(schema.LANGUAGE, ""),
        start=payload.get(schema.START, 0), end=payload.get(schema.END, 0),
        ordinal=payload.get(schema.ORDINAL, 0), groups=tuple(payload.get(schema.GROUPS) or ()),
        link=payload.get(schema.LINK),
    )


def _unavailable(exc: Exception) -> VraagbaakError:
    log.warning("store error", extra={"ctx": {"error": repr(exc)[:300]}})
    return VraagbaakError(ErrorCode.STORE_UNAVAILABLE, f"The document store is unavailable: {type(exc).__name__}.")

