"""Pages for people. Each works as a plain form post; with htmx the answer swaps in place."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, Response

from core.errors import ErrorCode, VraagbaakError
from web.auth import CsrfDep, UserDep
from web.deps import AssistantDep, StoreDep
from web.i18n import texts
from web.render import render
from web.schemas import source_link

router = APIRouter()


@router.get("/", include_in_schema=False)
def index(request: Request, user: UserDep) -> Response:
    return render(request, "index.html", {"answer": None, "question": ""})


@router.post("/ask", include_in_schema=False, dependencies=[CsrfDep])
def ask(request: Request, assistant: AssistantDep, user: UserDep,
        question: str = Form("", max_length=20000), previous: str = Form("", max_length=1000)) -> Response:
    answer = assistant.ask(question, groups=user.groups, history=[previous] if previous else [], user=user.user_id)
    context = {"answer": answer, "question": question, "link": source_link, "t": texts(answer.language)}
    template = "_answer.html" if request.headers.get("HX-Request") else "index.html"
    return render(request, template, context)


@router.get("/documents/{doc_id}", include_in_schema=False)
def document(request: Request, doc_id: str, store: StoreDep, user: UserDep,
             chunk: str | None = Query(None, max_length=64), start: int | None = Query(None, ge=0),
             end: int | None = Query(None, ge=0)) -> Response:
    passages = store.passages(_checked_id(doc_id), groups=user.groups)
    if not passages:
        raise VraagbaakError(ErrorCode.NOT_FOUND, "No such document.")
    return render(request, "document.html", {
        "passages": passages, "title": passages[0].title, "doc_id": doc_id,
        "uri": passages[0].uri, "media_type": passages[0].media_type, "chunk": chunk, "start": start, "end": end,
        "link": _web_link(passages[0].link)})


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


def _web_link(link: str | None) -> str | None:
    """A document's own web address, only when it is plain http(s) (never `javascript:` and the like)."""
    return link if link and link.lower().startswith(("http://", "https://")) else None


def _checked_id(doc_id: str) -> str:
    if not (1 <= len(doc_id) <= 64 and all(c in "0123456789abcdefABCDEF-_" for c in doc_id)):
        raise VraagbaakError(ErrorCode.NOT_FOUND, "No such document.")
    return doc_id
