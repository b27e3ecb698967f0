"""The real FastAPI app served by uvicorn on loopback, spoken to over HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from qdrant_client import QdrantClient

from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from web.app import create_app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run the app under uvicorn on a free loopback port for the duration of the block."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
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


@pytest.fixture(scope="module")
def base_url(base_settings: Settings, demo_store: QdrantStore, embedder: Embedder) -> Iterator[str]:
    with serve(create_app(base_settings, store=demo_store, embedder=embedder)) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as c:
        yield c


def test_health(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["chunks"] > 50


def test_home_page_has_a_question_form_and_says_it_is_ai(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert '<form id="ask-form" class="ask" method="post" action="/ask"' in page.text
    assert "AI-assistent" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text  # no inline scripts


def test_form_post_without_javascript_returns_the_whole_page_with_the_answer(client: httpx.Client) -> None:
    page = client.post("/ask", data={"question": "Hoeveel vakantiedagen heb ik?"})
    assert page.status_code == 200
    assert page.text.lstrip().startswith("<!doctype html>")
    assert "25 vakantiedagen" in page.text
    assert 'href="#cite-1"' in page.text and "<mark>" in page.text
    assert "/documents/" in page.text


def test_htmx_request_gets_only_the_answer_fragment(client: httpx.Client) -> None:
    fragment = client.post("/ask", data={"question": "Hoeveel vakantiedagen heb ik?"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith("<article")
    assert "<html" not in fragment.text and "25 vakantiedagen" in fragment.text


def test_json_api_returns_answer_with_citations(client: httpx.Client) -> None:
    response = client.post("/api/ask", json={"question": "Hoeveel vakantiedagen heb ik?"})
    assert response.status_code == 200
    body = response.json()
    assert body["answered"] is True and body["language"] == "nl"
    citation = body["citations"][0]
    assert citation["title"] and citation["uri"] == "beleid/verlofregeling.pdf" and citation["page"]
    assert citation["passage"][citation["quote_start"]:citation["quote_end"]] == citation["quote"]
    assert body["ai_disclosure"]
    viewer = client.get(citation["url"])
    assert viewer.status_code == 200 and "<mark>" in viewer.text


def test_unanswerable_question_via_api_is_refused(client: httpx.Client) -> None:
    body = client.post("/api/ask", json={"question": "Wat is de hoogte van de leaseauto-bijtelling voor managers?"}).json()
    assert body["answered"] is False and body["citations"] == [] and body["suggestions"]


@pytest.mark.parametrize("payload", [{}, {"question": ""}, {"question": 42}, {"question": "x" * 30000}])
def test_bad_api_requests_get_a_4xx_with_a_message(client: httpx.Client, payload: dict) -> None:
    response = client.post("/api/ask", json=payload)
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["message"]
    assert "Traceback" not in response.text


def test_malformed_json_gets_a_4xx(client: httpx.Client) -> None:
    response = client.post("/api/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "Traceback" not in response.text


def test_user_input_is_escaped(client: httpx.Client) -> None:
    question = "<script>alert(1)</script> vakantiedagen?"
    page = client.post("/ask", data={"question": question})
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_unknown_document_is_a_404_page(client: httpx.Client) -> None:
    response = client.get("/documents/deadbeef")
    assert response.status_code == 404 and "Traceback" not in response.text
    assert client.get("/documents/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_original_pdf_opens_inline_and_html_downloads(client: httpx.Client) -> None:
    body = client.post("/api/ask", json={"question": "Hoeveel vakantiedagen heb ik?"}).json()
    doc = body["citations"][0]["document_id"]
    pdf = client.get(f"/documents/{doc}/original")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_openapi_and_docs_work_offline(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/ask" in spec["paths"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/static/swagger/swagger-ui-bundle.js" in docs.text
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    assert client.get("/static/htmx.min.js").status_code == 200


def test_store_unavailable_gives_a_clear_503(base_settings: Settings, embedder: Embedder) -> None:
    closed_port = _free_port()  # nothing listens here
    client = QdrantClient(url=f"http://127.0.0.1:{closed_port}", timeout=2, check_compatibility=False)
    down = QdrantStore(client, "vraagbaak", local=False)
    with serve(create_app(base_settings, store=down, embedder=embedder)) as url, httpx.Client(base_url=url) as c:
        health = c.get("/healthz")
        assert health.status_code == 503
        assert health.json()["error"]["code"] == "store_unavailable"
        api = c.post("/api/ask", json={"question": "Hoeveel vakantiedagen heb ik?"})
        assert api.status_code == 503 and "unavailable" in api.json()["error"]["message"]
        page = c.post("/ask", data={"question": "Hoeveel vakantiedagen heb ik?"})
        assert page.status_code == 503 and "unavailable" in page.text and "Traceback" not in page.text


def test_follow_up_through_the_api_and_the_form(client: httpx.Client) -> None:
    body = client.post("/api/ask", json={"question": "en als ik parttime werk?",
                                         "history": ["Hoeveel vakantiedagen heb ik?"]}).json()
    assert body["standalone_question"].startswith("Hoeveel vakantiedagen heb ik")
    first = client.post("/ask", data={"question": "Hoeveel vakantiedagen heb ik?"})
    assert 'name="previous" form="ask-form" value="Hoeveel vakantiedagen heb ik?"' in first.text
    follow = client.post("/ask", data={"question": "en als ik parttime werk?",
                                       "previous": "Hoeveel vakantiedagen heb ik?"})
    assert follow.status_code == 200 and "vervolgvraag" in follow.text
