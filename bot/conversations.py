"""The way in for every channel: store the message, then process the conversation in order.

1. Receive: the message is committed (deduplicated by its platform id within its sender's
   conversation) before anything else.
2. Lock the conversation: an asyncio lock in this process and, on PostgreSQL, an advisory lock
   across processes (`bot.store.db.Database.conversation`).
3. One pass per message, oldest unprocessed first (a message left unprocessed by a crash is
   processed before the next one): one read of what the pass needs; then, outside any
   transaction, the model work (the message embedded once, classified, the answer scored or the
   candidate's question looked up) and the policy's decision, once; then one write transaction
   that applies the actions, stores the replies, marks the message processed and takes the
   messages queued for the conversation (HR's answers). The replies come back from the step;
   nothing is read back.
4. A redelivered message gets its stored replies and changes nothing.

A message whose processing raises is tried again at once, up to `MAX_ATTEMPTS` tries counted in
the database (so a process that dies on it counts too); then it is set aside with the error (its
class and a short reason, never the text) and the candidate gets an apology and carries on. Set-
aside messages are counted in ``/health`` and logged.

Transactions per ordinary turn: the receipt (write), the read, the step (write).
"""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, null, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.engine import Engine, Snapshot, StepResult
from bot.messages import IncomingMessage, OutgoingButton, OutgoingMessage
from bot.nlu import IntentClassifier
from bot.outbox import PENDING, Outbox, conversation_key, queue_replies
from bot.progress import practice_progress
from bot.secrets import id_key
from bot.settings import Settings
from bot.store import repo
from bot.store.db import Database, Scope
from bot.store.models import Candidate, ChannelIdentity, Message, OutboxRow, utcnow
from bot.transcripts import Transcripts, store_clip

log = logging.getLogger(__name__)

MAX_ID_LENGTH = 128
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


MAX_ATTEMPTS = 3
"""Tries at processing one message before it is set aside."""
RETRY_PAUSE = 0.05
"""Seconds before the next try (times the tries so far): a moment for a passing fault to pass."""


@dataclass(frozen=True)
class _Received:
    identity_id: int | None
    """None when the message erased its sender: its stored replies are all that is left."""
    message_id: int
    duplicate: bool
    claimed: bool = False
    """Its first try was counted when it was stored."""


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
        self.turns = 0
        """Messages processed by this process."""
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiters: dict[int, int] = {}
        self._id_key: bytes | None = None
        self.transcripts = Transcripts(db, settings)
        """Voice messages: stored recordings become texts before processing (`bot.transcripts`)."""
        self.outbox: Outbox | None = None
        """Woken when `queue` adds to it (set by the runtime)."""

    async def handle(self, incoming: IncomingMessage) -> list[OutgoingMessage]:
        """Store, process and answer one message. Safe to call concurrently and repeatedly. Voice
        transcription gives way meanwhile (`Transcripts.text_turn`)."""
        with self.transcripts.text_turn():
            received = await self._receive(incoming, claim=True)
            if received.identity_id is None:  # a redelivery of the message that erased its sender
                async with self.db.read() as session:
                    stored = await _stored_replies(session, received.message_id)
                return self._outgoing(incoming.sender_id, stored)
            async with self._conversation(received.identity_id) as scope:
                return await self._process(scope, received, incoming.sender_id)

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
        await self._receive(incoming, claim=False)

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

    def _lookup(self, incoming: IncomingMessage) -> Any:
        """The stored message's id and conversation (none without a platform id), and the
        sender's conversation: (message id, its identity id, identity id), each possibly None."""
        identity = (
            select(ChannelIdentity.id)
            .where(
                ChannelIdentity.channel == incoming.channel,
                ChannelIdentity.external_id == incoming.sender_id,
            )
            .scalar_subquery()
        )
        if incoming.message_id is None:
            return select(null(), null(), identity)
        stored = self._stored(incoming).with_only_columns(col(Message.id), col(Message.identity_id)).limit(1)
        return select(
            stored.with_only_columns(col(Message.id)).scalar_subquery(),
            stored.with_only_columns(col(Message.identity_id)).scalar_subquery(),
            identity,
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
        # A voice message's text is its transcript, written once transcribed.
        # PostgreSQL text cannot hold NUL, nor either database a lone UTF-16 surrogate (JSON can
        # carry one as "\ud800"); nothing a person types needs them.
        text = _LONE_SURROGATE.sub("\ufffd", text.replace("\x00", ""))
        limit = self.settings.interview.max_message_chars
        if len(text) > limit:
            return text[:limit], True
        return text, False

    async def _receive(self, incoming: IncomingMessage, *, claim: bool = False) -> _Received:
        """Store the message (or find it, redelivered). ``claim``: processing follows at once, so
        a new message's first try is counted here, in the same transaction."""
        text, truncated = self._clean(incoming.text if incoming.audio is None else "")
        for attempt in range(3):
            try:
                async with self.db.write() as session:
                    # One statement finds both: the message if this is a redelivery (looked up first:
                    # a redelivery of the message that erased its sender must not bring the sender
                    # back), and the sender's conversation.
                    seen_id, seen_identity, identity_id = (await session.exec(self._lookup(incoming))).one()
                    if seen_id is not None:
                        return _Received(seen_identity, seen_id, duplicate=True)
                    if identity_id is None:
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
                        identity_id = identity.id
                    assert identity_id is not None
                    message = Message(
                        identity_id=identity_id,
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
                        attempts=1 if claim else 0,
                    )
                    session.add(message)
                    await session.flush()
                    assert message.id is not None
                    if incoming.audio is not None:
                        store_clip(session, message.id, identity_id, incoming.audio)
                    return _Received(identity_id, message.id, duplicate=False, claimed=claim)
            except IntegrityError:
                # Another request created the same conversation or message at the same moment.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def _conversation(self, identity_id: int) -> AsyncIterator[Scope]:
        lock = self._locks.setdefault(identity_id, asyncio.Lock())
        self._waiters[identity_id] = self._waiters.get(identity_id, 0) + 1
        try:
            async with lock, self.db.conversation(identity_id) as scope:
                yield scope
        finally:
            self._waiters[identity_id] -= 1
            if self._waiters[identity_id] == 0:
                del self._waiters[identity_id]
                del self._locks[identity_id]

    async def _process(self, scope: Scope, received: _Received, recipient: str) -> list[OutgoingMessage]:
        """Process the conversation's unprocessed messages up to the received one, oldest first,
        and return what answers the received one (with the messages queued for the candidate)."""
        identity_id = received.identity_id
        assert identity_id is not None
        claimed = {received.message_id} if received.claimed else set()
        replies: list[OutgoingMessage] = []
        heard: dict[int, dict[str, Any]] = {}  # what the recogniser found, by voice message id
        while True:
            snapshot: Snapshot | None = None
            broken: Exception | None = None
            async with scope.read() as session:
                pending, queued = await _pending(session, identity_id, upto=received.message_id)
                # A voice message's text is empty until it is transcribed (outside this read).
                voice = [m for m in pending if not m.text and m.id not in heard]
                if not pending:
                    stored = await _stored_replies(session, received.message_id)
                elif not voice:
                    message = pending[0]
                    try:
                        snapshot = await self.engine.load(session, identity_id, message)
                    except Exception as exc:  # counts against the message, like any failure below
                        broken = exc
            if voice:
                _, found = await self.transcripts.transcribe_pending(identity_id, voice)
                heard.update({m.id or 0: {} for m in voice} | found)
                continue  # read again: transcripts written, merged voice notes processed
            if not pending:  # processed before (a redelivery), or by a pass that held the lock
                taken = await self._take_queued(scope, queued) if queued else []
                return [*self._outgoing(recipient, taken), *replies, *self._outgoing(recipient, stored)]
            assert message.id is not None
            last = message.id == received.message_id
            if snapshot is None and broken is None:  # erased by an earlier message
                return replies
            if message.id not in claimed:
                attempts = await self._claim(scope, message)
                claimed.add(message.id)
                if attempts > MAX_ATTEMPTS:
                    replies = await self._set_aside(scope, message, snapshot, None, recipient, replies)
                    if last:
                        return replies
                    continue
            try:
                if broken is not None:
                    raise broken
                assert snapshot is not None
                fresh = received.claimed and message.id == received.message_id and message.attempts <= 1
                result = await self._pass(
                    scope, snapshot, queued if last else [], heard.get(message.id), retried=not fresh
                )
            except _AlreadyProcessedError:
                continue  # its replies are stored: the next read finds them
            except Exception as exc:  # any failure counts against this message
                tries = await self._failed(scope, message, exc)
                if tries >= MAX_ATTEMPTS:
                    replies = await self._set_aside(scope, message, snapshot, exc, recipient, replies)
                    if last:
                        return replies
                else:  # `_failed` claimed the next try
                    await asyncio.sleep(RETRY_PAUSE * tries)
                continue
            said, taken = result
            if last:
                return [*self._outgoing(recipient, taken), *replies, *self._outgoing(recipient, said)]
            replies += self._outgoing(recipient, said)

    async def _pass(
        self,
        scope: Scope,
        snapshot: Snapshot,
        queued: list[Message],
        heard: dict[str, Any] | None,
        *,
        retried: bool = True,
    ) -> tuple[list[_Said], list[_Said]]:
        """One message: classify and decide, the model work, then the step's one transaction.
        ``heard``: what the recogniser found, for a voice message (`Transcripts.annotate`);
        ``retried``: the message may have been tried before (by this or a process that died)."""
        message = snapshot.message
        parse = await self.classifier.parse(message.text, self.engine.engine_for(snapshot))
        parse = self.transcripts.annotate(parse, heard or None)
        turn = self.engine.plan(snapshot, parse)
        await self.engine.prepare(turn)
        # A recording can wait for deletion only after a voice message, a confirmation of one, or a
        # message tried before (a process may have transcribed it and died): else the statement
        # that deletes recordings is skipped.
        voice = (
            heard is not None or retried or (snapshot.identity.pending or {}).get("confirm") == "transcript"
        )
        async with scope.write() as session:
            result = await self.engine.step(session, turn)
            said = await self._store_replies(session, snapshot, result, voice=voice)
            taken = await _mark_delivered(session, queued)
        if result.erased:  # committed: now out of the database's files too
            await self.db.scrub()
            if self.engine.scoring is not None:  # exemplars HR made from their answers went too
                self.engine.scoring.refresh_soon()
        self.turns += 1
        log.debug("processed message %s: intent %s (%.2f)", message.id, parse.intent, parse.confidence)
        return said, taken

    async def _store_replies(
        self, session: AsyncSession, snapshot: Snapshot, result: StepResult, *, voice: bool = True
    ) -> list[_Said]:
        message, identity = snapshot.message, snapshot.identity
        erased = result.erased
        interview_id = None if erased else identity.active_interview_id
        done = await session.exec(
            update(Message)
            .where(col(Message.id) == message.id, col(Message.processed).is_(False))
            .values(processed=True, interview_id=interview_id, error=None)
        )
        if done.rowcount != 1:  # another pass got there first: this one must change nothing
            raise _AlreadyProcessedError(message.id)
        if not erased and voice:
            await self.transcripts.discard_audio(session, identity)
        rows = [
            Message(
                identity_id=None if erased else identity.id,
                interview_id=interview_id,
                channel=message.channel,
                direction="out",
                text=reply.text,
                reply_to_id=message.id,
                buttons=[{"title": b.title, "payload": b.payload} for b in reply.buttons] or None,
                read_aloud_version=reply.read_aloud,
                processed=True,
                created_at=utcnow(),
            )
            for reply in result.messages
        ]
        session.add_all(rows)
        await session.flush()  # the replies' ids key them in the outbox should the channel fail
        return [_said(row) for row in rows]

    async def _claim(self, scope: Scope, message: Message) -> int:
        """Count one more try at a message found unprocessed (left by a crash, or redelivered)."""
        async with scope.write() as session:
            row = await session.get(Message, message.id)
            assert row is not None
            row.attempts += 1
            return row.attempts

    async def _failed(self, scope: Scope, message: Message, exc: Exception) -> int:
        """Record a failed try (the error, never the text) and claim the next; returns the tries."""
        reason = describe_error(exc, message.text)
        log.error(
            "message %s failed (try %d of %d): %s\n%s",
            message.id,
            message.attempts or 1,
            MAX_ATTEMPTS,
            reason,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        async with scope.write() as session:
            row = await session.get(Message, message.id)
            if row is None:
                return MAX_ATTEMPTS
            tries = max(row.attempts, 1)
            row.error = reason
            if tries < MAX_ATTEMPTS:
                row.attempts = tries + 1
            message.attempts = row.attempts
            return tries

    async def _set_aside(
        self,
        scope: Scope,
        message: Message,
        snapshot: Snapshot | None,
        exc: Exception | None,
        recipient: str,
        replies: list[OutgoingMessage],
    ) -> list[OutgoingMessage]:
        """Give up on a message: mark it processed with its error, and apologise (in the
        candidate's language when the conversation could be read)."""
        language = snapshot.candidate.language if snapshot else self.settings.default_language
        interview_id = snapshot.identity.active_interview_id if snapshot else None
        apology = _Said(self.engine.responses.render("message_failed", language), [], None, None)
        async with scope.write() as session:
            row = await session.get(Message, message.id)
            if row is not None and not row.processed:
                row.processed = True
                row.error = row.error or (
                    describe_error(exc, message.text) if exc else "unknown: tries used up"
                )
                session.add(
                    Message(
                        identity_id=message.identity_id,
                        interview_id=interview_id,
                        channel=message.channel,
                        direction="out",
                        text=apology.text,
                        reply_to_id=message.id,
                        processed=True,
                        created_at=utcnow(),
                    )
                )
        log.error(
            "message %s set aside after %d tries: %s", message.id, MAX_ATTEMPTS, row.error if row else ""
        )
        return [*replies, *self._outgoing(recipient, [apology])]

    async def _take_queued(self, scope: Scope, queued: list[Message]) -> list[_Said]:
        async with scope.write() as session:
            return await _mark_delivered(session, queued)

    @staticmethod
    def _outgoing(recipient: str, said: list[_Said]) -> list[OutgoingMessage]:
        return [
            OutgoingMessage(
                recipient_id=recipient,
                text=item.text,
                buttons=[OutgoingButton(title, payload) for title, payload in item.buttons],
                read_aloud=item.read_aloud,
                message_id=item.message_id,
            )
            for item in said
        ]

    async def failures(self) -> dict[str, Any]:
        """Messages set aside after failing: how many, and the latest (for ``/health``)."""
        async with self.db.read() as session:
            failed = col(Message.error).is_not(None) & col(Message.processed).is_(True)
            count = (await session.exec(select(func.count(col(Message.id))).where(failed))).one()
            latest = (
                await session.exec(select(Message).where(failed).order_by(col(Message.id).desc()).limit(1))
            ).first()
        return {
            "set_aside": int(count or 0),
            "latest": None
            if latest is None
            else {
                "message_id": latest.id,
                "error": latest.error,
                "received_at": latest.created_at.isoformat(),
            },
        }


@dataclass(frozen=True)
class _Said:
    """A reply as the channel gets it: text and buttons (title, payload), the flow version whose
    question it reads aloud, and its transcript row."""

    text: str
    buttons: list[tuple[str, str]]
    read_aloud: int | None
    message_id: int | None


def _said(row: Message) -> _Said:
    buttons = [(b["title"], b["payload"]) for b in row.buttons or []]
    return _Said(row.text, buttons, row.read_aloud_version, row.id)


class _AlreadyProcessedError(Exception):
    def __init__(self, message_id: int | None) -> None:
        super().__init__(f"message {message_id} was processed by another pass")


def describe_error(exc: BaseException, text: str) -> str:
    """``Class: reason``, short, for operators; a reason that quotes the message is withheld."""
    reason = " ".join(str(exc).split())[:200]
    words = [w for w in text.split() if len(w) >= 4]
    quoted = any(w in reason for w in words) or (len(text.strip()) >= 4 and text.strip()[:12] in reason)
    if quoted or any(ch in reason for ch in text if "\u3400" <= ch <= "\u9fff"):
        reason = "(reason withheld: it quotes the message)"
    return f"{type(exc).__name__}: {reason}"[:300]


async def _pending(session: AsyncSession, identity_id: int, upto: int) -> tuple[list[Message], list[Message]]:
    """The conversation's unprocessed inbound messages up to ``upto``, oldest first, and the
    messages queued for it (sent by the bot unprompted, not yet delivered, and not the outbox's to
    push): one query."""
    rows = (
        await session.exec(
            select(Message)
            .where(
                Message.identity_id == identity_id,
                (
                    (col(Message.direction) == "in")
                    & col(Message.processed).is_(False)
                    & (col(Message.id) <= upto)
                )
                | (
                    (col(Message.direction) == "out")
                    & col(Message.delivered).is_(False)
                    & ~exists().where(OutboxRow.message_id == Message.id)  # type: ignore[arg-type]
                ),
            )
            .order_by(col(Message.id))
        )
    ).all()
    return [m for m in rows if m.direction == "in"], [m for m in rows if m.direction == "out"]


async def _stored_replies(session: AsyncSession, message_id: int) -> list[_Said]:
    rows = (
        await session.exec(
            select(Message)
            .where(Message.reply_to_id == message_id, Message.direction == "out")
            .order_by(col(Message.id))
        )
    ).all()
    return [_said(row) for row in rows]


async def _mark_delivered(session: AsyncSession, queued: list[Message]) -> list[_Said]:
    """Hand over the queued messages still undelivered (the outbox may have pushed some meanwhile)."""
    if not queued:
        return []
    rows = (
        await session.exec(
            select(Message)
            .where(col(Message.id).in_([m.id for m in queued]), col(Message.delivered).is_(False))
            .order_by(col(Message.id))
            # a page's open stream (bot.push) may be claiming them in another process
            .with_for_update(skip_locked=True)
        )
    ).all()
    for row in rows:
        row.delivered = True
    return [_said(row) for row in rows]


async def _identity(session: AsyncSession, channel: str, sender_id: str) -> ChannelIdentity | None:
    """The conversation of ``sender_id`` on ``channel``, if the bot has met them."""
    statement = select(ChannelIdentity).where(
        ChannelIdentity.channel == channel, ChannelIdentity.external_id == sender_id
    )
    return (await session.exec(statement)).first()
