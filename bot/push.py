"""Pushing the bot's unprompted messages (HR's answers) to conversations that hold a stream open.

A channel that cannot message a candidate first (the web chat) hands such messages over with its
next reply; while the candidate's page holds a stream open (server-sent events), they are pushed at
once instead. Any process may serve the stream and any process may queue the message (HR answer
through whichever process the load balancer picks), so the store is the meeting point: each process
looks, every ``interval`` seconds, for undelivered messages of the conversations it holds streams
for, in one query, and claims them (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two processes, or a
stream and a reply, never both take one). Messages the outbox delivers (push channels') are not
taken here. A claimed message is marked delivered: the next reply does
not carry it again.

A stream that reconnects says which message it saw last (``Last-Event-ID``); messages pushed after
that one are sent again (a phone that changed networks may have missed them), so a page may see
one twice and drops it by its id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import exists, update
from sqlmodel import col, select

from bot.messages import OutgoingButton, OutgoingMessage
from bot.store.db import Database
from bot.store.models import ChannelIdentity, Message, OutboxRow, utcnow

log = logging.getLogger(__name__)

RESEND_WINDOW = timedelta(hours=1)
"""How far back a reconnecting stream is sent what it may have missed."""


@dataclass(frozen=True)
class Pushed:
    """One message for a stream; ``id`` is the stored message's, the stream's event id."""

    id: int
    message: OutgoingMessage


def _pushed(row: Message, recipient: str) -> Pushed:
    buttons = [OutgoingButton(b["title"], b["payload"]) for b in row.buttons or []]
    return Pushed(row.id or 0, OutgoingMessage(recipient_id=recipient, text=row.text, buttons=buttons))


class PushHub:
    """The open streams of one channel in this process, and the loop that feeds them.

    Args:
        db: the store every process shares.
        channel: the channel whose conversations are pushed to (``web``).
        interval: seconds between looks for undelivered messages while a stream is open.
    """

    def __init__(self, db: Database, channel: str, interval: float) -> None:
        self.db = db
        self.channel = channel
        self.interval = interval
        self._streams: dict[str, list[asyncio.Queue[Pushed]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def subscribe(self, sender_id: str) -> AsyncIterator[asyncio.Queue[Pushed]]:
        """A queue of the messages pushed to ``sender_id``'s conversation while the block runs."""
        queue: asyncio.Queue[Pushed] = asyncio.Queue()
        self._streams.setdefault(sender_id, []).append(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"push-{self.channel}")
        try:
            yield queue
        finally:
            streams = self._streams.get(sender_id, [])
            if queue in streams:
                streams.remove(queue)
            if not streams:
                self._streams.pop(sender_id, None)
            unsent = [queue.get_nowait().id for _ in range(queue.qsize())]
            if unsent:
                # In a task of its own: the stream's task is being cancelled (the page closed), and
                # the cancellation would interrupt any wait here.
                self._spawn(self._release(unsent))

    async def poll_once(self) -> int:
        """Claim the undelivered messages of every open stream's conversation and hand them to the
        streams; returns how many were claimed."""
        senders = sorted(self._streams)
        if not senders:
            return 0
        async with self.db.write() as session:
            rows = (
                await session.exec(
                    select(Message, ChannelIdentity.external_id)
                    .join(ChannelIdentity, col(ChannelIdentity.id) == col(Message.identity_id))
                    .where(
                        ChannelIdentity.channel == self.channel,
                        col(ChannelIdentity.external_id).in_(senders),
                        Message.direction == "out",
                        col(Message.delivered).is_(False),
                        ~exists().where(OutboxRow.message_id == Message.id),  # type: ignore[arg-type]
                    )
                    .order_by(col(Message.id))
                    .with_for_update(of=Message, skip_locked=True)
                )
            ).all()
            for row, _ in rows:
                row.delivered = True
                session.add(row)
        for row, sender in rows:
            streams = self._streams.get(sender, [])
            if not streams:  # the page closed meanwhile: the next reply carries it
                await self._release([row.id or 0])
            for queue in streams:
                queue.put_nowait(_pushed(row, sender))
        return len(rows)

    async def since(self, sender_id: str, last_id: int) -> list[Pushed]:
        """Unprompted messages of the conversation after ``last_id``, already delivered (pushed to a
        stream that broke, or handed over with a reply), from the last `RESEND_WINDOW`."""
        async with self.db.read() as session:
            rows = (
                await session.exec(
                    select(Message)
                    .join(ChannelIdentity, col(ChannelIdentity.id) == col(Message.identity_id))
                    .where(
                        ChannelIdentity.channel == self.channel,
                        ChannelIdentity.external_id == sender_id,
                        Message.direction == "out",
                        col(Message.reply_to_id).is_(None),
                        col(Message.delivered).is_(True),
                        col(Message.id) > last_id,
                        col(Message.created_at) > utcnow() - RESEND_WINDOW,
                    )
                    .order_by(col(Message.id))
                )
            ).all()
        return [_pushed(row, sender_id) for row in rows]

    async def _release(self, ids: list[int]) -> None:
        """Messages claimed for a stream that closed before it sent them: undelivered again."""
        if not ids:
            return
        async with self.db.write() as session:
            await session.exec(update(Message).where(col(Message.id).in_(ids)).values(delivered=False))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _run(self) -> None:
        while self._streams:
            try:
                await self.poll_once()
            except Exception:  # the next round tries again; the messages stay queued
                log.exception("pushing queued %s messages failed", self.channel)
            await asyncio.sleep(self.interval)
