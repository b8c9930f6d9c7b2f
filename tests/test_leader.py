"""One leader among processes: jobs run in the process holding the advisory lock, another process
takes over when it stops or is killed; on SQLite the only process leads."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.leader import Leader, startup_lock
from bot.settings import ROOT, Settings

pytestmark = pytest.mark.every_database  # locks, claims and SQL the two dialects read differently


async def eventually(condition: object, seconds: float = 20.0) -> None:
    """Wait (in tiny steps) until ``condition()`` holds."""
    for _ in range(int(seconds / 0.02)):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition never held")


def postgres_only(settings: Settings) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("several processes need PostgreSQL")


async def test_on_sqlite_the_only_process_leads_and_runs_its_jobs(settings: Settings) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("the SQLite case")
    runs = 0

    async def job() -> None:
        nonlocal runs
        runs += 1
        await asyncio.Event().wait()

    leader = Leader(settings.database_url)
    leader.job("sweep", job)
    leader.start()
    await asyncio.wait_for(leader.wait_elected(), 5)
    await eventually(lambda: runs == 1)
    await leader.stop()
    assert not leader.is_leader


async def test_one_of_two_leads_and_the_other_takes_over_when_it_stops(settings: Settings) -> None:
    postgres_only(settings)
    running: list[str] = []

    def job(name: str) -> object:
        async def run() -> None:
            running.append(name)
            try:
                await asyncio.Event().wait()
            finally:
                running.remove(name)

        return run

    first = Leader(settings.database_url, poll_seconds=0.05)
    second = Leader(settings.database_url, poll_seconds=0.05)
    first.job("sweep", job("first"))  # type: ignore[arg-type]
    second.job("sweep", job("second"))  # type: ignore[arg-type]
    first.start()
    await asyncio.wait_for(first.wait_elected(), 10)
    second.start()
    await asyncio.sleep(0.3)  # several tries of the second
    assert (first.is_leader, second.is_leader, running) == (True, False, ["first"])
    await first.stop()
    await asyncio.wait_for(second.wait_elected(), 10)
    await eventually(lambda: running == ["second"])
    await second.stop()
    assert running == []


HOLDER = """
import asyncio, sys
from bot.leader import Leader

async def main():
    leader = Leader(sys.argv[1], poll_seconds=0.1)
    leader.start()
    await leader.wait_elected()
    print("leading", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_a_killed_leader_is_replaced(settings: Settings) -> None:
    postgres_only(settings)
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        settings.database_url,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(holder.stdout.readline(), 60)
        assert line.strip() == b"leading"
        follower = Leader(settings.database_url, poll_seconds=0.1)
        follower.start()
        await asyncio.sleep(0.5)
        assert not follower.is_leader
        holder.send_signal(signal.SIGKILL)  # no goodbye: PostgreSQL ends its session
        await asyncio.wait_for(holder.wait(), 10)
        await asyncio.wait_for(follower.wait_elected(), 20)
        await follower.stop()
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()


async def test_start_up_work_of_two_processes_never_overlaps(settings: Settings) -> None:
    postgres_only(settings)
    events: list[str] = []

    async def start_up(name: str) -> None:
        async with startup_lock(settings.database_url):
            events.append(f"{name} in")
            await asyncio.sleep(0.2)
            events.append(f"{name} out")

    await asyncio.gather(start_up("a"), start_up("b"))
    assert events in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])


def test_several_workers_are_refused_on_sqlite(settings: Settings, tmp_path: Path) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("the SQLite case")
    result = CliRunner().invoke(cli_app, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert "--workers 2 needs PostgreSQL" in result.output
