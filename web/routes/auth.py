"""Sign-in with a local account, sign-out, the account page and API tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from core.errors import VraagbaakError
from web.auth import SESSION_COOKIE, CsrfDep, SignedInDep, accounts, resolve_principal, safe_next, set_session_cookie
from web.errors import error_responses
from web.render import render

router = APIRouter()


def _sso_label(request: Request) -> str | None:
    oidc = request.app.state.settings.oidc
    return oidc.label if oidc.issuer and oidc.client_id else None


@router.get("/login", include_in_schema=False)
def login_form(request: Request, next: str = Query("/", max_length=500)) -> Response:
    principal = resolve_principal(request)
    if principal is not None and principal.via == "session":
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next": safe_next(next), "username": "", "error": None,
                                          "sso_label": _sso_label(request)})


@router.post("/login", include_in_schema=False, dependencies=[CsrfDep])
def login(request: Request, username: str = Form(..., max_length=200), password: str = Form(..., max_length=1024),
          next: str = Form("/", max_length=500)) -> Response:
    try:
        user = accounts(request).authenticate(username, password)
    except VraagbaakError as exc:
        return render(request, "login.html", {"next": safe_next(next), "username": username, "error": exc.message,
                                              "sso_label": _sso_label(request)}, status_code=401)
    return start_session(request, user.user_id, safe_next(next))


def start_session(request: Request, user_id: str, target: str) -> Response:
    """Sign the browser in (a fresh session token: no fixation) and send it on."""
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        accounts(request).end_session(old)
    token, _csrf = accounts(request).start_session(user_id)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, token)
    return response


@router.post("/logout", include_in_schema=False, dependencies=[CsrfDep])
def logout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        accounts(request).end_session(token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account", include_in_schema=False)
def account(request: Request, user: SignedInDep) -> Response:
    return _account_page(request, user.user_id)


def _account_page(request: Request, user_id: str, new_token: str | None = None) -> Response:
    row = accounts(request).get(user_id)
    return render(request, "account.html", {"user": row, "tokens": accounts(request).tokens(user_id),
                                            "new_token": new_token})


@router.post("/account/tokens", include_in_schema=False, dependencies=[CsrfDep])
def account_new_token(request: Request, user: SignedInDep, name: str = Form(..., min_length=1, max_length=200)) -> Response:
    _row, secret = accounts(request).create_token(user.user_id, name)
    return _account_page(request, user.user_id, new_token=secret)


@router.post("/account/tokens/{token_id}/revoke", include_in_schema=False, dependencies=[CsrfDep])
def account_revoke_token(request: Request, token_id: str, user: SignedInDep) -> Response:
    accounts(request).revoke_token(user.user_id, token_id[:64])
    return RedirectResponse("/account", status_code=303)


@router.post("/account/language", include_in_schema=False, dependencies=[CsrfDep])
def account_language(request: Request, user: SignedInDep, language: str = Form("", max_length=5)) -> Response:
    accounts(request).update(user.user_id, language=language)
    return RedirectResponse("/account", status_code=303)


# the JSON API ------------------------------------------------------------------------------------------
@router.get("/api/me", tags=["account"], summary="Who the token or session belongs to: roles and access groups.")
def me(user: SignedInDep) -> dict[str, Any]:
    return {"user_id": user.user_id, "username": user.username, "display_name": user.display_name,
            "roles": sorted(user.roles), "groups": list(user.groups)}


@router.get("/api/tokens", tags=["account"], summary="Your API tokens (never their secrets).")
def list_tokens(request: Request, user: SignedInDep) -> list[dict[str, Any]]:
    return [{"token_id": t.token_id, "name": t.name, "created_at": t.created_at.isoformat(),
             "expires_at": t.expires_at.isoformat() if t.expires_at else None,
             "last_used": t.last_used.isoformat() if t.last_used else None, "revoked": t.revoked}
            for t in accounts(request).tokens(user.user_id)]


@router.post("/api/tokens", tags=["account"], status_code=201, dependencies=[CsrfDep],
             summary="Create an API token; its secret is in this response only.")
def create_token(request: Request, user: SignedInDep,
                 name: str = Body(..., embed=True, min_length=1, max_length=200),
                 days: int | None = Body(None, embed=True, ge=1, le=3650)) -> dict[str, Any]:
    row, secret = accounts(request).create_token(user.user_id, name, days)
    return {"token_id": row.token_id, "name": row.name, "token": secret,
            "expires_at": row.expires_at.isoformat() if row.expires_at else None}


@router.delete("/api/tokens/{token_id}", tags=["account"], status_code=204, dependencies=[CsrfDep],
               responses=error_responses(404),
               summary="Revoke one of your API tokens.")
def revoke_token(request: Request, token_id: str, user: SignedInDep) -> Response:
    accounts(request).revoke_token(user.user_id, token_id[:64])
    return Response(status_code=204)
