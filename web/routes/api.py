"""The JSON API."""

from __future__ import annotations

from fastapi import APIRouter

from web.auth import CsrfDep, UserDep
from web.deps import AssistantDep, StoreDep
from web.i18n import disclosure
from web.schemas import AskRequest, AskResponse

router = APIRouter()


@router.post("/api/ask", response_model=AskResponse, dependencies=[CsrfDep],
             summary="Ask a question; get a cited answer or a refusal. Needs an API token (or a session and "
                     "its X-CSRF-Token header); only documents of the caller's access groups are searched.")
def ask(body: AskRequest, assistant: AssistantDep, user: UserDep) -> AskResponse:
    answer = assistant.ask(body.question, groups=user.groups, history=[q[:1000] for q in body.history],
                           user=user.user_id)
    return AskResponse.of(answer, disclosure(answer.language))


@router.get("/healthz", summary="Liveness and readiness: the store answers.")
def healthz(store: StoreDep) -> dict[str, object]:
    return {"status": "ok", "chunks": store.count()}
