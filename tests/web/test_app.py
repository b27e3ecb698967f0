"""The real FastAPI app served by uvicorn on loopback, spoken to over HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from qdrant_client import QdrantClient

from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from tests.web.support import free_port, make_user, serve, sign_in
from web.app import create_app


@pytest.fixture(scope="module")
def app_settings(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The app's own data folder (its database with the test's accounts)."""
    data = tmp_path_factory.mktemp("app-data")
    return base_settings.model_copy(update={"data_dir": data, "embedding": base_settings.embedding.model_copy(
        update={"models_dir": base_settings.models_dir})})


@pytest.fixture(scope="module")
def base_url(app_settings: Settings, demo_store: QdrantStore, embedder: Embedder) -> Iterator[str]:
    make_user(app_settings.database_url, "employee")
    with serve(create_app(app_settings, store=demo_store, embedder=embedder)) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    """A signed-in employee's browser."""
    with httpx.Client(base_url=base_url, timeout=60) as c:
        sign_in(c, "employee")
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


def test_htmx_request_gets_a_fragment_that_streams_the_answer(client: httpx.Client) -> None:
    fragment = client.post("/ask", data={"question": "Hoeveel vakantiedagen heb ik?"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith("<")
    assert "<html" not in fragment.text and 'sse-connect="/ask/stream/' in fragment.text


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
    closed_port = free_port()  # nothing listens here
    client = QdrantClient(url=f"http://127.0.0.1:{closed_port}", timeout=2, check_compatibility=False)
    down = QdrantStore(client, "vraagbaak", local=False)
    configured = base_settings.model_copy(update={"auth": base_settings.auth.model_copy(update={"anonymous": True})})
    with serve(create_app(configured, store=down, embedder=embedder)) as url, httpx.Client(base_url=url) as c:
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
    thread_id = re.search(r'name="thread_id" form="ask-form" value="([0-9a-f]{32})"', first.text).group(1)  # type: ignore[union-attr]
    follow = client.post("/ask", data={"question": "en als ik parttime werk?", "thread_id": thread_id})
    assert follow.status_code == 200 and "vervolgvraag" in follow.text
