"""The content-gap dashboard through the real app over HTTP: employees ask what the documents do not cover
and give a thumbs down; a learning-team member sees the questions grouped into labelled topics, sets
owner and status, sees only documents of their own groups; an ingestion job with new content makes the
dashboard ask the questions again and show them answered. xAPI statements go to a fake LRS (no real LRS
can run here): a stdlib HTTP server on loopback that stores what it receives."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from core.db import AnswerRecord, Database
from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from tests.fixtures import EXPENSES_HTML, VERLOF_MD
from tests.ingest.lms_fixtures import scorm12_zip
from tests.web.support import api_token, make_user, serve, sign_in
from web.app import create_app

ADMIN = "test-admin-token-learning-0123"

LEASE_POLICY = """---
title: Leaseautoregeling directie
---
# Leaseautoregeling directie

Directieleden kunnen een leaseauto krijgen met een leasebudget van 900 euro per maand.
De leaseauto mag ook privé worden gebruikt; de bijtelling is voor eigen rekening.
"""

PARKING = """---
title: Parkeren bij kantoor
---
# Parkeren bij kantoor

Je kunt gratis parkeren in de parkeergarage onder het kantoor aan de Stationsweg.
A parking permit for the office garage is free: employees can park their car there at no cost.
Parkeren bij kantoor is gratis voor alle medewerkers met een parkeervergunning van de receptie.
"""

LEASE_QUESTIONS = ["Kan ik een leaseauto krijgen?", "Welke leaseauto mag ik kiezen?", "Can I get a lease car?"]
PARKING_QUESTIONS = ["Waar kan ik parkeren bij kantoor?", "Is parkeren bij kantoor gratis?",
                     "Where can I park my car at the office?"]
TOPIC_LINK = re.compile(r'<a href="/learning/topics/([0-9a-f]{32})">([^<]*)</a>')


class FakeLRS:
    """A fake Learning Record Store: accepts POST /xapi/statements and keeps each request's headers and body."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], list[dict[str, Any]]]] = []
        self.fail = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if outer.fail or self.path != "/xapi/statements":
                    self.send_response(503 if outer.fail else 404)
                    self.end_headers()
                    return
                statements = json.loads(body)
                outer.requests.append((dict(self.headers), statements))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps([s["id"] for s in statements]).encode())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/xapi/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def statements(self) -> list[dict[str, Any]]:
        return [s for _, batch in self.requests for s in batch]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def lrs() -> Iterator[FakeLRS]:
    server = FakeLRS()
    yield server
    server.close()


def _corpus(root: Path) -> dict[str, Path]:
    docs = root / "docs"
    docs.mkdir(parents=True)
    (docs / "verlof.md").write_text(VERLOF_MD, encoding="utf-8")
    (docs / "expenses.html").write_text(EXPENSES_HTML, encoding="utf-8")
    scorm12_zip(docs)
    directie = root / "directie"
    directie.mkdir()
    (directie / "leaseauto.md").write_text(LEASE_POLICY, encoding="utf-8")
    facilities = root / "facilities"
    facilities.mkdir()
    return {"docs": docs, "directie": directie, "facilities": facilities}


def _job(admin: httpx.Client, source: str, folder: Path, groups: list[str]) -> dict[str, Any]:
    created = admin.post("/api/admin/sources", json={"id": source, "kind": "folder", "path": str(folder),
                                                     "groups": groups})
    assert created.status_code == 201, created.text
    job = admin.post(f"/api/admin/sources/{source}/jobs").json()
    deadline = time.monotonic() + 300
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.3)
        job = admin.get(f"/api/admin/jobs/{job['job_id']}").json()
    assert job["status"] == "succeeded", job
    return job


def _until(check, timeout_s: float = 300, every_s: float = 0.5):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every_s)


def _card(page: str, topic_id: str) -> str:
    start = page.index(f'id="topic-{topic_id}"')
    return page[start:page.index("</article>", start)]


def _records(settings: Settings) -> int:
    database = Database.open(settings.database_url)
    try:
        with database.session() as session:
            return session.scalar(select(func.count()).select_from(AnswerRecord)) or 0
    finally:
        database.close()


def test_gap_dashboard_groups_questions_guards_documents_and_closes_the_loop(
        settings: Settings, store: QdrantStore, embedder: Embedder, tmp_path: Path, lrs: FakeLRS) -> None:
    folders = _corpus(tmp_path / "corpus")
    configured = settings.model_copy(update={
        "web": settings.web.model_copy(update={"admin_token": SecretStr(ADMIN)}),
        "xapi": settings.xapi.model_copy(update={"endpoint": lrs.url, "username": "vraagbaak",
                                                 "password": SecretStr("lrs-secret"), "site": "https://vb.example"}),
    })
    employee_id = make_user(settings.database_url, "medewerker")
    make_user(settings.database_url, "leren", roles=("learning",))
    make_user(settings.database_url, "leren-directie", roles=("learning",), groups=("directie",))
    app = create_app(configured, store=store, embedder=embedder)
    with serve(app) as url, \
            httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {ADMIN}"}) as admin, \
            httpx.Client(base_url=url, timeout=120) as learner, httpx.Client(base_url=url, timeout=120) as boss, \
            httpx.Client(base_url=url, timeout=120) as staff:
        _job(admin, "docs", folders["docs"], [])
        _job(admin, "directie", folders["directie"], ["directie"])

        # employees ask what the documents (that they may read) do not cover
        token = {"Authorization": f"Bearer {api_token(settings.database_url, 'medewerker')}"}
        answers = {}
        for question in [*LEASE_QUESTIONS, *PARKING_QUESTIONS, "Hoeveel vakantiedagen heb ik?",
                         "Hoe herken ik een phishingmail?"]:
            response = httpx.post(f"{url}/api/ask", json={"question": question}, headers=token, timeout=120)
            assert response.status_code == 200, response.text
            answers[question] = response.json()
        for question in [*LEASE_QUESTIONS, *PARKING_QUESTIONS]:
            assert not answers[question]["answered"] or answers[question]["confidence"] < 0.6, answers[question]
        liked = answers["Hoeveel vakantiedagen heb ik?"]
        assert liked["answered"]
        rated = httpx.post(f"{url}/api/feedback", headers=token, json={
            "record_id": liked["record_id"], "rating": -1, "comment": "Dit gaat over parttimers, niet over mij"})
        assert rated.status_code == 200, rated.text

        # an employee may not see the dashboard; nobody signed in is sent to the sign-in form
        sign_in(staff, "medewerker")
        assert staff.get("/learning").status_code == 403
        assert staff.post("/learning/recluster").status_code == 403
        assert httpx.get(f"{url}/learning", follow_redirects=False).status_code == 303

        # the learning team groups the questions into topics
        csrf = sign_in(learner, "leren")
        page = learner.get("/learning")
        assert page.status_code == 200 and "Kennislacunes" in page.text
        assert learner.post("/learning/recluster", headers={"X-CSRF-Token": "wrong"}).status_code == 403
        assert learner.post("/learning/recluster", follow_redirects=False).status_code == 303
        _until(lambda: "gap-running" not in learner.get("/learning/status").text)
        page = learner.get("/learning").text
        topics = {label: topic_id for topic_id, label in TOPIC_LINK.findall(page)}
        lease_id = next(t for label, t in topics.items() if "leaseauto" in label.lower())
        parking_id = next(t for label, t in topics.items() if "park" in label.lower())
        assert lease_id != parking_id
        lease, parking = _card(page, lease_id), _card(page, parking_id)
        for question in LEASE_QUESTIONS:
            assert question in lease and question not in parking
        assert "<strong>3</strong>" in lease and "nl 2, en 1" in lease and "geen antwoord 3" in lease
        assert '<svg class="gap-trend" role="img"' in lease and 'class="gap-bar gap-now"' in lease
        assert "style=" not in page and "<script>" not in page
        assert "Hoeveel vakantiedagen heb ik?" in page and "duim omlaag" in page
        # closest documents: only from the viewer's own groups; another member of the team with the
        # group sees the restricted one (so it is close, and left out for the first for its group alone)
        assert "Leaseautoregeling directie" not in page
        sign_in(boss, "leren-directie")
        boss_page = boss.get("/learning").text
        assert "Leaseautoregeling directie" in _card(boss_page, lease_id)
        detail = learner.get(f"/learning/topics/{lease_id}")
        assert detail.status_code == 200 and all(q in detail.text for q in LEASE_QUESTIONS)
        assert "Leaseautoregeling directie" not in detail.text
        assert learner.get("/learning/topics/" + "0" * 32).status_code == 404
        assert "Meest gevraagde onderwerpen" in page
        lms = page[page.index('id="gap-lms-heading"'):]
        assert "Informatiebeveiliging" in lms and "Phishing herkennen" in lms, lms[:2000]

        # owner and status, through htmx (a fragment) and as a plain form (a redirect)
        changed = learner.post(f"/learning/topics/{lease_id}", headers={"HX-Request": "true"},
                               data={"status": "in_progress", "owner": "Sanne <L&D>", "next": "/learning"})
        assert changed.status_code == 200 and changed.text.lstrip().startswith("<article")
        assert 'value="in_progress" selected' in changed.text and "Sanne &lt;L&amp;D&gt;" in changed.text
        plain = learner.post(f"/learning/topics/{parking_id}", data={"status": "open", "owner": "Jan",
                                                                     "csrf_token": csrf, "next": "//evil.example"},
                             follow_redirects=False)
        assert plain.status_code == 303 and plain.headers["location"] == "/"
        bad = learner.post(f"/learning/topics/{parking_id}", data={"status": "done"})
        assert bad.status_code == 400 and "Unknown status" in bad.text
        assert "Sanne &lt;L&amp;D&gt;" in learner.get("/learning").text

        # new content comes in: the job's listener asks the open topics' questions again (recording nothing)
        before = _records(settings)
        (folders["facilities"] / "parkeren.md").write_text(PARKING, encoding="utf-8")
        _job(admin, "facilities", folders["facilities"], [])

        def rechecked() -> str | None:
            text = learner.get("/learning").text
            return text if "Nu beantwoord" in _card(text, parking_id) and "Nu beantwoord" in _card(text, lease_id) \
                and "gap-running" not in text else None

        page = _until(rechecked)
        parking = _card(page, parking_id)
        done = re.search(r"Nu beantwoord: (\d) van (\d)", parking)
        assert done and int(done.group(1)) >= 2 and done.group(2) == "3", parking
        assert "Parkeren bij kantoor" in parking
        assert _records(settings) == before  # re-asking wrote no answer records
        # lease questions are answered now too, but from the directie document: this viewer sees it
        # counted, never its title or text; a viewer with the group sees the title
        lease = _card(page, lease_id)
        assert "Leaseautoregeling" not in lease and "bron(nen) die je niet mag lezen" in lease
        assert "Leaseautoregeling directie" in _card(boss.get("/learning").text, lease_id)
        detail = learner.get(f"/learning/topics/{lease_id}").text
        assert "900 euro" not in detail and "Leaseautoregeling" not in detail
        assert "900 euro" in boss.get(f"/learning/topics/{lease_id}").text

        resolved = learner.post(f"/learning/topics/{parking_id}", data={"status": "resolved", "csrf_token": csrf},
                                follow_redirects=False)
        assert resolved.status_code == 303
        assert f"topic-{parking_id}" not in learner.get("/learning").text  # open and in progress only
        assert f"topic-{parking_id}" in learner.get("/learning?show=resolved").text

        # xAPI: every answer became statements at the (fake) LRS, sent in the background
        xapi = app.state.xapi
        assert xapi.flush(30)
        lrs.fail = True  # an LRS that fails never affects an answer
        assert httpx.post(f"{url}/api/ask", json={"question": "Hoeveel vakantiedagen heb ik?"}, headers=token,
                          timeout=120).json()["answered"]
        assert xapi.flush(30) and xapi.failed == 1

    headers = lrs.requests[0][0]
    assert headers["X-Experience-API-Version"] == "1.0.3"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"vraagbaak:lrs-secret").decode()
    statements = lrs.statements
    asked = [s for s in statements if s["verb"]["id"] == "http://adlnet.gov/expapi/verbs/asked"]
    assert len(asked) == 8 and {next(iter(s["object"]["definition"]["name"].values())) for s in asked} == \
        {*LEASE_QUESTIONS, *PARKING_QUESTIONS, "Hoeveel vakantiedagen heb ik?", "Hoe herken ik een phishingmail?"}
    for statement in statements:
        actor = statement["actor"]
        assert set(actor) == {"objectType", "account"} and actor["account"]["homePage"] == "https://vb.example"
        assert re.fullmatch(r"[0-9a-f]{64}", actor["account"]["name"]) and employee_id not in json.dumps(statement)
        assert "medewerker" not in json.dumps(actor)
    assert all(s["object"]["id"].startswith("https://vb.example/xapi/questions/") for s in asked)
    lessons = [s for s in statements if s["verb"]["id"] == "http://adlnet.gov/expapi/verbs/experienced"]
    assert lessons, "the phishing answer cites the e-learning lesson"
    lesson = lessons[0]
    assert lesson["object"]["definition"]["type"] == "http://adlnet.gov/expapi/activities/lesson"
    assert lesson["object"]["definition"]["name"] == {"nl-NL": "Phishing herkennen"}
    assert lesson["context"]["contextActivities"]["parent"][0]["definition"]["name"] == {"nl-NL": "Informatiebeveiliging"}
    phishing = next(s for s in asked if "phishing" in json.dumps(s["object"]["definition"]["name"]))
    assert lesson["context"]["statement"] == {"objectType": "StatementRef", "id": phishing["id"]}
