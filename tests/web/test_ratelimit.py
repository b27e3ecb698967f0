"""Rate limits through the real app on loopback: the request over a limit gets 429 with `Retry-After` and a
clear message (JSON for the API, the error page or fragment for the browser), another user or address is
not affected, the limit recovers after its window, and guessing passwords from one address is held back.

The test server trusts `X-Forwarded-For` from loopback (uvicorn's default `--forwarded-allow-ips`), so the
tests play several client addresses with that header; one test serves the app with no trusted proxy and
shows that the header then changes nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.embedding import Embedder
from core.settings import LimitsSettings, Settings
from core.store import QdrantStore
from ingest.pipeline import Ingestor
from tests.web.support import CSRF_IN_PAGE, PASSWORD, api_token, make_user, serve, sign_in
from web.app import create_app
from web.ratelimit import TokenBuckets, kind_of

QUESTION = "Hoeveel vakantiedagen heb ik?"
WINDOW_S = 6.0


def _settings(settings: Settings, **limits: Any) -> Settings:
    values = {"window_s": WINDOW_S, "per_user": 0, "per_ip": 0, "sign_in_per_ip": 0, **limits}
    return settings.model_copy(update={"limits": LimitsSettings(**values)})


@pytest.fixture
def corpus(store: QdrantStore, embedder: Embedder, settings: Settings, tmp_path: Path) -> QdrantStore:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "verlof.md").write_text("# Verlof\n\nEen medewerker met een volledig dienstverband heeft recht op "
                                      "27 vakantiedagen per jaar.\n")
    assert not Ingestor(store, embedder, settings.ingest).ingest_folder(folder, "docs").failed
    return store


@contextmanager
def _site(settings: Settings, store: QdrantStore, embedder: Embedder) -> Iterator[str]:
    make_user(settings.database_url, "anna")
    make_user(settings.database_url, "bram")
    with serve(create_app(settings, store=store, embedder=embedder)) as url:
        yield url


def _ask(url: str, token: str, address: str = "192.0.2.1") -> httpx.Response:
    return httpx.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=60,
                      headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": address})


def _retry_after(response: httpx.Response, window: float = WINDOW_S) -> int:
    assert response.status_code == 429, response.text
    seconds = int(response.headers["retry-after"])
    assert 1 <= seconds <= window
    return seconds


def test_the_question_over_the_users_limit_is_429_another_user_is_not_held_and_it_recovers(
        settings: Settings, corpus: QdrantStore, embedder: Embedder) -> None:
    window = 12.0  # one question back every 4 s: far more than a question takes, even on a busy machine
    settings = _settings(settings, per_user=3, window_s=window)
    with _site(settings, corpus, embedder) as url:
        anna, bram = api_token(settings.database_url, "anna"), api_token(settings.database_url, "bram")
        second = api_token(settings.database_url, "anna")
        for _ in range(3):
            assert _ask(url, anna).status_code == 200
        over = _ask(url, anna)
        assert _ask(url, second).status_code == 429  # a second token of the same account shares its limit
        seconds = _retry_after(over, window)
        error = over.json()["error"]
        assert error["code"] == "rate_limited"
        assert "at most 3 per 12 s" in error["message"] and "for your account" in error["message"]
        assert "27 vakantiedagen" not in over.text  # held back before any work was done
        assert _ask(url, bram).status_code == 200  # another user (from the same address) is not affected
        # Retry-After is honest: after it one question is allowed again, not more
        time.sleep(seconds + 0.1)
        assert _ask(url, anna).status_code == 200
        assert _ask(url, anna).status_code == 429
        # after a whole window the full allowance is back
        time.sleep(window + 0.1)
        assert [_ask(url, anna).status_code for _ in range(3)] == [200, 200, 200]


def test_the_browser_gets_the_error_page_or_fragment_and_the_answer_stream_is_limited_too(
        settings: Settings, corpus: QdrantStore, embedder: Embedder) -> None:
    settings = _settings(settings, per_user=1)
    with _site(settings, corpus, embedder) as url, httpx.Client(base_url=url, timeout=60) as browser:
        sign_in(browser, "anna")
        started = browser.post("/ask", data={"question": QUESTION}, headers={"HX-Request": "true"})
        assert started.status_code == 200 and "sse-connect" in started.text
        stream_path = started.text.split('sse-connect="', 1)[1].split('"', 1)[0]
        with browser.stream("GET", stream_path) as events:
            assert "event: answer" in "".join(events.iter_text())
        page = browser.post("/ask", data={"question": QUESTION})
        _retry_after(page)
        assert page.headers["content-type"].startswith("text/html")
        assert "<html" in page.text and "Too many requests for your account" in page.text
        assert page.headers["content-security-policy"]  # the security headers are on refusals too
        fragment = browser.post("/ask", data={"question": QUESTION}, headers={"HX-Request": "true"})
        _retry_after(fragment)
        assert "<html" not in fragment.text and 'data-status="429"' in fragment.text
        # the stream endpoint has a bucket of its own (one stream per posted question in normal use): spent
        _retry_after(browser.get("/ask/stream/" + "x" * 24))
        # feedback counts apart from questions: it is not held back by the questions' limit
        assert browser.post("/api/feedback", json={"record_id": "0" * 32, "rating": 1}).status_code == 404


def test_one_address_is_held_back_for_every_user_and_another_address_is_not(
        settings: Settings, corpus: QdrantStore, embedder: Embedder) -> None:
    settings = _settings(settings, per_ip=2, window_s=60.0)
    with _site(settings, corpus, embedder) as url:
        anna, bram = api_token(settings.database_url, "anna"), api_token(settings.database_url, "bram")
        assert _ask(url, anna, "198.51.100.7").status_code == 200
        assert _ask(url, bram, "198.51.100.7").status_code == 200
        over = _ask(url, bram, "198.51.100.7")
        _retry_after(over, 60.0)
        assert "from this address" in over.json()["error"]["message"]
        assert _ask(url, anna, "198.51.100.8").status_code == 200
        # endpoints that are not limited stay open to the held-back address
        me = httpx.get(f"{url}/api/me", headers={"Authorization": f"Bearer {anna}", "X-Forwarded-For": "198.51.100.7"})
        assert me.status_code == 200


def _login(url: str, username: str, password: str, address: str) -> httpx.Response:
    with httpx.Client(base_url=url, headers={"X-Forwarded-For": address}) as client:
        token = CSRF_IN_PAGE.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
        return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def test_password_guessing_from_one_address_is_held_back_and_good_sign_ins_do_not_count(
        settings: Settings, corpus: QdrantStore, embedder: Embedder) -> None:
    window = 15.0  # one refused sign-in forgotten every 5 s
    settings = _settings(settings, sign_in_per_ip=3, window_s=window)
    with _site(settings, corpus, embedder) as url:
        for _ in range(5):  # an office behind one address signing in is never held back
            assert _login(url, "anna", PASSWORD, "203.0.113.5").status_code == 303
        guesses = [_login(url, "bram", f"guess number {i}", "203.0.113.9") for i in range(3)]
        assert [g.status_code for g in guesses] == [401, 401, 401]
        held = _login(url, "bram", PASSWORD, "203.0.113.9")  # even the right password waits now
        _retry_after(held, window)
        assert "Too many failed sign-ins from this address" in held.text and "vb_session" not in held.cookies
        # the guesser's address does not lock out the account's owner elsewhere
        assert _login(url, "bram", PASSWORD, "203.0.113.10").status_code == 303
        time.sleep(int(held.headers["retry-after"]) + 0.2)  # one refused sign-in's worth of the window
        assert _login(url, "bram", PASSWORD, "203.0.113.9").status_code == 303


def test_a_forged_forwarded_for_header_from_an_untrusted_client_does_not_escape_the_limit(
        settings: Settings, corpus: QdrantStore, embedder: Embedder) -> None:
    settings = _settings(settings, sign_in_per_ip=2, window_s=60.0)
    make_user(settings.database_url, "bram")
    with serve(create_app(settings, store=corpus, embedder=embedder), forwarded_allow_ips="192.0.2.254") as url:
        statuses = [_login(url, "bram", "wrong password!", f"203.0.113.{i}").status_code for i in range(3)]
    assert statuses == [401, 401, 429]


def test_limits_set_to_zero_are_off(settings: Settings, corpus: QdrantStore, embedder: Embedder) -> None:
    with _site(_settings(settings), corpus, embedder) as url:
        token = api_token(settings.database_url, "anna")
        feedback = [httpx.post(f"{url}/api/feedback", json={"record_id": "0" * 32, "rating": 1},
                               headers={"Authorization": f"Bearer {token}"}).status_code for _ in range(40)]
        assert set(feedback) == {404}
        assert {_login(url, "anna", "wrong password!", "192.0.2.3").status_code for _ in range(12)} == {401}


def test_the_limited_endpoints_are_the_expensive_and_sensitive_ones() -> None:
    assert kind_of("POST", "/api/ask") == kind_of("POST", "/ask") == "ask"
    assert kind_of("GET", "/ask/stream/abc") == "stream"
    assert kind_of("POST", "/api/feedback") == kind_of("POST", "/feedback/" + "a" * 32) == "feedback"
    assert kind_of("GET", "/compliance/export.csv") == kind_of("GET", "/api/compliance/records") == "export"
    assert kind_of("POST", "/login") == kind_of("GET", "/login/sso/callback") == "sign_in"
    assert kind_of("GET", "/login") is kind_of("GET", "/") is kind_of("GET", "/api/me") is None
    assert kind_of("GET", "/api/ask") is None  # only the method that does the work


def test_token_buckets_refill_evenly_and_forget_idle_keys() -> None:
    now = [0.0]
    buckets = TokenBuckets(4, 60.0, clock=lambda: now[0])
    for _ in range(4):
        assert buckets.wait("a") == 0
        buckets.take("a")
    assert buckets.wait("a") == pytest.approx(15.0)  # one of four per minute comes back every 15 s
    assert buckets.wait("b") == 0
    now[0] = 15.0
    assert buckets.wait("a") == 0
    buckets.take("a")
    assert buckets.wait("a") == pytest.approx(15.0)
    now[0] = 1000.0
    buckets._prune()
    assert len(buckets) == 0
