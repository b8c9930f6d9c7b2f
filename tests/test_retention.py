"""Practice sessions are deleted after the retention period; real interviews stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from bot.retention import purge_practice
from bot.runtime import Runtime
from bot.store.models import Answer, Interview, Message, Score
from channels.testing import FakeChannel
from tests.helpers import audit_kinds, interviews, rows, sample_flow, strong_answers

pytestmark = pytest.mark.every_database  # locks, claims and SQL the two dialects read differently


async def backdate(runtime: Runtime, mode: str, days: int) -> None:
    async with runtime.db.write() as session:
        for interview in (await session.exec(select(Interview).where(Interview.mode == mode))).all():
            interview.created_at -= timedelta(days=days)
            session.add(interview)


async def test_only_expired_practice_is_purged(runtime: Runtime) -> None:
    answer = strong_answers(sample_flow("sales_manager"), "en")[0]
    practising, applying, recent = (FakeChannel(runtime.conversations) for _ in range(3))
    for channel, command in ((practising, "/practice"), (applying, "/interview")):
        await channel.say(f"{command} sales_manager")
        await channel.say("/yes")
        await channel.say(answer)
    await backdate(runtime, "practice", 31)
    await backdate(runtime, "interview", 400)
    await recent.say("/practice rd_engineer")
    await recent.say("/yes")

    assert await purge_practice(runtime.db, timedelta(days=30)) == 1

    left = await interviews(runtime)
    assert sorted((i.mode, i.role) for i in left) == [
        ("interview", "sales_manager"),
        ("practice", "rd_engineer"),
    ]
    kept = {i.id for i in left}
    assert all(a.interview_id in kept for a in await rows(runtime, Answer))
    assert len(await rows(runtime, Score)) == 1
    assert all(m.interview_id in kept or m.interview_id is None for m in await rows(runtime, Message))
    assert "practice.purged" in await audit_kinds(runtime)
    # The candidate whose practice was purged can simply start again.
    assert "Welcome" in await practising.said("/practice sales_manager")
    assert await purge_practice(runtime.db, timedelta(days=30)) == 0


async def test_purge_removes_every_attempt_and_unlinks_applications(runtime: Runtime) -> None:
    from bot.store.models import Application

    answer = strong_answers(sample_flow("sales_manager"), "en")[0]
    practising, applying = FakeChannel(runtime.conversations), FakeChannel(runtime.conversations)
    await practising.say("/practice sales_manager")
    await practising.say("/yes")
    await practising.say(answer)
    await practising.say("/retry")
    await practising.say(answer + " We also agreed quarterly reviews with their operations director.")
    await applying.say("/interview sales_manager")
    await applying.say("/yes")
    await applying.say(answer)
    assert sorted(a.attempt for a in await rows(runtime, Answer)) == [1, 1, 2]
    async with runtime.db.write() as session:
        for interview in await interviews(runtime):
            session.add(
                Application(
                    candidate_id=interview.candidate_id, role="rd_engineer", source_interview_id=interview.id
                )
            )
    await backdate(runtime, "practice", 31)

    assert await purge_practice(runtime.db, timedelta(days=30)) == 1

    (kept,) = await interviews(runtime)
    assert kept.mode == "interview"
    assert [(a.interview_id, a.attempt) for a in await rows(runtime, Answer)] == [(kept.id, 1)]
    assert [s.evidence.get("feedback") for s in await rows(runtime, Score)] == [
        None
    ]  # feedback is practice's
    applications = await rows(runtime, Application)
    assert sorted((a.source_interview_id is None) for a in applications) == [False, True]
