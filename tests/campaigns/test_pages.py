"""The scheduler's pages in HR's workspace (signed in with a session, forms with CSRF), and the
next round end to end: HR advance a candidate, the scheduler adds slots, the candidate picks one
in the chat or on their page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from bot.app import create_app
from bot.hr.accounts import create_api_token, create_user
from bot.messages import PermanentDeliveryError
from bot.outbox import Outbox, OutboxItem
from bot.runtime import Runtime
from bot.store.models import Campaign, CampaignCandidate, Interview, InterviewSlot, OutboxRow, SlotInvitation
from tests.campaigns.conftest import FakeClock
from tests.campaigns.test_api import Recorder, TelegramCandidate, decided, rows

PASSWORD = "a-long-passphrase-42"


class Mailer:
    """An email sender that refuses one address for good (a 550), and records the rest."""

    def __init__(self) -> None:
        self.sent: list[OutboxItem] = []
        self.refuse: set[str] = set()

    async def __call__(self, item: OutboxItem) -> None:
        if item.recipient in self.refuse:
            raise PermanentDeliveryError("the mail server refused the recipient ([550])")
        self.sent.append(item)


class Browser:
    def __init__(self, http: httpx.AsyncClient, runtime: Runtime) -> None:
        self.http = http
        self.runtime = runtime
        self.csrf = ""
        self.token = ""

    async def sign_in(self, email: str) -> None:
        page = await self.http.get("/hr/login")
        self.csrf = csrf_of(page)
        response = await self.http.post(
            "/hr/login", data={"email": email, "password": PASSWORD, "csrf": self.csrf, "next": "/hr/"}
        )
        assert response.status_code == 303, response.text
        self.csrf = csrf_of(await self.http.get("/hr/tokens"))

    async def post(self, path: str, data: dict[str, object], **kwargs: object) -> httpx.Response:
        return await self.http.post(path, data={"csrf": self.csrf, **data}, **kwargs)  # type: ignore[arg-type]


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def text_of(page: httpx.Response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page.text).split())


@pytest.fixture
async def browser(runtime: Runtime, contact_key: str, clock: FakeClock) -> AsyncIterator[Browser]:
    async with runtime.db.write() as session:
        for email, role in (("scheduler@example.com", "scheduler"), ("viewer@example.com", "viewer")):
            user = await create_user(session, email, role, PASSWORD)
            user.must_change_password = False
            session.add(user)
            if role == "scheduler":
                _, token = await create_api_token(session, user, "tests")
    runtime.campaigns.clock = clock
    runtime.campaigns._cipher = None  # the key set by the fixture
    # the test runs the scheduler's rounds and the deliveries itself, under its clock
    await runtime.leader.stop()
    await runtime.outbox.stop()
    app = create_app(runtime.settings, runtime=runtime)
    # https: the session cookie is Secure, as a browser keeps it
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://test") as http:
        found = Browser(http, runtime)
        found.token = token
        yield found


CSV = (
    "external_id,email,phone,language,time_zone\n"
    "E1,li@example.com,,zh,Asia/Shanghai\n"
    "E2,refused@example.com,,en,Europe/Berlin\n"
    "E3,,+8613812345678,zh,Asia/Shanghai\n"
    "E4,not-an-address,,en,UTC\n"
)


async def test_a_scheduler_creates_fills_watches_pauses_and_edits_a_campaign_in_the_browser(
    browser: Browser, runtime: Runtime, clock: FakeClock
) -> None:
    mailer = Mailer()
    runtime.outbox.register("email", mailer)  # email is configured; SMS is not
    await browser.sign_in("viewer@example.com")
    assert (await browser.http.get("/hr/campaigns")).status_code == 403
    assert "/hr/campaigns" not in (await browser.http.get("/hr/")).text
    await browser.http.post("/hr/logout", data={"csrf": browser.csrf})
    await browser.sign_in("scheduler@example.com")
    listing = await browser.http.get("/hr/campaigns")
    assert listing.status_code == 200 and "No campaigns yet" in listing.text
    assert 'href="/hr/campaigns"' in listing.text  # the navigation

    form = {
        "name": "Campus 2027",
        "role": "rd_engineer",
        "window_start": "00:00",
        "window_end": "00:00",
        "expires_hours": "72",
        "reminder_not_started": "24",
        "reminder_before_expiry": "",
        "reminder_paused": "12",
        "channels": ["email", "sms"],
        "keep_contacts_days": "30",
    }
    files = {"csv": ("candidates.csv", CSV.encode(), "text/csv")}
    forged = await browser.http.post("/hr/campaigns", data=form, files=files)  # no CSRF token
    assert forged.status_code == 403
    bad = await browser.post("/hr/campaigns", form | {"window_start": "9am"}, files=files)
    assert bad.status_code == 422 and "window_start" in bad.text and "Campus 2027" in bad.text
    assert await rows(runtime, Campaign) == []
    created = await browser.post("/hr/campaigns", form, files=files)
    assert created.status_code == 200, created.text
    page = text_of(created)
    assert "3 candidate(s) added, 0 already in the campaign, 1 row(s) with problems" in page
    assert "5 email" in page  # the CSV line of the bad row, and its field
    (campaign,) = await rows(runtime, Campaign)
    assert campaign.reminders == [{"kind": "not_started", "hours": 24.0}, {"kind": "paused", "hours": 12.0}]
    # the phone-only candidate: SMS is not configured here, and the page says so
    assert "Unreachable candidates" in page and "+86***78" in page
    assert "phone: no SMS gateway configured (campaigns.sms.gateway_url)" in page

    members = {m.id for m in await rows(runtime, CampaignCandidate)}
    refused = sorted(members)[1]
    mailer.refuse.add(f"contact:{refused}")
    await runtime.campaigns.run_due()
    outbox = Outbox(runtime.db, runtime.settings.outbox, clock=clock)
    outbox.register("email", mailer)
    while (await outbox.deliver_due()).claimed:
        pass
    shown = await browser.http.get(f"/hr/campaigns/{campaign.id}")
    cells = re.findall(r'<td class="num">(\d+)</td>', shown.text)
    # candidates, sent, opened, started, completed, opted out, failed, unreachable
    assert cells[:8] == ["3", "1", "0", "0", "0", "0", "1", "1"]
    assert "the mail server refused the recipient" in shown.text
    listed = await browser.http.get("/hr/campaigns")
    assert "Campus 2027" in listed.text

    paused = await browser.post(f"/hr/campaigns/{campaign.id}/state", {"action": "pause"})
    assert paused.status_code == 303
    assert "paused" in (await browser.http.get(f"/hr/campaigns/{campaign.id}")).text
    assert (await browser.post(f"/hr/campaigns/{campaign.id}/state", {"action": "resume"})).status_code == 303
    assert "active" in text_of(await browser.http.get(f"/hr/campaigns/{campaign.id}"))
    assert (
        await browser.post(f"/hr/campaigns/{campaign.id}/state", {"action": "explode"})
    ).status_code == 422

    more = await browser.post(
        f"/hr/campaigns/{campaign.id}/candidates",
        {},
        files={
            "csv": ("more.csv", b"external_id,email\nE1,li@example.com\nE9,new@example.com\n", "text/csv")
        },
    )
    assert "1 candidate(s) added, 1 already in the campaign" in text_of(more)
    latin = await browser.post(
        f"/hr/campaigns/{campaign.id}/candidates",
        {},
        files={"csv": ("x.csv", "é".encode("latin-1"), "text/csv")},
    )
    assert latin.status_code == 422 and "UTF-8" in latin.text

    url = f"/hr/campaigns/{campaign.id}/templates/invitation/zh"
    default = await browser.http.get(url)
    assert default.status_code == 200 and "面试" in default.text and "the default" in default.text
    preview = await browser.post(
        url,
        {
            "action": "preview",
            "subject": "邀请",
            "text": "{{ role }}：{{ link }}",
            "html": "<p>{{ role }}</p>",
        },
    )
    assert "研发工程师：https://jobs.example.com/chat?invite=SAMPLE-TOKEN" in preview.text
    assert "not saved" in preview.text
    broken = await browser.post(url, {"action": "save", "subject": "x", "text": "{{ link ", "html": ""})
    assert broken.status_code == 422 and "template text" in broken.text
    saved = await browser.post(
        url,
        {"action": "save", "subject": "邀请", "text": "{{ role }}：{{ link }}", "html": "<p>{{ role }}</p>"},
    )
    assert "Saved." in saved.text and "edited" in saved.text
    async with runtime.db.read() as session:
        stored = await session.get(Campaign, campaign.id)
    assert stored is not None and stored.templates["invitation"]["zh"]["text"] == "{{ role }}：{{ link }}"
    reset = await browser.post(url, {"action": "reset", "subject": "", "text": "", "html": ""})
    assert "Back to the default" in reset.text
    assert (await browser.http.get(f"/hr/campaigns/{campaign.id}/templates/nudge/en")).status_code == 404
    assert (await browser.http.get("/hr/campaigns/999")).status_code == 404


async def test_the_next_round_in_the_chat_and_on_the_candidates_page(
    browser: Browser, runtime: Runtime, clock: FakeClock
) -> None:
    telegram = Recorder()
    runtime.outbox.register("telegram", telegram)
    candidate = TelegramCandidate(runtime.conversations, sender="5550011")
    await candidate.say("/interview rd_engineer")
    (interview,) = await rows(runtime, Interview)
    await runtime.hooks.emit(decided(interview, "advance"))
    await runtime.hooks.emit(decided(interview, "advance"))  # a repeated event invites once
    (invitation,) = await rows(runtime, SlotInvitation)
    api = {"Authorization": f"Bearer {browser.token}"}
    starts = (clock.now + timedelta(days=3)).isoformat()
    first = await browser.http.post(
        "/hr/api/slots", json={"role": "rd_engineer", "starts_at": starts, "capacity": 1}, headers=api
    )
    assert first.status_code == 201, first.text
    later = (clock.now + timedelta(days=4)).isoformat()
    second = await browser.http.post(
        "/hr/api/slots",
        json={"role": "rd_engineer", "starts_at": later, "capacity": 2, "location": "Room 3"},
        headers=api,
    )
    bad = await browser.http.post(
        "/hr/api/slots", json={"role": "rd_engineer", "starts_at": "2027-01-09T10:00"}, headers=api
    )
    assert bad.status_code == 422
    astronaut = await browser.http.post(
        "/hr/api/slots", json={"role": "astronaut", "starts_at": starts}, headers=api
    )
    assert astronaut.status_code == 422 and "rd_engineer" in astronaut.json()["error"]
    assert (await browser.http.get("/hr/api/slots")).status_code == 401
    assert [s["id"] for s in (await browser.http.get("/hr/api/slots", headers=api)).json()] == [
        first.json()["id"],
        second.json()["id"],
    ]

    assert await runtime.campaigns.rounds.run_due() == {}  # 02:00 UTC: the candidate's quiet hours
    clock.advance(hours=8)
    assert await runtime.campaigns.rounds.run_due() == {"invitation": 1}
    (row,) = [r for r in await rows(runtime, OutboxRow) if r.kind == "slot_invitation"]
    assert (row.channel, row.recipient) == ("telegram", "5550011")
    assert [b["payload"] for b in row.payload["buttons"]] == [
        f"/slot {first.json()['id']}",
        f"/slot {second.json()['id']}",
    ]
    booked = await candidate.said(f"/slot {first.json()['id']}")
    assert "Booked" in booked
    assert "Booked" not in await candidate.said("/slot 99999")
    assert "Cancelled" in await candidate.said("/slot cancel")
    async with runtime.db.read() as session:
        slot = await session.get(InterviewSlot, first.json()["id"])
    assert slot is not None and slot.booked == 0

    token = runtime.campaigns.rounds.token(invitation.id or 0)
    page = await browser.http.get(f"/slots/{token}")
    assert page.status_code == 200 and "Room 3" in page.text and page.headers["cache-control"] == "no-store"
    assert (await browser.http.get(f"/slots/{token}x")).status_code == 404
    assert (await browser.http.post(f"/slots/{token}", data={"slot_id": "abc"})).status_code == 422
    picked = await browser.http.post(f"/slots/{token}", data={"slot_id": str(second.json()["id"])})
    assert picked.status_code == 200 and "Booked" in picked.text and "Cancel this booking" in picked.text
    ics = await browser.http.get(f"/slots/{token}/interview.ics")
    assert ics.headers["content-type"].startswith("text/calendar") and "LOCATION:Room 3" in ics.text
    # booked on the page, without an email address: confirmed on their chat
    confirmations = [r for r in await rows(runtime, OutboxRow) if r.kind == "slot_confirmation"]
    assert [(r.channel, r.recipient) for r in confirmations] == [("telegram", "5550011")]
    slots_page = await browser.http.get("/hr/slots", headers=api)
    assert slots_page.status_code == 200 and "1 / 2" in slots_page.text
    removed = await browser.http.delete(f"/hr/api/slots/{second.json()['id']}", headers=api)
    assert removed.status_code == 409
    assert (await browser.http.delete(f"/hr/api/slots/{first.json()['id']}", headers=api)).status_code == 204
    async with runtime.db.read() as session:
        assert (await session.exec(select(SlotInvitation))).one().state == "booked"


async def test_the_scheduler_adds_and_removes_slots_on_the_page(browser: Browser, clock: FakeClock) -> None:
    await browser.sign_in("scheduler@example.com")
    day = (clock.now + timedelta(days=5)).strftime("%Y-%m-%d")
    missing = await browser.post(
        "/hr/slots", {"role": "rd_engineer", "starts_at": "", "time_zone": "Asia/Shanghai"}
    )
    assert missing.status_code == 422 and "starts_at" in missing.text
    zone = await browser.post(
        "/hr/slots", {"role": "rd_engineer", "starts_at": f"{day}T10:00", "time_zone": "Mars/Base"}
    )
    assert zone.status_code == 422 and "time zone" in zone.text
    added = await browser.post(
        "/hr/slots",
        {
            "role": "rd_engineer",
            "starts_at": f"{day}T10:00",
            "time_zone": "Asia/Shanghai",
            "capacity": "4",
            "minutes": "45",
            "location": "Room 9",
        },
    )
    assert added.status_code == 303
    page = await browser.http.get("/hr/slots")
    assert f"{day} 10:00 (Asia/Shanghai)" in page.text and "0 / 4" in page.text and "Room 9" in page.text
    slot_id = re.search(r'action="/hr/slots/(\d+)/delete"', page.text)
    assert slot_id is not None
    assert (await browser.post(f"/hr/slots/{slot_id.group(1)}/delete", {})).status_code == 303
    assert "No upcoming slots" in (await browser.http.get("/hr/slots")).text
