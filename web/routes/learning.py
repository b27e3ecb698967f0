"""The learning team's content-gap dashboard (`/learning`, role `learning`).

Topics of questions without a good answer, with volume, weekly trend, examples, languages, the closest
documents the viewer may read, owner and status; the most asked topics and the e-learning lessons cited
most. Clustering and re-checking run in a background thread; the page polls a status fragment.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup, escape

from assistant import gap_report
from assistant.gaps import STATUSES, GapTopics, load_questions
from assistant.service import Assistant
from assistant.xapi import XAPIEmitter
from core.accounts import Principal
from core.errors import ErrorCode, VraagbaakError
from core.logging import kv
from web.auth import CsrfDep, require_role, safe_next
from web.i18n import texts
from web.render import render, ui_language

log = logging.getLogger(__name__)
router = APIRouter(prefix="/learning", include_in_schema=False)
LearningUser = require_role("learning")
SHOW = {"active": ("open", "in_progress"), "resolved": ("resolved",), "all": STATUSES}


def start(app: FastAPI) -> None:
    """Lifespan: the gap service (with an assistant that writes no answer records, for re-checks),
    re-checking after every ingestion job, and xAPI statements when an LRS is configured."""
    settings = app.state.settings
    quiet = Assistant.build(settings, app.state.store, app.state.embedder, answer_log=None)
    app.state.gaps = GapTopics(app.state.database, app.state.embedder, settings.gaps, quiet)
    app.state.jobs.on_finished(app.state.gaps.after_job)
    app.state.xapi = None
    if settings.xapi.endpoint:
        site = settings.xapi.site or f"http://{settings.web.host}:{settings.web.port}"
        app.state.xapi = XAPIEmitter(settings.xapi, site, app.state.database)
        app.state.answer_log.listeners.append(app.state.xapi.answer_recorded)


def stop(app: FastAPI) -> None:
    if getattr(app.state, "xapi", None) is not None:
        app.state.xapi.close()


def _gaps(request: Request) -> GapTopics:
    return request.app.state.gaps


@router.get("")
def dashboard(request: Request, user: Principal = LearningUser,
              show: str = Query("active", pattern="^(active|resolved|all)$")) -> Response:
    service, settings = _gaps(request), request.app.state.settings.gaps
    database = request.app.state.database
    every = gap_report.topics(database, settings)
    views = [v for v in every if v.status in SHOW[show]]
    clustered = {q.record_id for v in every for q in v.questions}
    gaps = load_questions(database, settings, gaps_only=True)
    cards = [_card(request, v, user, closest=3) for v in views]
    return render(request, "learning_dashboard.html", {
        "cards": cards, "show": show, "gap_count": len(gaps), "topic_count": len(every),
        "unclustered": sum(q.record_id not in clustered for q in gaps),
        "clustered_at": max((v.details.get("clustered_at", "") for v in every), default=""),
        "asked": gap_report.asked_topics(database, settings), "courses": gap_report.cited_lessons(
            database, settings, user.groups), "running": service.running, "error": service.last_error,
        "statuses": STATUSES})


@router.get("/topics/{topic_id}")
def topic(request: Request, topic_id: str, user: Principal = LearningUser) -> Response:
    card = _card(request, _view(request, topic_id), user, closest=5)
    checked = {q["record_id"]: q for q in (card["recheck"] or {}).get("questions", [])}
    return render(request, "learning_topic.html", {"card": card, "checked": checked, "statuses": STATUSES})


@router.post("/topics/{topic_id}", dependencies=[CsrfDep])
def update(request: Request, topic_id: str, user: Principal = LearningUser,
           status: str | None = Form(None, max_length=20), owner: str | None = Form(None, max_length=200),
           next: str = Form("/learning", max_length=500)) -> Response:  # noqa: A002 - the form field's name
    if status is not None and status not in STATUSES:
        raise VraagbaakError(ErrorCode.BAD_REQUEST, f"Unknown status '{status[:20]}': use {', '.join(STATUSES)}.")
    _view(request, topic_id)
    _gaps(request).update(topic_id, status=status, owner=owner)
    log.info("gap topic updated", extra=kv(topic_id=topic_id, status=status, by=user.user_id))
    if request.headers.get("HX-Request"):
        return render(request, "learning_card.html", {"card": _card(request, _view(request, topic_id), user, 3),
                                                      "statuses": STATUSES, "saved": True, "path": safe_next(next)})
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/recluster", dependencies=[CsrfDep])
def recluster(request: Request, user: Principal = LearningUser) -> Response:
    service = _gaps(request)
    _in_background(service, service.recluster, "cluster")
    return _after_start(request)


@router.post("/recheck", dependencies=[CsrfDep])
def recheck(request: Request, user: Principal = LearningUser) -> Response:
    service = _gaps(request)
    _in_background(service, service.recheck, "recheck")
    return _after_start(request)


@router.get("/status")
def status(request: Request, user: Principal = LearningUser, was: str | None = Query(None, max_length=20)) -> Response:
    """The self-polling progress block; once the work is done, htmx reloads the page."""
    service = _gaps(request)
    response = render(request, "learning_status.html", {"running": service.running, "error": service.last_error})
    if was and not service.running:
        response.headers["HX-Refresh"] = "true"
    return response


def _after_start(request: Request) -> Response:
    if request.headers.get("HX-Request"):
        service = _gaps(request)
        return render(request, "learning_status.html", {"running": service.running or "cluster",
                                                        "error": None})
    return RedirectResponse("/learning", status_code=303)


def _in_background(service: GapTopics, work: Callable[[], object], what: str) -> None:
    if service.running:
        return

    def run() -> None:
        try:
            work()
        except Exception as exc:  # kept in service.last_error for the page
            log.warning("gap work failed", extra=kv(what=what, error=f"{type(exc).__name__}: {exc}"[:300]))

    service.running = what  # shown at once; the service sets it again when it holds its lock
    threading.Thread(target=run, name=f"gaps-{what}", daemon=True).start()


def _view(request: Request, topic_id: str) -> gap_report.TopicView:
    if len(topic_id) > 32 or not topic_id.isalnum():
        raise VraagbaakError(ErrorCode.NOT_FOUND, "No such topic.")
    found = gap_report.topics(request.app.state.database, request.app.state.settings.gaps, topic_id=topic_id)
    if not found:
        raise VraagbaakError(ErrorCode.NOT_FOUND, "No such topic.")
    return found[0]


def _card(request: Request, view: gap_report.TopicView, user: Principal, closest: int) -> dict:
    """One topic as the viewer may see it: documents only from the viewer's own groups."""
    database, store = request.app.state.database, request.app.state.store
    try:
        documents = gap_report.closest_documents(store, view.centroid, user.groups, limit=closest)
    except VraagbaakError as exc:  # the store is down: the rest of the dashboard still helps
        log.warning("closest documents unavailable", extra=kv(topic_id=view.topic_id, error=exc.message))
        documents = []
    t = texts(ui_language(request))
    return {"view": view, "documents": documents, "recheck": gap_report.visible_recheck(database, view.recheck,
                                                                                         user.groups),
            "trend": trend_svg(view.trend, t["gap_trend_label"])}


def trend_svg(counts: tuple[int, ...] | list[int], label: str, width: int = 132, height: int = 36) -> Markup:
    """Weekly counts as a small bar chart: inline SVG made here (numbers only; the label is escaped),
    coloured by learning.css — no inline style, so the Content-Security-Policy holds."""
    if not counts:
        return Markup("")
    peak = max(max(counts), 1)
    step = width / len(counts)
    bars = []
    for index, count in enumerate(counts):
        bar = 0 if count == 0 else max(2.0, (height - 2) * count / peak)
        current = " gap-now" if index == len(counts) - 1 else ""
        bars.append(f'<rect class="gap-bar{current}" x="{index * step + 1:.1f}" y="{height - bar:.1f}" '
                    f'width="{max(step - 2, 1):.1f}" height="{bar:.1f}"><title>{count}</title></rect>')
    text = escape(label.format(weeks=len(counts), counts=", ".join(str(c) for c in counts)))
    return Markup(f'<svg class="gap-trend" role="img" aria-label="{text}" viewBox="0 0 {width} {height}" '
                  f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
                  f'<line class="gap-axis" x1="0" y1="{height - 0.5}" x2="{width}" y2="{height - 0.5}"></line>'
                  + "".join(bars) + "</svg>")

