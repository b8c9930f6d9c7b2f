"""The outbox: every message the bot sends that is not the direct reply to a candidate's message.

What goes through it: replies a push channel could not send at once (a WeChat reply too late for
the passive answer whose customer-service message failed, a Telegram send that failed), HR's
answers to handed-off questions on push channels, and campaign invitations, reminders and
confirmations by email, SMS, WeChat template message or Telegram. Direct replies go back with the
request (REST, web, WeChat's passive reply) or are sent by the channel at once; channels that
cannot push (REST, web) get unprompted messages with the next reply (`Message.delivered` False on
the transcript row), not from here.

Rows (table ``outbox``, `OutboxRow`)
    `enqueue` adds a row inside the caller's transaction, so a step's change of state and the
    message it sends commit together or not at all. ``idempotency_key`` is unique: enqueueing a
    key again returns the first row and adds nothing (a restarted scheduler never queues twice).
    ``ordering_key`` orders delivery: a row is not attempted while an earlier row of its key
    (lower id) is scheduled or sending, so a failing head holds back its successors until it is
    sent or given up. A conversation's rows use `conversation_key`; rows without a key, and rows
    of different keys, go out independently and concurrently. Order is the order of ids, so rows
    of one key should be enqueued by one writer at a time (a conversation's are: its lock).

States
    ``scheduled`` -> ``sending`` (claimed by one process, with a lease) -> ``sent``. A failed
    attempt goes back to ``scheduled`` with ``not_before`` moved by exponential backoff
    (``outbox.retry_base_seconds`` doubling up to ``retry_cap_seconds``, times a random 50-100 %;
    a platform's ``retry_after`` instead when it gives one). A `PermanentDeliveryError`, or
    reaching ``expires_at`` (None: ``created_at`` + ``outbox.expire_after_hours``, 48 h), ends the
    row in ``failed``: counted in ``/health`` and listed by `list_outbox` for HR. `cancel` ends
    scheduled rows in ``cancelled`` (a reminder no longer due). ``last_error`` holds the error's
    class and its text with every configured secret and the recipient removed
    (`bot.secrets.redact`); log lines say the same and never carry a message's text or recipient.

Claims, crashes and duplicates
    A process claims due rows in one short transaction (PostgreSQL: ``SELECT ... FOR UPDATE SKIP
    LOCKED``, then the update to ``sending`` with ``claimed_by`` and a lease ``claimed_until``;
    SQLite serves one process, whose writers are serialised), sends them outside any transaction,
    then records each outcome. No two processes hold a claim on one row at the same time. A
    process that dies mid-send leaves its rows ``sending``; when their lease has passed another
    process claims them and sends again (``last_error`` says so). Delivery is therefore at least
    once, and the only duplicate is a message whose process died between the platform accepting
    it and ``sent`` being committed: SMTP, SMS gateways and the chat platforms take no
    idempotency key. A graceful stop lets the sends under way finish and puts back the rows it
    claimed but had not attempted, so a restart sends nothing twice.

Who delivers
    Every process runs the delivery loop for the channels it has senders for. The claims make
    that safe, so nothing needs handing over when a process dies; the sending is spread over the
    processes; and the process that enqueued a row delivers it at once (`notify`) without having
    to wake another. A poll every ``outbox.poll_seconds`` finds rows that other processes
    enqueued or whose retry came due. Rate limits are a channel's own and per process (Telegram's
    throttle): with N processes, give each 1/N of the platform's limit.

Senders
    `Outbox.register` maps a channel name to ``async def send(item: OutboxItem) -> None``; push
    channels register through `Outbox.register_channel` (their ``send(OutgoingMessage)`` receives
    the text and the buttons). A sender raises `DeliveryError` to be tried again (optionally with
    ``retry_after``) or `PermanentDeliveryError` to give up; any other exception, and an attempt
    longer than ``outbox.send_timeout_seconds``, is tried again like a DeliveryError.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib.metadata import entry_points
from typing import Any, Literal

from sqlalchemy import and_, delete, exists, func, or_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.messages import DeliveryError, OutgoingButton, OutgoingMessage, PermanentDeliveryError, PushChannel
from bot.secrets import redact
from bot.settings import OutboxSettings
from bot.store.db import Database
from bot.store.models import ChannelIdentity, Message, OutboxRow, utcnow

log = logging.getLogger(__name__)

State = Literal["scheduled", "sending", "sent", "failed", "cancelled"]
STATES: tuple[State, ...] = ("scheduled", "sending", "sent", "failed", "cancelled")
PENDING: tuple[State, ...] = ("scheduled", "sending")
FINISHED: tuple[State, ...] = ("sent", "failed", "cancelled")
MAX_ERROR_CHARS = 300
MIN_RETRY_SECONDS = 1.0
"""No retry comes sooner, whatever a platform says: a zero ``retry_after`` must not spin."""

Clock = Callable[[], datetime]


def conversation_key(identity_id: int) -> str:
    """The ordering key of one conversation's messages."""
    return f"conversation:{identity_id}"


def message_payload(text: str, buttons: Sequence[OutgoingButton] = (), **extra: Any) -> dict[str, Any]:
    """A chat message's payload: its text, its buttons, and whatever else its kind needs."""
    payload: dict[str, Any] = {"text": text, **extra}
    if buttons:
        payload["buttons"] = [{"title": button.title, "payload": button.payload} for button in buttons]
    return payload


@dataclass(frozen=True)
class OutboxItem:
    """A claimed row, as its sender receives it."""

    id: int
    channel: str
    recipient: str
    """The platform address (chat id, openid) or a reference the sender resolves (``contact:7``)."""
    kind: str
    payload: dict[str, Any]
    attempt: int
    """1 for the first attempt."""
    idempotency_key: str
    identity_id: int | None
    candidate_id: int | None
    message_id: int | None
    created_at: datetime
    expires_at: datetime
    """When the row is given up (its own expiry, or the configured default)."""

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))

    @property
    def buttons(self) -> list[OutgoingButton]:
        return [
            OutgoingButton(str(button["title"]), str(button["payload"]))
            for button in self.payload.get("buttons") or []
        ]

    def message(self) -> OutgoingMessage:
        """The row as a chat message, for a channel's ``send``."""
        return OutgoingMessage(self.recipient, self.text, self.buttons, message_id=self.message_id)


Sender = Callable[[OutboxItem], Awaitable[None]]


@dataclass
class Delivery:
    """What one round of `Outbox.deliver_due` did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    """Given up: expired, or refused for good."""
    released: int = 0
    """Claimed, then put back unattempted because the outbox is stopping."""


@dataclass(frozen=True)
class OutboxView:
    """A row as HR and operators see it: no text, no platform address."""

    id: int
    channel: str
    kind: str
    state: str
    attempts: int
    last_error: str | None
    candidate_id: int | None
    identity_id: int | None
    message_id: int | None
    created_at: str
    not_before: str
    expires_at: str | None
    sent_at: str | None


# --- enqueueing (inside the caller's transaction) ----------------------------------------------------


async def enqueue(
    session: AsyncSession,
    *,
    channel: str,
    recipient: str,
    kind: str,
    payload: dict[str, Any],
    idempotency_key: str,
    ordering_key: str | None = None,
    not_before: datetime | None = None,
    expires_at: datetime | None = None,
    identity_id: int | None = None,
    candidate_id: int | None = None,
    message_id: int | None = None,
) -> OutboxRow:
    """Queue one message in the caller's transaction; it goes out once that transaction commits.

    Enqueueing an ``idempotency_key`` that exists returns the existing row and changes nothing,
    also when another transaction inserts it at the same moment.

    Args:
        channel: the sender's channel (``telegram``, ``wechat``, ``email``, ``sms`` ...).
        recipient: the platform address, or a reference the channel's sender resolves.
        kind: ``reply``, ``handoff_answer``, ``invitation``, ``reminder``, ``confirmation`` ...
        payload: JSON: ``text``, ``buttons`` (``[{"title", "payload"}]``), and the kind's fields.
        idempotency_key: unique per message (at most 200 characters).
        ordering_key: rows of one key are delivered in the order they were enqueued.
        not_before: the earliest time of the first attempt (now by default).
        expires_at: given up after this (default: ``outbox.expire_after_hours`` after now).
        identity_id, candidate_id: whose message it is, so that erasure reaches it.
        message_id: the transcript row it delivers; marked delivered when sent.

    Raises:
        ValueError: a key, the recipient or the channel is too long, or the payload is not a mapping.
    """
    row, _ = await _enqueue(
        session,
        channel=channel,
        recipient=recipient,
        kind=kind,
        payload=payload,
        idempotency_key=idempotency_key,
        ordering_key=ordering_key,
        not_before=not_before,
        expires_at=expires_at,
        identity_id=identity_id,
        candidate_id=candidate_id,
        message_id=message_id,
    )
    return row


async def _enqueue(session: AsyncSession, **values: Any) -> tuple[OutboxRow, bool]:
    """`enqueue`, and whether the row is new."""
    limits = {"channel": 32, "recipient": 255, "kind": 32, "idempotency_key": 200, "ordering_key": 200}
    for name, limit in limits.items():
        value = values[name]
        if value is not None and (not value or len(value) > limit):
            raise ValueError(f"outbox: {name} must have 1 to {limit} characters")
    if not isinstance(values["payload"], dict):
        raise ValueError("outbox: the payload must be a JSON object")
    now = utcnow()
    values.update(state="scheduled", attempts=0, created_at=now, not_before=values["not_before"] or now)
    bind = session.bind
    assert bind is not None
    insert = postgresql_insert if bind.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(OutboxRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(col(OutboxRow.id))
    )
    created = (await session.exec(statement)).first() is not None
    row = (
        await session.exec(select(OutboxRow).where(OutboxRow.idempotency_key == values["idempotency_key"]))
    ).one()
    return row, created


async def queue_replies(
    session: AsyncSession,
    identity: ChannelIdentity,
    replies: Sequence[OutgoingMessage],
    *,
    key: str | None = None,
    kind: str = "reply",
) -> list[OutboxRow]:
    """Queue a conversation's messages that its channel could not send, in order, with buttons.

    A reply that is a transcript row (``message_id``) is keyed by it, so queueing it again adds
    nothing, and the row is marked undelivered until the outbox sends it. Others are keyed by
    ``key`` (the platform id of the message they answer, say) and their position.
    """
    assert identity.id is not None
    base = key if key is not None else uuid.uuid4().hex
    digest = hashlib.sha256(f"{identity.id}\x00{base}".encode()).hexdigest()[:32]
    rows = []
    for index, reply in enumerate(replies):
        idempotency_key = (
            f"message:{reply.message_id}" if reply.message_id is not None else f"{kind}:{digest}:{index}"
        )
        row, created = await _enqueue(
            session,
            channel=identity.channel,
            recipient=identity.external_id,
            kind=kind,
            payload=message_payload(reply.text, reply.buttons),
            idempotency_key=idempotency_key,
            ordering_key=conversation_key(identity.id),
            not_before=None,
            expires_at=None,
            identity_id=identity.id,
            candidate_id=identity.candidate_id,
            message_id=reply.message_id,
        )
        if created and reply.message_id is not None:
            await session.exec(
                update(Message).where(col(Message.id) == reply.message_id).values(delivered=False)
            )
        rows.append(row)
    return rows


async def cancel(
    session: AsyncSession,
    *,
    idempotency_keys: Sequence[str] = (),
    ordering_key: str | None = None,
    candidate_id: int | None = None,
    kinds: Sequence[str] = (),
) -> int:
    """Cancel the scheduled rows that match every filter given (at least one of the keys or the
    candidate); returns how many. A row being sent right now is not stopped."""
    if not idempotency_keys and ordering_key is None and candidate_id is None:
        raise ValueError("outbox.cancel needs idempotency keys, an ordering key or a candidate")
    conditions: list[ColumnElement[bool]] = [col(OutboxRow.state) == "scheduled"]
    if idempotency_keys:
        conditions.append(col(OutboxRow.idempotency_key).in_(list(idempotency_keys)))
    if ordering_key is not None:
        conditions.append(col(OutboxRow.ordering_key) == ordering_key)
    if candidate_id is not None:
        conditions.append(col(OutboxRow.candidate_id) == candidate_id)
    if kinds:
        conditions.append(col(OutboxRow.kind).in_(list(kinds)))
    result = await session.exec(update(OutboxRow).where(*conditions).values(state="cancelled"))
    return int(result.rowcount)


@cache
def can_push(channel: str) -> bool:
    """Whether the installed channel plug-in ``channel`` can message a candidate first (it has
    ``send``): its unprompted messages go through the outbox; other channels' wait for the
    candidate's next message."""
    for entry_point in entry_points(group="interviewer.channels"):
        if entry_point.name == channel:
            return callable(getattr(entry_point.load(), "send", None))
    return False


# --- delivery ----------------------------------------------------------------------------------------


class Outbox:
    """Delivers due rows through the registered senders; see the module docstring.

    Args:
        db: the database.
        settings: ``outbox`` in config.yml.
        clock: the time (tests pass a fake one).
        jitter: a random number in [0, 1) that spreads retries (tests pass a fixed one).
        worker: this process's name in ``claimed_by``.
    """

    enqueue = staticmethod(enqueue)
    cancel = staticmethod(cancel)

    def __init__(
        self,
        db: Database,
        settings: OutboxSettings | None = None,
        *,
        clock: Clock = utcnow,
        jitter: Callable[[], float] = random.random,
        worker: str | None = None,
    ) -> None:
        self.db = db
        self.settings = settings or OutboxSettings()
        self.clock = clock
        self.jitter = jitter
        self.worker = worker or f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.senders: dict[str, Sender] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def register(self, channel: str, sender: Sender) -> None:
        """Deliver ``channel``'s rows through ``sender``."""
        self.senders[channel] = sender

    def register_channel(self, channel: PushChannel) -> None:
        """Deliver a push channel's rows through its ``send`` (text and buttons)."""

        async def send(item: OutboxItem) -> None:
            await channel.send(item.message())

        self.register(channel.name, send)

    def notify(self) -> None:
        """Look for due rows now (after an enqueue) rather than at the next poll."""
        self._wake.set()

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first)."""
        base: float = self.settings.retry_base_seconds * 2.0 ** min(attempt - 1, 30)
        spread = 0.5 + 0.5 * self.jitter()
        return max(MIN_RETRY_SECONDS, min(self.settings.retry_cap_seconds, base) * spread)

    async def deliver_due(self) -> Delivery:
        """One round: claim the due rows, send them (rows of different conversations at the same
        time, up to ``outbox.concurrency``), record each outcome."""
        report = Delivery()
        if not self.senders:
            return report
        items = await self._claim(report)
        semaphore = asyncio.Semaphore(self.settings.concurrency)

        async def attempt(item: OutboxItem) -> None:
            async with semaphore:
                await self._attempt(item, report)

        await asyncio.gather(*(attempt(item) for item in items))
        return report

    async def _claim(self, report: Delivery) -> list[OutboxItem]:
        now = self.clock()
        default_expiry = timedelta(hours=self.settings.expire_after_hours)
        earlier = aliased(OutboxRow)
        blocked = exists().where(
            col(earlier.ordering_key) == col(OutboxRow.ordering_key),
            col(earlier.id) < col(OutboxRow.id),
            col(earlier.state).in_(PENDING),
        )
        due = or_(
            and_(col(OutboxRow.state) == "scheduled", col(OutboxRow.not_before) <= now),
            and_(col(OutboxRow.state) == "sending", col(OutboxRow.claimed_until) < now),
        )
        statement = (
            select(OutboxRow)
            .where(col(OutboxRow.channel).in_(sorted(self.senders)), due, ~blocked)
            .order_by(col(OutboxRow.id))
            .limit(self.settings.batch_size)
            .with_for_update(skip_locked=True, of=OutboxRow)
        )
        items = []
        async with self.db.write() as session:
            for row in (await session.exec(statement)).all():
                assert row.id is not None
                report.claimed += 1
                expires_at = row.expires_at or row.created_at + default_expiry
                if expires_at <= now:
                    row.state = "failed"
                    last = f"; last error: {row.last_error}" if row.last_error else ""
                    row.last_error = _clip(f"Expired: not delivered after {row.attempts} attempt(s){last}")
                    row.claimed_by = row.claimed_until = None
                    report.failed += 1
                    log.warning(
                        "outbox: gave up %s %d on %s: expired after %d attempt(s)",
                        row.kind,
                        row.id,
                        row.channel,
                        row.attempts,
                    )
                    continue
                if row.state == "sending":
                    row.last_error = (
                        "LeaseExpired: its sender stopped mid-send; sending again (may duplicate)"
                    )
                    log.warning(
                        "outbox: %s %d was claimed by a process that stopped; sending again", row.kind, row.id
                    )
                row.state = "sending"
                row.claimed_by = self.worker
                row.claimed_until = now + timedelta(seconds=self.settings.lease_seconds)
                row.attempts += 1
                items.append(
                    OutboxItem(
                        id=row.id,
                        channel=row.channel,
                        recipient=row.recipient,
                        kind=row.kind,
                        payload=dict(row.payload),
                        attempt=row.attempts,
                        idempotency_key=row.idempotency_key,
                        identity_id=row.identity_id,
                        candidate_id=row.candidate_id,
                        message_id=row.message_id,
                        created_at=row.created_at,
                        expires_at=expires_at,
                    )
                )
        return items

    async def _attempt(self, item: OutboxItem, report: Delivery) -> None:
        if self._stopping:
            await self._release(item)
            report.released += 1
            return
        try:
            await asyncio.wait_for(self.senders[item.channel](item), self.settings.send_timeout_seconds)
        except PermanentDeliveryError as exc:
            await self._give_up(item, describe_error(exc, item.recipient))
            report.failed += 1
        except Exception as exc:  # DeliveryError, a timeout, or a sender's own bug: all tried again
            retry_after = exc.retry_after if isinstance(exc, DeliveryError) else None
            if await self._retry_later(item, describe_error(exc, item.recipient), retry_after):
                report.retried += 1
            else:
                report.failed += 1
        else:
            await self._mark_sent(item)
            report.sent += 1

    async def _mark_sent(self, item: OutboxItem) -> None:
        async with self.db.write() as session:
            # Whoever holds the claim now: the message went out, so the row is sent.
            await session.exec(
                update(OutboxRow)
                .where(col(OutboxRow.id) == item.id, col(OutboxRow.state) == "sending")
                .values(state="sent", sent_at=self.clock(), claimed_by=None, claimed_until=None)
            )
            if item.message_id is not None:
                await session.exec(
                    update(Message).where(col(Message.id) == item.message_id).values(delivered=True)
                )

    async def _retry_later(self, item: OutboxItem, error: str, retry_after: float | None) -> bool:
        """Schedule the next attempt; False when it would come after the row expires (given up)."""
        wait = max(MIN_RETRY_SECONDS, retry_after) if retry_after is not None else self.backoff(item.attempt)
        next_attempt = self.clock() + timedelta(seconds=wait)
        if next_attempt >= item.expires_at:
            await self._give_up(item, f"{error}; no attempt left before it expires")
            return False
        async with self.db.write() as session:
            await session.exec(
                update(OutboxRow)
                .where(*self._mine(item))
                .values(
                    state="scheduled",
                    not_before=next_attempt,
                    claimed_by=None,
                    claimed_until=None,
                    last_error=_clip(error),
                )
            )
        log.warning(
            "outbox: %s %d on %s, attempt %d failed (%s); next attempt in %.0f s",
            item.kind,
            item.id,
            item.channel,
            item.attempt,
            error,
            wait,
        )
        return True

    async def _give_up(self, item: OutboxItem, error: str) -> None:
        async with self.db.write() as session:
            await session.exec(
                update(OutboxRow)
                .where(*self._mine(item))
                .values(state="failed", claimed_by=None, claimed_until=None, last_error=_clip(error))
            )
        log.warning(
            "outbox: gave up %s %d on %s after %d attempt(s): %s",
            item.kind,
            item.id,
            item.channel,
            item.attempt,
            error,
        )

    async def _release(self, item: OutboxItem) -> None:
        async with self.db.write() as session:
            await session.exec(
                update(OutboxRow)
                .where(*self._mine(item))
                .values(
                    state="scheduled",
                    attempts=OutboxRow.attempts - 1,
                    claimed_by=None,
                    claimed_until=None,
                )
            )

    def _mine(self, item: OutboxItem) -> list[ColumnElement[bool]]:
        """This process's claim on the row (a lapsed claim taken over by another is not ours)."""
        return [
            col(OutboxRow.id) == item.id,
            col(OutboxRow.state) == "sending",
            col(OutboxRow.claimed_by) == self.worker,
        ]

    # --- the loop ------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver until `stop`: a round whenever woken (`notify`) or every ``poll_seconds``, and
        at once again after a round that sent something (the next of a conversation may be due)."""
        while not self._stopping:
            self._wake.clear()
            try:
                report = await self.deliver_due()
            except Exception as exc:  # the database is away: rows wait, the next round retries
                log.error("outbox: a delivery round failed: %s", describe_error(exc))
                report = Delivery()
            if self._stopping:
                return
            if report.sent or report.claimed >= self.settings.batch_size:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds)

    def start(self) -> None:
        """Run the delivery loop in the background."""
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name="outbox")

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Let the sends under way finish (up to ``grace_seconds``), put back what was claimed but
        not attempted, and end the loop."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), grace_seconds)
        except TimeoutError:
            log.warning(
                "outbox: sends still under way after %.0f s; their rows will be retried", grace_seconds
            )
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# --- what HR and operators see -------------------------------------------------------------------------


async def outbox_counts(db: Database) -> dict[str, int]:
    """How many rows wait (``scheduled``), are being sent, and were given up (``failed``)."""
    async with db.read() as session:
        rows = (
            await session.exec(
                select(OutboxRow.state, func.count())
                .where(col(OutboxRow.state).in_(["scheduled", "sending", "failed"]))
                .group_by(OutboxRow.state)
            )
        ).all()
    counts = {"scheduled": 0, "sending": 0, "failed": 0}
    counts.update({state: int(count) for state, count in rows})
    return counts


async def list_outbox(
    db: Database,
    *,
    state: State | None = None,
    channel: str | None = None,
    kind: str | None = None,
    candidate_id: int | None = None,
    limit: int = 100,
) -> list[OutboxView]:
    """Rows, newest first, without their text or address (e.g. ``state="failed"`` for HR)."""
    conditions: list[ColumnElement[bool]] = []
    if state is not None:
        conditions.append(col(OutboxRow.state) == state)
    if channel is not None:
        conditions.append(col(OutboxRow.channel) == channel)
    if kind is not None:
        conditions.append(col(OutboxRow.kind) == kind)
    if candidate_id is not None:
        conditions.append(col(OutboxRow.candidate_id) == candidate_id)
    async with db.read() as session:
        rows = (
            await session.exec(
                select(OutboxRow).where(*conditions).order_by(col(OutboxRow.id).desc()).limit(limit)
            )
        ).all()
    return [
        OutboxView(
            id=row.id or 0,
            channel=row.channel,
            kind=row.kind,
            state=row.state,
            attempts=row.attempts,
            last_error=row.last_error,
            candidate_id=row.candidate_id,
            identity_id=row.identity_id,
            message_id=row.message_id,
            created_at=row.created_at.isoformat(),
            not_before=row.not_before.isoformat(),
            expires_at=row.expires_at.isoformat() if row.expires_at else None,
            sent_at=row.sent_at.isoformat() if row.sent_at else None,
        )
        for row in rows
    ]


async def purge_outbox(db: Database, older_than: timedelta, *, now: datetime | None = None) -> int:
    """Delete finished rows (sent, failed, cancelled) queued before ``now - older_than``."""
    cutoff = (now or utcnow()) - older_than
    async with db.write() as session:
        result = await session.exec(
            delete(OutboxRow).where(col(OutboxRow.state).in_(FINISHED), col(OutboxRow.created_at) < cutoff)
        )
        return int(result.rowcount)


def describe_error(exc: BaseException, recipient: str | None = None) -> str:
    """An error as it may be logged and stored: its class and the first line of its text, with
    secrets and the recipient removed, at most ``MAX_ERROR_CHARS`` long."""
    lines = str(exc).strip().splitlines()
    text = redact(lines[0] if lines else "", also=[recipient] if recipient else ())
    return _clip(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"
