"""The way in for every channel: store the message, then process the conversation in order.

1. Receive: the message is committed (deduplicated by its platform id within its sender's
   conversation) before anything else.
2. Lock the conversation (an asyncio lock here; a row lock across processes on PostgreSQL).
3. Process every stored, unprocessed message of the conversation up to this one, oldest first,
   each in its own transaction (classify outside it: the model's work holds no database lock).
4. Answer with the stored replies. A redelivered message gets the same replies and changes nothing;
   a message left unprocessed by a crash is processed before the next one.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.engine import Engine
from bot.messages import IncomingMessage, OutgoingButton, OutgoingMessage
from bot.nlu import IntentClassifier
from bot.outbox import PENDING, Outbox, conversation_key, queue_replies
from bot.progress import practice_progress
from bot.secrets import id_key
from bot.settings import Settings
from bot.store import repo
from bot.store.db import Database
from bot.store.models import Candidate, ChannelIdentity, Message, OutboxRow, utcnow

log = logging.getLogger(__name__)

MAX_ID_LENGTH = 128
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class _Received:
    identity_id: int | None
    """None when the message erased its sender: its stored replies are all that is left."""
    message_id: int
    duplicate: bool


class Conversations:
    def __init__(
        self, db: Database, engine: Engine, classifier: IntentClassifier, settings: Settings
    ) -> None:
        self.db = db
        self.engine = engine
        self.classifier = classifier
        self.settings = settings
        self.ready = False
        """True once models are loaded and flows published (set by the runtime)."""
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiters: dict[int, int] = {}
        self._id_key: bytes | None = None
        self.outbox: Outbox | None = None
        """Woken when `queue` adds to it (set by the runtime)."""

    async def handle(self, incoming: IncomingMessage) -> list[OutgoingMessage]:
        """Store, process and answer one message. Safe to call concurrently and repeatedly."""
        received = await self._receive(incoming)
        if received.identity_id is None:
            return await self._replies(incoming.sender_id, [received.message_id])
        async with self._conversation(received.identity_id):
            processed = await self._process_pending(received.identity_id, upto=received.message_id)
        queued = await self._take_queued(received.identity_id, incoming.sender_id)
        return queued + await self._replies(incoming.sender_id, [*processed, received.message_id])

    async def practice_progress(self, channel: str, sender_id: str) -> dict[str, Any]:
        """The sender's progress across their practice sessions (`bot.progress`), for channels that
        draw it themselves (the web chat's chart). A sender the bot has never met has none; nothing
        is stored by asking."""
        async with self.db.read() as session:
            identity = await _identity(session, channel, sender_id)
            if identity is None:
                return {"roles": []}
            return await practice_progress(session, self.engine.catalog, identity.candidate_id)

    async def receive(self, incoming: IncomingMessage) -> None:
        """Store a message without processing it, for channels that must acknowledge a delivery
        before they answer it (a Telegram webhook): a crash after this loses nothing, and a later
        `handle` of the same message processes it once."""
        await self._receive(incoming)

    async def answered(self, incoming: IncomingMessage) -> bool:
        """True when this message (same channel, sender and platform id) is stored and processed
        already, so its replies went out then."""
        if incoming.message_id is None:
            return False
        async with self.db.read() as session:
            stored = (await session.exec(self._stored(incoming))).first()
        return stored is not None and stored.processed

    def sender_key(self, channel: str, sender_id: str) -> str:
        if self._id_key is None:
            self._id_key = id_key(self.settings.cache_dir.parent)
        return repo.sender_key(self._id_key, channel, sender_id)

    def _stored(self, incoming: IncomingMessage) -> Any:
        return select(Message).where(
            Message.channel == incoming.channel,
            Message.sender_key == self.sender_key(incoming.channel, incoming.sender_id),
            Message.platform_message_id == incoming.message_id,
        )

    async def queue(
        self, channel: str, sender_id: str, replies: Sequence[OutgoingMessage], *, key: str | None = None
    ) -> bool:
        """Hand replies that a push channel could not send now to the outbox, which delivers them
        in order, with their buttons, retrying with backoff (`bot.outbox.queue_replies`). Replies
        from `handle` carry their transcript row (``message_id``), which keys them: queueing them
        twice queues them once. Others are keyed by ``key`` (the platform id of the message they
        answer) and their position. False when the conversation is unknown (erased meanwhile)."""
        async with self.db.write() as session:
            identity = await _identity(session, channel, sender_id)
            if identity is None:
                return False
            await queue_replies(session, identity, replies, key=key)
        if self.outbox is not None:
            self.outbox.notify()
        return True

    async def has_queued(self, channel: str, sender_id: str) -> bool:
        """True while earlier messages of this conversation wait in the outbox: a push channel
        queues its new replies behind them rather than overtaking them."""
        async with self.db.read() as session:
            identity = await _identity(session, channel, sender_id)
            if identity is None or identity.id is None:
                return False
            waiting = select(OutboxRow.id).where(
                OutboxRow.ordering_key == conversation_key(identity.id), col(OutboxRow.state).in_(PENDING)
            )
            return (await session.exec(waiting.limit(1))).first() is not None

    def _clean(self, text: str) -> tuple[str, bool]:
        # PostgreSQL text cannot hold NUL, nor either database a lone UTF-16 surrogate (JSON can
        # carry one as "\ud800"); nothing a person types needs them.
        text = _LONE_SURROGATE.sub("\ufffd", text.replace("\x00", ""))
        limit = self.settings.interview.max_message_chars
        if len(text) > limit:
            return text[:limit], True
        return text, False

    async def _receive(self, incoming: IncomingMessage) -> _Received:
        text, truncated = self._clean(incoming.text)
        for attempt in range(3):
            try:
                async with self.db.write() as session:
                    if incoming.message_id is not None:
                        # Looked up first: a redelivery of the message that erased its sender must
                        # not bring the sender back.
                        seen = (await session.exec(self._stored(incoming))).first()
                        if seen is not None and seen.id is not None:
                            return _Received(seen.identity_id, seen.id, duplicate=True)
                    identity = await _identity(session, incoming.channel, incoming.sender_id)
                    if identity is None:
                        candidate = Candidate(language=self.settings.default_language)
                        session.add(candidate)
                        await session.flush()
                        identity = ChannelIdentity(
                            channel=incoming.channel,
                            external_id=incoming.sender_id,
                            candidate_id=candidate.id or 0,
                        )
                        session.add(identity)
                        await session.flush()
                        await repo.audit(
                            session, "candidate.created", candidate_id=candidate.id, channel=incoming.channel
                        )
                    assert identity.id is not None
                    message = Message(
                        identity_id=identity.id,
                        channel=incoming.channel,
                        direction="in",
                        text=text,
                        platform_message_id=incoming.message_id,
                        sender_key=(
                            None
                            if incoming.message_id is None
                            else self.sender_key(incoming.channel, incoming.sender_id)
                        ),
                        truncated=truncated,
                    )
                    session.add(message)
                    await session.flush()
                    assert message.id is not None
                    return _Received(identity.id, message.id, duplicate=False)
            except IntegrityError:
                # Another request created the same conversation or message at the same moment.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def _conversation(self, identity_id: int) -> AsyncIterator[None]:
        lock = self._locks.setdefault(identity_id, asyncio.Lock())
        self._waiters[identity_id] = self._waiters.get(identity_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._waiters[identity_id] -= 1
            if self._waiters[identity_id] == 0:
                del self._waiters[identity_id]
                del self._locks[identity_id]

    async def _process_pending(self, identity_id: int, upto: int) -> list[int]:
        async with self.db.read() as session:
            pending = (
                await session.exec(
                    select(Message)
                    .where(
                        Message.identity_id == identity_id,
                        Message.direction == "in",
                        col(Message.processed).is_(False),
                        col(Message.id) <= upto,
                    )
                    .order_by(col(Message.id))
                )
            ).all()
        done: list[int] = []
        for message in pending:
            parse = await self.classifier.parse(message.text)
            async with self.db.read() as session:
                await self.engine.prepare(session, identity_id, message, parse)
            async with self.db.write() as session:
                identity = await repo.lock_identity(session, identity_id)
                if identity is None:  # erased by an earlier message of this batch
                    break
                row = await session.get(Message, message.id)
                if row is None or row.processed:  # handled by another process meanwhile
                    continue
                assert row.id is not None
                result = await self.engine.step(session, identity, row, parse, received_at=row.created_at)
                row.processed = True
                if not result.erased:
                    row.interview_id = identity.active_interview_id
                for reply in result.messages:
                    session.add(
                        Message(
                            identity_id=None if result.erased else identity_id,
                            interview_id=None if result.erased else identity.active_interview_id,
                            channel=row.channel,
                            direction="out",
                            text=reply.text,
                            reply_to_id=row.id,
                            buttons=[{"title": b.title, "payload": b.payload} for b in reply.buttons] or None,
                            processed=True,
                            created_at=utcnow(),
                        )
                    )
                log.debug("processed message %s: intent %s (%.2f)", row.id, parse.intent, parse.confidence)
                done.append(row.id)
            if result.erased:  # committed: now out of the database's files too
                await self.db.scrub()
        return done

    async def _take_queued(self, identity_id: int, recipient: str) -> list[OutgoingMessage]:
        """Messages the bot queued for this conversation unprompted (HR's answers), handed over with
        the reply on channels that cannot push them; each is taken once. Those the outbox delivers
        (push channels) are not handed over."""
        async with self.db.write() as session:
            queued = (
                await session.exec(
                    select(Message)
                    .where(
                        Message.identity_id == identity_id,
                        Message.direction == "out",
                        col(Message.delivered).is_(False),
                        ~exists().where(OutboxRow.message_id == Message.id),  # type: ignore[arg-type]
                    )
                    .order_by(col(Message.id))
                    # a page's open stream (bot.push) may be claiming them in another process
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in queued:
                row.delivered = True
            return [OutgoingMessage(recipient_id=recipient, text=row.text) for row in queued]

    async def _replies(self, recipient: str, message_ids: list[int]) -> list[OutgoingMessage]:
        async with self.db.read() as session:
            rows = (
                await session.exec(
                    select(Message)
                    .where(col(Message.reply_to_id).in_(sorted(set(message_ids))), Message.direction == "out")
                    .order_by(col(Message.id))
                )
            ).all()
        return [
            OutgoingMessage(
                recipient_id=recipient,
                text=row.text,
                buttons=[OutgoingButton(b["title"], b["payload"]) for b in row.buttons or []],
                message_id=row.id,
            )
            for row in rows
        ]


async def _identity(session: AsyncSession, channel: str, sender_id: str) -> ChannelIdentity | None:
    """The conversation of ``sender_id`` on ``channel``, if the bot has met them."""
    statement = select(ChannelIdentity).where(
        ChannelIdentity.channel == channel, ChannelIdentity.external_id == sender_id
    )
    return (await session.exec(statement)).first()
