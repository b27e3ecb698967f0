"""The JSON API."""

from __future__ import annotations

from fastapi import APIRouter

from web.deps import PUBLIC_GROUPS, AssistantDep, StoreDep
from web.i18n import disclosure
from web.schemas import AskRequest, AskResponse

router = APIRouter()


@router.post("/api/ask", response_model=AskResponse, summary="Ask a question; get a cited answer or a refusal.")
def ask(body: AskRequest, assistant: AssistantDep) -> AskResponse:
    answer = assistant.ask(body.question, groups=PUBLIC_GROUPS, history=[q[:1000] for q in body.history])
    return AskResponse.of(answer, disclosure(answer.language))


@router.get("/healthz", summary="Liveness and readiness: the store answers.")
def healthz(store: StoreDep) -> dict[str, object]:
    return {"status": "ok", "chunks": store.count()}
