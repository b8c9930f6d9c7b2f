"""What the workspace shows of real interviews: candidate tables per role and a candidate's report
with the evidence behind every score. Practice sessions never appear (``mode == "interview"``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.catalog import FlowCatalog
from bot.hr.accounts import candidate_ref
from bot.hr.schemas import (
    AnswerEvidence,
    CandidatePage,
    CandidateReport,
    CandidateRow,
    CompetencyResult,
    DecisionPublic,
    ExemplarUsed,
    RoleSummary,
    TalkingPoint,
    VoiceConfidence,
)
from bot.store.models import Answer, Decision, HrUser, Interview, Score, VoiceClip
from flows.schema import Flow

Sort = Literal["newest", "oldest", "score", "-score"]
REAL = col(Interview.mode) == "interview"


class NotFoundError(LookupError):
    pass


def _text(texts: dict[str, str], language: str) -> str:
    return texts.get(language) or next(iter(texts.values()), "")


async def role_summaries(session: AsyncSession, catalog: FlowCatalog) -> list[RoleSummary]:
    counts: dict[str, list[int]] = {}
    rows = await session.exec(
        select(Interview.role, Interview.state, func.count())
        .where(REAL)
        .group_by(Interview.role, Interview.state)
    )
    for role, state, count in rows.all():
        entry = counts.setdefault(role, [0, 0])
        entry[0] += int(count)
        if state == "done":
            entry[1] += int(count)
    decided = dict(
        (
            await session.exec(
                select(Decision.role, func.count(func.distinct(Decision.interview_id))).group_by(
                    Decision.role
                )
            )
        ).all()
    )
    return [
        RoleSummary(
            role=info.role,
            title=info.title,
            interviews=counts.get(info.role, [0, 0])[0],
            completed=counts.get(info.role, [0, 0])[1],
            decided=int(decided.get(info.role, 0)),
        )
        for info in catalog.roles
    ]


SORTS: tuple[str, ...] = (
    "newest",
    "oldest",
    "score",
    "-score",
    "match",
    "-match",
    "completed",
    "-completed",
    "state",
    "-state",
)
"""The candidate table's orders: a key sorts ascending, with ``-`` descending; ``newest`` is
``-started``, ``score`` the highest first (as before), ``competency:<id>`` / ``-competency:<id>``
by one competency's level."""


def _sort_key(sort: str) -> tuple[Any, bool]:
    """The SQL expression and whether it sorts descending, for one of `SORTS` or a competency."""
    descending = sort.startswith("-")
    name = sort.lstrip("-")
    overall = col(Interview.results)["overall"].as_float()
    if name == "newest":
        return col(Interview.id), not descending
    if name == "oldest":
        return col(Interview.id), descending
    if name == "score":  # "score" is the highest first, "-score" the lowest first
        return overall, not descending
    if name == "match":
        return col(Interview.results)["match"].as_float(), descending
    if name == "completed":
        return col(Interview.completed_at), descending
    if name == "state":
        return col(Interview.state), descending
    if name.startswith("competency:") and COMPETENCY.match(name.removeprefix("competency:")):
        path = ("competencies", name.removeprefix("competency:"), "level")
        return col(Interview.results)[path].as_float(), descending
    raise ValueError(f"unknown sort {sort!r}: use one of {', '.join(SORTS)} or competency:<id>")


COMPETENCY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def valid_sort(sort: str) -> bool:
    try:
        _sort_key(sort)
    except ValueError:
        return False
    return True


async def candidate_page(
    session: AsyncSession,
    key: bytes,
    role: str,
    *,
    state: str | Sequence[str] | None = None,
    decision: str | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
    started_from: datetime | None = None,
    started_before: datetime | None = None,
    sort: str = "newest",
    offset: int = 0,
    limit: int = 50,
) -> CandidatePage:
    """One page of a role's real interviews, filtered, sorted and cut in the database.

    Args:
        state: one status or several (``done`` is completed).
        decision: the current (newest) decision, or ``none`` for the undecided.
        min_score: lowest overall level (1..5), inclusive; unscored interviews drop out.
        max_score: highest overall level, inclusive.
        started_from: started at or after this moment.
        started_before: started before this moment (a date range's end is the next day's start).
        sort: one of `SORTS` or ``[-]competency:<id>``; unscored rows come last either way, and
            ties keep the newest first, so pages never overlap.
        offset: rows to skip; limit: rows to return.
    """
    expression, descending = _sort_key(sort)
    newest = (
        select(col(Decision.interview_id).label("interview_id"), func.max(Decision.id).label("decision_id"))
        .group_by(col(Decision.interview_id))
        .subquery()
    )
    current = aliased(Decision)
    base = (
        select(Interview, current.outcome)
        .outerjoin(newest, newest.c.interview_id == col(Interview.id))
        .outerjoin(current, col(current.id) == newest.c.decision_id)
        .where(REAL, Interview.role == role)
    )
    if isinstance(state, str) and state:
        base = base.where(Interview.state == state)
    elif state and not isinstance(state, str):
        base = base.where(col(Interview.state).in_(list(state)))
    if decision == "none":
        base = base.where(col(current.outcome).is_(None))
    elif decision:
        base = base.where(current.outcome == decision)
    overall = col(Interview.results)["overall"].as_float()
    if min_score is not None:
        base = base.where(overall >= min_score)
    if max_score is not None:
        base = base.where(overall <= max_score)
    if started_from is not None:
        base = base.where(col(Interview.created_at) >= started_from)
    if started_before is not None:
        base = base.where(col(Interview.created_at) < started_before)
    total = int((await session.exec(select(func.count()).select_from(base.subquery()))).one())
    ordered = base.order_by(
        expression.is_(None),
        expression.desc() if descending else expression.asc(),
        col(Interview.id).desc(),
    )
    found = (await session.exec(ordered.offset(offset).limit(limit))).all()
    rows = []
    for interview, outcome in found:
        results = interview.results or {}
        rows.append(
            CandidateRow(
                interview_id=interview.id or 0,
                candidate=candidate_ref(key, interview.candidate_id),
                state=interview.state,
                overall=results.get("overall"),
                match=results.get("match"),
                competencies={
                    cid: float(c["level"])
                    for cid, c in (results.get("competencies") or {}).items()
                    if c.get("level") is not None
                },
                decision=outcome,
                started_at=interview.created_at,
                completed_at=interview.completed_at,
            )
        )
    following = offset + len(rows)
    return CandidatePage(
        role=role,
        total=total,
        offset=offset,
        limit=limit,
        next_offset=following if following < total else None,
        page=offset // limit + 1,
        page_size=limit,
        rows=rows,
    )


async def real_interview(session: AsyncSession, interview_id: int) -> Interview:
    interview = await session.get(Interview, interview_id)
    if interview is None or interview.mode != "interview":
        raise NotFoundError(f"no interview {interview_id}")
    return interview


async def decisions_of(session: AsyncSession, interview_id: int) -> list[DecisionPublic]:
    rows = await session.exec(
        select(Decision, HrUser.email)
        .outerjoin(HrUser, col(HrUser.id) == col(Decision.user_id))
        .where(Decision.interview_id == interview_id)
        .order_by(col(Decision.id).desc())
    )
    return [
        DecisionPublic(
            id=row.id or 0,
            outcome=row.outcome,
            note=row.note,
            decided_by=email or (None if row.user_id else "legacy-token"),
            created_at=row.created_at,
        )
        for row, email in rows.all()
    ]


async def candidate_report(
    session: AsyncSession, catalog: FlowCatalog, key: bytes, interview_id: int
) -> CandidateReport:
    """A real interview's results: competency scores and, for each answer, its text, level, the
    rubric's words for that level, the evidence (exemplars, anchor, talking points), flags and, for
    a spoken answer, how sure the transcript is."""
    interview = await real_interview(session, interview_id)
    flow = await catalog.flow(interview.flow_version_id, session)
    version = await catalog.version_of(interview.flow_version_id)
    language = interview.language if interview.language in flow.languages else flow.languages[0]
    rows = (
        await session.exec(
            select(Answer, Score, VoiceClip)
            .outerjoin(Score, col(Score.answer_id) == col(Answer.id))
            .outerjoin(VoiceClip, col(VoiceClip.message_id) == col(Answer.message_id))
            .where(Answer.interview_id == interview_id)
            .order_by(col(Answer.id), col(Score.id))
        )
    ).all()
    newest: dict[int, tuple[Answer, Score | None, VoiceClip | None]] = {}
    for answer, score, clip in rows:
        newest[answer.id or 0] = (answer, score, clip)
    # a practice retry never happens in a real interview, but keep each question's latest attempt
    latest_attempt: dict[tuple[str, str | None], int] = {}
    for answer, _, _ in newest.values():
        slot = (answer.question_id, answer.follow_up_id)
        latest_attempt[slot] = max(latest_attempt.get(slot, 0), answer.attempt)
    answers = [
        _answer_evidence(flow, language, answer, score, clip)
        for answer, score, clip in newest.values()
        if answer.attempt == latest_attempt[(answer.question_id, answer.follow_up_id)]
    ]
    results = interview.results or {}
    scored = results.get("competencies") or {}
    competencies = [
        CompetencyResult(
            competency=c.id,
            name=_text(c.name, language),
            weight=c.weight,
            level=scored.get(c.id, {}).get("level"),
            confidence=scored.get(c.id, {}).get("confidence"),
            answers=int(scored.get(c.id, {}).get("answers", 0)),
        )
        for c in flow.competencies
    ]
    return CandidateReport(
        interview_id=interview_id,
        candidate=candidate_ref(key, interview.candidate_id),
        role=interview.role,
        language=interview.language,
        state=interview.state,
        flow_version=version,
        started_at=interview.created_at,
        completed_at=interview.completed_at,
        overall=results.get("overall"),
        match=results.get("match"),
        competencies=competencies,
        unassessed=list(results.get("unassessed") or []),
        answers=answers,
        decisions=await decisions_of(session, interview_id),
    )


def _answer_evidence(
    flow: Flow, language: str, answer: Answer, score: Score | None, clip: VoiceClip | None
) -> AnswerEvidence:
    try:
        question = flow.question(answer.question_id)
    except KeyError:
        question = None
    text = ""
    if question is not None:
        text = _text(question.text, language)
        if answer.follow_up_id:
            for follow_up in question.follow_ups:
                if follow_up.id == answer.follow_up_id:
                    text = _text(follow_up.text, language)
    evidence: dict[str, Any] = dict(score.evidence) if score is not None else {}
    rounded = evidence.get("rounded_level")
    if rounded is None and score is not None and score.level is not None:
        rounded = round(score.level)
    rubric = None
    if question is not None and rounded is not None and int(rounded) in question.rubric:
        rubric = _text(question.rubric[int(rounded)], language)
    flags = []
    if answer.status == "skipped":
        flags.append("skipped")
    if answer.late:
        flags.append("late")
    if score is not None and score.insufficient:
        flags.append(f"insufficient: {score.insufficient}")
    if score is None and answer.status == "answered":
        flags.append("not scored yet")
    voice = None
    if clip is not None and clip.status != "refused":
        if clip.uncertain:
            flags.append("voice transcript confirmed by the candidate")
        voice = VoiceConfidence(
            duration_seconds=clip.duration,
            language=clip.language,
            model=clip.model,
            avg_logprob=clip.avg_logprob,
            no_speech_prob=clip.no_speech_prob,
            confirmed_by_candidate=clip.uncertain,
        )
    return AnswerEvidence(
        question_id=answer.question_id,
        follow_up_id=answer.follow_up_id,
        competency=answer.competency,
        question=text,
        status=answer.status,
        text=answer.text,
        late=answer.late,
        level=score.level if score is not None else None,
        rounded_level=int(rounded) if rounded is not None else None,
        confidence=score.confidence if score is not None else None,
        insufficient=score.insufficient if score is not None else None,
        rubric_level=rubric,
        method=evidence.get("method"),
        anchor_level=evidence.get("anchor_level"),
        anchor_similarity=evidence.get("anchor_similarity"),
        relevance=evidence.get("relevance"),
        exemplars=[
            ExemplarUsed(
                id=str(e.get("id")),
                similarity=float(e.get("similarity", 0)),
                rating=float(e.get("rating", 0)),
            )
            for e in evidence.get("exemplars") or []
        ],
        talking_points_covered=[
            TalkingPoint(text=str(p.get("text", "")), similarity=float(p.get("similarity", 0)))
            for p in evidence.get("talking_points_covered") or []
        ],
        talking_points_missed=[
            TalkingPoint(text=str(p.get("text", "")), similarity=float(p.get("similarity", 0)))
            for p in evidence.get("talking_points_missed") or []
        ],
        flags=flags,
        model_id=score.model_id if score is not None else None,
        voice=voice,
    )
