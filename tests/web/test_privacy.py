"""Privacy through the real app over HTTP: compliance exports, the learning dashboard and xAPI statements
name askers by pseudonym only (never a username or an e-mail address), and an admin erases a user's data
from the user page — confirm step with a dry-run count, CSRF, admin role — after which their text is gone
from every table, their sign-ins no longer work, the compliance record shows the erasure marker and the
audit chain still verifies."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from assistant.gaps import GapTopics
from assistant.records import AnswerLog
from core.accounts import Accounts
from core.db import AnswerRecord, Base, Database
from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from tests.web.support import PASSWORD, api_token, make_user, serve, sign_in
from tests.web.test_learning import FakeLRS
from web.app import create_app

EVA = "eva.jansen@example.org"
"""A username that is an e-mail address, as many sites use."""
EVA_MAIL = "e.jansen@mail.example"
PHRASE = "Zonnebloem-42"
QUESTIONS = [f"Hoeveel vakantiedagen heb ik, vraagt {PHRASE}?", f"Mag {PHRASE} een olifant meenemen naar kantoor?"]
COMMENT = "Dit klopt niet voor Klaproos-17"
CSRF_IN_PAGE = re.compile(r'name="csrf_token" value="([^"]+)"')
TOPIC_LINK = re.compile(r'href="/learning/topics/([0-9a-f]{32})"')
RECORD_LINK = re.compile(r'href="/compliance/records/([0-9a-f]{32})"')


@pytest.fixture(scope="module")
def lrs() -> Iterator[FakeLRS]:
    server = FakeLRS()
    yield server
    server.close()


@pytest.fixture(scope="module")
def site(base_settings: Settings, demo_store: QdrantStore, embedder: Embedder, lrs: FakeLRS,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    data = tmp_path_factory.mktemp("privacy-web")
    settings = base_settings.model_copy(update={
        "data_dir": data, "embedding": base_settings.embedding.model_copy(update={"models_dir": base_settings.models_dir}),
        "xapi": base_settings.xapi.model_copy(update={"endpoint": lrs.url, "site": "https://vb.example",
                                                      "password": SecretStr("lrs-secret"), "username": "vb"}),
    })
    database = Database.open(settings.database_url)
    eva = Accounts(database).create_user(EVA, PASSWORD, email=EVA_MAIL).user_id
    make_user(settings.database_url, "bob")
    make_user(settings.database_url, "carla", roles=("compliance", "learning"))
    make_user(settings.database_url, "ada", roles=("admin",))
    app = create_app(settings, store=demo_store, embedder=embedder)
    with serve(app) as url:
        yield {"url": url, "settings": settings, "database": database, "eva": eva, "app": app, "embedder": embedder}
    database.close()


@contextmanager
def client(site: dict, username: str) -> Iterator[httpx.Client]:
    """A browser signed in as `username`."""
    with httpx.Client(base_url=site["url"], timeout=120) as browser:
        sign_in(browser, username)
        yield browser


def everything_as_text(database: Database) -> str:
    with database.engine.connect() as connection:
        return "\n".join(json.dumps([str(v) for v in row], ensure_ascii=False)
                         for table in Base.metadata.sorted_tables for row in connection.execute(table.select()))


def assert_pseudonymous(text: str, where: str) -> None:
    for personal in (EVA, EVA_MAIL, "eva.jansen", "e.jansen"):
        assert personal not in text, f"{personal!r} in {where}"


def test_exports_dashboard_and_xapi_name_askers_by_pseudonym_only(site: dict, lrs: FakeLRS) -> None:
    url, database = site["url"], site["database"]
    token = {"Authorization": f"Bearer {api_token(site['settings'].database_url, EVA)}"}
    asked = [httpx.post(f"{url}/api/ask", json={"question": q}, headers=token, timeout=120).json() for q in QUESTIONS]
    rated = httpx.post(f"{url}/api/feedback", headers=token, timeout=30,
                       json={"record_id": asked[0]["record_id"], "rating": -1, "comment": COMMENT})
    assert rated.status_code == 200, rated.text
    pseudonym = AnswerLog.build(site["settings"], database).pseudonym(site["eva"])
    with client(site, "carla") as carla:
        exports = {path: carla.get(path) for path in ("/compliance/export.csv", "/compliance/export.json",
                                                      "/api/compliance/records", "/compliance",
                                                      f"/compliance/records/{asked[0]['record_id']}",
                                                      f"/api/compliance/records/{asked[0]['record_id']}")}
        for path, response in exports.items():
            assert response.status_code == 200, (path, response.text[:300])
            assert_pseudonymous(response.text, path)
        rows = list(csv.DictReader(io.StringIO(exports["/compliance/export.csv"].content.decode("utf-8-sig"))))
        assert {r["user_pseudonym"] for r in rows if PHRASE in r["question"]} == {pseudonym}
        assert all(r["user_pseudonym"] == pseudonym for r in json.loads(exports["/compliance/export.json"].text)
                   if PHRASE in r["question"])
        assert COMMENT in exports[f"/api/compliance/records/{asked[0]['record_id']}"].text  # feedback shown, not by whom

        # the learning dashboard: cluster the questions (the real service), then every page of it
        GapTopics(database, site["embedder"], site["settings"].gaps).recluster()
        dashboard = carla.get("/learning")
        assert dashboard.status_code == 200 and PHRASE in dashboard.text
        assert_pseudonymous(dashboard.text, "/learning")
        topics = set(TOPIC_LINK.findall(dashboard.text))
        assert topics
        for topic in topics:
            page = carla.get(f"/learning/topics/{topic}")
            assert page.status_code == 200
            assert_pseudonymous(page.text, f"/learning/topics/{topic}")

    # xAPI: the statements the app sent name the pseudonym as the actor
    assert site["app"].state.xapi.flush(30)
    mine = [s for s in lrs.statements if PHRASE in json.dumps(s, ensure_ascii=False)]
    assert len(mine) >= len(QUESTIONS)
    assert_pseudonymous(json.dumps(lrs.statements, ensure_ascii=False), "xAPI statements")
    assert {s["actor"]["account"]["name"] for s in mine} == {pseudonym}


def test_an_admin_erases_a_users_data_from_the_user_page(site: dict) -> None:
    url, database, eva = site["url"], site["database"], site["eva"]
    token = api_token(site["settings"].database_url, EVA)
    with client(site, EVA) as browser, client(site, "ada") as admin, client(site, "bob") as bob, \
            client(site, "carla") as carla:
        page = browser.post("/ask", data={"question": QUESTIONS[0], "thread_id": ""})
        assert page.status_code == 200
        record_id = re.search(r'action="/feedback/([0-9a-f]{32})"', page.text).group(1)  # type: ignore[union-attr]
        assert browser.post(f"/feedback/{record_id}", data={"rating": "-1", "comment": COMMENT}).status_code == 200
        assert PHRASE in everything_as_text(database) and COMMENT in everything_as_text(database)

        # only admins; the confirm step counts what would go (and changes nothing)
        assert bob.get(f"/admin/users/{eva}/erase").status_code == 403
        assert bob.post(f"/admin/users/{eva}/erase").status_code == 403
        user_page = admin.get(f"/admin/users/{eva}")
        assert f'href="/admin/users/{eva}/erase"' in user_page.text
        before = everything_as_text(database)
        confirm = admin.get(f"/admin/users/{eva}/erase")
        assert confirm.status_code == 200 and 'name="delete_account"' in confirm.text
        planned = dict(re.findall(r'<tr data-where="(\w+)"><th scope="row">[^<]*</th><td>(\d+)</td>', confirm.text))
        assert int(planned["answer_records"]) >= 1 and int(planned["sessions"]) >= 1
        assert int(planned["api_tokens"]) >= 1 and int(planned["feedback"]) >= 1 and planned["users"] == "1"
        assert everything_as_text(database) == before
        # CSRF: a form from elsewhere is refused
        forged = httpx.post(f"{url}/admin/users/{eva}/erase", cookies=admin.cookies, data={"delete_account": "1"})
        assert forged.status_code == 403
        assert admin.post(f"/admin/users/{admin_id(database)}/erase",
                          data={"csrf_token": csrf_of(admin_page := admin.get("/admin/users"))}).status_code == 409
        assert admin_page.status_code == 200

        done = admin.post(f"/admin/users/{eva}/erase", data={"csrf_token": csrf_of(confirm), "delete_account": "1"})
        assert done.status_code == 200, done.text[:500]
        removed = dict(re.findall(r'<tr data-where="(\w+)"><th scope="row">[^<]*</th><td>(\d+)</td>', done.text))
        assert removed == planned
        assert 'id="erasure-report"' in done.text and 'id="erasure-id"' in done.text

        # their text, username and address are in no table; their sign-ins are void
        stored = everything_as_text(database)
        for personal in (PHRASE, COMMENT, EVA, EVA_MAIL):
            assert personal not in stored, personal
        assert browser.get("/", follow_redirects=False).status_code == 303
        assert httpx.post(f"{url}/api/ask", json={"question": "Hallo?"}, timeout=60,
                          headers={"Authorization": f"Bearer {token}"}).status_code == 401
        assert admin.get(f"/admin/users/{eva}").status_code == 404

        # compliance: the record keeps its place and shows the marker; the chain verifies and counts them
        record = carla.get(f"/compliance/records/{record_id}")
        assert record.status_code == 200 and "erased at the user" in record.text and PHRASE not in record.text
        verified = carla.get("/api/compliance/verify").json()
        assert verified["ok"] and verified["redacted"] == int(removed["answer_records"])
    with database.session() as session:
        assert session.get(AnswerRecord, record_id).redaction is not None
        assert not session.scalars(select(AnswerRecord).where(AnswerRecord.question.contains(PHRASE))).all()


def admin_id(database: Database) -> str:
    row = Accounts(database).by_username("ada")
    assert row is not None
    return row.user_id


def csrf_of(page: httpx.Response) -> str:
    return CSRF_IN_PAGE.search(page.text).group(1)  # type: ignore[union-attr]
