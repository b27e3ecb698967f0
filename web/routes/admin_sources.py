"""Admin pages for sources (add, edit, schedule, run, remove) and ingestion jobs with live progress.

A source form is validated by the same models as the sources file (`FolderConfig`, `WebConfig`);
their messages appear beside the fields, with a 4xx status. A job page's progress block polls
itself every second (htmx) while the job is queued or running and drops its trigger when done.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from core.errors import ErrorCode, VraagbaakError
from ingest.schedule import next_run
from ingest.sources.config import SOURCE_ID, FolderConfig, WebConfig
from web.auth import CsrfDep
from web.render import render
from web.routes.admin import CatalogDep, IngestorDep, JobsDep, RegistryDep, RunnerDep

router = APIRouter()

KINDS = {"folder": FolderConfig, "web": WebConfig}
LINES = ("include", "exclude", "start_urls", "allowed_hosts")
"""Fields given one value per line."""
OPTIONAL = ("sitemap", "user_agent", "schedule_minutes", "max_pages", "max_depth", "delay_s", "timeout_s", "max_bytes")
"""Fields left to their default when empty."""
FIELDS = {"folder": ("id", "path", "groups", "include", "exclude", "group_rules", "metadata", "schedule_minutes"),
          "web": ("id", "start_urls", "sitemap", "allowed_hosts", "groups", "include", "exclude", "max_pages",
                  "max_depth", "delay_s", "timeout_s", "max_bytes", "user_agent", "metadata", "schedule_minutes")}


class FormErrors(Exception):
    """Field → message, and the status to answer with."""

    def __init__(self, errors: dict[str, str], status: int = 400) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors
        self.status = status


def split_values(text: str, *, commas: bool = False) -> list[str]:
    parts = re.split(r"[\n,]" if commas else r"\n", text)
    return [p.strip() for p in parts if p.strip()]


def _pairs(name: str, text: str, errors: dict[str, str]) -> list[tuple[str, str]]:
    pairs = []
    for number, line in enumerate(split_values(text), start=1):
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            errors[name] = f"line {number}: write `key: value` (got {line[:60]!r})"
            continue
        pairs.append((key.strip(), value.strip()))
    return pairs


def config_from_form(kind: str, form: dict[str, str], source_id: str | None = None) -> FolderConfig | WebConfig:
    """A source configuration from the form's text fields, or FormErrors with the models' messages."""
    model = KINDS.get(kind)
    if model is None:
        raise FormErrors({"kind": "choose folder or web"})
    errors: dict[str, str] = {}
    data: dict[str, Any] = {"kind": kind, "id": source_id or form.get("id", "").strip()}
    for name in FIELDS[kind]:
        raw = form.get(name, "")
        if name == "id":
            continue
        if name == "groups":
            data[name] = split_values(raw, commas=True)
        elif name in LINES:
            data[name] = split_values(raw)
        elif name == "group_rules":
            data[name] = {glob: split_values(groups, commas=True) for glob, groups in _pairs(name, raw, errors)}
        elif name == "metadata":
            data[name] = dict(_pairs(name, raw, errors))
        elif name in OPTIONAL and not raw.strip():
            continue
        else:
            data[name] = raw.strip()
    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "form"
            errors.setdefault(field, error["msg"])
        raise FormErrors(errors) from exc
    if isinstance(config, WebConfig) and not config.start_urls and not config.sitemap:
        errors["start_urls"] = "give start URLs or a sitemap"
    if errors:
        raise FormErrors(errors)
    return config


def form_values(config: FolderConfig | WebConfig) -> dict[str, str]:
    """A configuration as the form's text fields (for editing)."""
    data = config.model_dump(mode="json")
    values = {}
    for name in FIELDS[config.kind]:
        value = data.get(name)
        if name == "groups":
            values[name] = ", ".join(value or [])
        elif name in LINES:
            values[name] = "\n".join(value or [])
        elif name == "group_rules":
            values[name] = "\n".join(f"{glob}: {', '.join(groups)}" for glob, groups in (value or {}).items())
        elif name == "metadata":
            values[name] = "\n".join(f"{key}: {v}" for key, v in (value or {}).items())
        else:
            values[name] = "" if value is None else str(value)
    return values


async def form_fields(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _source_form(request: Request, kind: str, values: dict[str, str], *, editing: str | None = None,
                 errors: dict[str, str] | None = None, status: int = 200) -> Response:
    return render(request, "admin_source_form.html", {
        "kind": kind, "values": values, "errors": errors or {}, "editing": editing, "fields": FIELDS[kind],
        "id_pattern": SOURCE_ID}, status_code=status)


# -- sources ---------------------------------------------------------------------------------------

@router.get("/sources")
def sources(request: Request, catalog: CatalogDep, registry: RegistryDep, jobs: JobsDep) -> Response:
    origins, latest = catalog.origins(), jobs.latest()
    rows = [{"id": source_id, "config": config, "origin": origins[source_id], "counts": registry.counts(source_id),
             "last_job": latest.get(source_id), "next_run": next_run(config.schedule_minutes, latest.get(source_id))}
            for source_id, config in catalog.configs().items()]
    return render(request, "admin_sources.html", {"sources": rows})


@router.get("/sources/new")
def new_source(request: Request, kind: str = Query("folder", pattern="^(folder|web)$")) -> Response:
    return _source_form(request, kind, {})


@router.post("/sources/new", dependencies=[CsrfDep])
async def add_source(request: Request, catalog: CatalogDep) -> Response:
    form = await form_fields(request)
    kind = form.get("kind", "")
    if kind not in KINDS:
        raise VraagbaakError(ErrorCode.BAD_REQUEST, "Choose the kind of source: folder or web.")
    try:
        config = config_from_form(kind, form)
        catalog.add(config.model_dump(mode="json"))
    except FormErrors as exc:
        return _source_form(request, kind, form, errors=exc.errors, status=exc.status)
    except VraagbaakError as exc:
        field, status = ("id", 409) if exc.code is ErrorCode.CONFLICT else ("path", 400)
        return _source_form(request, kind, form, errors={field: exc.message}, status=status)
    return RedirectResponse(f"/admin/sources/{config.id}", status_code=303)


@router.get("/sources/{source_id}")
def source(request: Request, source_id: str, catalog: CatalogDep, registry: RegistryDep, jobs: JobsDep) -> Response:
    config = catalog.get(source_id)
    recent = jobs.list(source_id, 10)
    return render(request, "admin_source.html", {
        "config": config, "origin": catalog.origins()[source_id], "counts": registry.counts(source_id),
        "jobs": recent, "next_run": next_run(config.schedule_minutes, recent[0] if recent else None),
        "settings": config.model_dump(mode="json", exclude={"id", "kind"})})


@router.post("/sources/{source_id}", dependencies=[CsrfDep])
async def edit_source(request: Request, source_id: str, catalog: CatalogDep) -> Response:
    current = catalog.get(source_id)
    _editable(catalog, source_id)
    form = await form_fields(request)
    try:
        config = config_from_form(current.kind, form, source_id)
        catalog.add(config.model_dump(mode="json"), replace=True)
    except FormErrors as exc:
        return _source_form(request, current.kind, {**form, "id": source_id}, editing=source_id, errors=exc.errors,
                            status=exc.status)
    except VraagbaakError as exc:
        return _source_form(request, current.kind, {**form, "id": source_id}, editing=source_id,
                            errors={"path": exc.message}, status=400)
    return RedirectResponse(f"/admin/sources/{source_id}", status_code=303)


@router.get("/sources/{source_id}/edit")
def edit_source_form(request: Request, source_id: str, catalog: CatalogDep) -> Response:
    config = catalog.get(source_id)
    _editable(catalog, source_id)
    return _source_form(request, config.kind, form_values(config), editing=source_id)


@router.post("/sources/{source_id}/schedule", dependencies=[CsrfDep])
async def schedule_source(request: Request, source_id: str, catalog: CatalogDep) -> Response:
    config = catalog.get(source_id)
    _editable(catalog, source_id)
    raw = (await form_fields(request)).get("schedule_minutes", "").strip()
    try:
        updated = type(config).model_validate({**config.model_dump(mode="json"), "schedule_minutes": raw or None})
    except ValidationError as exc:
        raise VraagbaakError(ErrorCode.BAD_REQUEST, f"schedule_minutes: {exc.errors()[0]['msg']}") from exc
    catalog.add(updated.model_dump(mode="json"), replace=True)
    return RedirectResponse(f"/admin/sources/{source_id}", status_code=303)


@router.post("/sources/{source_id}/run", dependencies=[CsrfDep])
async def run_source(request: Request, source_id: str, runner: RunnerDep) -> Response:
    force = (await form_fields(request)).get("force") == "1"
    job_id = runner.start(source_id, force=force)
    return RedirectResponse(f"/admin/jobs/{job_id}", status_code=303)


@router.get("/sources/{source_id}/remove")
def remove_source_form(request: Request, source_id: str, catalog: CatalogDep, registry: RegistryDep) -> Response:
    catalog.get(source_id)
    _editable(catalog, source_id)
    return render(request, "admin_confirm.html", {
        "action": f"/admin/sources/{source_id}/remove", "kind": "source", "name": source_id,
        "documents": len(registry.entries(source_id)), "back": f"/admin/sources/{source_id}"})


@router.post("/sources/{source_id}/remove", dependencies=[CsrfDep])
def remove_source(request: Request, source_id: str, catalog: CatalogDep, ingestor: IngestorDep, jobs: JobsDep) -> Response:
    if jobs.active(source_id):
        raise VraagbaakError(ErrorCode.CONFLICT, f"An ingestion job for '{source_id}' is running; wait for it.")
    catalog.remove(source_id)
    erased = ingestor.erase_source(source_id)
    return render(request, "admin_done.html", {"done": "source_removed", "name": source_id,
                                               "figures": [("adm_documents_erased", erased)],
                                               "back": "/admin/sources"})


def _editable(catalog: Any, source_id: str) -> None:
    if catalog.origins().get(source_id) == "file":
        raise VraagbaakError(ErrorCode.CONFLICT,
                             f"Source '{source_id}' comes from the sources file; change it there.")


# -- jobs ------------------------------------------------------------------------------------------

@router.get("/jobs")
def jobs_page(request: Request, jobs: JobsDep, catalog: CatalogDep,
              source: str | None = Query(None, max_length=100), limit: int = Query(50, ge=1, le=500)) -> Response:
    return render(request, "admin_jobs.html", {"jobs": jobs.list(source or None, limit), "source": source or "",
                                               "source_ids": list(catalog.configs())})


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str, jobs: JobsDep) -> Response:
    """The job; with `HX-Request`, only its progress block (which polls itself while the job runs)."""
    job = jobs.get(job_id[:64])
    template = "admin_job_progress.html" if request.headers.get("HX-Request") else "admin_job.html"
    return render(request, template, {"job": job})
