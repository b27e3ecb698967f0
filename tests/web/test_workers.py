"""Several processes on one PostgreSQL database (a real server, tests/postgres.py): ingestion workers
(`vraagbaak worker`) that claim queued jobs, and the app under `uvicorn --workers 2`.

The embedded Qdrant store cannot be opened by two processes, so here each worker has its own embedded
store folder (the claiming is what is tested; a real deployment shares one Qdrant server), and the
multi-worker app runs with a store URL where no server listens — it serves sign-in, sessions, pages
and the answer stream, and says the store is unavailable. With `QDRANT_URL` set, the app and the
workers use that server instead.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from core.db import Database
from core.errors import VraagbaakError
from core.settings import IngestSettings, Settings
from ingest.jobs import Jobs, SourceRunner
from ingest.registry import Registry
from ingest.sources.catalog import SourceCatalog
from tests import postgres
from tests.web.support import CSRF_IN_PAGE, PASSWORD, free_port, make_user

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """A fresh database on the module's server for each test (Postgres only: several processes need it)."""
    return postgres.fresh_database(postgres_url)


# ------------------------------------------------------------------------------ a small intranet


class Intranet:
    """Pages on a real HTTP server: /page-N answers after `delay_s`; /held answers when `release` is set."""

    def __init__(self, delay_s: float = 0.6) -> None:
        self.delay_s = delay_s
        self.release = threading.Event()
        intranet = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path.startswith("/held"):
                    intranet.release.wait(120)
                elif self.path.startswith("/page-"):
                    time.sleep(intranet.delay_s)
                else:
                    self.send_error(404)
                    return
                name = self.path.strip("/")
                body = (f"<html><head><title>Regeling {name}</title></head><body><main><h1>Regeling {name}</h1>"
                        f"<p>De regeling {name} beschrijft hoe medewerkers verlof aanvragen bij hun "
                        f"leidinggevende en hoeveel dagen zij per jaar opbouwen.</p></main></body></html>").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def intranet() -> Iterator[Intranet]:
    site = Intranet()
    yield site
    site.close()


def _add_web_source(database_url: str, source_id: str, url: str) -> None:
    database = Database.open(database_url)
    try:
        SourceCatalog(Registry(database)).add({"id": source_id, "kind": "web", "start_urls": [url], "max_depth": 0,
                                               "delay_s": 0, "timeout_s": 120})
    finally:
        database.close()


# ------------------------------------------------------------------------------ processes


def _env(base_settings: Settings, data_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("VRAAGBAAK_") and k not in ("QDRANT_API_KEY", "DATABASE_URL", "LLM_BASE_URL")}
    env.update({"PYTHONPATH": str(ROOT), "VRAAGBAAK_DATA_DIR": str(data_dir), "DATABASE_URL": database_url,
                "VRAAGBAAK_EMBEDDING__MODELS_DIR": str(base_settings.models_dir.resolve()),
                "VRAAGBAAK_INGEST__ISOLATE_PARSING": "false", "VRAAGBAAK_LOG_LEVEL": "INFO",
                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    if not os.environ.get("QDRANT_URL"):
        env.pop("QDRANT_URL", None)
    env.update(extra)
    return env


@contextmanager
def _worker(tmp: Path, name: str, env: dict[str, str], *args: str) -> Iterator[subprocess.Popen[str]]:
    """`vraagbaak worker` as a process of its own; its stderr (the log) goes to tmp/NAME.log."""
    folder = tmp / name
    folder.mkdir(parents=True, exist_ok=True)
    log = (tmp / f"{name}.log").open("w", encoding="utf-8")
    process = subprocess.Popen([PYTHON, "-m", "vraagbaak", "worker", "--name", name, "--poll", "0.1", *args],
                               cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            _stop(process)
        log.close()


def _stop(process: subprocess.Popen) -> None:  # type: ignore[type-arg]
    """SIGTERM, then SIGKILL if it has not ended within 30 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def _wait_for(condition, timeout_s: float, what: str, processes=()) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        for process in processes:
            assert process.poll() is None, f"a process ended early (rc {process.returncode}) while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _log_says(path: Path, text: str) -> bool:
    return path.exists() and text in path.read_text(encoding="utf-8", errors="replace")


# ------------------------------------------------------------------------------ jobs and workers


def test_external_worker_setting_makes_the_app_only_queue_jobs(tmp_path: Path) -> None:
    database = Database.open(f"sqlite:///{tmp_path / 'app.db'}")
    catalog = SourceCatalog(Registry(database))
    catalog.add({"id": "beleid", "kind": "folder", "path": str(tmp_path)})
    jobs = Jobs(database, IngestSettings(worker="external"))
    runner = SourceRunner(jobs, catalog, Registry(database), None, None, IngestSettings(worker="external"))  # type: ignore[arg-type]
    job_id = runner.start("beleid")  # no store or model needed: nothing runs here
    time.sleep(0.3)
    job = jobs.get(job_id)
    assert job["status"] == "queued" and job["params"] == {"force": False, "only": []}
    assert jobs.active("beleid") == job_id
    with pytest.raises(VraagbaakError, match="already queued or running"):
        runner.start("beleid")
    with pytest.raises(VraagbaakError, match="No source"):
        runner.start("unknown")
    assert jobs.interrupted() == 0 and jobs.get(job_id)["status"] == "queued"  # app start-up leaves it for a worker
    claimed = jobs.claim("w1")
    assert claimed is not None and claimed["job_id"] == job_id and claimed["status"] == "running"
    assert jobs.claim("w2") is None
    own = jobs.create("beleid")  # a job the CLI runs itself is never claimed by a worker
    assert jobs.claim("w2") is None and jobs.get(own)["status"] == "queued"
    database.close()


def test_concurrent_claims_on_postgres_give_each_job_to_one_claimant(database_url: str) -> None:
    database = Database.open(database_url)
    jobs = Jobs(database, IngestSettings(worker="external"))
    queued = {jobs.enqueue(f"s{i}") for i in range(30)}
    won: dict[str, list[str]] = {}
    start = threading.Barrier(6)

    def claimant(name: str) -> None:
        start.wait()
        while (job := jobs.claim(name)) is not None:
            won.setdefault(job["job_id"], []).append(name)

    threads = [threading.Thread(target=claimant, args=(f"c{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert set(won) == queued
    assert all(len(names) == 1 for names in won.values()), {k: v for k, v in won.items() if len(v) > 1}
    database.close()


def test_two_worker_processes_run_each_queued_job_exactly_once(base_settings: Settings, database_url: str,
                                                                intranet: Intranet, tmp_path: Path) -> None:
    sources = [f"site{i}" for i in range(6)]
    for source_id in sources:
        _add_web_source(database_url, source_id, f"{intranet.url}/page-{source_id}")
    env = {name: _env(base_settings, tmp_path / f"{name}-data", database_url) for name in ("w1", "w2")}
    with _worker(tmp_path, "w1", env["w1"]) as w1, _worker(tmp_path, "w2", env["w2"]) as w2:
        _wait_for(lambda: all(_log_says(tmp_path / f"{n}.log", "waiting for queued jobs") for n in ("w1", "w2")),
                  180, "both workers to start", (w1, w2))
        database = Database.open(database_url)
        jobs = Jobs(database, IngestSettings(worker="external"))
        queued = [jobs.enqueue(source_id) for source_id in sources]
        _wait_for(lambda: all(jobs.get(j)["status"] in ("succeeded", "failed") for j in queued), 180,
                  "the jobs to finish", (w1, w2))
        rows = [jobs.get(j) for j in queued]
        database.close()
    assert [r["status"] for r in rows] == ["succeeded"] * len(sources), [(r["status"], r["error"]) for r in rows]
    assert all(r["chunks"] >= 1 for r in rows)
    logs = {n: (tmp_path / f"{n}.log").read_text(encoding="utf-8") for n in ("w1", "w2")}
    for job_id in queued:  # claimed once, finished once, by the worker named in its row
        claims = [n for n, text in logs.items() for _ in re.finditer(f"job claimed job_id={job_id}", text)]
        finishes = [n for n, text in logs.items() for _ in re.finditer(f"job finished job_id={job_id}", text)]
        row = next(r for r in rows if r["job_id"] == job_id)
        assert claims == finishes == [row["worker"]], (job_id, claims, finishes, row["worker"])
    assert {r["worker"] for r in rows} == {"w1", "w2"}, "each worker should have taken jobs while the other was busy"


def test_a_killed_worker_s_job_is_marked_interrupted_and_runs_again(base_settings: Settings, database_url: str,
                                                                      intranet: Intranet, tmp_path: Path) -> None:
    _add_web_source(database_url, "held", f"{intranet.url}/held")
    timing = {"VRAAGBAAK_INGEST__HEARTBEAT_S": "0.3", "VRAAGBAAK_INGEST__HEARTBEAT_TIMEOUT_S": "3"}
    database = Database.open(database_url)
    jobs = Jobs(database, IngestSettings(worker="external", heartbeat_timeout_s=3))
    job_id = jobs.enqueue("held", force=True)
    with _worker(tmp_path, "doomed", _env(base_settings, tmp_path / "doomed-data", database_url, **timing)) as doomed:
        _wait_for(lambda: jobs.get(job_id)["status"] == "running", 180, "the job to be claimed", (doomed,))
        first_beat = jobs.get(job_id)["heartbeat_at"]
        _wait_for(lambda: jobs.get(job_id)["heartbeat_at"] != first_beat, 10, "a heartbeat", (doomed,))
        doomed.send_signal(signal.SIGKILL)  # mid-job: the page it fetches is held back
        doomed.wait(10)
    assert jobs.get(job_id)["status"] == "running"  # nobody knows yet
    with _worker(tmp_path, "rescuer", _env(base_settings, tmp_path / "rescuer-data", database_url, **timing)) as rescuer:
        _wait_for(lambda: jobs.get(job_id)["status"] == "interrupted", 180, "the dead worker's job to be reaped",
                  (rescuer,))
        job = jobs.get(job_id)
        assert "doomed" in job["error"] and "heartbeat" in job["error"]
        intranet.release.set()
        again = jobs.retry(job_id)
        assert jobs.get(again)["params"] == {"force": True, "only": []}
        _wait_for(lambda: jobs.get(again)["status"] in ("succeeded", "failed"), 120, "the job run again", (rescuer,))
        assert jobs.get(again)["status"] == "succeeded" and jobs.get(again)["worker"] == "rescuer"
    with pytest.raises(VraagbaakError, match="only an interrupted or failed job"):
        jobs.retry(again)
    database.close()


# ------------------------------------------------------------------------------ the app under uvicorn --workers 2

LOG_CONFIG = {
    "version": 1, "disable_existing_loggers": False,
    "formatters": {"pid": {"format": "pid=%(process)d %(name)s %(message)s"}},
    "handlers": {"err": {"class": "logging.StreamHandler", "formatter": "pid", "stream": "ext://sys.stderr"}},
    "loggers": {"uvicorn.access": {"handlers": ["err"], "level": "INFO", "propagate": False},
                "uvicorn.error": {"handlers": ["err"], "level": "INFO", "propagate": False}},
}
ACCESS = re.compile(r'pid=(\d+) uvicorn\.access .*"(GET|POST) (\S+) HTTP/1\.1" (\d{3})')
STREAM_URL = re.compile(r'sse-connect="(/ask/stream/[^"]+)"')


@contextmanager
def _uvicorn_workers(env: dict[str, str], tmp: Path, workers: int = 2) -> Iterator[tuple[str, Path]]:
    """`uvicorn web.app:create_app --factory --workers N` (the Dockerfile's command); the access log
    names the process that served each request."""
    port = free_port()
    (tmp / "log.json").write_text(json.dumps(LOG_CONFIG), encoding="utf-8")
    log_path = tmp / "uvicorn.log"
    log = log_path.open("w", encoding="utf-8")
    process = subprocess.Popen([PYTHON, "-m", "uvicorn", "web.app:create_app", "--factory", "--workers", str(workers),
                                "--host", "127.0.0.1", "--port", str(port), "--log-config", str(tmp / "log.json")],
                               cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: log_path.read_text(encoding="utf-8").count("Application startup complete") >= workers,
                  240, f"{workers} app workers to start", (process,))
        yield f"http://127.0.0.1:{port}", log_path
    finally:
        _stop(process)
        log.close()


class Tagged:
    """A client that names each request. The access log leaves out client addresses and query strings
    (web/privacy.py), so requests are matched to its lines by order: they are made one at a time, and
    uvicorn writes a request's line before its response is sent."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.tags: list[str] = []

    def request(self, tag: str, method: str, url: str, **kwargs: object) -> httpx.Response:
        self.tags.append(tag)
        return self.client.request(method, url, **kwargs)  # type: ignore[arg-type]

    def served_by(self, log_path: Path) -> dict[str, str]:
        """tag → pid of the worker that served it."""
        lines = ACCESS.findall(log_path.read_text(encoding="utf-8"))
        assert len(lines) == len(self.tags), (len(lines), len(self.tags))
        return {tag: pid for tag, (pid, *_rest) in zip(self.tags, lines, strict=True)}


def test_app_under_two_uvicorn_workers_shares_sessions_and_answer_streams(base_settings: Settings,
                                                                           database_url: str,
                                                                           tmp_path: Path) -> None:
    make_user(database_url, "anna")
    store_url = os.environ.get("QDRANT_URL") or f"http://127.0.0.1:{free_port()}"  # no server there: store unavailable
    env = _env(base_settings, tmp_path / "data", database_url, QDRANT_URL=store_url,
               VRAAGBAAK_INGEST__WORKER="external", VRAAGBAAK_WEB__ADMIN_TOKEN="admin-secret-for-test")
    with _uvicorn_workers(env, tmp_path) as (base, log_path):
        headers = {"Connection": "close"}  # a new connection per request: the kernel hands each to either worker
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            client = Tagged(http)
            form = client.request("form", "GET", "/login")
            token = CSRF_IN_PAGE.search(form.text).group(1)  # type: ignore[union-attr]
            signed = client.request("login", "POST", "/login", data={"username": "anna", "password": PASSWORD,
                                                                   "csrf_token": token, "next": "/"})
            assert signed.status_code == 303, signed.text
            pages = [client.request(f"page{i}", "GET", "/") for i in range(40)]
            assert all(p.status_code == 200 and "anna" in p.text for p in pages), [p.status_code for p in pages]
            csrf = CSRF_IN_PAGE.search(pages[0].text).group(1)  # type: ignore[union-attr]
            http.headers["X-CSRF-Token"] = csrf
            streams = []
            for i in range(12):  # the question is parked by one worker, its stream opened at either
                started = client.request(f"ask{i}", "POST", "/ask", data={"question": "Hoeveel verlofdagen krijg ik?"},
                                         headers={"HX-Request": "true"})
                assert started.status_code == 200, started.text
                url = STREAM_URL.search(started.text).group(1)  # type: ignore[union-attr]
                streams.append(client.request(f"stream{i}", "GET", url))
            assert all(s.status_code == 200 and "event: done" in s.text for s in streams), \
                [(s.status_code, s.text[:200]) for s in streams]
            assert all("event: answer" in s.text for s in streams)
            replay = client.request("replay", "GET", url)
            assert replay.status_code == 404  # once only, whichever worker is asked
            unknown = client.request("job", "POST", "/api/admin/sources/none/jobs",
                                     headers={"Authorization": "Bearer admin-secret-for-test"})
            assert unknown.status_code == 404  # an unknown source is refused at once, not by a worker
            client.request("logout", "POST", "/logout")
            after = [client.request(f"after{i}", "GET", "/") for i in range(60)]
            assert all(a.status_code in (302, 303, 307) for a in after), [a.status_code for a in after]
        time.sleep(0.5)
        served = client.served_by(log_path)
    assert len(set(served.values())) == 2, f"expected both workers to serve requests, got {set(served.values())}"
    assert any(served[f"page{i}"] != served["login"] for i in range(40)), \
        "no page was served by the worker that did not sign the user in"
    assert any(served[f"ask{i}"] != served[f"stream{i}"] for i in range(12)), \
        "no answer stream was opened at another worker than the one that took the question"
    assert any(served[f"after{i}"] != served["logout"] for i in range(60))
