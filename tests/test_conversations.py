"""The conversation service's store: message ids scoped by sender, on every channel."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from bot.messages import IncomingMessage
from bot.nlu import IntentClassifier
from bot.runtime import Runtime
from bot.scoring import ScorerBuilds
from bot.settings import Settings
from bot.store.db import MIGRATIONS, sync_url
from bot.store.models import Candidate, ChannelIdentity
from channels.testing import FakeChannel
from tests.helpers import messages, rows

pytestmark = pytest.mark.every_database  # locks, claims and SQL the two dialects read differently

NOW = "CURRENT_TIMESTAMP"


@pytest.mark.parametrize("channel", ["telegram", "wechat", "rest", "web", "test"])
async def test_a_message_id_is_scoped_by_its_sender_on_every_channel(runtime: Runtime, channel: str) -> None:
    """Two senders whose messages carry the same platform id: each is stored and answered as their
    own (a WeChat MsgId, a client's REST id ...); neither is ever answered from the other's."""
    conversations = runtime.conversations
    mine = await conversations.handle(
        IncomingMessage(channel, "sender-one", "/interview sales_manager", "42")
    )
    theirs = await conversations.handle(IncomingMessage(channel, "sender-two", "/help", "42"))
    assert "Welcome to the interview for Sales Manager" in mine[0].text
    assert all("Welcome to the interview" not in reply.text for reply in theirs)
    assert {reply.recipient_id for reply in theirs} == {"sender-two"}
    inbound = [m for m in await messages(runtime) if m.direction == "in"]
    assert [(m.text, m.platform_message_id) for m in inbound] == [
        ("/interview sales_manager", "42"),
        ("/help", "42"),
    ]
    assert len({m.sender_key for m in inbound}) == 2
    # The stored key names nobody: it is a keyed hash, not the sender's id.
    assert all("sender-" not in (m.sender_key or "") for m in inbound)
    # Each sender's redelivery is still recognised as theirs.
    again = await conversations.handle(IncomingMessage(channel, "sender-two", "/help", "42"))
    assert [r.text for r in again] == [r.text for r in theirs]
    assert len([m for m in await messages(runtime) if m.direction == "in"]) == 2


async def test_a_redelivered_erasing_message_does_not_bring_the_sender_back(runtime: Runtime) -> None:
    candidate = FakeChannel(runtime.conversations, sender="erin-erased")
    await candidate.say("/interview sales_manager")
    await candidate.say("/yes")
    await candidate.say("/delete_my_data")
    assert "Your data has been deleted" in await candidate.said("/yes", message_id="erase-1")
    assert await rows(runtime, Candidate) == [] and await rows(runtime, ChannelIdentity) == []
    # The platform delivers the erasing message again: same answer, and nothing about them stored.
    assert "Your data has been deleted" in await candidate.said("/yes", message_id="erase-1")
    assert await rows(runtime, Candidate) == [] and await rows(runtime, ChannelIdentity) == []


@pytest.mark.empty_database  # migrated from an old revision
async def test_ids_stored_before_0005c_are_scoped_by_sender_at_start(
    settings: Settings, classifier: IntentClassifier, scorer_builds: ScorerBuilds
) -> None:
    """Rows from before the migration get their sender key when the app starts; the REST and web
    channels' old prefixes come off, so a retry that straddles the upgrade is still recognised."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_url(settings.database_url).replace("%", "%%"))
    command.upgrade(config, "0004")
    browser = str(uuid.uuid4())
    rest_prefix = hashlib.sha256(b"ann").hexdigest()[:20]
    legacy = [
        ("rest", "ann", f"{rest_prefix}:m1"),
        ("web", browser, f"{browser}:w1"),
        ("telegram", "77", "update:5"),
    ]
    engine = create_engine(sync_url(settings.database_url))
    try:
        with engine.begin() as connection:
            for channel, sender, platform_id in legacy:
                candidate_id = connection.execute(
                    text(f"INSERT INTO candidate (language, created_at) VALUES ('en', {NOW}) RETURNING id")
                ).scalar_one()
                identity_id = connection.execute(
                    text(
                        "INSERT INTO channel_identity (channel, external_id, candidate_id, created_at,"
                        f" last_seen_at) VALUES (:channel, :sender, :candidate, {NOW}, {NOW}) RETURNING id"
                    ),
                    {"channel": channel, "sender": sender, "candidate": candidate_id},
                ).scalar_one()
                connection.execute(
                    text(
                        "INSERT INTO message (identity_id, channel, direction, text, platform_message_id,"
                        " processed, truncated, delivered, created_at) VALUES (:identity, :channel, 'in',"
                        f" '/help', :platform_id, :no, :no, :yes, {NOW})"
                    ),
                    {
                        "identity": identity_id,
                        "channel": channel,
                        "platform_id": platform_id,
                        "no": False,
                        "yes": True,
                    },
                )
    finally:
        engine.dispose()

    runtime = Runtime(settings, load_samples=True, classifier=classifier, scorer_builds=scorer_builds)
    await runtime.start()
    try:
        stored = await messages(runtime)
        assert [m.platform_message_id for m in stored] == ["m1", "w1", "update:5"]
        assert [m.sender_key for m in stored] == [
            runtime.conversations.sender_key(channel, sender) for channel, sender, _ in legacy
        ]
        # The retry after the upgrade is the stored message, processed once.
        for channel, sender, platform_id in [("rest", "ann", "m1"), ("web", browser, "w1")]:
            replies = await runtime.conversations.handle(
                IncomingMessage(channel, sender, "/help", platform_id)
            )
            assert replies and "/interview" in "\n".join(r.text for r in replies)
        assert len([m for m in await messages(runtime) if m.direction == "in"]) == 3
    finally:
        await runtime.stop()
