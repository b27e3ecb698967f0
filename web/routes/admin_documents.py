"""Admin pages for the document registry: filter and page through documents, open one, re-index
it, or erase it everywhere (store, registry, derived data, caches) with a report of what went, and
allow an erased one back."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, or_, select

from core.db import DocumentRow
from core.errors import ErrorCode, VraagbaakError
from ingest.registry import stale_reason
from web.auth import CsrfDep
from web.deps import StoreDep
from web.render import render
from web.routes.admin import CatalogDep, JobsDep, RegistryDep, RunnerDep, allow, erase, reindex

router = APIRouter()

PAGE_SIZE = 50


@router.get("/documents")
def documents(request: Request, registry: RegistryDep, catalog: CatalogDep,
              source: str = Query("", max_length=100), status: str = Query("", pattern="^(|indexed|failed|skipped|erased)$"),
              stale: bool = False, q: str = Query("", max_length=200), page: int = Query(1, ge=1, le=100_000)
              ) -> Response:
    """Filtered, paged; `stale` = indexed documents not in force today (from their lifecycle)."""
    filters = []
    if source:
        filters.append(DocumentRow.source_id == source)
    if status or stale:
        filters.append(DocumentRow.status == ("indexed" if stale else status))
    if q:
        filters.append(or_(DocumentRow.uri.ilike(f"%{q}%"), DocumentRow.title.ilike(f"%{q}%")))
    order = (DocumentRow.source_id, DocumentRow.uri)
    offset = (page - 1) * PAGE_SIZE
    with registry.database.session() as session:
        if stale and status not in ("", "indexed"):
            total, rows = 0, []
        elif stale:  # only the lifecycle column of every candidate, then the page's rows
            today = datetime.now(UTC).date()
            ids = [doc_id for doc_id, lifecycle in session.execute(
                select(DocumentRow.doc_id, DocumentRow.lifecycle).where(*filters).order_by(*order))
                if lifecycle and stale_reason(lifecycle, today)]
            total = len(ids)
            rows = list(session.scalars(select(DocumentRow).where(DocumentRow.doc_id.in_(ids[offset:offset + PAGE_SIZE]))
                                        .order_by(*order)))
        else:
            total = session.scalar(select(func.count()).select_from(DocumentRow).where(*filters)) or 0
            rows = list(session.scalars(select(DocumentRow).where(*filters).order_by(*order)
                                        .offset(offset).limit(PAGE_SIZE)))
    return render(request, "admin_documents.html", {
        "documents": rows, "total": total, "page": page, "pages": max(1, math.ceil(total / PAGE_SIZE)),
        "reasons": {r.doc_id: stale_reason(r.lifecycle or {}) for r in rows if r.status == "indexed"},
        "counts": registry.counts(source or None), "filters": {"source": source, "status": status, "stale": stale, "q": q},
        "source_ids": sorted(set(catalog.configs()) | _registry_sources(registry))})


def _registry_sources(registry: RegistryDep) -> set[str]:
    with registry.database.session() as session:
        return set(session.scalars(select(DocumentRow.source_id).distinct()))


@router.get("/documents/{doc_id}")
def document(request: Request, doc_id: str, registry: RegistryDep, store: StoreDep, jobs: JobsDep) -> Response:
    entry = registry.get(doc_id[:64])
    if entry is None:
        raise VraagbaakError(ErrorCode.NOT_FOUND, f"No document '{doc_id[:64]}' in the registry.")
    versions = store.versions(entry.doc_id)
    return render(request, "admin_document.html", {
        "doc": entry, "store_chunks": sum(v.points for v in versions.values()), "versions": versions,
        "stale": stale_reason(entry.lifecycle) if entry.status == "indexed" else None,
        "job_running": bool(jobs.active(entry.source_id))})


@router.post("/documents/{doc_id}/reindex", dependencies=[CsrfDep])
def reindex_document(doc_id: str, runner: RunnerDep) -> Response:
    job_id = reindex(runner, doc_id[:64])
    return RedirectResponse(f"/admin/jobs/{job_id}", status_code=303)


@router.get("/documents/{doc_id}/delete")
def delete_form(request: Request, doc_id: str, registry: RegistryDep) -> Response:
    entry = registry.get(doc_id[:64])
    if entry is None or entry.status == "erased":
        raise VraagbaakError(ErrorCode.NOT_FOUND, f"No document '{doc_id[:64]}' in the registry.")
    return render(request, "admin_confirm.html", {
        "action": f"/admin/documents/{entry.doc_id}/delete", "kind": "document", "name": entry.title or entry.uri,
        "uri": entry.uri, "back": f"/admin/documents/{entry.doc_id}"})


@router.post("/documents/{doc_id}/delete", dependencies=[CsrfDep])
def delete_document(request: Request, doc_id: str) -> Response:
    report = erase(request, doc_id[:64])
    return render(request, "admin_erased.html", {"report": report})


@router.post("/documents/{doc_id}/allow", dependencies=[CsrfDep])
def allow_document(request: Request, doc_id: str) -> Response:
    """Lift an erasure's tombstone; the source's next job indexes the file again if it is still there."""
    source_id = allow(request, doc_id[:64])
    return RedirectResponse(f"/admin/sources/{source_id}", status_code=303)
