"""HR's flow tools in Debian's chromium: a weight error shown inline and in the structure, the fix
published, a draft previewed in the page, two versions side by side, the validity report.
Screenshots go to var/artifacts/."""

from __future__ import annotations

from typing import Any

import pytest

from tests.channels.test_web import ARTIFACTS, browser, live_server  # noqa: F401 (fixtures)
from tests.helpers import FLOWS, sample_flow
from tests.test_hr_browser import add_recruiter

PASSWORD = "a password for the flow tools"


@pytest.mark.slow
def test_hr_edits_previews_compares_and_reads_validity(
    browser: Any,  # noqa: F811
    live_server: tuple[str, str],  # noqa: F811
) -> None:
    base, database_url = live_server
    base = base.replace("127.0.0.1", "localhost")

    add_recruiter(database_url, "rae@example.com", PASSWORD)
    flow = sample_flow("sales_manager")
    text = (FLOWS / "sales_manager.yml").read_text(encoding="utf-8")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-GB")
    context.set_default_timeout(60_000)
    page = context.new_page()
    try:
        page.goto(f"{base}/hr/login")
        page.get_by_label("E-mail").fill("rae@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/hr/")

        # weights that do not sum to 1: refused inline, with the line
        page.goto(f"{base}/hr/flows/sales_manager")
        page.get_by_label("Edit the YAML").fill(text.replace("weight: 0.2\n", "weight: 0.3\n", 1))
        page.get_by_role("button", name="Check").click()
        assert "must sum to 1" in page.locator(".error[role=alert]").inner_text()
        # fixed and published with a new first question
        edited = text.replace(flow.questions[0].text["en"], "Tell me about a customer you surprised.", 1)
        page.get_by_label("Edit the YAML").fill(edited)
        page.get_by_role("button", name="Publish as a new version").click()
        assert "Published version 2." in page.locator(".notice").inner_text()

        page.goto(f"{base}/hr/flows/sales_manager/structure")
        assert page.locator("#weights-error").count() == 0
        page.get_by_text("Rubric levels").first.click()
        page.screenshot(path=ARTIFACTS / "hr_flow_structure.png", full_page=False)

        page.goto(f"{base}/hr/flows/sales_manager/versions?old=1&new=2")
        assert page.locator("table.diff :is(.diff_chg, .diff_add, .diff_sub)").count() >= 1
        page.screenshot(path=ARTIFACTS / "hr_flow_diff.png", full_page=False)

        page.goto(f"{base}/hr/flows/sales_manager/preview")
        page.get_by_role("button", name="Start a preview of the newest version").click()
        page.get_by_label("Your message (as the candidate)").fill("/yes")
        page.get_by_role("button", name="Send").click()
        assert "Tell me about a customer you surprised." in page.locator(".chat").inner_text()
        page.get_by_label("Your message (as the candidate)").fill("What is the salary range?")
        page.get_by_role("button", name="Send").click()
        assert "SGD" in page.locator(".chat").inner_text()
        page.screenshot(path=ARTIFACTS / "hr_flow_preview.png", full_page=True)

        page.goto(f"{base}/hr/roles/rd_engineer/validity")
        assert page.get_by_role("button", name="Accept the suggested weights").count() == 1
        page.screenshot(path=ARTIFACTS / "hr_validity.png", full_page=True)
    finally:
        context.close()
