"""CPU per turn of the turn path alone, in one process (no HTTP, no load generator beside it).

Starts a `Runtime` on a fresh database (a throw-away PostgreSQL schema with ``--database-url``,
else SQLite in a temporary folder), lets N candidates take interviews through the fake channel
with answers no cache has seen, and reports the process's CPU per turn, all of it and outside the
embedding models (the same count as ``/metrics``). CPU time, not wall time: it holds up on a busy
machine where latencies do not. ``--profile FILE`` writes a cProfile of the turns (the event loop
thread's CPU time; pstats format: ``python -m pstats FILE``), ``--top N`` prints the N functions with
the most own time, ``--sql`` counts the SQL statements per turn.

    .venv/bin/python bench/turn_cpu.py [--candidates 40] [--role sales_manager] [--language en]
        [--database-url postgresql://...] [--profile out.pstats] [--top 30]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.turns import _drop_schema, _schema_url, interview_in_process  # noqa: E402
from bench.unseen import sample_answers  # noqa: E402
from flows.schema import load_flow_file  # noqa: E402


async def interviews(args: argparse.Namespace, database_url: str) -> None:
    from bot.metrics import snapshot
    from bot.runtime import Runtime
    from bot.settings import ROOT as APP_ROOT
    from bot.settings import load_settings

    os.environ["DATABASE_URL"] = database_url
    settings = load_settings(APP_ROOT / "config.yml")
    runtime = Runtime(settings, load_samples=True)
    statements: Counter[str] = Counter()
    if args.sql:
        from sqlalchemy import event

        @event.listens_for(runtime.db.engine.sync_engine, "before_cursor_execute")
        def _count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            statements[" ".join(statement.split())[:150]] += 1

    await runtime.start()
    await runtime.scoring.wait_ready()
    await runtime.knowledge.wait_ready()
    flow = load_flow_file(ROOT / "dialogues" / "flows" / f"{args.role}.yml").flow
    language = args.language or flow.languages[0]
    bank = sample_answers(flow, language)
    rng = random.Random(args.seed)

    async def one(i: int) -> None:
        sender = f"cpu-{args.seed}-{i}"
        await interview_in_process(runtime.conversations, flow, language, sender, bank, rng, args.questions)

    # a warm-up candidate: first calls build lazily what they build
    await one(-1)
    statements.clear()
    before = snapshot(runtime.embeddings, runtime.conversations.turns)
    wall = time.perf_counter()
    # the event loop's CPU time, not wall time (a busy machine stretches waits)
    profile = cProfile.Profile(time.thread_time) if args.profile or args.top else None
    if profile:
        profile.enable()
    for start in range(0, args.candidates, args.concurrency):
        await asyncio.gather(*(one(i) for i in range(start, min(start + args.concurrency, args.candidates))))
    if profile:
        profile.disable()
    wall = time.perf_counter() - wall
    after = snapshot(runtime.embeddings, runtime.conversations.turns)
    turns = after["turns"] - before["turns"]
    cpu = after["process_cpu_seconds"] - before["process_cpu_seconds"]
    model = after["model_cpu_seconds"] - before["model_cpu_seconds"]
    loop = after["event_loop_cpu_seconds"] - before["event_loop_cpu_seconds"]
    print(
        f"{args.role} {language} {settings.database_url.split(':', 1)[0]}: {turns} turns in {wall:.1f} s; "
        f"CPU per turn {1000 * cpu / turns:.1f} ms, outside the models {1000 * (cpu - model) / turns:.1f} ms "
        f"(event loop {1000 * loop / turns:.1f} ms); peak RSS {after['peak_rss_mb']:.0f} MB"
    )
    for name, m in after["models"].items():
        old = before["models"].get(name, {"texts": 0, "cpu_seconds": 0.0})
        if m["texts"] - old["texts"]:
            per = 1000 * (m["cpu_seconds"] - old["cpu_seconds"]) / (m["texts"] - old["texts"])
            print(f"  {name}: {m['texts'] - old['texts']} texts, {per:.0f} ms CPU each (calling thread)")
    await runtime.stop()
    if args.sql:
        print(f"SQL statements per turn: {sum(statements.values()) / turns:.1f}")
        for text, count in statements.most_common(40):
            print(f"  {count / turns:5.2f}  {text}")
    if profile:
        if args.profile:
            profile.dump_stats(args.profile)
        if args.top:
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=20, help="candidates at once")
    parser.add_argument("--questions", type=int, default=3, help="questions answered per candidate")
    parser.add_argument("--role", default="sales_manager")
    parser.add_argument("--language", choices=["en", "zh"])
    parser.add_argument("--database-url", help="PostgreSQL server (a throw-away schema); SQLite if absent")
    parser.add_argument("--seed", type=int, default=random.randrange(10**9))
    parser.add_argument("--profile", help="write a cProfile of the timed turns here")
    parser.add_argument("--sql", action="store_true", help="count the SQL statements per turn")
    parser.add_argument("--top", type=int, default=0, help="print the N functions with most own time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        schema = None
        if args.database_url:
            schema, url = _schema_url(args.database_url)
            url = url.replace("postgresql://", "postgresql+psycopg://")
        else:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'cpu.db'}"
        try:
            asyncio.run(interviews(args, url))
        finally:
            if schema:
                _drop_schema(args.database_url, schema)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
