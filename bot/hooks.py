"""Named events inside one process, for parts that must react to each other without importing
each other: the HR workspace emits ``decision.made`` and campaigns invite to the next round.

Events
    ``decision.made``: ``{"interview_id": int, "decision": "advance" | "reject" | "hold", ...}``,
    emitted after HR's decision is committed.

A handler's failure is logged (its class, never the payload: it may carry personal data) and does
not stop the other handlers or the emitter.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[object]]


class Hooks:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    def subscribe(self, name: str, handler: Handler) -> None:
        self._handlers.setdefault(name, []).append(handler)

    async def emit(self, name: str, payload: dict[str, Any]) -> None:
        for handler in self._handlers.get(name, []):
            try:
                await handler(payload)
            except Exception as exc:  # one subscriber's failure is not the emitter's
                log.error("hook %s: a handler failed (%s)", name, type(exc).__name__)
