"""Outbox throughput: rows queued, claimed, sent through a sender that only waits, and marked sent.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench python bench/outbox.py --rows 5000 --outboxes 2

Runs in a throw-away schema (PostgreSQL) or file (SQLite), so it measures the database work of the
outbox alone: the claim (``FOR UPDATE SKIP LOCKED``), the per-row update to ``sent``, and the order
per conversation. ``--outboxes`` delivers with that many `Outbox` objects on their own connection
pools, as that many processes would; ``--send-ms`` is how long each send takes (a platform's API);
``--per-conversation`` rows share an ordering key (they go out one after another).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.outbox import Outbox, OutboxItem, enqueue, message_payload
from bot.settings import OutboxSettings
from bot.store.db import Database


def _schema_url(base: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in plain else "?"
    return f"{plain}{separator}options=-csearch_path%3D{schema}", schema


async def run(args: argparse.Namespace) -> None:
    base = os.environ.get("DATABASE_URL", "")
    schema = None
    if base.startswith("postgres"):
        url, schema = _schema_url(base)
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/outbox-bench.db"
    # The async drivers the application uses (not Settings: DATABASE_URL would override the schema).
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    url = url.replace("sqlite://", "sqlite+aiosqlite://", 1)
    databases = [Database(url) for _ in range(args.outboxes)]
    await asyncio.to_thread(databases[0].migrate)
    sent: Counter[int] = Counter()

    async def send(item: OutboxItem) -> None:
        await asyncio.sleep(args.send_ms / 1000)
        sent[item.id] += 1

    started = time.perf_counter()
    async with databases[0].write() as session:
        for index in range(args.rows):
            await enqueue(
                session,
                channel="sms",
                recipient=f"contact:{index}",
                kind="invitation",
                payload=message_payload(f"Invitation {index}"),
                idempotency_key=f"bench:{index}",
                ordering_key=f"candidate:{index // args.per_conversation}",
            )
    queued = time.perf_counter() - started
    settings = OutboxSettings(batch_size=args.batch, concurrency=args.concurrency)
    outboxes = []
    for db in databases:
        outbox = Outbox(db, settings)
        outbox.register("sms", send)
        outboxes.append(outbox)

    async def deliver(outbox: Outbox) -> int:
        rounds = 0
        while sum(sent.values()) < args.rows:
            rounds += 1
            if not (await outbox.deliver_due()).claimed:
                await asyncio.sleep(0.01)
        return rounds

    started = time.perf_counter()
    cpu = time.process_time()
    rounds = await asyncio.gather(*(deliver(outbox) for outbox in outboxes))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    assert len(sent) == args.rows and set(sent.values()) == {1}, "a row was sent twice or not at all"
    print(
        f"{args.rows} rows ({args.per_conversation} per conversation), {args.outboxes} outbox(es), "
        f"batch {args.batch}, concurrency {args.concurrency}, send {args.send_ms} ms, "
        f"{'postgresql' if schema else 'sqlite'}:\n"
        f"  enqueue: {args.rows / queued:.0f} rows/s (one transaction)\n"
        f"  deliver: {args.rows / elapsed:.0f} rows/s, {elapsed:.1f} s, rounds {rounds}, "
        f"client CPU {1000 * cpu / args.rows:.2f} ms/row, each row sent once"
    )
    for db in databases:
        await db.dispose()
    if schema:
        with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
            c.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--outboxes", type=int, default=1)
    parser.add_argument("--per-conversation", type=int, default=1)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--send-ms", type=float, default=5.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
