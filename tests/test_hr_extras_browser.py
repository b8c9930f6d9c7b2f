"""HR's dashboard, a score override, a note and an export in Debian's chromium: plotly.js draws
the charts offline (served from /hr/assets), the override shows beside the machine's score, the
CSV downloads through the session. Screenshots go to var/artifacts/."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from tests.channels.test_web import ARTIFACTS, browser, live_server  # noqa: F401 (fixtures)
from tests.helpers import sample_flow, strong_answers
from tests.test_hr_browser import add_recruiter

PASSWORD = "a password HR chose for the dashboard"


@pytest.mark.slow
def test_hr_reads_the_dashboard_overrides_a_score_and_exports(
    browser: Any,  # noqa: F811
    live_server: tuple[str, str],  # noqa: F811
) -> None:
    base, database_url = live_server
    base = base.replace("127.0.0.1", "localhost")  # the Secure cookie over plain http, as `make run`

    add_recruiter(database_url, "kim@example.com", PASSWORD)
    flow = sample_flow("sales_manager")
    with httpx.Client(base_url=base, timeout=120) as chat:
        for sender, texts in (
            ("hr-real", ["/interview sales_manager", "/yes", *strong_answers(flow, "en")]),
            ("hr-practice", ["/practice sales_manager", "/yes"]),
        ):
            for text in texts:
                sent = chat.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
                assert sent.status_code == 200

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        viewport={"width": 1100, "height": 900}, locale="en-GB", accept_downloads=True
    )
    context.set_default_timeout(30_000)
    # offline: nothing may come from another host (plotly.js is served by the app itself)
    outside: list[str] = []
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(base)
            else (outside.append(route.request.url), route.abort())
        ),
    )
    page = context.new_page()
    try:
        page.goto(f"{base}/hr/login")
        page.get_by_label("E-mail").fill("kim@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/hr/")

        page.goto(f"{base}/hr/roles/sales_manager")
        page.locator("tbody th a").first.click()
        page.wait_for_url("**/hr/interviews/*")
        page.get_by_label("Competency").select_option("overall")
        page.get_by_label("HR's level (1–5; leave empty to withdraw an override)").fill("4.5")
        page.get_by_label("Reason (required, kept in the audit log)").fill("The panel saw stronger examples")
        page.get_by_role("button", name="Save override").click()
        page.wait_for_url("**#scores")
        assert page.locator("tr.overridden").count() == 1
        page.get_by_label("Add a note").fill("Ask about the CRM migration next round")
        page.get_by_role("button", name="Add note").click()
        page.wait_for_url("**#notes")
        assert "Ask about the CRM migration next round" in page.locator("ul.notes").inner_text()
        page.locator("#scores").scroll_into_view_if_needed()
        page.screenshot(path=ARTIFACTS / "hr_override.png", full_page=False)

        page.goto(f"{base}/hr/dashboard?role=sales_manager")
        for chart in ("funnel", "completion", "scores", "dropoff"):
            page.wait_for_selector(f"#chart-{chart}[data-drawn=true] .main-svg")
        funnel = page.locator("#table-funnel tbody").inner_text()
        assert "started\t1" in funnel and "completed\t1" in funnel  # the practice session is not counted
        page.screenshot(path=ARTIFACTS / "hr_dashboard.png", full_page=True)

        page.goto(f"{base}/hr/exports")
        page.get_by_label("Role").select_option("sales_manager")
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Download").click()
        download = download_info.value
        assert download.suggested_filename == "results_sales_manager.csv"
        path = download.path()
        assert path is not None
        (row,) = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
        assert row["overall_override"] == "4.5" and row["state"] == "done"
        assert outside == []
    finally:
        context.close()
