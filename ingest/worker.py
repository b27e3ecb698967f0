"""The ingestion worker: a process of its own (`vraagbaak worker`) that claims queued jobs from the
application database and runs them, one at a time, while the web app only queues them
(`ingest.worker=external`). Several workers may run on one database (and one Qdrant server):
each job is claimed by one of them. A worker marks its running job alive every `heartbeat_s`; the
jobs of a worker that died are marked interrupted by the next worker (or app process) that looks,
after `heartbeat_timeout_s`, and can be queued again."""

from __future__ import annotations

import logging
import threading
from contextlib import nullcontext

from core.errors import VraagbaakError
from core.logging import kv
from ingest.isolate import ParsePool
from ingest.jobs import Jobs, SourceRunner, worker_name

log = logging.getLogger(__name__)


class Worker:
    """Claims and runs jobs until told to stop."""

    def __init__(self, runner: SourceRunner, *, name: str | None = None, poll_s: float = 2.0) -> None:
        self.runner = runner
        self.jobs: Jobs = runner.jobs
        self.name = name or worker_name()
        self.poll_s = poll_s

    def run_one(self) -> str | None:
        """Mark the jobs of dead workers, then claim and run the oldest queued job; its id, or None
        when nothing was queued. A job that fails is recorded as failed; the worker goes on."""
        self.jobs.reap()
        job = self.jobs.claim(self.name)
        if job is None:
            return None
        job_id, params = job["job_id"], job.get("params") or {}
        settings = self.runner.settings
        with self.jobs.beating(job_id, self.name):
            try:
                source = self.runner.source(job["source_id"], params.get("only") or ())
                ingestor = self.runner.ingestor()
                with ParsePool.from_settings(settings, workers=1) if settings.isolate_parsing else nullcontext() as pool:
                    if pool is not None:
                        ingestor.parse = pool.parse
                    self.jobs.run(job_id, ingestor, source, force=bool(params.get("force")))
            except Exception as exc:  # run() records failures of the ingestion itself; this is for the rest
                if self.jobs.get(job_id)["status"] == "running":
                    message = exc.message if isinstance(exc, VraagbaakError) else f"{type(exc).__name__}: {exc}"
                    self.jobs.fail(job_id, message)
                log.warning("job ended with an error", extra=kv(job_id=job_id, worker=self.name))
        return job_id

    def serve(self, stop: threading.Event, *, until_idle: bool = False) -> int:
        """Run jobs until `stop` is set (a job under way is finished first), or with `until_idle`
        until no job is queued; returns the number of jobs run."""
        done = 0
        log.info("worker ready", extra=kv(worker=self.name))
        while not stop.is_set():
            try:
                job_id = self.run_one()
            except Exception as exc:  # the database away for a moment: try again after a pause
                log.warning("worker could not claim a job", extra=kv(worker=self.name,
                                                                     error=f"{type(exc).__name__}: {exc}"[:300]))
                job_id = None
            if job_id is not None:
                done += 1
                continue
            if until_idle:
                break
            stop.wait(self.poll_s)
        log.info("worker stopped", extra=kv(worker=self.name, jobs=done))
        return done
