"""HR's decision on a candidate's interview: stored, audited, queued for the HR system, announced.

One transaction stores the `Decision`, appends the audit entry and, when a webhook is configured,
queues ``decision.made`` in the outbox; after it commits, `bot.events.Hooks` tell this process's
other parts (the next round's invitation) about it.
"""

from __future__ import annotations

from sqlmodel import col, select

from bot.events import DecisionMade, Hooks
from bot.hr import webhooks
from bot.hr.accounts import candidate_ref, change, record
from bot.hr.auth import Principal
from bot.hr.reports import real_interview
from bot.hr.schemas import DecisionCreate, DecisionPublic
from bot.store.db import Database
from bot.store.models import Decision, utcnow


async def decide(
    db: Database,
    hooks: Hooks,
    key: bytes,
    who: Principal,
    interview_id: int,
    body: DecisionCreate,
    *,
    webhook: bool,
) -> DecisionPublic:
    """Record ``who``'s decision; raises `bot.hr.reports.NotFoundError` for an unknown or a practice
    interview."""
    note = body.note.strip()
    async with db.write() as session:
        interview = await real_interview(session, interview_id)
        previous = (
            await session.exec(
                select(Decision.outcome)
                .where(Decision.interview_id == interview_id)
                .order_by(col(Decision.id).desc())
                .limit(1)
            )
        ).first()
        row = Decision(
            interview_id=interview_id,
            candidate_id=interview.candidate_id,
            role=interview.role,
            outcome=body.outcome,
            note=note,
            user_id=who.user_id,
            created_at=utcnow(),
        )
        session.add(row)
        await session.flush()
        assert row.id is not None
        ref = candidate_ref(key, interview.candidate_id)
        record(
            session,
            who.actor,
            "decision.made",
            target=f"interview:{interview_id}",
            candidate=(interview.candidate_id, ref),
            changes={"outcome": change(previous, body.outcome), "note": change(None, note)},
        )
        results = interview.results or {}
        event = DecisionMade(
            decision_id=row.id,
            interview_id=interview_id,
            candidate_id=interview.candidate_id,
            candidate_ref=ref,
            role=interview.role,
            outcome=body.outcome,
            note=note,
            decided_by=who.name,
            decided_at=row.created_at,
            scores={
                "overall": results.get("overall"),
                "match": results.get("match"),
                "competencies": {
                    cid: c.get("level") for cid, c in (results.get("competencies") or {}).items()
                },
            },
        )
        if webhook:
            data = event.as_dict()
            del data["candidate_id"]  # the HR system knows the candidate by their reference
            await webhooks.queue_event(
                session,
                event=DecisionMade.name,
                key=f"decision:{row.id}",
                data=data,
                candidate_id=interview.candidate_id,
            )
    await hooks.emit(event)
    return DecisionPublic(
        id=row.id, outcome=body.outcome, note=note, decided_by=who.name, created_at=row.created_at
    )
