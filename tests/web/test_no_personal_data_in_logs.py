"""No personal data in the application's logs. A realistic session runs through the real app under
uvicorn (its access log on) with the app's own logging at DEBUG, every record of every logger captured:
a failed sign-in, a sign-in with an e-mail address as username, questions with a distinctive phrase
(form post, streamed answer, JSON API), feedback with comments, an API token made on the account page, a
bad request, a compliance search for the phrase, sign-out. No username, e-mail address, password,
question text, comment, session or API token, CSRF token or client address appears in any message or
its key=value context; and no URL the app sends a browser to carries the question."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from core.accounts import Accounts
from core.db import Database
from core.embedding import Embedder
from core.logging import configure_logging
from core.settings import Settings
from core.store import QdrantStore
from tests.web.support import PASSWORD, make_user, serve, sign_in
from web.app import create_app
from web.privacy import CLIENT, QUERY

EVA = "eva.jansen@example.org"
EVA_MAIL = "e.jansen@mail.example"
WRONG_PASSWORD = "Tulpenbol-Wachtwoord-99"
PHRASE = "Zonnebloem-42"
QUESTIONS = [f"Hoeveel vakantiedagen heb ik, vraagt {PHRASE}?", f"Hoe meld ik me ziek als {PHRASE}?",
             f"Mag {PHRASE} een olifant meenemen naar kantoor?"]
COMMENTS = ["Klaproos-17 vindt dit onduidelijk", "Korenbloem-88 mist de cao"]
CSRF_IN_PAGE = re.compile(r'name="csrf_token" value="([^"]+)"')
STREAM_URL = re.compile(r'sse-connect="(/ask/stream/[^"]+)"')
RECORD = re.compile(r'action="/feedback/([0-9a-f]{32})"')
NEW_TOKEN = re.compile(r"vbk_[A-Za-z0-9_-]{20,}")
UVICORN_LOGGERS = ("uvicorn", "uvicorn.access", "uvicorn.error")
"""uvicorn's own loggers do not propagate to the root: the capture is put on them too."""


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The app's logging at DEBUG (as `VRAAGBAAK_LOG_LEVEL=DEBUG` sets it), with pytest's capture on the
    root and on uvicorn's loggers; everything is put back afterwards."""
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    touched = [logging.getLogger(name) for name in (*UVICORN_LOGGERS, "sqlalchemy", "sqlalchemy.engine", "httpx",
                                                     "httpcore", "multipart", "python_multipart")]
    saved = [(lg, lg.level, lg.handlers[:], lg.propagate, lg.filters[:]) for lg in touched]
    yield caplog
    root.handlers[:], _ = saved_root
    root.setLevel(saved_root[1])
    for logger, level, handlers, propagate, filters in saved:
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate, logger.filters[:] = propagate, filters


def attach(caplog: pytest.LogCaptureFixture) -> None:
    configure_logging("DEBUG")
    caplog.handler.setLevel(logging.DEBUG)
    for name in ("", "uvicorn", "uvicorn.access"):  # uvicorn.error propagates to uvicorn
        logger = logging.getLogger(name)
        if caplog.handler not in logger.handlers:
            logger.addHandler(caplog.handler)


def text_of(record: logging.LogRecord) -> str:
    """Everything a log record carries: message, arguments, key=value context, any extra, the traceback."""
    extras = {k: v for k, v in vars(record).items() if k not in ("exc_info", "msg", "args")}
    trace = logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
    return f"{record.getMessage()} {extras!r} {trace}"


def test_a_realistic_session_leaves_no_personal_data_in_the_logs(
        captured: pytest.LogCaptureFixture, base_settings: Settings, demo_store: QdrantStore, embedder: Embedder,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    data = tmp_path_factory.mktemp("logs-privacy")
    settings = base_settings.model_copy(update={
        "data_dir": data, "log_level": "DEBUG",
        "embedding": base_settings.embedding.model_copy(update={"models_dir": base_settings.models_dir}),
        "web": base_settings.web.model_copy(update={"admin_token": SecretStr("admin-token-Pioenroos-55")}),
    })
    database = Database.open(settings.database_url)
    Accounts(database).create_user(EVA, PASSWORD, email=EVA_MAIL)
    database.close()
    make_user(settings.database_url, "carla", roles=("compliance",))
    secrets = [EVA, "eva.jansen", EVA_MAIL, PASSWORD, WRONG_PASSWORD, PHRASE, *COMMENTS, "Pioenroos-55"]
    urls: list[str] = []

    def seen(response: httpx.Response) -> None:
        urls.append(str(response.request.url))
        if "location" in response.headers:
            urls.append(response.headers["location"])

    app = create_app(settings, store=demo_store, embedder=embedder)
    with serve(app, log_level="debug", access_log=True, before_start=lambda: attach(captured)) as base:
        with httpx.Client(base_url=base, timeout=120, event_hooks={"response": [seen]}) as browser, \
                httpx.Client(base_url=base, timeout=120, event_hooks={"response": [seen]}) as carla:
            # a failed sign-in, then the real one
            form = browser.get("/login")
            failed = browser.post("/login", data={"username": EVA, "password": WRONG_PASSWORD, "next": "/",
                                                  "csrf_token": CSRF_IN_PAGE.search(form.text).group(1)})  # type: ignore[union-attr]
            assert failed.status_code in (400, 401) and "vb_session" not in failed.cookies
            csrf = sign_in(browser, EVA)
            secrets += [csrf, browser.cookies["vb_session"]]
            # a question as a plain form post, one streamed as htmx does, feedback with a comment
            page = browser.post("/ask", data={"question": QUESTIONS[0], "thread_id": ""})
            assert page.status_code == 200
            record_id = RECORD.search(page.text).group(1)  # type: ignore[union-attr]
            assert browser.post(f"/feedback/{record_id}", data={"rating": "-1", "comment": COMMENTS[0]}).status_code == 200
            started = browser.post("/ask", data={"question": QUESTIONS[1], "thread_id": ""}, headers={"HX-Request": "true"})
            stream = STREAM_URL.search(started.text).group(1)  # type: ignore[union-attr]
            with browser.stream("GET", stream, headers={"Accept": "text/event-stream"}) as events:
                assert "event: done" in "\n".join(events.iter_lines())
            # an API token made on the account page, used on the JSON API with a question and feedback
            account = browser.post("/account/tokens", data={"name": "laptop"})
            token = NEW_TOKEN.search(account.text).group(0)  # type: ignore[union-attr]
            secrets.append(token)
            api = {"Authorization": f"Bearer {token}"}
            answered = httpx.post(f"{base}/api/ask", json={"question": QUESTIONS[2]}, headers=api, timeout=120)
            assert answered.status_code == 200
            assert httpx.post(f"{base}/api/feedback", headers=api, timeout=30, json={
                "record_id": answered.json()["record_id"], "rating": -1, "comment": COMMENTS[1]}).status_code == 200
            assert httpx.post(f"{base}/api/ask", json={"question": ""}, headers=api, timeout=30).status_code in (400, 422)
            assert httpx.get(f"{base}/api/me", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
            # compliance searches for the phrase: the question is in that URL's query string
            secrets.append(sign_in(carla, "carla"))
            secrets.append(carla.cookies["vb_session"])
            assert carla.get("/compliance", params={"q": PHRASE}).status_code == 200
            assert httpx.get(f"{base}/api/admin/sources", headers={"Authorization": "Bearer admin-token-Pioenroos-55"},
                             timeout=30).status_code == 200
            assert browser.post("/logout").status_code == 303

    records = captured.records
    access = [r for r in records if r.name == "uvicorn.access"]
    assert len(access) >= 10 and any(r.name.startswith(("web.", "assistant.")) for r in records)
    assert any(r.getMessage() == "request failed" for r in records)  # the error paths were logged
    assert all(isinstance(r.args, tuple) and r.args[0] == CLIENT for r in access)  # no client address
    assert any(QUERY in r.getMessage() for r in access)  # the compliance search, without its query
    leaks = [(secret, r.name, text_of(r)[:300]) for r in records for secret in secrets
             if secret.lower() in text_of(r).lower()]
    assert not leaks, leaks
    # no URL the app sends a browser to carries the question (the compliance search is the reader's own)
    assert not [u for u in urls if PHRASE in u and not u.startswith(f"{base}/compliance?")]
    # libraries that would log SQL parameters, result rows or HTTP headers stay quiet at the app's DEBUG
    for library in ("sqlalchemy.engine", "httpcore", "httpx"):
        assert logging.getLogger(library).getEffectiveLevel() >= logging.WARNING, library
