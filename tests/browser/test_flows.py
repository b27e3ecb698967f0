"""The main flows of each kind of user, in a real browser, with an accessibility check of every main page."""

from __future__ import annotations

import re

from tests.browser.conftest import check_accessibility, sign_in


def test_sign_in_page_and_wrong_password(new_page) -> None:  # type: ignore[no-untyped-def]
    page = new_page()
    page.goto("/")
    assert "/login" in page.url  # the ask page needs sign-in
    check_accessibility(page, "sign-in")
    page.get_by_label("Gebruikersnaam").fill("emma")
    page.get_by_label("Wachtwoord").fill("not the password")
    page.get_by_role("button", name="Aanmelden").click()
    assert page.get_by_role("alert").inner_text().strip() == "Wrong username or password."
    sign_in(page, "emma")
    assert page.url.endswith("/")
    assert page.get_by_role("note").inner_text().startswith("Vraagbaak is een AI-assistent")


def test_employee_asks_and_opens_a_citation(new_page) -> None:  # type: ignore[no-untyped-def]
    page = new_page()
    sign_in(page, "emma")
    page.locator("#question").fill("Hoeveel vakantiedagen heb ik?")
    page.locator("#question").press("Enter")
    answer = page.locator("#answer article.answer")
    answer.wait_for()
    assert "25 vakantiedagen" in answer.inner_text()
    check_accessibility(page, "ask-answer")
    page.locator("#answer .citations details summary").first.click()
    page.locator("#answer .source-link").first.click()
    page.wait_for_url(re.compile(r"/documents/"))
    assert page.locator("mark").first.inner_text()
    check_accessibility(page, "source-viewer")
