"""Single sign-on with an OpenID Connect provider (Entra ID, Keycloak, Okta, any certified one).

The authorization code flow with PKCE (S256), `state` and `nonce`. Authlib's `OAuth2Client` builds
the authorization URL, redeems the code and calls the userinfo endpoint; the ID token is checked
with joserfc (Authlib's JOSE engine) and Authlib's `CodeIDToken` rules: signature against the
provider's published keys, `iss`, `aud`, `exp`, `iat`, `nonce`, `azp`, `at_hash`.

No server-side session holds the flow: state, nonce, PKCE verifier and where to go afterwards travel
in a short-lived, HMAC-signed, HttpOnly cookie (`Flow`), bound to the browser that started.

Every failure is a `VraagbaakError` whose `context["text"]` names the interface text to show:
the provider down → IDP_UNAVAILABLE (503); a forged, replayed or stale callback → BAD_REQUEST; a token
that does not check out → UNAUTHORIZED; the provider refusing the user → FORBIDDEN.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from core.accounts import check_groups
from core.errors import ErrorCode, VraagbaakError
from core.logging import kv
from core.settings import ROLES, OIDCSettings

try:  # Authlib's OAuth2Client runs on httpx2 where that is installed, else on httpx
    import httpx2 as _oauth_http  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    import httpx as _oauth_http

log = logging.getLogger(__name__)
_HTTP_ERRORS = (httpx.HTTPError, _oauth_http.HTTPError)

FLOW_COOKIE = "vb_sso"
FLOW_TTL_S = 600
"""How long a started sign-in may take at the provider (the flow cookie's lifetime)."""
METADATA_TTL_S = 3600
LEEWAY_S = 60
ASYMMETRIC_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519")
"""ID token signatures accepted (never `none`, never a shared-secret HMAC)."""
_USERNAME = re.compile(r"^[A-Za-z0-9._@+-]{1,200}$")
_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _fail(code: ErrorCode, text: str, message: str, **context: object) -> VraagbaakError:
    return VraagbaakError(code, message, text=text, **context)


# the flow cookie ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Flow:
    """One sign-in under way: what the callback must match, and where to go afterwards."""

    state: str
    nonce: str
    verifier: str
    next: str
    expires: float

    @classmethod
    def new(cls, next_path: str, now: float | None = None) -> Flow:
        return cls(state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                   verifier=secrets.token_urlsafe(64), next=next_path, expires=(now or time.time()) + FLOW_TTL_S)


class FlowSealer:
    """Seals a `Flow` into a cookie value (`payload.mac`, HMAC-SHA256) and opens it again."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the flow key is too short")
        self._key = key

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, b"vb_sso." + payload, hashlib.sha256).digest()

    def seal(self, flow: Flow) -> str:
        payload = _b64(json.dumps(asdict(flow), separators=(",", ":")).encode())
        return f"{payload}.{_b64(self._mac(payload.encode()))}"

    def open(self, value: str | None, now: float | None = None) -> Flow:
        expired = _fail(ErrorCode.BAD_REQUEST, "sso_expired",
                        "The sign-in was not started in this browser or took too long; please start again.")
        if not value:
            raise expired
        payload, _, mac = value.partition(".")
        try:
            good = hmac.compare_digest(_unb64(mac), self._mac(payload.encode()))
            data = json.loads(_unb64(payload)) if good else None
            flow = Flow(**data) if isinstance(data, dict) else None
        except (ValueError, TypeError):
            flow = None
        if flow is None:
            raise _fail(ErrorCode.BAD_REQUEST, "sso_state", "The sign-in response does not belong to this sign-in.")
        if flow.expires < (now or time.time()):
            raise expired
        return flow


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def flow_key(secret: str) -> bytes:
    """The flow cookie's HMAC key, derived (so it is never the secret itself) from a longer-lived one."""
    return hmac.new(secret.encode("utf-8"), b"vraagbaak sso flow cookie v1", hashlib.sha256).digest()


# who signed in ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SSOIdentity:
    """What Vraagbaak keeps of a provider's answer about one person."""

    subject: str  # "<issuer>|<sub>": unique across providers
    username: str
    display_name: str
    email: str | None
    roles: list[str]
    groups: list[str]


def identity_of(claims: Mapping[str, Any], settings: OIDCSettings) -> SSOIdentity:
    """Map checked claims to an identity: groups from `groups_claim`, roles from `roles_claim` (only the
    known ones) or `default_roles`."""
    sub = str(claims["sub"])
    subject = f"{settings.issuer}|{sub}"
    candidates = [claims.get("preferred_username"), claims.get("email"), sub]
    username = next((c for c in candidates if isinstance(c, str) and _USERNAME.match(c)),
                    "sso-" + hashlib.sha256(subject.encode()).hexdigest()[:12])
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = [claims.get("given_name"), claims.get("family_name")]
        name = " ".join(p for p in parts if isinstance(p, str) and p.strip()) or username
    email = claims.get("email")
    email = email if isinstance(email, str) and 3 <= len(email) <= 320 else None
    roles = [r for r in _names(claims.get(settings.roles_claim)) if r in ROLES] if settings.roles_claim else []
    return SSOIdentity(subject=subject, username=username, display_name=name.strip()[:200], email=email,
                       roles=sorted(set(roles or settings.default_roles), key=ROLES.index),
                       groups=_groups(claims.get(settings.groups_claim), sub))


def _names(value: Any) -> list[str]:
    """A claim holding names: a JSON list, or one string (space- or comma-separated)."""
    if isinstance(value, str):
        return [v for v in re.split(r"[\s,]+", value) if v]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str) and v]
    return []


def _groups(value: Any, sub: str) -> list[str]:
    """Access groups from the claim. Keycloak's full group paths (`/hr`) lose their leading slash; a name
    Vraagbaak cannot hold is left out (fewer groups never opens a document) and logged."""
    kept, dropped = [], []
    for name in _names(value)[:1000]:
        name = name[1:] if name.startswith("/") else name
        try:
            kept += check_groups([name])
        except VraagbaakError:
            dropped.append(name)
    if dropped:
        log.warning("sso groups left out", extra=kv(subject=hashlib.sha256(sub.encode()).hexdigest()[:12],  # no ids in logs
                                                     dropped=dropped[:10], count=len(dropped)))
    return sorted(set(kept))


# the provider -------------------------------------------------------------------------------------
class SingleSignOn:
    """One configured provider: its discovery document and keys (cached), and the two halves of a
    sign-in. Thread-safe; made once per app."""

    def __init__(self, settings: OIDCSettings, key: bytes) -> None:
        if not settings.issuer or not settings.client_id:
            raise ValueError("single sign-on needs an issuer and a client id")
        self.settings = settings
        self.issuer: str = settings.issuer
        self.client_id: str = settings.client_id
        self.sealer = FlowSealer(key)
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: dict[str, Any] | None = None

    # talking to the provider
    def _client(self, redirect_uri: str | None = None) -> OAuth2Client:
        secret = self.settings.client_secret.get_secret_value() if self.settings.client_secret else None
        return OAuth2Client(self.client_id, secret, scope=self.settings.scopes, redirect_uri=redirect_uri,
                            code_challenge_method="S256", timeout=self.settings.timeout_s,
                            verify=self.settings.verify_tls)

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            with httpx.Client(timeout=self.settings.timeout_s, verify=self.settings.verify_tls) as client:
                response = client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise self._unavailable(what, exc) from exc
        if not isinstance(data, dict):
            raise self._unavailable(what, "not a JSON object")
        return data

    def _unavailable(self, what: str, error: object) -> VraagbaakError:
        log.warning("identity provider unavailable", extra=kv(issuer=self.issuer, step=what, error=str(error)[:300]))
        return _fail(ErrorCode.IDP_UNAVAILABLE, "sso_unavailable",
                     f"The identity provider cannot be reached ({what}); try again later or sign in with a "
                     "local account.")

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document, read at most once an hour."""
        with self._lock:
            if self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_TTL_S:
                return self._metadata
        data = self._get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration", "discovery")
        if data.get("issuer") != self.issuer:  # OpenID Connect Discovery 1.0, section 4.3
            raise self._unavailable("discovery", f"it names issuer {str(data.get('issuer'))[:200]!r}, not the "
                                                 "configured one")
        missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not data.get(k)]
        if missing:
            raise self._unavailable("discovery", f"missing {', '.join(missing)}")
        with self._lock:
            self._metadata, self._metadata_at = data, time.monotonic()
        return data

    def _key_set(self, refresh: bool = False) -> KeySet:
        with self._lock:
            jwks = None if refresh else self._jwks
        if jwks is None:
            jwks = self._get_json(self.metadata()["jwks_uri"], "signing keys")
            with self._lock:
                self._jwks = jwks
        try:
            return KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise self._unavailable("signing keys", exc) from exc

    # the two halves of a sign-in
    def start(self, redirect_uri: str, next_path: str) -> tuple[str, str]:
        """The provider's authorization URL to send the browser to, and the sealed flow for its cookie."""
        metadata = self.metadata()
        flow = Flow.new(next_path)
        with self._client(redirect_uri) as client:
            url, _state = client.create_authorization_url(metadata["authorization_endpoint"], state=flow.state,
                                                          code_verifier=flow.verifier, nonce=flow.nonce)
        return url, self.sealer.seal(flow)

    def finish(self, sealed: str | None, params: Mapping[str, str], redirect_uri: str) -> tuple[SSOIdentity, str]:
        """Check the provider's answer against the flow, redeem the code, check the ID token; returns the
        identity and the (safe) path to go to."""
        error = params.get("error")
        if error:
            code = error if _ERROR_CODE.match(error) else "error"
            log.info("sso refused by provider", extra=kv(issuer=self.issuer, error=code))
            if code == "access_denied":
                raise _fail(ErrorCode.FORBIDDEN, "sso_denied", "The identity provider did not let you sign in.")
            raise _fail(ErrorCode.BAD_REQUEST, "sso_provider_error",
                        f"The identity provider stopped the sign-in ({code}).", error=code)
        flow = self.sealer.open(sealed)
        state = params.get("state") or ""
        if not hmac.compare_digest(state.encode(), flow.state.encode()):
            raise _fail(ErrorCode.BAD_REQUEST, "sso_state", "The sign-in response does not belong to this sign-in.")
        if "iss" in params and params["iss"] != self.issuer:  # RFC 9207: an answer from another provider
            raise _fail(ErrorCode.BAD_REQUEST, "sso_state", "The sign-in response came from another provider.")
        code = params.get("code")
        if not code:
            raise _fail(ErrorCode.BAD_REQUEST, "sso_state", "The sign-in response carries no authorization code.")
        metadata = self.metadata()
        with self._client(redirect_uri) as client:
            token = self._redeem(client, metadata, code, flow)
            claims = self.check_id_token(token.get("id_token"), flow.nonce, token.get("access_token"))
            wanted = {self.settings.groups_claim, self.settings.roles_claim or "sub", "preferred_username", "name"}
            if metadata.get("userinfo_endpoint") and token.get("access_token") and not wanted <= set(claims):
                claims = {**self._userinfo(client, metadata["userinfo_endpoint"], claims["sub"]), **claims}
        return identity_of(claims, self.settings), flow.next

    def _redeem(self, client: OAuth2Client, metadata: Mapping[str, Any], code: str, flow: Flow) -> dict[str, Any]:
        try:
            token = client.fetch_token(metadata["token_endpoint"], grant_type="authorization_code", code=code,
                                       code_verifier=flow.verifier)
        except _HTTP_ERRORS as exc:  # not reachable, a 5xx, or a non-JSON error page
            raise self._unavailable("token", exc) from exc
        except AuthlibBaseError as exc:  # the provider's OAuth error, e.g. invalid_grant for a replayed code
            error = exc.error if isinstance(exc.error, str) and _ERROR_CODE.match(exc.error) else "error"
            log.info("sso code refused", extra=kv(issuer=self.issuer, error=error))
            raise _fail(ErrorCode.BAD_REQUEST, "sso_provider_error",
                        f"The identity provider stopped the sign-in ({error}).", error=error) from exc
        except ValueError as exc:
            raise self._unavailable("token", exc) from exc
        return dict(token)

    def check_id_token(self, id_token: object, nonce: str, access_token: object = None) -> dict[str, Any]:
        """The ID token's claims, checked against the provider's current keys (read again once when the
        token names a key not seen yet: the provider rolled its keys)."""
        offered = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        check = {"issuer": self.issuer, "client_id": self.client_id, "nonce": nonce, "access_token": access_token,
                 "algorithms": offered}
        try:
            return verify_id_token(id_token, self._key_set(), **check)  # type: ignore[arg-type]
        except _UnknownKey:
            pass
        try:
            return verify_id_token(id_token, self._key_set(refresh=True), **check)  # type: ignore[arg-type]
        except _UnknownKey as exc:
            log.warning("sso id token refused", extra=kv(issuer=self.issuer, error="unknown key"))
            raise _fail(ErrorCode.UNAUTHORIZED, "sso_token", "The identity provider's answer did not check out.") from exc

    def _userinfo(self, client: OAuth2Client, url: str, sub: str) -> dict[str, Any]:
        """Claims the ID token left out (many providers put groups only here); must be about the same `sub`."""
        try:
            response = client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            data = response.json()
        except (*_HTTP_ERRORS, ValueError) as exc:
            raise self._unavailable("userinfo", exc) from exc
        if not isinstance(data, dict) or data.get("sub") != sub:
            raise _fail(ErrorCode.UNAUTHORIZED, "sso_token", "The identity provider's answer did not check out.")
        return data


class _UnknownKey(Exception):
    """The token names a key the key set does not hold."""


def verify_id_token(id_token: object, keys: KeySet, *, issuer: str, client_id: str, nonce: str,
                    access_token: object = None, algorithms: list[str] | None = None) -> dict[str, Any]:
    """The claims of an ID token signed with one of `keys` (an asymmetric algorithm the provider offers),
    issued by `issuer` to `client_id`, not expired, carrying this sign-in's `nonce` (and the access
    token's `at_hash` when present). Anything else → UNAUTHORIZED."""
    bad = _fail(ErrorCode.UNAUTHORIZED, "sso_token", "The identity provider's answer did not check out.")
    if not isinstance(id_token, str) or not id_token:
        raise bad
    allowed = [a for a in (algorithms or ["RS256"]) if a in ASYMMETRIC_ALGS] or ["RS256"]
    try:
        token = jwt.decode(id_token, keys, registry=JWSRegistry(algorithms=allowed))
    except InvalidKeyIdError as exc:
        raise _UnknownKey from exc
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        log.warning("sso id token refused", extra=kv(issuer=issuer, error=type(exc).__name__))
        raise bad from exc
    params: dict[str, Any] = {"nonce": nonce, "client_id": client_id}
    if isinstance(access_token, str):
        params["access_token"] = access_token
    claims = CodeIDToken(token.claims, token.header, {"iss": {"essential": True, "value": issuer},
                                                      "aud": {"essential": True, "value": client_id}}, params)
    try:
        claims.validate(leeway=LEEWAY_S)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        log.warning("sso id token refused", extra=kv(issuer=issuer, error=type(exc).__name__, detail=str(exc)[:200]))
        raise bad from exc
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise bad
    return dict(claims)
