"""Simulated candidates taking interviews concurrently over HTTP, with answers no cache has seen.

Starts `interviewer serve` on a fresh database (SQLite in a temporary folder, or a throw-away schema
of ``--database-url``'s PostgreSQL database), or uses ``--url`` of a running server. N candidates
then each take a whole interview through the REST channel: consent, then every question answered
with a text made for that candidate (sample answers recombined and perturbed: `bench/unseen.py`),
follow-up probes answered too, "shall I record that?" confirmed. With ``--think-time`` each
candidate waits a random time around it before each message (as people type) and the candidates
start spread over one think time (``--ramp SECONDS`` to spread them over more or fewer: 1,000
candidates then do not all open their interviews in the same second); without it they answer back
to back.

Reports turns/s, latency percentiles, errors, lost or duplicated messages and answers (checked in
the database after the run), the server's CPU per turn (all of it, and outside the embedding
models, from ``/metrics``) and the peak RSS of all server processes together.

    .venv/bin/python bench/turns.py [--candidates 200] [--role sales_manager] [--language en]
        [--think-time 60] [--ramp 60] [--duration 600] [--workers 2] [--database-url postgresql://...]
        [--url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.unseen import sample_answers, unseen_answer  # noqa: E402
from flows.schema import Flow, load_flow_file  # noqa: E402

CONFIRM = {"en": "Shall I record that as your answer", "zh": "要把这条消息记录为你对"}
DONE = {"en": "That was the last question", "zh": "这是最后一道题"}
QUESTION = {"en": "Question {n} of", "zh": "第 {n} 题"}


async def interview_in_process(
    conversations: Any,
    flow: Flow,
    language: str,
    sender: str,
    bank: dict[str, list[str]],
    rng: random.Random,
    questions: int,
) -> int:
    """One candidate through the first ``questions`` questions on an in-process channel (no HTTP),
    with answers no cache has seen: an answer, then at most two follow-ups per question, confirming
    when asked. Returns the number of answers sent."""
    from channels.testing import FakeChannel  # imported late: bench/memory.py measures before it

    channel = FakeChannel(conversations, sender=sender)
    if language == "zh":
        await channel.said("/lang zh")
    await channel.said(f"/interview {flow.role}")
    await channel.said("/yes")
    turns = 0
    for n, question in enumerate(flow.questions[:questions]):
        for _ in range(3):
            text = unseen_answer(bank[question.id] or [question.text[language]], language, rng)
            reply = await channel.said(text)
            turns += 1
            if CONFIRM[language] in reply:
                reply = await channel.said("/yes")
            if DONE[language] in reply or QUESTION[language].format(n=n + 2) in reply:
                break
    return turns


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sent: dict[str, str] = field(default_factory=dict)
    """Every message sent, by its id as the REST channel stores it (unique here: ids name the sender)."""
    answers: dict[str, str] = field(default_factory=dict)
    """The messages meant as answers, by message id."""
    finished: int = 0
    resent: int = 0
    """Messages sent again after the connection dropped (no reply came)."""


async def candidate(
    client: httpx.AsyncClient,
    index: int,
    flow: Flow,
    language: str,
    bank: dict[str, list[str]],
    results: Results,
    think: float,
    deadline: float,
    seed: int,
    ramp: float,
) -> None:
    rng = random.Random(f"{seed}-{index}")
    sender = f"bench-{seed}-{index}"
    if ramp:
        await asyncio.sleep(rng.uniform(0, ramp))
    turn = 0
    question = 0

    async def say(text: str, answer: bool = False) -> str | None:
        nonlocal turn
        if think and turn:
            await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))
        message_id = f"{sender}-{turn}"
        turn += 1
        stored_id = message_id  # stored as sent, beside a keyed hash of the sender (repo.sender_key)
        results.sent[stored_id] = text
        if answer:
            results.answers[stored_id] = text
        started = time.perf_counter()
        for attempt in range(3):  # a dropped connection is resent with the same id, as channels do
            try:
                response = await client.post(
                    "/webhooks/rest/webhook",
                    json={"sender": sender, "message": text, "metadata": {"message_id": message_id}},
                )
                break
            except httpx.TransportError as exc:
                if attempt == 2:
                    results.errors.append(f"{sender} turn {turn}: {type(exc).__name__}")
                    return None
                results.resent += 1
            except httpx.HTTPError as exc:
                results.errors.append(f"{sender} turn {turn}: {type(exc).__name__}")
                return None
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or not response.json():
            results.errors.append(f"{sender} turn {turn}: HTTP {response.status_code}")
            return None
        results.latencies.append(elapsed)
        return "\n".join(str(item.get("text", "")) for item in response.json())

    opening = ["/lang zh"] if language == "zh" else []
    for text in [*opening, f"/interview {flow.role}", "/yes"]:
        if await say(text) is None:
            return
    while question < len(flow.questions) and time.monotonic() < deadline:
        q = flow.questions[question]
        reply = await say(unseen_answer(bank[q.id] or [q.text[language]], language, rng), answer=True)
        if reply is None:
            return
        if CONFIRM[language] in reply:
            reply = await say("/yes")
            if reply is None:
                return
        if DONE[language] in reply:
            results.finished += 1
            return
        if QUESTION[language].format(n=question + 2) in reply:
            question += 1
        # else: a follow-up probe (answered next, about the same question) or a detour


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _schema_url(base: str) -> tuple[str, str]:
    """A throw-away schema on the PostgreSQL server of ``base``, and the URL that uses it."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in plain else "?"
    return schema, f"{plain}{separator}options=-csearch_path%3D{schema}"


def _drop_schema(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
        c.execute(f'DROP SCHEMA "{schema}" CASCADE')


def start_server(
    database_url: str, workers: int, log: Path, code: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    interviewer = str(Path(sys.executable).parent / "interviewer")
    command = [interviewer, "serve", "--port", str(_free_port())]
    if workers > 1:
        usage = subprocess.run(
            [interviewer, "serve", "--help"], capture_output=True, text=True, check=False
        ).stdout
        if "--workers" not in usage:
            raise SystemExit("--workers: this `interviewer serve` has no --workers option yet")
        command += ["--workers", str(workers)]
    env = {**os.environ, "DATABASE_URL": database_url, "HF_HUB_OFFLINE": "1"}
    if code is not None:  # another checkout's server (a before/after comparison)
        env["PYTHONPATH"] = str(code)
    with log.open("wb") as out:
        # its own process group: stopping it stops its workers too, even when it is killed
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{command[3]}"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stop_server(process, kill=True)
            raise SystemExit(f"the server stopped:\n{log.read_text()[-3000:]}")
        try:
            health = httpx.get(f"{url}/health", timeout=5).json()
            # Measure the steady state: answers before the scorers are built are scored later.
            if health.get("status") == "ok" and all(health.get("scoring", {}).values()):
                return process, url
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    stop_server(process, kill=True)
    raise SystemExit("the server did not start")


def stop_server(process: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    """Stop the server and its worker processes (its process group)."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                todo += [int(c) for c in children]
    return found


def _status(pid: int, key: str) -> int:
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _cpu(pid: int) -> float:
    with suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


class Watcher:
    """Samples the server processes' memory every half second (the sum over all of them)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_sum_mb = 0.0
        self.peak_each_mb: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def cpu(self) -> float:
        return sum(_cpu(p) for p in _tree(self.pid))

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            pids = _tree(self.pid)
            self.peak_sum_mb = max(self.peak_sum_mb, sum(_status(p, "VmRSS") for p in pids) / 1024)
            for p in pids:
                self.peak_each_mb[p] = max(self.peak_each_mb.get(p, 0), _status(p, "VmHWM") / 1024)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


EMPTY_METRICS: dict[str, Any] = {
    "turns": 0,
    "process_cpu_seconds": 0.0,
    "model_cpu_seconds": 0.0,
    "models": {},
}


async def _metrics(url: str, workers: int) -> dict[int, dict[str, Any]]:
    """Every worker's ``/metrics``, by process id: each request on a new connection, until as many
    processes answered as there are workers (the port's connections go to whichever accepts)."""
    found: dict[int, dict[str, Any]] = {}
    for _ in range(30 * workers):
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            response = await client.get("/metrics")
        if response.status_code != 200:
            return {0: EMPTY_METRICS}  # a server older than /metrics
        data: dict[str, Any] = response.json()
        found[int(data.get("pid", 0))] = data
        if len(found) >= workers:
            break
    return found


def _summed(before: dict[int, dict[str, Any]], after: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """What the workers did between two looks, summed (workers seen in both)."""
    total: dict[str, Any] = {"models": {}, "workers": len(set(before) & set(after))}
    for pid in set(before) & set(after):
        old, new = before[pid], after[pid]
        for key, value in new.items():
            if isinstance(value, int | float) and key not in {"pid", "peak_rss_mb"}:
                total[key] = total.get(key, 0) + value - old.get(key, 0)
        for name, model in new.get("models", {}).items():
            was = old.get("models", {}).get(name, {})
            into = total["models"].setdefault(name, {"texts": 0, "cpu_seconds": 0.0, "calls": 0})
            for key in into:
                into[key] += model.get(key, 0) - was.get(key, 0)
    return total


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def run(
    url: str, args: argparse.Namespace, flow: Flow, bank: dict[str, list[str]]
) -> tuple[Results, float, dict[str, Any]]:
    results = Results()
    limits = httpx.Limits(max_connections=args.candidates, max_keepalive_connections=args.candidates)
    before = await _metrics(url, args.workers)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        started = time.perf_counter()
        ramp = args.think_time if args.ramp is None else args.ramp
        deadline = time.monotonic() + (args.duration or 10**9)
        runs = (
            candidate(
                client, i, flow, args.language, bank, results, args.think_time, deadline, args.seed, ramp
            )
            for i in range(args.candidates)
        )
        await asyncio.gather(*runs)
        wall = time.perf_counter() - started
    after = await _metrics(url, args.workers)
    return results, wall, _summed(before, after)


async def check_database(database_url: str, results: Results) -> dict[str, int]:
    """Every message sent stored once and processed; every answer recorded at most once."""
    from sqlmodel import col, select

    from bot.store.db import Database
    from bot.store.models import Answer, Message

    if database_url.startswith("sqlite:///"):
        database_url = "sqlite+aiosqlite:///" + database_url.removeprefix("sqlite:///")
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    db = Database(database_url)
    try:
        async with db.read() as session:
            stored = (
                await session.exec(
                    select(Message.platform_message_id, Message.processed).where(
                        col(Message.platform_message_id).in_(list(results.sent))
                    )
                )
            ).all()
            answers = (
                await session.exec(
                    select(Answer.text).where(col(Answer.text).in_(list(results.answers.values())))
                )
            ).all()
    finally:
        await db.dispose()
    seen = Counter(message_id for message_id, _ in stored)
    recorded = Counter(answers)
    return {
        "messages_sent": len(results.sent),
        "messages_lost": sum(1 for m in results.sent if seen[m] == 0),
        "messages_duplicated": sum(1 for m in results.sent if seen[m] > 1),
        "messages_unprocessed": sum(1 for _, processed in stored if not processed),
        "answers_sent": len(results.answers),
        "answers_recorded_once": sum(1 for t in results.answers.values() if recorded[t] == 1),
        "answers_duplicated": sum(1 for t in results.answers.values() if recorded[t] > 1),
        "answers_not_taken_as_answers": sum(1 for t in results.answers.values() if recorded[t] == 0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--role", default="sales_manager")
    parser.add_argument("--language", choices=["en", "zh"], help="the flow's first language by default")
    parser.add_argument(
        "--think-time", type=float, default=0.0, help="seconds, on average, before each message"
    )
    parser.add_argument("--duration", type=float, help="stop sending answers after this many seconds")
    parser.add_argument(
        "--ramp",
        type=float,
        help="seconds over which the candidates start, at random (default: one think time; 0: all at once)",
    )
    parser.add_argument("--workers", type=int, default=1, help="passed to `interviewer serve --workers`")
    parser.add_argument(
        "--database-url", help="PostgreSQL server to use (a throw-away schema); SQLite if absent"
    )
    parser.add_argument("--url", help="a running server (no database check then)")
    parser.add_argument("--seed", type=int, help="answers' random seed (a new one per run by default)")
    parser.add_argument("--keep-log", type=Path, help="copy the server's log here")
    parser.add_argument(
        "--server-code",
        type=Path,
        help="run the server from this checkout (e.g. main, for a before/after ratio; give it its own "
        "INTERVIEWER_CACHE_DIR)",
    )
    args = parser.parse_args()
    flow = load_flow_file(ROOT / "dialogues" / "flows" / f"{args.role}.yml").flow
    args.language = args.language or flow.languages[0]
    if args.language not in flow.languages:
        raise SystemExit(f"{args.role} has no {args.language} questions (it has {', '.join(flow.languages)})")
    args.seed = args.seed if args.seed is not None else random.randrange(10**9)
    bank = sample_answers(flow, args.language)

    process = None
    schema = None
    database_url = ""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        try:
            if args.url:
                url = args.url
            else:
                if args.database_url:
                    schema, database_url = _schema_url(args.database_url)
                else:
                    database_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
                process, url = start_server(database_url, args.workers, log, args.server_code)
                print(f"server pid {process.pid} at {url}", file=sys.stderr, flush=True)
            watcher = Watcher(process.pid if process else os.getpid())
            with watcher:
                cpu_before = watcher.cpu()
                results, wall, done = asyncio.run(run(url, args, flow, bank))
                cpu_after = watcher.cpu()
            checked = asyncio.run(check_database(database_url, results)) if database_url else {}
        finally:
            if process is not None:
                stop_server(process)
                if args.keep_log:
                    args.keep_log.write_bytes(log.read_bytes())
            if schema and args.database_url:
                _drop_schema(args.database_url, schema)

    turns = len(results.latencies)
    server_turns = done.get("turns", 0)
    if not server_turns and process is not None:  # no /metrics: count the turns answered
        server_turns = turns
    process_cpu = (cpu_after - cpu_before) if process else done.get("process_cpu_seconds", 0.0)
    model_cpu = done.get("model_cpu_seconds", 0.0)
    database = "PostgreSQL" if args.database_url else "SQLite" if not args.url else "external"
    print(
        f"candidates: {args.candidates} ({args.role}, {args.language}, think time {args.think_time:g} s, "
        f"{database}, {args.workers} worker(s), seed {args.seed}); finished interviews: {results.finished}"
    )
    print(f"turns: {turns + len(results.errors)} in {wall:.1f} s, throughput {turns / wall:.1f} turns/s")
    print(
        "latency ms: p50 {:.0f}  p95 {:.0f}  p99 {:.0f}  max {:.0f}".format(
            *(1000 * percentile(results.latencies, q) for q in (50, 95, 99)),
            1000 * max(results.latencies, default=0),
        )
    )
    print(
        f"errors: {len(results.errors)}"
        + (f" (first: {results.errors[0]})" if results.errors else "")
        + f"; resent after a dropped connection: {results.resent}"
    )
    if checked:
        print("database: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in checked.items()))
    if server_turns:
        per_turn = 1000 / server_turns
        print(
            f"server CPU per turn: {process_cpu * per_turn:.0f} ms, outside the embedding models "
            f"{(process_cpu - model_cpu) * per_turn:.0f} ms (models {model_cpu * per_turn:.0f} ms;"
            f" {server_turns} turns processed by {done.get('workers', 1)} of {args.workers} worker(s))"
        )
        loop = done.get("event_loop_cpu_seconds", 0)
        threads = done.get("other_python_threads_cpu_seconds", 0)
        if loop:
            print(
                f"  by thread: event loop {loop * per_turn:.0f} ms, other Python threads (SQLite, model and "
                f"scoring workers) {threads * per_turn:.0f} ms per turn"
            )
        if done.get("workers", 1) < args.workers:
            print("  (not every worker answered /metrics: model CPU and turns are partial)")
    for name, model in done.get("models", {}).items():
        texts = model["texts"]
        if texts:
            cpu = 1000 * model["cpu_seconds"] / texts
            calls = model["calls"]
            print(f"  {name}: {texts} texts in {calls} calls, {cpu:.0f} ms CPU per text (calling thread)")
    if process is not None:
        each = ", ".join(f"{mb:.0f}" for mb in watcher.peak_each_mb.values())
        print(f"server peak RSS: {watcher.peak_sum_mb:.0f} MB all processes together (each: {each} MB)")
    lost = (
        checked.get("messages_lost", 0)
        + checked.get("messages_duplicated", 0)
        + checked.get("answers_duplicated", 0)
    )
    return 1 if results.errors or lost else 0


if __name__ == "__main__":
    raise SystemExit(main())
