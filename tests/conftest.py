"""Fixtures: settings on a fresh database (SQLite, and PostgreSQL where TEST_DATABASE_URL is set),
one shared intent classifier (models load once per session), and a running runtime."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from bot.knowledge import KnowledgeBuilds
from bot.nlu import IntentClassifier
from bot.runtime import Runtime
from bot.scoring import ScorerBuilds
from bot.settings import ROOT, Settings, load_settings
from bot.store.db import Database
from channels.testing import FakeChannel
from language.embeddings import EmbeddingServices

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DATABASES = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test on the store runs on SQLite, and on PostgreSQL too where the database matters: locks,
    claims, concurrency, migrations, erasure, SQL the two dialects may read differently (modules
    marked ``every_database``). The rest (channels, pages, understanding, scoring) runs the same
    code on either and is run once, on SQLite, to keep the suite within its time."""
    if "database_url" in metafunc.fixturenames:
        both = metafunc.definition.get_closest_marker("every_database") is not None
        metafunc.parametrize("database_url", DATABASES if both else ["sqlite"], indirect=True)


def _postgres_schema_url(base: str) -> Iterator[str]:
    """A throw-away schema on the test server, so tests never see each other's rows."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in base else "?"
    yield f"{plain}{separator}options=-csearch_path%3D{schema}"
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the newest schema once per session. Each test starts on a copy:
    running the migrations on an empty file takes seconds (SQLite alters tables by copying them),
    a copy a millisecond, and the bot's own start then finds the schema current."""
    path = tmp_path_factory.mktemp("migrated") / "interviewer.db"
    Database(f"sqlite+aiosqlite:///{path}").migrate()
    return path


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "interviewer.db"
        if request.node.get_closest_marker("empty_database") is None:
            shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        yield f"sqlite:///{path}"
    else:
        yield from _postgres_schema_url(os.environ["TEST_DATABASE_URL"])


@pytest.fixture
def settings(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DATABASE_URL", database_url)
    return load_settings(ROOT / "config.yml")


@pytest.fixture(scope="session")
def classifier() -> IntentClassifier:
    """Fitted once for the whole session: it only reads files and models."""
    config = load_settings(ROOT / "config.yml")
    built = IntentClassifier.from_settings(config, EmbeddingServices())
    asyncio.run(built.prepare())
    return built


@pytest.fixture(scope="session")
def scorer_builds() -> ScorerBuilds:
    """Scorers built once per session: every test imports the same samples into a fresh database."""
    return {}


@pytest.fixture(scope="session")
def knowledge_builds() -> KnowledgeBuilds:
    """The knowledge base built once per session (the FAQ files don't change during a run)."""
    return {}


@pytest.fixture
async def runtime(
    settings: Settings,
    classifier: IntentClassifier,
    scorer_builds: ScorerBuilds,
    knowledge_builds: KnowledgeBuilds,
) -> AsyncIterator[Runtime]:
    built = Runtime(
        settings,
        load_samples=True,
        classifier=classifier,
        scorer_builds=scorer_builds,
        knowledge_builds=knowledge_builds,
    )
    await built.start()
    await built.scoring.wait_ready()
    await built.knowledge.wait_ready()
    try:
        yield built
    finally:
        await built.stop()


@pytest.fixture
def candidate(runtime: Runtime) -> FakeChannel:
    return FakeChannel(runtime.conversations)


@pytest.fixture(scope="session")
def recognizer() -> Iterator[object]:
    """The speech recogniser (packaged Whisper base), loaded once for the session."""
    from channels.voice.recognizer import Recognizer

    config = load_settings(ROOT / "config.yml")
    built = Recognizer(config.voice.model_copy(update={"nice": 0}), config.cache_dir)
    built.preload().result()
    yield built
    built.close()


@pytest.fixture
def voice_runtime(runtime: Runtime, recognizer: object) -> Runtime:
    """The runtime with the shared recogniser plugged in (channels built on it reuse it)."""
    from channels.voice.recognizer import Recognizer

    assert isinstance(recognizer, Recognizer)
    recognizer.settings = runtime.settings.voice.model_copy(update={"nice": 0})
    runtime.conversations.transcripts.recognizer = recognizer
    return runtime


@pytest.fixture
def app_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Logs captured as ``interviewer -v serve`` writes them: everything from debug up, third-party
    loggers at the levels the command holds them to (`bot.settings.QUIET_LOGGERS`)."""
    from bot.settings import QUIET_LOGGERS

    caplog.set_level(logging.DEBUG)
    for name, level in QUIET_LOGGERS.items():
        caplog.set_level(level, logger=name)
    return caplog
