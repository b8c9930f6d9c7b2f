"""Memory of one server worker process, stage by stage: imports, models loaded, peak over turns.

Starts one worker the way ``interviewer serve --workers N`` does (the same environment:
``MALLOC_ARENA_MAX=2``, ``OMP_WAIT_POLICY=PASSIVE``; ``uvicorn`` and ``bot.app`` imported, the app
built by `bot.app.create_app` and its runtime started as the app's lifespan starts it) on a fresh
database (a throw-away PostgreSQL schema with ``--database-url``, else SQLite in a temporary
folder), waits until every scorer and the knowledge base are ready, then lets N candidates take
interviews through the fake channel with answers no cache has seen (`bench/unseen.py`). Prints the
process's RSS (``VmRSS``) after each stage and its peak (``VmHWM``, reset at each stage's start
through ``/proc/self/clear_refs`` where the kernel allows it).

``--imports`` first imports the heavy libraries one by one and prints what each adds (the total is
the same; only the attribution changes). ``--trace N`` prints the N source lines holding the most
Python-allocated memory (numpy arrays included) once the models are loaded and at the end
(tracemalloc; slow, and the memory it uses itself is counted in RSS, so use it apart from the
numbers). Memory numbers hold up on a busy machine; the time spent does not. Each stage also
names the packages it imported first (a server worker imports neither ``sklearn`` nor ``scipy``:
its models are fit in a child process, `language.fitting`).

    .venv/bin/python bench/memory.py [--candidates 30] [--questions 3] [--role sales_manager]
        [--language en] [--database-url postgresql://...] [--imports] [--trace 25]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER_ENVIRONMENT = {"MALLOC_ARENA_MAX": "2", "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}
"""What ``interviewer serve`` sets before its workers start (`bot.cli.serve`); glibc reads
``MALLOC_ARENA_MAX`` when the process starts, so a run without it starts itself again with it."""

HEAVY_IMPORTS = [
    "numpy",
    "scipy.sparse",
    "scipy.special",
    "scipy.stats",
    "sklearn.linear_model",
    "sklearn.feature_extraction.text",
    "sklearn.ensemble",
    "datasketch",
    "faiss",
    "onnxruntime",
    "tokenizers",
    "sqlalchemy",
    "sqlmodel",
    "psycopg",
    "fastapi",
    "uvicorn",
    "pydantic",
    "textstat",
    "jieba",
    "threadpoolctl",
]
"""Libraries ``--imports`` loads one at a time before the app (an absent one is skipped)."""


def status() -> dict[str, float]:
    """This process's VmRSS and VmHWM in MB (from /proc/self/status)."""
    values: dict[str, float] = {}
    with Path("/proc/self/status").open(encoding="ascii") as file:
        for line in file:
            key, _, rest = line.partition(":")
            if key in {"VmRSS", "VmHWM", "RssAnon", "RssFile"}:
                values[key] = int(rest.split()[0]) / 1024
    return values


def proportional() -> float:
    """This process's PSS in MB: its RSS with each page shared with other processes (the language
    identifier, e5's weights, the libraries) counted as a share (from /proc/self/smaps_rollup)."""
    try:
        with Path("/proc/self/smaps_rollup").open(encoding="ascii") as file:
            for line in file:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def reset_peak() -> bool:
    """Start VmHWM again from the current RSS (Linux 4.0+: ``5`` into clear_refs); False if refused."""
    try:
        with Path("/proc/self/clear_refs").open("w", encoding="ascii") as file:
            file.write("5")
    except OSError:
        return False
    return True


def _packages() -> set[str]:
    """The third-party and project packages imported so far (top-level names)."""
    tops = {name.split(".")[0] for name in list(sys.modules)}
    return {name for name in tops if not name.startswith("_") and name not in sys.stdlib_module_names}


class Stages:
    """Prints RSS after each stage, the stage's peak, and what the stage added."""

    def __init__(self) -> None:
        self.last = status()["VmRSS"]
        self.modules = _packages()
        self.resettable = reset_peak()
        self.rows: list[tuple[str, float, float, float]] = []
        header = f"{'stage':<34}{'RSS MB':>8}{'+MB':>8}{'peak MB':>9}{'anon':>7}{'file':>7}{'pss':>7}"
        print(header, flush=True)
        self.mark("interpreter")

    def mark(self, name: str) -> None:
        now = status()
        print(
            f"{name:<34}{now['VmRSS']:8.0f}{now['VmRSS'] - self.last:+8.0f}{now['VmHWM']:9.0f}"
            f"{now.get('RssAnon', 0):7.0f}{now.get('RssFile', 0):7.0f}{proportional():7.0f}",
            flush=True,
        )
        self.rows.append((name, now["VmRSS"], now["VmRSS"] - self.last, now["VmHWM"]))
        self.last = now["VmRSS"]
        packages = _packages()
        if self.modules and packages - self.modules and not name.startswith("  import"):
            print(f"{'':<4}imported: {' '.join(sorted(packages - self.modules))}", flush=True)
        self.modules = packages
        if self.resettable:
            reset_peak()


class PeakSampler:
    """Samples VmRSS every few milliseconds on a thread (the peak when clear_refs is refused)."""

    def __init__(self, interval: float = 0.02) -> None:
        self.peak = 0.0
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, status()["VmRSS"])

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def child_peak(runtime: object) -> None:
    """Print the peak RSS of the child process the worker fit its models in (`language.fitting`),
    while it lives (it exits when idle): a separate process, whose memory is given back."""
    executor = getattr(getattr(runtime, "fitter", None), "_executor", None)
    for pid in getattr(executor, "_processes", None) or {}:
        try:
            with Path(f"/proc/{pid}/status").open(encoding="ascii") as file:
                peak = next(int(line.split()[1]) / 1024 for line in file if line.startswith("VmHWM"))
        except (OSError, StopIteration):
            continue
        print(f"    fitting child process {pid}: peak RSS {peak:.0f} MB (exits when idle)", flush=True)


def trace_top(title: str, count: int) -> None:
    import tracemalloc

    if not count or not tracemalloc.is_tracing():
        return
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        ]
    )
    stats = snapshot.statistics("lineno")
    total = sum(stat.size for stat in stats)
    print(f"-- {title}: Python-allocated {total / 2**20:.0f} MB; top {count} lines", flush=True)
    for stat in stats[:count]:
        frame = stat.traceback[0]
        name = frame.filename.replace(str(ROOT) + "/", "").replace(sys.prefix + "/", "")
        print(f"  {stat.size / 2**20:7.1f} MB {stat.count:8d}  {name}:{frame.lineno}", flush=True)


async def run(args: argparse.Namespace, database_url: str, stages: Stages) -> None:
    import importlib

    if args.imports:
        for name in HEAVY_IMPORTS:
            try:
                importlib.import_module(name)
            except ImportError:
                continue
            stages.mark(f"  import {name}")

    import uvicorn  # noqa: F401  (a worker runs inside uvicorn)

    import bot.app

    stages.mark("import bot.app")

    from bench.turns import interview_in_process
    from bench.unseen import sample_answers
    from bot.settings import ROOT as APP_ROOT
    from bot.settings import load_settings
    from flows.schema import load_flow_file

    os.environ["DATABASE_URL"] = database_url
    settings = load_settings(APP_ROOT / "config.yml")
    app = bot.app.create_app(settings, load_samples=True)
    runtime = app.state.runtime
    stages.mark("app built (channels imported)")
    await runtime.start()
    stages.mark("runtime started (intents ready)")
    await runtime.scoring.wait_ready()
    stages.mark("scorers built")
    await runtime.knowledge.wait_ready()
    stages.mark("knowledge base ready")
    await asyncio.sleep(0.5)  # whatever start-up left running in the background settles
    stages.mark("models loaded (idle worker)")
    child_peak(runtime)
    trace_top("models loaded", args.trace)

    flow = load_flow_file(ROOT / "dialogues" / "flows" / f"{args.role}.yml").flow
    language = args.language or flow.languages[0]
    bank = sample_answers(flow, language)
    rng = random.Random(args.seed)
    turns = 0

    async def one(i: int) -> None:
        nonlocal turns
        sender = f"mem-{args.seed}-{i}"
        conversations = runtime.conversations
        turns += await interview_in_process(conversations, flow, language, sender, bank, rng, args.questions)

    with PeakSampler() as sampler:
        await one(-1)  # the first turn builds lazily what it builds
        stages.mark("first candidate")
        for start in range(0, args.candidates, args.concurrency):
            await asyncio.gather(
                *(one(i) for i in range(start, min(start + args.concurrency, args.candidates)))
            )
        stages.mark(f"{args.candidates} candidates")
    trace_top("after the turns", args.trace)
    peak = max(row[3] for row in stages.rows)
    print(
        f"{args.role} {language} {database_url.split(':', 1)[0]}: {turns} answers; "
        f"peak RSS {peak:.0f} MB (sampled during turns: {sampler.peak:.0f} MB)",
        flush=True,
    )
    await runtime.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=10, help="candidates at once")
    parser.add_argument("--questions", type=int, default=3, help="questions answered per candidate")
    parser.add_argument("--role", default="sales_manager")
    parser.add_argument("--language", choices=["en", "zh"])
    parser.add_argument("--database-url", help="PostgreSQL server (a throw-away schema); SQLite if absent")
    parser.add_argument("--seed", type=int, default=random.randrange(10**9))
    parser.add_argument("--imports", action="store_true", help="attribute the imports library by library")
    parser.add_argument("--trace", type=int, default=0, help="print the N lines holding most Python memory")
    args = parser.parse_args()
    missing = {k: v for k, v in WORKER_ENVIRONMENT.items() if os.environ.get(k) is None}
    if missing:  # start again as a worker starts: glibc and OpenMP read these at process start
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **missing})
    sys.path.insert(0, str(ROOT))
    if args.trace:
        import tracemalloc

        tracemalloc.start()
    stages = Stages()
    from bench.turns import _drop_schema, _schema_url  # httpx and psycopg: a worker imports them too

    with tempfile.TemporaryDirectory() as tmp:
        schema = None
        if args.database_url:
            schema, url = _schema_url(args.database_url)
            url = url.replace("postgresql://", "postgresql+psycopg://")
        else:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'memory.db'}"
        started = time.perf_counter()
        try:
            asyncio.run(run(args, url, stages))
        finally:
            if schema:
                _drop_schema(args.database_url, schema)
        print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
