"""A part of the runtime that keeps something built in the background (the scorers, the knowledge
base): it refreshes at start, every ``interval`` seconds and whenever `refresh_soon` is called, and a
failed refresh never stops the next one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

log = logging.getLogger(__name__)


class Maintained(ABC):
    name: str = "maintenance"
    """The task's name, and what the log says failed."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._built = asyncio.Event()
        """Set after each build; `wait_ready` loops clear it and wait again."""

    @property
    @abstractmethod
    def interval(self) -> float:
        """Seconds between two refreshes when nobody calls `refresh_soon`."""

    @abstractmethod
    async def refresh(self) -> None:
        """Build what changed (and set ``_built`` when something was built)."""

    def start(self) -> None:
        """Refresh now in the background, then keep it current."""
        self._wake = asyncio.Event()
        self._built = asyncio.Event()
        self._task = asyncio.create_task(self._maintain(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def refresh_soon(self) -> None:
        """Refresh now rather than at the next interval."""
        self._wake.set()

    async def _maintain(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # the next round retries; a failed build must not stop the bot
                log.exception("%s failed", self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()
