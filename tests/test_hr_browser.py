"""HR's workspace in Debian's chromium: first sign-in with a one-time password, a flow with an
error shown inline, a completed interview's report with its evidence, a decision. Screenshots go
to var/artifacts/."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from bot.hr.accounts import create_user
from bot.store.db import Database
from tests.channels.test_web import ARTIFACTS, browser, live_server  # noqa: F401 (fixtures)
from tests.helpers import FLOWS, sample_flow, strong_answers

ONE_TIME = "one-time-password-for-the-browser"
CHOSEN = "a password HR chose themselves"


def in_thread(work: Any) -> None:
    """Run a coroutine to completion in its own thread (playwright's sync API holds this loop)."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(work())
        except BaseException as exc:
            failures.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=120)
    assert not failures, failures


def add_recruiter(database_url: str, email: str, password: str) -> None:
    """A recruiter who has already chosen ``password`` (no one-time password to change)."""

    async def add() -> None:
        db = Database(database_url)
        try:
            async with db.write() as session:
                user = await create_user(session, email, "recruiter", password)
                user.must_change_password = False
                session.add(user)
        finally:
            await db.dispose()

    in_thread(add)


@pytest.mark.slow
def test_hr_signs_in_checks_a_flow_reads_a_report_and_decides(
    browser: Any,  # noqa: F811
    live_server: tuple[str, str],  # noqa: F811
) -> None:
    base, database_url = live_server
    base = base.replace("127.0.0.1", "localhost")  # the Secure cookie over plain http, as `make run`

    async def add_admin() -> None:
        db = Database(database_url)
        try:
            async with db.write() as session:
                await create_user(session, "lee@example.com", "admin", ONE_TIME)
        finally:
            await db.dispose()

    in_thread(add_admin)
    flow = sample_flow("sales_manager")
    with httpx.Client(base_url=base, timeout=120) as chat:
        for text in ["/interview sales_manager", "/yes", *strong_answers(flow, "en")]:
            assert (
                chat.post(
                    "/webhooks/rest/webhook", json={"sender": "hr-browser", "message": text}
                ).status_code
                == 200
            )

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-GB")
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        page.goto(f"{base}/hr/")
        assert "/hr/login" in page.url
        page.get_by_label("E-mail").fill("lee@example.com")
        page.get_by_label("Password").fill(ONE_TIME)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/hr/password")
        page.get_by_label("Current password").fill(ONE_TIME)
        page.get_by_label("New password (at least 12 characters)").fill(CHOSEN)
        page.get_by_label("New password again").fill(CHOSEN)
        page.get_by_role("button", name="Change password").click()
        page.wait_for_url("**/hr/")
        cookie = next(c for c in context.cookies() if c["name"] == "hr_session")
        assert cookie["httpOnly"] and cookie["secure"]

        page.goto(f"{base}/hr/flows/sales_manager")
        broken = (FLOWS / "sales_manager.yml").read_text(encoding="utf-8").replace("weight: ", "weight: 7", 1)
        page.get_by_label("Edit the YAML").fill(broken)
        page.get_by_role("button", name="Check").click()
        alert = page.locator(".error[role=alert]")
        assert "problem" in alert.inner_text() and "line" in alert.inner_text()
        assert page.locator("tr.bad").count() >= 1
        page.screenshot(path=ARTIFACTS / "hr_flow_problem.png", full_page=False)

        page.goto(f"{base}/hr/roles/sales_manager")
        page.locator("tbody th a").first.click()
        page.wait_for_url("**/hr/interviews/*")
        assert flow.questions[0].reference_answers[0]["en"][:40] in page.content()
        page.get_by_label("Advance to the next round").check()
        page.get_by_label("Note (kept in the audit log and sent to the HR system)").fill("Strong examples")
        page.get_by_role("button", name="Record decision").click()
        page.wait_for_url("**#decision")
        assert page.locator(".decisions .badge.advance").count() == 1
        page.screenshot(path=ARTIFACTS / "hr_report.png", full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{base}/hr/roles/sales_manager")
        page.screenshot(path=ARTIFACTS / "hr_candidates_phone.png")
    finally:
        context.close()


@pytest.mark.slow
def test_hr_reads_the_workspace_in_chinese_in_their_time_zone(
    browser: Any,  # noqa: F811
    live_server: tuple[str, str],  # noqa: F811
) -> None:
    base, database_url = live_server
    base = base.replace("127.0.0.1", "localhost")

    add_recruiter(database_url, "wang@example.com", CHOSEN)
    flow = sample_flow("sales_manager")
    with httpx.Client(base_url=base, timeout=120) as chat:
        for text in ["/interview sales_manager", "/yes", *strong_answers(flow, "en")]:
            sent = chat.post("/webhooks/rest/webhook", json={"sender": "hr-browser-zh", "message": text})
            assert sent.status_code == 200

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # the browser asks for English: the user's own choice wins once made
    context = browser.new_context(viewport={"width": 1100, "height": 800}, locale="en-GB")
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        page.goto(f"{base}/hr/login")
        assert page.locator("html").get_attribute("lang") == "en"
        page.get_by_label("E-mail").fill("wang@example.com")
        page.get_by_label("Password").fill(CHOSEN)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/hr/")
        page.get_by_role("link", name="Settings").click()
        page.get_by_label("Language").select_option("zh")
        page.get_by_label("Time zone (dates are shown in it)").select_option("Asia/Shanghai")
        page.get_by_role("button", name="Save").click()
        page.get_by_text("已保存。").wait_for()
        assert page.locator("html").get_attribute("lang") == "zh-CN"

        page.get_by_role("link", name="职位").first.click()
        page.get_by_role("heading", name="职位").wait_for()
        for _ in range(60):  # the answers are scored in the background: wait for the overall score
            page.goto(f"{base}/hr/roles/sales_manager?sort=score")
            if page.locator("tbody tr td.num").first.inner_text().strip() not in {"–", ""}:
                break
            page.wait_for_timeout(1000)
        page.get_by_role("columnheader", name="候选人").wait_for()
        assert page.get_by_label("状态").count() == 1 and page.get_by_label("开始日期自").count() == 1
        started = page.locator("tbody time").first.inner_text()
        assert started.endswith("CST"), started  # China Standard Time, the user's zone
        page.screenshot(path=ARTIFACTS / "hr_zh_candidates.png")

        page.locator("tbody th a").first.click()
        page.wait_for_url("**/hr/interviews/*")
        page.get_by_role("heading", name="回答与依据").wait_for()
        page.screenshot(path=ARTIFACTS / "hr_zh_report.png")
        page.keyboard.press("Tab")  # the skip link is the first stop, and it shows when focused
        assert page.evaluate("document.activeElement.textContent") == "跳到正文"
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{base}/hr/roles/sales_manager")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width  # the table stacks into cards: nothing scrolls sideways
        page.screenshot(path=ARTIFACTS / "hr_zh_candidates_phone.png")
    finally:
        context.close()
