"""The next round below the API: slots, invitations under a fake clock and quiet hours, picks that
never overbook (concurrent, several connections on PostgreSQL), the calendar file, reschedule,
cancel and the cut-off, the reminder, erasure."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from sqlmodel import col, select

from bot.campaigns.schedule import RoundFacts, Window, plan_round
from bot.campaigns.schemas import CandidateIn
from bot.campaigns.service import CampaignService
from bot.campaigns.slots import SlotCreate, SlotError
from bot.store import repo
from bot.store.db import Database
from bot.store.models import (
    CampaignCandidate,
    Candidate,
    FlowVersion,
    Interview,
    InterviewSlot,
    OutboxRow,
    SlotInvitation,
)
from tests.campaigns.conftest import FakeClock, MakeService, spec

pytestmark = pytest.mark.every_database  # locks, claims and SQL the two dialects read differently

SHANGHAI = "Asia/Shanghai"


@pytest.fixture
async def flow_id(db: Database) -> int:
    async with db.write() as session:
        flow = FlowVersion(role="rd_engineer", version=1, digest="0" * 64, source="role: rd_engineer\n")
        session.add(flow)
        await session.flush()
        return flow.id or 0


async def interview(
    db: Database, flow_id: int, invitation_id: int | None = None, language: str = "en"
) -> int:
    """A completed real interview (as HR would advance it)."""
    async with db.write() as session:
        candidate = Candidate(language=language)
        session.add(candidate)
        await session.flush()
        row = Interview(
            candidate_id=candidate.id or 0,
            flow_version_id=flow_id,
            role="rd_engineer",
            state="done",
            language=language,
            invitation_id=invitation_id,
        )
        session.add(row)
        await session.flush()
        return row.id or 0


async def campaign_interview(service: CampaignService, db: Database, flow_id: int, email: str) -> int:
    campaign = await service.create(spec(name=f"c-{email}"))
    report = await service.add(
        campaign.id or 0, [CandidateIn(external_id=email, email=email, time_zone=SHANGHAI)]
    )
    async with db.read() as session:
        member = await session.get(CampaignCandidate, report.candidates[0].id)
    assert member is not None
    return await interview(db, flow_id, member.invitation_id)


async def slot_rows(db: Database) -> list[OutboxRow]:
    async with db.read() as session:
        found = await session.exec(
            select(OutboxRow).where(col(OutboxRow.kind).startswith("slot_")).order_by(col(OutboxRow.id))
        )
        return list(found.all())


async def fresh(db: Database, model: type, row_id: int) -> object:
    async with db.read() as session:
        return await session.get(model, row_id)


def slot_at(day: int, hour: int, **fields: object) -> SlotCreate:
    """A slot on 2027-01-<day> at <hour>:00 Shanghai time."""
    starts = datetime(2027, 1, day, hour, tzinfo=UTC) - timedelta(hours=8)
    return SlotCreate.model_validate(
        {"role": "rd_engineer", "starts_at": starts, "time_zone": SHANGHAI, "location": "Room 201"} | fields
    )


def test_the_round_plan_waits_for_a_slot_the_window_and_the_reminder_time() -> None:
    window = Window(8 * 60, 21 * 60)
    morning = datetime(2027, 1, 5, 2, tzinfo=UTC)  # 10:00 in Shanghai
    invited = RoundFacts(SHANGHAI, "invited", None, True, None, 0, None)
    assert plan_round(invited, morning, window, 24) == "invitation"
    assert plan_round(invited, morning + timedelta(hours=13), window, 24) is None  # 23:00 there
    assert (
        plan_round(RoundFacts(SHANGHAI, "invited", None, False, None, 0, None), morning, window, 24) is None
    )
    slot = morning + timedelta(days=2)
    booked = RoundFacts(SHANGHAI, "booked", morning, True, slot, 1, None)
    assert plan_round(booked, slot - timedelta(hours=25), window, 24) is None
    assert plan_round(booked, slot - timedelta(hours=24), window, 24) == "reminder"
    assert (
        plan_round(
            RoundFacts(SHANGHAI, "booked", morning, True, slot, 1, 1), slot - timedelta(hours=2), window, 24
        )
        is None
    )
    # moved to a slot at 07:00 local: its reminder is due at 07:00 the day before, in quiet hours;
    # it goes when the window opens, and never after the slot has started
    early = datetime(2027, 1, 7, 23, tzinfo=UTC)  # 07:00 on the 8th in Shanghai
    moved = RoundFacts(SHANGHAI, "booked", morning, True, early, 2, 1)
    assert plan_round(moved, early - timedelta(hours=24), window, 24) is None
    assert plan_round(moved, early - timedelta(hours=23), window, 24) == "reminder"
    assert plan_round(moved, early + timedelta(hours=1), window, 24) is None


async def test_concurrent_picks_never_overbook(
    db: Database, service: CampaignService, make_service: MakeService, flow_id: int
) -> None:
    slot = await service.rounds.create_slot(slot_at(12, 10, capacity=3))
    invitations = [await service.rounds.invite(await interview(db, flow_id)) for _ in range(12)]
    # On PostgreSQL, four connection pools pick at once (as four processes would); SQLite has one writer.
    extra = [] if db.is_sqlite else [Database(db.url) for _ in range(3)]
    try:
        services = [service, *(make_service(d) for d in extra)]
        picks = await asyncio.gather(
            *(
                services[n % len(services)].rounds.pick(i or 0, slot.id or 0)
                for n, i in enumerate(invitations)
            )
        )
        assert Counter(p.outcome for p in picks) == {"booked": 3, "full": 9}
        stored = await fresh(db, InterviewSlot, slot.id or 0)
        assert isinstance(stored, InterviewSlot) and stored.booked == 3
        async with db.read() as session:
            booked = (
                await session.exec(select(SlotInvitation).where(SlotInvitation.state == "booked"))
            ).all()
        assert len(booked) == 3 and {b.slot_id for b in booked} == {slot.id}
        # one candidate picking two slots at once ends up with one booking
        other = await service.rounds.create_slot(slot_at(13, 10, capacity=5))
        third = await service.rounds.create_slot(slot_at(14, 10, capacity=5))
        waiting = next(i for i, p in zip(invitations, picks, strict=True) if p.outcome == "full")
        both = await asyncio.gather(
            services[0].rounds.pick(waiting or 0, other.id or 0),
            services[-1].rounds.pick(waiting or 0, third.id or 0),
        )
        assert sorted(p.outcome for p in both) == ["booked", "rescheduled"]
        counts = [await fresh(db, InterviewSlot, s.id or 0) for s in (other, third)]
        assert sum(s.booked for s in counts if isinstance(s, InterviewSlot)) == 1
    finally:
        for database in extra:
            await database.dispose()


async def test_an_advanced_candidate_books_by_email_with_a_calendar_moves_cancels_and_is_reminded(
    db: Database, service: CampaignService, clock: FakeClock, flow_id: int
) -> None:
    rounds = service.rounds
    interview_id = await campaign_interview(service, db, flow_id, "li@example.com")
    invitation_id = await rounds.invite(interview_id)
    assert invitation_id is not None and await rounds.invite(interview_id) == invitation_id  # once
    assert await rounds.run_due() == {}  # no slot yet: nothing to offer
    with pytest.raises(SlotError) as past:
        await rounds.create_slot(slot_at(1, 10))
    assert past.value.status == 422
    first = await rounds.create_slot(slot_at(8, 10))
    second = await rounds.create_slot(slot_at(9, 15))
    clock.now = datetime(2027, 1, 4, 15, tzinfo=UTC)  # 23:00 in Shanghai: quiet hours
    assert await rounds.run_due() == {}
    clock.advance(hours=11)  # 10:00 there
    assert await rounds.run_due() == {"invitation": 1}
    assert await rounds.run_due() == {}
    (invitation,) = await slot_rows(db)
    assert (invitation.channel, invitation.recipient) == ("email", f"contact:{1}")
    assert "Fri 2027-01-08 10:00 (Asia/Shanghai)" in invitation.payload["text"]
    assert "Sat 2027-01-09 15:00 (Asia/Shanghai)" in invitation.payload["text"]
    token = rounds.token(invitation_id)
    assert f"/slots/{token}" in invitation.payload["text"]
    assert rounds.invitation_of(token) == invitation_id and rounds.invitation_of(token[:-1] + "x") is None

    booked = await rounds.pick(invitation_id, first.id or 0)
    assert (booked.outcome, booked.slot) == ("booked", "Fri 2027-01-08 10:00 (Asia/Shanghai)")
    moved = await rounds.pick(invitation_id, second.id or 0)
    assert moved.outcome == "rescheduled"
    cancelled = await rounds.cancel(invitation_id)
    assert cancelled.outcome == "cancelled"
    again = await rounds.pick(invitation_id, second.id or 0)
    assert again.outcome == "booked"
    confirmations = [r for r in await slot_rows(db) if r.kind == "slot_confirmation"]
    assert [r.channel for r in confirmations] == ["email"] * 4
    calendars = [icalendar.Calendar.from_ical(r.payload["ics"]) for r in confirmations]
    assert [str(c["method"]) for c in calendars] == ["REQUEST", "REQUEST", "CANCEL", "REQUEST"]
    events = [c.walk("VEVENT")[0] for c in calendars]
    assert len({str(e["uid"]) for e in events}) == 1  # one entry, moved and cancelled in place
    assert [int(e["sequence"]) for e in events] == [1, 2, 3, 4]
    assert events[0].decoded("dtstart") == first.starts_at
    assert events[1].decoded("dtend") == second.starts_at + timedelta(minutes=60)
    assert str(events[1]["location"]) == "Room 201"
    assert "Cancelled" in confirmations[2].payload["subject"]
    for slot, places in ((first, 0), (second, 1)):
        stored = await fresh(db, InterviewSlot, slot.id or 0)
        assert isinstance(stored, InterviewSlot) and stored.booked == places

    # the second slot had one place: another candidate finds it full
    other = await rounds.invite(await interview(db, flow_id))
    assert (await rounds.pick(other or 0, second.id or 0)).outcome == "full"
    assert (await rounds.pick(other or 0, 999)).outcome == "unknown"

    # the reminder: 24 h before, once; then the cut-off holds
    clock.now = second.starts_at - timedelta(hours=25)
    assert (await rounds.run_due()).get("reminder") is None
    clock.now = second.starts_at - timedelta(hours=24)
    assert await rounds.run_due() == {"reminder": 1}
    assert await rounds.run_due() == {}
    (reminder,) = [r for r in await slot_rows(db) if r.kind == "slot_reminder"]
    assert "Sat 2027-01-09 15:00" in reminder.payload["text"] and reminder.expires_at == second.starts_at
    assert (await rounds.cancel(invitation_id)).outcome == "too_late"
    third = await rounds.create_slot(slot_at(20, 10))
    assert (await rounds.pick(invitation_id, third.id or 0)).outcome == "too_late"
    assert (await rounds.pick(other or 0, third.id or 0)).outcome == "booked"
    with pytest.raises(SlotError) as taken:
        await rounds.delete_slot(third.id or 0)
    assert taken.value.status == 409

    # erasure frees the place and removes the invitation and its messages
    async with db.write() as session:
        row = await session.get(SlotInvitation, other or 0)
        assert row is not None
        await repo.erase_candidate(session, row.candidate_id, keep_message_id=None)
    stored = await fresh(db, InterviewSlot, third.id or 0)
    assert isinstance(stored, InterviewSlot) and stored.booked == 0
    assert await fresh(db, SlotInvitation, other or 0) is None
    await rounds.delete_slot(third.id or 0)


@pytest.fixture
async def no_email_service(
    db: Database, make_service: MakeService, contact_key: str
) -> AsyncIterator[CampaignService]:
    yield make_service(db, channels=("sms",))


async def test_a_candidate_no_channel_reaches_waits_and_is_counted(
    db: Database, no_email_service: CampaignService, clock: FakeClock, flow_id: int
) -> None:
    rounds = no_email_service.rounds
    interview_id = await campaign_interview(no_email_service, db, flow_id, "wang@example.com")
    invitation_id = await rounds.invite(interview_id)
    await rounds.create_slot(slot_at(12, 10))
    assert await rounds.run_due() == {"unreachable": 1}
    assert await slot_rows(db) == []
    # a booking made on the page is confirmed nowhere (no email, no chat), but it holds
    slot = (await rounds.slots())[0]
    assert (await rounds.pick(invitation_id or 0, slot.id or 0)).outcome == "booked"
    assert await slot_rows(db) == []
    assert "BEGIN:VCALENDAR" in (await rounds.calendar_of(invitation_id or 0) or "")


async def test_two_candidates_swapping_slots_at_once_both_move(
    db: Database, service: CampaignService, make_service: MakeService, flow_id: int
) -> None:
    first = await service.rounds.create_slot(slot_at(12, 10, capacity=2))
    second = await service.rounds.create_slot(slot_at(12, 14, capacity=2))
    one = await service.rounds.invite(await interview(db, flow_id)) or 0
    two = await service.rounds.invite(await interview(db, flow_id)) or 0
    assert (await service.rounds.pick(one, first.id or 0)).outcome == "booked"
    assert (await service.rounds.pick(two, second.id or 0)).outcome == "booked"
    other_db = db if db.is_sqlite else Database(db.url)
    try:
        other = make_service(other_db)
        places = [first.id or 0, second.id or 0]
        for n in range(6):  # back and forth: each move locks both slots, in id order
            moves = await asyncio.gather(
                service.rounds.pick(one, places[(n + 1) % 2]), other.rounds.pick(two, places[n % 2])
            )
            assert [m.outcome for m in moves] == ["rescheduled", "rescheduled"]
        slots = [await fresh(db, InterviewSlot, s) for s in places]
        assert [s.booked for s in slots if isinstance(s, InterviewSlot)] == [1, 1]
    finally:
        if other_db is not db:
            await other_db.dispose()
