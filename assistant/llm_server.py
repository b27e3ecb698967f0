"""A local OpenAI-compatible LLM server for sites without one: llama.cpp's own server, run in this
process through the `xllamacpp` bindings (prebuilt wheels, no compiler, no separate binary).

    with LlamaServer(gguf_path, port=8080) as server:
        ...  # LLM_BASE_URL=server.base_url  (http://127.0.0.1:8080/v1)

xllamacpp's API as used here: `xllamacpp.CommonParams()` holds llama.cpp's server options
(`model.path`, `hostnames`, `port`, `n_ctx`, `n_parallel`, `cpuparams.n_threads`, ...);
`xllamacpp.Server(params)` loads the model and starts the HTTP server (blocking until both are
done; RuntimeError when either fails); `Server.listening_address` is its "http://host:port"; the
server stops when the `Server` object is deallocated (there is no stop method).
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from core.errors import ErrorCode, VraagbaakError
from core.logging import kv

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_CTX = 4096
"""Tokens of context: five passages of ~180 words, the prompt and a 400-token answer fit."""
_GGUF_MAGIC = b"GGUF"
_PROMPT_CACHE_MIB = 512  # llama.cpp keeps up to 8 GiB of cached prompts in RAM by default


def default_threads() -> int:
    """Threads for generation: half the CPU cores this process may use, 1 to 8.

    llama.cpp's threads spin and wait for each other at every layer; on a machine that also runs
    the web app and the embedding model, more threads than free cores make it many times slower
    (measured: SmolLM2 on 2 busy cores, 85 tokens/s with 1 thread, 2.5 with 2).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(8, cores // 2))


class LLMServerError(VraagbaakError):
    """The local LLM server could not start (missing package, bad model file, port in use, too slow)."""

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(ErrorCode.LLM_UNAVAILABLE, message, **context)


class LlamaServer:
    """llama.cpp's OpenAI-compatible server on one GGUF model, started and stopped from Python.

    `port=0` lets the system pick a free port (see `address` after `start()`). `threads` defaults
    to `default_threads()`. `api_key`, when given, is required from clients (Bearer token).
    `startup_timeout_s` bounds loading the model until /health and the task loop (/slots) answer.

    `cache_prompt` (off by default) lets a request reuse the cached start of an earlier prompt. That
    saves prompt processing for repeated prompts but makes the answers depend on what was asked before:
    the reused and the freshly computed part are evaluated in other batches, so the same check prompt
    gave P(YES) 0.9373 or 0.9294 depending on the order (docs/assistant.md, "Reproducible judgements").
    Off, the same prompt always gets the same token probabilities, so a judgement in the answer record
    can be reproduced.
    """

    def __init__(self, model_path: str | Path, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 threads: int | None = None, ctx_size: int = DEFAULT_CTX, parallel: int = 1,
                 alias: str | None = None, api_key: str | None = None, startup_timeout_s: float = 120.0,
                 verbose: bool = False, cache_prompt: bool = False) -> None:
        if threads is not None and threads < 1:
            raise LLMServerError(f"threads must be at least 1, not {threads}.")
        if not 0 <= port <= 65535:
            raise LLMServerError(f"Port {port} is not a TCP port.")
        self.model_path = Path(model_path).expanduser()
        self.host = host
        self.port = port
        self.threads = threads or default_threads()
        self.ctx_size = ctx_size
        self.parallel = parallel
        self.alias = alias or self.model_path.stem
        self.api_key = api_key
        self.startup_timeout_s = startup_timeout_s
        self.verbose = verbose
        self.cache_prompt = cache_prompt
        self._server: Any = None
        self._address: str | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def address(self) -> str:
        """http://host:port of the running server."""
        if self._address is None:
            raise LLMServerError("The LLM server is not running.")
        return self._address

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible API root (what LLM_BASE_URL should be): http://host:port/v1."""
        return f"{self.address}/v1"

    def start(self) -> str:
        """Load the model, start serving and wait until /health answers ok; returns `base_url`."""
        with self._lock:
            if self._server is not None:
                return self.base_url
            xlc = _import_xllamacpp()
            self._check_model_file()
            if self.port:
                self._check_port_free()
            deadline = time.monotonic() + self.startup_timeout_s
            started = time.monotonic()
            server = self._construct(xlc, deadline)
            address = str(server.listening_address).rstrip("/")
            try:
                self._wait_healthy(address, deadline)
            except BaseException:
                del server
                gc.collect()
                raise
            self._server, self._address = server, address
        log.info("llm server started", extra=kv(model=str(self.model_path), address=address, threads=self.threads,
                                                 ctx=self.ctx_size, seconds=round(time.monotonic() - started, 1)))
        return self.base_url

    def stop(self) -> None:
        """Stop serving and free the model. Safe to call twice.

        Returns at once when no request is being answered. A request in progress holds it up until
        its client disconnects: xllamacpp's destructor waits for the HTTP handlers, which wait for
        their clients, and it keeps the GIL meanwhile, so a client in this same process can never
        disconnect (deadlock). Stop only when this process's own requests are done; the
        `llm serve` command bounds the wait and exits hard when it runs out.
        """
        with self._lock:
            server, self._server, self._address = self._server, None, None
            if server is None:
                return
            del server  # the last reference: xllamacpp stops the HTTP server and frees the model
            gc.collect()
        log.info("llm server stopped", extra=kv(model=str(self.model_path)))

    def __enter__(self) -> LlamaServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ helpers

    def params(self, xlc: Any) -> Any:
        """The `xllamacpp.CommonParams` this server is started with."""
        params = xlc.CommonParams()
        params.model.path = str(self.model_path)
        params.model_alias = {self.alias}
        params.hostnames = [self.host]
        params.port = self.port
        params.n_ctx = self.ctx_size
        params.n_parallel = self.parallel
        for cpu in (params.cpuparams, params.cpuparams_batch):
            cpu.n_threads = self.threads
            cpu.poll = 0  # sleep, not spin, while waiting for work: the machine is shared
        params.warmup = False  # a warm-up run only delays the first /health
        params.endpoint_slots = True  # start() waits for the task loop through /slots
        params.offline = True  # never reach for a model hub
        params.ui = False  # API only, no web chat UI
        params.cache_ram_mib = _PROMPT_CACHE_MIB
        params.cache_prompt = self.cache_prompt  # the default of requests that do not say (see the class)
        params.verbosity = 3 if self.verbose else 0
        if self.api_key:
            params.api_keys = [self.api_key]
        return params

    def _construct(self, xlc: Any, deadline: float) -> Any:
        """xllamacpp.Server(params), in a thread so that a model that loads too slowly times out."""
        params = self.params(xlc)
        box: dict[str, Any] = {}
        handover = threading.Lock()

        def load() -> None:
            try:
                server = xlc.Server(params)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                box["error"] = exc
                return
            with handover:
                if box.get("abandoned"):  # start() gave up waiting: stop it again at once
                    del server
                    return
                box["server"] = server

        thread = threading.Thread(target=load, name="llama-server-load", daemon=True)
        thread.start()
        thread.join(max(0.0, deadline - time.monotonic()))
        with handover:
            box["abandoned"] = "server" not in box and "error" not in box
        if box["abandoned"]:
            raise LLMServerError(
                f"The LLM server did not load {self.model_path.name} within {self.startup_timeout_s:g} s.",
                model=str(self.model_path))
        if "error" in box:
            where = f"{self.host}:{self.port}" if self.port else self.host
            raise LLMServerError(
                f"llama.cpp could not start on {where} with {self.model_path} ({box['error']}). "
                "Is it a chat model in GGUF format that this llama.cpp supports, is the address free, "
                "and is there enough memory?", model=str(self.model_path)) from box["error"]
        return box.pop("server")

    def _check_model_file(self) -> None:
        try:
            with open(self.model_path, "rb") as handle:
                magic = handle.read(len(_GGUF_MAGIC))
        except OSError as exc:
            raise LLMServerError(f"The model file {self.model_path} cannot be read: {exc.strerror or exc}.",
                                 model=str(self.model_path)) from exc
        if magic != _GGUF_MAGIC:
            raise LLMServerError(f"{self.model_path} is not a GGUF model file.", model=str(self.model_path))

    def _check_port_free(self) -> None:
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise LLMServerError(f"Cannot listen on {self.host}: {exc}.") from exc
        family, kind, proto, _, sockaddr = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                raise LLMServerError(f"Cannot listen on {self.host}:{self.port}: {exc.strerror or exc} "
                                     "(is another server running there?).", port=self.port) from exc

    def _wait_healthy(self, address: str, deadline: float) -> None:
        """Poll until the server is ready *and its task loop runs*, or time out.

        /health says ok once the model is loaded, a moment before llama.cpp's task loop starts. A stop in
        that moment hangs for ever: the loop's start clears the stop request it has not seen yet
        (`server_queue::start_loop` sets `running = true`), and xllamacpp's destructor waits for the loop.
        Under load that moment was long enough to hang a test. /slots is answered by the task loop itself,
        so once it answers, stopping is safe."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        last = "no answer"
        while True:
            path = "/health"
            try:
                with opener.open(urllib.request.Request(address + path, headers=headers), timeout=2.0) as response:
                    body = response.read()
                if json.loads(body or b"{}").get("status") == "ok":
                    path = "/slots"
                    with opener.open(urllib.request.Request(address + path, headers=headers), timeout=30.0) as response:
                        response.read()
                    return  # the task loop answered
                last = f"{path}: {body[:200]!r}"
            except urllib.error.HTTPError as exc:
                last = f"{path}: HTTP {exc.code}"  # 503 while the model is loading
            except (OSError, ValueError) as exc:
                last = f"{path}: {exc}"
            if time.monotonic() >= deadline:
                raise LLMServerError(f"The LLM server at {address} did not become ready within "
                                     f"{self.startup_timeout_s:g} s (last: {last}).", address=address)
            time.sleep(0.2)


def _import_xllamacpp() -> Any:
    with contextlib.suppress(ImportError):
        import xllamacpp

        return xllamacpp
    raise LLMServerError("The local LLM server needs the xllamacpp package: "
                         "pip install -c constraints.txt xllamacpp==2026.10.11549")
