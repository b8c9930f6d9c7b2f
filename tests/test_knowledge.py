"""Candidates' questions answered mid-interview; HR answering what the bot could not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from click.testing import Result
from sqlmodel import select
from typer.testing import CliRunner

from bot.app import create_app
from bot.cli import app as cli_app
from bot.runtime import Runtime
from bot.store.models import FaqAddition, Interview
from channels.testing import FakeChannel
from tests.helpers import answers, audit_kinds, handoffs, interviews, rows, sample_flow, strong_answers
from tests.test_interview import shift_question_clock

HR_TOKEN = "test-hr-token-8c1d"
UNKNOWN = "Is there free parking for visitors at the Shanghai office?"


@pytest.fixture
async def client(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("INTERVIEWER_HR_TOKEN", HR_TOKEN)
    app = create_app(runtime.settings, runtime=runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


def hr(token: str = HR_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def chat(client: httpx.AsyncClient, sender: str, text: str) -> str:
    response = await client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
    assert response.status_code == 200, response.text
    return "\n".join(item["text"] for item in response.json())


async def test_chinese_question_in_an_english_interview_is_answered_in_chinese(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    flow = sample_flow("rd_engineer")
    await candidate.say("/interview rd_engineer")
    await candidate.say("/yes")
    reply = await candidate.said("这个岗位可以远程办公吗？")
    assert "远程" in reply or "办公" in reply
    assert flow.questions[0].text["zh"] in reply or flow.questions[0].text["en"] in reply
    assert await answers(runtime) == []
    assert "question.answered" in await audit_kinds(runtime)


async def test_unknown_question_goes_to_hr_and_the_clock_is_credited(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    flow = sample_flow("sales_manager")
    await candidate.say("/interview sales_manager")
    await candidate.say("/yes")
    await shift_question_clock(runtime, timedelta(seconds=200))
    reply = await candidate.said(UNKNOWN)
    assert "passed your question to HR" in reply
    assert "Back to question 1: " + flow.questions[0].text["en"] in reply
    (handoff,) = await handoffs(runtime)
    assert handoff.kind == "question" and handoff.text == UNKNOWN and handoff.language == "en"
    (interview,) = await interviews(runtime)
    assert interview.state == "question" and interview.question_index == 0
    # The detour is given back to the question's clock (60 s by default), no more.
    await candidate.say(strong_answers(flow, "en")[0])
    (answer,) = await answers(runtime)
    assert answer.elapsed_seconds is not None and 135 <= answer.elapsed_seconds <= 150


async def test_a_question_inside_an_answer_is_not_an_interrupt(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    await candidate.say("/interview sales_manager")
    await candidate.say("/yes")
    answer = (
        "At my last company a logistics client kept asking for discounts, and I asked myself: what "
        "would the customer actually want? I interviewed their operations lead, found the real pain "
        "was late deliveries, and we rebuilt the proposal around delivery guarantees; they signed a "
        "two-year renewal at full price."
    )
    await candidate.say(answer)
    (recorded,) = await answers(runtime)
    assert recorded.text == answer and await handoffs(runtime) == []


async def test_hr_answer_reaches_the_candidate_and_joins_the_faq(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await chat(client, "mia", "/interview sales_manager")
    await chat(client, "mia", "/yes")
    assert "passed your question to HR" in await chat(client, "mia", UNKNOWN)

    listed = (await client.get("/hr/handoffs", params={"status": "open"}, headers=hr())).json()
    (item,) = listed
    assert item["text"] == UNKNOWN and item["role"] == "sales_manager"
    answer = "Visitors can park free of charge in the basement car park; tell the guard your name."
    response = await client.post(
        f"/hr/handoffs/{item['id']}/answer", json={"answer": answer, "add_to_faq": True}, headers=hr()
    )
    assert response.status_code == 200 and response.json()["faq_entry_id"] == f"hr_{item['id']}"

    # The web chat cannot push: HR's answer comes with the next reply, once.
    reply = await chat(client, "mia", "/repeat")
    assert answer in reply and UNKNOWN in reply
    assert answer not in await chat(client, "mia", "/repeat")

    # Twice is refused; the FAQ now knows the answer and the bot gives it without asking HR.
    again = await client.post(f"/hr/handoffs/{item['id']}/answer", json={"answer": "x"}, headers=hr())
    assert again.status_code == 409 and "already answered" in again.json()["error"]
    (addition,) = await rows(runtime, FaqAddition)
    assert addition.scope == "sales_manager" and addition.question == UNKNOWN
    await runtime.knowledge.refresh()
    assert answer in await chat(client, "mia", UNKNOWN)
    assert len(await handoffs(runtime)) == 1


async def test_hr_api_refuses_without_the_right_token(
    runtime: Runtime, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await client.get("/hr/handoffs")).status_code == 401
    assert (await client.get("/hr/handoffs", headers=hr("wrong"))).status_code == 401
    # The token alone, or under another scheme, is not the Bearer credential.
    for header in (HR_TOKEN, f"Basic {HR_TOKEN}", f"Bearer{HR_TOKEN}", "Bearer "):
        refused = await client.get("/hr/handoffs", headers={"Authorization": header})
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer", header
    assert (
        await client.get("/hr/handoffs", headers={"Authorization": f"bearer {HR_TOKEN}"})
    ).status_code == 200
    missing = await client.post("/hr/handoffs/999/answer", json={"answer": "hello"}, headers=hr())
    assert missing.status_code == 404 and missing.json() == {"error": "no handoff 999"}
    empty = await client.post("/hr/handoffs/999/answer", json={"answer": ""}, headers=hr())
    assert empty.status_code == 422 and empty.json()["error"] == "invalid request"
    # Without the variable the shared token is simply not accepted (users' API tokens still are).
    monkeypatch.delenv("INTERVIEWER_HR_TOKEN")
    off = await client.get("/hr/handoffs", headers=hr())
    assert off.status_code == 401


async def test_cli_lists_and_answers_handoffs(runtime: Runtime, candidate: FakeChannel) -> None:
    await candidate.say("/interview sales_manager")
    await candidate.say("/yes")
    await candidate.say(UNKNOWN)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli_app, list(args))

    # The commands run their own event loop, as in a shell: off this test's loop.
    listed = await asyncio.to_thread(invoke, "handoffs", "list", "--status", "open")
    assert listed.exit_code == 0, listed.output
    handoff_id = int(listed.output.split("\t")[0])
    assert UNKNOWN in listed.output and "\topen\tquestion\tsales_manager\ten\t" in listed.output
    answered = await asyncio.to_thread(
        invoke, "handoffs", "answer", str(handoff_id), "Yes, free for visitors."
    )
    assert answered.exit_code == 0 and f"handoff {handoff_id} answered" in answered.output
    twice = await asyncio.to_thread(invoke, "handoffs", "answer", str(handoff_id), "again")
    assert twice.exit_code == 1 and "already answered" in twice.output
    # Queued for the candidate until their channel takes it.
    reply = await candidate.said("/repeat")
    assert "Yes, free for visitors." in reply
    async with runtime.db.read() as session:
        (interview,) = (await session.exec(select(Interview))).all()
    assert interview.question_index == 0
