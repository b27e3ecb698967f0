"""Errors → HTTP: JSON for the API, an HTML fragment or page for the browser. Never a stack trace."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import ErrorCode, VraagbaakError
from core.logging import kv
from web.render import render

log = logging.getLogger(__name__)

STATUS = {
    ErrorCode.BAD_REQUEST: 400, ErrorCode.NOT_FOUND: 404, ErrorCode.FORBIDDEN: 403,
    ErrorCode.UNAUTHORIZED: 401, ErrorCode.CONFLICT: 409,
    ErrorCode.UNSUPPORTED_FILE: 415, ErrorCode.PARSE_FAILED: 422, ErrorCode.PARSE_TIMEOUT: 422,
    ErrorCode.EMPTY_DOCUMENT: 422,
    ErrorCode.FILE_TOO_LARGE: 413, ErrorCode.DATASET_INVALID: 422, ErrorCode.CONFIG_INVALID: 500,
    ErrorCode.MODEL_UNAVAILABLE: 503, ErrorCode.STORE_UNAVAILABLE: 503, ErrorCode.LLM_UNAVAILABLE: 503,
    ErrorCode.IDP_UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}


class ErrorDetail(BaseModel):
    code: str = Field(description="What went wrong, for programs (`not_found`, `rate_limited`, …).")
    message: str = Field(description="What went wrong, for people.")


class ErrorBody(BaseModel):
    """Every JSON error: `{"error": {"code": …, "message": …}}`."""

    error: ErrorDetail


_MEANING = {400: "The request is malformed.", 401: "No valid API token (or session).",
            403: "The caller lacks the role, or a cookie call lacks its CSRF token.", 404: "No such item (for you).",
            409: "Conflicts with work in progress.", 413: "The request body is too large.",
            422: "A parameter or body field is invalid.", 429: "Over a rate limit; see `Retry-After`.",
            503: "The store (or another backend) is unavailable."}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the error statuses a route can answer (the JSON error body)."""
    return {status: {"model": ErrorBody, "description": _MEANING[status]} for status in statuses}


COMMON_ERRORS = error_responses(400, 401, 403, 413, 422)
"""What any API route can answer: a malformed or oversized request, no or too little authority."""


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path == "/healthz" or "application/json" in request.headers.get("accept", "")


def _render(request: Request, status: int, code: str, message: str) -> Response:
    if _wants_json(request):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)
    if status == 401 and request.method in ("GET", "HEAD"):  # a page that needs sign-in: to the sign-in form
        target = "/login?" + urlencode({"next": request.url.path + (f"?{request.url.query}" if request.url.query else "")})
        if request.headers.get("HX-Request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    template = "_error.html" if request.headers.get("HX-Request") else "error.html"
    # htmx swaps only 2xx responses by default; the fragment still carries the status for tools
    return render(request, template, {"status": status, "message": message, "code": code}, status_code=status)


def error_response(request: Request, status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> Response:
    """An error answered from outside the exception handlers (middleware): JSON, fragment or page."""
    response = _render(request, status, code, message)
    response.headers.update(headers or {})
    return response


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(VraagbaakError)
    async def vraagbaak_error(request: Request, exc: VraagbaakError) -> Response:
        status = STATUS.get(exc.code, 500)
        log.info("request failed", extra=kv(path=request.url.path, code=exc.code.value, status=status))
        return _render(request, status, exc.code.value, exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        )
        return _render(request, 422, ErrorCode.BAD_REQUEST.value, f"Invalid request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _render(request, exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", extra=kv(path=request.url.path))
        return _render(request, 500, ErrorCode.INTERNAL.value, "Something went wrong on our side.")


