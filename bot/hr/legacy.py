"""HR's API: handoffs to answer and applications to review.

Practice never reaches HR: no route shows a practice session's answers, scores, feedback or
results, or links to a practice session (a question asked during practice reaches HR as a
question, and an application made after practice as an application, without that link).

The first HR endpoints, kept as they were for integrations: reading needs any HR role, answering
a handoff a recruiter (`bot.hr.auth`): a user's API token or session, or, deprecated, the shared
``Authorization: Bearer $INTERVIEWER_HR_TOKEN``, which acts as a recruiter.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field
from sqlmodel import col, select

from bot.handoffs import MAX_ANSWER_CHARS, HandoffError, answer_handoff, list_handoffs
from bot.hr.auth import READ, Principal, require_role
from bot.hr.schemas import RowId
from bot.outbox import State, list_outbox
from bot.runtime import Runtime
from bot.store.models import Answer, Application, Interview, Score, VoiceClip

Reader = Annotated[Principal, Depends(require_role(*READ))]
Recruiter = Annotated[Principal, Depends(require_role("recruiter"))]


class HandoffAnswer(BaseModel):
    answer: str = Field(min_length=1, max_length=MAX_ANSWER_CHARS)
    add_to_faq: bool = False


def legacy_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/hr", tags=["hr"], responses={401: {}, 403: {}})

    @router.get("/handoffs")
    async def handoffs(
        who: Reader, status: Literal["open", "answered"] | None = None
    ) -> list[dict[str, Any]]:
        """Questions the bot passed to HR and requests for a human, oldest first."""
        return [asdict(item) for item in await list_handoffs(runtime.db, status)]

    @router.post("/handoffs/{handoff_id}/answer", responses={404: {}, 409: {}, 422: {}})
    async def answer(handoff_id: RowId, body: HandoffAnswer, who: Recruiter) -> dict[str, Any]:
        """Answer a handoff: the candidate receives it on their channel; with ``add_to_faq`` the
        question and answer join the FAQ."""
        try:
            item = await answer_handoff(
                runtime.db, runtime.responses, handoff_id, body.answer, add_to_faq=body.add_to_faq
            )
        except HandoffError as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        runtime.outbox.notify()
        if item.faq_entry_id:
            runtime.knowledge.refresh_soon()
        return asdict(item)

    @router.get("/outbox")
    async def outbox(
        who: Reader,
        state: State | None = None,
        channel: str | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> list[dict[str, Any]]:
        """Messages the bot could not deliver at once, newest first (``state=failed``: given up,
        e.g. a reply Telegram did not take for 48 hours), without their text or address."""
        return [
            asdict(row) for row in await list_outbox(runtime.db, state=state, channel=channel, limit=limit)
        ]

    @router.get("/applications")
    async def applications(who: Reader) -> list[dict[str, Any]]:
        """Applications candidates made for roles the bot recommended."""
        async with runtime.db.read() as session:
            rows = (
                await session.exec(
                    select(Application, Interview.mode)
                    .outerjoin(Interview, col(Interview.id) == col(Application.source_interview_id))
                    .order_by(col(Application.id))
                )
            ).all()
        return [
            {
                "id": row.id,
                "role": row.role,
                "source_interview_id": row.source_interview_id if mode == "interview" else None,
                "reason": row.reason,
                "created_at": row.created_at.isoformat(),
            }
            for row, mode in rows
        ]

    @router.get("/interviews/{interview_id}/answers", responses={404: {}})
    async def interview_answers(interview_id: RowId, who: Reader) -> list[dict[str, Any]]:
        """A real interview's answers in order, each with its score and, for an answer given by
        voice, the transcript's confidence: the recording's duration and language, the model, the
        average log-probability and no-speech probability per answer and per segment, and whether
        the candidate confirmed it (an answer corrected by typing is a typed answer). Practice
        sessions are not shown (404)."""
        async with runtime.db.read() as session:
            interview = await session.get(Interview, interview_id)
            if interview is None or interview.mode != "interview":
                raise HTTPException(404, f"no interview {interview_id}")
            rows = (
                await session.exec(
                    select(Answer, Score, VoiceClip)
                    .outerjoin(Score, col(Score.answer_id) == col(Answer.id))
                    .outerjoin(VoiceClip, col(VoiceClip.message_id) == col(Answer.message_id))
                    .where(Answer.interview_id == interview_id)
                    .order_by(col(Answer.id), col(Score.id))
                )
            ).all()
        latest: dict[int, dict[str, Any]] = {}
        for answer, score, clip in rows:
            latest[answer.id or 0] = {
                "question_id": answer.question_id,
                "follow_up_id": answer.follow_up_id,
                "attempt": answer.attempt,
                "status": answer.status,
                "text": answer.text,
                "late": answer.late,
                "score": None
                if score is None
                else {
                    "level": score.level,
                    "confidence": score.confidence,
                    "insufficient": score.insufficient,
                    "model_id": score.model_id,
                    # why a level was capped (keyword list, near-duplicate ...): `scoring.checks`
                    "flags": list((score.evidence or {}).get("flags") or []),
                },
                "voice": None
                if clip is None or clip.status == "refused"
                else {
                    "duration_seconds": clip.duration,
                    "language": clip.language,
                    "model": clip.model,
                    "avg_logprob": clip.avg_logprob,
                    "no_speech_prob": clip.no_speech_prob,
                    "confirmed_by_candidate": clip.uncertain,
                    "segments": [
                        {k: s.get(k) for k in ("start", "end", "avg_logprob", "no_speech_prob")}
                        for s in (clip.facts or {}).get("segments", [])
                    ],
                    "recording_kept": clip.audio is not None,
                },
            }
        return list(latest.values())

    return router
