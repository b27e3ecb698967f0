"""Admin pages for users and groups: list, create a local account, change roles, groups and whether
an account is on, reset a password, delete — and every access group known from users and documents.

An admin cannot take their own admin role, switch themselves off or delete themselves, and the
last active admin cannot lose the role (409 with a message on the page).

Erasing a user's data (GDPR art. 17, assistant/privacy.py): a confirm page shows what would be removed
where (a dry run), the form posts it (CSRF, optionally deleting the account too), and the result is
the report: table → count.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from assistant.privacy import WHERE, erase_user
from core.accounts import Accounts, Principal, check_groups, check_roles
from core.db import DocumentRow, UserRow
from core.errors import ErrorCode, VraagbaakError
from core.settings import ROLES
from core.types import EVERYONE
from web.auth import CsrfDep, accounts, require_role
from web.render import render
from web.routes.admin import RegistryDep
from web.routes.admin_sources import split_values

router = APIRouter()

AdminDep = require_role("admin")


def _user(request: Request, user_id: str) -> UserRow:
    row = accounts(request).get(user_id[:64])
    if row is None:
        raise VraagbaakError(ErrorCode.NOT_FOUND, "No such user.")
    return row


def _users_page(request: Request, *, values: dict[str, Any] | None = None, error: str | None = None,
                status: int = 200) -> Response:
    return render(request, "admin_users.html", {
        "users": accounts(request).list(), "roles": ROLES, "values": values or {"roles": ["employee"]},
        "error": error, "min_length": request.app.state.settings.auth.password_min_length}, status_code=status)


def _user_page(request: Request, row: UserRow, *, error: str | None = None, notice: str | None = None,
               status: int = 200) -> Response:
    return render(request, "admin_user.html", {
        "user": row, "roles": ROLES, "error": error, "notice": notice,
        "min_length": request.app.state.settings.auth.password_min_length}, status_code=status)


def _other_active_admins(users: Accounts, user_id: str) -> int:
    return sum(1 for u in users.list() if u.user_id != user_id and u.active and "admin" in (u.roles or ()))


@router.get("/users")
def users(request: Request) -> Response:
    return _users_page(request)


@router.post("/users", dependencies=[CsrfDep])
async def create_user(request: Request) -> Response:
    form = await request.form()
    values = {"username": str(form.get("username", "")).strip(), "display_name": str(form.get("display_name", "")),
              "groups": str(form.get("groups", "")), "roles": [str(r) for r in form.getlist("roles")]}
    try:
        accounts(request).create_user(values["username"], str(form.get("password", "")), roles=values["roles"],
                                      groups=split_values(values["groups"], commas=True),
                                      display_name=values["display_name"].strip()[:200])
    except VraagbaakError as exc:
        status = 409 if exc.code is ErrorCode.CONFLICT else 400
        return _users_page(request, values=values, error=exc.message, status=status)
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/users/{user_id}")
def user(request: Request, user_id: str) -> Response:
    return _user_page(request, _user(request, user_id))


@router.post("/users/{user_id}", dependencies=[CsrfDep])
async def edit_user(request: Request, user_id: str, admin: Principal = AdminDep) -> Response:
    row = _user(request, user_id)
    form = await request.form()
    roles = [str(r) for r in form.getlist("roles")]
    active = form.get("active") == "1"
    try:
        roles, groups = check_roles(roles), check_groups(split_values(str(form.get("groups", "")), commas=True))
        if row.user_id == admin.user_id and "admin" not in roles:
            raise VraagbaakError(ErrorCode.CONFLICT, "You cannot take away your own admin role; ask another admin.")
        if row.user_id == admin.user_id and not active:
            raise VraagbaakError(ErrorCode.CONFLICT, "You cannot switch off your own account.")
        losing_admin = "admin" in (row.roles or ()) and row.active and ("admin" not in roles or not active)
        if losing_admin and not _other_active_admins(accounts(request), row.user_id):
            raise VraagbaakError(ErrorCode.CONFLICT, "This is the last active admin; make someone else admin first.")
        updated = accounts(request).update(row.user_id, roles=roles, groups=groups, active=active,
                                           display_name=str(form.get("display_name", row.display_name)).strip())
    except VraagbaakError as exc:
        return _user_page(request, row, error=exc.message, status=409 if exc.code is ErrorCode.CONFLICT else 400)
    return _user_page(request, updated, notice="adm_user_saved")


@router.post("/users/{user_id}/password", dependencies=[CsrfDep])
async def reset_password(request: Request, user_id: str) -> Response:
    row = _user(request, user_id)
    form = await request.form()
    try:
        if row.auth != "local":
            raise VraagbaakError(ErrorCode.BAD_REQUEST, "This account signs in with single sign-on; it has no password here.")
        accounts(request).set_password(row.user_id, str(form.get("password", "")))
    except VraagbaakError as exc:
        return _user_page(request, row, error=exc.message, status=400)
    return _user_page(request, _user(request, user_id), notice="adm_password_reset")


@router.get("/users/{user_id}/delete")
def delete_form(request: Request, user_id: str, admin: Principal = AdminDep) -> Response:
    row = _user(request, user_id)
    if row.user_id == admin.user_id:
        raise VraagbaakError(ErrorCode.CONFLICT, "You cannot delete your own account.")
    return render(request, "admin_confirm.html", {"action": f"/admin/users/{row.user_id}/delete", "kind": "user",
                                                  "name": row.username, "back": f"/admin/users/{row.user_id}"})


@router.post("/users/{user_id}/delete", dependencies=[CsrfDep])
def delete_user(request: Request, user_id: str, admin: Principal = AdminDep) -> Response:
    row = _user(request, user_id)
    if row.user_id == admin.user_id:
        raise VraagbaakError(ErrorCode.CONFLICT, "You cannot delete your own account.")
    if "admin" in (row.roles or ()) and row.active and not _other_active_admins(accounts(request), row.user_id):
        raise VraagbaakError(ErrorCode.CONFLICT, "This is the last active admin; make someone else admin first.")
    removed = accounts(request).delete(row.user_id)
    return render(request, "admin_done.html", {
        "done": "user_deleted", "name": row.username, "back": "/admin/users",
        "figures": [("adm_sessions_ended", removed["sessions"]), ("adm_tokens_removed", removed["api_tokens"])]})


def _may_erase(request: Request, row: UserRow, admin: Principal, delete_account: bool) -> None:
    if row.user_id == admin.user_id:
        raise VraagbaakError(ErrorCode.CONFLICT, "You cannot erase your own data here; ask another admin.")
    if delete_account and "admin" in (row.roles or ()) and row.active \
            and not _other_active_admins(accounts(request), row.user_id):
        raise VraagbaakError(ErrorCode.CONFLICT, "This is the last active admin; make someone else admin first.")


@router.get("/users/{user_id}/erase")
def erase_form(request: Request, user_id: str, admin: Principal = AdminDep) -> Response:
    """The confirm step: what erasing would remove, counted by a dry run."""
    row = _user(request, user_id)
    _may_erase(request, row, admin, delete_account=False)
    plan = erase_user(request.app.state.answer_log, row.user_id, delete_account=True, dry_run=True)
    return render(request, "admin_user_erase.html", {"user": row, "plan": plan, "where": WHERE})


@router.post("/users/{user_id}/erase", dependencies=[CsrfDep])
def erase(request: Request, user_id: str, admin: Principal = AdminDep,
          delete_account: str = Form("", max_length=5)) -> Response:
    row = _user(request, user_id)
    delete = delete_account == "1"
    _may_erase(request, row, admin, delete)
    report = erase_user(request.app.state.answer_log, row.user_id, delete_account=delete)
    return render(request, "admin_user_erased.html", {"report": report, "where": WHERE})


@router.get("/groups")
def groups(request: Request, registry: RegistryDep) -> Response:
    users_in: Counter[str] = Counter()
    for row in accounts(request).list():
        users_in.update(set(row.groups or ()))
    documents_in: Counter[str] = Counter()
    indexed_in: Counter[str] = Counter()
    with registry.database.session() as session:
        for doc_groups, status in session.execute(select(DocumentRow.groups, DocumentRow.status)):
            names = set(doc_groups or ()) or {EVERYONE}
            documents_in.update(names)
            if status == "indexed":
                indexed_in.update(names)
    rows = [{"name": name, "users": users_in[name], "documents": documents_in[name], "indexed": indexed_in[name],
             "everyone": name == EVERYONE}
            for name in sorted(set(users_in) | set(documents_in), key=lambda n: (n != EVERYONE, n.lower()))]
    return render(request, "admin_groups.html", {"groups": rows})
