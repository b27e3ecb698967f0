"""The compliance audit log through the real app over HTTP: an employee asks, a compliance user filters,
opens and exports the records (CSV and JSON contents checked), sees the most cited documents and the
answers that quoted one document version, and verifies the chain. Employees get 403 everywhere,
anonymous visitors are sent to sign in, bad filters get a 4xx with a message — and text of documents
outside the compliance user's access groups is withheld on every page, export and API."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from assistant.records import record_hash
from core.db import AnswerRecord, Database, FeedbackRow
from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from ingest.pipeline import Ingestor
from ingest.registry import Registry
from ingest.sources.folder import FolderSource
from tests.assistant.fake_llm import ScriptedLLMServer
from tests.fixtures import VERLOF_MD
from tests.web.support import api_token, make_user, serve, sign_in
from web.app import create_app

COMPLIANCE_PAGES = ["/compliance", "/compliance/most-cited", "/compliance/verify", "/compliance/export.csv",
                    "/compliance/export.json", "/compliance/most-cited.csv", "/compliance/most-cited.json",
                    "/compliance/records/{record}", "/compliance/documents/{doc}",
                    "/api/compliance/records", "/api/compliance/records/{record}", "/api/compliance/most-cited",
                    "/api/compliance/verify", "/api/compliance/retention"]
HOLIDAYS = "Hoeveel vakantiedagen heb ik?"
LEASE = "Kan ik een leaseauto krijgen?"
FORMULA = "=HYPERLINK(\"http://evil.example\") leaseauto?"


def ask(url: str, token: str, question: str) -> dict:
    response = httpx.post(f"{url}/api/ask", json={"question": question}, headers={"Authorization": f"Bearer {token}"},
                          timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def records(database_url: str) -> dict[str, AnswerRecord]:
    database = Database.open(database_url)
    with database.session() as session:
        found = {r.question: r for r in session.scalars(select(AnswerRecord))}
    database.close()
    return found


def csv_rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


@pytest.fixture
def demo_app(settings: Settings, demo_store: QdrantStore, embedder: Embedder) -> Iterator[str]:
    make_user(settings.database_url, "emma")
    make_user(settings.database_url, "carla", roles=("compliance",))
    with serve(create_app(settings, store=demo_store, embedder=embedder)) as url:
        yield url


def test_compliance_user_filters_opens_and_exports_what_employees_asked(demo_app: str, settings: Settings) -> None:
    url = demo_app
    token = api_token(settings.database_url, "emma")
    answered = ask(url, token, HOLIDAYS)
    assert answered["answered"]
    ask(url, token, LEASE)
    ask(url, token, FORMULA)
    stored = records(settings.database_url)
    good = stored[HOLIDAYS]
    cited = good.cited[0]
    database = Database.open(settings.database_url)
    with database.session() as session:
        session.add(FeedbackRow(feedback_id=uuid.uuid4().hex, record_id=good.record_id,
                                user_pseudonym=good.user_pseudonym, rating=-1, comment="Klopt dit voor parttimers?"))
    database.close()

    with httpx.Client(base_url=url, timeout=60, headers={"Accept-Language": "en"}) as client:
        sign_in(client, "carla")
        page = client.get("/compliance")
        assert page.status_code == 200 and "3 answers" in page.text
        assert HOLIDAYS in page.text and LEASE in page.text
        assert 'href="/static/css/compliance.css"' in page.text and "style=" not in page.text
        # filters: refused, verdict, text, document (title fragment and id), version, period, user
        refused = client.get("/compliance", params={"refused": "yes"}).text
        assert LEASE in refused and HOLIDAYS not in refused
        assert HOLIDAYS in client.get("/compliance", params={"verdict": "answered"}).text
        assert LEASE not in client.get("/compliance", params={"verdict": "answered"}).text
        only_text = client.get("/compliance", params={"q": "vakantie"}).text
        assert HOLIDAYS in only_text and LEASE not in only_text
        for document in ("verlofregeling", cited["doc_id"], cited["doc_id"][:8]):
            by_document = client.get("/compliance", params={"document": document}).text
            assert HOLIDAYS in by_document and LEASE not in by_document, document
        assert HOLIDAYS in client.get("/compliance", params={"version": cited["version"]}).text
        assert HOLIDAYS not in client.get("/compliance", params={"version": "0" * 32}).text
        assert HOLIDAYS not in client.get("/compliance", params={"from": "2001-01-01", "to": "2001-12-31"}).text
        assert HOLIDAYS in client.get("/compliance", params={"user": good.user_pseudonym[:12]}).text
        assert HOLIDAYS not in client.get("/compliance", params={"user": "ab" * 32}).text
        # htmx asks the same URL for the results block only
        fragment = client.get("/compliance", params={"refused": "yes"}, headers={"HX-Request": "true"})
        assert fragment.status_code == 200 and "<html" not in fragment.text and LEASE in fragment.text
        assert "/compliance/export.csv?refused=yes" in fragment.text

        # the full record
        record = client.get(f"/compliance/records/{good.record_id}")
        assert record.status_code == 200
        text = record.text
        for expected in (HOLIDAYS, "Verlofregeling", cited["version"], cited["doc_id"], "multilingual-e5-small",
                         "Klopt dit voor parttimers?", good.record_hash, good.prev_hash):
            assert expected in text, expected
        assert cited["quote"] and cited["quote"][:40] in text.replace("&#39;", "'")
        assert "[withheld" not in text
        assert client.get("/compliance/records/" + "f" * 32).status_code == 404

        # exports: CSV (formula-safe) and JSON, with the same filters
        rows = csv_rows(client.get("/compliance/export.csv"))
        assert {r["question"] for r in rows} == {HOLIDAYS, LEASE, "'" + FORMULA}
        row = next(r for r in rows if r["question"] == HOLIDAYS)
        assert row["verdict"] == "answered" and row["answer"] == good.answer and row["record_hash"] == good.record_hash
        assert f"{cited['doc_id']}@{cited['version']}" in row["cited_documents"] and "Verlofregeling" in row["citations"]
        answered_only = [r["question"] for r in csv_rows(client.get("/compliance/export.csv", params={"refused": "no"}))]
        assert HOLIDAYS in answered_only and LEASE not in answered_only
        exported = client.get("/compliance/export.json")
        assert exported.headers["content-type"].startswith("application/json")
        data = exported.json()
        assert len(data) == 3 and [d["seq"] for d in data] == [1, 2, 3]
        item = next(d for d in data if d["question"] == HOLIDAYS)
        assert item["answer"] == good.answer and item["citations"][0]["version"] == cited["version"]
        assert item["citations"][0]["quote"] == cited["quote"] and not item["citations"][0]["withheld"]
        assert item["sentences"] and all(s["support"] > 0 for s in item["sentences"])
        assert [d["question"] for d in client.get("/compliance/export.json", params={"q": "lease"}).json()] == \
            [LEASE, FORMULA]

        # most cited documents, and the answers that quoted one version
        most = client.get("/compliance/most-cited")
        assert most.status_code == 200 and "Verlofregeling" in most.text
        cited_json = client.get("/compliance/most-cited.json").json()
        top = next(d for d in cited_json if d["doc_id"] == cited["doc_id"])
        assert top["records"] == 1 and top["versions"] == {cited["version"]: sum(
            1 for c in good.cited if c["doc_id"] == cited["doc_id"])}
        cited_csv = csv_rows(client.get("/compliance/most-cited.csv"))
        assert any(r["doc_id"] == cited["doc_id"] and r["records"] == "1" for r in cited_csv)
        assert client.get("/compliance/most-cited.json", params={"from": "2001-01-01", "to": "2001-01-31"}).json() == []
        by_version = client.get(f"/compliance/documents/{cited['doc_id']}", params={"version": cited["version"]})
        assert by_version.status_code == 200 and HOLIDAYS in by_version.text and LEASE not in by_version.text
        other = client.get(f"/compliance/documents/{cited['doc_id']}", params={"version": "1" * 32})
        assert HOLIDAYS not in other.text
        version_export = csv_rows(client.get("/compliance/export.csv", params={"document": cited["doc_id"],
                                                                              "version": cited["version"]}))
        assert [r["question"] for r in version_export] == [HOLIDAYS]

        # the chain and retention
        verify = client.get("/compliance/verify")
        assert verify.status_code == 200 and ("intact" in verify.text)
        assert client.get("/api/compliance/retention").json()["removed_total"] == 0

    # the JSON API with a compliance user's token; an employee's token is refused
    carla = {"Authorization": f"Bearer {api_token(settings.database_url, 'carla')}"}
    listing = httpx.get(f"{url}/api/compliance/records", params={"verdict": "answered"}, headers=carla).json()
    assert good.record_id in [r["record_id"] for r in listing["records"]]
    assert all(r["verdict"] == "answered" for r in listing["records"]) and listing["total"] == len(listing["records"])
    one = httpx.get(f"{url}/api/compliance/records/{good.record_id}", headers=carla).json()
    assert one["feedback"][0]["rating"] == -1 and one["citations"][0]["title"]
    assert httpx.get(f"{url}/api/compliance/verify", headers=carla).json()["ok"] is True
    assert httpx.get(f"{url}/compliance/export.json", headers=carla).status_code == 200  # tokens work on exports
    assert httpx.get(f"{url}/api/compliance/records", headers={"Authorization": f"Bearer {token}"}).status_code == 403

    # a record edited in the database shows as a broken chain on the page
    database = Database.open(settings.database_url)
    with database.engine.begin() as connection:
        connection.execute(update(AnswerRecord).where(AnswerRecord.seq == 2).values(answer="Ja, iedereen."))
    database.close()
    report = httpx.get(f"{url}/api/compliance/verify", headers=carla).json()
    assert report["ok"] is False and report["problems"][0]["seq"] == 2 and report["problems"][0]["kind"] == "edited"


def test_employees_get_403_and_anonymous_visitors_are_sent_to_sign_in(demo_app: str, settings: Settings) -> None:
    url = demo_app
    token = api_token(settings.database_url, "emma")
    ask(url, token, HOLIDAYS)
    record = records(settings.database_url)[HOLIDAYS]
    paths = [p.format(record=record.record_id, doc=record.cited[0]["doc_id"]) for p in COMPLIANCE_PAGES]
    with httpx.Client(base_url=url, timeout=60) as client:
        sign_in(client, "emma")
        for path in paths:
            response = client.get(path)
            assert response.status_code == 403, path
            assert HOLIDAYS not in response.text
        assert 'href="/compliance"' not in client.get("/").text  # no menu entry either
    for path in paths:
        response = httpx.get(f"{url}{path}", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403, path
        anonymous = httpx.get(f"{url}{path}", follow_redirects=False)
        if path.startswith("/api/"):
            assert anonymous.status_code == 401, path
        else:
            assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next="), path


BAD_FILTERS = [
    ({"from": "2024-13-01"}, "'from' must be a date"),
    ({"to": "yesterday"}, "'to' must be a date"),
    ({"from": "2024-05-02", "to": "2024-05-01"}, "is after"),
    ({"verdict": "maybe"}, "'verdict' must be one of"),
    ({"refused": "perhaps"}, "'refused' must be yes or no"),
    ({"user": "not-a-pseudonym"}, "'user' is a pseudonym"),
    ({"version": "xyz"}, "'version' is a document version"),
    ({"q": "x" * 501}, "at most 500"),
]


def test_bad_filter_values_get_400_with_a_message(demo_app: str) -> None:
    with httpx.Client(base_url=demo_app, timeout=60) as client:
        sign_in(client, "carla")
        for params, message in BAD_FILTERS:
            for path in ("/compliance", "/compliance/export.csv", "/compliance/export.json", "/compliance/most-cited",
                         "/compliance/most-cited.json", "/api/compliance/records"):
                response = client.get(path, params=params)
                assert response.status_code == 400, (path, params, response.text[:300])
                assert message in response.text.replace("&#39;", "'"), (path, response.text[:300])
            fragment = client.get("/compliance", params=params, headers={"HX-Request": "true"})
            assert fragment.status_code == 400 and 'role="alert"' in fragment.text and "<html" not in fragment.text
            assert message in client.get("/api/compliance/records", params=params).json()["error"]["message"]
        for page in ("0", "x", "-1"):
            response = client.get("/compliance", params={"page": page})
            assert response.status_code == 400 and "'page' must be a whole number" in response.text.replace("&#39;", "'")
        assert client.get("/compliance/documents/not-hex").status_code == 400
        assert client.get("/api/compliance/records/" + "0" * 40).status_code == 404


HR_MD = """---
title: Reorganisatieplan Finance 2026
---
# Reorganisatieplan Finance 2026

## Boventalligheid

Bij de reorganisatie van de afdeling Finance vervallen twaalf functies per 1 maart 2026.
Boventallige medewerkers van Finance krijgen een transitievergoeding van twee maandsalarissen per dienstjaar.
"""
HR_QUESTION = "Hoeveel functies vervallen bij de reorganisatie van Finance?"
SECRET_TEXT = "twaalf functies"
SECRET_TITLE = "Reorganisatieplan"


@pytest.fixture
def grouped_app(settings: Settings, store: QdrantStore, embedder: Embedder, tmp_path: Path) -> Iterator[str]:
    """Two documents in the app's store and registry: one open to everyone, one for group `hr`."""
    (tmp_path / "open").mkdir()
    (tmp_path / "open" / "verlof.md").write_text(VERLOF_MD, encoding="utf-8")
    (tmp_path / "hr").mkdir()
    (tmp_path / "hr" / "reorganisatie.md").write_text(HR_MD, encoding="utf-8")
    database = Database.open(settings.database_url)
    ingestor = Ingestor(store, embedder, settings.ingest, Registry(database))
    assert not ingestor.ingest_source(FolderSource("open", tmp_path / "open")).failed
    assert not ingestor.ingest_source(FolderSource("hr", tmp_path / "hr", groups=("hr",))).failed
    database.close()
    make_user(settings.database_url, "hanna", groups=("hr",))
    make_user(settings.database_url, "carla", roles=("compliance",))
    make_user(settings.database_url, "chris", roles=("compliance",), groups=("hr",))
    with serve(create_app(settings, store=store, embedder=embedder)) as url:
        yield url


def test_text_of_documents_outside_the_compliance_users_groups_is_withheld(grouped_app: str,
                                                                         settings: Settings) -> None:
    url = grouped_app
    token = api_token(settings.database_url, "hanna")
    secret = ask(url, token, HR_QUESTION)
    assert secret["answered"] and SECRET_TEXT in json.dumps(secret)
    assert ask(url, token, HOLIDAYS)["answered"]
    stored = records(settings.database_url)
    hr_record, open_record = stored[HR_QUESTION], stored[HOLIDAYS]
    hr_doc = hr_record.cited[0]["doc_id"]
    assert hr_record.cited[0]["groups"] == ["hr"]

    with httpx.Client(base_url=url, timeout=60, headers={"Accept-Language": "en"}) as client:
        sign_in(client, "carla")  # compliance, not in group hr
        listing = client.get("/compliance")
        assert HR_QUESTION in listing.text  # every record is listed (the question is the user's text) …
        assert SECRET_TITLE not in listing.text and "[document outside your access groups]" in listing.text
        page = client.get(f"/compliance/records/{hr_record.record_id}")
        assert page.status_code == 200 and HR_QUESTION in page.text
        assert SECRET_TEXT not in page.text and SECRET_TITLE not in page.text and "reorganisatie.md" not in page.text
        assert "[withheld: this sentence cites a document outside your access groups]" in page.text
        assert hr_record.cited[0]["version"] in page.text  # which version was quoted stays visible
        opened = client.get(f"/compliance/records/{open_record.record_id}")
        assert "27 vakantiedagen" in opened.text and "[withheld" not in opened.text
        for path in ("/compliance/export.csv", "/compliance/export.json", "/compliance/most-cited",
                     "/compliance/most-cited.csv", "/compliance/most-cited.json", f"/compliance/documents/{hr_doc}",
                     f"/api/compliance/records/{hr_record.record_id}", "/api/compliance/records"):
            body = client.get(path).text
            assert SECRET_TEXT not in body and SECRET_TITLE not in body, path
        exported = {d["question"]: d for d in client.get("/compliance/export.json").json()}
        assert exported[HR_QUESTION]["citations"][0]["withheld"] is True
        assert exported[HR_QUESTION]["citations"][0]["quote"] is None and exported[HR_QUESTION]["answer"]
        assert "27 vakantiedagen" in exported[HOLIDAYS]["answer"]
        rows = {r["question"]: r for r in csv_rows(client.get("/compliance/export.csv"))}
        assert "[withheld" in rows[HR_QUESTION]["answer"] and "[withheld]" in rows[HR_QUESTION]["citations"]
        assert rows[HR_QUESTION]["cited_documents"].startswith(hr_doc)  # ids and versions stay for the audit
        # the title cannot be used to probe a document one may not read; its id still finds the records
        assert HR_QUESTION not in client.get("/compliance", params={"document": "reorganisatie"}).text
        assert HR_QUESTION in client.get("/compliance", params={"document": hr_doc}).text

    with httpx.Client(base_url=url, timeout=60) as client:
        sign_in(client, "chris")  # compliance in group hr reads it all
        page = client.get(f"/compliance/records/{hr_record.record_id}")
        assert SECRET_TEXT in page.text and SECRET_TITLE in page.text and "[withheld" not in page.text
        assert HR_QUESTION in client.get("/compliance", params={"document": "reorganisatie"}).text
        exported = {d["question"]: d for d in client.get("/compliance/export.json").json()}
        assert SECRET_TEXT in exported[HR_QUESTION]["citations"][0]["quote"]


def test_retention_at_start_is_shown_read_only(settings: Settings, demo_store: QdrantStore, embedder: Embedder) -> None:
    make_user(settings.database_url, "emma")
    make_user(settings.database_url, "carla", roles=("compliance",))
    with serve(create_app(settings, store=demo_store, embedder=embedder)) as url:
        ask(url, api_token(settings.database_url, "emma"), HOLIDAYS)
    database = Database.open(settings.database_url)
    with database.session() as session:  # as if made a year ago (the hash covers created_at: re-hash it)
        row = session.scalars(select(AnswerRecord)).one()
        row.created_at = row.created_at.replace(year=row.created_at.year - 1)
        row.record_hash = record_hash(row)
    database.close()
    aged = settings.model_copy(update={"audit": settings.audit.model_copy(update={"retention_days": 30})})
    with serve(create_app(aged, store=demo_store, embedder=embedder)) as url, \
            httpx.Client(base_url=url, timeout=60) as client:
        sign_in(client, "carla")
        page = client.get("/compliance", headers={"Accept-Language": "en"})
        assert "30 days" in page.text and re.search(r"Removed by retention</dt>\s*<dd>1</dd>", page.text)
        assert HOLIDAYS not in page.text
        assert client.get("/api/compliance/verify").json()["removed_by_retention"] == 1


def test_the_llm_answer_checks_judgement_is_on_the_record_its_exports_and_api(
        settings: Settings, demo_store: QdrantStore, embedder: Embedder,
        scripted: Callable[..., ScriptedLLMServer]) -> None:
    """With an LLM configured, the check's judgement is kept with the answer and shown to compliance:
    the scripted fake judge (named as such; the real server's probabilities are tested in
    tests/assistant/test_llm_check.py) is sure the passage answers."""
    judge = scripted("YES", first_token={"YES": 0.98, "NO": 0.02})
    checked = settings.model_copy(update={
        "llm": settings.llm.model_copy(update={"base_url": f"http://127.0.0.1:{judge.server_address[1]}/v1"}),
        "answer": settings.answer.model_copy(update={"generator": "extractive"})})
    make_user(settings.database_url, "emma")
    make_user(settings.database_url, "carla", roles=("compliance",))
    with serve(create_app(checked, store=demo_store, embedder=embedder)) as url:
        assert ask(url, api_token(settings.database_url, "emma"), HOLIDAYS)["answered"]
        assert len(judge.prompts) == 1 and HOLIDAYS in judge.prompts[0]
        check = records(settings.database_url)[HOLIDAYS].llm_check
        assert check["said"] == "YES" and check["p_yes"] == pytest.approx(0.98) and check["stands"] is True
        assert check["score"] >= check["bar"] == checked.answer.llm_check_bar and check["graded"] is True
        with httpx.Client(base_url=url, timeout=60, headers={"Accept-Language": "en"}) as client:
            sign_in(client, "carla")
            record_id = records(settings.database_url)[HOLIDAYS].record_id
            page = client.get(f"/compliance/records/{record_id}").text
            shown = re.search(r"LLM answer check</dt><dd[^>]*>([^<]*)</dd>", page)
            assert shown and f"YES · P(YES) 0.980 · score {check['score']:.3f} / 0.70 · answer given" == shown[1]
            row = csv_rows(client.get("/compliance/export.csv"))[0]
            assert row["llm_check"] == f"YES P(YES)=0.980 score={check['score']:.3f} bar=0.70 stood"
            assert client.get("/compliance/export.json").json()[0]["llm_check"] == check
            assert client.get(f"/api/compliance/records/{record_id}").json()["llm_check"] == check
