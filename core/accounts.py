"""Users, sign-in sessions and API tokens, kept in the application database.

Passwords are stored as argon2id hashes; session and API tokens are random (256 bits) and only their
SHA-256 is stored, so a copy of the database does not let anyone sign in. Roles say which views a
user may open (`core.settings.ROLES`); groups say which documents they may read — enforced inside
retrieval, on every path.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select

from core.db import ApiTokenRow, Database, SessionRow, UserRow, utcnow
from core.errors import ErrorCode, VraagbaakError
from core.logging import kv
from core.settings import ROLES, AuthSettings

log = logging.getLogger(__name__)

TOKEN_PREFIX = "vbk_"
_USERNAME = re.compile(r"^[A-Za-z0-9._@+-]{1,200}$")
_GROUP = re.compile(r"^[A-Za-z0-9._:@+-]{1,100}$")
_HASHER = PasswordHasher()  # argon2id, the library's (OWASP-level) defaults
_DUMMY_HASH = _HASHER.hash("a password no one has")
_GUESS_WINDOW_S = 15 * 60


@dataclass(frozen=True)
class Principal:
    """Who is asking: their roles and their document access groups."""

    user_id: str
    username: str
    display_name: str = ""
    roles: frozenset[str] = frozenset()
    groups: tuple[str, ...] = ()
    via: str = "session"  # session | token | anonymous | admin_token
    csrf_token: str | None = None
    language: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def anonymous(self) -> bool:
        return self.via == "anonymous"

    def has(self, role: str) -> bool:
        return role in self.roles


ANONYMOUS_PRINCIPAL = Principal(user_id="anonymous", username="anonymous", roles=frozenset({"employee"}),
                                via="anonymous")


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def check_roles(roles: list[str] | tuple[str, ...]) -> list[str]:
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise VraagbaakError(ErrorCode.BAD_REQUEST, f"Unknown role(s) {', '.join(unknown)}; roles are {', '.join(ROLES)}.")
    return sorted(set(roles), key=ROLES.index)


def check_groups(groups: list[str] | tuple[str, ...]) -> list[str]:
    bad = [g for g in groups if not _GROUP.match(g)]
    if bad:
        raise VraagbaakError(ErrorCode.BAD_REQUEST, f"Invalid group name(s): {', '.join(repr(g) for g in bad[:5])} "
                             "(letters, digits and . _ : @ + - only).")
    return sorted(set(groups))


def principal_of(row: UserRow, via: str, csrf_token: str | None = None) -> Principal:
    return Principal(user_id=row.user_id, username=row.username, display_name=row.display_name or row.username,
                     roles=frozenset(row.roles or ()), groups=tuple(row.groups or ()), via=via,
                     csrf_token=csrf_token, language=row.language)


class Accounts:
    """Users, sessions and API tokens."""

    def __init__(self, database: Database, settings: AuthSettings | None = None) -> None:
        self.database = database
        self.settings = settings or AuthSettings()

    # users -------------------------------------------------------------------------------------
    def create_user(self, username: str, password: str | None = None, *, roles: list[str] | tuple[str, ...] = ("employee",),
                    groups: list[str] | tuple[str, ...] = (), display_name: str = "", email: str | None = None,
                    auth: str = "local", oidc_subject: str | None = None) -> UserRow:
        if not _USERNAME.match(username):
            raise VraagbaakError(ErrorCode.BAD_REQUEST, "A username is 1–200 letters, digits or . _ @ + - characters.")
        if auth == "local":
            if password is None:
                raise VraagbaakError(ErrorCode.BAD_REQUEST, "A local account needs a password.")
            self._check_password(password)
        row = UserRow(user_id=uuid.uuid4().hex, username=username, display_name=display_name or username, email=email,
                      password_hash=_HASHER.hash(password) if password else None, auth=auth, oidc_subject=oidc_subject,
                      roles=check_roles(list(roles)), groups=check_groups(list(groups)), active=True, failed_logins=[])
        with self.database.session() as session:
            if session.scalar(select(UserRow).where(UserRow.username == username)) is not None:
                raise VraagbaakError(ErrorCode.CONFLICT, f"A user named {username!r} exists already.")
            session.add(row)
        log.info("user created", extra=kv(user_id=row.user_id, roles=row.roles, auth=auth))
        return row

    def _check_password(self, password: str) -> None:
        if len(password) < self.settings.password_min_length:
            raise VraagbaakError(ErrorCode.BAD_REQUEST,
                                 f"A password needs at least {self.settings.password_min_length} characters.")
        if len(password) > 1024:
            raise VraagbaakError(ErrorCode.BAD_REQUEST, "A password has at most 1024 characters.")

    def set_password(self, user_id: str, password: str) -> None:
        self._check_password(password)
        with self.database.session() as session:
            row = self._get(session, user_id)
            row.password_hash = _HASHER.hash(password)
            row.failed_logins = []
            session.execute(delete(SessionRow).where(SessionRow.user_id == user_id))  # sign out everywhere

    def get(self, user_id: str) -> UserRow | None:
        with self.database.session() as session:
            return session.get(UserRow, user_id)

    def by_username(self, username: str) -> UserRow | None:
        with self.database.session() as session:
            return session.scalar(select(UserRow).where(UserRow.username == username))

    def list(self) -> list[UserRow]:
        with self.database.session() as session:
            return list(session.scalars(select(UserRow).order_by(UserRow.username)))

    def update(self, user_id: str, *, roles: list[str] | None = None, groups: list[str] | None = None,
               active: bool | None = None, display_name: str | None = None, language: str | None = None) -> UserRow:
        with self.database.session() as session:
            row = self._get(session, user_id)
            if roles is not None:
                row.roles = check_roles(roles)
            if groups is not None:
                row.groups = check_groups(groups)
            if display_name is not None:
                row.display_name = display_name[:200]
            if language is not None:
                row.language = language if language in ("nl", "en") else None
            if active is not None:
                row.active = active
                if not active:
                    session.execute(delete(SessionRow).where(SessionRow.user_id == user_id))
                    for token in session.scalars(select(ApiTokenRow).where(ApiTokenRow.user_id == user_id)):
                        token.revoked = True
            return row

    def delete(self, user_id: str) -> dict[str, int]:
        """Remove the account with its sessions and tokens; returns what was removed."""
        with self.database.session() as session:
            row = self._get(session, user_id)
            removed = {
                "sessions": session.execute(delete(SessionRow).where(SessionRow.user_id == user_id)).rowcount or 0,
                "api_tokens": session.execute(delete(ApiTokenRow).where(ApiTokenRow.user_id == user_id)).rowcount or 0,
                "users": 1,
            }
            session.delete(row)
        log.info("user deleted", extra=kv(user_id=user_id))
        return removed

    @staticmethod
    def _get(session, user_id: str) -> UserRow:  # type: ignore[no-untyped-def]
        row = session.get(UserRow, user_id)
        if row is None:
            raise VraagbaakError(ErrorCode.NOT_FOUND, "No such user.")
        return row

    def authenticate(self, username: str, password: str) -> UserRow:
        """The user whose password this is. Failures all read the same; an account with too many recent
        failures is held back for a while (password guessing)."""
        wrong = VraagbaakError(ErrorCode.UNAUTHORIZED, "Wrong username or password.")
        with self.database.session() as session:
            row = session.scalar(select(UserRow).where(UserRow.username == username))
            if row is None or not row.password_hash or not row.active:
                _verify(_DUMMY_HASH, password)  # the same work, so timing does not tell which accounts exist
                raise wrong
            now = time.time()
            recent = [t for t in (row.failed_logins or []) if now - t < _GUESS_WINDOW_S]
            if len(recent) >= self.settings.login_attempts:
                raise VraagbaakError(ErrorCode.UNAUTHORIZED,
                                     "Too many failed sign-ins for this account; try again in 15 minutes.")
            if not _verify(row.password_hash, password):
                row.failed_logins = [*recent, now]
                session.commit()
                raise wrong
            if _HASHER.check_needs_rehash(row.password_hash):
                row.password_hash = _HASHER.hash(password)
            row.failed_logins = []
            row.last_login = utcnow()
            return row

    def sso_user(self, subject: str, *, username: str, display_name: str, email: str | None,
                 roles: list[str], groups: list[str]) -> UserRow:
        """Create or refresh the account of a single-sign-on user: roles and groups follow the provider."""
        roles, groups = check_roles(roles), check_groups(groups)
        with self.database.session() as session:
            row = session.scalar(select(UserRow).where(UserRow.oidc_subject == subject))
            if row is None:
                taken = session.scalar(select(UserRow).where(UserRow.username == username)) is not None
                row = UserRow(user_id=uuid.uuid4().hex, username=f"{username}#{sha256(subject)[:6]}" if taken else username,
                              auth="oidc", oidc_subject=subject, active=True, failed_logins=[])
                session.add(row)
            if not row.active:
                raise VraagbaakError(ErrorCode.FORBIDDEN, "This account is switched off.")
            row.display_name, row.email, row.roles, row.groups = display_name[:200], email, roles, groups
            row.last_login = utcnow()
            return row

    # sessions ----------------------------------------------------------------------------------
    def start_session(self, user_id: str) -> tuple[str, str]:
        """A new session for the user: (cookie token, CSRF token)."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = utcnow() + timedelta(hours=self.settings.session_hours)
        with self.database.session() as session:
            session.add(SessionRow(token_hash=sha256(token), user_id=user_id, csrf_token=csrf, expires_at=expires))
            session.execute(delete(SessionRow).where(SessionRow.expires_at < utcnow()))
        return token, csrf

    def session_principal(self, token: str) -> Principal | None:
        """The signed-in user of a session cookie, sliding its expiry; None when unknown or expired."""
        if not token or len(token) > 200:
            return None
        with self.database.session() as session:
            row = session.get(SessionRow, sha256(token))
            if row is None or _aware(row.expires_at) < utcnow():
                return None
            user = session.get(UserRow, row.user_id)
            if user is None or not user.active:
                return None
            renewed = utcnow() + timedelta(hours=self.settings.session_hours)
            if (renewed - _aware(row.expires_at)).total_seconds() > 300:  # write at most every five minutes
                row.expires_at = renewed
            return principal_of(user, "session", row.csrf_token)

    def end_session(self, token: str) -> None:
        with self.database.session() as session:
            session.execute(delete(SessionRow).where(SessionRow.token_hash == sha256(token)))

    # API tokens --------------------------------------------------------------------------------
    def create_token(self, user_id: str, name: str = "", days: int | None = None) -> tuple[ApiTokenRow, str]:
        """A new API token; the secret is returned once and never stored."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.database.session() as session:
            self._get(session, user_id)
            row = ApiTokenRow(token_id=uuid.uuid4().hex, token_hash=sha256(secret), user_id=user_id, name=name[:200],
                              expires_at=utcnow() + timedelta(days=days) if days else None, revoked=False)
            session.add(row)
        return row, secret

    def token_principal(self, secret: str) -> Principal | None:
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        with self.database.session() as session:
            row = session.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == sha256(secret)))
            if row is None or row.revoked or (row.expires_at is not None and _aware(row.expires_at) < utcnow()):
                return None
            user = session.get(UserRow, row.user_id)
            if user is None or not user.active:
                return None
            now = utcnow()
            if row.last_used is None or (now - _aware(row.last_used)).total_seconds() > 300:
                row.last_used = now
            return principal_of(user, "token")

    def tokens(self, user_id: str) -> list[ApiTokenRow]:
        with self.database.session() as session:
            return list(session.scalars(select(ApiTokenRow).where(ApiTokenRow.user_id == user_id)
                                        .order_by(ApiTokenRow.created_at)))

    def revoke_token(self, user_id: str, token_id: str) -> None:
        with self.database.session() as session:
            row = session.get(ApiTokenRow, token_id)
            if row is None or row.user_id != user_id:
                raise VraagbaakError(ErrorCode.NOT_FOUND, "No such token.")
            row.revoked = True


def _verify(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC)."""
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
