"""Database engine, sessions and migrations, for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

MIGRATIONS = Path(__file__).resolve().parent.parent.parent / "migrations"


def sync_url(url: str) -> str:
    """The URL Alembic uses: the same database through a synchronous driver."""
    return url.replace("sqlite+aiosqlite://", "sqlite://")


class Database:
    """Owns the engine. `write` gives a transaction in which one conversation may change.

    On SQLite only one writer can hold the file at a time; writers of this process queue on an
    asyncio lock rather than on SQLite's busy handler, so a burst of candidates never sees
    "database is locked". On PostgreSQL, writers run concurrently and conversations are
    serialised by row locks (see `bot.store.repo`).
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
            options.update(pool_size=20, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.is_sqlite:
            _sqlite_pragmas(self.engine)
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

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
