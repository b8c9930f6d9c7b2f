"""A campaign process killed with SIGKILL mid-campaign loses no message, and on PostgreSQL another
process takes over the scheduler's job (the leader's advisory lock).

The first process leads, schedules the campaign's invitations in batches and delivers them
through its outbox (one send at a time) to a sender that writes each message to a file. At its
``STALL``-th message the sender hangs after the message was handed over (as an SMTP server that
accepted the message before the process could record it); the test kills the process there.
Then a second scheduler (on PostgreSQL: a follower that takes over the leadership and its
campaigns job) and a second outbox, an hour later on the fake clock (past the dead process's
lease), finish the campaign. Every candidate gets the invitation at least once, and the only
duplicate is the message that was in flight.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import select

from bot.campaigns.schemas import CandidateIn
from bot.campaigns.service import CampaignService
from bot.leader import Leader
from bot.outbox import Outbox, OutboxItem
from bot.settings import ROOT, OutboxSettings
from bot.store.db import Database
from bot.store.models import OutboxRow
from tests.campaigns.conftest import FakeClock, MakeService, spec

pytestmark = pytest.mark.every_database  # locks, claims and SQL the two dialects read differently

COUNT = 120
STALL = 40
EXTRA = 10

PROCESS = """
import asyncio, os, sys
from datetime import datetime
from bot.campaigns.templates import Templates
from bot.campaigns.service import CampaignService
from bot.leader import Leader
from bot.outbox import Outbox
from bot.settings import ROOT, CampaignSettings, OutboxSettings
from bot.store.db import Database

url, log_path, stall, now = sys.argv[1], sys.argv[2], int(sys.argv[3]), datetime.fromisoformat(sys.argv[4])
clock = lambda: now

async def main():
    db = Database(url)
    service = CampaignService(
        db,
        CampaignSettings(public_url="https://jobs.example.com", batch_size=25, tick_seconds=0.05),
        id_key=b"campaign-tests-id-key-0123456789",
        templates=Templates.load(ROOT / "dialogues" / "templates"),
        roles=lambda: {"rd_engineer": {"en": "R&D Engineer", "zh": "研发工程师"}},
        clock=clock,
        channels=lambda: ("email",),
    )
    outbox = Outbox(db, OutboxSettings(batch_size=10, concurrency=1, poll_seconds=0.05), clock=clock)
    sent = 0
    log = open(log_path, "a")

    async def send(item):
        nonlocal sent
        log.write(f"{item.recipient} {item.kind}\\n")
        log.flush()
        os.fsync(log.fileno())
        sent += 1
        if sent == stall:  # handed over; the process dies before recording it
            print("stalled", flush=True)
            await asyncio.Event().wait()

    outbox.register("email", send)
    leader = Leader(url, poll_seconds=0.05)
    leader.job("campaigns", service.run)
    leader.start()
    await leader.wait_elected()
    outbox.start()
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_a_killed_campaign_process_loses_no_message_and_another_takes_over(
    db: Database, make_service: MakeService, clock: FakeClock, tmp_path: Path, contact_key: str
) -> None:
    service = make_service(db, channels=("email",))
    campaign = await service.create(spec(window_start="00:00", window_end="00:00"))
    report = await service.add(
        campaign.id or 0,
        [CandidateIn(external_id=f"E{n}", email=f"c{n}@example.com") for n in range(COUNT)],
    )
    assert report.added == COUNT
    members = {f"contact:{c.id}" for c in report.candidates}
    log_path = tmp_path / "sent.log"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PROCESS,
        db.url,
        str(log_path),
        str(STALL),
        clock.now.isoformat(),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 120)
        assert line.strip() == b"stalled"
        process.send_signal(signal.SIGKILL)  # no goodbye: no row is put back, no lock released
        await asyncio.wait_for(process.wait(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    before = log_path.read_text().splitlines()
    assert len(before) == STALL
    in_flight = before[-1].split()[0]
    async with db.read() as session:
        rows = (await session.exec(select(OutboxRow))).all()
    sending = {r.recipient for r in rows if r.state == "sending"}
    assert in_flight in sending  # handed over, not recorded as sent

    # The restart, an hour later (past the dead process's lease on its claimed rows). Candidates
    # added meanwhile are invited only if the new leader's campaigns job runs.
    clock.advance(hours=1)
    late = await service.add(
        campaign.id or 0, [CandidateIn(external_id=f"L{n}", email=f"l{n}@example.com") for n in range(EXTRA)]
    )
    members |= {f"contact:{c.id}" for c in late.candidates}
    sender_log = log_path.open("a")

    async def send(item: OutboxItem) -> None:
        sender_log.write(f"{item.recipient} {item.kind}\n")
        sender_log.flush()

    restarted: CampaignService = make_service(db, channels=("email",))
    follower: Leader | None = None
    if db.is_sqlite:
        await restarted.run_due()  # one process: it is the leader
    else:
        follower = Leader(db.url, poll_seconds=0.05)
        follower.job("campaigns", restarted.run)
        follower.start()
        await asyncio.wait_for(follower.wait_elected(), 20)
    outbox = Outbox(db, OutboxSettings(batch_size=50, concurrency=4), clock=clock)
    outbox.register("email", send)
    try:
        for _ in range(2000):
            await outbox.deliver_due()
            async with db.read() as session:
                states = Counter(r.state for r in (await session.exec(select(OutboxRow))).all())
            if states == {"sent": COUNT + EXTRA}:
                break
            await asyncio.sleep(0.01)  # the follower's campaigns job queues the rest meanwhile
        else:
            raise AssertionError(f"the campaign did not finish: {states}")
    finally:
        if follower is not None:
            await follower.stop()
        sender_log.close()
    sent = Counter(line.split()[0] for line in log_path.read_text().splitlines())
    assert set(sent) == members  # nobody lost
    assert {recipient for recipient, times in sent.items() if times > 1} == {in_flight}
    assert sent[in_flight] == 2
