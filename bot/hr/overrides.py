"""HR's score overrides and notes on a candidate's real interview.

An override sets a competency's level (or the ``overall`` level) by hand, with a reason. It is
kept beside the machine's score: the interview's results are never changed, the override rows
(table ``score_override``) are its history, the newest per competency the current one, and a
``level`` of None withdraws it. Each override is audited (who, when, the level before and after,
the reason) and, with a webhook configured, sent to the HR system as ``score.overridden`` in the
same transaction. Notes (table ``candidate_note``) are free text HR keep on the interview, audited
too. Both are erased with the candidate; the audit entries keep the levels and lose the words.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.catalog import FlowCatalog
from bot.hr import webhooks
from bot.hr.accounts import candidate_ref, change, record
from bot.hr.auth import Principal
from bot.hr.reports import NotFoundError
from bot.store.db import Database
from bot.store.models import CandidateNote, HrUser, Interview, ScoreOverride, utcnow

OVERALL = "overall"
MAX_REASON_CHARS = 2000
MAX_NOTE_CHARS = 4000


class OverrideError(ValueError):
    """The override names no competency of the interview's flow (a 422)."""


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OverrideCreate(_Request):
    competency: str = Field(
        min_length=1, max_length=64, description="a competency id of the interview's flow, or 'overall'"
    )
    level: float | None = Field(ge=1, le=5, description="HR's level, 1..5; null withdraws the override")
    reason: str = Field(min_length=3, max_length=MAX_REASON_CHARS, description="why (audited, required)")


class OverridePublic(BaseModel):
    id: int
    interview_id: int
    competency: str
    machine_level: float | None
    """The machine's level when HR overrode it."""
    previous_level: float | None
    """The level that counted before this override (an earlier override's, else the machine's)."""
    level: float | None
    """HR's level; None: the override was withdrawn."""
    reason: str
    overridden_by: str | None
    created_at: datetime


class ScoreView(BaseModel):
    competency: str
    machine_level: float | None
    override_level: float | None
    overridden: bool
    level: float | None
    """What counts: HR's level when overridden, else the machine's."""


class InterviewScores(BaseModel):
    interview_id: int
    scores: list[ScoreView]
    """``overall`` first, then each competency of the flow."""
    history: list[OverridePublic]
    """Newest first."""


class NoteCreate(_Request):
    text: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)


class NotePublic(BaseModel):
    id: int
    interview_id: int
    text: str
    written_by: str | None
    created_at: datetime


async def _real_interview_locked(session: AsyncSession, interview_id: int) -> Interview:
    """The real interview, its row locked on PostgreSQL: overrides of one interview are serialised,
    so each one's 'before' is the one committed before it."""
    interview = (
        await session.exec(select(Interview).where(Interview.id == interview_id).with_for_update())
    ).first()
    if interview is None or interview.mode != "interview":
        raise NotFoundError(f"no interview {interview_id}")
    return interview


def machine_levels(interview: Interview) -> dict[str, float | None]:
    results = interview.results or {}
    levels: dict[str, float | None] = {OVERALL: results.get("overall")}
    for cid, scored in (results.get("competencies") or {}).items():
        levels[cid] = scored.get("level")
    return levels


async def _history(session: AsyncSession, interview_id: int) -> list[OverridePublic]:
    rows = (
        await session.exec(
            select(ScoreOverride, HrUser.email)
            .outerjoin(HrUser, col(HrUser.id) == col(ScoreOverride.user_id))
            .where(ScoreOverride.interview_id == interview_id)
            .order_by(col(ScoreOverride.id))
        )
    ).all()
    current: dict[str, float | None] = {}
    found = []
    for row, email in rows:
        previous = current.get(row.competency, row.machine_level)
        current[row.competency] = row.level if row.level is not None else row.machine_level
        found.append(
            OverridePublic(
                id=row.id or 0,
                interview_id=row.interview_id,
                competency=row.competency,
                machine_level=row.machine_level,
                previous_level=previous,
                level=row.level,
                reason=row.reason,
                overridden_by=email or (None if row.user_id else "legacy-token"),
                created_at=row.created_at,
            )
        )
    return found[::-1]


async def current_overrides(session: AsyncSession, interview_ids: list[int]) -> dict[int, dict[str, float]]:
    """The overrides in force: ``{interview_id: {competency: level}}`` (withdrawn ones left out)."""
    if not interview_ids:
        return {}
    rows = (
        await session.exec(
            select(ScoreOverride)
            .where(col(ScoreOverride.interview_id).in_(interview_ids))
            .order_by(col(ScoreOverride.id))
        )
    ).all()
    newest: dict[int, dict[str, float | None]] = {}
    for row in rows:
        newest.setdefault(row.interview_id, {})[row.competency] = row.level
    return {
        interview_id: {cid: level for cid, level in levels.items() if level is not None}
        for interview_id, levels in newest.items()
    }


async def interview_scores(session: AsyncSession, catalog: FlowCatalog, interview_id: int) -> InterviewScores:
    """Machine and HR levels side by side, and the override history."""
    interview = await session.get(Interview, interview_id)
    if interview is None or interview.mode != "interview":
        raise NotFoundError(f"no interview {interview_id}")
    flow = await catalog.flow(interview.flow_version_id, session)
    machine = machine_levels(interview)
    overridden = (await current_overrides(session, [interview_id])).get(interview_id, {})
    scores = []
    for cid in [OVERALL, *(c.id for c in flow.competencies)]:
        hr_level = overridden.get(cid)
        scores.append(
            ScoreView(
                competency=cid,
                machine_level=machine.get(cid),
                override_level=hr_level,
                overridden=hr_level is not None,
                level=hr_level if hr_level is not None else machine.get(cid),
            )
        )
    return InterviewScores(
        interview_id=interview_id, scores=scores, history=await _history(session, interview_id)
    )


async def override_score(
    db: Database,
    catalog: FlowCatalog,
    key: bytes,
    who: Principal,
    interview_id: int,
    body: OverrideCreate,
    *,
    webhook: bool,
) -> OverridePublic:
    """Record ``who``'s override: stored, audited and (``webhook``) queued for the HR system in one
    transaction. Raises `NotFoundError` (unknown or practice interview) or `OverrideError`."""
    reason = body.reason.strip()
    if len(reason) < 3:
        raise OverrideError("give a reason of at least 3 characters")
    level = round(body.level, 2) if body.level is not None else None
    async with db.write() as session:
        interview = await _real_interview_locked(session, interview_id)
        flow = await catalog.flow(interview.flow_version_id, session)
        known = {OVERALL, *(c.id for c in flow.competencies)}
        if body.competency not in known:
            choices = ", ".join(sorted(known))
            raise OverrideError(
                f"no competency {body.competency!r} in this interview's flow: one of {choices}"
            )
        machine = machine_levels(interview).get(body.competency)
        latest = (
            await session.exec(
                select(ScoreOverride)
                .where(
                    ScoreOverride.interview_id == interview_id, ScoreOverride.competency == body.competency
                )
                .order_by(col(ScoreOverride.id).desc())
                .limit(1)
            )
        ).first()
        previous = latest.level if latest is not None and latest.level is not None else machine
        if level is None and (latest is None or latest.level is None):
            raise OverrideError(f"{body.competency} is not overridden: nothing to withdraw")
        now = utcnow()
        row = ScoreOverride(
            interview_id=interview_id,
            candidate_id=interview.candidate_id,
            competency=body.competency,
            machine_level=machine,
            level=level,
            reason=reason,
            user_id=who.user_id,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        assert row.id is not None
        ref = candidate_ref(key, interview.candidate_id)
        record(
            session,
            who.actor,
            "score.overridden" if level is not None else "score.override_withdrawn",
            target=f"interview:{interview_id}",
            candidate=(interview.candidate_id, ref),
            changes={
                "competency": body.competency,
                "machine_level": machine,
                "level": change(previous, level if level is not None else machine),
                "reason": change(None, reason),
            },
        )
        if webhook:
            data: dict[str, Any] = {
                "override_id": row.id,
                "interview_id": interview_id,
                "candidate_ref": ref,
                "role": interview.role,
                "competency": body.competency,
                "machine_level": machine,
                "previous_level": previous,
                "level": level,
                "withdrawn": level is None,
                "reason": reason,
                "overridden_by": who.name,
                "overridden_at": now.isoformat(),
            }
            await webhooks.queue_event(
                session,
                event=webhooks.SCORE_OVERRIDDEN,
                key=f"override:{row.id}",
                data=data,
                candidate_id=interview.candidate_id,
            )
    return OverridePublic(
        id=row.id,
        interview_id=interview_id,
        competency=body.competency,
        machine_level=machine,
        previous_level=previous,
        level=level,
        reason=reason,
        overridden_by=who.name,
        created_at=now,
    )


async def notes_of(session: AsyncSession, interview_id: int) -> list[NotePublic]:
    rows = (
        await session.exec(
            select(CandidateNote, HrUser.email)
            .outerjoin(HrUser, col(HrUser.id) == col(CandidateNote.user_id))
            .where(CandidateNote.interview_id == interview_id)
            .order_by(col(CandidateNote.id).desc())
        )
    ).all()
    return [
        NotePublic(
            id=row.id or 0,
            interview_id=row.interview_id,
            text=row.text,
            written_by=email or (None if row.user_id else "legacy-token"),
            created_at=row.created_at,
        )
        for row, email in rows
    ]


async def real_notes(session: AsyncSession, interview_id: int) -> list[NotePublic]:
    interview = await session.get(Interview, interview_id)
    if interview is None or interview.mode != "interview":
        raise NotFoundError(f"no interview {interview_id}")
    return await notes_of(session, interview_id)


async def add_note(
    db: Database, key: bytes, who: Principal, interview_id: int, body: NoteCreate
) -> NotePublic:
    """Keep ``who``'s note on the interview (audited); raises `NotFoundError` or `OverrideError`."""
    text = body.text.strip()
    if not text:
        raise OverrideError("the note is empty")
    async with db.write() as session:
        interview = await session.get(Interview, interview_id)
        if interview is None or interview.mode != "interview":
            raise NotFoundError(f"no interview {interview_id}")
        row = CandidateNote(
            interview_id=interview_id,
            candidate_id=interview.candidate_id,
            text=text,
            user_id=who.user_id,
            created_at=utcnow(),
        )
        session.add(row)
        await session.flush()
        record(
            session,
            who.actor,
            "note.added",
            target=f"interview:{interview_id}",
            candidate=(interview.candidate_id, candidate_ref(key, interview.candidate_id)),
            changes={"note": change(None, text)},
        )
    return NotePublic(
        id=row.id or 0, interview_id=interview_id, text=text, written_by=who.name, created_at=row.created_at
    )
