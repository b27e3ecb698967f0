"""Single sign-on: `/login/sso` sends the browser to the OpenID Connect provider, `/login/sso/callback`
takes it back, checks the answer (web/oidc.py), creates or refreshes the account with the provider's
roles and groups, and signs it in. Both answer 404 while single sign-on is not configured.

A failed sign-in shows the sign-in page again with what went wrong (4xx, or 503 when the provider
cannot be reached), so a local account or a second try is one click away."""

from __future__ import annotations

import threading

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from assistant.records import installation_secret
from core.errors import ErrorCode, VraagbaakError
from core.settings import Settings
from web.auth import accounts, safe_next, secure_cookies
from web.errors import STATUS
from web.i18n import texts
from web.oidc import FLOW_COOKIE, FLOW_TTL_S, SingleSignOn, flow_key
from web.render import render, ui_language
from web.routes.auth import start_session

router = APIRouter()
_CALLBACK = "/login/sso/callback"
_COOKIE_PATH = "/login/sso"
_made = threading.Lock()


def single_sign_on(request: Request) -> SingleSignOn:
    """The app's provider client, made on first use; 404 while single sign-on is off."""
    settings: Settings = request.app.state.settings
    if not (settings.oidc.issuer and settings.oidc.client_id):
        raise VraagbaakError(ErrorCode.NOT_FOUND, "Single sign-on is not configured.")
    with _made:
        sso = getattr(request.app.state, "sso", None)
        if sso is None:
            secret = settings.oidc.state_secret
            key = flow_key(secret.get_secret_value() if secret else installation_secret(settings.data_dir))
            sso = request.app.state.sso = SingleSignOn(settings.oidc, key)
    return sso


def _redirect_uri(request: Request, sso: SingleSignOn) -> str:
    return sso.settings.redirect_uri or str(request.url_for("sso_callback"))


@router.get("/login/sso", include_in_schema=False)
def sso_start(request: Request, next: str = Query("/", max_length=500)) -> Response:
    sso = single_sign_on(request)
    try:
        url, sealed = sso.start(_redirect_uri(request, sso), safe_next(next))
    except VraagbaakError as exc:
        return _failed(request, exc, next)
    response = RedirectResponse(url, status_code=303)
    # Lax, not Strict: the provider's redirect back is a cross-site top-level navigation
    response.set_cookie(FLOW_COOKIE, sealed, max_age=FLOW_TTL_S, path=_COOKIE_PATH, httponly=True, samesite="lax",
                        secure=secure_cookies(request))
    return response


@router.get(_CALLBACK, include_in_schema=False)
def sso_callback(request: Request) -> Response:
    sso = single_sign_on(request)
    params = {k: v[:4096] for k, v in request.query_params.items()}
    try:
        identity, target = sso.finish(request.cookies.get(FLOW_COOKIE), params, _redirect_uri(request, sso))
        user = accounts(request).sso_user(identity.subject, username=identity.username,
                                          display_name=identity.display_name, email=identity.email,
                                          roles=identity.roles, groups=identity.groups)
    except VraagbaakError as exc:
        return _failed(request, exc, "/")
    response = start_session(request, user.user_id, safe_next(target))
    response.delete_cookie(FLOW_COOKIE, path=_COOKIE_PATH)
    return response


def _failed(request: Request, exc: VraagbaakError, next_path: str) -> Response:
    """The sign-in page again, with the reason in the visitor's language and the error's status."""
    key = exc.context.get("text")
    message = exc.message
    if isinstance(key, str):
        message = texts(ui_language(request)).get(key, exc.message).format(error=exc.context.get("error", ""))
    oidc = request.app.state.settings.oidc
    response = render(request, "login.html", {"next": safe_next(next_path), "username": "", "error": message,
                                              "sso_label": oidc.label}, status_code=STATUS.get(exc.code, 500))
    response.delete_cookie(FLOW_COOKIE, path=_COOKIE_PATH)
    return response
