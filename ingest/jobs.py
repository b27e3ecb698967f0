"""Ingestion jobs: one run over one source, with live progress in the `jobs` table — started from
the CLI (in the foreground) or the admin API (in a background thread), watched the same way.

With `ingest.worker=external` the app only queues jobs (`enqueue`), and `vraagbaak worker`
processes (ingest/worker.py) claim them one at a time (`claim`: an atomic conditional update, with
`FOR UPDATE SKIP LOCKED` on Postgres), mark them alive while they run (`beating`), and mark the
jobs of a worker that stopped beating as interrupted (`reap`); such a job can be queued again (`retry`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from core.db import Database, JobRow, utcnow
from core.embedding import Embedder
from core.errors import ErrorCode, VraagbaakError
from core.logging import kv
from core.settings import IngestSettings
from core.store import QdrantStore
from core.types import IngestReport
from ingest.isolate import ParsePool
from ingest.pipeline import Ingestor, Progress, ProgressCallback
from ingest.registry import Registry, _aware
from ingest.sources.base import Source, SourceItem
from ingest.sources.catalog import SourceCatalog
from ingest.sources.config import WebConfig

log = logging.getLogger(__name__)

_WRITE_EVERY_S = 0.5
ACTIVE = ("queued", "running")


def report_dict(report: IngestReport) -> dict[str, Any]:
    data = asdict(report)
    data["changed"] = report.changed
    return data


class Jobs:
    """Creates job rows, keeps their progress current, and runs jobs in the background."""

    def __init__(self, database: Database, settings: IngestSettings | None = None) -> None:
        self.database = database
        self.settings = settings or IngestSettings()
        self.external = self.settings.worker == "external"
        """Jobs run in `vraagbaak worker` processes: `start` only queues them."""
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[str, IngestReport], None]] = []

    def on_finished(self, listener: Callable[[str, IngestReport], None]) -> None:
        """Call `listener(job_id, report)` after every job that succeeded (e.g. the gap dashboard re-asks
        its questions). A failing listener is logged and never fails the job."""
        self._listeners.append(listener)

    def create(self, source_id: str) -> str:
        """A job this process runs itself (no `params`: no worker claims it)."""
        job_id = uuid.uuid4().hex
        with self.database.session() as session:
            session.add(JobRow(job_id=job_id, source_id=source_id, status="queued"))
        return job_id

    def enqueue(self, source_id: str, *, force: bool = False, only: Collection[str] = ()) -> str:
        """Queue a job for a worker process; CONFLICT while one of the source's jobs is queued or
        running (checked under a per-source lock on Postgres, so two app processes cannot both queue)."""
        job_id = uuid.uuid4().hex
        with self.database.session() as session:
            _lock_source(session, source_id)
            waiting = session.scalar(select(JobRow.job_id).where(JobRow.source_id == source_id,
                                                                 JobRow.status.in_(ACTIVE)).limit(1))
            if waiting:
                raise VraagbaakError(ErrorCode.CONFLICT,
                                     f"An ingestion job for source '{source_id}' is already queued or running ({waiting}).")
            session.add(JobRow(job_id=job_id, source_id=source_id, status="queued",
                               params={"force": force, "only": sorted(only)}))
        log.info("job queued", extra=kv(job_id=job_id, source_id=source_id))
        return job_id

    def claim(self, worker: str) -> dict[str, Any] | None:
        """Take the oldest queued job for `worker` (queued → running), or None when there is none.
        The conditional update makes the claim atomic: of two workers, one gets the job."""
        while True:
            with self.database.session() as session:
                candidate = session.scalar(
                    select(JobRow.job_id)
                    .where(JobRow.status == "queued", JobRow.params.is_not(None))
                    .order_by(JobRow.created_at).limit(1)
                    .with_for_update(skip_locked=True))
                if candidate is None:
                    return None
                now = utcnow()
                claimed = session.execute(
                    update(JobRow).where(JobRow.job_id == candidate, JobRow.status == "queued")
                    .values(status="running", worker=worker[:100], started_at=now, heartbeat_at=now)).rowcount
            if claimed == 1:
                log.info("job claimed", extra=kv(job_id=candidate, worker=worker))
                return self.get(candidate)

    @contextmanager
    def beating(self, job_id: str, worker: str) -> Iterator[None]:
        """Mark the job alive every `heartbeat_s` seconds while the block runs (a daemon thread)."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.settings.heartbeat_s):
                try:
                    with self.database.session() as session:
                        session.execute(update(JobRow).where(JobRow.job_id == job_id, JobRow.worker == worker,
                                                             JobRow.status == "running").values(heartbeat_at=utcnow()))
                except Exception as exc:  # the database away for a moment: the next beat tries again
                    log.warning("heartbeat not written", extra=kv(job_id=job_id, error=f"{type(exc).__name__}"))

        thread = threading.Thread(target=beat, name=f"heartbeat-{job_id[:8]}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(5)

    def reap(self) -> list[str]:
        """Mark running jobs whose worker stopped beating for `heartbeat_timeout_s` as interrupted;
        returns their ids. Jobs run by a process without heartbeats (the CLI, the embedded app) are left alone."""
        now = utcnow()
        cutoff = now - timedelta(seconds=self.settings.heartbeat_timeout_s)
        reaped = []
        with self.database.session() as session:
            rows = session.scalars(select(JobRow).where(JobRow.status == "running", JobRow.heartbeat_at.is_not(None),
                                                        JobRow.heartbeat_at < cutoff).with_for_update(skip_locked=True))
            for row in rows:
                row.status, row.finished_at, row.current = "interrupted", now, None
                row.error = (f"the worker running it ({row.worker}) stopped: no heartbeat for "
                             f"{self.settings.heartbeat_timeout_s:.0f} s; run the source again")
                reaped.append(row.job_id)
        for job_id in reaped:
            log.warning("job interrupted: its worker stopped", extra=kv(job_id=job_id))
        return reaped

    def fail(self, job_id: str, message: str) -> None:
        """Record a job as failed before or outside `run` (its source could not be built, say)."""
        self._update(job_id, status="failed", error=message[:500], finished_at=utcnow(), current=None)

    def retry(self, job_id: str) -> str:
        """Queue an interrupted or failed job again (a new job with the same source and parameters)."""
        job = self.get(job_id)
        if job["status"] not in ("interrupted", "failed"):
            raise VraagbaakError(ErrorCode.CONFLICT, f"Job '{job_id}' is {job['status']}; only an interrupted "
                                                     "or failed job can be run again.")
        params = job.get("params") or {}
        return self.enqueue(job["source_id"], force=bool(params.get("force")), only=params.get("only") or ())

    def run(self, job_id: str, ingestor: Ingestor, source: Source, *, force: bool = False,
            on_progress: ProgressCallback | None = None) -> IngestReport:
        """Run a created job in this thread; its row follows the progress and ends with the report."""
        self._update(job_id, status="running", started_at=utcnow(),
                     files_total=source.estimate() if hasattr(source, "estimate") else None)
        last_write = 0.0

        def progress(event: Progress) -> None:
            nonlocal last_write
            if on_progress:
                on_progress(event)
            now = time.monotonic()
            if now - last_write >= _WRITE_EVERY_S or event.files_done == event.files_total:
                last_write = now
                self._update(job_id, files_done=event.files_done, files_total=event.files_total, pages=event.pages,
                             chunks=event.chunks, failed=event.failed, current=event.current[:500])

        try:
            report = ingestor.ingest_source(source, progress, force=force)
        except Exception as exc:
            message = exc.message if isinstance(exc, VraagbaakError) else f"{type(exc).__name__}: {str(exc)[:300]}"
            self._update(job_id, status="failed", error=message, finished_at=utcnow(), current=None)
            log.warning("job failed", extra=kv(job_id=job_id, source_id=source.source_id, error=message))
            raise
        self._update(job_id, status="succeeded", finished_at=utcnow(), current=None, chunks=report.chunks,
                     pages=report.pages, failed=len(report.failed), report=report_dict(report))
        log.info("job finished", extra=kv(job_id=job_id, source_id=source.source_id, seconds=report.seconds))
        for listener in self._listeners:
            try:
                listener(job_id, report)
            except Exception as exc:
                log.warning("job listener failed", extra=kv(job_id=job_id, error=f"{type(exc).__name__}: {exc}"[:300]))
        return report

    def start(self, source_id: str, make: Callable[[], tuple[Ingestor, Source]], *, force: bool = False,
              isolate: IngestSettings | None = None) -> str:
        """Start a job in a background thread; one running job per source (CONFLICT otherwise).
        With `isolate`, files are parsed in worker processes under its time and memory limits.
        With an external worker the job is only queued (`enqueue`)."""
        if self.external:
            return self.enqueue(source_id, force=force)
        with self._lock:
            running = self.active(source_id)
            if running:
                raise VraagbaakError(ErrorCode.CONFLICT,
                                     f"An ingestion job for source '{source_id}' is already running ({running}).")
            ingestor, source = make()
            job_id = self.create(source_id)

            def work() -> None:
                try:
                    with ParsePool.from_settings(isolate, workers=1) if isolate else nullcontext() as pool:
                        if pool is not None:
                            ingestor.parse = pool.parse
                        self.run(job_id, ingestor, source, force=force)
                except Exception as exc:  # recorded in the job row by run(), unless it failed before
                    if self.get(job_id)["status"] == "queued":  # e.g. the parse workers did not start
                        message = exc.message if isinstance(exc, VraagbaakError) else f"{type(exc).__name__}: {exc}"
                        self._update(job_id, status="failed", error=message[:500], finished_at=utcnow())
                    log.debug("background job ended with an error", extra=kv(job_id=job_id))

            thread = threading.Thread(target=work, name=f"ingest-{source_id}", daemon=True)
            self._threads[job_id] = thread
            thread.start()
        return job_id

    def active(self, source_id: str) -> str | None:
        """The id of this process's running job for a source, if any (with external workers: any
        queued or running job of the source)."""
        if self.external:
            with self.database.session() as session:
                return session.scalar(select(JobRow.job_id).where(JobRow.source_id == source_id,
                                                                  JobRow.status.in_(ACTIVE)).limit(1))
        for job_id, thread in list(self._threads.items()):
            if thread.is_alive():
                job = self.get(job_id)
                if job["source_id"] == source_id and job["status"] in ("queued", "running"):
                    return job_id
        return None

    def wait(self, job_id: str, timeout_s: float | None = None) -> None:
        thread = self._threads.get(job_id)
        if thread:
            thread.join(timeout_s)

    def interrupted(self) -> int:
        """Mark jobs left `running` or `queued` by a process that died as `interrupted`; at start-up
        of the only process that runs jobs (embedded mode). With external workers, queued jobs wait
        for them: only the jobs of workers that stopped beating are marked (`reap`)."""
        if self.external:
            return len(self.reap())
        with self.database.session() as session:
            rows = list(session.scalars(select(JobRow).where(JobRow.status.in_(("running", "queued")))))
            for row in rows:
                if row.job_id not in self._threads:
                    row.status, row.error, row.finished_at = "interrupted", "the process running it stopped", utcnow()
            return len(rows)

    def get(self, job_id: str) -> dict[str, Any]:
        with self.database.session() as session:
            row = session.get(JobRow, job_id)
            if row is None:
                raise VraagbaakError(ErrorCode.NOT_FOUND, f"No job '{job_id}'.")
            return _job_dict(row)

    def list(self, source_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = select(JobRow).order_by(JobRow.created_at.desc()).limit(limit)
        if source_id:
            query = query.where(JobRow.source_id == source_id)
        with self.database.session() as session:
            return [_job_dict(row) for row in session.scalars(query)]

    def latest(self) -> dict[str, dict[str, Any]]:
        """source_id → that source's most recent job."""
        newest = (select(JobRow.source_id, func.max(JobRow.created_at).label("at"))
                  .group_by(JobRow.source_id).subquery())
        query = select(JobRow).join(newest, (JobRow.source_id == newest.c.source_id)
                                    & (JobRow.created_at == newest.c.at))
        with self.database.session() as session:
            return {row.source_id: _job_dict(row) for row in session.scalars(query)}

    def status_counts(self) -> dict[str, int]:
        """Number of jobs per status (queued, running, succeeded, failed, interrupted)."""
        with self.database.session() as session:
            return dict(session.execute(select(JobRow.status, func.count()).group_by(JobRow.status)).all())

    def _update(self, job_id: str, **fields: Any) -> None:
        with self.database.session() as session:
            row = session.get(JobRow, job_id)
            if row is not None:
                for key, value in fields.items():
                    setattr(row, key, value)


def _job_dict(row: JobRow) -> dict[str, Any]:
    started, finished = _aware(row.started_at), _aware(row.finished_at)
    elapsed = ((finished or utcnow()) - started).total_seconds() if started else 0.0
    rate = row.files_done / elapsed if elapsed > 0 else 0.0
    eta = (max((row.files_total or 0) - row.files_done, 0) / rate
           if row.status == "running" and row.files_total and rate > 0 else None)
    return {"job_id": row.job_id, "source_id": row.source_id, "status": row.status,
            "created_at": _aware(row.created_at).isoformat() if row.created_at else None,
            "started_at": started.isoformat() if started else None,
            "finished_at": finished.isoformat() if finished else None,
            "files_total": row.files_total, "files_done": row.files_done, "pages": row.pages, "chunks": row.chunks,
            "failed": row.failed, "current": row.current, "error": row.error, "elapsed_s": round(elapsed, 1),
            "files_per_s": round(rate, 2), "eta_s": round(eta, 1) if eta is not None else None,
            "report": row.report, "params": row.params, "worker": row.worker,
            "heartbeat_at": _aware(row.heartbeat_at).isoformat() if row.heartbeat_at else None}


def _lock_source(session: Session, source_id: str) -> None:
    """Postgres: hold a transaction-scoped advisory lock on the source (SQLite serialises writers itself)."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"vraagbaak-job:{source_id}".encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def worker_name() -> str:
    """`host:pid` of this process, as a claimed job's `worker`."""
    return f"{socket.gethostname()}:{os.getpid()}"


class OnlySource(Source):
    """Some items of another source, by uri: re-indexes single documents. Its listing is never
    complete, so a run over it removes nothing."""

    kind = "only"

    def __init__(self, inner: Source, uris: Collection[str]) -> None:
        super().__init__(inner.source_id, groups=inner.groups)
        self.inner = inner
        self.uris = frozenset(uris)

    def estimate(self) -> int:
        return len(self.uris)

    @property
    def sidecar_warnings(self) -> list[str]:
        return list(getattr(self.inner, "sidecar_warnings", ()))

    def scan(self, previous: Mapping[str, Mapping[str, Any]]) -> Iterator[SourceItem]:
        self.complete = False
        for item in self.inner.scan(previous):
            if item.uri in self.uris:
                yield item


@dataclass(frozen=True)
class SourceRunner:
    """Starts background jobs for configured sources with the app's store, model and settings —
    for the admin API and pages, and for the scheduler."""

    jobs: Jobs
    catalog: SourceCatalog
    registry: Registry
    store: QdrantStore
    embedder: Embedder
    settings: IngestSettings

    def ingestor(self) -> Ingestor:
        return Ingestor(self.store, self.embedder, self.settings, self.registry)

    def start(self, source_id: str, *, force: bool = False, only: Collection[str] = ()) -> str:
        """Start a job over a source, or with `only` over just those uris of it (forced, nothing
        removed). NOT_FOUND for an unknown source, CONFLICT while one of its jobs runs. With an
        external worker the job is queued for it."""
        if self.jobs.external:
            self.catalog.get(source_id)  # NOT_FOUND now, not in the worker
            return self.jobs.enqueue(source_id, force=force or bool(only), only=only)

        def make() -> tuple[Ingestor, Source]:
            return self.ingestor(), self.source(source_id, only)

        isolate = self.settings if self.settings.isolate_parsing else None
        return self.jobs.start(source_id, make, force=force or bool(only), isolate=isolate)

    def source(self, source_id: str, only: Collection[str] = ()) -> Source:
        """The configured source, or with `only` just those uris of it."""
        config = self.catalog.get(source_id)
        if only and isinstance(config, WebConfig):  # fetch just those pages, not the whole site
            config = config.model_copy(update={"start_urls": sorted(only), "sitemap": None, "max_depth": 0,
                                               "max_pages": len(only)})
        source = config.build()
        return OnlySource(source, only) if only else source
