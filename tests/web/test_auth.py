"""Sign-in, sessions, API tokens, CSRF and roles — through the real app over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from core.accounts import Accounts
from core.db import Database, SessionRow, UserRow
from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from tests.web.support import CSRF_IN_PAGE, PASSWORD, api_token, make_user, serve, sign_in
from web.app import create_app


@pytest.fixture
def app_url(settings: Settings, store: QdrantStore, embedder: Embedder) -> Iterator[str]:
    make_user(settings.database_url, "emma")
    make_user(settings.database_url, "carla", roles=("employee", "compliance"))
    with serve(create_app(settings, store=store, embedder=embedder)) as url:
        yield url


def test_pages_need_sign_in_and_the_api_answers_401(app_url: str) -> None:
    with httpx.Client(base_url=app_url) as client:
        page = client.get("/documents/abc?chunk=1")
        assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fdocuments%2Fabc%3Fchunk%3D1"
        htmx = client.get("/", headers={"HX-Request": "true"})
        assert htmx.headers.get("hx-redirect", "").startswith("/login")
        api = client.post("/api/ask", json={"question": "Hoeveel vakantiedagen heb ik?"})
        assert api.status_code == 401 and api.json()["error"]["code"] == "unauthorized"
        assert client.get("/api/me", headers={"Authorization": "Bearer vbk_made-up"}).status_code == 401


def test_sign_in_sets_a_safe_session_cookie_and_signs_out(app_url: str, settings: Settings) -> None:
    with httpx.Client(base_url=app_url) as client:
        sign_in(client, "emma")
        cookie = next(c for c in client.cookies.jar if c.name == "vb_session")
        assert cookie.has_nonstandard_attr("HttpOnly") and not cookie.secure  # plain http on loopback
        raw = client.cookies.get("vb_session")
        me = client.get("/api/me").json()
        assert me["username"] == "emma" and me["roles"] == ["employee"] and me["groups"] == []
        database = Database.open(settings.database_url)
        with database.session() as session:  # only a hash of the cookie is stored
            assert session.get(SessionRow, raw) is None and session.scalars(select(SessionRow)).first() is not None
        page = client.get("/")
        logout = client.post("/logout", data={"csrf_token": CSRF_IN_PAGE.search(page.text).group(1)})
        assert logout.status_code == 303
        client.cookies.set("vb_session", raw)  # the old cookie no longer works
        assert client.get("/api/me").status_code == 401
        database.close()


def test_https_requests_get_secure_cookies(app_url: str) -> None:
    """Behind a TLS proxy on loopback (uvicorn trusts X-Forwarded-Proto from 127.0.0.1) cookies are Secure."""
    https = {"X-Forwarded-Proto": "https"}
    form = httpx.get(f"{app_url}/login", headers=https)
    assert "Secure" in form.headers["set-cookie"] and "SameSite=strict" in form.headers["set-cookie"]
    token = CSRF_IN_PAGE.search(form.text).group(1)
    response = httpx.post(f"{app_url}/login", headers={**https, "Cookie": f"vb_csrf={token}"},
                          data={"username": "emma", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303
    assert "Secure" in response.headers["set-cookie"] and "SameSite=lax" in response.headers["set-cookie"]


def test_wrong_password_and_unknown_user_read_the_same_and_guessing_is_held_back(
        app_url: str, settings: Settings) -> None:
    with httpx.Client(base_url=app_url) as client:
        token = CSRF_IN_PAGE.search(client.get("/login").text).group(1)
        wrong = client.post("/login", data={"username": "emma", "password": "nope-nope-nope", "csrf_token": token})
        unknown = client.post("/login", data={"username": "nobody", "password": "nope-nope-nope", "csrf_token": token})
        assert wrong.status_code == unknown.status_code == 401
        assert "Wrong username or password." in wrong.text and "Wrong username or password." in unknown.text
        assert "vb_session" not in client.cookies
    database = Database.open(settings.database_url)
    accounts = Accounts(database, settings.auth.model_copy(update={"login_attempts": 3}))
    for _ in range(2):  # one failure over HTTP above, two more here: three in 15 minutes
        with pytest.raises(Exception, match="Wrong"):
            accounts.authenticate("emma", "still wrong!!")
    with pytest.raises(Exception, match="Too many failed sign-ins"):
        accounts.authenticate("emma", PASSWORD)  # even the right password waits now
    database.close()


def test_sign_in_without_the_csrf_token_is_refused_and_next_stays_on_this_site(app_url: str) -> None:
    with httpx.Client(base_url=app_url) as client:
        refused = client.post("/login", data={"username": "emma", "password": PASSWORD})
        assert refused.status_code == 403
        token = CSRF_IN_PAGE.search(client.get("/login").text).group(1)
        for target, expected in (("//evil.example/x", "/"), ("https://evil.example", "/"), ("/account", "/account")):
            response = client.post("/login", data={"username": "emma", "password": PASSWORD, "csrf_token": token,
                                                   "next": target})
            assert response.headers["location"] == expected


def test_forms_and_cookie_api_calls_need_the_session_csrf_token(app_url: str) -> None:
    with httpx.Client(base_url=app_url) as client:
        sign_in(client, "emma")
        good = client.headers.pop("X-CSRF-Token")
        assert client.post("/ask", data={"question": "vakantiedagen?"}).status_code == 403
        assert client.post("/api/ask", json={"question": "vakantiedagen?"}).status_code == 403
        assert client.post("/api/tokens", json={"name": "x"}, headers={"X-CSRF-Token": "forged"}).status_code == 403
        created = client.post("/api/tokens", json={"name": "laptop"}, headers={"X-CSRF-Token": good})
        assert created.status_code == 201 and created.json()["token"].startswith("vbk_")


def test_api_tokens_work_without_csrf_and_stop_when_revoked(app_url: str, settings: Settings) -> None:
    secret = api_token(settings.database_url, "emma")
    headers = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{app_url}/api/me", headers=headers).json()["username"] == "emma"
    listed = httpx.get(f"{app_url}/api/tokens", headers=headers).json()
    assert listed and all("token" not in t and secret not in str(t) for t in listed)
    assert httpx.delete(f"{app_url}/api/tokens/{listed[0]['token_id']}", headers=headers).status_code == 204
    assert httpx.get(f"{app_url}/api/me", headers=headers).status_code == 401


def test_roles_guard_the_admin_api_and_the_account_page_lists_roles(app_url: str, settings: Settings) -> None:
    employee = {"Authorization": f"Bearer {api_token(settings.database_url, 'emma')}"}
    assert httpx.get(f"{app_url}/api/admin/jobs", headers=employee).status_code == 403
    with httpx.Client(base_url=app_url) as client:
        sign_in(client, "carla")
        page = client.get("/account")
        assert page.status_code == 200 and "compliance" in page.text
        assert '<a href="/compliance"' in client.get("/").text
        created = client.post("/account/tokens", data={"name": "<b>script</b>"})
        assert "vbk_" in created.text and "&lt;b&gt;script&lt;/b&gt;" in created.text


def test_switched_off_account_loses_its_sessions_and_tokens(app_url: str, settings: Settings) -> None:
    secret = api_token(settings.database_url, "emma")
    with httpx.Client(base_url=app_url) as client:
        sign_in(client, "emma")
        database = Database.open(settings.database_url)
        accounts = Accounts(database)
        row = accounts.by_username("emma")
        accounts.update(row.user_id, active=False)
        assert client.get("/api/me").status_code == 401
        assert httpx.get(f"{app_url}/api/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
        with database.session() as session:
            assert session.get(UserRow, row.user_id).password_hash.startswith("$argon2id$")
        database.close()
