"""Things that happened in the product, for other parts to react to in this process.

`Hooks` calls the handlers registered for an event's name after the transaction that made it has
committed; a handler that fails is logged and does not undo the event. Hooks live in one process
and are not retried: work that must not be missed reads the stored rows (a `Decision` by its id,
which makes reacting twice harmless) or goes through the outbox, as the HR system's webhook does.

Events::

    runtime.hooks.on(DecisionMade.name, handler)   # async def handler(event: DecisionMade) -> None
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, ClassVar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecisionMade:
    """HR decided on a real interview: ``advance`` (to the next round), ``hold`` or ``reject``."""

    name: ClassVar[str] = "decision.made"
    decision_id: int
    interview_id: int
    candidate_id: int
    candidate_ref: str
    """The candidate's pseudonymous reference, as the audit log and the HR system know them."""
    role: str
    outcome: str
    note: str
    decided_by: str
    decided_at: datetime
    scores: dict[str, Any]
    """The interview's results: ``overall``, ``match`` and ``competencies``."""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["decided_at"] = self.decided_at.isoformat()
        return data


Handler = Callable[[Any], Awaitable[None]]


class Hooks:
    """Handlers by event name."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    def on(self, name: str, handler: Handler) -> None:
        self._handlers.setdefault(name, []).append(handler)

    async def emit(self, event: Any) -> None:
        for handler in self._handlers.get(event.name, []):
            try:
                await handler(event)
            except Exception:  # one part's failure must not undo HR's decision or stop the others
                log.exception("a %s handler failed", event.name)
