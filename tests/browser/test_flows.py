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
    page.goto("/account")
    check_accessibility(page, "account")


def test_thumbs_down_then_the_gap_dashboard_then_the_audit_export(new_page, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An employee's unanswered question, rated down, reaches the learning team's dashboard and the compliance
    team's audit log and export."""
    question = "Kan ik een leaseauto van de zaak krijgen?"
    employee = new_page(width=390, height=844)  # a phone
    sign_in(employee, "emma")
    employee.locator("#question").fill(question)
    employee.get_by_role("button", name="Vraag", exact=True).click()
    answer = employee.locator("#answer article.answer")
    answer.wait_for()
    assert answer.get_attribute("data-answered") == "false"
    assert employee.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    employee.locator("#feedback-comment").fill("Dit wil ik echt weten")
    employee.locator(".thumbs-down").click()
    employee.locator(".thumbs-down[aria-pressed='true']").wait_for()
    check_accessibility(employee, "ask-refused-phone")

    learning = new_page()
    sign_in(learning, "lars")
    learning.get_by_role("link", name="Kennislacunes").click()
    learning.get_by_role("button", name="Nu opnieuw groeperen").click()
    learning.locator("#gap-status .gap-running").wait_for(state="detached", timeout=120_000)
    learning.reload()
    topic = learning.locator("article.gap-topic").filter(has_text="leaseauto")
    topic.first.wait_for()
    check_accessibility(learning, "learning-dashboard")
    topic.first.locator("h3 a").click()
    assert question in learning.locator("main").inner_text()
    check_accessibility(learning, "learning-topic")
    learning.get_by_role("link", name="Gouden set").click()
    assert question in learning.locator("main").inner_text()  # the refusal is proposed as an unanswerable item
    check_accessibility(learning, "review")

    compliance = new_page()
    sign_in(compliance, "carla")
    compliance.get_by_role("link", name="Audit").click()
    compliance.get_by_role("link", name=question).first.wait_for()
    check_accessibility(compliance, "compliance-log")
    with compliance.expect_download() as download:
        compliance.get_by_role("link", name="CSV").click()
    saved = tmp_path / "audit.csv"
    download.value.save_as(saved)
    exported = saved.read_text(encoding="utf-8")
    assert question in exported and "refused" in exported
    compliance.get_by_role("link", name=question).first.click()
    assert "Dit wil ik echt weten" in compliance.locator("main").inner_text()  # the feedback on the record
    check_accessibility(compliance, "compliance-record")
    compliance.goto("/compliance/most-cited")
    check_accessibility(compliance, "compliance-most-cited")
