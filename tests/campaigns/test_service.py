"""Campaigns end to end below the API: sealed contacts, the scheduler's rounds under a fake clock,
two schedulers at once, opt-out, purge."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import SQLModel, col, select

from bot.campaigns.contacts import ContactKeyError
from bot.campaigns.schemas import CandidateIn
from bot.campaigns.service import CampaignError, CampaignService
from bot.outbox import Outbox, OutboxItem
from bot.settings import OutboxSettings
from bot.store.db import Database
from bot.store.models import CampaignCandidate, Invitation, OptOut, OutboxRow
from tests.campaigns.conftest import FakeClock, MakeService, spec

pytestmark = pytest.mark.every_database  # locks, claims and SQL the two dialects read differently

COUNT = int(os.environ.get("CAMPAIGN_TEST_COUNT", "1000"))
ZONES = ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"]


async def database_text(db: Database) -> str:
    lines = []
    async with db.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in (await connection.execute(select(table))).all():
                lines.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(lines)


async def outbox_rows(db: Database) -> list[OutboxRow]:
    async with db.read() as session:
        return list((await session.exec(select(OutboxRow).order_by(col(OutboxRow.id)))).all())


class Recorder:
    """An outbox sender that keeps what it sent (by campaign candidate and kind)."""

    def __init__(self) -> None:
        self.sent: list[OutboxItem] = []

    async def __call__(self, item: OutboxItem) -> None:
        await asyncio.sleep(0)
        self.sent.append(item)


async def test_without_the_contact_key_nothing_is_stored_and_the_error_says_what_to_set(
    db: Database, make_service: MakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INTERVIEWER_CONTACT_KEY", raising=False)
    service = make_service(db)
    campaign = await service.create(spec())
    with pytest.raises(ContactKeyError, match="INTERVIEWER_CONTACT_KEY"):
        await service.add(campaign.id or 0, [CandidateIn(external_id="E1", email="a@example.com")])
    async with db.read() as session:
        assert (await session.exec(select(CampaignCandidate))).all() == []


async def test_candidates_are_added_with_sealed_contacts_and_hashed_ids(
    service: CampaignService, db: Database
) -> None:
    campaign = await service.create(spec())
    report = await service.add(
        campaign.id or 0,
        [
            CandidateIn(
                external_id="EHR-000917", email="Li.Wei@example.com", language="zh", time_zone="Asia/Shanghai"
            ),
            CandidateIn(external_id="EHR-000918", phone="+86 138 1234 5678"),
            CandidateIn(external_id="EHR-000919", email="not an address"),
            CandidateIn(external_id="EHR-000920", phone="+4915112345678", time_zone="Mars/Olympus"),
        ],
    )
    assert (report.added, report.known) == (2, 0)
    assert [(p.row, p.field) for p in report.problems] == [(3, "email"), (4, "time_zone")]
    assert report.candidates[0].link.startswith("https://jobs.example.com/chat?invite=")
    assert report.candidates[0].telegram_link and "t.me/acme_bot?start=" in report.candidates[0].telegram_link
    again = await service.add_csv(
        campaign.id or 0,
        "external_id,email,phone,language,time_zone\n"
        "EHR-000917,li.wei@example.com,,zh,Asia/Shanghai\n"
        "EHR-000921,,+8613900000000,xx,UTC\n"
        "EHR-000922,wang@example.com,,en,Europe/Berlin\n",
    )
    assert (again.added, again.known) == (1, 1)
    assert [(p.row, p.field) for p in again.problems] == [(3, "language")]
    text = await database_text(db)
    token = report.candidates[0].link.rsplit("=", 1)[1]
    for secret in ["li.wei@example.com", "Li.Wei", "EHR-000917", "8613812345678", "wang@example.com", token]:
        assert secret not in text
    contact = await service.contact(report.candidates[0].id)
    assert (contact.email, contact.token) == ("li.wei@example.com", token)
    with pytest.raises(CampaignError) as unknown:
        await service.create(spec(role="astronaut"))
    assert unknown.value.status == 422 and "rd_engineer" in str(unknown.value)


async def test_invitations_and_reminders_follow_the_clock_inside_each_window(
    service: CampaignService, db: Database, clock: FakeClock
) -> None:
    campaign = await service.create(spec(expires_hours=72))
    await service.add(
        campaign.id or 0,
        [
            CandidateIn(external_id="shanghai", email="s@example.com", time_zone="Asia/Shanghai"),
            CandidateIn(external_id="new-york", phone="+12125550100", time_zone="America/New_York"),
        ],
    )
    # 10:00 in Shanghai, 21:00 the evening before in New York
    first = await service.run_due()
    assert first.queued == {"invitation": 1}
    assert (await service.run_due()).queued == {}  # asked again: nothing new
    clock.advance(hours=12)  # 22:00 Shanghai, 09:00 New York
    assert (await service.run_due()).queued == {"invitation": 1}
    clock.advance(hours=12)  # 24 h after Shanghai's invitation: 10:00 there
    assert (await service.run_due()).queued == {"reminder:not_started": 1}
    clock.advance(hours=12)  # New York's turn, 09:00 there
    assert (await service.run_due()).queued == {"reminder:not_started": 1}
    rows = await outbox_rows(db)
    assert [(r.channel, r.kind) for r in rows] == [
        ("email", "invitation"),
        ("sms", "invitation"),
        ("email", "reminder"),
        ("sms", "reminder"),
    ]
    assert all(r.recipient.startswith("contact:") for r in rows)
    assert "R&D Engineer" in rows[0].payload["text"] and rows[0].payload["html"].startswith("<p>")
    assert rows[0].expires_at is not None


async def test_a_thousand_candidates_get_one_invitation_each_with_two_schedulers_at_once(
    settings: object, db: Database, make_service: MakeService, contact_key: str, clock: FakeClock
) -> None:
    # Two processes on PostgreSQL; on SQLite (one process) two schedulers in one process.
    second_db = db if db.is_sqlite else Database(db.url)
    try:
        first, second = make_service(db), make_service(second_db)
        campaign = await first.create(spec(window_start="00:00", window_end="00:00"))  # always open
        candidates = [
            CandidateIn(
                external_id=f"EHR-{n:05d}",
                email=f"c{n}@example.com" if n % 3 else None,
                phone=f"+861380000{n:04d}" if n % 3 != 1 else None,
                wechat_openid=f"oOPENID{n:05d}" if n % 7 == 0 else None,
                language="zh" if n % 2 else "en",
                time_zone=ZONES[n % len(ZONES)],
            )
            for n in range(COUNT)
        ]
        started = time.perf_counter()
        report = await first.add(campaign.id or 0, candidates)
        assert report.added == COUNT
        added = time.perf_counter()
        reports = await asyncio.gather(first.run_due(), second.run_due(), first.run_due())
        planned = time.perf_counter()
        sender = Recorder()
        outboxes = [
            Outbox(d, OutboxSettings(batch_size=200, concurrency=16), clock=clock) for d in (db, second_db)
        ]
        for outbox in outboxes:
            for channel in ("email", "sms", "wechat_contact"):
                outbox.register(channel, sender)
        while True:
            rounds = await asyncio.gather(*(outbox.deliver_due() for outbox in outboxes))
            if not any(r.claimed for r in rounds):
                break
        delivered = time.perf_counter()
    finally:
        if second_db is not db:
            await second_db.dispose()
    print(
        f"\n{COUNT} candidates: add {added - started:.2f} s, two schedulers {planned - added:.2f} s, "
        f"two outboxes deliver {delivered - planned:.2f} s"
    )
    queued = sum(r.queued.get("invitation", 0) for r in reports)
    assert queued >= COUNT  # each scheduler may queue; the keys keep one row each
    rows = await outbox_rows(db)
    assert len(rows) == COUNT and {r.state for r in rows} == {"sent"}
    per_candidate = Counter(item.recipient for item in sender.sent)
    assert len(per_candidate) == COUNT and set(per_candidate.values()) == {1}
    assert Counter(item.channel for item in sender.sent) == Counter(r.channel for r in rows)
    async with db.read() as session:
        invited = (await session.exec(select(CampaignCandidate.invited_at))).all()
    assert all(at is not None for at in invited)


async def test_the_unsubscribe_link_stops_everything_and_keeps_only_hashes(
    service: CampaignService, db: Database, clock: FakeClock
) -> None:
    campaign = await service.create(spec())
    report = await service.add(
        campaign.id or 0, [CandidateIn(external_id="E1", email="stop@example.com", time_zone="Asia/Shanghai")]
    )
    member_id = report.candidates[0].id
    assert (await service.run_due()).queued == {"invitation": 1}
    assert not await service.opt_out_link(f"{member_id}.forged")
    assert await service.opt_out_link(service.unsubscribe_token(member_id))
    clock.advance(hours=30)
    assert (await service.run_due()).queued == {}
    async with db.read() as session:
        keys = (await session.exec(select(OptOut.key))).all()
        member = await session.get(CampaignCandidate, member_id)
    assert len(keys) == 1 and member is not None and member.opted_out_at is not None
    assert "stop@example.com" not in await database_text(db)
    # the same address in another campaign is not messaged either
    other = await service.create(spec(name="Spring"))
    await service.add(
        other.id or 0, [CandidateIn(external_id="E1", email="STOP@example.com", time_zone="Asia/Shanghai")]
    )
    assert (await service.run_due()).opted_out == 1


async def test_contact_data_is_purged_after_the_campaign_ends_and_its_period(
    service: CampaignService, db: Database, clock: FakeClock
) -> None:
    campaign = await service.create(spec(keep_contacts_days=7))
    report = await service.add(
        campaign.id or 0, [CandidateIn(external_id="E1", email="p@example.com", time_zone="Asia/Shanghai")]
    )
    await service.run_due()
    await service.set_state(campaign.id or 0, "ended")
    clock.advance(days=6)
    assert await service.purge_contacts() == 0
    clock.advance(days=2)
    assert await service.purge_contacts() == 1
    contact = await service.contact(report.candidates[0].id)
    assert contact.email is None and await outbox_rows(db) == []
    async with db.read() as session:
        (invitation,) = (await session.exec(select(Invitation))).all()
    assert invitation.role == "rd_engineer"
    assert (await service.status(campaign.id or 0))["candidates"] == 1


async def test_status_counts_messages_by_state(service: CampaignService) -> None:
    campaign = await service.create(spec())
    await service.add(
        campaign.id or 0,
        [
            CandidateIn(external_id=f"E{n}", email=f"{n}@example.com", time_zone="Asia/Shanghai")
            for n in range(3)
        ],
    )
    await service.run_due()
    status = await service.status(campaign.id or 0)
    assert status["invited"] == 3 and status["messages"] == {"invitation": {"scheduled": 3}}
    assert timedelta(hours=status["campaign"]["expires_hours"]) == timedelta(days=14)


async def test_a_broken_csv_is_a_clear_error(service: CampaignService) -> None:
    campaign = await service.create(spec())
    with pytest.raises(CampaignError, match="line 1: a header with external_id"):
        await service.add_csv(campaign.id or 0, "email\na@example.com\n")
    with pytest.raises(CampaignError, match="unknown column"):
        await service.add_csv(campaign.id or 0, "external_id,salary\nE1,100\n")
    with pytest.raises(CampaignError, match="CSV line"):
        await service.add_csv(campaign.id or 0, 'external_id,email\nE1,"a@example.com\n')
