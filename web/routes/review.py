"""The gold-set review page: a subject-matter expert (learning or compliance role) accepts or rejects the
items `vraagbaak eval build` proposes from real use — thumbs-up answers with the documents they cited,
refusals as unanswerable questions — and downloads the accepted ones as an answer set for `vraagbaak eval`.
Answer text and document titles of documents the reviewer may not read are withheld."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from assistant.audit_view import DocumentAccess
from core.accounts import Principal
from core.db import GoldReviewRow, utcnow
from core.errors import ErrorCode, VraagbaakError
from eval.build import propose, records_from_database
from web.auth import CsrfDep, resolve_principal
from web.render import render

router = APIRouter(prefix="/review", include_in_schema=False)
SHOWS = ("proposed", "accepted", "rejected", "all")


def reviewer(request: Request) -> Principal:
    principal = resolve_principal(request)
    if principal is None or principal.anonymous:
        raise VraagbaakError(ErrorCode.UNAUTHORIZED, "Sign in first.")
    if not (principal.has("learning") or principal.has("compliance")):
        raise VraagbaakError(ErrorCode.FORBIDDEN, "This needs the learning or the compliance role.")
    return principal


def _items(request: Request, user: Principal, record_id: str | None = None) -> list[dict[str, Any]]:
    """The proposed items (or the one of `record_id`), each with what this reviewer may see of it."""
    records = records_from_database(request.app.state.database, None if record_id is None else [record_id])
    by_id = {r.record_id: r for r in records}
    lines, _summary = propose(records)
    access = DocumentAccess(request.app.state.database, request.app.state.store, user.groups)
    items = []
    for line in lines:
        record = by_id[line["record_id"]]
        readable = all(access.readable(doc_id) for doc_id in record.cited_doc_ids)
        documents = [access.title(doc_id) for doc_id in record.cited_doc_ids]
        items.append({"line": line, "readable": readable, "documents": documents,
                      "withheld": sum(title is None for title in documents)})
    return items


@router.get("")
def page(request: Request, show: str = Query("proposed", max_length=10)) -> Response:
    user = reviewer(request)
    if show not in SHOWS:
        raise VraagbaakError(ErrorCode.BAD_REQUEST, f"`show` is one of {', '.join(SHOWS)}.")
    items = _items(request, user)
    counts = {state: sum(i["line"]["review"] == state for i in items) for state in SHOWS[:3]}
    shown = [i for i in items if show == "all" or i["line"]["review"] == show]
    return render(request, "review.html", {"items": shown, "counts": counts, "show": show})


@router.post("/{record_id}", dependencies=[CsrfDep])
def decide(request: Request, record_id: str, decision: str = Form(..., max_length=10),
           note: str = Form("", max_length=2000)) -> Response:
    user = reviewer(request)
    if decision not in ("accepted", "rejected", "proposed"):
        raise VraagbaakError(ErrorCode.BAD_REQUEST, "`decision` is accepted, rejected or proposed (undo).")
    record_id = record_id[:32]
    items = {i["line"]["record_id"]: i for i in _items(request, user, record_id)}
    if record_id not in items:
        raise VraagbaakError(ErrorCode.NOT_FOUND, "No such proposed item.")
    with request.app.state.database.session() as session:
        row = session.get(GoldReviewRow, record_id)
        if decision == "proposed":
            if row is not None:
                session.delete(row)
        else:
            if row is None:
                row = GoldReviewRow(record_id=record_id)
                session.add(row)
            row.decision, row.note = decision, note.strip() or None
            row.reviewer_pseudonym = request.app.state.answer_log.pseudonym(user.user_id)
            row.reviewed_at = utcnow()
    item = items[record_id]
    item["line"]["review"] = decision
    if request.headers.get("HX-Request"):
        return render(request, "_review_item.html", {"item": item})
    return Response(status_code=303, headers={"Location": "/review"})


@router.get("/export.jsonl")
def export(request: Request, accepted_only: bool = Query(True)) -> Response:
    """The accepted items as an answer set (`vraagbaak eval validate` accepts it); answers citing documents
    the reviewer may not read lose their reference answer."""
    user = reviewer(request)
    lines = []
    for item in _items(request, user):
        line = dict(item["line"])
        if accepted_only and line["review"] != "accepted":
            continue
        if not item["readable"]:
            line.pop("reference_answer", None)
        lines.append(json.dumps(line, ensure_ascii=False))
    return Response("".join(f"{line}\n" for line in lines), media_type="application/x-ndjson",
                    headers={"Content-Disposition": 'attachment; filename="gold-set.jsonl"'})
