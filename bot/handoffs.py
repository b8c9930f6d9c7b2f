"""HR's side of handoffs: listing them, answering them, and getting the answer to the candidate.

A handoff is a question the bot could not answer (or a request for a human). HR list the open
ones and answer them (`interviewer handoffs ...`, or ``/hr/handoffs`` in the API). The answer is
stored as an outbound message of the candidate's conversation, marked undelivered. On channels
that can message first (Telegram, WeChat) the same transaction queues it in the outbox
(`bot.outbox`), which pushes it and marks it delivered; the other channels hand it over with their
next reply. On HR's approval the question and answer join the FAQ (table ``faq_addition``) and the
knowledge base is rebuilt with them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from sqlmodel import col, select

from actions.responses import Responses
from bot.outbox import can_push, conversation_key, enqueue, message_payload
from bot.store import repo
from bot.store.db import Database
from bot.store.models import ChannelIdentity, FaqAddition, Handoff, Interview, Message, utcnow

log = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 4000


class HandoffError(Exception):
    """HR asked for something that can't be done; ``status`` is the HTTP status it maps to."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class HandoffView:
    id: int
    kind: str
    status: str
    text: str
    language: str
    role: str | None
    answer: str | None
    faq_entry_id: str | None
    created_at: str


async def list_handoffs(db: Database, status: Literal["open", "answered"] | None = None) -> list[HandoffView]:
    async with db.read() as session:
        statement = select(Handoff, Interview.role).outerjoin(
            Interview, col(Interview.id) == col(Handoff.interview_id)
        )
        if status is not None:
            statement = statement.where(Handoff.status == status)
        rows = (await session.exec(statement.order_by(col(Handoff.id)))).all()
    return [
        HandoffView(
            id=handoff.id or 0,
            kind=handoff.kind,
            status=handoff.status,
            text=handoff.text,
            language=handoff.language,
            role=role,
            answer=handoff.answer,
            faq_entry_id=handoff.faq_entry_id,
            created_at=handoff.created_at.isoformat(),
        )
        for handoff, role in rows
    ]


async def answer_handoff(
    db: Database, responses: Responses, handoff_id: int, answer: str, *, add_to_faq: bool = False
) -> HandoffView:
    """Record HR's answer, queue it for the candidate, and (on approval) add it to the FAQ.

    A process that delivers the outbox sends it on push channels within ``outbox.poll_seconds``
    (at once in this process after `Outbox.notify`).

    Raises:
        HandoffError: no such handoff (404), already answered (409), empty or overlong answer (422),
            or an FAQ addition for a request that is not a question (422).
    """
    answer = answer.strip()
    if not answer or len(answer) > MAX_ANSWER_CHARS:
        raise HandoffError(f"the answer must have 1 to {MAX_ANSWER_CHARS} characters", 422)
    async with db.write() as session:
        handoff = (
            await session.exec(select(Handoff).where(Handoff.id == handoff_id).with_for_update())
        ).first()
        if handoff is None:
            raise HandoffError(f"no handoff {handoff_id}", 404)
        if handoff.status != "open":
            raise HandoffError(f"handoff {handoff_id} is already answered", 409)
        if add_to_faq and handoff.kind != "question":
            raise HandoffError("only a candidate's question can join the FAQ", 422)
        handoff.status = "answered"
        handoff.answer = answer
        handoff.answered_at = utcnow()
        interview = await session.get(Interview, handoff.interview_id) if handoff.interview_id else None
        if add_to_faq:
            handoff.faq_entry_id = f"hr_{handoff_id}"
            session.add(
                FaqAddition(
                    entry_id=handoff.faq_entry_id,
                    scope=interview.role if interview else "company",
                    language=handoff.language,
                    question=handoff.text,
                    answer=answer,
                    handoff_id=handoff_id,
                )
            )
        identity = None
        if handoff.candidate_id is not None:
            identity = (
                await session.exec(
                    select(ChannelIdentity)
                    .where(ChannelIdentity.candidate_id == handoff.candidate_id)
                    .order_by(col(ChannelIdentity.last_seen_at).desc())
                )
            ).first()
        if identity is not None:
            text = (
                responses.render("handoff_answer", handoff.language, question=handoff.text, answer=answer)
                if handoff.kind == "question"
                else answer
            )
            message = Message(
                identity_id=identity.id,
                interview_id=handoff.interview_id,
                channel=identity.channel,
                direction="out",
                text=text,
                processed=True,
                delivered=False,
            )
            session.add(message)
            await session.flush()
            if can_push(identity.channel):
                assert identity.id is not None
                await enqueue(
                    session,
                    channel=identity.channel,
                    recipient=identity.external_id,
                    kind="handoff_answer",
                    payload=message_payload(text),
                    idempotency_key=f"handoff:{handoff_id}",
                    ordering_key=conversation_key(identity.id),
                    identity_id=identity.id,
                    candidate_id=identity.candidate_id,
                    message_id=message.id,
                )
        await repo.audit(
            session,
            "handoff.answered",
            candidate_id=handoff.candidate_id,
            interview_id=handoff.interview_id,
            handoff_id=handoff_id,
            added_to_faq=add_to_faq,
        )
        await session.flush()
        return HandoffView(
            id=handoff_id,
            kind=handoff.kind,
            status=handoff.status,
            text=handoff.text,
            language=handoff.language,
            role=interview.role if interview else None,
            answer=answer,
            faq_entry_id=handoff.faq_entry_id,
            created_at=handoff.created_at.isoformat(),
        )
