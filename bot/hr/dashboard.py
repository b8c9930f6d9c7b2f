"""HR's dashboard, per role or over all roles, optionally for a date range (UTC, both ends included).

* Funnel: invited (campaign invitations sent for the role's interview, `CampaignCandidate.invited_at`)
  → started (real interviews) → completed (state ``done``) → decided (any decision).
* Completion time of completed interviews: median, 90th percentile, mean, and a histogram.
* Score distributions per competency: the machine's levels (interview results), counted by the
  rounded level 1..5, with n, mean and median (HR's overrides are not mixed in).
* Drop-off by question (one role): how many reached each question, answered it, are still at it,
  and left there (withdrew; declined consent for the first row).
* FAQ topics candidates asked about most during real interviews (audit events
  ``question.answered`` / ``question.unanswered``, by FAQ entry).
* Handoffs waiting for HR (open), by kind, and how long the oldest has waited.

Practice sessions never count: only ``Interview.mode == "interview"``, and events, questions and
handoffs are counted only through a real interview. Charts are plotly.js figures built here as
plain JSON (`figures`); every chart's numbers are also in a table on the page.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.catalog import FlowCatalog
from bot.store.models import Answer, AuditEvent, Campaign, CampaignCandidate, Decision, Handoff, Interview

TIME_BUCKETS: list[tuple[str, float]] = [
    ("under 10 min", 10),
    ("10–20 min", 20),
    ("20–30 min", 30),
    ("30–60 min", 60),
    ("1–2 h", 120),
    ("2–24 h", 24 * 60),
    ("over a day", float("inf")),
]
LEVELS = ("1", "2", "3", "4", "5")
TOP_TOPICS = 10
UNANSWERED = "(no answer found: handed to HR)"


class FunnelStep(BaseModel):
    stage: str
    count: int
    share_of_previous: float | None
    """This stage's count over the previous stage's (None for the first, or after a zero)."""


class TimeBucket(BaseModel):
    label: str
    count: int


class CompletionTime(BaseModel):
    completed: int
    median_minutes: float | None
    p90_minutes: float | None
    mean_minutes: float | None
    buckets: list[TimeBucket]


class CompetencyDistribution(BaseModel):
    competency: str
    name: str
    n: int
    mean: float | None
    median: float | None
    levels: dict[str, int]
    """How many interviews have each rounded level, ``"1"`` .. ``"5"``."""


class QuestionDropOff(BaseModel):
    position: int
    """0 for consent, then the question's number in the flow."""
    question_id: str
    question: str
    reached: int
    answered: int
    in_progress: int
    left: int
    """Withdrew at this question (declined, for consent)."""
    drop_off: float | None
    """``left / reached``."""


class FaqTopic(BaseModel):
    topic: str
    """The FAQ entry's id, or the mark of questions that found no answer."""
    example: str
    """One of the entry's questions, as the FAQ words it (never a candidate's words)."""
    asked: int


class HandoffsWaiting(BaseModel):
    open: int
    human: int
    question: int
    oldest_waiting_minutes: float | None


class Dashboard(BaseModel):
    role: str | None
    """None: all roles."""
    date_from: date | None
    date_to: date | None
    funnel: list[FunnelStep]
    completion_time: CompletionTime
    competencies: list[CompetencyDistribution]
    drop_off: list[QuestionDropOff]
    """Per question of the role's newest flow; empty over all roles."""
    faq_topics: list[FaqTopic]
    handoffs: HandoffsWaiting


def _bounds(date_from: date | None, date_to: date | None) -> tuple[datetime | None, datetime | None]:
    start = datetime.combine(date_from, time.min, UTC) if date_from else None
    end = datetime.combine(date_to + timedelta(days=1), time.min, UTC) if date_to else None
    return start, end


def _text(texts: dict[str, str], language: str = "en") -> str:
    return texts.get(language) or next(iter(texts.values()), "")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(share * (len(ordered) - 1))))
    return ordered[index]


async def build(
    session: AsyncSession,
    catalog: FlowCatalog,
    *,
    role: str | None,
    date_from: date | None,
    date_to: date | None,
    now: datetime,
    faq_examples: dict[str, str] | None = None,
) -> Dashboard:
    """The dashboard's numbers. ``faq_examples`` maps FAQ entry ids to a question that shows
    what the entry is about (from the knowledge base)."""
    start, end = _bounds(date_from, date_to)
    statement = select(Interview).where(col(Interview.mode) == "interview")
    if role:
        statement = statement.where(Interview.role == role)
    if start is not None:
        statement = statement.where(col(Interview.created_at) >= start)
    if end is not None:
        statement = statement.where(col(Interview.created_at) < end)
    interviews = list((await session.exec(statement.order_by(col(Interview.id)))).all())
    ids = [i.id or 0 for i in interviews]
    return Dashboard(
        role=role,
        date_from=date_from,
        date_to=date_to,
        funnel=await _funnel(session, interviews, role, start, end),
        completion_time=_completion(interviews),
        competencies=await _distributions(session, catalog, interviews, role),
        drop_off=await _drop_off(session, catalog, interviews, role) if role else [],
        faq_topics=await _faq_topics(session, ids, faq_examples or {}),
        handoffs=await _handoffs(session, role, now),
    )


async def _funnel(
    session: AsyncSession,
    interviews: list[Interview],
    role: str | None,
    start: datetime | None,
    end: datetime | None,
) -> list[FunnelStep]:
    invited_q = (
        select(func.count())
        .select_from(CampaignCandidate)
        .join(Campaign, col(Campaign.id) == col(CampaignCandidate.campaign_id))
        .where(col(CampaignCandidate.invited_at).is_not(None), col(Campaign.mode) == "interview")
    )
    if role:
        invited_q = invited_q.where(Campaign.role == role)
    if start is not None:
        invited_q = invited_q.where(col(CampaignCandidate.invited_at) >= start)
    if end is not None:
        invited_q = invited_q.where(col(CampaignCandidate.invited_at) < end)
    invited = int((await session.exec(invited_q)).one())
    ids = [i.id or 0 for i in interviews]
    decided = 0
    if ids:
        decided = int(
            (
                await session.exec(
                    select(func.count(func.distinct(Decision.interview_id))).where(
                        col(Decision.interview_id).in_(ids)
                    )
                )
            ).one()
        )
    counts = [
        ("invited", invited),
        ("started", len(interviews)),
        ("completed", sum(1 for i in interviews if i.state == "done")),
        ("decided", decided),
    ]
    steps = []
    previous: int | None = None
    for stage, count in counts:
        share = round(count / previous, 3) if previous else None
        steps.append(FunnelStep(stage=stage, count=count, share_of_previous=share))
        previous = count
    return steps


def _completion(interviews: list[Interview]) -> CompletionTime:
    minutes = [
        max(0.0, (i.completed_at - i.created_at).total_seconds() / 60)
        for i in interviews
        if i.state == "done" and i.completed_at is not None
    ]
    buckets = []
    lower = 0.0
    for label, upper in TIME_BUCKETS:
        buckets.append(TimeBucket(label=label, count=sum(1 for m in minutes if lower <= m < upper)))
        lower = upper
    return CompletionTime(
        completed=len(minutes),
        median_minutes=round(statistics.median(minutes), 1) if minutes else None,
        p90_minutes=round(_percentile(minutes, 0.9), 1) if minutes else None,
        mean_minutes=round(statistics.fmean(minutes), 1) if minutes else None,
        buckets=buckets,
    )


async def _competency_names(session: AsyncSession, catalog: FlowCatalog, role: str | None) -> dict[str, str]:
    names: dict[str, str] = {}
    for info in catalog.roles:
        if role and info.role != role:
            continue
        flow = await catalog.flow(info.flow_version_id, session)
        for competency in flow.competencies:
            names.setdefault(competency.id, _text(competency.name))
    return names


async def _distributions(
    session: AsyncSession, catalog: FlowCatalog, interviews: list[Interview], role: str | None
) -> list[CompetencyDistribution]:
    names = await _competency_names(session, catalog, role)
    levels: dict[str, list[float]] = {cid: [] for cid in names}
    for interview in interviews:
        for cid, scored in ((interview.results or {}).get("competencies") or {}).items():
            level = scored.get("level")
            if level is not None:
                levels.setdefault(cid, []).append(float(level))
    found = []
    for cid, values in levels.items():
        counted = Counter(str(min(5, max(1, round(v)))) for v in values)
        found.append(
            CompetencyDistribution(
                competency=cid,
                name=names.get(cid, cid),
                n=len(values),
                mean=round(statistics.fmean(values), 2) if values else None,
                median=round(statistics.median(values), 2) if values else None,
                levels={level: counted.get(level, 0) for level in LEVELS},
            )
        )
    return found


async def _drop_off(
    session: AsyncSession, catalog: FlowCatalog, interviews: list[Interview], role: str
) -> list[QuestionDropOff]:
    info = next((r for r in catalog.roles if r.role == role), None)
    if info is None:
        return []
    flow = await catalog.flow(info.flow_version_id, session)
    ids = [i.id or 0 for i in interviews]
    answered: dict[str, set[int]] = {}
    if ids:
        rows = await session.exec(
            select(Answer.interview_id, Answer.question_id)
            .where(col(Answer.interview_id).in_(ids), col(Answer.follow_up_id).is_(None))
            .distinct()
        )
        for interview_id, question_id in rows.all():
            answered.setdefault(question_id, set()).add(interview_id)
    at_question: dict[str, Counter[str]] = {}
    consent = Counter[str]()
    for interview in interviews:
        if interview.state in {"consent", "declined"}:
            consent[interview.state] += 1
            continue
        if interview.state == "done":
            continue
        own = await catalog.flow(interview.flow_version_id, session)
        if interview.question_index >= len(own.questions):
            continue
        question_id = own.questions[interview.question_index].id
        kind = "left" if interview.state == "withdrawn" else "in_progress"
        at_question.setdefault(question_id, Counter())[kind] += 1
    reached_consent = len(interviews)
    rows_out = [
        QuestionDropOff(
            position=0,
            question_id="consent",
            question="Consent to the interview",
            reached=reached_consent,
            answered=reached_consent - consent["consent"] - consent["declined"],
            in_progress=consent["consent"],
            left=consent["declined"],
            drop_off=round(consent["declined"] / reached_consent, 3) if reached_consent else None,
        )
    ]
    for position, question in enumerate(flow.questions, start=1):
        here = at_question.get(question.id, Counter())
        done = len(answered.get(question.id, set()))
        reached = done + here["in_progress"] + here["left"]
        rows_out.append(
            QuestionDropOff(
                position=position,
                question_id=question.id,
                question=_text(question.text),
                reached=reached,
                answered=done,
                in_progress=here["in_progress"],
                left=here["left"],
                drop_off=round(here["left"] / reached, 3) if reached else None,
            )
        )
    return rows_out


async def _faq_topics(session: AsyncSession, ids: list[int], examples: dict[str, str]) -> list[FaqTopic]:
    if not ids:
        return []
    rows = await session.exec(
        select(AuditEvent).where(
            col(AuditEvent.kind).in_(["question.answered", "question.unanswered"]),
            col(AuditEvent.interview_id).in_(ids),
        )
    )
    counted: Counter[str] = Counter()
    for event in rows.all():
        entry = event.detail.get("entry_id") if event.kind == "question.answered" else None
        counted[str(entry) if entry else UNANSWERED] += 1
    return [
        FaqTopic(topic=topic, example=examples.get(topic, ""), asked=count)
        for topic, count in counted.most_common(TOP_TOPICS)
    ]


async def _handoffs(session: AsyncSession, role: str | None, now: datetime) -> HandoffsWaiting:
    statement = (
        select(Handoff.kind, Handoff.created_at)
        .join(Interview, col(Interview.id) == col(Handoff.interview_id))
        .where(Handoff.status == "open", col(Interview.mode) == "interview")
    )
    if role:
        statement = statement.where(Interview.role == role)
    rows = (await session.exec(statement)).all()
    oldest = min((created for _, created in rows), default=None)
    return HandoffsWaiting(
        open=len(rows),
        human=sum(1 for kind, _ in rows if kind == "human"),
        question=sum(1 for kind, _ in rows if kind == "question"),
        oldest_waiting_minutes=round((now - oldest).total_seconds() / 60, 1) if oldest else None,
    )


# --- charts: plotly.js figures as JSON ---------------------------------------------------------------


def figures(board: Dashboard) -> dict[str, dict[str, Any]]:
    """plotly.js figures (``data`` and ``layout``) by chart id; the page also tables each one."""
    layout: dict[str, Any] = {
        "margin": {"l": 48, "r": 16, "t": 8, "b": 48},
        "height": 280,
        "font": {"family": "system-ui, sans-serif", "size": 13, "color": "#1b1b1b"},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
    }
    found: dict[str, dict[str, Any]] = {
        "funnel": {
            "data": [
                {
                    "type": "funnel",
                    "y": [step.stage for step in board.funnel],
                    "x": [step.count for step in board.funnel],
                    "textinfo": "value",  # shares are in the table (a zero stage has none)
                    "marker": {"color": "#1f5fa8"},
                }
            ],
            "layout": {**layout, "margin": {"l": 90, "r": 16, "t": 8, "b": 24}},
        },
        "completion": {
            "data": [
                {
                    "type": "bar",
                    "x": [b.label for b in board.completion_time.buckets],
                    "y": [b.count for b in board.completion_time.buckets],
                    "marker": {"color": "#1f5fa8"},
                    "name": "interviews",
                }
            ],
            "layout": {**layout, "yaxis": {"title": {"text": "interviews"}, "rangemode": "tozero"}},
        },
        "scores": {
            "data": [
                {
                    "type": "bar",
                    "name": dist.name,
                    "x": list(LEVELS),
                    "y": [dist.levels[level] for level in LEVELS],
                }
                for dist in board.competencies
            ],
            "layout": {
                **layout,
                "barmode": "group",
                "xaxis": {"title": {"text": "level (rounded)"}, "type": "category"},
                "yaxis": {"title": {"text": "interviews"}, "rangemode": "tozero"},
                "legend": {"orientation": "h", "y": -0.3},
                "height": 320,
            },
        },
    }
    if board.drop_off:
        found["dropoff"] = {
            "data": [
                {
                    "type": "bar",
                    "name": "reached",
                    "x": [row.question_id for row in board.drop_off],
                    "y": [row.reached for row in board.drop_off],
                    "marker": {"color": "#9bb8d9"},
                },
                {
                    "type": "bar",
                    "name": "left here",
                    "x": [row.question_id for row in board.drop_off],
                    "y": [row.left for row in board.drop_off],
                    "marker": {"color": "#b3261e"},
                },
            ],
            "layout": {
                **layout,
                "barmode": "overlay",
                "xaxis": {"type": "category"},
                "yaxis": {"title": {"text": "interviews"}, "rangemode": "tozero"},
                "legend": {"orientation": "h", "y": -0.3},
            },
        }
    if board.faq_topics:
        found["faq"] = {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "y": [topic.topic for topic in board.faq_topics][::-1],
                    "x": [topic.asked for topic in board.faq_topics][::-1],
                    "marker": {"color": "#1f5fa8"},
                }
            ],
            "layout": {**layout, "margin": {"l": 200, "r": 16, "t": 8, "b": 32}},
        }
    return found
