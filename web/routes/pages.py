"""Pages for people: the ask page and the source viewer. Each works as a plain form post; with
JavaScript the answer streams in over server-sent events (htmx's SSE extension).

The streaming flow: the form posts the question (CSRF-protected) → the question waits in
`PendingQuestions` under a random id bound to the asker → the returned fragment opens
`GET /ask/stream/{id}` → events `status`, `sentence` (one per drafted sentence), `answer` (the
verified answer, which replaces the draft) and `done`. Every event is an escaped HTML fragment
rendered from a template.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from assistant.feedback import FeedbackLog
from assistant.service import Drafted, Finished, Retrieved
from assistant.threads import Threads, checked_thread_id, new_thread_id
from core.accounts import Principal
from core.errors import ErrorCode, VraagbaakError
from core.language import detect_language
from core.logging import kv
from core.types import Answer, Passage
from web.auth import CsrfDep, UserDep, page_csrf
from web.deps import AssistantDep, StoreDep
from web.i18n import texts
from web.pending import PendingQuestion, PendingQuestions
from web.render import render, ui_language
from web.schemas import confidence_level, source_link

log = logging.getLogger(__name__)
router = APIRouter()

LMS_FORMATS = frozenset({"scorm12", "scorm2004", "cmi5", "imscc", "moodle", "imscp"})
"""Media types of e-learning lessons (ingest/packages.py): their URI is `package!/launch`."""
NEIGHBOURS = 2
"""Passages shown before and after the cited one in the source viewer."""
_HEX = frozenset("0123456789abcdef")


@router.get("/", include_in_schema=False)
def index(request: Request, user: UserDep, thread: str | None = Query(None, max_length=64)) -> Response:
    """The ask page; `?thread=` reopens one of the user's own conversations."""
    thread_id = checked_thread_id(thread)
    turns = _threads(request).turns(thread_id, user.user_id) if thread_id else []
    return render(request, "index.html", {"answer": None, "question": "", "thread_id": thread_id or "",
                                          "turns": turns})


@router.post("/ask", include_in_schema=False, dependencies=[CsrfDep])
def ask(request: Request, assistant: AssistantDep, user: UserDep,
        question: str = Form("", max_length=20000), thread_id: str = Form("", max_length=64)) -> Response:
    """Without JavaScript: the whole page with the answer. With htmx: a fragment that streams it."""
    question = assistant.check_question(question)
    given = checked_thread_id(thread_id)
    turns = _threads(request).turns(given, user.user_id) if given else []
    thread = given or new_thread_id()
    history = tuple(Threads.history(turns))
    if request.headers.get("HX-Request"):
        stream_id = _pending(request).add(question, _owner(request, user), thread, history)
        language = detect_language(question, fallback="nl")
        return render(request, "_ask_started.html", {
            "stream_id": stream_id, "question": question, "thread_id": thread, "turns": turns,
            "answer_lang": language, "at": texts(language)})
    answer = assistant.ask(question, groups=user.groups, history=history, user=user.user_id, thread_id=thread)
    return render(request, "index.html", {"question": "", "thread_id": thread, "turns": turns,
                                          **_answer_context(request, answer)})


@router.get("/ask/stream/{stream_id}", include_in_schema=False)
def stream(request: Request, stream_id: str, assistant: AssistantDep, user: UserDep) -> Response:
    """The answer to a posted question as server-sent events; only its asker may open it, once."""
    pending = _pending(request).take(stream_id[:64], _owner(request, user))
    if pending is None:
        raise VraagbaakError(ErrorCode.NOT_FOUND, "This answer is no longer waiting (it expired or was opened "
                                                  "already); ask the question again.")
    context = {"csrf_token": page_csrf(request), "ui_lang": ui_language(request)}
    return StreamingResponse(_events(request, assistant, user, pending, context), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.post("/feedback/{record_id}", include_in_schema=False, dependencies=[CsrfDep])
def feedback(request: Request, record_id: str, user: UserDep, rating: int = Form(...),
             comment: str = Form("", max_length=2000), language: str = Form("", max_length=5),
             thread_id: str = Form("", max_length=64)) -> Response:
    """Thumbs up (1) or down (-1) with an optional comment, by the one who got the answer; again: replaces."""
    saved = FeedbackLog(request.app.state.answer_log).rate(_checked_record_id(record_id), user.user_id, rating,
                                                            comment)
    lang = language if language in ("nl", "en") else ui_language(request)
    context = {"record_id": saved.record_id, "feedback": saved, "thread_id": thread_id, "at": texts(lang),
               "answer_lang": lang}
    if request.headers.get("HX-Request"):
        return render(request, "_feedback_saved.html", context)
    thread = checked_thread_id(thread_id)
    turns = _threads(request).turns(thread, user.user_id) if thread else []
    return render(request, "index.html", {**context, "answer": None, "question": "", "thread_id": thread or "",
                                          "turns": turns, "saved": saved})


@router.get("/documents/{doc_id}", include_in_schema=False)
def document(request: Request, doc_id: str, store: StoreDep, user: UserDep,
             chunk: str | None = Query(None, max_length=64), start: int | None = Query(None, ge=0),
             end: int | None = Query(None, ge=0), all: bool = Query(False)) -> Response:  # noqa: A002
    """The source viewer: the cited passage with the quote marked, the passages around it, and a
    link to the original (web page, PDF page, course lesson, or the file)."""
    passages = store.passages(_checked_id(doc_id), groups=user.groups)
    if not passages:
        raise VraagbaakError(ErrorCode.NOT_FOUND, "No such document.")
    cited = next((i for i, p in enumerate(passages) if p.chunk_id == chunk), None)
    shown = passages if cited is None or all else passages[max(0, cited - NEIGHBOURS):cited + NEIGHBOURS + 1]
    quote = None
    if cited is not None and start is not None and end is not None and start < end <= len(passages[cited].text):
        quote = (start, end)
    focus = passages[cited] if cited is not None else passages[0]
    found = store.original_path(doc_id, groups=user.groups)
    has_file = bool(found and found[0] and Path(found[0]).is_file())
    return render(request, "document.html", {
        "passages": shown, "title": passages[0].title, "doc_id": doc_id, "uri": passages[0].uri,
        "chunk": chunk if cited is not None else None, "quote": quote, "partial": len(shown) < len(passages),
        "original": original_link(focus, has_file), "lesson": lesson_of(focus)})


@router.get("/documents/{doc_id}/original", include_in_schema=False)
def original(doc_id: str, store: StoreDep, user: UserDep) -> Response:
    """The original file. Only PDFs open inline (so #page=N works); anything else downloads, so an
    HTML document's scripts never run on this origin."""
    found = store.original_path(_checked_id(doc_id), groups=user.groups)
    if not found or not found[0] or not Path(found[0]).is_file():
        raise VraagbaakError(ErrorCode.NOT_FOUND, "The original file is not available.")
    path, media_type = Path(found[0]), found[1]
    if media_type == "pdf":
        return FileResponse(path, media_type="application/pdf", content_disposition_type="inline",
                            filename=path.name)
    return FileResponse(path, media_type="application/octet-stream", filename=path.name)


def original_link(passage: Passage, has_file: bool) -> dict[str, Any] | None:
    """Where the original of a passage lives, for the viewer: `href`, the text key `label` and
    `page` (a PDF page). A web page's own URL; an e-learning lesson's web launch URL, else its
    package; a PDF at the passage's page; else the file (when there is one)."""
    web = _web_link(passage.link)
    if web:
        return {"href": web, "label": "emp_open_page", "page": None}
    lesson = lesson_of(passage)
    if lesson is not None:
        launch = _web_link(lesson["launch"])
        if launch:
            return {"href": launch, "label": "emp_open_lesson", "page": None}
        return {"href": f"/documents/{passage.doc_id}/original", "label": "emp_download_package",
                "page": None} if has_file else None
    if not has_file:
        return None
    if passage.media_type == "pdf":
        if passage.page:
            return {"href": f"/documents/{passage.doc_id}/original#page={passage.page}", "label": "emp_open_pdf_page",
                    "page": passage.page}
        return {"href": f"/documents/{passage.doc_id}/original", "label": "emp_open_pdf", "page": None}
    return {"href": f"/documents/{passage.doc_id}/original", "label": "emp_download_original", "page": None}


def lesson_of(passage: Passage) -> dict[str, Any] | None:
    """An e-learning lesson's place: its path (course › module › lesson) and launch file or URL."""
    if passage.media_type not in LMS_FORMATS:
        return None
    launch = passage.uri.split("!/", 1)[1] if "!/" in passage.uri else ""
    return {"path": " › ".join(passage.section_path), "launch": launch}


# ------------------------------------------------------------------------------ the answer stream


def _events(request: Request, assistant: Any, user: Principal, pending: PendingQuestion,
            context: dict[str, Any]) -> Iterator[str]:
    """The stream's events. The answer is worked out in a thread of its own, so it is finished and
    recorded (once) even when the browser goes away halfway."""
    events: queue.Queue[str | None] = queue.Queue()
    templates = request.app.state.templates
    low = request.app.state.settings.gaps.low_confidence

    def fragment(template: str, language: str, **values: Any) -> str:
        return templates.get_template(template).render({
            "t": texts(language), "at": texts(language), "lang": language, "answer_lang": language,
            "link": source_link, **context, **values})

    def work() -> None:
        try:
            for event in assistant.ask_stream(pending.question, groups=user.groups, history=pending.history,
                                              user=user.user_id, thread_id=pending.thread_id):
                if isinstance(event, Retrieved):
                    events.put(_sse("status", fragment("_status.html", event.language, key="emp_writing")))
                elif isinstance(event, Drafted):
                    events.put(_sse("sentence", fragment("_sentence.html", event.language, sentence=event.sentence,
                                                         citations=event.citations)))
                elif isinstance(event, Finished):
                    answer = event.answer
                    events.put(_sse("answer", fragment("_answer_final.html", answer.language, answer=answer,
                                                       level=confidence_level(answer, low),
                                                       thread_id=pending.thread_id, feedback=None)))
        except VraagbaakError as exc:
            log.info("answer stream failed", extra=kv(code=exc.code.value))
            events.put(_sse("answer", fragment("_error.html", context["ui_lang"], message=exc.message,
                                               status=exc.code.value)))
        except Exception:
            log.exception("answer stream failed")
            events.put(_sse("answer", fragment("_error.html", context["ui_lang"], status="internal",
                                               message=texts(context["ui_lang"])["emp_stream_failed"])))
        finally:
            events.put(_sse("done", ""))
            events.put(None)

    threading.Thread(target=work, name="answer-stream", daemon=True).start()
    while (item := events.get()) is not None:
        yield item


def _sse(event: str, html: str) -> str:
    """One server-sent event; every line of the fragment is a `data:` line."""
    lines = html.strip().splitlines() or [""]
    return f"event: {event}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


# ------------------------------------------------------------------------------ helpers


def _answer_context(request: Request, answer: Answer) -> dict[str, Any]:
    """What `_answer.html` needs; `at` holds the texts in the answer's language (its labels)."""
    low = request.app.state.settings.gaps.low_confidence
    return {"answer": answer, "link": source_link, "at": texts(answer.language), "answer_lang": answer.language,
            "level": confidence_level(answer, low), "feedback": None}


def _threads(request: Request) -> Threads:
    return Threads(request.app.state.answer_log)


def _pending(request: Request) -> PendingQuestions:
    return request.app.state.pending


def _owner(request: Request, user: Principal) -> str:
    """Who may open a stream: the account, or — for an anonymous visitor — this browser (its CSRF cookie)."""
    if user.anonymous:
        return f"anonymous:{page_csrf(request)}"
    return f"{user.via}:{user.user_id}"


def _web_link(link: str | None) -> str | None:
    """A document's own web address, only when it is plain http(s) (never `javascript:` and the like)."""
    return link if link and link.lower().startswith(("http://", "https://")) else None


def _checked_id(doc_id: str) -> str:
    if not (1 <= len(doc_id) <= 64 and all(c in "0123456789abcdefABCDEF-_" for c in doc_id)):
        raise VraagbaakError(ErrorCode.NOT_FOUND, "No such document.")
    return doc_id


def _checked_record_id(record_id: str) -> str:
    if len(record_id) != 32 or not set(record_id) <= _HEX:
        raise VraagbaakError(ErrorCode.NOT_FOUND, "No such answer.")
    return record_id

