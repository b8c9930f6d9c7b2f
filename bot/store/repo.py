"""Queries and writes the conversation service and the engine share."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store.models import (
    Answer,
    AnswerRating,
    Application,
    AuditEvent,
    CampaignCandidate,
    Candidate,
    CandidateNote,
    ChannelIdentity,
    Decision,
    Exemplar,
    FaqAddition,
    Handoff,
    Hire,
    HrAudit,
    Interview,
    InterviewSlot,
    Invitation,
    Message,
    OutboxRow,
    Score,
    ScoreOverride,
    SlotInvitation,
    VoiceClip,
    utcnow,
)

CANDIDATE_CONTENT = {"note", "reason", "text"}
"""Fields of HR's audit entries that may hold words about a candidate: redacted on erasure."""
REDACTED_NOTE = "[redacted: the candidate was erased]"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def sender_key(key: bytes, channel: str, sender_id: str) -> str:
    """A sender's platform id as stored beside their messages: a keyed hash (HMAC-SHA256 with
    ``INTERVIEWER_ID_KEY``), so a message id is scoped by its sender, and the row kept when a
    candidate is erased names nobody, not even to someone who guesses the id."""
    digest = hmac.new(key, f"{channel}\x00{sender_id}".encode(), hashlib.sha256).hexdigest()
    return digest[:32]


_WEB_SENDER = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}):(.+)$")


async def scope_message_ids(session: AsyncSession, key: bytes) -> int:
    """Give inbound messages stored before migration 0005c their ``sender_key`` (the key is a secret
    that migrations do not read); returns how many rows changed. Idempotent, and cheap once done.

    The REST and web channels used to scope their ids themselves, by a prefix (an unkeyed hash of
    the sender, or the web page's sender id itself); the prefix comes off, so a retry that straddles
    the upgrade is still recognised. A row whose sender is unknown (kept from an erased REST
    conversation) is left as it was: no new message can match it.
    """
    rows = (
        await session.exec(
            select(Message, ChannelIdentity.external_id)
            .outerjoin(ChannelIdentity, col(ChannelIdentity.id) == col(Message.identity_id))
            .where(
                Message.direction == "in",
                col(Message.sender_key).is_(None),
                col(Message.platform_message_id).is_not(None),
            )
        )
    ).all()
    changed = 0
    for message, external_id in rows:
        platform_id = message.platform_message_id or ""
        sender = external_id
        if message.channel == "web":
            prefixed = _WEB_SENDER.match(platform_id)
            if prefixed is not None and (sender is None or sender == prefixed.group(1)):
                sender, platform_id = prefixed.group(1), prefixed.group(2)
        elif message.channel == "rest" and sender is not None:
            platform_id = platform_id.removeprefix(f"{hashlib.sha256(sender.encode()).hexdigest()[:20]}:")
        if sender is None:
            continue
        scoped = sender_key(key, message.channel, sender)
        taken = (
            await session.exec(
                select(Message.id).where(
                    Message.channel == message.channel,
                    Message.sender_key == scoped,
                    Message.platform_message_id == platform_id,
                )
            )
        ).first()
        if taken is not None:  # stored again, scoped, by a process that started earlier
            continue
        message.sender_key = scoped
        message.platform_message_id = platform_id
        session.add(message)
        changed += 1
    return changed


async def question_answers(
    session: AsyncSession, interview_id: int, question_id: str, attempt: int = 1
) -> list[str]:
    """The texts of one attempt at a question: the answer and its follow-ups, in order."""
    rows = await session.exec(
        select(Answer.text)
        .where(
            Answer.interview_id == interview_id,
            Answer.question_id == question_id,
            Answer.attempt == attempt,
            Answer.status == "answered",
        )
        .order_by(col(Answer.id))
    )
    return list(rows.all())


async def last_answer(session: AsyncSession, interview_id: int) -> Answer | None:
    """The interview's most recent answer row (answered or skipped)."""
    statement = select(Answer).where(Answer.interview_id == interview_id).order_by(col(Answer.id).desc())
    return (await session.exec(statement.limit(1))).first()


async def earlier_feedback(
    session: AsyncSession, interview_id: int, question_id: str, attempt: int
) -> dict[str, Any] | None:
    """The practice feedback last shown for a question before ``attempt``: what a retry is compared
    with (stored in the score's evidence, so it survives restarts)."""
    rows = await session.exec(
        select(Score.evidence)
        .join(Answer, col(Answer.id) == col(Score.answer_id))
        .where(
            Answer.interview_id == interview_id,
            Answer.question_id == question_id,
            col(Answer.attempt) < attempt,
        )
        .order_by(col(Answer.attempt).desc(), col(Score.id).desc())
    )
    for evidence in rows.all():
        feedback = (evidence or {}).get("feedback")
        if feedback:
            return dict(feedback)
    return None


async def interview_answer_texts(session: AsyncSession, interview_id: int) -> list[str]:
    """The texts of an interview's answers, in order (skipped questions have none)."""
    statement = (
        select(Answer.text)
        .where(Answer.interview_id == interview_id, Answer.status == "answered")
        .order_by(col(Answer.id))
    )
    return [text for text in (await session.exec(statement)).all() if text]


async def progress(session: AsyncSession, interview_id: int) -> dict[str, int]:
    """How many questions were answered and skipped (follow-ups don't count as questions)."""
    rows = await session.exec(
        select(Answer.status, func.count(func.distinct(Answer.question_id)))
        .where(Answer.interview_id == interview_id, col(Answer.follow_up_id).is_(None))
        .group_by(Answer.status)
    )
    counts = {"answered": 0, "skipped": 0}
    for status, count in rows.all():
        counts[status] = int(count)
    return counts


async def latest_scores(session: AsyncSession, interview_id: int) -> list[tuple[Answer, Score]]:
    """The newest score of each question's latest scored attempt, with its answer (a practice
    retry replaces the earlier attempt even if the backlog scored that one later)."""
    rows = await session.exec(
        select(Answer, Score)
        .join(Score, col(Score.answer_id) == col(Answer.id))
        .where(Answer.interview_id == interview_id)
        .order_by(col(Answer.attempt), col(Score.id))
    )
    newest: dict[str, tuple[Answer, Score]] = {}
    for answer, score in rows.all():
        newest[answer.question_id] = (answer, score)
    return list(newest.values())


async def find_invitation(session: AsyncSession, token: str) -> Invitation | None:
    invitation = (
        await session.exec(select(Invitation).where(Invitation.token_hash == token_hash(token)))
    ).first()
    if invitation is None:
        return None
    if invitation.expires_at is not None and invitation.expires_at < utcnow():
        return None
    return invitation


def campaign_ordering_key(member_id: int) -> str:
    """The outbox ordering key of one campaign candidate's messages (`bot.campaigns`)."""
    return f"campaign-candidate:{member_id}"


async def delete_campaign_messages(session: AsyncSession, member_ids: Sequence[int]) -> None:
    """Delete campaign candidates' outbox rows (texts with their links), sent or not."""
    keys = [campaign_ordering_key(i) for i in member_ids]
    await session.exec(delete(OutboxRow).where(col(OutboxRow.ordering_key).in_(keys)))


async def erase_campaign_candidates(session: AsyncSession, member_ids: Sequence[int]) -> int:
    """Delete campaign candidates: contact data, external id hash and queued messages."""
    if not member_ids:
        return 0
    await delete_campaign_messages(session, member_ids)
    await session.exec(
        update(SlotInvitation)
        .where(col(SlotInvitation.member_id).in_(list(member_ids)))
        .values(member_id=None)
    )
    result = await session.exec(
        delete(CampaignCandidate).where(col(CampaignCandidate.id).in_(list(member_ids)))
    )
    return int(result.rowcount)


async def audit(
    session: AsyncSession,
    kind: str,
    *,
    candidate_id: int | None = None,
    interview_id: int | None = None,
    **detail: Any,
) -> None:
    session.add(AuditEvent(kind=kind, candidate_id=candidate_id, interview_id=interview_id, detail=detail))


async def erase_candidate(
    session: AsyncSession, candidate_id: int, keep_message_id: int | None
) -> dict[str, int]:
    """Erase everything about a candidate; keep one anonymous audit line.

    ``keep_message_id`` is the message that asked for the erasure: its row stays, emptied and
    unlinked, because it is the deduplication key that stops a redelivery from acting twice.
    """
    interview_ids = list(
        (await session.exec(select(Interview.id).where(Interview.candidate_id == candidate_id))).all()
    )
    identity_ids = list(
        (
            await session.exec(select(ChannelIdentity.id).where(ChannelIdentity.candidate_id == candidate_id))
        ).all()
    )
    answer_ids = select(Answer.id).where(col(Answer.interview_id).in_(interview_ids))
    counts: dict[str, int] = {"interviews": len(interview_ids)}
    # HR's ratings of the candidate's answers, and the exemplars HR made from them: the exemplar is
    # a copy of the candidate's words, so it goes too (the question's scorer is rebuilt without it).
    counts["answer_ratings"] = (
        await session.exec(delete(AnswerRating).where(col(AnswerRating.candidate_id) == candidate_id))
    ).rowcount
    counts["exemplars"] = (
        await session.exec(delete(Exemplar).where(col(Exemplar.answer_id).in_(answer_ids)))
    ).rowcount
    counts["scores"] = (
        await session.exec(delete(Score).where(col(Score.answer_id).in_(answer_ids)))
    ).rowcount
    counts["answers"] = (
        await session.exec(delete(Answer).where(col(Answer.interview_id).in_(interview_ids)))
    ).rowcount
    handoff_ids = select(Handoff.id).where(col(Handoff.candidate_id) == candidate_id)
    # An FAQ entry HR made from the candidate's question is HR's text now: it stays, unlinked.
    await session.exec(
        update(FaqAddition).where(col(FaqAddition.handoff_id).in_(handoff_ids)).values(handoff_id=None)
    )
    await session.exec(delete(Handoff).where(col(Handoff.candidate_id) == candidate_id))
    # Next-round slot invitations go; a booked slot frees its place.
    slot_ids = (
        await session.exec(
            select(SlotInvitation.slot_id).where(
                SlotInvitation.candidate_id == candidate_id, SlotInvitation.state == "booked"
            )
        )
    ).all()
    for slot_id in slot_ids:
        await session.exec(
            update(InterviewSlot)
            .where(col(InterviewSlot.id) == slot_id, col(InterviewSlot.booked) > 0)
            .values(booked=col(InterviewSlot.booked) - 1)
        )
    counts["slot_invitations"] = (
        await session.exec(delete(SlotInvitation).where(col(SlotInvitation.candidate_id) == candidate_id))
    ).rowcount
    # Campaigns: the contact data (sealed), the external id's hash and the queued invitations.
    members = select(col(CampaignCandidate.id)).where(col(CampaignCandidate.candidate_id) == candidate_id)
    counts["campaign_candidates"] = await erase_campaign_candidates(
        session, [i for i in (await session.exec(members)).all() if i is not None]
    )
    counts["applications"] = (
        await session.exec(delete(Application).where(col(Application.candidate_id) == candidate_id))
    ).rowcount
    await session.exec(
        update(Invitation).where(col(Invitation.candidate_id) == candidate_id).values(candidate_id=None)
    )
    if keep_message_id is not None:
        await session.exec(
            update(Message)
            .where(col(Message.id) == keep_message_id)
            .values(text="", identity_id=None, interview_id=None)
        )
    owned = col(Message.identity_id).in_(identity_ids) | col(Message.interview_id).in_(interview_ids)
    # Recordings and their transcripts' details, the erasure request's own included.
    counts["voice_clips"] = (
        await session.exec(
            delete(VoiceClip).where(
                col(VoiceClip.identity_id).in_(identity_ids)
                | col(VoiceClip.message_id).in_(select(Message.id).where(owned))
                | (col(VoiceClip.message_id) == keep_message_id)
            )
        )
    ).rowcount
    await session.exec(
        update(VoiceClip)
        .where(col(VoiceClip.merged_into_id).in_(select(Message.id).where(owned)))
        .values(merged_into_id=None)
    )
    # Queued messages carry texts and platform addresses: sent or not, they go.
    counts["outbox"] = (
        await session.exec(
            delete(OutboxRow).where(
                (col(OutboxRow.candidate_id) == candidate_id)
                | col(OutboxRow.identity_id).in_(identity_ids)
                | col(OutboxRow.message_id).in_(select(Message.id).where(owned))
            )
        )
    ).rowcount
    # Replies point at the messages they answer; unlink them first so deletion order doesn't matter.
    await session.exec(update(Message).where(owned).values(reply_to_id=None))
    await session.exec(
        update(Message)
        .where(col(Message.reply_to_id) == keep_message_id)
        .values(identity_id=None, interview_id=None)
    )
    counts["messages"] = (await session.exec(delete(Message).where(owned))).rowcount
    await session.exec(
        update(ChannelIdentity)
        .where(col(ChannelIdentity.candidate_id) == candidate_id)
        .values(active_interview_id=None)
    )
    # HR's decisions carry notes about the candidate; HR's audit log keeps its entries, unlinked,
    # with the candidate content (a decision's note) redacted and the pseudonymous reference kept.
    counts["decisions"] = (
        await session.exec(delete(Decision).where(col(Decision.candidate_id) == candidate_id))
    ).rowcount
    counts["overrides"] = (
        await session.exec(delete(ScoreOverride).where(col(ScoreOverride.candidate_id) == candidate_id))
    ).rowcount
    counts["notes"] = (
        await session.exec(delete(CandidateNote).where(col(CandidateNote.candidate_id) == candidate_id))
    ).rowcount
    await session.exec(delete(Hire).where(col(Hire.candidate_id) == candidate_id))
    for entry in (await session.exec(select(HrAudit).where(HrAudit.candidate_id == candidate_id))).all():
        entry.candidate_id = None
        entry.changes = {
            name: ({"from": None, "to": REDACTED_NOTE} if name in CANDIDATE_CONTENT else value)
            for name, value in entry.changes.items()
        }
        session.add(entry)
    await session.exec(delete(Interview).where(col(Interview.candidate_id) == candidate_id))
    await session.exec(delete(ChannelIdentity).where(col(ChannelIdentity.candidate_id) == candidate_id))
    await session.exec(
        update(AuditEvent).where(col(AuditEvent.candidate_id) == candidate_id).values(candidate_id=None)
    )
    await session.exec(delete(Candidate).where(col(Candidate.id) == candidate_id))
    await audit(session, "candidate.erased", **counts)
    return counts
