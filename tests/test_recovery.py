"""Nothing a candidate says is lost: crashes, restarts and redeliveries."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.messages import IncomingMessage
from bot.nlu import IntentClassifier
from bot.runtime import Runtime
from bot.scoring import ScorerBuilds
from bot.settings import Settings
from channels.testing import FakeChannel
from tests.helpers import answers, interviews, messages, sample_flow, strong_answers

pytestmark = pytest.mark.every_database  # locks, claims and SQL the two dialects read differently

INTERVIEWER = str(Path(sys.executable).parent / "interviewer")


async def test_message_stored_before_a_crash_is_processed_on_redelivery(
    settings: Settings, classifier: IntentClassifier, scorer_builds: ScorerBuilds
) -> None:
    flow = sample_flow("sales_manager")
    first = Runtime(settings, load_samples=True, classifier=classifier, scorer_builds=scorer_builds)
    await first.start()
    candidate = FakeChannel(first.conversations, sender="frank")
    await candidate.say("/interview sales_manager")
    await candidate.say("/yes")
    answer = IncomingMessage("test", "frank", strong_answers(flow, "en")[0], message_id="tg-1")
    await first.conversations._receive(answer)  # stored, then the process dies before processing
    await first.stop()

    second = Runtime(settings, load_samples=True, classifier=classifier, scorer_builds=scorer_builds)
    await second.start()
    try:
        assert len([m for m in await messages(second) if not m.processed]) == 1
        replies = await second.conversations.handle(answer)  # the platform redelivers
        assert "Question 2 of 7" in replies[-1].text
        again = await second.conversations.handle(answer)
        assert [r.text for r in again] == [r.text for r in replies]
        (stored,) = await answers(second)
        assert stored.question_id == flow.questions[0].id
    finally:
        await second.stop()


async def test_unprocessed_message_is_handled_before_the_next_one(
    settings: Settings, classifier: IntentClassifier, scorer_builds: ScorerBuilds
) -> None:
    flow = sample_flow("sales_manager")
    runtime = Runtime(settings, load_samples=True, classifier=classifier, scorer_builds=scorer_builds)
    await runtime.start()
    try:
        candidate = FakeChannel(runtime.conversations, sender="gina")
        await candidate.say("/interview sales_manager")
        await candidate.say("/yes")
        await runtime.conversations._receive(IncomingMessage("test", "gina", strong_answers(flow, "en")[0]))
        replies = await candidate.said(strong_answers(flow, "en")[1])
        assert "Question 3 of 7" in replies  # both answers counted, in the order they arrived
        assert [a.question_id for a in await answers(runtime)] == [q.id for q in flow.questions[:2]]
    finally:
        await runtime.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[Any]:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "HF_HUB_OFFLINE": "1"}
    processes: list[subprocess.Popen[bytes]] = []
    clients: list[httpx.Client] = []

    def start() -> tuple[httpx.Client, subprocess.Popen[bytes]]:
        with (tmp_path / f"server-{len(processes)}.log").open("wb") as log:
            process = subprocess.Popen(
                [INTERVIEWER, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        processes.append(process)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        clients.append(client)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError((tmp_path / f"server-{len(processes) - 1}.log").read_text())
            try:
                if client.get("/health").json().get("status") == "ok":
                    return client, process
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError("the server did not become ready")

    yield start
    for client in clients:
        client.close()
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)


@pytest.mark.slow
def test_sigkill_mid_interview_then_resume_at_the_same_question(server: Any) -> None:
    flow = sample_flow("sales_manager")
    said = strong_answers(flow, "en")

    def post(client: httpx.Client, text: str) -> str:
        response = client.post("/webhooks/rest/webhook", json={"sender": "hank", "message": text})
        assert response.status_code == 200
        return "\n".join(item["text"] for item in response.json())

    client, process = server()
    post(client, "/interview sales_manager")
    post(client, "/yes")
    post(client, said[0])
    assert "Question 3 of 7" in post(client, said[1])
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)

    client, _ = server()
    again = post(client, "/repeat")
    assert "Here is question 3 again" in again and flow.questions[2].text["en"] in again
    post(client, said[2])
    for answer in said[3:]:
        last = post(client, answer)
    assert "You answered 7 of 7 questions" in last


@pytest.mark.slow
async def test_answers_survive_the_restart(
    server: Any, settings: Settings, classifier: IntentClassifier, scorer_builds: ScorerBuilds
) -> None:
    flow = sample_flow("rd_engineer")
    client, process = server()
    for text in ["/lang zh", "/interview rd_engineer", "/yes", *strong_answers(flow, "zh")[:3]]:
        assert (
            client.post("/webhooks/rest/webhook", json={"sender": "ivy", "message": text}).status_code == 200
        )
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    client, _ = server()
    reply = client.post("/webhooks/rest/webhook", json={"sender": "ivy", "message": "请再说一遍题目"}).json()
    assert flow.questions[3].text["zh"] in reply[-1]["text"]
    runtime = Runtime(settings, classifier=classifier, scorer_builds=scorer_builds)
    await runtime.start()
    try:
        assert [a.question_id for a in await answers(runtime)] == [q.id for q in flow.questions[:3]]
        (interview,) = await interviews(runtime)
        assert interview.question_index == 3
    finally:
        await runtime.stop()
