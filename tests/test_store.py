"""The schema: migrations and models agree, on every database the suite runs on."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import bot.store.models  # noqa: F401  (registers the tables)
from bot.settings import Settings
from bot.store.db import Database, sync_url

pytestmark = pytest.mark.every_database  # locks, claims and SQL the two dialects read differently


def test_migrations_create_exactly_the_models_tables(settings: Settings) -> None:
    database = Database(settings.database_url)
    database.migrate()
    asyncio.run(database.dispose())
    engine = create_engine(sync_url(settings.database_url))
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_migrating_twice_is_harmless(settings: Settings) -> None:
    database = Database(settings.database_url)
    database.migrate()
    database.migrate()
    asyncio.run(database.dispose())
