"""Helpers for tests of the real app over HTTP: serve it on loopback, make accounts, sign in."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from core.accounts import Accounts
from core.db import Database

PASSWORD = "correct horse battery staple"
CSRF_IN_PAGE = re.compile(r'name="csrf_token" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(app: FastAPI, *, before_start: Callable[[], None] | None = None, **options: Any) -> Iterator[str]:
    """Run the app under uvicorn on a free loopback port for the duration of the block. `options` go to
    uvicorn's Config (e.g. `access_log=True`, `forwarded_allow_ips`); `before_start` runs after uvicorn has
    set up its loggers and before the app starts (to capture its logs)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **{"log_level": "warning", **options}))
    if before_start is not None:
        before_start()
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def make_user(database_url: str, username: str, roles: tuple[str, ...] = ("employee",),
              groups: tuple[str, ...] = (), password: str = PASSWORD) -> str:
    """Create a local account in the app's database (the app may be running); returns its user id."""
    database = Database.open(database_url)
    try:
        accounts = Accounts(database)
        existing = accounts.by_username(username)
        if existing is not None:
            return existing.user_id
        return accounts.create_user(username, password, roles=roles, groups=groups).user_id
    finally:
        database.close()


def api_token(database_url: str, username: str) -> str:
    database = Database.open(database_url)
    try:
        accounts = Accounts(database)
        row = accounts.by_username(username)
        assert row is not None
        return accounts.create_token(row.user_id, "test")[1]
    finally:
        database.close()


def sign_in(client: httpx.Client, username: str, password: str = PASSWORD) -> str:
    """Sign in through the real form (CSRF token from the page); the client keeps the session cookie and
    sends the session's CSRF token as a header from now on. Returns that token."""
    form = client.get("/login")
    assert form.status_code == 200, form.text
    token = CSRF_IN_PAGE.search(form.text).group(1)  # type: ignore[union-attr]
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token,
                                           "next": "/"})
    assert response.status_code == 303, response.text
    page = client.get("/")
    csrf = CSRF_IN_PAGE.search(page.text).group(1)  # type: ignore[union-attr]
    client.headers["X-CSRF-Token"] = csrf
    return csrf


def app_routes(app: object, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route the app serves, through included routers and their prefixes."""
    for route in app.routes if hasattr(app, "routes") else app:  # type: ignore[attr-defined]
        if hasattr(route, "original_router"):
            yield from app_routes(route.original_router.routes, prefix + (route.include_context.prefix or ""))
        elif hasattr(route, "methods") and hasattr(route, "path"):
            for method in route.methods:
                yield method, prefix + route.path
