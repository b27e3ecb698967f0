"""The administrator's flow in a real browser: add a folder source, start its ingestion job and watch the
self-polling progress block until the report. A private store (the job writes to it)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from tests.browser.conftest import USERS, check_accessibility, sign_in
from tests.fixtures import small_corpus
from tests.web.support import make_user, serve
from web.app import create_app


@pytest.fixture
def app_url(settings: Settings, store: QdrantStore, embedder: Embedder) -> Iterator[str]:
    for name, roles in USERS.items():
        make_user(settings.database_url, name, roles=roles)
    with serve(create_app(settings, store=store, embedder=embedder)) as url:
        yield url


def test_admin_starts_an_ingestion_job_and_watches_it_finish(new_page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    corpus = small_corpus(tmp_path / "docs")
    page = new_page()
    sign_in(page, "ada")
    page.get_by_role("link", name="Beheer").click()
    check_accessibility(page, "admin-overview")
    page.goto("/admin/sources")
    page.get_by_role("link", name="Map toevoegen").click()
    page.get_by_label("Id", exact=True).fill("handboek")
    page.get_by_label("Map op de server").fill(str(corpus))
    check_accessibility(page, "admin-source-form")
    page.get_by_role("button", name="Opslaan").click()
    page.wait_for_url(re.compile(r"/admin/sources/handboek$"))
    page.get_by_role("button", name="Nu starten").click()
    page.wait_for_url(re.compile(r"/admin/jobs/[0-9a-f]+$"))
    progress = page.locator("#job-progress")
    progress.and_(page.locator("[data-status='succeeded']")).wait_for(timeout=300_000)  # the fragment polls itself
    assert page.locator(".job-report").inner_text()
    check_accessibility(page, "admin-job")
    page.goto("/admin/documents")
    assert page.locator("main table").inner_text().count("indexed") + page.locator("main table").inner_text().count(
        "geïndexeerd") >= 3
    check_accessibility(page, "admin-documents")
    for path, name in (("/admin/users", "admin-users"), ("/admin/groups", "admin-groups"),
                       ("/admin/settings", "admin-settings"), ("/admin/jobs", "admin-jobs"),
                       ("/admin/sources", "admin-sources")):
        page.goto(path)
        check_accessibility(page, name)
