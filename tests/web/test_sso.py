"""Single sign-on through a real OpenID provider on loopback: `oidc-provider` (OpenID-certified, from
npm) started by these tests with node, its development login and consent pages driven over HTTP the
way a browser would, against the real app served by uvicorn. Groups from the provider's claim decide
what retrieval may cite and what the source viewer opens."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from core.embedding import Embedder
from core.settings import OIDCSettings, Settings
from core.store import QdrantStore
from ingest.pipeline import Ingestor
from tests.fixtures import hr_corpus
from tests.web.support import CSRF_IN_PAGE, free_port, serve
from web.app import create_app
from web.oidc import FLOW_COOKIE, Flow, FlowSealer, identity_of, verify_id_token

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
PROVIDER_SCRIPT = NODE_DIR / "oidc_provider.mjs"
NODE = shutil.which("node")
CLIENT_ID, CLIENT_SECRET = "vraagbaak", "loopback-client-secret"
ACCOUNTS = {
    "anna": {"name": "Anna de Vries", "preferred_username": "anna", "email": "anna@example.org",
             "email_verified": True, "groups": ["hr"], "roles": ["employee", "compliance", "superuser"]},
    "bram": {"name": "Bram Jansen", "preferred_username": "bram", "email": "bram@example.org",
             "email_verified": True, "groups": ["sales"]},
}
SALARY_QUESTION = "Wat is het bruto maandsalaris van een senior adviseur?"


def _provider_missing() -> str | None:
    if NODE is None:
        return "node is not installed (the tests' OpenID provider runs on node)"
    if not (NODE_DIR / "node_modules" / "oidc-provider").is_dir():
        return f"oidc-provider is not installed: run `npm ci` in {NODE_DIR}"
    return None


class OpenIDProvider:
    """`node tests/node/oidc_provider.mjs` on a loopback port, for the duration of a `with` block."""

    def __init__(self, port: int, redirect_uri: str, accounts_file: Path, log_file: Path) -> None:
        self.port, self.issuer = port, f"http://127.0.0.1:{port}"
        self.redirect_uri, self.accounts_file, self.log_file = redirect_uri, accounts_file, log_file
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> OpenIDProvider:
        env = {**os.environ, "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_CLIENT_SECRET": CLIENT_SECRET,
               "OIDC_REDIRECT_URIS": self.redirect_uri, "OIDC_ACCOUNTS_FILE": str(self.accounts_file)}
        with self.log_file.open("w") as log:
            self.process = subprocess.Popen([str(NODE), str(PROVIDER_SCRIPT), str(self.port)], cwd=NODE_DIR, env=env,
                                            stdout=subprocess.PIPE, stderr=log, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the OpenID provider stopped: {self.log_file.read_text()}")
            ready, _, _ = select.select([self.process.stdout], [], [], 0.2)
            if ready and "oidc-provider ready" in self.process.stdout.readline():  # type: ignore[union-attr]
                return self
        self.stop()
        raise AssertionError("the OpenID provider did not start within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process is not None and self.process.stdout:
            self.process.stdout.close()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Site:
    """The app and its provider."""

    url: str
    provider: OpenIDProvider
    accounts_file: Path

    def set_account(self, login: str, **claims: object) -> None:
        accounts = json.loads(self.accounts_file.read_text())
        accounts[login] = {**accounts[login], **claims}
        self.accounts_file.write_text(json.dumps(accounts))


def sso_settings(settings: Settings, issuer: str) -> Settings:
    oidc = OIDCSettings(issuer=issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                        scopes="openid profile email groups", label="Sign in with Loopback ID")
    return settings.model_copy(update={"oidc": oidc})


@pytest.fixture
def provider_installed() -> None:
    """Skip (with the reason) where node or the npm package is missing; before anything heavy loads."""
    missing = _provider_missing()
    if missing:
        pytest.skip(missing)


@pytest.fixture
def site(provider_installed: None, settings: Settings, store: QdrantStore, embedder: Embedder,
         tmp_path: Path) -> Iterator[Site]:
    port = free_port()
    accounts_file = tmp_path / "accounts.json"
    accounts_file.write_text(json.dumps(ACCOUNTS))
    app = create_app(sso_settings(settings, f"http://127.0.0.1:{port}"), store=store, embedder=embedder)
    with serve(app) as url, OpenIDProvider(port, f"{url}/login/sso/callback", accounts_file,
                                           tmp_path / "provider.log") as provider:
        yield Site(url, provider, accounts_file)


# driving the provider's pages the way a browser does -------------------------------------------------
FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*method="post"[^>]*>(.*?)</form>', re.S)
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def to_callback(client: httpx.Client, site: Site, login: str, next_path: str = "/") -> str:
    """Start single sign-on at the app and go through the provider's login and consent pages (any
    password); returns the callback URL the provider sends the browser back to, not yet visited."""
    response = client.get(f"{site.url}/login/sso", params={"next": next_path})
    for _ in range(12):
        if response.is_redirect:
            target = urljoin(str(response.url), response.headers["location"])
            if target.startswith(f"{site.url}/login/sso/callback"):
                return target
            response = client.get(target)
            continue
        assert response.status_code == 200, response.text
        action, body = FORM.search(response.text).groups()  # type: ignore[union-attr]
        fields = dict(HIDDEN.findall(body))
        if fields.get("prompt") == "login":
            fields.update(login=login, password="any password will do")
        response = client.post(urljoin(str(response.url), unescape(action)), data=fields)
    raise AssertionError("the provider never sent the browser back")


def sso_sign_in(client: httpx.Client, site: Site, login: str, next_path: str = "/") -> httpx.Response:
    """A whole sign-in; afterwards the client sends the session's CSRF token like the pages' htmx does."""
    response = client.get(to_callback(client, site, login, next_path))
    if response.status_code == 303:
        page = client.get(f"{site.url}/")
        client.headers["X-CSRF-Token"] = CSRF_IN_PAGE.search(page.text).group(1)  # type: ignore[union-attr]
    return response


def with_param(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | params
    return urlunsplit(parts._replace(query=urlencode(query)))


# the tests -------------------------------------------------------------------------------------------
def test_login_page_offers_single_sign_on_and_a_sign_in_through_the_provider_ends_signed_in(site: Site) -> None:
    with httpx.Client(timeout=30) as browser:
        login_page = browser.get(f"{site.url}/login", params={"next": "/account"})
        assert 'href="/login/sso?next=/account"' in login_page.text and "Sign in with Loopback ID" in login_page.text
        start = browser.get(f"{site.url}/login/sso", params={"next": "/account"})
        assert start.status_code == 303
        authorize = parse_qs(urlsplit(start.headers["location"]).query)
        assert start.headers["location"].startswith(f"{site.provider.issuer}/auth?")
        assert authorize["code_challenge_method"] == ["S256"] and len(authorize["code_challenge"][0]) == 43
        assert authorize["state"][0] and authorize["nonce"][0] and "groups" in authorize["scope"][0].split()
        flow_cookie = start.headers["set-cookie"]
        assert flow_cookie.startswith(f"{FLOW_COOKIE}=") and "HttpOnly" in flow_cookie
        assert "Path=/login/sso" in flow_cookie and "SameSite=lax" in flow_cookie and "Max-Age=600" in flow_cookie
        assert "Secure" not in flow_cookie  # plain http on loopback; behind a TLS proxy it is Secure:
        https = browser.get(f"{site.url}/login/sso", headers={"X-Forwarded-Proto": "https"})
        assert "Secure" in https.headers["set-cookie"]

        callback = browser.get(to_callback(browser, site, "anna", "/account"))
        assert callback.status_code == 303 and callback.headers["location"] == "/account", callback.text
        assert "vb_session" in browser.cookies and FLOW_COOKIE not in browser.cookies  # flow cookie cleared
        me = browser.get(f"{site.url}/api/me").json()
        # "superuser" is no Vraagbaak role: left out; groups come from the groups claim
        assert me["username"] == "anna" and me["display_name"] == "Anna de Vries"
        assert me["roles"] == ["compliance", "employee"] and me["groups"] == ["hr"]
        assert browser.get(f"{site.url}/account").status_code == 200

    with httpx.Client(timeout=30) as other:  # no roles claim → the default roles
        assert sso_sign_in(other, site, "bram").status_code == 303
        me = other.get(f"{site.url}/api/me").json()
        assert me["username"] == "bram" and me["roles"] == ["employee"] and me["groups"] == ["sales"]


def test_groups_from_the_claim_decide_what_is_cited_and_viewable(site: Site, store: QdrantStore,
                                                                  embedder: Embedder, settings: Settings,
                                                                  tmp_path: Path) -> None:
    corpus = hr_corpus(tmp_path / "intranet")
    report = Ingestor(store, embedder, settings.ingest).ingest_folder(corpus, "intranet")
    assert not report.failed

    with httpx.Client(timeout=120) as anna, httpx.Client(timeout=120) as bram:
        assert sso_sign_in(anna, site, "anna").status_code == 303
        assert sso_sign_in(bram, site, "bram").status_code == 303

        answer = anna.post(f"{site.url}/api/ask", json={"question": SALARY_QUESTION}).json()
        cited = {c["document_id"]: c for c in answer["citations"]}
        hr = [c for c in cited.values() if c["uri"].endswith("salarisschalen.md")]
        assert answer["answered"] and hr, answer
        salary_doc = hr[0]["document_id"]
        assert "5.800 euro" in answer["answer"]
        assert anna.get(f"{site.url}/documents/{salary_doc}").status_code == 200

        refused = bram.post(f"{site.url}/api/ask", json={"question": SALARY_QUESTION}).json()
        seen = [c["uri"] for c in refused["citations"] + refused["suggestions"]]
        assert not any(uri.endswith("salarisschalen.md") for uri in seen) and "5.800" not in refused["answer"]
        assert bram.get(f"{site.url}/documents/{salary_doc}").status_code == 404
        assert bram.get(f"{site.url}/documents/{salary_doc}/original").status_code == 404

        # the provider takes Anna out of hr: her next sign-in closes the document to her
        site.set_account("anna", groups=["sales"])
        anna.cookies.clear()
        anna.headers.pop("X-CSRF-Token")
        assert sso_sign_in(anna, site, "anna").status_code == 303
        assert anna.get(f"{site.url}/api/me").json()["groups"] == ["sales"]
        assert anna.get(f"{site.url}/documents/{salary_doc}").status_code == 404


def test_a_second_sign_in_follows_changed_groups_and_roles(site: Site) -> None:
    with httpx.Client(timeout=30) as browser:
        assert sso_sign_in(browser, site, "anna").status_code == 303
        first = browser.get(f"{site.url}/api/me").json()
        site.set_account("anna", groups=["finance", "/kwaliteit"], roles=["learning"], name="Anna Smit")
        # the same browser: the provider remembers the sign-in and the consent, and goes straight back
        assert sso_sign_in(browser, site, "anna").status_code == 303
        second = browser.get(f"{site.url}/api/me").json()
    assert first["groups"] == ["hr"] and first["roles"] == ["compliance", "employee"]
    assert second["user_id"] == first["user_id"]  # the same account, refreshed
    assert second["groups"] == ["finance", "kwaliteit"] and second["roles"] == ["learning"]
    assert second["display_name"] == "Anna Smit"


def test_a_tampered_state_or_flow_cookie_is_refused_with_400(site: Site) -> None:
    with httpx.Client(timeout=30, headers={"Accept-Language": "en"}) as browser:
        callback = to_callback(browser, site, "anna")
        forged = browser.get(with_param(callback, state="forged-by-someone-else"))
        assert forged.status_code == 400 and "does not belong to this sign-in" in forged.text
        assert "vb_session" not in browser.cookies
    with httpx.Client(timeout=30) as browser:
        callback = to_callback(browser, site, "anna")
        sealed = browser.cookies[FLOW_COOKIE]
        payload, mac = sealed.split(".")
        browser.cookies.set(FLOW_COOKIE, f"{payload}.{mac[:-2]}AA", path="/login/sso")
        refused = browser.get(callback)
        assert refused.status_code == 400 and "vb_session" not in browser.cookies
        # a callback from another provider (RFC 9207 `iss`) is refused too
        callback = to_callback(browser, site, "anna")
        assert browser.get(with_param(callback, iss="https://idp.example")).status_code == 400


def test_a_callback_without_the_flow_cookie_is_refused_with_400(site: Site) -> None:
    with httpx.Client(timeout=30) as browser:
        callback = to_callback(browser, site, "anna")
    with httpx.Client(timeout=30) as stranger:  # the link opened in another browser (or a forged one)
        refused = stranger.get(callback, headers={"Accept-Language": "en"})
        assert refused.status_code == 400
        assert "was not started in this browser or took too long" in refused.text
        assert 'href="/login/sso?next=/"' in refused.text  # the page offers a fresh start
        assert "vb_session" not in stranger.cookies
        dutch = stranger.get(callback, headers={"Accept-Language": "nl"})
        assert dutch.status_code == 400 and "niet in deze browser begonnen" in dutch.text


def test_access_denied_at_the_provider_is_a_clear_403(site: Site) -> None:
    with httpx.Client(timeout=30) as browser:
        response = browser.get(f"{site.url}/login/sso")
        while response.is_redirect:
            response = browser.get(urljoin(str(response.url), response.headers["location"]))
        cancel = re.search(r'<a href="([^"]*/abort)"', response.text)
        assert cancel, response.text  # the provider's login page has a cancel link
        back = browser.get(urljoin(str(response.url), unescape(cancel.group(1))))
        while back.is_redirect and not back.headers["location"].startswith(site.url):
            back = browser.get(urljoin(str(back.url), back.headers["location"]))
        callback = back.headers["location"]
        assert "error=access_denied" in callback
        denied = browser.get(callback, headers={"Accept-Language": "en"})
        assert denied.status_code == 403 and "did not let you sign in" in denied.text
        assert "vb_session" not in browser.cookies


def test_the_provider_down_gives_a_503_page_not_a_500(site: Site, settings: Settings, store: QdrantStore,
                                                      embedder: Embedder) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with serve(create_app(sso_settings(settings, dead), store=store, embedder=embedder)) as url:
        page = httpx.get(f"{url}/login/sso", headers={"Accept-Language": "en"}, timeout=30)
        assert page.status_code == 503 and "cannot be reached right now" in page.text
        assert '<form method="post" action="/login"' in page.text  # a local sign-in stays possible
    with httpx.Client(timeout=30) as browser:  # the provider goes away between the two halves
        callback = to_callback(browser, site, "anna")
        site.provider.stop()
        late = browser.get(callback, headers={"Accept-Language": "en"})
        assert late.status_code == 503 and "cannot be reached right now" in late.text
        assert "vb_session" not in browser.cookies


def test_without_an_issuer_single_sign_on_is_off(settings: Settings, store: QdrantStore, embedder: Embedder) -> None:
    with serve(create_app(settings, store=store, embedder=embedder)) as url:
        assert httpx.get(f"{url}/login/sso").status_code == 404
        assert httpx.get(f"{url}/login/sso/callback", params={"code": "x", "state": "y"}).status_code == 404
        assert "/login/sso" not in httpx.get(f"{url}/login").text


# the checks themselves, without a provider -------------------------------------------------------------
ISSUER = "https://idp.example"


def _token(key: RSAKey, **claims: object) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "u1", "iat": now, "exp": now + 300, "nonce": "n-1", **claims}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, body, key)


@pytest.fixture(scope="module")
def signing_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1"})


def test_an_id_token_is_checked_for_signature_issuer_audience_expiry_and_nonce(signing_key: RSAKey) -> None:
    keys = KeySet([RSAKey.import_key(signing_key.as_dict(private=False))])
    check = {"issuer": ISSUER, "client_id": CLIENT_ID, "nonce": "n-1"}
    assert verify_id_token(_token(signing_key), keys, **check)["sub"] == "u1"
    other = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # same kid, someone else's key
    now = int(time.time())
    bad = {
        "forged signature": _token(other),
        "other issuer": _token(signing_key, iss="https://evil.example"),
        "other audience": _token(signing_key, aud="someone-else"),
        "expired": _token(signing_key, iat=now - 3600, exp=now - 600),
        "replayed nonce": _token(signing_key, nonce="n-0"),
        "no nonce": jwt.encode({"alg": "RS256", "kid": "k1"}, {"iss": ISSUER, "aud": CLIENT_ID, "sub": "u1",
                                                               "iat": now, "exp": now + 300}, signing_key),
        "not a token": "not.a.token",
    }
    for why, token in bad.items():
        with pytest.raises(Exception) as caught:
            verify_id_token(token, keys, **check)
        assert getattr(caught.value, "code", None) is not None and caught.value.code.value == "unauthorized", why


def test_a_shared_secret_or_unsigned_token_is_never_accepted(signing_key: RSAKey) -> None:
    from joserfc.jwk import OctKey
    from joserfc.jws import JWSRegistry

    secret = OctKey.import_key("a-secret-anyone-could-guess-32bytes!!")
    keys = KeySet([secret])
    now = int(time.time())
    hs256 = jwt.encode({"alg": "HS256"}, {"iss": ISSUER, "aud": CLIENT_ID, "sub": "u1", "iat": now, "exp": now + 60,
                                          "nonce": "n-1"}, secret, registry=JWSRegistry(algorithms=["HS256"]))
    with pytest.raises(Exception, match="did not check out"):
        verify_id_token(hs256, keys, issuer=ISSUER, client_id=CLIENT_ID, nonce="n-1", algorithms=["HS256", "none"])


def test_the_flow_cookie_is_signed_and_expires() -> None:
    sealer = FlowSealer(b"k" * 32)
    flow = Flow.new("/account", now=1000.0)
    sealed = sealer.seal(flow)
    assert sealer.open(sealed, now=1001.0) == flow
    with pytest.raises(Exception, match="does not belong"):
        FlowSealer(b"x" * 32).open(sealed, now=1001.0)
    with pytest.raises(Exception, match="took too long"):
        sealer.open(sealed, now=1000.0 + 601)
    with pytest.raises(Exception, match="not started in this browser"):
        sealer.open(None)


def test_claims_map_to_an_account(base_settings: Settings) -> None:
    oidc = base_settings.oidc.model_copy(update={"issuer": ISSUER})
    identity = identity_of({"sub": "abc", "email": "x@example.org", "name": "X", "groups": "hr, sales /a/b",
                            "roles": ["admin", "root"]}, oidc)
    assert identity.subject == f"{ISSUER}|abc" and identity.username == "x@example.org"
    assert identity.groups == ["hr", "sales"]  # "/a/b" cannot be a group name: left out
    assert identity.roles == ["admin"]
    odd = identity_of({"sub": "has space", "preferred_username": "Anna de Vries"}, oidc)
    assert odd.username.startswith("sso-") and odd.display_name == odd.username and odd.roles == ["employee"]
    no_roles_claim = identity_of({"sub": "s", "roles": ["admin"]}, oidc.model_copy(update={"roles_claim": None}))
    assert no_roles_claim.roles == ["employee"]
