"""The admin JSON API: sources, ingestion jobs and the document registry. For users with the admin
role (an API token, or a session with its CSRF header), and for the operator's token from settings
(`VRAAGBAAK_WEB__ADMIN_TOKEN`, for scripts and first set-up)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from core.errors import ErrorCode, VraagbaakError
from ingest.erasure import ErasureReport, allow_document, erase_document
from ingest.jobs import Jobs, SourceRunner
from ingest.pipeline import Ingestor
from ingest.registry import Registry
from ingest.sources.catalog import SourceCatalog
from web.auth import CsrfDep, require_role
from web.errors import error_responses

router = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=[require_role("admin"), CsrfDep],
                   responses=error_responses(404, 409))


def _registry(request: Request) -> Registry:
    return request.app.state.registry


def _catalog(request: Request) -> SourceCatalog:
    return request.app.state.catalog


def _jobs(request: Request) -> Jobs:
    return request.app.state.jobs


def _ingestor(request: Request) -> Ingestor:
    state = request.app.state
    if getattr(state, "ingestor", None) is None:
        state.ingestor = Ingestor(state.store, state.embedder, state.settings.ingest, state.registry)
    return state.ingestor


def _runner(request: Request) -> SourceRunner:
    return request.app.state.runner


RegistryDep = Annotated[Registry, Depends(_registry)]
CatalogDep = Annotated[SourceCatalog, Depends(_catalog)]
JobsDep = Annotated[Jobs, Depends(_jobs)]
IngestorDep = Annotated[Ingestor, Depends(_ingestor)]
RunnerDep = Annotated[SourceRunner, Depends(_runner)]


def reindex(runner: SourceRunner, doc_id: str) -> str:
    """Start a job that re-indexes one document (forced); a package's lesson re-reads its package."""
    entry = runner.registry.get(doc_id)
    if entry is None:
        raise VraagbaakError(ErrorCode.NOT_FOUND, f"No document '{doc_id}' in the registry.")
    if entry.status == "erased":
        raise VraagbaakError(ErrorCode.CONFLICT, f"Document '{doc_id}' was erased; allow it again first.")
    return runner.start(entry.source_id, only={entry.uri.split("!", 1)[0]})


def erase(request: Request, doc_id: str) -> ErasureReport:
    """Erase a document from the store, the registry, derived data and registered caches
    (`app.state.erasure_hooks`: name → callable(doc_id) → entries dropped). CONFLICT while a job
    runs over its source (it could write the document back)."""
    state = request.app.state
    entry = state.registry.get(doc_id)
    if entry is not None and state.jobs.active(entry.source_id):
        raise VraagbaakError(ErrorCode.CONFLICT, f"An ingestion job for '{entry.source_id}' is running; wait for it.")
    return erase_document(_ingestor(request), state.database, doc_id, getattr(state, "erasure_hooks", None))


def allow(request: Request, doc_id: str) -> str:
    """Lift an erasure's tombstone (NOT_FOUND when the document is not erased); returns its source."""
    return allow_document(_ingestor(request), doc_id)


@router.get("/sources", summary="Configured sources with their document counts.")
def list_sources(catalog: CatalogDep, registry: RegistryDep) -> list[dict[str, Any]]:
    origins = catalog.origins()
    return [{**config.model_dump(mode="json"), "origin": origins[source_id], "documents": registry.counts(source_id)}
            for source_id, config in catalog.configs().items()]


@router.post("/sources", status_code=201, summary="Add a source (folder or web); `id` and `kind` are required.")
def add_source(catalog: CatalogDep, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    try:
        return catalog.add(body).model_dump(mode="json")
    except VraagbaakError as exc:
        if exc.code is ErrorCode.CONFIG_INVALID:  # the caller's mistake here, not the server's
            raise VraagbaakError(ErrorCode.BAD_REQUEST, exc.message) from exc
        raise


@router.delete("/sources/{source_id}", status_code=204, summary="Remove a source; `erase=true` also erases its documents.")
def remove_source(source_id: str, catalog: CatalogDep, ingestor: IngestorDep, jobs: JobsDep,
                  erase: bool = False) -> Response:
    if jobs.active(source_id):
        raise VraagbaakError(ErrorCode.CONFLICT, f"An ingestion job for '{source_id}' is running; wait for it.")
    catalog.remove(source_id)
    if erase:
        ingestor.erase_source(source_id)
    return Response(status_code=204)


@router.post("/sources/{source_id}/jobs", status_code=202, summary="Start an ingestion job for a source.")
def start_job(source_id: str, runner: RunnerDep, jobs: JobsDep, force: bool = False) -> dict[str, Any]:
    return jobs.get(runner.start(source_id, force=force))


@router.get("/jobs", summary="Recent ingestion jobs, newest first.")
def list_jobs(jobs: JobsDep, source: str | None = None, limit: int = Query(50, ge=1, le=500)) -> list[dict[str, Any]]:
    return jobs.list(source, limit)


@router.get("/jobs/{job_id}", summary="One job with its live progress (files, pages, chunks, rate, ETA).")
def get_job(job_id: str, jobs: JobsDep) -> dict[str, Any]:
    return jobs.get(job_id)


@router.get("/documents", summary="The document registry: status, reasons, stale documents.")
def list_documents(registry: RegistryDep, source: str | None = None,
                   status: Literal["indexed", "failed", "skipped", "erased"] | None = None, stale: bool = False,
                   limit: int = Query(1000, ge=1, le=100_000)) -> dict[str, Any]:
    entries = registry.stale(source) if stale else sorted(registry.entries(source, status=status).values(),
                                                          key=lambda e: (e.source_id, e.uri))
    return {"counts": registry.counts(source), "documents": [e.as_dict() for e in entries[:limit]]}


@router.get("/documents/{doc_id}", summary="One document's registry entry.")
def get_document(doc_id: str, registry: RegistryDep) -> dict[str, Any]:
    entry = registry.get(doc_id)
    if entry is None:
        raise VraagbaakError(ErrorCode.NOT_FOUND, f"No document '{doc_id}' in the registry.")
    return entry.as_dict()


@router.post("/documents/{doc_id}/reindex", status_code=202,
             summary="Start a job that re-indexes one document (forced; a lesson re-reads its package).")
def reindex_document(doc_id: str, runner: RunnerDep, jobs: JobsDep) -> dict[str, Any]:
    return jobs.get(reindex(runner, doc_id))


@router.delete("/documents/{doc_id}", status_code=204,
               summary="Erase a document from the store, the registry, derived data and caches (answer records stay).")
def erase_document_route(doc_id: str, request: Request) -> Response:
    erase(request, doc_id)
    return Response(status_code=204)


@router.post("/documents/{doc_id}/erase", summary="Erase a document as DELETE does, and say what was removed where.")
def erase_with_report(doc_id: str, request: Request) -> dict[str, Any]:
    return erase(request, doc_id).as_dict()


@router.post("/documents/{doc_id}/allow", summary="Let an erased document be indexed again by its source's next job.")
def allow_route(doc_id: str, request: Request) -> dict[str, Any]:
    return {"doc_id": doc_id, "source_id": allow(request, doc_id), "allowed": True}
