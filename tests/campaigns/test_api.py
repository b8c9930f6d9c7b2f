"""Campaigns through the app: the HR API, the unsubscribe page, invitations that start the
interview (once), STOP / 退订, erasure, and the next round on HR's decision."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlmodel import select

from bot.app import create_app
from bot.events import DecisionMade
from bot.hr.accounts import create_api_token, create_user
from bot.outbox import OutboxItem
from bot.runtime import Runtime
from bot.store.models import CampaignCandidate, Interview, OptOut, OutboxRow
from channels.testing import FakeChannel
from tests.campaigns.conftest import FakeClock

API = "/hr/api/campaigns"
_TOKENS: dict[str, str] = {}
"""The API token of the test's scheduler (a workspace user), set by the ``client`` fixture."""


def hr() -> dict[str, str]:
    return {"Authorization": f"Bearer {_TOKENS['scheduler']}"}


class TelegramCandidate(FakeChannel):
    name = "telegram"


class Recorder:
    def __init__(self) -> None:
        self.sent: list[OutboxItem] = []

    async def __call__(self, item: OutboxItem) -> None:
        self.sent.append(item)


@pytest.fixture
async def client(
    runtime: Runtime, contact_key: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    async with runtime.db.write() as session:
        scheduler = await create_user(session, "scheduler@example.com", "scheduler", "a-long-passphrase-42")
        scheduler.must_change_password = False
        session.add(scheduler)
        _, _TOKENS["scheduler"] = await create_api_token(session, scheduler, "tests")
    runtime.campaigns.clock = clock
    runtime.campaigns._cipher = None  # the key set by the fixture
    app = create_app(runtime.settings, runtime=runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


async def new_campaign(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "Campus 2027", "role": "rd_engineer", "window_start": "00:00", "window_end": "00:00"}
    response = await client.post(API, json=body | fields, headers=hr())
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def add(client: httpx.AsyncClient, campaign_id: int, *people: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"{API}/{campaign_id}/candidates", json=list(people), headers=hr())
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def decided(interview: Interview, outcome: str) -> DecisionMade:
    """HR's decision on ``interview``, as the workspace announces it after committing it."""
    assert interview.id is not None
    return DecisionMade(
        decision_id=1,
        interview_id=interview.id,
        candidate_id=interview.candidate_id,
        candidate_ref="c_test",
        role="rd_engineer",
        outcome=outcome,
        note="",
        decided_by="recruiter@example.com",
        decided_at=datetime.now(UTC),
        scores={},
    )


async def rows(runtime: Runtime, model: Any) -> list[Any]:
    async with runtime.db.read() as session:
        return list((await session.exec(select(model))).all())


async def test_the_hr_api_creates_fills_and_reports_a_campaign(
    runtime: Runtime, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await client.get(API)).status_code == 401
    bad = await client.post(API, json={"name": "x", "role": "astronaut"}, headers=hr())
    assert bad.status_code == 422 and "rd_engineer" in bad.json()["error"]
    window = await client.post(
        API, json={"name": "x", "role": "rd_engineer", "window_start": "9am"}, headers=hr()
    )
    assert window.status_code == 422 and window.json()["details"][0]["field"] == "window_start"
    assert (await client.get(f"{API}/999", headers=hr())).status_code == 404
    campaign = await new_campaign(client)
    report = await add(
        client,
        campaign["id"],
        {"external_id": "E1", "email": "li@example.com", "language": "zh", "time_zone": "Asia/Shanghai"},
        {"external_id": "E2", "phone": "12345"},
    )
    assert report["added"] == 1 and report["problems"][0]["field"] == "phone"
    csv = "external_id,email,time_zone\nE1,li@example.com,Asia/Shanghai\nE3,wang@example.com,Europe/Berlin\n"
    response = await client.post(
        f"{API}/{campaign['id']}/candidates.csv",
        content=csv.encode(),
        headers=hr() | {"Content-Type": "text/csv"},
    )
    assert response.status_code == 200 and (response.json()["added"], response.json()["known"]) == (1, 1)
    member = report["candidates"][0]["id"]
    qr = await client.get(f"{API}/{campaign['id']}/candidates/{member}/qr.svg", headers=hr())
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/svg+xml" and "<svg" in qr.text
    await runtime.campaigns.run_due()
    status = (await client.get(f"{API}/{campaign['id']}", headers=hr())).json()
    assert status["candidates"] == 2 and status["invited"] == 0  # no email sender: unreachable, waiting
    paused = await client.post(f"{API}/{campaign['id']}/pause", headers=hr())
    assert paused.json()["state"] == "paused"
    # without the contact key nothing is stored and the error says what to set
    monkeypatch.delenv("INTERVIEWER_CONTACT_KEY")
    runtime.campaigns._cipher = None
    missing = await client.post(
        f"{API}/{campaign['id']}/candidates", json=[{"external_id": "E9"}], headers=hr()
    )
    assert missing.status_code == 503 and "INTERVIEWER_CONTACT_KEY" in missing.json()["error"]


async def test_templates_are_edited_and_previewed_per_campaign(client: httpx.AsyncClient) -> None:
    campaign = await new_campaign(client)
    url = f"{API}/{campaign['id']}/templates/invitation/zh"
    default = (await client.get(url, headers=hr())).json()
    assert default["edited"] is False and "面试" in default["text"]
    broken = await client.put(url, json={"text": "{{ link "}, headers=hr())
    assert broken.status_code == 422 and broken.json()["error"].startswith("template text")
    unknown = await client.put(url, json={"text": "{{ salary }}"}, headers=hr())
    assert unknown.status_code == 422
    edited = await client.put(url, json={"text": "{{ role }}：请点击 {{ link }}"}, headers=hr())
    assert edited.json()["edited"] is True
    preview = (await client.post(f"{url}/preview", headers=hr())).json()
    assert preview["text"] == "研发工程师：请点击 https://jobs.example.com/chat?invite=SAMPLE-TOKEN"
    html = (
        await client.post(
            f"{API}/{campaign['id']}/templates/reminder/en/preview",
            json={"html": "<p>{{ role }}</p>"},
            headers=hr(),
        )
    ).json()
    assert html["html"] == "<p>Software R&amp;D Engineer</p>"  # escaped in HTML
    assert (await client.get(f"{API}/{campaign['id']}/templates/nudge/en", headers=hr())).status_code == 422


async def test_an_invitation_starts_the_interview_once_and_erasure_reaches_the_campaign(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    campaign = await new_campaign(client)
    report = await add(client, campaign["id"], {"external_id": "E1", "email": "li@example.com"})
    token = report["candidates"][0]["link"].rsplit("=", 1)[1]
    assert report["candidates"][0]["telegram_link"] is None  # no bot configured
    candidate = TelegramCandidate(runtime.conversations, sender="5550001")
    assert "agree" in (await candidate.said(f"/start {token}")).lower()
    (member,) = await rows(runtime, CampaignCandidate)
    (interview,) = await rows(runtime, Interview)
    assert member.candidate_id == interview.candidate_id and interview.role == "rd_engineer"
    stranger = FakeChannel(runtime.conversations)
    assert "not valid" in await stranger.said(f"/start {token}")
    assert len(await rows(runtime, Interview)) == 1
    # the candidate asks to be erased: the campaign's data about them goes too
    await candidate.say("/delete_my_data")
    await candidate.say("yes")
    assert await rows(runtime, CampaignCandidate) == []
    assert [
        r for r in await rows(runtime, OutboxRow) if r.ordering_key == f"campaign-candidate:{member.id}"
    ] == []


@pytest.mark.parametrize("stop", ["STOP", "退订"])
async def test_stop_on_a_chat_channel_ends_all_campaign_messages(
    runtime: Runtime, client: httpx.AsyncClient, clock: FakeClock, stop: str
) -> None:
    telegram = Recorder()
    runtime.outbox.register("telegram", telegram)
    campaign = await new_campaign(client, reminders=[{"kind": "paused", "hours": 24}])
    report = await add(client, campaign["id"], {"external_id": "E1", "email": "li@example.com"})
    token = report["candidates"][0]["link"].rsplit("=", 1)[1]
    candidate = TelegramCandidate(runtime.conversations, sender="5550002")
    await candidate.say(f"/start {token}")
    reply = await candidate.said(stop)
    assert "no more" in reply or "不再" in reply
    clock.advance(days=2)
    await runtime.campaigns.run_due()
    (member,) = await rows(runtime, CampaignCandidate)
    assert member.opted_out_at is not None
    assert [r.kind for r in await rows(runtime, OutboxRow) if r.kind == "reminder"] == []
    (opt_out,) = await rows(runtime, OptOut)
    assert opt_out.source == "reply" and "5550002" not in opt_out.key
    # the interview itself was not touched
    (interview,) = await rows(runtime, Interview)
    assert interview.state == "consent"


async def test_the_unsubscribe_page_asks_then_opts_out(runtime: Runtime, client: httpx.AsyncClient) -> None:
    campaign = await new_campaign(client)
    report = await add(client, campaign["id"], {"external_id": "E1", "email": "li@example.com"})
    token = runtime.campaigns.unsubscribe_token(report["candidates"][0]["id"])
    page = await client.get(f"/campaigns/unsubscribe/{token}")
    assert page.status_code == 200 and "<form" in page.text
    assert (await client.post(f"/campaigns/unsubscribe/{token}x")).status_code == 404
    assert (await client.post(f"/campaigns/unsubscribe/{token}")).status_code == 200
    (member,) = await rows(runtime, CampaignCandidate)
    assert member.opted_out_at is not None


async def test_advancing_a_candidate_sends_the_next_round_invitation_on_their_chat(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    telegram = Recorder()
    runtime.outbox.register("telegram", telegram)
    second = await new_campaign(client, name="Round 2")
    first = await new_campaign(client, next_campaign_id=second["id"], auto_next_round=True)
    report = await add(client, first["id"], {"external_id": "E1", "email": "li@example.com"})
    token = report["candidates"][0]["link"].rsplit("=", 1)[1]
    candidate = TelegramCandidate(runtime.conversations, sender="5550003")
    await candidate.say(f"/start {token}")
    (interview,) = await rows(runtime, Interview)
    await runtime.hooks.emit(decided(interview, "reject"))
    assert len(await rows(runtime, CampaignCandidate)) == 1
    for _ in range(2):  # a repeated event invites once
        await runtime.hooks.emit(decided(interview, "advance"))
    members = await rows(runtime, CampaignCandidate)
    assert [m.campaign_id for m in members] == [first["id"], second["id"]]
    assert (
        members[1].candidate_id == interview.candidate_id and members[1].source_interview_id == interview.id
    )
    await runtime.campaigns.run_due()
    invitations = [
        r
        for r in await rows(runtime, OutboxRow)
        if r.kind == "invitation" and r.payload["campaign_id"] == second["id"]
    ]
    assert len(invitations) == 1
    (row,) = invitations
    assert (row.channel, row.recipient) == ("telegram", "5550003")
    assert row.payload["buttons"][0]["payload"].startswith("/start ")
    assert row.payload["buttons"][0]["payload"] != f"/start {token}"
