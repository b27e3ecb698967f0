"""`vraagbaak worker`: an ingestion worker process that runs the jobs the web app queues
(`VRAAGBAAK_INGEST__WORKER=external`); see ingest/worker.py."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

NAME = "worker"


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(NAME, help="run queued ingestion jobs (the app queues them with "
                                            "VRAAGBAAK_INGEST__WORKER=external); several may run at once",
                                 description="Claims queued ingestion jobs from the application database and runs "
                                             "them one at a time. SIGTERM or Ctrl-C: stop after the job under way.")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between looks for queued jobs (default 2)")
    parser.add_argument("--until-idle", action="store_true", help="stop when no job is queued (batch use, tests)")
    parser.add_argument("--name", help="this worker's name in the job rows (default host:pid)")


def run(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    from assistant.gaps import GapTopics
    from assistant.service import Assistant
    from core.db import Database
    from core.embedding import load_embedder
    from core.store import QdrantStore
    from ingest.jobs import Jobs, SourceRunner
    from ingest.registry import Registry
    from ingest.sources.catalog import SourceCatalog
    from ingest.worker import Worker

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    database = Database.open(settings.database_url)
    store = QdrantStore.open(settings)
    try:
        embedder = load_embedder(settings.embedding, settings.models_dir)
        store.ensure_collection(embedder.dim)
        registry = Registry(database)
        catalog = SourceCatalog(registry, settings.sources_file)
        catalog.sync_file()
        jobs = Jobs(database, settings.ingest)
        quiet = Assistant.build(settings, store, embedder, answer_log=None)  # re-asks, records nothing
        jobs.on_finished(GapTopics(database, embedder, settings.gaps, quiet).after_job)  # as the app does
        runner = SourceRunner(jobs, catalog, registry, store, embedder, settings.ingest)
        worker = Worker(runner, name=args.name, poll_s=args.poll)
        print(f"worker {worker.name}: waiting for queued jobs", file=sys.stderr, flush=True)
        done = worker.serve(stop, until_idle=args.until_idle)
        print(f"worker {worker.name}: stopped after {done} job(s)", file=sys.stderr)
    finally:
        store.close()
        database.close()
    return 0
