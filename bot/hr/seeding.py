"""Seeding a question's exemplars from candidates' answers HR rate in the workspace.

A question HR have just written has no rated answers of its own, so its answers are scored from
the rubric anchors and reference answers (or its competency's exemplars) and less surely. Here HR
rate candidates' answers to it (a level 1..5 per answer; who and when are kept, the newest rating
of an answer counts, earlier ones are its history) and, with one action, make the rated answers
the question's exemplars:

* an exemplar from HR (source ``hr_rating``) holds the answer's words with e-mail addresses, phone
  numbers and links taken out, the rating, and a keyed hash of the answer's id as its key (as EHR
  exemplars keep a keyed hash of the export's id); no candidate reference. It keeps the answer's
  row id (``Exemplar.answer_id``) only so that erasing the candidate (``/delete_my_data``,
  `bot.store.repo.erase_candidate`) erases the exemplar too;
* promoting again adds the answers rated since and re-rates those HR rated anew; two HR users
  promoting at once add each answer once (the role's flow rows are locked while promoting);
* the scorers are rebuilt in the background (`bot.scoring.ScoringService.refresh_soon`, else the
  periodic exemplar sync), so the next answer to the question is scored against them, no restart.

Only answers of real interviews can be rated; practice never reaches HR.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.hr.accounts import candidate_ref, keyed, record
from bot.hr.auth import Principal
from bot.hr.reports import NotFoundError
from bot.runtime import Runtime
from bot.scoring import exemplar_id
from bot.store.models import Answer, AnswerRating, Exemplar, FlowVersion, HrUser, Interview, Score
from flows.schema import Flow, Question
from scoring.scorer import ScorerConfig

SOURCE = "hr_rating"
"""`Exemplar.source` of the exemplars HR made from candidates' answers."""
FEW_EXEMPLARS: int = ScorerConfig.min_exemplars
"""Below this many of its own exemplars a question borrows its competency's (the scorer's
``min_exemplars``): HR are offered to rate answers to seed it."""
MAX_LISTED = 200

_CONTACT = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses
    r"|(?:https?://|www\.)\S+"  # links
    r"|\+?\d[\d ()./-]{6,}\d"  # phone numbers
)


def without_contact_data(text: str) -> str:
    """An answer's words with e-mail addresses, links and phone numbers replaced by ``[…]``."""
    return _CONTACT.sub("[…]", text)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RatingCreate(_Request):
    level: int = Field(ge=1, le=5, description="HR's level for the answer on the rubric's scale, 1..5")


class RatingPublic(BaseModel):
    answer_id: int
    level: int
    rated_by: str | None
    rated_at: datetime


class RatedAnswer(BaseModel):
    answer_id: int
    """The answer's id (its last part, which its score belongs to)."""
    interview_id: int
    candidate: str
    """The candidate's pseudonymous reference."""
    text: str
    machine_level: float | None
    level: int | None
    """HR's newest rating; None: not rated yet."""
    rated_by: str | None
    rated_at: datetime | None
    exemplar: str | None
    """The exemplar's id (as in scores' evidence) once the answer was promoted."""
    exemplar_level: float | None
    """The level the exemplar holds (differs from ``level`` after a new rating, until promoted)."""


class QuestionAnswers(BaseModel):
    role: str
    question_id: str
    competency: str
    question: str
    exemplars: int
    """The question's own exemplars in the store (EHR's and HR's)."""
    few: bool
    """Fewer than the scorer needs to compare answers with the question's own exemplars."""
    answers: list[RatedAnswer]
    """Newest first."""


class Promotion(BaseModel):
    role: str
    question_id: str
    added: int
    updated: int
    """Answers promoted before and rated anew since."""
    exemplars: int
    """The question's own exemplars now."""


async def latest_question(runtime: Runtime, role: str, question_id: str) -> tuple[int, Flow, Question]:
    """The published version row of ``role`` in use, its flow and its question ``question_id``.

    Raises:
        NotFoundError: no such role or question.
    """
    info = next((r for r in runtime.catalog.roles if r.role == role), None)
    if info is None:
        raise NotFoundError(f"no flow for role {role!r}")
    flow = await runtime.catalog.flow(info.flow_version_id)
    try:
        return info.flow_version_id, flow, flow.question(question_id)
    except KeyError:
        raise NotFoundError(f"no question {question_id!r} in the flow of {role!r}") from None


def _language(flow: Flow, reader_language: str | None) -> str:
    return reader_language if reader_language in flow.languages else flow.languages[0]


async def _own_exemplars(session: AsyncSession, role: str, question_id: str) -> int:
    found = await session.exec(
        select(Exemplar.id).where(Exemplar.role == role, Exemplar.question_id == question_id)
    )
    return len(found.all())


async def _units(session: AsyncSession, role: str, question_id: str) -> dict[int, tuple[Interview, str]]:
    """Every real interview's answer to the question, by its last part's id: the interview and
    the answer's text (follow-ups joined, as it was scored)."""
    rows = (
        await session.exec(
            select(Answer, Interview)
            .join(Interview, col(Interview.id) == col(Answer.interview_id))
            .where(
                Interview.role == role,
                Interview.mode == "interview",
                Answer.question_id == question_id,
                Answer.status == "answered",
            )
            .order_by(col(Answer.id))
        )
    ).all()
    parts: dict[tuple[int, int], list[Answer]] = {}
    interviews: dict[int, Interview] = {}
    for answer, interview in rows:
        parts.setdefault((answer.interview_id, answer.attempt), []).append(answer)
        interviews[answer.interview_id] = interview
    return {
        found[-1].id or 0: (interviews[interview_id], "\n".join(p.text for p in found))
        for (interview_id, _), found in parts.items()
    }


async def _ratings(
    session: AsyncSession, answer_ids: list[int]
) -> dict[int, tuple[AnswerRating, str | None]]:
    """The newest rating of each answer, with its author's e-mail."""
    rows = (
        await session.exec(
            select(AnswerRating, HrUser.email)
            .outerjoin(HrUser, col(HrUser.id) == col(AnswerRating.user_id))
            .where(col(AnswerRating.answer_id).in_(answer_ids))
            .order_by(col(AnswerRating.id))
        )
    ).all()
    return {rating.answer_id: (rating, email) for rating, email in rows}


async def question_answers(
    runtime: Runtime, role: str, question_id: str, language: str | None = None
) -> QuestionAnswers:
    """The question's answers in real interviews, newest first, each with its machine level, HR's
    rating and its exemplar once promoted."""
    _, flow, question = await latest_question(runtime, role, question_id)
    async with runtime.db.read() as session:
        units = await _units(session, role, question_id)
        ids = sorted(units, reverse=True)[:MAX_LISTED]
        ratings = await _ratings(session, ids)
        scores = await session.exec(
            select(Score.answer_id, Score.level).where(col(Score.answer_id).in_(ids)).order_by(col(Score.id))
        )
        levels: dict[int, float | None] = dict(scores.all())
        exemplars = {
            row.answer_id: row
            for row in (await session.exec(select(Exemplar).where(col(Exemplar.answer_id).in_(ids)))).all()
        }
        own = await _own_exemplars(session, role, question_id)
    listed = []
    for answer_id in ids:
        interview, text = units[answer_id]
        rating, email = ratings.get(answer_id, (None, None))
        exemplar = exemplars.get(answer_id)
        listed.append(
            RatedAnswer(
                answer_id=answer_id,
                interview_id=interview.id or 0,
                candidate=candidate_ref(runtime.hr_key, interview.candidate_id),
                text=text,
                machine_level=levels.get(answer_id),
                level=None if rating is None else rating.level,
                rated_by=email,
                rated_at=None if rating is None else rating.created_at,
                exemplar=None if exemplar is None else exemplar_id(exemplar),
                exemplar_level=None if exemplar is None else exemplar.rating,
            )
        )
    return QuestionAnswers(
        role=role,
        question_id=question_id,
        competency=question.competency,
        question=question.text.get(_language(flow, language), next(iter(question.text.values()), "")),
        exemplars=own,
        few=own < FEW_EXEMPLARS,
        answers=listed,
    )


async def rate(
    runtime: Runtime,
    who: Principal,
    answer_id: int,
    body: RatingCreate,
    *,
    question: tuple[str, str] | None = None,
) -> RatingPublic:
    """Record HR's level for one answer of a real interview (audited).

    Args:
        question: the role and question the answer must be to (the rating page's), if any.

    Raises:
        NotFoundError: no such answer in a real interview (to that question).
    """
    async with runtime.db.write() as session:
        answer = await session.get(Answer, answer_id)
        interview = None if answer is None else await session.get(Interview, answer.interview_id)
        real = interview is not None and interview.mode == "interview"
        if answer is None or interview is None or not real or answer.status != "answered":
            raise NotFoundError(f"no answer {answer_id} of a real interview")
        if question is not None and (interview.role, answer.question_id) != question:
            raise NotFoundError(f"answer {answer_id} is not to question {question[1]!r} of {question[0]!r}")
        # the answer's last part (the one its score belongs to) stands for it
        last = (
            await session.exec(
                select(Answer.id)
                .where(
                    Answer.interview_id == answer.interview_id,
                    Answer.question_id == answer.question_id,
                    Answer.attempt == answer.attempt,
                    Answer.status == "answered",
                )
                .order_by(col(Answer.id).desc())
            )
        ).first()
        unit = last or answer_id
        before = (await _ratings(session, [unit])).get(unit)
        rating = AnswerRating(
            answer_id=unit,
            interview_id=interview.id or 0,
            candidate_id=interview.candidate_id,
            role=interview.role,
            question_id=answer.question_id,
            level=body.level,
            user_id=who.user_id,
        )
        session.add(rating)
        record(
            session,
            who.actor,
            "answer.rated",
            target=f"answer:{unit}",
            candidate=(interview.candidate_id, candidate_ref(runtime.hr_key, interview.candidate_id)),
            changes={
                "question": answer.question_id,
                "level": {"from": None if before is None else before[0].level, "to": body.level},
            },
        )
        await session.flush()
    return RatingPublic(
        answer_id=unit,
        level=rating.level,
        rated_by=who.user.email if who.user is not None else None,
        rated_at=rating.created_at,
    )


async def promote(runtime: Runtime, who: Principal, role: str, question_id: str) -> Promotion:
    """Make the question's rated answers its exemplars (audited); the scorers follow at once.

    Raises:
        NotFoundError: no such role or question.
        ValueError: no answer to the question is rated yet.
    """
    _, flow, question = await latest_question(runtime, role, question_id)
    added = updated = 0
    async with runtime.db.write() as session:
        # one promotion per role at a time (PostgreSQL; SQLite writes are serialised anyway): the
        # second sees the first's exemplars and adds none of them again
        await session.exec(select(FlowVersion.id).where(FlowVersion.role == role).with_for_update())
        units = await _units(session, role, question_id)
        ratings = await _ratings(session, list(units))
        if not ratings:
            raise ValueError(f"no answer to question {question_id!r} is rated yet: rate some first")
        existing = {
            row.answer_id: row
            for row in (
                await session.exec(select(Exemplar).where(col(Exemplar.answer_id).in_(list(ratings))))
            ).all()
        }
        for answer_id, (rating, _) in sorted(ratings.items()):
            interview, text = units[answer_id]
            language = interview.language if interview.language in flow.languages else flow.languages[0]
            old = existing.get(answer_id)
            if old is not None:
                if old.rating == rating.level:
                    continue
                # a new row (not an update): the scorers see a new exemplar id and rebuild
                await session.exec(delete(Exemplar).where(col(Exemplar.id) == old.id))
                await session.flush()
                updated += 1
            else:
                added += 1
            session.add(
                Exemplar(
                    key=keyed(runtime.hr_key, f"answer:{answer_id}")[:64],
                    role=role,
                    question_id=question_id,
                    competency=question.competency,
                    text=without_contact_data(text),
                    rating=float(rating.level),
                    source=SOURCE,
                    language=language,
                    rated_at=rating.created_at.date(),
                    answer_id=answer_id,
                )
            )
        await session.flush()
        own = await _own_exemplars(session, role, question_id)
        if added or updated:
            record(
                session,
                who.actor,
                "exemplars.seeded",
                target=f"question:{role}/{question_id}",
                changes={"added": added, "updated": updated, "exemplars": own},
            )
    if added or updated:
        runtime.scoring.refresh_soon()
    return Promotion(role=role, question_id=question_id, added=added, updated=updated, exemplars=own)
