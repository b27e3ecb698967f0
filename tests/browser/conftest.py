"""Browser tests: the real app on loopback, driven by Debian's chromium through Playwright, every main page
checked with axe-core (from tests/node) in the same run.

Screenshots of the main pages go to `docs/screenshots/` when `VRAAGBAAK_SCREENSHOTS=1` (`make screenshots`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from tests.web.support import make_user, serve
from web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = ROOT / "tests" / "node" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "screenshots"
USERS = {"emma": ("employee",), "carla": ("employee", "compliance"), "lars": ("employee", "learning"),
         "ada": ("employee", "admin")}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    missing = [what for what, ok in (("chromium", Path(CHROMIUM).exists()), ("axe-core (make test installs it)",
                                                                            AXE.exists())) if not ok]
    if missing:
        for item in items:
            if "tests/browser" in str(item.fspath):
                item.add_marker(pytest.mark.skip(reason=f"browser tests need {', '.join(missing)}"))


@pytest.fixture(scope="module")
def browser_settings(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data = tmp_path_factory.mktemp("browser-app")
    return base_settings.model_copy(update={"data_dir": data, "embedding": base_settings.embedding.model_copy(
        update={"models_dir": base_settings.models_dir})})


@pytest.fixture(scope="module")
def app_url(browser_settings: Settings, demo_store: QdrantStore, embedder: Embedder) -> Iterator[str]:
    for name, roles in USERS.items():
        make_user(browser_settings.database_url, name, roles=roles)
    with serve(create_app(browser_settings, store=demo_store, embedder=embedder)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


class Problems:
    """Console errors and CSP violations a page produced; a test ends by checking there were none."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.expected: set[int] = {401}  # a wrong password is a 401 page

    def __call__(self, message: object) -> None:
        kind = getattr(message, "type", "")
        text = getattr(message, "text", "")
        if (kind == "error" and "Failed to load resource" not in text) or "Content Security Policy" in text:
            self.items.append(f"{kind}: {text}")


@pytest.fixture
def new_page(browser: object, app_url: str) -> Iterator[object]:
    """Make pages (one browser context each: its own cookies); console errors fail the test."""
    contexts: list[object] = []
    problems = Problems()

    def make(locale: str = "nl-NL", width: int = 1280, height: int = 900) -> object:
        context = browser.new_context(base_url=app_url, locale=locale,  # type: ignore[attr-defined]
                                      viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.on("console", problems)
        page.on("response", lambda r: problems.items.append(f"{r.status} {r.request.method} {r.url}")
                if r.status >= 400 and r.status not in problems.expected else None)
        page.set_default_timeout(30_000)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not problems.items, problems.items


def sign_in(page: object, username: str, password: str = "correct horse battery staple") -> None:
    page.goto("/login")  # type: ignore[attr-defined]
    page.get_by_label("Gebruikersnaam").fill(username)  # type: ignore[attr-defined]
    page.get_by_label("Wachtwoord").fill(password)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Aanmelden").click()  # type: ignore[attr-defined]
    page.wait_for_url(lambda url: "/login" not in url)  # type: ignore[attr-defined]


def check_accessibility(page: object, name: str) -> None:
    """axe-core on the page as it is now: no serious or critical violations. Saves a screenshot when asked."""
    page.evaluate(AXE.read_text(encoding="utf-8"))  # type: ignore[attr-defined]  # evaluate is not subject to the CSP
    violations = page.evaluate(  # type: ignore[attr-defined]
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))")
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: accessibility violations: {bad}"
    if os.environ.get("VRAAGBAAK_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]
