"""The admin API over HTTP on the real app: sources, ingestion jobs watched to the end (a folder and
the generated mini-intranet), the document registry, erasure — and the token that guards it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from tests.fixtures import bad_files, small_corpus
from tests.ingest.intranet_server import Intranet
from tests.web.support import api_token, make_user, serve
from web.app import create_app

TOKEN = "test-admin-token-0123456789"


@pytest.fixture
def admin(settings: Settings, store: QdrantStore, embedder: Embedder) -> Iterator[httpx.Client]:
    configured = settings.model_copy(update={"web": settings.web.model_copy(update={"admin_token": SecretStr(TOKEN)})})
    with serve(create_app(configured, store=store, embedder=embedder)) as url, \
            httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def _finish(client: httpx.Client, job: dict[str, Any], timeout_s: float = 400) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    seen_running = False
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        seen_running |= job["status"] == "running"
        time.sleep(0.2)
        job = client.get(f"/api/admin/jobs/{job['job_id']}").json()
    return job


def test_admin_api_is_off_without_a_token_and_refuses_a_wrong_one(settings: Settings, store: QdrantStore,
                                                                  embedder: Embedder) -> None:
    make_user(settings.database_url, "plain-employee")
    with serve(create_app(settings, store=store, embedder=embedder)) as url:
        response = httpx.get(f"{url}/api/admin/sources")
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        employee = {"Authorization": f"Bearer {api_token(settings.database_url, 'plain-employee')}"}
        response = httpx.get(f"{url}/api/admin/sources", headers=employee)
        assert response.status_code == 403 and "admin role" in response.json()["error"]["message"]
    configured = settings.model_copy(update={"web": settings.web.model_copy(update={"admin_token": SecretStr(TOKEN)})})
    with serve(create_app(configured, store=store, embedder=embedder)) as url:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            response = httpx.post(f"{url}/api/admin/sources", json={"id": "x", "kind": "folder", "path": "/"},
                                  headers=headers)
            assert response.status_code == 401, headers
        assert httpx.get(f"{url}/api/admin/jobs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_folder_source_job_runs_to_the_end_with_progress_and_registry(admin: httpx.Client, tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs")
    bad_files(corpus / "bad")
    for body, status, words in [({"id": "Bad Id", "kind": "folder", "path": str(corpus)}, 400, "id"),
                                ({"id": "x", "kind": "folder", "path": str(tmp_path / "nope")}, 400, "does not exist"),
                                ({"id": "x", "kind": "ftp"}, 400, "kind")]:
        response = admin.post("/api/admin/sources", json=body)
        assert response.status_code == status and words in response.json()["error"]["message"], response.text
    created = admin.post("/api/admin/sources", json={"id": "hr", "kind": "folder", "path": str(corpus),
                                                     "groups": ["hr"]})
    assert created.status_code == 201
    assert admin.post("/api/admin/sources", json={"id": "hr", "kind": "folder", "path": str(corpus)}).status_code == 409
    assert admin.post("/api/admin/sources/nope/jobs").status_code == 404

    started = admin.post("/api/admin/sources/hr/jobs")
    assert started.status_code == 202
    job = _finish(admin, started.json())
    assert job["status"] == "succeeded", job
    assert job["files_total"] == 8 and job["files_done"] == 8 and job["chunks"] > 0 and job["failed"] == 2
    assert job["report"]["new"] and job["elapsed_s"] > 0

    registry = admin.get("/api/admin/documents", params={"source": "hr"}).json()
    assert registry["counts"] == {"indexed": 5, "failed": 2, "skipped": 1, "erased": 0, "stale": 0}
    failed = admin.get("/api/admin/documents", params={"source": "hr", "status": "failed"}).json()["documents"]
    assert {d["uri"]: bool(d["reason"]) for d in failed} == {"bad/corrupt.pdf": True, "bad/empty.docx": True}
    verlof = next(d for d in registry["documents"] if d["uri"] == "verlof.md")
    assert verlof["groups"] == ["hr"] and verlof["chunk_count"] > 0 and verlof["parser"]

    assert admin.delete(f"/api/admin/documents/{verlof['doc_id']}").status_code == 204
    tombstone = admin.get(f"/api/admin/documents/{verlof['doc_id']}").json()
    assert (tombstone["status"], tombstone["title"], tombstone["groups"]) == ("erased", "", [])
    kept_out = _finish(admin, admin.post("/api/admin/sources/hr/jobs").json())  # the file is still in the folder
    assert kept_out["report"]["new"] == [] and "verlof.md" in {s["uri"] for s in kept_out["report"]["skipped"]}
    assert admin.post(f"/api/admin/documents/{verlof['doc_id']}/allow").json()["allowed"] is True
    again = _finish(admin, admin.post("/api/admin/sources/hr/jobs").json())
    assert again["report"]["new"] == ["verlof.md"] and len(again["report"]["unchanged"]) == 4  # the erasure was real
    sources = admin.get("/api/admin/sources").json()
    assert [(s["id"], s["origin"], s["documents"]["indexed"]) for s in sources] == [("hr", "api", 5)]
    assert admin.delete("/api/admin/sources/hr", params={"erase": True}).status_code == 204
    assert admin.get("/api/admin/documents", params={"source": "hr"}).json()["counts"]["indexed"] == 0


def test_intranet_crawl_job_indexes_pages_answers_from_them_and_follows_changes(admin: httpx.Client,
                                                                               settings: Settings) -> None:
    with Intranet(slow_s=1.0) as site:
        body = {"id": "intranet", "kind": "web", "start_urls": [site.url("/")], "delay_s": 0.02, "timeout_s": 0.5}
        assert admin.post("/api/admin/sources", json=body).status_code == 201
        job = _finish(admin, admin.post("/api/admin/sources/intranet/jobs").json())
        assert job["status"] == "succeeded", job
        report = job["report"]
        assert site.url("/verlof") in report["new"] and site.url("/documenten/handboek.pdf") in report["new"]
        assert not any("/prive/" in uri for uri in report["new"])
        assert [f["uri"] for f in report["failed"]] == [site.url("/traag")]  # too slow: reported, run went on

        make_user(settings.database_url, "reader")  # the operator's admin token is for the admin API only
        reader = {"Authorization": f"Bearer {api_token(settings.database_url, 'reader')}"}
        answer = admin.post("/api/ask", json={"question": "Hoeveel vakantie-uren heb ik bij een volledig dienstverband?"},
                            headers=reader)
        assert answer.status_code == 200
        data = answer.json()
        assert data["answered"] and "165" in data["answer"]
        cited = next(c for c in data["citations"] if c["uri"] == site.url("/verlof"))
        viewer = admin.get(f"/documents/{cited['document_id']}", headers=reader)  # the source viewer links to the page itself
        assert viewer.status_code == 200 and f'href="{site.url("/verlof")}"' in viewer.text

        second = _finish(admin, admin.post("/api/admin/sources/intranet/jobs").json())["report"]
        assert not second["new"] and not second["updated"] and site.url("/verlof") in second["unchanged"]
        assert all(hit.status == 304 for hit in site.hits("/verlof")[1:])
