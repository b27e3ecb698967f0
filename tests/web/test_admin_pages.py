"""The admin pages on the real app over HTTP (uvicorn on loopback, SQLite, embedded Qdrant, the real
embedding model): sources through the form, a job watched through its self-polling progress block,
the registry, erasure everywhere, the scheduler, users, the masked settings, and who may see them."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from core.db import AnswerRecord, Database, GapTopicRow, JobRow, utcnow
from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from ingest.jobs import Jobs
from ingest.pipeline import Ingestor, document_id
from ingest.registry import Registry
from ingest.schedule import Scheduler, next_run
from ingest.sources.catalog import SourceCatalog
from tests.fixtures import bad_files, small_corpus
from tests.web.support import CSRF_IN_PAGE, PASSWORD, make_user, serve, sign_in
from web.app import create_app

STATUS = re.compile(r'id="job-progress" class="job-progress" data-status="(\w+)"')
LIVE = 'hx-trigger="every 1s"'


def _app(settings: Settings, store: QdrantStore, embedder: Embedder, **ingest: object):  # type: ignore[no-untyped-def]
    configured = settings.model_copy(update={"ingest": settings.ingest.model_copy(update=ingest)}) if ingest else settings
    return create_app(configured, store=store, embedder=embedder)


@pytest.fixture
def admin_user(settings: Settings) -> str:
    return make_user(settings.database_url, "root", roles=("employee", "admin"))


@pytest.fixture
def app_url(settings: Settings, store: QdrantStore, embedder: Embedder, admin_user: str) -> Iterator[str]:
    with serve(_app(settings, store, embedder)) as url:
        yield url


@pytest.fixture
def admin(app_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=app_url, timeout=60) as client:
        sign_in(client, "root")
        yield client


def _watch(client: httpx.Client, job_url: str, timeout_s: float = 400) -> tuple[list[str], str]:
    """Poll a job's progress fragment as htmx does; returns the statuses seen and the last fragment."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while True:
        fragment = client.get(job_url, headers={"HX-Request": "true"})
        assert fragment.status_code == 200 and "<html" not in fragment.text  # the block only, not the page
        status = STATUS.search(fragment.text).group(1)  # type: ignore[union-attr]
        seen.append(status)
        if status not in ("queued", "running"):
            assert LIVE not in fragment.text and "hx-get" not in fragment.text  # finished: it stops polling
            return seen, fragment.text
        assert LIVE in fragment.text and f'hx-get="{job_url}"' in fragment.text
        assert time.monotonic() < deadline, seen[-5:]
        time.sleep(0.05)


def _figure(html: str, outcome: str) -> int:
    return int(re.search(rf'data-outcome="{outcome}"><th scope="row">[^<]*</th><td>(\d+)</td>', html).group(1))  # type: ignore[union-attr]


def test_bad_source_forms_get_a_4xx_with_the_validation_message_beside_the_field(admin: httpx.Client,
                                                                                 tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs")
    for form, status, field, words in [
        ({"kind": "folder", "id": "Bad Id", "path": str(corpus)}, 400, "id", "should match pattern"),
        ({"kind": "folder", "id": "x", "path": str(tmp_path / "nope")}, 400, "path", "does not exist"),
        ({"kind": "folder", "id": "x", "path": str(corpus), "group_rules": "hr/** without colon"}, 400, "group_rules",
         "key: value"),
        ({"kind": "folder", "id": "x", "path": str(corpus), "schedule_minutes": "0"}, 400, "schedule_minutes",
         "greater than or equal to 1"),
        ({"kind": "web", "id": "site"}, 400, "start_urls", "give start URLs or a sitemap"),
        ({"kind": "web", "id": "site", "start_urls": "https://intranet.example/", "max_pages": "lots"}, 400,
         "max_pages", "valid integer"),
    ]:
        response = admin.post("/admin/sources/new", data=form)
        assert response.status_code == status, (form, response.text[:300])
        error = re.search(rf'<p class="field-error" id="e-{field}">([^<]*)</p>', response.text)
        assert error and words in error.group(1), (form, response.text[-2000:])
        assert 'aria-invalid="true"' in response.text
        assert f'value="{form["id"]}"' in response.text  # what was typed is kept
    assert admin.post("/admin/sources/new", data={"kind": "ftp", "id": "x"}).status_code == 400
    assert "Nog geen bronnen." in admin.get("/admin/sources").text  # nothing was added


def test_admin_adds_a_folder_source_runs_it_and_watches_the_job_to_its_report(
        admin: httpx.Client, tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs")
    bad_files(corpus / "bad")
    (corpus / "notes.txt.meta.yml").write_text("expires: 2020-01-01\n", encoding="utf-8")
    added = admin.post("/admin/sources/new", data={"kind": "folder", "id": "beleid", "path": str(corpus),
                                                   "exclude": "**/*.bin\n", "metadata": "owner: HR"})
    assert added.status_code == 303 and added.headers["location"] == "/admin/sources/beleid"
    again = admin.post("/admin/sources/new", data={"kind": "folder", "id": "beleid", "path": str(corpus)})
    assert again.status_code == 409 and "exists already" in again.text
    listing = admin.get("/admin/sources")
    assert 'href="/admin/sources/beleid"' in listing.text and "nog nooit" in listing.text

    started = admin.post("/admin/sources/beleid/run", data={})
    assert started.status_code == 303 and started.headers["location"].startswith("/admin/jobs/")
    job_url = started.headers["location"]
    page = admin.get(job_url)
    assert page.status_code == 200 and "<html" in page.text and 'id="job-progress"' in page.text
    seen, final = _watch(admin, job_url)
    assert "running" in seen and seen[-1] == "succeeded", seen
    assert _figure(final, "new") == 5 and _figure(final, "failed") == 2 and _figure(final, "removed") == 0
    failed_rows = re.search(r'data-list="failed">(.*?)</table>', final, re.S).group(1)  # type: ignore[union-attr]
    assert "bad/corrupt.pdf" in failed_rows and "bad/empty.docx" in failed_rows
    assert "<td></td>" not in failed_rows  # every failure has its reason

    registry = admin.get("/admin/documents", params={"source": "beleid"})
    assert registry.status_code == 200
    for uri in ("verlof.md", "expenses.html", "security.docx", "onboarding.pdf", "notes.txt", "bad/corrupt.pdf"):
        assert uri in registry.text
    failed = admin.get("/admin/documents", params={"source": "beleid", "status": "failed"}).text
    assert "bad/corrupt.pdf" in failed and "verlof.md" not in failed
    found = admin.get("/admin/documents", params={"q": "onboard"}).text
    assert "onboarding.pdf" in found and "verlof.md" not in found
    stale = admin.get("/admin/documents", params={"stale": "1"}).text
    assert "notes.txt" in stale and "verlopen" in stale and stale.count('href="/admin/documents/') == 1
    overview = admin.get("/admin").text
    assert re.search(r'status=failed" class="warn"><span class="figure">2</span>', overview)
    assert re.search(r'stale=1" class="warn"><span class="figure">1</span>', overview)

    verlof = document_id("beleid", "verlof.md")
    detail = admin.get(f"/admin/documents/{verlof}")
    assert detail.status_code == 200 and "Verlofregeling testbedrijf" in detail.text and "owner: HR" in detail.text
    assert f'href="/documents/{verlof}"' in detail.text

    reindexed = admin.post(f"/admin/documents/{verlof}/reindex", data={})
    assert reindexed.status_code == 303
    seen, final = _watch(admin, reindexed.headers["location"])
    assert seen[-1] == "succeeded" and _figure(final, "updated") == 1 and _figure(final, "removed") == 0
    assert _figure(final, "unchanged") == 0 and _figure(final, "new") == 0  # only that document, forced
    assert admin.get("/admin/documents", params={"source": "beleid", "status": "indexed"}).text.count(
        'href="/admin/documents/') == 5  # nothing else was touched or removed

    edited = admin.post("/admin/sources/beleid", data={"path": str(corpus), "groups": "hr, directie"})
    assert edited.status_code == 303
    assert "hr, directie" in admin.get("/admin/sources/beleid/edit").text
    assert "Bad" not in admin.get("/admin/jobs").text and "beleid" in admin.get("/admin/jobs").text


def test_file_sources_are_read_only_here(settings: Settings, store: QdrantStore, embedder: Embedder,
                                         admin_user: str, tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs")
    sources_file = tmp_path / "sources.yml"
    sources_file.write_text(f"sources:\n  - id: handboek\n    kind: folder\n    path: {corpus}\n", encoding="utf-8")
    with serve(_app(settings, store, embedder, sources_file=sources_file)) as url, \
            httpx.Client(base_url=url, timeout=60) as admin:
        sign_in(admin, "root")
        page = admin.get("/admin/sources/handboek")
        assert page.status_code == 200 and "bronnenbestand" in page.text and "/admin/sources/handboek/edit" not in page.text
        for method, path in [("GET", "/admin/sources/handboek/edit"), ("POST", "/admin/sources/handboek"),
                             ("POST", "/admin/sources/handboek/schedule"), ("POST", "/admin/sources/handboek/remove")]:
            response = admin.request(method, path, data={"path": str(corpus)} if method == "POST" else None)
            assert response.status_code == 409 and "sources file" in response.text, (method, path)


def test_erasing_a_document_removes_it_everywhere_but_keeps_the_answer_records(
        settings: Settings, store: QdrantStore, embedder: Embedder, admin_user: str, tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs")
    database = Database.open(settings.database_url)
    catalog = SourceCatalog(Registry(database))
    catalog.add({"id": "beleid", "kind": "folder", "path": str(corpus)})
    Ingestor(store, embedder, settings.ingest, Registry(database)).ingest_source(catalog.get("beleid").build())
    verlof, notes = document_id("beleid", "verlof.md"), document_id("beleid", "notes.txt")
    with database.session() as session:
        session.add(GapTopicRow(topic_id="t1", label="verlof", details={"kind": "gap", "recheck": {"questions": [
            {"question": "Hoeveel vakantiedagen?", "answer": "27 vakantiedagen per jaar", "answered": True,
             "sources": [{"doc_id": verlof, "title": "Verlofregeling", "uri": "verlof.md"}]},
            {"question": "Kantine?", "answer": "Open van 8 tot 14 uur.", "answered": True,
             "sources": [{"doc_id": notes, "title": "Kantine", "uri": "notes.txt"}]}]}}))
    question = {"question": "Hoeveel vakantiedagen heb ik bij een volledig dienstverband?"}
    app = _app(settings, store, embedder)
    cache = {verlof: "cached answer text from the document"}  # an in-process cache that registered its hook
    app.state.erasure_hooks = {"answers": lambda doc_id: 1 if cache.pop(doc_id, None) else 0}
    with serve(app) as url, httpx.Client(base_url=url, timeout=60) as admin:
        sign_in(admin, "root")
        before = admin.post("/api/ask", json=question).json()
        assert before["answered"] and any(c["document_id"] == verlof for c in before["citations"])
        assert admin.get(f"/documents/{verlof}").status_code == 200

        confirm = admin.get(f"/admin/documents/{verlof}/delete")
        assert confirm.status_code == 200 and f'action="/admin/documents/{verlof}/delete"' in confirm.text
        erased = admin.post(f"/admin/documents/{verlof}/delete", data={})
        assert erased.status_code == 200, erased.text[-500:]
        report = erased.text
        assert re.search(r'data-where="store"><th scope="row">[^<]*</th><td>([1-9]\d*)</td>', report)
        assert re.search(r'data-where="registry"><th scope="row">[^<]*</th><td>1</td>', report)
        assert re.search(r'data-where="gap_topics"><th scope="row">[^<]*</th><td>2 \(1 ', report)  # source, answer
        assert re.search(r'data-where="cache"><th scope="row">[^<]*answers</th><td>1</td>', report)
        assert 'data-kept="1"' in report and not cache

        assert re.search(r'data-where="blocked"><th scope="row">[^<]*</th><td>ja</td>', report)  # Dutch page
        assert admin.get(f"/documents/{verlof}").status_code == 404
        tombstone = admin.get(f"/admin/documents/{verlof}")  # only the id, source and location are left
        assert tombstone.status_code == 200 and f'action="/admin/documents/{verlof}/allow"' in tombstone.text
        assert "verlof.md" in tombstone.text and f"/admin/documents/{verlof}/delete" not in tombstone.text
        assert admin.post(f"/admin/documents/{verlof}/delete", data={}).status_code == 404
        assert admin.post(f"/api/admin/documents/{verlof}/reindex").status_code == 409
        assert admin.post(f"/api/admin/documents/{notes}/allow").status_code == 404  # not erased
        after = admin.post("/api/ask", json=question).json()
        assert all(c["document_id"] != verlof for c in after["citations"])
        assert "27 vakantiedagen" not in after["answer"]
        assert admin.get(f"/documents/{notes}").status_code == 200  # the rest stays
        api = admin.post(f"/api/admin/documents/{notes}/erase")  # the JSON twin says the same
        assert api.status_code == 200 and api.json()["registry_rows"] == 1 and api.json()["store_chunks"] >= 1
        assert api.json()["gap_entries"] == 2 and admin.get(f"/documents/{notes}").status_code == 404
        assert api.json()["blocked"] is True

        # the files are still in the folder: the next run skips them, says why, and writes nothing back
        ingestor = Ingestor(store, embedder, settings.ingest, Registry(database))
        rerun = ingestor.ingest_source(catalog.get("beleid").build())
        skipped = {f.uri: f.reason for f in rerun.skipped}
        assert set(skipped) >= {"verlof.md", "notes.txt"} and "erased on" in skipped["verlof.md"]
        assert "verlof.md" not in rerun.new + rerun.updated + rerun.removed
        assert not store.versions(verlof) and not store.versions(notes)
        assert "27 vakantiedagen" not in admin.post("/api/ask", json=question).json()["answer"]
        left = Registry(database).get(verlof)
        assert left is not None and (left.status, left.title, left.groups, left.version) == ("erased", "", (), None)
        listed = admin.get("/admin/documents", params={"status": "erased"}).text
        assert listed.count('href="/admin/documents/') == 2

        # an admin allows one back: the next run indexes it again
        allowed = admin.post(f"/admin/documents/{verlof}/allow", data={})
        assert allowed.status_code == 303 and allowed.headers["location"] == "/admin/sources/beleid"
        assert admin.post(f"/api/admin/documents/{verlof}/allow").status_code == 404  # once
        back = ingestor.ingest_source(catalog.get("beleid").build())
        assert "verlof.md" in back.new and "notes.txt" in {f.uri for f in back.skipped}
        assert admin.get(f"/documents/{verlof}").status_code == 200
    with database.session() as session:
        topic = session.get(GapTopicRow, "t1")
        assert topic.details == {"kind": "gap", "recheck": {"questions": [
            {"question": "Hoeveel vakantiedagen?", "answer": "", "answered": True, "sources": []},
            {"question": "Kantine?", "answer": "", "answered": True, "sources": []}]}}
        records = list(session.scalars(select(AnswerRecord)))
        assert len(records) == 3 and any(verlof in str(r.cited) for r in records)  # the compliance log stays
    assert Registry(database).get(notes).status == "erased" and not store.versions(notes)
    database.close()


def test_the_scheduler_starts_a_job_when_a_source_is_due(settings: Settings, store: QdrantStore,
                                                          embedder: Embedder, admin_user: str, tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs")
    other = small_corpus(tmp_path / "other")
    with serve(_app(settings, store, embedder, schedule_tick_s=0.2, isolate_parsing=False)) as url, \
            httpx.Client(base_url=url, timeout=60) as admin:
        sign_in(admin, "root")
        assert admin.post("/admin/sources/new", data={"kind": "folder", "id": "handmatig", "path": str(other)}
                          ).status_code == 303
        assert admin.post("/admin/sources/new", data={"kind": "folder", "id": "gepland", "path": str(corpus)}
                          ).status_code == 303
        time.sleep(1.0)
        assert 'href="/admin/jobs/' not in admin.get("/admin/jobs").text  # no schedule yet: nothing starts
        assert admin.post("/admin/sources/gepland/schedule", data={"schedule_minutes": "1"}).status_code == 303
        assert "elke 1 minuten" in admin.get("/admin/sources").text
        deadline = time.monotonic() + 30
        while 'href="/admin/jobs/' not in (jobs := admin.get("/admin/jobs", params={"source": "gepland"}).text):
            assert time.monotonic() < deadline, "the scheduler started no job"
            time.sleep(0.1)
        job_url = re.search(r'href="(/admin/jobs/\w+)"', jobs).group(1)  # type: ignore[union-attr]
        seen, final = _watch(admin, job_url)
        assert seen[-1] == "succeeded" and _figure(final, "new") == 5
        time.sleep(1.0)  # five more ticks: the source is not due again for a minute
        assert admin.get("/admin/jobs", params={"source": "gepland"}).text.count('href="/admin/jobs/') == 1
        assert 'href="/admin/jobs/' not in admin.get("/admin/jobs", params={"source": "handmatig"}).text

        confirm = admin.get("/admin/sources/gepland/remove")
        assert confirm.status_code == 200 and "<strong>5</strong>" in confirm.text
        removed = admin.post("/admin/sources/gepland/remove", data={})
        assert removed.status_code == 200 and "<dd>5</dd>" in removed.text
        assert admin.get("/admin/documents", params={"source": "gepland"}).text.count('href="/admin/documents/') == 0
        assert admin.get("/admin/sources/gepland").status_code == 404


def test_a_due_source_is_started_once_and_then_waits_its_interval(settings: Settings) -> None:
    """The scheduler's rule on its own, with a real database and a clock the test moves."""
    database = Database.open(settings.database_url)
    catalog, jobs = SourceCatalog(Registry(database)), Jobs(database)
    catalog.add({"id": "a", "kind": "folder", "path": str(settings.data_dir), "schedule_minutes": 30})
    catalog.add({"id": "b", "kind": "folder", "path": str(settings.data_dir)})
    now = [utcnow()]
    started: list[str] = []

    def start(source_id: str) -> str:
        started.append(source_id)
        return jobs.create(source_id)

    scheduler = Scheduler(catalog, jobs, start, clock=lambda: now[0])
    assert scheduler.tick() and started == ["a"]
    assert scheduler.due() == []  # its job is queued
    with database.session() as session:
        for row in session.scalars(select(JobRow)):
            row.status, row.created_at = "succeeded", now[0]
    assert scheduler.due() == []
    now[0] = now[0] + timedelta(minutes=29)
    assert scheduler.due() == []
    now[0] = now[0] + timedelta(minutes=2)
    assert scheduler.due() == ["a"]
    assert next_run(None, None) is None
    database.close()


def test_users_are_created_changed_switched_off_and_an_admin_cannot_demote_themselves(
        app_url: str, admin: httpx.Client, admin_user: str, settings: Settings) -> None:
    short = admin.post("/admin/users", data={"username": "anna", "password": "short", "roles": ["employee"]})
    assert short.status_code == 400 and "at least 10 characters" in short.text and 'value="anna"' in short.text
    bad_role = admin.post("/admin/users", data={"username": "anna", "password": PASSWORD, "roles": ["boss"]})
    assert bad_role.status_code == 400 and "Unknown role" in bad_role.text
    created = admin.post("/admin/users", data={"username": "anna", "display_name": "Anna de Vries", "password": PASSWORD,
                                               "roles": ["employee"], "groups": "hr"})
    assert created.status_code == 303
    assert admin.post("/admin/users", data={"username": "anna", "password": PASSWORD}).status_code == 409
    listing = admin.get("/admin/users").text
    anna_id = re.search(r'href="/admin/users/(\w+)">anna</a>', listing).group(1)  # type: ignore[union-attr]
    assert "Anna de Vries" in listing and "lokaal" in listing

    with httpx.Client(base_url=app_url, timeout=60) as anna:
        sign_in(anna, "anna")
        assert anna.get("/api/me").json()["groups"] == ["hr"]
        assert anna.get("/admin").status_code == 403
        saved = admin.post(f"/admin/users/{anna_id}", data={"roles": ["employee", "learning"], "groups": "hr, finance",
                                                            "active": "1", "display_name": "Anna"})
        assert saved.status_code == 200 and "Opgeslagen" in saved.text
        me = anna.get("/api/me").json()
        assert me["groups"] == ["finance", "hr"] and me["roles"] == ["employee", "learning"]
        groups = admin.get("/admin/groups").text
        assert re.search(r"<code>finance</code>.*?<td>1</td>", groups, re.S)

        off = admin.post(f"/admin/users/{anna_id}", data={"roles": ["employee"], "groups": "hr"})  # no `active`
        assert off.status_code == 200
        assert anna.get("/api/me").status_code == 401  # her session stopped working
        assert anna.get("/").status_code == 303
        with httpx.Client(base_url=app_url) as again:
            form = again.get("/login")
            token = CSRF_IN_PAGE.search(form.text).group(1)  # type: ignore[union-attr]
            assert again.post("/login", data={"username": "anna", "password": PASSWORD, "csrf_token": token}
                              ).status_code == 401

    own = admin.post(f"/admin/users/{admin_user}", data={"roles": ["employee"], "active": "1"})
    assert own.status_code == 409 and "your own admin role" in own.text
    own = admin.post(f"/admin/users/{admin_user}", data={"roles": ["employee", "admin"]})
    assert own.status_code == 409 and "switch off your own account" in own.text
    assert admin.post(f"/admin/users/{admin_user}/delete", data={}).status_code == 409
    assert admin.get("/admin").status_code == 200  # still an admin

    make_user(settings.database_url, "ben")
    ben_id = re.search(r'href="/admin/users/(\w+)">ben</a>', admin.get("/admin/users").text).group(1)  # type: ignore[union-attr]
    assert admin.post(f"/admin/users/{ben_id}/password", data={"password": "tiny"}).status_code == 400
    reset = admin.post(f"/admin/users/{ben_id}/password", data={"password": "a brand new passphrase"})
    assert reset.status_code == 200
    with httpx.Client(base_url=app_url) as ben:
        sign_in(ben, "ben", "a brand new passphrase")
        assert admin.get(f"/admin/users/{ben_id}/delete").status_code == 200
        deleted = admin.post(f"/admin/users/{ben_id}/delete", data={})
        assert deleted.status_code == 200 and "<dd>1</dd>" in deleted.text  # one session ended
        assert ben.get("/api/me").status_code == 401
    assert admin.get(f"/admin/users/{ben_id}").status_code == 404


def test_the_settings_page_masks_every_secret(settings: Settings, store: QdrantStore, embedder: Embedder,
                                              admin_user: str) -> None:
    secrets = {"admin-token-value-123", "llm-key-value-456", "qdrant-key-value-789", "oidc-secret-value-012",
               "pseudonym-secret-345", "lrspass678", "lrs-token-901", "qdrantpw234"}
    configured = settings.model_copy(update={
        "web": settings.web.model_copy(update={"admin_token": SecretStr("admin-token-value-123")}),
        "llm": settings.llm.model_copy(update={"api_key": SecretStr("llm-key-value-456")}),
        "store": settings.store.model_copy(update={"api_key": SecretStr("qdrant-key-value-789"),
                                                   "url": "https://qdrantuser:qdrantpw234@qdrant.example:6333"}),
        "oidc": settings.oidc.model_copy(update={"client_secret": SecretStr("oidc-secret-value-012")}),
        "answer": settings.answer.model_copy(update={"pseudonym_secret": SecretStr("pseudonym-secret-345")}),
        "xapi": settings.xapi.model_copy(update={"endpoint": "https://lrsuser:lrspass678@lrs.example/xapi/?token=lrs-token-901&v=1"}),
    })
    with serve(create_app(configured, store=store, embedder=embedder)) as url, \
            httpx.Client(base_url=url, timeout=60) as admin:
        sign_in(admin, "root")
        page = admin.get("/admin/settings")
        assert page.status_code == 200
        leaked = [s for s in secrets if s in page.text]
        assert not leaked, leaked
        assert "VRAAGBAAK_WEB__ADMIN_TOKEN" in page.text and page.text.count("••••••") >= 8
        assert "https://••••••@lrs.example/xapi/?token=••••••&amp;v=1" in page.text
        assert "qdrant.example:6333" in page.text and "multilingual-e5-small" in page.text
        assert "VRAAGBAAK_INGEST__SCHEDULE_TICK_S" in page.text


ADMIN_PAGES = ["/admin", "/admin/sources", "/admin/sources/new?kind=web", "/admin/sources/x", "/admin/sources/x/edit",
               "/admin/sources/x/remove", "/admin/jobs", "/admin/jobs/abc", "/admin/documents",
               "/admin/documents/abc", "/admin/documents/abc/delete", "/admin/users", "/admin/users/abc",
               "/admin/users/abc/delete", "/admin/groups", "/admin/settings"]
ADMIN_POSTS = ["/admin/sources/new", "/admin/sources/x", "/admin/sources/x/schedule", "/admin/sources/x/run",
               "/admin/sources/x/remove", "/admin/documents/abc/reindex", "/admin/documents/abc/delete",
               "/admin/documents/abc/allow",
               "/admin/users", "/admin/users/abc", "/admin/users/abc/password", "/admin/users/abc/delete"]


def test_only_admins_reach_the_admin_pages(app_url: str, admin: httpx.Client, settings: Settings) -> None:
    make_user(settings.database_url, "emma", roles=("employee", "compliance", "learning"))
    with httpx.Client(base_url=app_url) as employee, httpx.Client(base_url=app_url) as anonymous:
        sign_in(employee, "emma")
        for path in ADMIN_PAGES:
            assert employee.get(path).status_code == 403, path
            response = anonymous.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/login?next=%2Fadmin"), path
        for path in ADMIN_POSTS:
            assert employee.post(path, data={"username": "x", "password": PASSWORD}).status_code == 403, path
            assert anonymous.post(path, data={}).status_code in (401, 403), path
        assert "/admin" not in employee.get("/").text.split("<main")[0]  # no admin link in the menu
    assert 'href="/admin"' in admin.get("/").text
    for path in ADMIN_PAGES[:3] + ["/admin/jobs", "/admin/documents", "/admin/users", "/admin/groups", "/admin/settings"]:
        assert admin.get(path).status_code == 200, path
    del admin.headers["X-CSRF-Token"]
    refused = admin.post("/admin/users", data={"username": "mallory", "password": PASSWORD, "roles": ["admin"]})
    assert refused.status_code == 403 and "mallory" not in admin.get("/admin/users").text  # no CSRF token, no user
