"""Request limits: rate limits per user and per client address on the expensive and sensitive endpoints,
and the largest request body.

Questions (`POST /api/ask`, `POST /ask`, `GET /ask/stream/…`), feedback and the audit exports cost model time
or database reads; sign-in (`POST /login`, the single sign-on callback) is where passwords get guessed. Each
kind of request has its own token buckets: one per signed-in user (the account behind the session or API
token) and one per client address, each holding `limits.per_user` / `limits.per_ip` requests that refill
evenly over `limits.window_s`. Failed sign-ins have a bucket of their own per address
(`limits.sign_in_per_ip`): only a refused sign-in takes from it, so an office behind one address is not held
back for signing in, only for guessing. Over a limit → 429 with `Retry-After` (seconds) and a message — JSON
for the API, the error page or fragment for the browser.

A request body larger than `limits.max_body_kb` gets 413 before it is read (by its Content-Length), or as
soon as a streamed body passes the limit.

The buckets live in this process's memory: several worker processes each keep their own (the effective
limit is the setting times the number of processes), and a restart forgets them. The client address is
`request.client`, which uvicorn sets from `X-Forwarded-For` only when the connection comes from an address in
`--forwarded-allow-ips` (default 127.0.0.1): behind a reverse proxy on another host, name that proxy there,
or every visitor shares the proxy's address and its bucket.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import VraagbaakError
from core.logging import kv
from core.settings import LimitsSettings
from web.auth import resolve_principal
from web.errors import error_response

log = logging.getLogger(__name__)

RULES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(r"/api/ask"), "ask"),
    ("POST", re.compile(r"/ask"), "ask"),
    ("GET", re.compile(r"/ask/stream/[^/]*"), "stream"),
    ("POST", re.compile(r"/api/feedback"), "feedback"),
    ("POST", re.compile(r"/feedback/[^/]*"), "feedback"),
    ("GET", re.compile(r"/compliance/(export|most-cited)\.(csv|json)"), "export"),
    ("GET", re.compile(r"/api/compliance/records"), "export"),
    ("POST", re.compile(r"/login"), "sign_in"),
    ("GET", re.compile(r"/login/sso/callback"), "sign_in"),
)
"""(method, path, kind) of every limited endpoint; anything else passes untouched."""
SIGN_IN_REFUSED = frozenset({400, 401, 403})
"""Statuses of a refused sign-in (wrong password, a forged or stale single sign-on answer, no CSRF token)."""
MAX_KEYS = 50_000
"""Buckets kept before idle (full again) ones are dropped; bounds memory under many addresses."""


def install_limits(app: FastAPI, settings: LimitsSettings) -> None:
    """Add the rate limits and the body size limit to `app` (the body limit is checked first)."""
    app.add_middleware(RateLimits, settings=settings)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_kb * 1024)


def kind_of(method: str, path: str) -> str | None:
    """Which limited kind of request this is, or None."""
    for rule_method, pattern, kind in RULES:
        if method == rule_method and pattern.fullmatch(path):
            return kind
    return None


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """Token buckets by key: `capacity` requests at once, refilled at `capacity / window_s` per second.
    Thread-safe; `clock` is a monotonic clock in seconds."""

    def __init__(self, capacity: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.rate = capacity / window_s
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def wait(self, key: str) -> float:
        """Seconds until `key` may make one more request (0: now)."""
        with self._lock:
            bucket = self._refilled(key)
            return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self.rate

    def take(self, key: str) -> None:
        with self._lock:
            bucket = self._refilled(key)
            bucket.tokens = max(0.0, bucket.tokens - 1)
            if len(self._buckets) > MAX_KEYS:
                self._prune()

    def _refilled(self, key: str) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.capacity), now)
        else:
            bucket.tokens = min(float(self.capacity), bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
        return bucket

    def _prune(self) -> None:
        now = self.clock()
        full = [key for key, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate >= self.capacity]
        for key in full:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


class RateLimits:
    """ASGI middleware that holds back requests over the limits in `LimitsSettings`."""

    def __init__(self, app: ASGIApp, settings: LimitsSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.settings = settings
        window = settings.window_s

        def buckets(capacity: int) -> TokenBuckets | None:
            return TokenBuckets(capacity, window, clock) if capacity > 0 else None

        self.per_user = buckets(settings.per_user)
        self.per_ip = buckets(settings.per_ip)
        self.sign_in = buckets(settings.sign_in_per_ip)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = kind_of(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if kind is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        address = request.client.host if request.client else "unknown"
        held: list[tuple[TokenBuckets, str, str]] = []  # (buckets, key, what) this request takes from
        if self.per_ip is not None:
            held.append((self.per_ip, f"{kind}:{address}", "from this address"))
        if kind == "sign_in":
            if self.sign_in is not None:
                wait = self.sign_in.wait(address)
                if wait > 0:
                    await self._refuse(request, scope, receive, send, wait, kind, "failed sign-ins from this address",
                                       self.settings.sign_in_per_ip)
                    return
        elif self.per_user is not None:
            user = await run_in_threadpool(_user_of, request)
            if user is not None:
                held.append((self.per_user, f"{kind}:{user}", "for your account"))
        for buckets, key, what in held:
            wait = buckets.wait(key)
            if wait > 0:
                await self._refuse(request, scope, receive, send, wait, kind, f"requests {what}", buckets.capacity)
                return
        for buckets, key, _ in held:
            buckets.take(key)
        if kind != "sign_in" or self.sign_in is None:
            await self.app(scope, receive, send)
            return

        sign_in = self.sign_in

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in SIGN_IN_REFUSED:
                sign_in.take(address)
            await send(message)

        await self.app(scope, receive, watch)

    async def _refuse(self, request: Request, scope: Scope, receive: Receive, send: Send, wait: float, kind: str,
                      what: str, limit: int) -> None:
        seconds = max(1, math.ceil(wait))
        log.info("rate limited", extra=kv(path=scope["path"], kind=kind, retry_after=seconds))
        message = (f"Too many {what}: at most {limit} per {_window(self.settings.window_s)}. "
                   f"Try again in {seconds} s.")
        response = error_response(request, 429, "rate_limited", message, headers={"Retry-After": str(seconds)})
        await response(scope, receive, send)


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` (0 = no limit) gets 413 with a clear message."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.max_bytes:
            await self.app(scope, receive, send)
            return
        message = f"The request is too large: at most {self.max_bytes // 1024} KB."
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            response = error_response(Request(scope), 413, "request_too_large", message)
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > self.max_bytes:  # a streamed body: the route's reading stops with a 413
                    raise HTTPException(413, message)
            return event

        await self.app(scope, limited, send)


def _user_of(request: Request) -> str | None:
    """The signed-in account making the request (not the anonymous visitor), or None."""
    try:
        principal = resolve_principal(request)
    except VraagbaakError:  # an unknown token: the route answers 401; only the address counts here
        return None
    if principal is None or principal.anonymous:
        return None
    return principal.user_id


def _window(seconds: float) -> str:
    if seconds == 60:
        return "minute"
    return f"{seconds:g} s"
