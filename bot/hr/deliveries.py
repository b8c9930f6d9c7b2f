"""The webhook delivery log and replays (`bot.hr.webhooks` writes one row per attempt).

`deliveries` lists attempts newest first, each with its event's outbox state; `replay` queues an
event again: a new outbox row with the same body (so the same ``X-Interviewer-Delivery`` id, for
the receiver's deduplication), signed anew when sent, retried with the same backoff, and marked
with ``X-Interviewer-Replay: 1``. An event whose outbox row was purged (``outbox.keep_days``) or
erased with its candidate cannot be replayed: its body is no longer kept.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.hr import webhooks
from bot.hr.accounts import record
from bot.hr.auth import Principal
from bot.outbox import enqueue
from bot.store.db import Database
from bot.store.models import OutboxRow, WebhookDelivery


class ReplayError(LookupError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class DeliveryAttempt(BaseModel):
    id: int
    outbox_id: int | None
    event: str
    delivery: str
    """The ``X-Interviewer-Delivery`` id."""
    url: str
    attempt: int
    status_code: int | None
    outcome: str
    """``delivered``, ``retry`` or ``refused``."""
    error: str | None
    duration_ms: float | None
    created_at: datetime
    state: str | None
    """The event's outbox state now (``scheduled``, ``sending``, ``sent``, ``failed``), or None
    once the row is purged."""
    replayable: bool


class WebhookEvent(BaseModel):
    outbox_id: int
    event: str
    delivery: str
    state: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    replay: bool


class Replayed(BaseModel):
    outbox_id: int
    """The new outbox row that delivers the replay."""
    replay_of: int
    event: str
    delivery: str


async def deliveries(
    session: AsyncSession, *, event: str | None = None, outcome: str | None = None, limit: int = 200
) -> list[DeliveryAttempt]:
    statement = select(WebhookDelivery).order_by(col(WebhookDelivery.id).desc()).limit(limit)
    if event:
        statement = statement.where(WebhookDelivery.event == event)
    if outcome:
        statement = statement.where(WebhookDelivery.outcome == outcome)
    rows = list((await session.exec(statement)).all())
    outbox_ids = {row.outbox_id for row in rows if row.outbox_id is not None}
    states: dict[int, str] = {}
    if outbox_ids:
        states = {
            outbox_id: state
            for outbox_id, state in (
                await session.exec(
                    select(OutboxRow.id, OutboxRow.state).where(col(OutboxRow.id).in_(list(outbox_ids)))
                )
            ).all()
            if outbox_id is not None
        }
    return [
        DeliveryAttempt(
            id=row.id or 0,
            outbox_id=row.outbox_id,
            event=row.event,
            delivery=row.delivery,
            url=row.url,
            attempt=row.attempt,
            status_code=row.status_code,
            outcome=row.outcome,
            error=row.error,
            duration_ms=row.duration_ms,
            created_at=row.created_at,
            state=states.get(row.outbox_id) if row.outbox_id is not None else None,
            replayable=row.outbox_id in states,
        )
        for row in rows
    ]


async def events(session: AsyncSession, *, limit: int = 200) -> list[WebhookEvent]:
    """The events queued for the HR system (outbox rows of the webhook channel), newest first:
    also those not attempted yet."""
    rows = (
        await session.exec(
            select(OutboxRow)
            .where(OutboxRow.channel == webhooks.CHANNEL)
            .order_by(col(OutboxRow.id).desc())
            .limit(limit)
        )
    ).all()
    return [
        WebhookEvent(
            outbox_id=row.id or 0,
            event=row.kind,
            delivery=str(row.payload.get("id", "")),
            state=row.state,
            attempts=row.attempts,
            last_error=row.last_error,
            created_at=row.created_at,
            sent_at=row.sent_at,
            replay=webhooks.REPLAY_MARK in row.idempotency_key,
        )
        for row in rows
    ]


async def replay(db: Database, who: Principal, outbox_id: int) -> Replayed:
    """Queue the event of outbox row ``outbox_id`` again (audited); raises `ReplayError` (404 no
    such event, 409 still pending)."""
    async with db.write() as session:
        row = await session.get(OutboxRow, outbox_id)
        if row is None or row.channel != webhooks.CHANNEL:
            raise ReplayError(f"no webhook event {outbox_id} (purged after outbox.keep_days, or erased)", 404)
        if row.state in {"scheduled", "sending"}:
            raise ReplayError(f"event {outbox_id} is still being delivered ({row.state})", 409)
        delivery = str(row.payload.get("id", row.idempotency_key))
        base = row.idempotency_key.split(webhooks.REPLAY_MARK, 1)[0]
        new = await enqueue(
            session,
            channel=webhooks.CHANNEL,
            recipient=row.recipient,
            kind=row.kind,
            payload=dict(row.payload),
            idempotency_key=f"{base[:150]}{webhooks.REPLAY_MARK}{uuid.uuid4().hex[:16]}",
            candidate_id=row.candidate_id,
        )
        record(
            session,
            who.actor,
            "webhook.replayed",
            target=f"outbox:{outbox_id}",
            changes={"event": row.kind, "delivery": delivery, "replay": new.id},
        )
    return Replayed(outbox_id=new.id or 0, replay_of=outbox_id, event=row.kind, delivery=delivery)
