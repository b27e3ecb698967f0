"""Parsing in worker processes, so that no file can hang, exhaust or crash the job that reads it.

`ParsePool` keeps `workers` processes alive between files (loading unstructured takes seconds) and
gives each file a wall-time limit and each worker an address-space limit. A file that runs past its
time gets its worker killed (`PARSE_TIMEOUT`); one that needs too much memory or kills its worker
(segfault, abort, `os._exit`) is reported with a clear reason (`PARSE_FAILED`); either way a fresh
worker takes over and the next file is parsed as usual.

Workers are started with multiprocessing's "spawn" context: a fresh interpreter, never a fork of a
parent that holds torch threads and a Qdrant client.

    with ParsePool(timeout_s=60, workers=2) as pool:
        document = pool.parse(path, data)          # blocking
        future = pool.submit(path, data)           # parse ahead while embedding
        for outcome in pool.imap(paths):           # in order, one outcome per file, never raises
            ...
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path

from core.errors import ErrorCode, VraagbaakError
from core.logging import kv
from core.settings import IngestSettings
from ingest.parse import ParsedDocument

log = logging.getLogger(__name__)

DEFAULT_TARGET = "ingest.parse:parse_file"
# imported by each worker before it reports ready, so the first file is not charged for them
DEFAULT_PRELOAD = ("unstructured.partition.html", "unstructured.partition.md", "unstructured.partition.docx",
                   "unstructured.partition.pptx", "pypdfium2")
START_TIMEOUT_S = 180.0
MAX_START_FAILURES = 3


@dataclass(frozen=True)
class ParseOutcome:
    """What became of one file: a document, or the error that says why not."""

    path: Path
    document: ParsedDocument | None
    error: VraagbaakError | None
    seconds: float
    peak_mb: float | None = None  # the worker's peak resident memory while it parsed this file

    @property
    def ok(self) -> bool:
        return self.document is not None


@dataclass
class _Task:
    path: Path
    data: bytes | None
    future: Future[ParsedDocument] = field(default_factory=Future)
    seconds: float = 0.0
    peak_mb: float | None = None

    def outcome(self) -> ParseOutcome:
        error = self.future.exception()
        if error is not None and not isinstance(error, VraagbaakError):
            error = VraagbaakError(ErrorCode.INTERNAL, f"{type(error).__name__}: {error}")
        return ParseOutcome(self.path, None if error else self.future.result(), error, self.seconds, self.peak_mb)


@dataclass(eq=False)
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    started: float
    ready: bool = False
    task: _Task | None = None
    deadline: float = 0.0
    dispatched: float = 0.0


class ParsePool:
    """Worker processes that run `parse_file` with a time and a memory limit per file."""

    def __init__(self, *, timeout_s: float = 120.0, memory_mb: int = 2048, workers: int = 1,
                 target: str = DEFAULT_TARGET, preload: Iterable[str] | None = None) -> None:
        """`target` is the parse function as "module:function", taking (path, data) like `parse_file`
        (tests point it at hostile parsers); `preload` lists modules each worker imports at start."""
        if workers < 1 or timeout_s <= 0 or memory_mb <= 0:
            raise VraagbaakError(ErrorCode.CONFIG_INVALID, "workers, timeout_s and memory_mb must be positive")
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.workers = workers
        self.target = target
        self.preload = tuple(DEFAULT_PRELOAD if preload is None and target == DEFAULT_TARGET else preload or ())
        self.restarts = 0  # workers replaced after a timeout, crash or memory failure
        self._context = multiprocessing.get_context("spawn")
        self._pending: deque[_Task] = deque()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        self._closing = False
        self._abort = False
        self._broken: str | None = None
        self._start_failures = 0
        self._pool: list[_Worker] = [self._start_worker() for _ in range(workers)]
        self._thread = threading.Thread(target=self._run, name="parse-pool", daemon=True)
        self._thread.start()

    @classmethod
    def from_settings(cls, settings: IngestSettings, **overrides: object) -> ParsePool:
        options: dict[str, object] = {"timeout_s": settings.parse_timeout_s, "memory_mb": settings.parse_memory_mb,
                                      "workers": settings.parse_workers}
        return cls(**{**options, **overrides})  # type: ignore[arg-type]

    # -- public API -------------------------------------------------------------------------------

    def submit(self, path: Path, data: bytes | None = None) -> Future[ParsedDocument]:
        """Queue a file; the future gives the document or raises VraagbaakError with the reason."""
        return self._submit(path, data).future

    def parse(self, path: Path, data: bytes | None = None) -> ParsedDocument:
        """Parse one file and wait for it; raises VraagbaakError like `parse_file`."""
        return self.submit(path, data).result()

    def imap(self, items: Iterable[Path | tuple[Path, bytes | None]], ahead: int | None = None) -> Iterator[ParseOutcome]:
        """Outcomes in the order of `items`, keeping up to `ahead` files (default 2 per worker) queued."""
        ahead = ahead or 2 * self.workers
        window: deque[_Task] = deque()
        for item in items:
            path, data = (item, None) if isinstance(item, Path) else item
            window.append(self._submit(path, data))
            if len(window) >= ahead:
                yield self._wait(window.popleft())
        while window:
            yield self._wait(window.popleft())

    def close(self, wait_for_pending: bool = True) -> None:
        """Finish (or with `wait_for_pending=False`, cancel) queued files, then stop the workers."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self._abort = not wait_for_pending
        self._wake()
        self._thread.join()
        for worker in self._pool:
            self._stop_worker(worker, graceful=wait_for_pending)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.close(wait_for_pending=exc_type is None)

    # -- submitting -------------------------------------------------------------------------------

    def _submit(self, path: Path, data: bytes | None) -> _Task:
        task = _Task(Path(path), data)
        task.future.set_running_or_notify_cancel()
        with self._lock:
            if self._closing:
                raise VraagbaakError(ErrorCode.INTERNAL, "the parse pool is closed")
            if self._broken:
                task.future.set_exception(VraagbaakError(ErrorCode.INTERNAL, self._broken))
                return task
            self._pending.append(task)
        self._wake()
        return task

    @staticmethod
    def _wait(task: _Task) -> ParseOutcome:
        task.future.exception()  # waits; the dispatcher completes every future it was given
        return task.outcome()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:  # closed: the pool is shutting down
            pass

    # -- the dispatcher thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    busy = any(w.task for w in self._pool)
                    if self._closing and (self._abort or not (self._pending or busy)):
                        break
                self._dispatch()
                self._poll()
        except BaseException as exc:  # noqa: BLE001 - never leave callers waiting on futures forever
            log.exception("parse pool stopped")
            self._fail_everything(f"the parse pool stopped: {type(exc).__name__}: {exc}")
            return
        if self._abort:
            self._fail_everything("the parse pool was closed before this file was parsed")

    def _dispatch(self) -> None:
        for worker in self._pool:
            if not worker.ready or worker.task is not None:
                continue
            with self._lock:
                if not self._pending:
                    return
                task = self._pending.popleft()
            try:
                worker.conn.send((task.path, task.data))
            except (OSError, ValueError):  # the worker died while idle: retry the file on a fresh one
                with self._lock:
                    self._pending.appendleft(task)
                self._replace(worker)
                continue
            task.data = None  # the worker has it now
            worker.task = task
            worker.dispatched = time.monotonic()
            worker.deadline = worker.dispatched + self.timeout_s

    def _poll(self) -> None:
        now = time.monotonic()
        deadlines = [w.deadline for w in self._pool if w.task] + [w.started + START_TIMEOUT_S for w in self._pool
                                                                  if not w.ready]
        timeout = max(0.0, min(deadlines) - now) if deadlines else None
        by_conn = {id(w.conn): w for w in self._pool}
        by_sentinel = {w.process.sentinel: w for w in self._pool}
        objects: list[object] = [self._wake_r, *(w.conn for w in self._pool), *by_sentinel]
        ready = wait(objects, timeout)  # type: ignore[arg-type]
        if self._wake_r in ready:
            os.read(self._wake_r, 4096)
        for obj in ready:  # results first: a worker may send its answer and then exit
            if isinstance(obj, Connection):
                self._receive(by_conn[id(obj)])
        for obj in ready:
            if isinstance(obj, int) and obj in by_sentinel:
                worker = by_sentinel[obj]
                if worker in self._pool and not worker.process.is_alive():
                    self._on_exit(worker)
        now = time.monotonic()
        for worker in list(self._pool):
            if worker.task and now >= worker.deadline:
                log.warning("parse timed out", extra=kv(path=str(worker.task.path), timeout_s=self.timeout_s))
                self._finish(worker, error=VraagbaakError(ErrorCode.PARSE_TIMEOUT,
                                                          f"parsing took longer than {self.timeout_s:g} s"))
                self._replace(worker)
            elif not worker.ready and now >= worker.started + START_TIMEOUT_S:
                self._start_failed(worker, f"the parse worker did not start within {START_TIMEOUT_S:g} s")

    def _receive(self, worker: _Worker) -> None:
        if worker not in self._pool:
            return
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(5)
            self._on_exit(worker)
            return
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            self._start_failures = 0
            log.debug("parse worker ready", extra=kv(pid=worker.process.pid,
                                                     seconds=round(time.monotonic() - worker.started, 2)))
        elif kind == "failed":
            self._start_failed(worker, f"the parse worker could not start: {message[1]}")
        elif worker.task is not None:
            seconds, peak, exiting = message[-3:]
            if kind == "ok":
                self._finish(worker, document=message[1], seconds=seconds, peak_mb=peak)
            else:
                self._finish(worker, error=VraagbaakError(ErrorCode(message[1]), message[2]),
                             seconds=seconds, peak_mb=peak)
            if exiting:  # it stops after a MemoryError; no file must be sent to it any more
                self._replace(worker)

    def _on_exit(self, worker: _Worker) -> None:
        """A worker's process ended: tell its file why, then start a fresh one."""
        code = worker.process.exitcode
        if not worker.ready:
            self._start_failed(worker, f"the parse worker exited at start ({_exit_reason(code)})")
            return
        if worker.task is not None:
            if code is not None and code < 0 and -code == signal.SIGKILL:
                reason = f"parsing needed more than {self.memory_mb} MB of memory (the parser was killed)"
            else:
                reason = f"the parser crashed ({_exit_reason(code)})"
            log.warning("parse worker died", extra=kv(path=str(worker.task.path), exitcode=code))
            self._finish(worker, error=VraagbaakError(ErrorCode.PARSE_FAILED, reason))
        self._replace(worker)

    def _finish(self, worker: _Worker, *, document: ParsedDocument | None = None,
                error: VraagbaakError | None = None, seconds: float | None = None, peak_mb: float | None = None) -> None:
        task = worker.task
        if task is None:
            return
        worker.task = None
        task.seconds = seconds if seconds is not None else time.monotonic() - worker.dispatched
        task.peak_mb = peak_mb
        if error is not None:
            task.future.set_exception(error)
        else:
            task.future.set_result(document)  # type: ignore[arg-type]

    # -- workers ----------------------------------------------------------------------------------

    def _start_worker(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_worker_main, name="vraagbaak-parse",
                                        args=(child, self.target, self.preload, self.memory_mb), daemon=True)
        process.start()
        child.close()
        return _Worker(process, parent, time.monotonic())

    def _replace(self, worker: _Worker) -> None:
        self._stop_worker(worker, graceful=False)
        self.restarts += 1
        self._pool[self._pool.index(worker)] = self._start_worker()

    def _start_failed(self, worker: _Worker, reason: str) -> None:
        self._start_failures += 1
        log.error("parse worker failed to start", extra=kv(reason=reason, attempt=self._start_failures))
        if self._start_failures >= MAX_START_FAILURES:
            self._stop_worker(worker, graceful=False)
            self._pool.remove(worker)
            if not self._pool:
                self._fail_everything(reason)
            return
        self._replace(worker)

    def _fail_everything(self, reason: str) -> None:
        with self._lock:
            self._broken = reason
            tasks = [*self._pending, *(w.task for w in self._pool if w.task)]
            self._pending.clear()
        for worker in self._pool:
            worker.task = None
        for task in tasks:
            if task and not task.future.done():
                task.future.set_exception(VraagbaakError(ErrorCode.INTERNAL, reason))

    @staticmethod
    def _stop_worker(worker: _Worker, graceful: bool) -> None:
        if graceful and worker.process.is_alive():
            try:
                worker.conn.send(None)
                worker.process.join(5)
            except (OSError, ValueError):
                pass
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(5)
        worker.conn.close()
        worker.process.close()


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {-code}, {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


# -- inside the worker process ------------------------------------------------------------------

def load_target(target: str) -> Callable[[Path, bytes | None], ParsedDocument]:
    """"package.module:function" → the function."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name or "parse")


def _worker_main(conn: Connection, target: str, preload: tuple[str, ...], memory_mb: int) -> None:
    import resource

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    limit = memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    memory_reason = f"parsing needed more than {memory_mb} MB of memory"
    try:
        parse = load_target(target)
        for module in preload:
            try:
                importlib.import_module(module)
            except ImportError as exc:  # an optional format; the file that needs it will say so
                log.info("preload skipped", extra=kv(module=module, error=str(exc)))
    except MemoryError:
        conn.send(("failed", f"{memory_mb} MB of memory is not enough to load the parsers"))
        return
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready",))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        path, data = request
        _reset_peak_memory()
        started = time.perf_counter()
        recycle = False
        try:
            reply: tuple[object, ...] = ("ok", parse(path, data))
        except VraagbaakError as exc:
            recycle = isinstance(exc.__cause__, MemoryError)
            reply = ("error", ErrorCode.PARSE_FAILED.value, memory_reason) if recycle else \
                ("error", exc.code.value, exc.message)
        except MemoryError:
            recycle = True
            reply = ("error", ErrorCode.PARSE_FAILED.value, memory_reason)
        except Exception as exc:  # noqa: BLE001 - a hook that does not wrap its errors
            reply = ("error", ErrorCode.PARSE_FAILED.value, f"the parser failed: {type(exc).__name__}: {str(exc)[:200]}")
        seconds, peak = time.perf_counter() - started, _peak_memory_mb()
        try:
            conn.send((*reply, seconds, peak, recycle))
        except MemoryError:
            recycle = True
            conn.send(("error", ErrorCode.PARSE_FAILED.value, memory_reason, seconds, peak, recycle))
        except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be pickled
            conn.send(("error", ErrorCode.PARSE_FAILED.value, f"the parse result cannot be passed on: {exc}",
                       seconds, peak, recycle))
        del reply
        if recycle:  # after a MemoryError the interpreter may be in a poor state: start afresh
            return


def _reset_peak_memory() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # resets VmHWM, the peak resident set size
    except OSError:
        pass


def _peak_memory_mb() -> float | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None
