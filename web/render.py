"""Rendering pages: every template gets the interface texts, the language, who is signed in and the
CSRF token for its forms."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from web.auth import ensure_csrf_cookie, page_csrf, resolve_principal
from web.i18n import texts


def ui_language(request: Request) -> str:
    """The user's chosen language, else the browser's first preference (Dutch unless it is English)."""
    try:
        principal = resolve_principal(request)
    except Exception:  # an unknown bearer token on a page: fall back to the browser's language
        principal = None
    if principal is not None and principal.language in ("nl", "en"):
        return principal.language
    accept = request.headers.get("accept-language", "").lower()
    first = accept.split(",")[0].strip()[:2]
    return "en" if first == "en" else "nl"


def render(request: Request, template: str, context: dict[str, Any] | None = None, *, status_code: int = 200,
           language: str | None = None) -> Response:
    lang = language or ui_language(request)
    try:
        principal = resolve_principal(request)
    except Exception:
        principal = None
    full = {"t": texts(lang), "lang": lang, "principal": principal, "csrf_token": page_csrf(request),
            "path": request.url.path, **(context or {})}
    response = request.app.state.templates.TemplateResponse(request, template, full, status_code=status_code)
    ensure_csrf_cookie(request, response)
    return response
