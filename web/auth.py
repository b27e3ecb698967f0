"""Who is asking, on every request: a session cookie (browser), an API token (`Authorization: Bearer
vbk_…`), the operator's admin token (admin API only), or — when the setting allows — an anonymous
visitor who sees documents open to everyone only.

Routes declare what they need with `UserDep` (signed in), `require_role("compliance")` and
`CsrfDep` (every state-changing form or cookie-authenticated JSON call). A page that needs sign-in
sends the browser to /login; the JSON API answers 401.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response

from core.accounts import ANONYMOUS_PRINCIPAL, Accounts, Principal
from core.errors import ErrorCode, VraagbaakError
from core.settings import ROLES, Settings

SESSION_COOKIE = "vb_session"
CSRF_COOKIE = "vb_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

ADMIN_TOKEN_PRINCIPAL = Principal(user_id="admin-token", username="admin-token", display_name="Admin token",
                                  roles=frozenset({"admin"}), via="admin_token")


def accounts(request: Request) -> Accounts:
    return request.app.state.accounts


def resolve_principal(request: Request) -> Principal | None:
    """The caller, looked up once per request; None when nobody is signed in and anonymous use is off."""
    if hasattr(request.state, "principal"):
        return request.state.principal
    settings: Settings = request.app.state.settings
    principal: Principal | None = None
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and given.strip():
        given = given.strip()
        principal = accounts(request).token_principal(given)
        admin_token = settings.web.admin_token.get_secret_value() if settings.web.admin_token else ""
        if principal is None and admin_token and secrets.compare_digest(given.encode(), admin_token.encode()):
            principal = ADMIN_TOKEN_PRINCIPAL
        if principal is None:
            raise VraagbaakError(ErrorCode.UNAUTHORIZED, "The bearer token is unknown, revoked or expired.")
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            principal = accounts(request).session_principal(cookie)
    if principal is None and settings.auth.anonymous:
        principal = ANONYMOUS_PRINCIPAL
    request.state.principal = principal
    return principal


def current_user(request: Request) -> Principal:
    principal = resolve_principal(request)
    if principal is None or principal.via == "admin_token":
        raise VraagbaakError(ErrorCode.UNAUTHORIZED, "Sign in first (or send an API token: Authorization: Bearer vbk_…).")
    return principal


def signed_in(request: Request) -> Principal:
    """A real account (not the anonymous visitor)."""
    principal = current_user(request)
    if principal.anonymous:
        raise VraagbaakError(ErrorCode.UNAUTHORIZED, "Sign in first.")
    return principal


def require_role(role: str) -> Any:
    """A dependency: the caller is signed in and has `role` (the admin token counts as admin)."""
    if role not in ROLES:
        raise ValueError(role)

    def check(request: Request) -> Principal:
        principal = resolve_principal(request)
        if principal is None or principal.anonymous:
            raise VraagbaakError(ErrorCode.UNAUTHORIZED, "Sign in first.")
        if not principal.has(role):
            raise VraagbaakError(ErrorCode.FORBIDDEN, f"This needs the {role} role.")
        return principal

    return Depends(check)


async def csrf_protect(request: Request) -> None:
    """State-changing requests made with a cookie carry the CSRF token (form field or X-CSRF-Token
    header). Bearer-token calls are not exposed to CSRF and need none."""
    principal = resolve_principal(request)
    if principal is not None and principal.via in ("token", "admin_token"):
        return
    if request.url.path != "/login":
        if principal is None:
            raise VraagbaakError(ErrorCode.UNAUTHORIZED, "Sign in first (or send an API token: Authorization: Bearer vbk_…).")
        if principal.anonymous:
            return  # an anonymous visitor's cookie carries no authority to abuse
    session = principal is not None and principal.via == "session" and request.url.path != "/login"
    expected = principal.csrf_token if session else request.cookies.get(CSRF_COOKIE)
    given = request.headers.get(CSRF_HEADER)
    if not given and request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded",
                                                                         "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not expected or not given or not secrets.compare_digest(expected.encode(), given.encode()):
        raise VraagbaakError(ErrorCode.FORBIDDEN, "The form has expired or did not come from this site; reload the page "
                                                  "and try again.")


def page_csrf(request: Request) -> str:
    """The CSRF token a page puts in its forms: the session's, or a pre-session one (sign-in form, anonymous
    visitors) that `ensure_csrf_cookie` sets."""
    principal = resolve_principal(request)
    if principal is not None and principal.via == "session" and principal.csrf_token and request.url.path != "/login":
        return principal.csrf_token
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return token


def secure_cookies(request: Request) -> bool:
    mode = request.app.state.settings.auth.secure_cookies
    if mode != "auto":
        return mode == "always"
    return request.url.scheme == "https"  # behind a proxy: uvicorn's --proxy-headers / --forwarded-allow-ips


def ensure_csrf_cookie(request: Request, response: Response) -> None:
    """Set the pre-session CSRF cookie when a page made a new one."""
    token = getattr(request.state, "new_csrf", None)
    if token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies(request),
                            path="/")


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    hours = request.app.state.settings.auth.session_hours
    response.set_cookie(SESSION_COOKIE, token, max_age=int(hours * 3600), httponly=True, samesite="lax",
                        secure=secure_cookies(request), path="/")


def safe_next(target: str | None) -> str:
    """Only a path on this site (never `//evil.example` or `https://…`)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target or len(target) > 500:
        return "/"
    return target


UserDep = Annotated[Principal, Depends(current_user)]
SignedInDep = Annotated[Principal, Depends(signed_in)]
CsrfDep = Depends(csrf_protect)
