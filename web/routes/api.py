"""The JSON API."""

from __future__ import annotations

from fastapi import APIRouter, Request

from assistant.feedback import FeedbackLog
from assistant.threads import Threads, new_thread_id
from web.auth import CsrfDep, UserDep
from web.deps import AssistantDep, SettingsDep, StoreDep
from web.errors import error_responses
from web.i18n import disclosure
from web.schemas import AskRequest, AskResponse, FeedbackRequest, FeedbackResponse

router = APIRouter()


@router.post("/api/ask", response_model=AskResponse, dependencies=[CsrfDep], responses=error_responses(429, 503),
             summary="Ask a question; get a cited answer or a refusal. Needs an API token (or a session and "
                     "its X-CSRF-Token header); only documents of the caller's access groups are searched.")
def ask(request: Request, body: AskRequest, assistant: AssistantDep, user: UserDep,
        settings: SettingsDep) -> AskResponse:
    history = [q[:1000] for q in body.history]
    if body.thread_id and not history:  # the thread's own earlier questions (only the caller's threads)
        history = Threads.history(Threads(request.app.state.answer_log).turns(body.thread_id, user.user_id))
    answer = assistant.ask(body.question, groups=user.groups, history=history, user=user.user_id,
                           thread_id=body.thread_id or new_thread_id())
    return AskResponse.of(answer, disclosure(answer.language), settings.gaps.low_confidence)


@router.post("/api/feedback", response_model=FeedbackResponse, dependencies=[CsrfDep],
             responses=error_responses(404, 429),
             summary="Rate an answer you got: thumbs up (1) or down (-1), with an optional comment. Rating "
                     "again replaces your earlier rating; someone else's answer is a 404.")
def feedback(request: Request, body: FeedbackRequest, user: UserDep) -> FeedbackResponse:
    saved = FeedbackLog(request.app.state.answer_log).rate(body.record_id, user.user_id, body.rating, body.comment)
    return FeedbackResponse(feedback_id=saved.feedback_id, record_id=saved.record_id, rating=saved.rating,
                            comment=saved.comment)


@router.get("/healthz", summary="Liveness and readiness: the store answers.", responses=error_responses(503))
def healthz(store: StoreDep) -> dict[str, object]:
    return {"status": "ok", "chunks": store.count()}
