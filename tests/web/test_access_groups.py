"""Access groups on every path: a user outside the `hr` group tries to read the HR document through every
GET endpoint the app has (enumerated from its routes, so a new endpoint is covered automatically), through
questions (JSON API, form, SSE stream) and through other people's records and threads — and never sees its
text or its title. A member of `hr` sees both (the positive control that makes the test meaningful)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from core.db import AnswerRecord, Database, GapTopicRow, JobRow, UserRow
from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from ingest.pipeline import Ingestor
from ingest.registry import Registry
from tests.fixtures import HR_SECRET, HR_TITLE, hr_corpus
from tests.web.support import api_token, app_routes, make_user, serve, sign_in
from web.app import create_app

SECRET = HR_SECRET
TITLE = HR_TITLE
QUESTION = "Wat verdient een senior adviseur?"
GAP_QUESTION = "Hoeveel bonus krijgt een senior adviseur bij de salarisschalen?"
PARAM = re.compile(r"{([a-z_]+)(?::path)?}")


@pytest.fixture
def site(settings: Settings, store: QdrantStore, embedder: Embedder, tmp_path: Path) -> Iterator[dict[str, Any]]:
    corpus = hr_corpus(tmp_path / "intranet")
    database = Database.open(settings.database_url)
    report = Ingestor(store, embedder, settings.ingest, Registry(database)).ingest_folder(corpus, "intranet")
    assert not report.failed
    make_user(settings.database_url, "hanna", roles=("employee", "compliance", "learning"), groups=("hr",))
    make_user(settings.database_url, "eve", roles=("employee", "compliance", "learning"))
    app = create_app(settings, store=store, embedder=embedder)
    with serve(app) as url:
        yield {"url": url, "app": app, "database": database}
    database.close()


def _wait_idle(client: httpx.Client) -> None:
    deadline = time.monotonic() + 180
    while "gap-running" in client.get("/learning/status").text:
        assert time.monotonic() < deadline
        time.sleep(0.5)


def test_no_endpoint_shows_a_document_outside_the_readers_groups(site: dict[str, Any], settings: Settings) -> None:
    url, database = site["url"], site["database"]
    with httpx.Client(base_url=url, timeout=120) as hanna, httpx.Client(base_url=url, timeout=120) as eve:
        sign_in(hanna, "hanna")
        sign_in(eve, "eve")
        # the positive control: the member of hr is answered from the HR document and can open it
        answer = hanna.post("/api/ask", json={"question": QUESTION}).json()
        assert answer["answered"] and SECRET in str(answer), answer
        doc_id = next(c["document_id"] for c in answer["citations"] if c["title"] == TITLE)
        assert SECRET in hanna.get(f"/documents/{doc_id}").text
        refused = hanna.post("/api/ask", json={"question": GAP_QUESTION}).json()
        hanna.post("/api/feedback", json={"record_id": answer["record_id"], "rating": -1, "comment": "te vaag"})

        # the outsider asks the same questions every way there is
        theirs = eve.post("/api/ask", json={"question": QUESTION})
        assert theirs.status_code == 200 and SECRET not in theirs.text and TITLE not in theirs.text
        form = eve.post("/ask", data={"question": QUESTION})
        assert form.status_code == 200 and SECRET not in form.text and TITLE not in form.text
        started = eve.post("/ask", data={"question": QUESTION}, headers={"HX-Request": "true"})
        stream_path = re.search(r'sse-connect="([^"]+)"', started.text).group(1)  # type: ignore[union-attr]
        with eve.stream("GET", stream_path) as events:
            streamed = "".join(events.iter_text())
        assert "event: answer" in streamed and SECRET not in streamed and TITLE not in streamed
        # someone else's record, stream and thread are not theirs to rate or open
        assert eve.post(f"/feedback/{answer['record_id']}", data={"rating": "-1"}).status_code == 404
        assert eve.get(f"/?thread={answer['thread_id']}").status_code == 404

        # both are on the learning team: cluster the gap questions so the dashboard has topics
        assert eve.post("/learning/recluster").status_code in (200, 303)
        _wait_idle(eve)

        with database.session() as session:
            values = {
                "doc_id": doc_id, "record_id": answer["record_id"],
                "topic_id": next((t.topic_id for t in session.scalars(select(GapTopicRow))
                                  if (t.details or {}).get("kind") != "asked"), "0" * 32),
                "user_id": session.scalar(select(UserRow.user_id).where(UserRow.username == "hanna")),
                "job_id": session.scalars(select(JobRow.job_id)).first() or "0" * 32,
                "source_id": "intranet", "token_id": "0" * 32, "stream_id": "0" * 32,
            }
            version = session.scalar(select(AnswerRecord.cited).where(AnswerRecord.record_id == answer["record_id"]))
        assert refused["record_id"] and values["topic_id"] != "0" * 32
        queries = {"/compliance": {"document": "salarisschal"},  # a title fragment (echoed in the form as typed) "/compliance/export.csv": {"document": doc_id},
                   "/compliance/export.json": {"document": doc_id}, "/api/compliance/records": {"document": doc_id},
                   f"/compliance/documents/{doc_id}": {"version": version[0]["version"]}}
        checked = []
        for method, path in sorted(set(app_routes(site["app"]))):
            if method != "GET" or path.startswith(("/static", "/login/sso", "/docs", "/openapi")):
                continue
            concrete = PARAM.sub(lambda m: values[m.group(1)], path)
            response = eve.get(concrete, params=queries.get(concrete))
            assert response.status_code < 500, (concrete, response.status_code, response.text[:300])
            assert SECRET not in response.text, (concrete, response.text[:2000])
            assert TITLE not in response.text, (concrete, response.text[:2000])
            assert "senior adviseur loopt" not in response.text, concrete
            checked.append((concrete, response.status_code))
            # the control: where the member of hr sees the document's text, the outsider's view was a real test
            if concrete.startswith((f"/documents/{doc_id}", f"/compliance/records/{answer['record_id']}",
                                    f"/api/compliance/records/{answer['record_id']}")):
                assert SECRET in hanna.get(concrete).text, concrete
        reached = {path for path, status in checked if status == 200}
        assert {f"/documents/{doc_id}", f"/compliance/records/{answer['record_id']}", "/compliance/export.csv",
                "/learning", f"/learning/topics/{values['topic_id']}", "/compliance/most-cited"} - reached == \
            {f"/documents/{doc_id}"}, checked  # every view was open to her, except the document itself
        assert len(checked) >= 40, checked
        # API tokens go through the same checks
        token = {"Authorization": f"Bearer {api_token(settings.database_url, 'eve')}"}
        for path in (f"/api/compliance/records/{answer['record_id']}", "/api/compliance/most-cited"):
            response = httpx.get(url + path, headers=token)
            assert response.status_code == 200 and SECRET not in response.text and TITLE not in response.text
