"""Simulated candidates completing interviews concurrently over HTTP.

Starts `interviewer serve` on a fresh SQLite database (or uses ``--url`` of a running server),
then N candidates each take a whole interview through the REST channel at once: consent, then every
question answered (answers drawn from the role's sample EHR export, or all long with
``--long-answers``). Every answer is classified and scored. Prints turns/s, latency percentiles,
errors and the server's peak RSS.

    .venv/bin/python bench/turns.py [--candidates 200] [--role sales_manager] [--long-answers] [--url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows.schema import Flow, load_flow_file  # noqa: E402


def answer_bank(flow: Flow, long_answers: bool) -> dict[str, list[str]]:
    """Answers per question: real-looking ones from the role's sample EHR export (levels 2-5, from
    one line to ~200 words), or with ``long_answers`` the flow's 130-180-word reference answers."""
    if long_answers:
        return {q.id: [q.reference_answers[0][flow.languages[0]]] for q in flow.questions}
    bank: dict[str, list[str]] = {q.id: [] for q in flow.questions}
    for path in sorted((ROOT / "dialogues" / "ehr").glob(f"{flow.role}_exemplars.*")):
        rows = (
            json.loads(path.read_text("utf-8"))
            if path.suffix == ".json"
            else list(csv.DictReader(path.open(encoding="utf-8")))
        )
        for row in rows:
            if row["question_id"] in bank and float(row["rating"]) >= 2:
                bank[row["question_id"]].append(str(row["answer_text"]))
    return bank


def answers_for(flow: Flow, bank: dict[str, list[str]], rng: random.Random) -> list[str]:
    return [rng.choice(bank[q.id]) for q in flow.questions]


async def candidate(
    client: httpx.AsyncClient,
    index: int,
    flow: Flow,
    bank: dict[str, list[str]],
    latencies: list[float],
    errors: list[str],
    seed: int,
) -> None:
    rng = random.Random(seed + index)
    sender = f"bench-{seed}-{index}"
    # Follow-up probes are answered like questions; /skip ends a question the bank can't answer.
    script = [f"/interview {flow.role}", "/yes", *answers_for(flow, bank, rng)]
    for turn, text in enumerate(script):
        started = time.perf_counter()
        try:
            response = await client.post(
                "/webhooks/rest/webhook",
                json={"sender": sender, "message": text, "metadata": {"message_id": f"{sender}-{turn}"}},
            )
            elapsed = time.perf_counter() - started
            if response.status_code != 200 or not response.json():
                errors.append(f"{sender} turn {turn}: HTTP {response.status_code}")
                continue
            latencies.append(elapsed)
        except httpx.HTTPError as exc:
            errors.append(f"{sender} turn {turn}: {type(exc).__name__}")


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def start_server(database: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "interviewer"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"{url}/health", timeout=2).json()
            # Measure the steady state: answers before the scorers are built are scored later.
            if health.get("status") == "ok" and all(health.get("scoring", {}).values()):
                return process, url
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the server did not start")


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def run(
    url: str, candidates: int, flow: Flow, bank: dict[str, list[str]], seed: int
) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=candidates, max_keepalive_connections=candidates)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        started = time.perf_counter()
        runs = (candidate(client, i, flow, bank, latencies, errors, seed) for i in range(candidates))
        await asyncio.gather(*runs)
        wall = time.perf_counter() - started
    return latencies, errors, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--role", default="sales_manager")
    parser.add_argument("--url", help="a running server; by default one is started on a fresh database")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--long-answers", action="store_true", help="every answer 130-180 words")
    args = parser.parse_args()
    flow = load_flow_file(ROOT / "dialogues" / "flows" / f"{args.role}.yml").flow

    process = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.url:
            url = args.url
        else:
            process, url = start_server(Path(tmp) / "bench.db")
        try:
            bank = answer_bank(flow, args.long_answers)
            latencies, errors, wall = asyncio.run(run(url, args.candidates, flow, bank, args.seed))
            rss = peak_rss_mb(process.pid) if process else None
        finally:
            if process is not None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)

    turns = len(latencies)
    kind = "long reference answers" if args.long_answers else "answers from the sample EHR export"
    print(
        f"candidates: {args.candidates} ({args.role}, {kind}), turns: {turns + len(errors)} in {wall:.1f} s"
    )
    print(f"throughput: {turns / wall:.1f} turns/s")
    print(
        "latency ms: p50 {:.0f}  p95 {:.0f}  p99 {:.0f}  max {:.0f}".format(
            *(1000 * percentile(latencies, q) for q in (50, 95, 99)), 1000 * max(latencies, default=0)
        )
    )
    print(f"errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    print(f"server peak RSS: {rss:.0f} MB" if rss is not None else "server peak RSS: n/a (external server)")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
