"""Text turns first: the transcription process is paused (``SIGSTOP``) while this process works on a
text turn, and goes on (``SIGCONT``) as soon as no turn is in flight.

Why: on a small machine (2 vCPUs, often two hyperthreads of one core) a transcription running at a
lower priority (``voice.nice``) or even in Linux's idle class (``voice.idle``) still made text turns
40-80% slower (bench/voice.py, README.md "Voice"): the kernel's priorities share out the cores, not
a core's caches and execution units. Stopping the transcriber for the tens of milliseconds a turn
takes gives the turn the whole machine; the transcription loses only that time.

Bounds, so that voice answers are never starved: one pause lasts at most
``voice.max_pause_seconds``; then the transcription runs at least ``voice.min_run_seconds`` before
it can be paused again. Under an unbroken stream of text turns it still gets
min_run / (max_pause + min_run) of the time (a third with the defaults; at ``voice.nice`` 10 on a
saturated machine it would get about a tenth), well inside the transcriber's timeouts
(``voice.timeout_seconds``).

A turn that waits for its own voice message's transcript does not hold the pause while it waits: a
context variable marks the task that holds it (`TextFirst.waiting`), so a voice turn cannot stop its
own transcription. Signals are sent only while the transcriber may have work (``busy``).

With ``serve --workers N`` the workers share the transcriber, and so the count: a worker holds a
shared lock (``flock``) on a file beside the transcriber's socket while it has turns in flight, and
the one whose last turn ends lets the transcriber go on only if it can then take that lock
exclusively, that is when no other worker has a turn in flight (`SharedTurns`). The kernel drops a
dead worker's lock; the supervisor's watcher lets go a transcriber stopped while no worker holds the
lock, or stopped for far longer than a pause may last (a worker hung mid-turn)
(`channels.voice.recognizer.SharedTranscriber`). A server's own transcriber orphaned while paused is
killed by the next server's sweep of orphaned socket folders.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import VoiceSettings


@dataclass
class _Hold:
    """A turn's hold on the pause (tasks the turn starts share it through the context)."""

    owner: TextFirst
    active: bool = True
    """False while the turn waits for a transcript (`TextFirst.waiting`)."""
    over: bool = False


_HOLDING: ContextVar[_Hold | None] = ContextVar("holding_text_first", default=None)
"""The current task's turn's hold, if any."""


class SharedTurns:
    """Whether any worker of ``serve --workers N`` has a text turn in flight: each holds a shared
    ``flock`` on ``path`` (beside the shared transcriber's socket) while it has one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd

    def hold(self) -> None:
        """This worker has turns in flight (blocks only while another takes the lock for a moment)."""
        fcntl.flock(self._file(), fcntl.LOCK_SH)

    def let_go(self) -> bool:
        """This worker has none left; True when no other worker has one either."""
        fd = self._file()
        fcntl.flock(fd, fcntl.LOCK_UN)
        return _nobody_holds(fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def nobody_holds(path: Path) -> bool:
    """True when no worker holds the turns lock at ``path`` (none has a text turn in flight)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return True
    try:
        return _nobody_holds(fd)
    finally:
        os.close(fd)


def _nobody_holds(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


class TextFirst:
    """This process's text turns and the transcription process's pauses (see the module's description).

    ``settings`` gives the voice settings now, ``pid`` the transcription process's id (None: none
    runs), ``busy`` whether it may have work; ``shared``: the workers' count, for a transcriber the
    supervisor shares between them. Only the event loop's thread calls it."""

    def __init__(
        self,
        settings: Callable[[], VoiceSettings],
        pid: Callable[[], int | None],
        busy: Callable[[], bool],
        shared: SharedTurns | None = None,
    ) -> None:
        self._settings = settings
        self._pid = pid
        self._busy = busy
        self.shared = shared
        self._turns = 0
        self._paused: int | None = None
        """The process this one stopped and has not let go on yet."""
        self._run_until = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.pauses = 0
        """Pauses so far (tests and diagnostics)."""
        self.capped = 0
        """Pauses ended by ``voice.max_pause_seconds`` while turns were still in flight."""

    @property
    def paused(self) -> bool:
        return self._paused is not None

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Around a text turn: the transcriber is paused (within the bounds) until it ends."""
        held = _HOLDING.get()
        if not self._settings().text_first or (held is not None and held.owner is self):
            yield
            return
        hold = _Hold(self)
        token = _HOLDING.set(hold)
        self._enter()
        try:
            yield
        finally:
            _HOLDING.reset(token)
            hold.over = True
            if hold.active:
                self._leave()

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Around a transcription the current task waits for: its turn lets the pause go meanwhile."""
        hold = _HOLDING.get()
        if hold is None or hold.owner is not self or not hold.active or hold.over:
            yield
            return
        hold.active = False
        self._leave()
        try:
            yield
        finally:
            if not hold.over:
                hold.active = True
                self._enter()

    def release(self) -> None:
        """Let a paused transcriber go on now (the process is stopping)."""
        self._cancel_timer()
        self._go_on()
        if self.shared is not None:
            self.shared.close()

    def _enter(self) -> None:
        self._turns += 1
        if self._turns == 1:
            if self.shared is not None:
                with contextlib.suppress(OSError):  # the supervisor is stopping: nothing to share
                    self.shared.hold()
            self._pause()

    def _leave(self) -> None:
        self._turns -= 1
        if self._turns == 0:
            self._cancel_timer()
            if self.shared is None:
                self._go_on()
                return
            self._paused = None
            try:
                last = self.shared.let_go()
            except OSError:
                last = True
            if last:  # whichever worker paused it, no turn is in flight now
                self._paused = self._pid()
                self._go_on()

    def _pause(self) -> None:
        if self._paused is not None or time.monotonic() < self._run_until or not self._busy():
            return
        pid = self._pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGSTOP)
        except (ProcessLookupError, PermissionError):
            return
        self._paused = pid
        self.pauses += 1
        self._timer = asyncio.get_running_loop().call_later(self._settings().max_pause_seconds, self._cap)

    def _cap(self) -> None:
        """The pause has lasted ``max_pause_seconds``: the transcription runs ``min_run_seconds``."""
        self._timer = None
        self._go_on()
        self.capped += 1
        run = self._settings().min_run_seconds
        self._run_until = time.monotonic() + run
        self._timer = asyncio.get_running_loop().call_later(run, self._again)

    def _again(self) -> None:
        self._timer = None
        self._run_until = 0.0  # a timer may fire a little early
        if self._turns:
            self._pause()

    def _go_on(self) -> None:
        pid, self._paused = self._paused, None
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGCONT)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def stopped(pid: int) -> bool:
    """Whether process ``pid`` is stopped (``T`` in ``/proc/<pid>/stat``); False if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    state = stat.rfind(b")") + 2  # after the command's name, which may hold anything
    return stat[state : state + 1] in (b"T", b"t")
