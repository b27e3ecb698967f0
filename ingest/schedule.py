"""Scheduled ingestion: a source whose configuration has `schedule_minutes` gets a job when that
many minutes have passed since its last job started (or at once when it never had one), unless
one of its jobs is running. A small daemon thread in the web app looks every `tick_s` seconds.

Embedded mode (`ingest.worker=embedded`): jobs run in the process that starts them, so run one app
process. With `ingest.worker=external` every app process may run a scheduler: a due source is only
queued (`Jobs.enqueue` checks for an active job under a per-source lock on Postgres, so two
processes cannot both queue it; the loser's CONFLICT is skipped) and `vraagbaak worker` runs it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from core.db import utcnow
from core.errors import VraagbaakError
from core.logging import kv
from ingest.jobs import Jobs
from ingest.sources.catalog import SourceCatalog

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")


def next_run(schedule_minutes: int | None, last_job: dict[str, Any] | None) -> datetime | None:
    """When a source is due next: None without a schedule, the epoch's start when it never ran."""
    if not schedule_minutes:
        return None
    if not last_job or not last_job.get("created_at"):
        return datetime.min.replace(tzinfo=utcnow().tzinfo)
    return datetime.fromisoformat(last_job["created_at"]) + timedelta(minutes=schedule_minutes)


class Scheduler:
    """Starts due jobs through `start(source_id) -> job_id` (e.g. `SourceRunner.start`)."""

    def __init__(self, catalog: SourceCatalog, jobs: Jobs, start: Callable[[str], str], *, tick_s: float = 30.0,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.catalog = catalog
        self.jobs = jobs
        self.start_job = start
        self.tick_s = tick_s
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._held: dict[str, datetime] = {}
        """source_id → when to try again after a start that failed (a broken configuration)."""

    def due(self) -> list[str]:
        """Ids of the sources whose next run has come and that have no job queued or running."""
        now = self.clock()
        latest = self.jobs.latest()
        found = []
        for source_id, config in self.catalog.configs().items():
            last = latest.get(source_id)
            when = next_run(config.schedule_minutes, last)
            if when is None or when > now or (last and last["status"] in ACTIVE):  # here or in the CLI
                continue
            if self._held.get(source_id, now) > now:
                continue
            found.append(source_id)
        return found

    def tick(self) -> list[str]:
        """Start a job for every due source; returns the ids of the jobs started."""
        started = []
        for source_id in self.due():
            try:
                job_id = self.start_job(source_id)
            except VraagbaakError as exc:  # running already, removed meanwhile, or a broken configuration
                config = self.catalog.configs().get(source_id)
                minutes = config.schedule_minutes if config and config.schedule_minutes else 60
                self._held[source_id] = self.clock() + timedelta(minutes=minutes)
                log.warning("scheduled job not started", extra=kv(source_id=source_id, error=exc.message))
                continue
            self._held.pop(source_id, None)
            started.append(job_id)
            log.info("scheduled job started", extra=kv(source_id=source_id, job_id=job_id))
        return started

    def start(self) -> None:
        """Look for due sources every `tick_s` seconds in a daemon thread, until `stop()`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="ingest-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.tick()
            except Exception as exc:  # the database went away for a moment: try again next tick
                log.warning("scheduler tick failed", extra=kv(error=f"{type(exc).__name__}: {exc}"[:300]))
