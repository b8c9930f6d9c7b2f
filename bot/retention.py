"""Retention: practice sessions are deleted after a configured number of days.

Practice never reaches HR, and candidates are told how long it is kept; this job keeps that promise.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select

from bot.store import repo
from bot.store.db import Database
from bot.store.models import (
    Answer,
    Application,
    ChannelIdentity,
    Handoff,
    Interview,
    Message,
    OutboxRow,
    Score,
    VoiceClip,
    utcnow,
)


async def purge_practice(db: Database, older_than: timedelta) -> int:
    """Delete practice interviews started before ``now - older_than`` with everything they hold."""
    cutoff = utcnow() - older_than
    async with db.write() as session:
        ids = list(
            (
                await session.exec(
                    select(Interview.id).where(
                        Interview.mode == "practice", col(Interview.created_at) < cutoff
                    )
                )
            ).all()
        )
        if not ids:
            return 0
        answers = select(Answer.id).where(col(Answer.interview_id).in_(ids))
        # Scores hold the practice feedback; answers hold every attempt of every question.
        await session.exec(delete(Score).where(col(Score.answer_id).in_(answers)))
        await session.exec(delete(Answer).where(col(Answer.interview_id).in_(ids)))
        await session.exec(delete(Handoff).where(col(Handoff.interview_id).in_(ids)))
        # An application made after a practice session stays the candidate's; only its link goes.
        await session.exec(
            update(Application)
            .where(col(Application.source_interview_id).in_(ids))
            .values(source_interview_id=None)
        )
        in_practice = col(Message.interview_id).in_(ids)
        practice_messages = select(Message.id).where(in_practice)
        await session.exec(
            delete(VoiceClip).where(
                col(VoiceClip.message_id).in_(practice_messages)
                | col(VoiceClip.merged_into_id).in_(practice_messages)
            )
        )
        await session.exec(
            delete(OutboxRow).where(col(OutboxRow.message_id).in_(select(Message.id).where(in_practice)))
        )
        await session.exec(
            update(Message)
            .where(col(Message.reply_to_id).in_(select(Message.id).where(in_practice)))
            .values(reply_to_id=None)
        )
        await session.exec(delete(Message).where(in_practice))
        await session.exec(
            update(ChannelIdentity)
            .where(col(ChannelIdentity.active_interview_id).in_(ids))
            .values(active_interview_id=None)
        )
        await session.exec(delete(Interview).where(col(Interview.id).in_(ids)))
        await repo.audit(session, "practice.purged", interviews=len(ids), older_than_days=older_than.days)
    await db.scrub()
    return len(ids)


CONFIRMATION_WINDOW = timedelta(days=1)
"""With ``keep_audio_days: 0`` a recording waits at most this long for the candidate to confirm
its transcript; then it goes (the transcript stays)."""


async def purge_audio(db: Database, keep_days: int) -> int:
    """Delete recordings older than ``keep_days`` days (``voice.keep_audio_days``; with 0, those
    transcribed more than `CONFIRMATION_WINDOW` ago). Recordings never transcribed (the process
    stopped first) stay until their conversation goes on or is erased. Returns how many went."""
    cutoff = utcnow() - (timedelta(days=keep_days) if keep_days > 0 else CONFIRMATION_WINDOW)
    async with db.write() as session:
        deleted = (
            await session.exec(
                update(VoiceClip)
                .where(
                    col(VoiceClip.audio).is_not(None),
                    col(VoiceClip.status) != "received",
                    col(VoiceClip.created_at) < cutoff,
                )
                .values(audio=None, audio_deleted_at=utcnow())
            )
        ).rowcount
        if deleted:
            await repo.audit(session, "voice.audio_purged", recordings=deleted, keep_days=keep_days)
    return int(deleted or 0)
