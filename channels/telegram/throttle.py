"""Outgoing message throttle with named limits, so the bot stays under Telegram's flood limits.

Each limit is a generic cell rate: ``rate`` messages a second on average, up to ``burst`` at once.
A sender reserves its slot (no await between reading and updating the schedule, so concurrent
senders in one event loop never take the same slot) and then sleeps until it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_PRUNE_AT = 10_000
"""Chats remembered before the ones whose schedule has passed are forgotten."""


@dataclass(frozen=True)
class Limit:
    name: str
    rate: float
    """Messages a second, on average."""
    burst: int = 1
    """Messages allowed at once before the rate applies."""

    @property
    def interval(self) -> float:
        return 1.0 / self.rate

    @property
    def tolerance(self) -> float:
        return (self.burst - 1) * self.interval


class Throttle:
    """``overall`` applies to every message, ``per_chat`` to each chat's own."""

    def __init__(
        self, overall: Limit, per_chat: Limit, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.overall = overall
        self.per_chat = per_chat
        self.clock = clock
        self.sleep = sleep
        self._overall_due = 0.0
        self._chat_due: dict[str, float] = {}
        self._held: dict[str, float] = {}

    def reserve(self, chat: str) -> float:
        """Take the next free slot for a message to ``chat``; return the seconds to wait for it."""
        now = self.clock()
        chat_due = self._chat_due.get(chat, 0.0)
        slot = max(
            now,
            self._overall_due - self.overall.tolerance,
            chat_due - self.per_chat.tolerance,
            self._held.get(chat, 0.0),
        )
        self._overall_due = max(self._overall_due, slot) + self.overall.interval
        self._chat_due[chat] = max(chat_due, slot) + self.per_chat.interval
        if len(self._chat_due) > _PRUNE_AT:
            self._forget_past(now)
        return slot - now

    async def acquire(self, chat: str) -> None:
        """Wait until a message to ``chat`` may be sent."""
        wait = self.reserve(chat)
        if wait > 0:
            await self.sleep(wait)

    def hold(self, chat: str, seconds: float) -> None:
        """Send nothing more to ``chat`` for ``seconds`` (Telegram's ``retry_after``)."""
        self._held[chat] = max(self._held.get(chat, 0.0), self.clock() + seconds)

    def _forget_past(self, now: float) -> None:
        self._chat_due = {chat: due for chat, due in self._chat_due.items() if due > now}
        self._held = {chat: until for chat, until in self._held.items() if until > now}
