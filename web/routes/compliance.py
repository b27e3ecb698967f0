"""The compliance audit log (`/compliance`, role `compliance`).

A searchable, paginated list of answer records (period, user pseudonym, document, version, verdict,
refused, text in the question), each record in full, the most cited documents, the answers that quoted
a document version, the hash chain's verification, retention — and CSV/JSON exports of the same filters,
plus a JSON API under `/api/compliance`. Text of documents the reader may not read is withheld.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from assistant.audit import AuditFilter, AuditLog, verify_chain
from assistant.audit_view import DocumentAccess, cited_csv, export_csv, export_json, record_view
from assistant.records import prepare_chain, retention_status, timestamp
from core.accounts import Principal
from core.db import AnswerRecord
from core.errors import ErrorCode, VraagbaakError
from core.logging import kv
from web.auth import require_role
from web.errors import error_responses
from web.render import render

log = logging.getLogger(__name__)
router = APIRouter()
ComplianceUser = require_role("compliance")
PER_PAGE = 50
MAX_PAGE = 100_000


def start(app: FastAPI) -> None:
    """Lifespan: chain records written before the chain existed, and apply the retention setting."""
    prepare_chain(app.state.database, app.state.settings.audit.retention_days)


# -- shared -----------------------------------------------------------------------------------------

def _audit(request: Request) -> AuditLog:
    return AuditLog(request.app.state.database)


def _access(request: Request, user: Principal) -> DocumentAccess:
    return DocumentAccess(request.app.state.database, request.app.state.store, user.groups)


def _filter(request: Request, audit: AuditLog, access: DocumentAccess, **fixed: str) -> AuditFilter:
    params = {name: request.query_params.get(name, "") for name in AuditFilter.PARAMS}
    return AuditFilter.parse({**params, **fixed}, audit.resolver(access))


def _page_number(request: Request) -> int:
    given = request.query_params.get("page", "").strip() or "1"
    if not given.isdigit() or not 1 <= int(given) <= MAX_PAGE:
        raise VraagbaakError(ErrorCode.BAD_REQUEST, f"'page' must be a whole number from 1 to {MAX_PAGE}, "
                                                    f"not {given[:20]!r}.")
    return int(given)


def _doc_id(doc_id: str) -> str:
    doc_id = doc_id.lower()
    if not 6 <= len(doc_id) <= 32 or any(c not in "0123456789abcdef" for c in doc_id):
        raise VraagbaakError(ErrorCode.BAD_REQUEST, "A document id is 6 to 32 hexadecimal characters.")
    return doc_id


def _summary(row: AnswerRecord, access: DocumentAccess) -> dict[str, object]:
    documents = []
    for doc_id in dict.fromkeys(c.get("doc_id", "") for c in row.cited or ()):
        recorded = next((c for c in row.cited if c.get("doc_id") == doc_id), {})
        documents.append({"doc_id": doc_id, "title": access.title(doc_id, recorded.get("title") or "",
                                                                  recorded.get("groups") or ())})
    return {"record_id": row.record_id, "seq": row.seq, "created_at": timestamp(row.created_at),
            "user_pseudonym": row.user_pseudonym, "question": row.question, "verdict": row.verdict,
            "answered": row.answered, "refusal_reason": row.refusal_reason, "confidence": row.confidence,
            "documents": documents, "thread_id": row.thread_id}


def _pages(total: int, page: int) -> dict[str, int | None]:
    last = max(1, -(-total // PER_PAGE))
    return {"page": page, "last": last, "previous": page - 1 if page > 1 else None,
            "next": page + 1 if page < last else None, "total": total}


def _attachment(name: str, extension: str) -> dict[str, str]:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return {"Content-Disposition": f'attachment; filename="vraagbaak-{name}-{stamp}.{extension}"',
            "Cache-Control": "no-store"}


def _fragment(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


# -- pages ------------------------------------------------------------------------------------------

@router.get("/compliance", include_in_schema=False)
def audit_log(request: Request, user: Principal = ComplianceUser) -> Response:
    """The audit log; with HX-Request only the results block (the filter form updates it in place)."""
    audit, access = _audit(request), _access(request, user)
    flt, page = _filter(request, audit, access), _page_number(request)
    rows, total = audit.page(flt, page, PER_PAGE)
    context = {"filter": flt, "values": flt.params(), "records": [_summary(r, access) for r in rows],
               "pages": _pages(total, page), "base": "/compliance"}
    if _fragment(request):
        return render(request, "compliance_results.html", context)
    settings = request.app.state.settings
    context |= {"retention_days": settings.audit.retention_days,
                "retention": retention_status(request.app.state.database)}
    return render(request, "compliance_index.html", context)


@router.get("/compliance/records/{record_id}", include_in_schema=False)
def audit_record(request: Request, record_id: str, user: Principal = ComplianceUser) -> Response:
    audit = _audit(request)
    row = audit.get(record_id)
    view = record_view(row, _access(request, user), audit.feedback(row.record_id), look_up_quotes=True)
    return render(request, "compliance_record.html", {"record": view})


@router.get("/compliance/most-cited", include_in_schema=False)
def most_cited_page(request: Request, user: Principal = ComplianceUser) -> Response:
    audit, access = _audit(request), _access(request, user)
    flt = _filter(request, audit, access)
    documents = [d.as_dict() for d in audit.most_cited(flt, access)]
    return render(request, "compliance_cited.html", {"filter": flt, "values": flt.params(), "documents": documents})


@router.get("/compliance/documents/{doc_id}", include_in_schema=False)
def document_page(request: Request, doc_id: str, user: Principal = ComplianceUser) -> Response:
    """The answers that cited a document (`?version=` narrows to one version of it): for when it turns out wrong."""
    doc_id = _doc_id(doc_id)
    audit, access = _audit(request), _access(request, user)
    flt = _filter(request, audit, access, document=doc_id)
    page = _page_number(request)
    rows, total = audit.page(flt, page, PER_PAGE)
    every_version = AuditFilter(start=flt.start, end=flt.end, document=doc_id, doc_ids=(doc_id,))
    cited = next((d.as_dict() for d in audit.most_cited(every_version, access, limit=10_000) if d.doc_id == doc_id),
                 None)
    context = {"filter": flt, "values": flt.params(), "records": [_summary(r, access) for r in rows],
               "pages": _pages(total, page), "doc_id": doc_id, "version": flt.version, "cited": cited,
               "title": access.title(doc_id), "base": f"/compliance/documents/{doc_id}"}
    if _fragment(request):
        return render(request, "compliance_results.html", context)
    return render(request, "compliance_document.html", context)


@router.get("/compliance/verify", include_in_schema=False)
def verify_page(request: Request, user: Principal = ComplianceUser) -> Response:
    report = verify_chain(request.app.state.database)
    log.info("audit chain verified", extra=kv(ok=report.ok, checked=report.checked, user=user.user_id))
    template = "compliance_verify_result.html" if _fragment(request) else "compliance_verify.html"
    return render(request, template, {"report": report})


# -- exports ----------------------------------------------------------------------------------------

def _stream(chunks: Iterator[str]) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk.encode("utf-8")


@router.get("/compliance/export.csv", include_in_schema=False)
def export_records_csv(request: Request, user: Principal = ComplianceUser) -> Response:
    audit, access = _audit(request), _access(request, user)
    flt = _filter(request, audit, access)  # a bad filter fails here, before the stream starts
    return StreamingResponse(_stream(export_csv(audit.iterate(flt), access)), media_type="text/csv; charset=utf-8",
                             headers=_attachment("audit", "csv"))


@router.get("/compliance/export.json", include_in_schema=False)
def export_records_json(request: Request, user: Principal = ComplianceUser) -> Response:
    audit, access = _audit(request), _access(request, user)
    flt = _filter(request, audit, access)
    return StreamingResponse(_stream(export_json(audit.iterate(flt), access)), media_type="application/json",
                             headers=_attachment("audit", "json"))


@router.get("/compliance/most-cited.csv", include_in_schema=False)
def most_cited_csv(request: Request, user: Principal = ComplianceUser) -> Response:
    audit, access = _audit(request), _access(request, user)
    documents = audit.most_cited(_filter(request, audit, access), access, limit=10_000)
    return StreamingResponse(_stream(cited_csv(documents)), media_type="text/csv; charset=utf-8",
                             headers=_attachment("most-cited", "csv"))


@router.get("/compliance/most-cited.json", include_in_schema=False)
def most_cited_json(request: Request, user: Principal = ComplianceUser) -> Response:
    audit, access = _audit(request), _access(request, user)
    documents = audit.most_cited(_filter(request, audit, access), access, limit=10_000)
    return Response(json.dumps([d.as_dict() for d in documents], ensure_ascii=False), media_type="application/json",
                    headers=_attachment("most-cited", "json"))


# -- JSON API ---------------------------------------------------------------------------------------

@router.get("/api/compliance/records", tags=["compliance"], responses=error_responses(429),
            summary="Answer records matching the filters (from, to, user, document, version, verdict, refused, q, "
                    "thread), newest first, 50 a page. Needs the compliance role; text of documents outside the "
                    "caller's access groups is withheld.")
def api_records(request: Request, user: Principal = ComplianceUser) -> dict[str, object]:
    audit, access = _audit(request), _access(request, user)
    flt, page = _filter(request, audit, access), _page_number(request)
    rows, total = audit.page(flt, page, PER_PAGE)
    records = [record_view(row, access) for row in rows]
    for record in records:
        record.pop("feedback")
    return {"total": total, "page": page, "per_page": PER_PAGE, "records": records}


@router.get("/api/compliance/records/{record_id}", tags=["compliance"], responses=error_responses(404),
            summary="One answer record in full, with its feedback.")
def api_record(request: Request, record_id: str, user: Principal = ComplianceUser) -> dict[str, object]:
    audit = _audit(request)
    row = audit.get(record_id)
    return record_view(row, _access(request, user), audit.feedback(row.record_id), look_up_quotes=True)


@router.get("/api/compliance/most-cited", tags=["compliance"],
            summary="The documents cited by the most answers among the filtered records.")
def api_most_cited(request: Request, user: Principal = ComplianceUser) -> list[dict[str, object]]:
    audit, access = _audit(request), _access(request, user)
    return [d.as_dict() for d in audit.most_cited(_filter(request, audit, access), access)]


@router.get("/api/compliance/verify", tags=["compliance"], summary="Recompute the audit hash chain.")
def api_verify(request: Request, user: Principal = ComplianceUser) -> dict[str, object]:
    return verify_chain(request.app.state.database).as_dict()


@router.get("/api/compliance/retention", tags=["compliance"],
            summary="The retention setting and what it removed so far.")
def api_retention(request: Request, user: Principal = ComplianceUser) -> dict[str, object]:
    return {"retention_days": request.app.state.settings.audit.retention_days,
            **retention_status(request.app.state.database)}
