"""Practice sessions: retries compared with the previous attempt, the session's summary, progress
across sessions (as text and for the web chat's chart), and practice kept out of HR's view."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openpyxl
import pytest
from sqlmodel import col

from bot.app import create_app
from bot.hr.accounts import create_api_token, create_user
from bot.nlu import IntentClassifier
from bot.runtime import Runtime
from bot.store.models import Answer, Application, Exemplar, Interview, Score
from channels.testing import FakeChannel
from tests.helpers import answers, interviews, rows, sample_flow, strong_answers

FLOW = sample_flow("sales_manager")
STRONG = strong_answers(FLOW, "en")
PARTIAL = (
    "Last year a retail customer asked me for a bigger discount on our analytics package. I asked to "
    "meet their finance lead and looked at how they used the reports each week. They really needed "
    "fewer dashboards and some training for two analysts, so I changed the proposal."
)
"""An answer to question 1 with a situation and actions but no result: scored, but not highly."""
WEAK_COACHING = (
    "One of my reps kept missing his quota, so I told him he needed to work harder and make more calls. "
    "I checked in with him now and then to see how his numbers looked. In the end he left the team."
)
"""A poor answer to question 5 (coaching an underperforming rep): on topic, so scored, but low."""


async def answer(candidate: FakeChannel, text: str) -> str:
    """Answer the current question; drop any follow-up probe, so the session moves on."""
    reply = await candidate.said(text)
    while "Question " not in reply and "Practice complete" not in reply:
        reply = await candidate.said("/skip")
    return reply


async def practise(candidate: FakeChannel, texts: list[str]) -> str:
    """A whole practice session of sales_manager with these answers; the wrap-up's text."""
    await candidate.say("/practice sales_manager")
    reply = await candidate.said("/yes")
    for text in texts:
        reply = await answer(candidate, text)
    return reply


async def test_a_retry_is_scored_and_compared_with_the_previous_attempt(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    await candidate.say("/practice sales_manager")
    await candidate.say("/yes")
    nothing = await candidate.said("/retry")  # no answer yet
    assert "nothing to try again" in nothing and "Back to question 1" in nothing
    replies = await candidate.say(PARTIAL)
    assert any(b.payload == "/retry" for r in replies for b in r.buttons)
    assert "send /retry" in "\n".join(r.text for r in replies)
    last = replies[-1].text
    while "Question 2 of 7" not in last:  # drop the follow-up probes: the session moves on
        last = await candidate.said("/skip")

    again = await candidate.said("/retry")
    assert "try question 1 again" in again and FLOW.questions[0].text["en"] in again
    compared = await candidate.said(STRONG[0])
    assert "Compared with your previous try:" in compared
    assert "Level: " in compared and "(up " in compared
    assert "Structure: added the result" in compared
    assert "Question 2 of 7" in compared  # on with the question that was pending, no follow-up

    first, *rest = [a for a in await answers(runtime) if a.question_id == FLOW.questions[0].id]
    assert (first.attempt, first.text) == (1, PARTIAL)
    assert [(a.attempt, a.text) for a in rest] == [(2, STRONG[0])]
    scores = {s.answer_id: s for s in await rows(runtime, Score)}
    assert scores[first.id].evidence["feedback"]["question_id"] == FLOW.questions[0].id
    latest = scores[rest[0].id]
    assert (
        latest.evidence["feedback"]["rubric"]["level"]
        > scores[first.id].evidence["feedback"]["rubric"]["level"]
    )
    # The competency's result is the latest attempt's level.
    (interview,) = await interviews(runtime)
    assert interview.results is not None
    assert interview.results["competencies"]["customer_focus"]["level"] == pytest.approx(latest.level)


async def test_a_retry_can_be_asked_for_in_words_and_kept_with_skip(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    await candidate.say("/practice sales_manager")
    await candidate.say("/yes")
    await answer(candidate, STRONG[0])
    assert "try question 1 again" in await candidate.said("let me try that again")
    kept = await candidate.said("/skip")
    assert "previous answer stands" in kept and "Question 2 of 7" in kept
    stored = await answers(runtime)
    assert [(a.question_id, a.status, a.attempt) for a in stored] == [(FLOW.questions[0].id, "answered", 1)]


async def test_retry_is_refused_in_a_real_interview(runtime: Runtime, candidate: FakeChannel) -> None:
    await candidate.say("/interview sales_manager")
    await candidate.say("/yes")
    await candidate.say(STRONG[0])
    refused = await candidate.said("/retry")
    assert "Retries are for practice" in refused
    assert "Back to question 2" in refused  # the interview carries on where it was
    refused_in_words = await candidate.said("let me try that again")
    assert "Retries are for practice" in refused_in_words
    (interview,) = await interviews(runtime)
    assert (interview.question_index, interview.attempt) == (1, 1)
    assert [a.attempt for a in await answers(runtime)] == [1]


def test_retry_and_progress_are_understood_in_both_languages(classifier: IntentClassifier) -> None:
    import asyncio

    async def intents(texts: list[str]) -> list[str]:
        return [(await classifier.parse(text)).intent for text in texts]

    found = asyncio.run(
        intents(["/retry", "let me try that again", "再答一次", "/progress", "how am I doing?", "我的进步"])
    )
    assert found == ["retry", "retry", "retry", "progress", "progress", "progress"]


async def test_the_end_of_a_practice_session_names_the_strongest_and_weakest_answer(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    wrap_up = await practise(candidate, [*STRONG[:4], WEAK_COACHING, *STRONG[5:]])
    assert "Practice complete" in wrap_up
    assert "Customer focus:" in wrap_up and "of 5" in wrap_up  # a level per competency
    assert "Strongest answer: question " in wrap_up
    assert "Most room to improve: question 5 (“" in wrap_up
    assert FLOW.questions[4].text["en"][:40] in wrap_up
    # Exemplars feed the scores, never the words.
    for exemplar in await rows(runtime, Exemplar):
        assert exemplar.text[:60] not in wrap_up

    # After the last question, a retry re-opens it and the summary follows again.
    assert "try question 7 again" in await candidate.said("/retry")
    again = await candidate.said(STRONG[6])
    assert "Compared with your previous try:" in again and "Practice complete" in again
    (interview,) = await interviews(runtime)
    assert interview.state == "done"


async def test_progress_after_two_practice_sessions_shows_both(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    assert "no scored practice sessions yet" in await candidate.said("/progress")
    await practise(candidate, [PARTIAL, *STRONG[1:]])
    await practise(candidate, STRONG)
    progress = await candidate.said("how am I doing?")
    assert "Your practice progress" in progress
    assert "Sales Manager: 2 session(s)" in progress
    (line,) = [x for x in progress.splitlines() if x.startswith("• Customer focus:")]
    first, second = line.removeprefix("• Customer focus: ").split(" (")[0].split(" → ")
    assert float(second) > float(first) and "(up " in line
    assert "• Overall: " in progress

    # A real interview's results never join the practice progress.
    await candidate.say("/interview sales_manager")
    await candidate.say("/yes")
    await candidate.say(STRONG[0])
    assert "Sales Manager: 2 session(s)" in await candidate.said("/progress")
    assert "Back to question 2" in await candidate.said("/progress")


# --- the web chat's progress endpoint -------------------------------------------------------------


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime.settings, runtime=runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


async def chat(client: httpx.AsyncClient, sender: str, text: str) -> str:
    body = {"sender": sender, "message": text, "metadata": {"message_id": uuid.uuid4().hex}}
    response = await client.post("/chat/messages", json=body)
    assert response.status_code == 200, response.text
    return "\n".join(reply["text"] for reply in response.json())


async def test_web_progress_endpoint_returns_the_series(runtime: Runtime, client: httpx.AsyncClient) -> None:
    sender = str(uuid.uuid4())
    for text in (PARTIAL, STRONG[0]):
        await chat(client, sender, "/practice sales_manager")
        await chat(client, sender, "/yes")
        await chat(client, sender, text)
        await chat(client, sender, "/withdraw")
        await chat(client, sender, "/yes")
    await chat(client, sender, "/interview sales_manager")
    await chat(client, sender, "/yes")
    await chat(client, sender, STRONG[0])

    response = await client.get("/chat/progress", params={"sender": sender.upper()})
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    (role,) = response.json()["roles"]
    assert role["role"] == "sales_manager" and role["title"]["en"] == "Sales Manager"
    assert [c["id"] for c in role["competencies"]] == ["customer_focus"]
    assert role["competencies"][0]["name"] == {"en": "Customer focus"}
    sessions = role["sessions"]
    assert [s["number"] for s in sessions] == [1, 2]  # the real interview is not among them
    before, after = (s["levels"]["customer_focus"] for s in sessions)
    assert 1 <= before < after <= 5
    assert all(s["date"] and s["complete"] is False for s in sessions)

    unknown = await client.get("/chat/progress", params={"sender": str(uuid.uuid4())})
    assert unknown.status_code == 200 and unknown.json() == {"roles": []}


@pytest.mark.parametrize("query", ["?sender=ann", "?sender=" + "1" * 36, "", "?sender=%3Cscript%3E"])
async def test_web_progress_rejects_a_sender_that_is_not_a_random_uuid(
    client: httpx.AsyncClient, query: str
) -> None:
    response = await client.get(f"/chat/progress{query}")
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/json")
    assert "error" in response.json()


# --- separation from HR ---------------------------------------------------------------------------


def _walk(value: Any, key: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _walk(v, str(k))]
    if isinstance(value, list):
        return [pair for item in value for pair in _walk(item, key)]
    return [(key, value)]


async def test_practice_is_absent_from_every_hr_facing_query(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERVIEWER_HR_TOKEN", "hr-token-for-tests")
    marker = " The customer's project was code-named Bluefinch."
    practising, applying = FakeChannel(runtime.conversations), FakeChannel(runtime.conversations)
    exemplars_before = len(await rows(runtime, Exemplar))
    await practising.say("/practice sales_manager")
    await practising.say("/yes")
    await answer(practising, STRONG[0] + marker)
    await practising.say("/retry")
    await practising.say(STRONG[0] + marker + " Again.")
    await practising.say("Is there a relocation package for this job?")  # a question for HR
    await applying.say("/interview sales_manager")
    await applying.say("/yes")
    await applying.say(STRONG[0])
    practice = [i for i in await interviews(runtime) if i.mode == "practice"]
    real = [i for i in await interviews(runtime) if i.mode == "interview"]
    async with runtime.db.write() as session:
        for interview in (*practice, *real):
            session.add(
                Application(
                    candidate_id=interview.candidate_id, role="rd_engineer", source_interview_id=interview.id
                )
            )
    practice_ids = {i.id for i in practice}
    practice_texts = [a.text for a in await answers(runtime) if a.interview_id in practice_ids]
    assert len(practice_texts) == 2

    app = create_app(runtime.settings, runtime=runtime)
    # Every HR route that lists something (the OpenAPI schema names them all, present and future).
    routes = [
        path
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/hr/") and "get" in operations and "{" not in path
    ]
    assert {"/hr/handoffs", "/hr/applications"} <= set(routes)
    async with runtime.db.write() as session:  # an admin sees every HR route
        admin = await create_user(session, "admin@example.com", "admin", "a password for the tests")
        admin.must_change_password = False
        _, token = await create_api_token(session, admin, "tests")
    headers = {"Authorization": f"Bearer {token}"}
    seen_real_link = False
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        for path in routes:
            response = await http.get(path, headers=headers)
            assert response.status_code == 200, path
            if not response.headers["content-type"].startswith("application/json"):
                # exports (CSV, XLSX): no practice interview's row, no practice answer's words
                for row in _export_rows(path, response.content):
                    assert row.get("interview_id") not in {str(i) for i in practice_ids}, path
                    assert not any("Bluefinch" in str(cell) for cell in row.values()), path
                continue
            assert "Bluefinch" not in response.text, path
            for key, value in _walk(response.json()):
                if key.endswith("interview_id") and value is not None:
                    assert value not in practice_ids, (path, key)
                    seen_real_link = True
                assert key not in {"evidence", "feedback", "results", "level"}, (path, key)
    assert seen_real_link  # the real interview's application keeps its link
    # Practice answers never become exemplars for the scorers.
    exemplars = await rows(runtime, Exemplar)
    assert len(exemplars) == exemplars_before
    assert not [e for e in exemplars if "Bluefinch" in e.text]


def _export_rows(path: str, content: bytes) -> list[dict[str, object]]:
    """The rows of an export (CSV or XLSX) as dicts by column name."""
    if path.endswith(".xlsx"):
        sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True).active
        assert sheet is not None
        # read-only rows may drop trailing blank cells
        table = [["" if c is None else str(c) for c in row] for row in sheet.iter_rows(values_only=True)]
        return [dict(zip(table[0], row, strict=False)) for row in table[1:]]
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


async def test_delete_my_data_erases_practice_with_every_attempt(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    await candidate.say("/practice sales_manager")
    await candidate.say("/yes")
    await answer(candidate, PARTIAL)
    await candidate.say("/retry")
    await candidate.say(STRONG[0])
    assert len(await rows(runtime, Score)) >= 2
    await candidate.say("/delete_my_data")
    assert "deleted" in await candidate.said("/yes")
    assert await rows(runtime, Answer) == []
    assert await rows(runtime, Score) == []
    assert await rows(runtime, Interview, col(Interview.mode) == "practice") == []


async def test_practice_endings_speak_of_practice_not_of_hr(runtime: Runtime, candidate: FakeChannel) -> None:
    await candidate.say("/practice sales_manager")
    await candidate.say("/yes")
    await candidate.say("/withdraw")
    stopped = await candidate.said("/yes")
    assert "Practice stopped" in stopped and "HR never see it" in stopped and "stay with HR" not in stopped
    flow = sample_flow("sales_manager")
    other = FakeChannel(runtime.conversations)
    await other.say("/practice sales_manager")
    await other.say("/yes")
    for _ in flow.questions:
        await other.say("/skip")
    over = await other.said("thanks, bye")
    assert "HR will be in touch" not in over
    assert "practice session is over" in over or "Bye" in over or "bye" in over.lower()
    assert "practice session is over" in await other.said("what now?")
