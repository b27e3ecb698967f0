"""The employee's ask page over HTTP against the real app (uvicorn on loopback, the demo corpus, the
real embedding model, a real SQLite database): the answer streams over server-sent events, follow-ups
stay in their thread, answers are rated, the source viewer marks the quote, in Dutch and English."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import func, select

from assistant.extractive import ExtractiveGenerator
from assistant.llm import LLMGenerator
from assistant.llm_server import LlamaServer
from assistant.retrieve import Retrieval
from core.db import AnswerRecord, Database, FeedbackRow
from core.embedding import Embedder
from core.settings import LLMSettings, Settings
from core.store import QdrantStore
from core.types import Hit, Passage
from tests.web.support import api_token, free_port, make_user, serve, sign_in
from web.app import create_app
from web.routes.pages import lesson_of, original_link

VACATION = "Hoeveel vakantiedagen heb ik?"
UNANSWERABLE = "Wat is de hoogte van de leaseauto-bijtelling voor managers?"
STREAM_URL = re.compile(r'sse-connect="(/ask/stream/[^"]+)"')
THREAD_ID = re.compile(r'name="thread_id" form="ask-form" value="([0-9a-f]{32})"')
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"\sstyle\s*=|<style", re.IGNORECASE)


@pytest.fixture(scope="module")
def app_settings(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data = tmp_path_factory.mktemp("ask-page-data")
    return base_settings.model_copy(update={"data_dir": data, "embedding": base_settings.embedding.model_copy(
        update={"models_dir": base_settings.models_dir})})


@pytest.fixture(scope="module")
def base_url(app_settings: Settings, demo_store: QdrantStore, embedder: Embedder) -> Iterator[str]:
    for name in ("ann", "bob", "eva"):
        make_user(app_settings.database_url, name)
    with serve(create_app(app_settings, store=demo_store, embedder=embedder)) as url:
        yield url


@pytest.fixture(scope="module")
def database(app_settings: Settings, base_url: str) -> Iterator[Database]:
    database = Database.open(app_settings.database_url)
    yield database
    database.close()


@contextmanager
def _browser(base_url: str, name: str) -> Iterator[httpx.Client]:
    """A browser signed in as `name`."""
    with httpx.Client(base_url=base_url, timeout=120) as client:
        sign_in(client, name)
        yield client


@pytest.fixture(scope="module")
def ann(base_url: str) -> Iterator[httpx.Client]:
    with _browser(base_url, "ann") as client:
        yield client


@pytest.fixture(scope="module")
def bob(base_url: str) -> Iterator[httpx.Client]:
    with _browser(base_url, "bob") as client:
        yield client


def start(client: httpx.Client, question: str, thread_id: str = "") -> tuple[str, str]:
    """Post the question as htmx does; returns the stream's URL and the fragment."""
    response = client.post("/ask", data={"question": question, "thread_id": thread_id}, headers={"HX-Request": "true"})
    assert response.status_code == 200, response.text
    return STREAM_URL.search(response.text).group(1), response.text  # type: ignore[union-attr]


def events(client: httpx.Client, url: str) -> list[tuple[str, str]]:
    """Read a whole event stream: (event name, data) in the order they came."""
    found: list[tuple[str, str]] = []
    with client.stream("GET", url, headers={"Accept": "text/event-stream"}) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        name, data = "message", []
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif not line:
                found.append((name, "\n".join(data)))
                name, data = "message", []
    return found


def records(database: Database, question: str) -> list[AnswerRecord]:
    with database.session() as session:
        rows = session.scalars(select(AnswerRecord).where(AnswerRecord.question == question)
                               .order_by(AnswerRecord.created_at)).all()
        session.expunge_all()
        return list(rows)


def assert_no_inline_code(html: str) -> None:
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html)
    assert not INLINE_STYLE.search(html), INLINE_STYLE.search(html)


# ------------------------------------------------------------------------------ streaming


def test_the_answer_streams_status_then_sentences_then_the_verified_answer(ann: httpx.Client,
                                                                          database: Database) -> None:
    before = len(records(database, VACATION))
    url, fragment = start(ann, VACATION)
    assert VACATION not in url and "vakantie" not in url  # the question never sits in a URL
    assert 'hx-ext="sse"' in fragment and 'aria-busy="true"' in fragment
    assert re.search(r'class="answer-text draft" aria-hidden="true"', fragment)
    got = events(ann, url)
    names = [name for name, _ in got]
    assert names[0] == "status" and names[-2:] == ["answer", "done"]
    sentences = [data for name, data in got if name == "sentence"]
    assert sentences and names.index("answer") > names.index("sentence")
    assert any("vakantiedagen" in s for s in sentences)
    assert all('class="marker"' in s and 'href="/documents/' in s and 'tabindex="-1"' in s for s in sentences)
    final = dict(got)["answer"]
    assert 'id="answer-article"' in final and 'lang="nl"' in final and "25 vakantiedagen" in final
    assert "Zekerheid:" in final and 'href="#cite-1"' in final and "<mark>" in final
    assert 'class="thumbs thumbs-down"' in final and 'id="feedback-comment"' in final
    assert 'id="announce" hx-swap-oob="innerHTML"' in final  # the finished answer is announced once
    for _, data in got:
        assert_no_inline_code(data)
    after = records(database, VACATION)
    assert len(after) == before + 1  # recorded once: the final answer
    assert after[-1].answered and "25 vakantiedagen" in after[-1].answer
    assert after[-1].timings_ms["first_sentence"] <= after[-1].timings_ms["total"]


def test_an_unanswerable_question_streams_a_refusal(ann: httpx.Client) -> None:
    url, _ = start(ann, UNANSWERABLE)
    got = events(ann, url)
    assert [name for name, _ in got if name == "sentence"] == []
    final = dict(got)["answer"]
    assert 'data-answered="false"' in final and 'data-confidence="none"' in final
    assert "niet gevonden" in final and "Misschien helpen deze documenten verder" in final


def test_another_user_cannot_open_someone_elses_stream(ann: httpx.Client, bob: httpx.Client) -> None:
    url, _ = start(ann, VACATION)
    stolen = bob.get(url)
    assert stolen.status_code == 404 and "vakantie" not in stolen.text
    assert dict(events(ann, url))["answer"]  # the owner still gets it
    again = ann.get(url)
    assert again.status_code == 404  # a stream opens once


def test_a_stream_needs_sign_in_and_an_unknown_one_is_a_404(base_url: str, ann: httpx.Client) -> None:
    url, _ = start(ann, VACATION)
    with httpx.Client(base_url=base_url) as stranger:
        response = stranger.get(url, headers={"Accept": "application/json"})
        assert response.status_code == 401
    assert ann.get("/ask/stream/not-a-stream").status_code == 404
    assert dict(events(ann, url))["answer"]


def test_the_answer_fragment_speaks_the_answers_language(ann: httpx.Client) -> None:
    url, fragment = start(ann, "How do I register a visitor?")
    assert "Your question" in fragment  # Dutch interface, English question: English labels
    final = dict(events(ann, url))["answer"]
    assert 'lang="en"' in final and "Your question" in final and "Was this answer helpful?" in final
    assert "Confidence:" in final or "do not answer this question" in final


# ------------------------------------------------------------------------------ threads


def test_follow_ups_stay_in_their_thread(ann: httpx.Client, database: Database) -> None:
    first = ann.post("/ask", data={"question": VACATION})  # without JavaScript: the whole page
    assert first.status_code == 200 and first.text.lstrip().startswith("<!doctype html>")
    thread_id = THREAD_ID.search(first.text).group(1)  # type: ignore[union-attr]
    follow_up = "en als ik parttime werk?"
    url, fragment = start(ann, follow_up, thread_id)
    assert f'value="{thread_id}"' in fragment and 'id="thread"' in fragment
    assert re.search(r'<p class="turn-question">\s*Hoeveel vakantiedagen heb ik\?', fragment)  # shown above
    final = dict(events(ann, url))["answer"]
    assert "vervolgvraag" in final
    third = ann.post("/ask", data={"question": "en voor stagiairs?", "thread_id": thread_id})
    assert third.status_code == 200 and third.text.count('class="turn"') == 2
    with database.session() as session:
        rows = session.scalars(select(AnswerRecord).where(AnswerRecord.thread_id == thread_id)
                               .order_by(AnswerRecord.created_at)).all()
        assert [r.question for r in rows] == [VACATION, follow_up, "en voor stagiairs?"]
        assert rows[1].standalone_question and rows[1].standalone_question.startswith("Hoeveel vakantiedagen")
    reopened = ann.get(f"/?thread={thread_id}")
    assert reopened.status_code == 200 and reopened.text.count('class="turn"') == 3
    assert 'class="new-thread" method="get" action="/"' in reopened.text


def test_nobody_continues_or_reads_another_persons_thread(ann: httpx.Client, bob: httpx.Client) -> None:
    page = ann.post("/ask", data={"question": VACATION})
    thread_id = THREAD_ID.search(page.text).group(1)  # type: ignore[union-attr]
    assert bob.get(f"/?thread={thread_id}").status_code == 404
    taken = bob.post("/ask", data={"question": "en als ik parttime werk?", "thread_id": thread_id})
    assert taken.status_code == 404 and "vakantiedagen" not in taken.text


# ------------------------------------------------------------------------------ feedback


def _final_record_id(client: httpx.Client, question: str) -> str:
    url, _ = start(client, question)
    final = dict(events(client, url))["answer"]
    return re.search(r'action="/feedback/([0-9a-f]{32})"', final).group(1)  # type: ignore[union-attr]


def _feedback(database: Database, record_id: str) -> list[FeedbackRow]:
    with database.session() as session:
        rows = session.scalars(select(FeedbackRow).where(FeedbackRow.record_id == record_id)).all()
        session.expunge_all()
        return list(rows)


def test_thumbs_down_with_a_comment_is_stored_and_rating_again_replaces_it(ann: httpx.Client,
                                                                          database: Database) -> None:
    record_id = _final_record_id(ann, VACATION)
    response = ann.post(f"/feedback/{record_id}", data={"rating": "-1", "comment": "Ik werk parttime."},
                        headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert re.search(r'class="thumbs thumbs-down"\s+aria-pressed="true"', response.text)
    assert re.search(r'class="thumbs thumbs-up"\s+aria-pressed="false"', response.text)
    assert "Ik werk parttime." in response.text and 'id="announce" hx-swap-oob="innerHTML"' in response.text
    assert_no_inline_code(response.text)
    [row] = _feedback(database, record_id)
    assert row.rating == -1 and row.comment == "Ik werk parttime."
    with database.session() as session:
        owner = session.scalar(select(AnswerRecord.user_pseudonym).where(AnswerRecord.record_id == record_id))
    assert row.user_pseudonym == owner
    again = ann.post(f"/feedback/{record_id}", data={"rating": "1"})  # without JavaScript: a whole page
    assert again.status_code == 200 and "<!doctype html>" in again.text and "nuttig" in again.text
    [row] = _feedback(database, record_id)
    assert row.rating == 1 and row.comment is None


def test_nobody_else_can_rate_an_answer(ann: httpx.Client, bob: httpx.Client, base_url: str,
                                        database: Database) -> None:
    record_id = _final_record_id(ann, VACATION)
    assert bob.post(f"/feedback/{record_id}", data={"rating": "-1"}).status_code == 404
    with httpx.Client(base_url=base_url) as stranger:
        response = stranger.post(f"/feedback/{record_id}", data={"rating": "-1"},
                                 headers={"Accept": "application/json"})
        assert response.status_code == 401
    no_csrf = ann.post(f"/feedback/{record_id}", data={"rating": "-1"}, headers={"X-CSRF-Token": "forged"})
    assert no_csrf.status_code == 403
    assert _feedback(database, record_id) == []


def test_feedback_through_the_json_api(base_url: str, app_settings: Settings, database: Database) -> None:
    token = api_token(app_settings.database_url, "eva")
    with httpx.Client(base_url=base_url, timeout=120, headers={"Authorization": f"Bearer {token}"}) as api:
        answer = api.post("/api/ask", json={"question": VACATION}).json()
        assert answer["record_id"] and answer["thread_id"] and answer["confidence_level"] in ("high", "medium", "low")
        rated = api.post("/api/feedback", json={"record_id": answer["record_id"], "rating": -1, "comment": "te kort"})
        assert rated.status_code == 200 and rated.json()["rating"] == -1
        assert [r.comment for r in _feedback(database, answer["record_id"])] == ["te kort"]
        follow = api.post("/api/ask", json={"question": "en als ik parttime werk?", "thread_id": answer["thread_id"]})
        assert follow.json()["standalone_question"].startswith("Hoeveel vakantiedagen")
        for bad in ({"record_id": answer["record_id"], "rating": 5}, {"record_id": "x", "rating": 1},
                    {"record_id": answer["record_id"], "rating": 1, "comment": "x" * 2001}):
            response = api.post("/api/feedback", json=bad)
            assert response.status_code == 422 and response.json()["error"]["message"]
        assert api.post("/api/feedback", json={"record_id": "0" * 32, "rating": 1}).status_code == 404


# ------------------------------------------------------------------------------ the source viewer


def test_the_viewer_marks_the_quote_in_its_context_and_links_the_pdf_page(ann: httpx.Client) -> None:
    citation = ann.post("/api/ask", json={"question": VACATION}).json()["citations"][0]
    viewer = ann.get(citation["url"])
    assert viewer.status_code == 200
    assert f'<mark>{citation["quote"][:40]}' in viewer.text.replace("&#39;", "'")
    cited = re.search(rf'<section class="chunk cited" id="chunk-{citation["chunk_id"]}"', viewer.text)
    assert cited, "the cited passage is the anchor of the link"
    assert citation["url"].endswith(f'#chunk-{citation["chunk_id"]}')
    assert viewer.text.count('<section class="chunk') >= 2  # neighbouring passages around it
    assert f'href="/documents/{citation["document_id"]}/original#page={citation["page"]}"' in viewer.text
    assert_no_inline_code(viewer.text)
    whole = ann.get(f'/documents/{citation["document_id"]}?chunk={citation["chunk_id"]}&all=true')
    assert whole.text.count('<section class="chunk') >= viewer.text.count('<section class="chunk')


def test_original_links_for_web_pages_lessons_and_files() -> None:
    def passage(media_type: str, uri: str, link: str | None = None, page: int | None = None) -> Passage:
        return Passage(chunk_id="c", doc_id="d", version="v", title="t", uri=uri, media_type=media_type,
                       source_id="s", section_path=("Informatiebeveiliging", "Module 2", "Phishing"), page=page,
                       text="x", language="nl", start=0, end=1, ordinal=0, groups=("everyone",), link=link)

    assert original_link(passage("html", "intranet/a.html", "https://intranet.example/a"), True)["href"] == \
        "https://intranet.example/a"
    assert original_link(passage("html", "a.html", "javascript:alert(1)"), True)["href"] == "/documents/d/original"
    assert original_link(passage("pdf", "a.pdf", page=4), True)["href"] == "/documents/d/original#page=4"
    web_lesson = passage("cmi5", "course.zip!/https://lms.example/au/7")
    assert original_link(web_lesson, True) == {"href": "https://lms.example/au/7", "label": "emp_open_lesson",
                                               "page": None}
    packaged = passage("scorm2004", "course.zip!/les2/index.html?x=1")
    assert original_link(packaged, True)["label"] == "emp_download_package"
    assert original_link(packaged, False) is None
    assert lesson_of(packaged) == {"path": "Informatiebeveiliging › Module 2 › Phishing",
                                   "launch": "les2/index.html?x=1"}
    assert lesson_of(passage("pdf", "a.pdf")) is None


# ------------------------------------------------------------------------------ language and markup


def test_english_interface_from_the_browser_and_from_the_account_setting(base_url: str) -> None:
    with _browser(base_url, "eva") as eva:
        english = eva.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
        assert '<html lang="en">' in english.text and "Ask your question" in english.text
        assert "AI assistant" in english.text and "New conversation" in english.text
        dutch = eva.get("/", headers={"Accept-Language": "nl-NL"})
        assert '<html lang="nl">' in dutch.text and "Stel je vraag" in dutch.text
        saved = eva.post("/account/language", data={"language": "en"})
        assert saved.status_code in (200, 303)
        chosen = eva.get("/", headers={"Accept-Language": "nl-NL"})
        assert '<html lang="en">' in chosen.text and "Ask your question" in chosen.text
        eva.post("/account/language", data={"language": ""})


def test_no_inline_scripts_or_styles_and_the_page_is_operable(ann: httpx.Client) -> None:
    page = ann.get("/")
    for html in (page.text, ann.post("/ask", data={"question": VACATION}).text,
                 ann.post("/ask", data={"question": VACATION}, headers={"HX-Request": "true"}).text):
        assert_no_inline_code(html)
    assert 'href="#main"' in page.text and 'class="disclosure"' in page.text
    assert '<label for="question">' in page.text and 'id="announce"' in page.text
    assert 'aria-live="polite"' in page.text and '<script src="/static/htmx-ext-sse.js" defer>' in page.text
    assert 'name="csrf_token"' in page.text  # the form works without JavaScript
    assert ann.get("/static/htmx-ext-sse.js").status_code == 200


@pytest.mark.parametrize(("data", "status"), [
    ({"question": ""}, 400), ({"question": "x" * 1001}, 400), ({"question": "x" * 30000}, 422),
    ({"question": VACATION, "thread_id": "not-a-thread"}, 400),
    ({"question": VACATION, "thread_id": "0" * 32 + "ff"}, 400),
])
def test_bad_questions_get_a_clear_4xx(ann: httpx.Client, data: dict, status: int) -> None:
    for headers in ({}, {"HX-Request": "true"}):
        response = ann.post("/ask", data=data, headers=headers)
        assert response.status_code == status, response.text
        assert "Traceback" not in response.text and 'role="alert"' in response.text


def test_bad_feedback_gets_a_clear_4xx(ann: httpx.Client, database: Database) -> None:
    record_id = _final_record_id(ann, VACATION)
    for data, status in (({"rating": "5"}, 400), ({"rating": "up"}, 422), ({}, 422),
                         ({"rating": "-1", "comment": "x" * 2001}, 422)):
        response = ann.post(f"/feedback/{record_id}", data=data)
        assert response.status_code == status, (data, response.text)
    assert ann.post("/feedback/not-a-record", data={"rating": "1"}).status_code == 404
    assert ann.post("/feedback/" + "0" * 32, data={"rating": "1"}).status_code == 404
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(FeedbackRow)
                              .where(FeedbackRow.record_id == record_id)) == 0


# ------------------------------------------------------------------------------ streaming from an LLM


def _visitor_retrieval(embedder: Embedder) -> Retrieval:
    texts = [("Visitor policy", "Visitors must sign in at the reception desk and wear a visitor badge at all times. "
                                "Visitors are welcome between 09:00 and 17:00 on working days."),
             ("Canteen", "The canteen is open from 11:30 to 14:00. Lunch is free for employees.")]
    hits = tuple(Hit(Passage(chunk_id=f"c{i}", doc_id=f"d{i}", version="v", title=title, uri=f"h/{i}.md",
                             media_type="markdown", source_id="h", section_path=(title,), page=None, text=text,
                             language="en", start=0, end=len(text), ordinal=0, groups=("everyone",)),
                     score=1 / i, dense_score=0.9, rank=i) for i, (title, text) in enumerate(texts, start=1))
    return Retrieval(hits=hits, query_vector=embedder.embed_queries(["When are visitors welcome?"])[0], language="en")


def _llm(base_settings: Settings, embedder: Embedder, base_url: str, **llm: object) -> LLMGenerator:
    settings = LLMSettings(base_url=base_url, model="smollm2", temperature=0.0, max_tokens=64, timeout_s=120.0)
    return LLMGenerator(settings.model_copy(update=llm), base_settings.answer,
                        ExtractiveGenerator(embedder, base_settings.answer))


def test_an_llm_answer_streams_its_sentences_while_it_is_written(base_settings: Settings, embedder: Embedder,
                                                                 smollm2_server: LlamaServer) -> None:
    generator = _llm(base_settings, embedder, smollm2_server.base_url)
    drafts = list(generator.stream("When are visitors welcome?", _visitor_retrieval(embedder)))
    final = drafts[-1]
    assert final.generator.startswith("llm") and final.notice is None  # the real server answered
    for draft in drafts[:-1]:  # every draft is the start of the final answer: shown sentences never change
        assert draft.answered and draft.sentences == final.sentences[:len(draft.sentences)]
        assert {c.number for c in draft.citations} <= {c.number for c in final.citations}


def test_an_llm_stream_falls_back_to_quotes_when_the_server_is_down(base_settings: Settings,
                                                                      embedder: Embedder) -> None:
    generator = _llm(base_settings, embedder, f"http://127.0.0.1:{free_port()}/v1", timeout_s=2.0)
    drafts = list(generator.stream("When are visitors welcome?", _visitor_retrieval(embedder)))
    assert len(drafts) == 1 and drafts[0].generator == "extractive" and drafts[0].notice
    assert drafts[0].answered and "09:00" in drafts[0].text
