"""The outbox: idempotent enqueueing, claims that never send a row twice, order per conversation,
backoff and giving up on an injected clock, buttons, and no secret in stored errors or logs.

Each test runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL; there the concurrency tests
use two `Database` objects (two connection pools, as two processes have).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import column, create_engine, insert, table
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.handoffs import answer_handoff
from bot.messages import DeliveryError, OutgoingButton, OutgoingMessage, PermanentDeliveryError
from bot.outbox import (
    Delivery,
    Outbox,
    OutboxItem,
    cancel,
    enqueue,
    list_outbox,
    message_payload,
    outbox_counts,
    purge_outbox,
)
from bot.runtime import Runtime
from bot.settings import OutboxSettings, Settings
from bot.store.db import MIGRATIONS, Database, sync_url
from bot.store.models import Candidate, ChannelIdentity, OutboxRow, utcnow
from channels.testing import FakeChannel
from tests.helpers import handoffs, messages
from tests.test_knowledge import UNKNOWN

pytestmark = pytest.mark.every_database  # locks, claims and SQL the two dialects read differently

RECIPIENT = "chat-4711-0815"


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.database_url)
    await asyncio.to_thread(database.migrate)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def second_db(settings: Settings, db: Database) -> AsyncIterator[Database]:
    """Another process's view of the database: its own pool on PostgreSQL. SQLite serves one
    process, whose writers share one lock: the same object."""
    if db.is_sqlite:
        yield db
        return
    database = Database(settings.database_url)
    try:
        yield database
    finally:
        await database.dispose()


class FakeClock:
    def __init__(self) -> None:
        # rows enqueued during the test are due, however slowly a loaded machine writes them
        self.now = utcnow() + timedelta(minutes=5)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Recorder:
    """A sender: records what it delivers; fails as told, per message text."""

    sent: list[OutboxItem] = field(default_factory=list)
    failures: dict[str, list[BaseException]] = field(default_factory=dict)
    delay: float = 0.0

    async def __call__(self, item: OutboxItem) -> None:
        if self.delay:
            await asyncio.sleep(self.delay * random.random())
        pending = self.failures.get(item.text)
        if pending:
            raise pending.pop(0)
        self.sent.append(item)

    def texts(self) -> list[str]:
        return [item.text for item in self.sent]


def make_outbox(db: Database, clock: FakeClock, sender: Recorder | None = None, **options: Any) -> Outbox:
    settings = OutboxSettings(**({"retry_base_seconds": 10, "retry_cap_seconds": 60} | options))
    outbox = Outbox(db, settings, clock=clock, jitter=lambda: 1.0)
    if sender is not None:
        outbox.register("telegram", sender)
    return outbox


async def put(
    db: Database, text: str, *, ordering_key: str | None = None, key: str | None = None, **extra: Any
) -> int:
    async with db.write() as session:
        row = await enqueue(
            session,
            channel=extra.pop("channel", "telegram"),
            recipient=RECIPIENT,
            kind=extra.pop("kind", "reply"),
            payload=extra.pop("payload", None) or message_payload(text),
            idempotency_key=key or f"test:{text}",
            ordering_key=ordering_key,
            **extra,
        )
        assert row.id is not None
        return row.id


async def row(db: Database, row_id: int) -> OutboxRow:
    async with db.read() as session:
        found = await session.get(OutboxRow, row_id)
    assert found is not None
    return found


async def all_rows(db: Database) -> list[OutboxRow]:
    async with db.read() as session:
        return list((await session.exec(select(OutboxRow).order_by(col(OutboxRow.id)))).all())


async def test_enqueueing_a_key_twice_creates_one_row(db: Database, second_db: Database) -> None:
    first = await put(db, "Your interview starts tomorrow.", key="invitation:7")
    again = await put(db, "A different text, same key.", key="invitation:7")
    assert again == first
    # Two writers with the same key at the same moment: one row, and neither fails.
    ids = await asyncio.gather(
        put(db, "Reminder", key="reminder:7"),
        put(second_db, "Reminder", key="reminder:7"),
    )
    assert ids[0] == ids[1]
    rows = await all_rows(db)
    assert [r.idempotency_key for r in rows] == ["invitation:7", "reminder:7"]
    assert rows[0].payload["text"] == "Your interview starts tomorrow."


async def test_a_push_channel_receives_text_and_buttons(db: Database) -> None:
    received: list[OutgoingMessage] = []

    class Channel:
        name = "wechat"

        def router(self) -> None:
            return None

        async def send(self, message: OutgoingMessage) -> None:
            received.append(message)

    clock = FakeClock()
    outbox = make_outbox(db, clock)
    outbox.register_channel(Channel())
    buttons = [OutgoingButton("Yes", "/yes"), OutgoingButton("Not now", "/pause")]
    payload = message_payload("Shall we continue?", buttons)
    await put(db, "Shall we continue?", channel="wechat", payload=payload)
    assert (await outbox.deliver_due()).sent == 1
    assert received == [OutgoingMessage(RECIPIENT, "Shall we continue?", buttons)]
    (sent,) = await all_rows(db)
    assert sent.state == "sent" and sent.attempts == 1 and sent.sent_at == clock.now


async def test_a_failing_head_holds_back_its_conversation_and_only_that(db: Database) -> None:
    clock = FakeClock()
    sender = Recorder(failures={"a1": [DeliveryError("timed out"), DeliveryError("timed out")]})
    outbox = make_outbox(db, clock, sender)
    for text in ("a1", "a2", "a3"):
        await put(db, text, ordering_key="conversation:1")
    await put(db, "b1", ordering_key="conversation:2")
    await put(db, "free")

    first = await outbox.deliver_due()
    assert (first.claimed, first.sent, first.retried) == (3, 2, 1)  # a1 (failed), b1, free
    assert sorted(sender.texts()) == ["b1", "free"]
    assert (await outbox.deliver_due()).claimed == 0  # a1 waits for its retry, a2 and a3 behind it
    clock.advance(10)
    assert (await outbox.deliver_due()).retried == 1  # a1 fails again
    clock.advance(20)
    for _ in range(3):
        await outbox.deliver_due()
    assert sender.texts()[2:] == ["a1", "a2", "a3"]


async def test_a_head_given_up_releases_its_successors(db: Database) -> None:
    clock = FakeClock()
    blocked = PermanentDeliveryError("Forbidden: bot was blocked by the user")
    sender = Recorder(failures={"blocked": [blocked]})
    outbox = make_outbox(db, clock, sender)
    head = await put(db, "blocked", ordering_key="conversation:1")
    await put(db, "next", ordering_key="conversation:1")
    report = await outbox.deliver_due()
    assert (report.failed, report.sent) == (1, 0)
    given_up = await row(db, head)
    assert given_up.state == "failed" and given_up.attempts == 1
    assert given_up.last_error == "PermanentDeliveryError: Forbidden: bot was blocked by the user"
    assert (await outbox.deliver_due()).sent == 1 and sender.texts() == ["next"]


async def test_backoff_doubles_up_to_the_cap_and_gives_up_before_expiry(db: Database) -> None:
    clock = FakeClock()
    sender = Recorder(failures={"hello": [DeliveryError("unreachable")] * 10})
    outbox = make_outbox(db, clock, sender)
    row_id = await put(db, "hello", expires_at=clock.now + timedelta(seconds=200))
    waits = []
    for _ in range(5):
        started = clock.now
        assert (await outbox.deliver_due()).retried == 1
        stored = await row(db, row_id)
        waits.append((stored.not_before - started).total_seconds())
        clock.now = stored.not_before
    assert waits == [10, 20, 40, 60, 60]  # base 10 s doubling, cap 60 s (jitter fixed at its top)
    report = await outbox.deliver_due()  # the sixth failure: a retry would fall after the expiry
    assert report.failed == 1
    stored = await row(db, row_id)
    assert stored.state == "failed" and stored.attempts == 6
    assert stored.last_error == "DeliveryError: unreachable; no attempt left before it expires"
    assert await outbox_counts(db) == {"scheduled": 0, "sending": 0, "failed": 1}
    (view,) = await list_outbox(db, state="failed")
    assert view.id == row_id and view.attempts == 6 and view.kind == "reply"
    assert not hasattr(view, "recipient") and not hasattr(view, "payload")
    listed = await asyncio.to_thread(CliRunner().invoke, cli_app, ["outbox", "list", "--state", "failed"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.startswith(f"{row_id}\tfailed\ttelegram\treply\t6\t")
    assert listed.output.rstrip().endswith("no attempt left before it expires")


async def test_jitter_spreads_retries_between_half_and_all_of_the_backoff(db: Database) -> None:
    outbox = Outbox(db, OutboxSettings(retry_base_seconds=8, retry_cap_seconds=100))
    for attempt, full in [(1, 8), (2, 16), (3, 32), (5, 100), (40, 100)]:
        waits = [outbox.backoff(attempt) for _ in range(200)]
        assert full / 2 <= min(waits) < max(waits) <= full


async def test_retry_after_is_honoured_and_a_row_past_its_expiry_fails_unsent(db: Database) -> None:
    clock = FakeClock()
    sender = Recorder(failures={"slow": [DeliveryError("429 Too Many Requests", retry_after=42)]})
    outbox = make_outbox(db, clock, sender)
    slow = await put(db, "slow")
    await outbox.deliver_due()
    assert (await row(db, slow)).not_before == clock.now + timedelta(seconds=42)

    # Queued with the default expiry (outbox.expire_after_hours) behind a head that keeps failing.
    sender.failures["head"] = [DeliveryError("unreachable")] * 100
    await put(db, "head", ordering_key="conversation:9", expires_at=clock.now + timedelta(days=9))
    waiting = await put(db, "waiting", ordering_key="conversation:9")
    clock.advance(48 * 3600)
    for _ in range(3):
        await outbox.deliver_due()
        clock.advance(60)
    assert (await row(db, waiting)).state == "scheduled"  # blocked: not yet looked at
    sender.failures["head"] = []
    await outbox.deliver_due()  # the head goes out; "waiting" is past its 48 hours
    await outbox.deliver_due()
    expired = await row(db, waiting)
    assert expired.state == "failed" and expired.attempts == 0
    assert expired.last_error == "Expired: not delivered after 0 attempt(s)"
    assert "waiting" not in sender.texts()


async def test_no_secret_and_no_recipient_in_stored_errors_or_logs(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app_secret = "wx-app-secret-5f2b9c"
    bot_token = "7000000001:AAH-secret-bot-token_0123456789"
    monkeypatch.setenv("WECHAT_APP_SECRET", app_secret)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", bot_token)
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    sender = Recorder(
        failures={
            "one": [
                DeliveryError(
                    "WeChat API not reachable: HTTPSConnectionPool(host='api.weixin.qq.com'): /cgi-bin/token"
                    f"?grant_type=client_credential&appid=wx1&secret={app_secret} for {RECIPIENT}"
                )
            ],
            "two": [RuntimeError(f"POST https://api.telegram.org/bot{bot_token}/sendMessage\n{RECIPIENT}")],
            "three": [PermanentDeliveryError(f"{app_secret} refused {RECIPIENT}")],
        }
    )
    outbox = make_outbox(db, clock, sender)
    ids = [await put(db, text) for text in ("one", "two", "three")]
    await outbox.deliver_due()
    errors = [(await row(db, row_id)).last_error or "" for row_id in ids]
    assert errors[0].startswith("DeliveryError: WeChat API not reachable")
    assert "secret=[redacted]" in errors[0] and errors[0].endswith("for [recipient]")
    assert errors[1] == "RuntimeError: POST https://api.telegram.org/bot[redacted]/sendMessage"
    assert errors[2] == "PermanentDeliveryError: [redacted] refused [recipient]"
    logged = caplog.text
    assert "attempt 1 failed" in logged and "gave up" in logged
    for leak in (app_secret, bot_token, RECIPIENT, "AAH-secret"):
        assert leak not in logged
        assert all(leak not in error for error in errors)


async def test_two_processes_never_send_a_row_twice_and_keep_each_conversations_order(
    db: Database, second_db: Database
) -> None:
    clock = FakeClock()
    sent = Recorder(delay=0.002)
    # A few conversations' first messages fail once.
    sent.failures = {f"c{c}-m0": [DeliveryError("flaky")] for c in range(0, 30, 7)}
    outboxes = [make_outbox(db, clock, sent, batch_size=7, concurrency=4)]
    outboxes.append(make_outbox(second_db, clock, sent, batch_size=7, concurrency=4))
    expected: dict[str, list[str]] = {}
    async with db.write() as session:
        for message in range(6):
            for conversation in range(30):
                text = f"c{conversation}-m{message}"
                expected.setdefault(f"conversation:{conversation}", []).append(text)
                await enqueue(
                    session,
                    channel="telegram",
                    recipient=RECIPIENT,
                    kind="reply",
                    payload=message_payload(text),
                    idempotency_key=text,
                    ordering_key=f"conversation:{conversation}",
                )
        for free in range(40):
            await enqueue(
                session,
                channel="telegram",
                recipient=RECIPIENT,
                kind="invitation",
                payload=message_payload(f"free-{free}"),
                idempotency_key=f"free-{free}",
            )

    async def deliver(outbox: Outbox) -> None:
        for _ in range(400):
            await outbox.deliver_due()
            if len(sent.sent) == 220:
                return
            clock.advance(1)  # retries come due; both processes race for every round

    await asyncio.gather(*(deliver(outbox) for outbox in outboxes))
    counts = Counter(item.id for item in sent.sent)
    assert len(counts) == 220 and set(counts.values()) == {1}
    for key, texts in expected.items():
        prefix = key.replace("conversation:", "c")
        assert [i.text for i in sent.sent if i.text.split("-")[0] == prefix] == texts
    assert {r.state for r in await all_rows(db)} == {"sent"}


async def test_a_claim_whose_process_died_is_sent_again_after_its_lease(
    db: Database, second_db: Database
) -> None:
    clock = FakeClock()
    dead = make_outbox(db, clock, Recorder(), lease_seconds=120)
    alive_sender = Recorder()
    alive = make_outbox(second_db, clock, alive_sender, lease_seconds=120)
    row_id = await put(db, "Your interview link")
    (claimed,) = await dead._claim(Delivery())  # claimed, then the process is killed mid-send
    assert claimed.id == row_id and (await row(db, row_id)).state == "sending"
    assert (await alive.deliver_due()).claimed == 0  # its lease still runs
    clock.advance(121)
    assert (await alive.deliver_due()).sent == 1
    again = await row(db, row_id)
    assert again.state == "sent" and again.attempts == 2
    assert again.last_error is not None and again.last_error.startswith("LeaseExpired")
    assert alive_sender.texts() == ["Your interview link"]


async def test_a_graceful_stop_finishes_the_send_under_way_and_puts_back_the_rest(db: Database) -> None:
    clock = FakeClock()
    started = asyncio.Event()
    finish = asyncio.Event()
    delivered: list[str] = []

    async def slow(item: OutboxItem) -> None:
        started.set()
        await finish.wait()
        delivered.append(item.text)

    outbox = make_outbox(db, clock, concurrency=1, poll_seconds=3600)
    outbox.register("telegram", slow)
    for index in range(3):
        await put(db, f"invitation {index}")
    outbox.start()
    await asyncio.wait_for(started.wait(), 5)
    stopping = asyncio.create_task(outbox.stop())
    await asyncio.sleep(0.01)
    finish.set()
    await stopping
    assert delivered == ["invitation 0"]
    assert [(r.state, r.attempts, r.claimed_by) for r in await all_rows(db)] == [
        ("sent", 1, None),
        ("scheduled", 0, None),
        ("scheduled", 0, None),
    ]


async def test_notify_delivers_at_once_without_waiting_for_the_poll(db: Database) -> None:
    sender = Recorder()
    outbox = Outbox(db, OutboxSettings(poll_seconds=3600))
    outbox.register("telegram", sender)
    outbox.start()
    try:
        await asyncio.sleep(0.05)  # the loop found nothing and waits for an hour
        await put(db, "HR answered your question.")
        outbox.notify()
        for _ in range(3000):  # tiny waits; the machine may be busy
            if sender.sent:
                break
            await asyncio.sleep(0.01)
        assert sender.texts() == ["HR answered your question."]
    finally:
        await outbox.stop()


async def test_cancelled_rows_are_not_sent_and_finished_rows_are_purged(db: Database) -> None:
    clock = FakeClock()
    sender = Recorder()
    outbox = make_outbox(db, clock, sender)
    await put(db, "invitation", kind="invitation", candidate_id=None, ordering_key="candidate:3")
    reminder = await put(db, "reminder", kind="reminder", ordering_key="candidate:3")
    async with db.write() as session:
        with pytest.raises(ValueError, match="needs"):
            await cancel(session)
        assert await cancel(session, ordering_key="candidate:3", kinds=["reminder"]) == 1
    await outbox.deliver_due()
    assert sender.texts() == ["invitation"] and (await row(db, reminder)).state == "cancelled"
    await put(db, "still waiting", not_before=clock.now + timedelta(days=60))
    assert await purge_outbox(db, timedelta(days=30), now=clock.now) == 0
    assert await purge_outbox(db, timedelta(days=30), now=clock.now + timedelta(days=31)) == 2
    assert [r.payload["text"] for r in await all_rows(db)] == ["still waiting"]


async def test_enqueue_refuses_what_it_cannot_store(db: Database) -> None:
    async with db.write() as session:
        fields: dict[str, Any] = {"channel": "sms", "kind": "invitation", "payload": {}}
        with pytest.raises(ValueError, match="idempotency_key"):
            await enqueue(session, recipient="contact:1", idempotency_key="", **fields)
        with pytest.raises(ValueError, match="recipient"):
            await enqueue(session, recipient="x" * 300, idempotency_key="k", **fields)


# --- through the running bot ---------------------------------------------------------------------------


async def test_hr_answer_on_a_push_channel_goes_out_once_and_erasure_reaches_it(runtime: Runtime) -> None:
    candidate = FakeChannel(runtime.conversations, sender="7201")
    candidate.name = "telegram"  # a push channel: HR's answer goes through the outbox
    sender = Recorder()
    runtime.outbox.register("telegram", sender)  # instead of the Bot API
    await candidate.say("/interview sales_manager")
    await candidate.say("/yes")
    await candidate.say(UNKNOWN)
    (handoff,) = await handoffs(runtime)
    assert handoff.id is not None
    await answer_handoff(runtime.db, runtime.responses, handoff.id, "Yes, free for visitors.")
    runtime.outbox.notify()
    for _ in range(3000):  # the background delivery loop; tiny waits
        if sender.sent and (await all_rows(runtime.db))[0].state == "sent":
            break
        await asyncio.sleep(0.01)
    (item,) = sender.sent
    assert item.kind == "handoff_answer" and item.recipient == "7201"
    assert "Yes, free for visitors." in item.text and UNKNOWN in item.text
    (answer,) = [m for m in await messages(runtime) if m.id == item.message_id]
    assert answer.delivered and answer.direction == "out"
    # Pushed already: the candidate's next reply does not carry it again.
    assert "free for visitors" not in await candidate.said("/repeat")
    await candidate.say("/delete_my_data")
    await candidate.say("/yes")
    assert await all_rows(runtime.db) == []


MESSAGE_COLUMNS_0004 = (
    "identity_id",
    "channel",
    "direction",
    "text",
    "processed",
    "truncated",
    "delivered",
    "created_at",
)


@pytest.mark.empty_database  # migrated from an old revision
def test_messages_waiting_for_a_push_channel_move_into_the_outbox_on_upgrade(settings: Settings) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_url(settings.database_url).replace("%", "%%"))
    command.upgrade(config, "0004")
    engine = create_engine(sync_url(settings.database_url))
    now = utcnow()
    try:
        with engine.begin() as connection:
            (candidate,) = connection.execute(
                insert(Candidate.__table__).values(language="en", created_at=now)  # type: ignore[arg-type]
            ).inserted_primary_key
            for channel, sender in (("wechat", "o_lee"), ("web", "web-lee")):
                (identity,) = connection.execute(
                    insert(ChannelIdentity.__table__).values(  # type: ignore[arg-type]
                        channel=channel,
                        external_id=sender,
                        candidate_id=candidate,
                        created_at=now,
                        last_seen_at=now,
                    )
                ).inserted_primary_key
                # the table as revision 0004 had it (the model has columns added since)
                message_0004 = table("message", *map(column, MESSAGE_COLUMNS_0004))
                connection.execute(
                    insert(message_0004).values(
                        identity_id=identity,
                        channel=channel,
                        direction="out",
                        text=f"HR answered on {channel}",
                        processed=True,
                        truncated=False,
                        delivered=False,
                        created_at=now,
                    )
                )
        command.upgrade(config, "head")
        with engine.connect() as connection:
            moved = connection.execute(select(OutboxRow)).all()
    finally:
        engine.dispose()
    # The WeChat message is pushed by the outbox now; the web chat's still waits for the next reply.
    (row,) = moved
    assert (row.channel, row.recipient, row.kind, row.state) == ("wechat", "o_lee", "reply", "scheduled")
    assert row.payload == {"text": "HR answered on wechat"}
    assert row.idempotency_key == f"message:{row.message_id}"
