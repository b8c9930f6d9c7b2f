"""One leader among the processes: the jobs that must run once run in the leader only.

Several processes may serve one PostgreSQL database (``interviewer serve --workers N``, or servers
behind a proxy). Some background jobs must not run in all of them at once: the practice retention
sweep, the outbox clean-up, and the campaign scheduler. Each process runs a `Leader`; the one that
holds a PostgreSQL session-level advisory lock, on a connection of its own kept open for as long as
it leads, is the leader and runs the jobs. The others try to take the lock every
``server.leader_poll_seconds``. When the leader dies, PostgreSQL ends its session and releases the
lock, and another process takes it at its next try. The leader checks its connection as often; if
it broke (a network failure, PostgreSQL restarted), it stops its jobs and campaigns again. In that
window, at most one poll interval, two processes may run a job at once, so jobs are idempotent
(retention deletes what is old; the outbox's claims guard every send).

On SQLite there is one process, and it is the leader.

The lock's key is a hash of the current schema and the lock's name: advisory locks are per
database, and test runs in other schemas of the same database must not contend for it.
`startup_lock` is the same idea for start-up work that must not run twice at once (publishing the
sample flows, importing the sample exports).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import psycopg

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]
STOP_SECONDS = 10.0
"""How long stopping waits for a cancelled job or campaign task before it goes on without it."""


def cancelling() -> bool:
    """Whether the running task has been asked to stop: an exception raised while it is cancelled
    (a driver's cleanup error, say) must end a loop that catches ``Exception``, not restart it."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _cancel(task: asyncio.Task[None], what: str) -> None:
    """Cancel ``task`` and wait for it, at most `STOP_SECONDS` (a stop must never hang)."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=STOP_SECONDS)
    if not done:
        log.warning("%s did not stop within %.0f s; going on without it", what, STOP_SECONDS)


LOCK_KEY = "SELECT hashtextextended(current_schema() || ':' || %s, 0)"


def libpq_url(database_url: str) -> str:
    """The URL as libpq reads it (without SQLAlchemy's driver name)."""
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


async def _connect(database_url: str) -> psycopg.AsyncConnection[tuple[object, ...]]:
    # Keepalives make a silently vanished peer (a cut network) an error within about half a minute.
    return await psycopg.AsyncConnection.connect(
        libpq_url(database_url),
        autocommit=True,
        keepalives=1,
        keepalives_idle=10,
        keepalives_interval=5,
        keepalives_count=3,
        application_name="interviewer-leader",
    )


@asynccontextmanager
async def startup_lock(database_url: str, name: str = "startup") -> AsyncIterator[None]:
    """Hold an exclusive lock across processes (PostgreSQL) while the body runs; processes that
    start at the same time take turns. A no-op on SQLite (one process)."""
    if not database_url.startswith("postgresql"):
        yield
        return
    async with await _connect(database_url) as connection:
        await connection.execute(f"SELECT pg_advisory_lock(({LOCK_KEY}))", [name])
        try:
            yield
        finally:
            await connection.execute(f"SELECT pg_advisory_unlock(({LOCK_KEY}))", [name])


@dataclass
class _Job:
    name: str
    run: Job
    task: asyncio.Task[None] | None = None


class Leader:
    """Campaigns for leadership and runs the registered jobs while this process leads.

    Args:
        database_url: the application database.
        name: the lock's name (one leader per name and schema).
        poll_seconds: how often a follower tries the lock and the leader checks its connection.
        restart_seconds: a job that ends or raises is started again after this long.
    """

    def __init__(
        self,
        database_url: str,
        *,
        name: str = "jobs",
        poll_seconds: float = 5.0,
        restart_seconds: float = 30.0,
    ) -> None:
        self.database_url = database_url
        self.name = name
        self.poll_seconds = poll_seconds
        self.restart_seconds = restart_seconds
        self.is_leader = False
        self._jobs: list[_Job] = []
        self._task: asyncio.Task[None] | None = None
        self._elected = asyncio.Event()

    def job(self, name: str, run: Job) -> None:
        """Run ``run`` (usually a loop) while this process leads; register before `start`."""
        self._jobs.append(_Job(name, run))

    def start(self) -> None:
        self._task = asyncio.create_task(self._campaign(), name=f"leader-{self.name}")

    async def stop(self) -> None:
        """Stop the jobs and give the lock up (closing its connection releases it)."""
        task, self._task = self._task, None
        if task is not None:
            await _cancel(task, "the leader's campaign")
        await self._depose()

    async def wait_elected(self) -> None:
        """Return once this process leads."""
        await self._elected.wait()

    async def _campaign(self) -> None:
        if not self.database_url.startswith("postgresql"):
            self._elect()
            await asyncio.Event().wait()  # lead until stopped
        while True:
            try:
                async with await _connect(self.database_url) as connection:
                    while not await self._try_lock(connection):  # noqa: ASYNC110 (polls PostgreSQL)
                        await asyncio.sleep(self.poll_seconds)
                    self._elect()
                    while True:
                        await asyncio.sleep(self.poll_seconds)
                        await connection.execute("SELECT 1")  # raises once the session is gone
            except Exception as exc:  # psycopg.Error, OSError ...: campaign again after a pause
                if cancelling():
                    raise
                if self.is_leader:
                    log.warning("lost the leader lock (%s); stopping the leader's jobs", type(exc).__name__)
                else:
                    log.warning("cannot reach the database for the leader lock (%s)", type(exc).__name__)
                await self._depose()
                await asyncio.sleep(self.poll_seconds)

    async def _try_lock(self, connection: psycopg.AsyncConnection[tuple[object, ...]]) -> bool:
        cursor = await connection.execute(f"SELECT pg_try_advisory_lock(({LOCK_KEY}))", [self.name])
        row = await cursor.fetchone()
        return bool(row and row[0])

    def _elect(self) -> None:
        log.info(
            "this process leads (%s): running %s", self.name, ", ".join(j.name for j in self._jobs) or "-"
        )
        self.is_leader = True
        self._elected.set()
        for job in self._jobs:
            job.task = asyncio.create_task(self._keep(job), name=f"leader-job-{job.name}")

    async def _keep(self, job: _Job) -> None:
        while True:
            try:
                await job.run()
            except Exception:  # a job's failure must not end leadership; it starts again
                if cancelling():
                    raise
                log.exception(
                    "leader job %s failed; starting it again in %.0f s", job.name, self.restart_seconds
                )
            await asyncio.sleep(self.restart_seconds)

    async def _depose(self) -> None:
        self.is_leader = False
        self._elected.clear()
        for job in self._jobs:
            task, job.task = job.task, None
            if task is not None:
                await _cancel(task, f"leader job {job.name}")
