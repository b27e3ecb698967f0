"""The admin pages (role `admin`): an overview, sources and their schedules, ingestion jobs with live
progress, the document registry with re-index and erasure, users and groups, and the effective
settings with every secret masked. The JSON twin of most of this is `web/routes/admin.py`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, SecretStr

from core.settings import Settings
from web.auth import accounts, require_role
from web.deps import SettingsDep
from web.render import render
from web.routes import admin_documents, admin_sources, admin_users
from web.routes.admin import CatalogDep, JobsDep, RegistryDep

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[require_role("admin")])

MASK = "••••••"
SECRET_NAME = re.compile(r"token|secret|password|passwd|key|credential", re.IGNORECASE)
URL_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)[^/@\s]*@", re.IGNORECASE)
URL_SECRET_PARAM = re.compile(r"(?P<name>[?&;][^=&#\s]*(?:token|secret|password|passwd|key|sig|auth)[^=&#\s]*=)"
                              r"[^&#\s]*", re.IGNORECASE)
DERIVED = ("store_path", "database_url", "sources_file", "models_dir")
"""Settings properties worth showing beside the fields (where things actually are)."""


@router.get("")
def overview(request: Request, registry: RegistryDep, catalog: CatalogDep, jobs: JobsDep) -> Response:
    users = accounts(request).list()
    job_counts = jobs.status_counts()
    return render(request, "admin_overview.html", {
        "sources": len(catalog.configs()), "counts": registry.counts(),
        "running": job_counts.get("running", 0) + job_counts.get("queued", 0), "job_counts": job_counts,
        "users": len(users), "active_users": sum(1 for u in users if u.active), "recent": jobs.list(limit=5)})


@router.get("/settings")
def settings_page(request: Request, settings: SettingsDep) -> Response:
    return render(request, "admin_settings.html", {"rows": settings_rows(settings)})


def settings_rows(settings: Settings) -> list[dict[str, Any]]:
    """The effective settings as rows (group, name, environment variable, shown value, description),
    every secret masked: SecretStr values, anything named like a token, secret, password or key,
    and credentials inside URLs."""
    rows: list[dict[str, Any]] = []

    def walk(model: BaseModel, group: str, prefix: str) -> None:
        for name, field in type(model).model_fields.items():
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                walk(value, name, f"{prefix}{name.upper()}__")
                continue
            rows.append({"group": group, "name": name, "env": f"{prefix}{name.upper()}",
                         "value": shown(name, value), "description": field.description or "",
                         "secret": _is_secret(name, value)})

    walk(settings, "", "VRAAGBAAK_")
    for name in DERIVED:
        value = getattr(settings, name)
        rows.append({"group": "derived", "name": name, "env": "", "value": shown(name, value), "description": "",
                     "secret": False})
    return rows


def _is_secret(name: str, value: Any) -> bool:
    return isinstance(value, SecretStr) or (bool(SECRET_NAME.search(name)) and isinstance(value, str | Path))


def shown(name: str, value: Any) -> str:
    """A setting's value fit to show an admin: secrets as a mask, URLs without their credentials."""
    if value is None or value == "":
        return "—"
    if _is_secret(name, value):
        return MASK
    if isinstance(value, list | tuple):
        return ", ".join(shown(name, item) for item in value) or "[]"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {shown(str(k), v)}" for k, v in value.items()) or "{}"
    return strip_credentials(str(value))


def strip_credentials(text: str) -> str:
    """`scheme://user:pw@host/...?token=x` → `scheme://••••••@host/...?token=••••••`."""
    text = URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    return URL_SECRET_PARAM.sub(lambda m: f"{m.group('name')}{MASK}", text)


for area in (admin_sources, admin_documents, admin_users):
    router.include_router(area.router)
