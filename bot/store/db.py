"""Database engine, sessions and migrations, for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

MIGRATIONS = Path(__file__).resolve().parent.parent.parent / "migrations"
POOL_SIZE = 20
"""PostgreSQL connections kept per process (as many again may open under load)."""
PASSES = 24
"""Conversation passes holding a connection at once, per process (see `Database.conversation`)."""


def sync_url(url: str) -> str:
    """The URL Alembic uses: the same database through a synchronous driver."""
    return url.replace("sqlite+aiosqlite://", "sqlite://")


class Database:
    """Owns the engine. `write` gives a transaction in which one conversation may change.

    On SQLite only one writer can hold the file at a time; writers of this process queue on an
    asyncio lock rather than on SQLite's busy handler, so a burst of candidates never sees
    "database is locked". On PostgreSQL, writers run concurrently and a conversation's passes are
    serialised across processes by an advisory lock (`conversation`).
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # Bound parameters are candidates' texts and platform ids: kept out of SQLAlchemy's log
        # lines and out of the messages of its exceptions, which are logged.
        options: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if self.is_sqlite:
            options["connect_args"] = {"timeout": 30}
        else:
            options.update(pool_size=POOL_SIZE, max_overflow=POOL_SIZE, pool_pre_ping=True, pool_timeout=120)
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.is_sqlite:
            _sqlite_pragmas(self.engine)
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._passes = asyncio.Semaphore(PASSES)
        """A pass keeps its connection while the models work: at most this many at once, so that
        receipts and other work always find a connection in the pool."""

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed on success and rolled back on any error."""
        if self._write_lock is None:
            async with self._sessions() as session, session.begin():
                yield session
            return
        async with self._write_lock, self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def conversation(self, identity_id: int) -> AsyncIterator[Scope]:
        """Hold one conversation's lock across processes while a message is processed, and give
        the reads and writes of that pass (`Scope`).

        On PostgreSQL: a session-level advisory lock keyed by the schema and the conversation, on
        a connection the pass keeps (its reads and writes run on it, each in its own short
        transaction, so none is open while the models work); another process's pass over the same
        conversation waits for it, and a process that dies releases it with its connection. On
        SQLite, one process serves the database and its caller's asyncio lock is the lock.
        """
        if self.is_sqlite:
            yield Scope(self, None)
            return
        async with self._passes, self.engine.connect() as connection:
            key = {"space": ADVISORY_SPACE, "id": identity_id}
            # The lock, the pass's reads and the unlock are single statements outside a transaction
            # (autocommit: no BEGIN and COMMIT round trips); the pass's write is one transaction.
            await _autocommit(connection, True)
            await connection.execute(_LOCK, key)
            try:
                yield Scope(self, connection)
            finally:
                try:
                    await _autocommit(connection, True)
                    await connection.execute(_UNLOCK, key)
                except BaseException:
                    # a lock we cannot release must not go back to the pool with the connection
                    await connection.invalidate()
                    raise

    async def scrub(self) -> None:
        """Make rows deleted so far unrecoverable from the database's files (after an erasure).

        SQLite zeroes deleted content (``secure_delete``) but the pages that held it live on in the
        write-ahead log until a checkpoint: this one copies the log into the database and truncates
        it. PostgreSQL's files are the server's; its autovacuum reclaims deleted rows.
        """
        if self._write_lock is None:
            return
        async with self._write_lock, self.engine.connect() as connection:
            await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def migrate(self) -> None:
        """Bring the schema to the newest migration (blocking; call at start-up)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", sync_url(self.url).replace("%", "%%"))
        command.upgrade(config, "head")

    async def dispose(self) -> None:
        await self.engine.dispose()


ADVISORY_SPACE = ":conversation"
"""Advisory locks are per database: keys are ``(hashtext(current_schema() || space), id)``, so
schemas (test runs, several installations) never share a conversation's lock."""
_LOCK = text("SELECT pg_advisory_lock(hashtext(current_schema() || :space), :id)")
_UNLOCK = text("SELECT pg_advisory_unlock(hashtext(current_schema() || :space), :id)")


class Scope:
    """The reads and writes of one pass over a conversation (see `Database.conversation`)."""

    def __init__(self, db: Database, connection: AsyncConnection | None) -> None:
        self.db = db
        self.connection = connection

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        if self.connection is None:
            async with self.db.read() as session:
                yield session
            return
        # Statement by statement, as READ COMMITTED would see them in a transaction too; the
        # conversation's lock keeps its rows still meanwhile.
        await _autocommit(self.connection, True)
        async with AsyncSession(bind=self.connection, expire_on_commit=False) as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction, committed on success and rolled back on any error."""
        if self.connection is None:
            async with self.db.write() as session:
                yield session
            return
        await _autocommit(self.connection, False)
        async with AsyncSession(bind=self.connection, expire_on_commit=False) as session, session.begin():
            yield session


async def _autocommit(connection: AsyncConnection, on: bool) -> None:
    """Switch a connection between autocommit and its transactions (no round trip: psycopg
    applies it client-side while no transaction is open)."""
    level = "AUTOCOMMIT" if on else connection.sync_connection.default_isolation_level  # type: ignore[union-attr]
    if connection.sync_connection.get_execution_options().get("isolation_level") != level:  # type: ignore[union-attr]
        if connection.in_transaction():  # the last session's, ended (or autocommitted) already
            await connection.commit()
        await connection.execution_options(isolation_level=level)


def _sqlite_pragmas(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA secure_delete=ON")  # erased words are zeroed, not left in free space
        cursor.close()
