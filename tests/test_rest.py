"""The Rasa REST channel contract, end to end through the FastAPI app."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.app import create_app
from bot.runtime import Runtime
from channels.rest import MAX_BODY_BYTES
from tests.helpers import answers, interviews, messages, sample_flow, strong_answers

WEBHOOK = "/webhooks/rest/webhook"


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime.settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def post(client: httpx.AsyncClient, sender: str, message: str, **metadata: Any) -> list[dict[str, Any]]:
    response = await client.post(WEBHOOK, json={"sender": sender, "message": message, "metadata": metadata})
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    assert all(item["recipient_id"] == sender for item in body)
    return body


@pytest.mark.parametrize(("role", "language"), [("sales_manager", "en"), ("rd_engineer", "zh")])
async def test_scripted_interview_over_rest(
    runtime: Runtime, client: httpx.AsyncClient, role: str, language: str
) -> None:
    flow = sample_flow(role)
    if language == "zh":
        await post(client, "alice", "/lang zh")
    greeting = await post(client, "alice", f"/interview {role}")
    assert greeting[0]["buttons"] == [
        {"title": "Yes" if language == "en" else "同意", "payload": "/yes"},
        {"title": "No" if language == "en" else "不同意", "payload": "/no"},
    ]
    first = await post(client, "alice", "/yes")
    assert flow.questions[0].text[language] in first[0]["text"]
    reply: list[dict[str, Any]] = []
    for answer in strong_answers(flow, language):
        reply = await post(client, "alice", answer)
    closing = flow.closing[language]
    (ending,) = [item for item in reply if closing in item["text"]]
    assert len(await answers(runtime)) == len(flow.questions)
    assert "buttons" not in ending  # Rasa leaves out buttons when there are none
    # Other roles may follow, each with an "apply" button.
    assert all(b["payload"].startswith("/apply ") for item in reply for b in item.get("buttons", []))


async def test_status_health_and_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/webhooks/rest/")).json() == {"status": "ok"}
    health = (await client.get("/health")).json()
    assert health["status"] == "ok" and health["roles"] == ["rd_engineer", "sales_manager"]
    schema = (await client.get("/openapi.json")).json()
    assert WEBHOOK in schema["paths"]


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"not json at all", {"content-type": "application/json"}),
        (b'{"sender": "bob", "message": "\xff\xfe broken"}', {"content-type": "application/json"}),
        (b'{"sender": "bob"}', {"content-type": "application/json"}),
        (b'{"message": "hi"}', {"content-type": "application/json"}),
        (b'{"sender": "", "message": "hi"}', {"content-type": "application/json"}),
        (b'{"sender": "bob", "message": 42}', {"content-type": "application/json"}),
        (
            b'{"sender": "bob", "message": "hi", "metadata": {"message_id": [1]}}',
            {"content-type": "application/json"},
        ),
        (b"sender=bob&message=hi", {"content-type": "application/x-www-form-urlencoded"}),
        (b"[]", {"content-type": "application/json"}),
    ],
)
async def test_bad_requests_get_a_json_4xx_and_change_nothing(
    runtime: Runtime, client: httpx.AsyncClient, body: bytes, headers: dict[str, str]
) -> None:
    response = await client.post(WEBHOOK, content=body, headers=headers)
    assert 400 <= response.status_code < 500
    assert "error" in response.json()
    assert await messages(runtime) == []


async def test_oversized_message_is_refused_and_long_one_capped(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    response = await client.post(WEBHOOK, json={"sender": "bob", "message": "x" * 100_001})
    assert response.status_code == 413 and "100000 characters" in response.json()["error"]
    assert await messages(runtime) == []
    await post(client, "bob", "/interview sales_manager")
    await post(client, "bob", "/yes")
    reply = await post(client, "bob", "I listened to the customer and changed our offer. " * 400)
    assert "I kept the first 4000 characters" in reply[0]["text"]


@pytest.mark.parametrize("endpoint", [WEBHOOK, "/chat/messages"])
async def test_a_body_over_the_cap_is_refused_with_413_before_it_is_read(
    runtime: Runtime, client: httpx.AsyncClient, endpoint: str
) -> None:
    """A 20 MB body is refused after the first megabyte, not read in full and then parsed."""
    chunk = b" " * 65_536
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"sender": "bob", "message": "'
        for _ in range(320):  # 20 MB, without a Content-Length
            sent += 1
            yield chunk

    response = await client.post(endpoint, content=body(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "1000000 bytes" in response.json()["error"]
    assert sent * len(chunk) <= MAX_BODY_BYTES + 2 * len(chunk)
    declared = await client.post(
        endpoint, content=b"{}", headers={"content-type": "application/json", "content-length": "20000000"}
    )
    assert declared.status_code == 413
    assert await messages(runtime) == []


async def test_openapi_tells_413_from_422(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    for path in (WEBHOOK, "/chat/messages"):
        responses = schema["paths"][path]["post"]["responses"]
        assert "over" in responses["413"]["description"] and "wrong type" in responses["422"]["description"]
    body = schema["components"]["schemas"]["RestMessage"]["properties"]["message"]
    assert body["maxLength"] == 100_000 and "413" in body["description"]


async def test_same_message_id_twice_is_processed_once(runtime: Runtime, client: httpx.AsyncClient) -> None:
    flow = sample_flow("sales_manager")
    await post(client, "carol", "/interview sales_manager", message_id="m1")
    await post(client, "carol", "/yes", message_id="m2")
    answer = strong_answers(flow, "en")[0]
    first = await post(client, "carol", answer, message_id="m3")
    again = await post(client, "carol", answer, message_id="m3")
    assert first == again
    assert len(await answers(runtime)) == 1
    inbound = [m for m in await messages(runtime) if m.direction == "in"]
    # Stored as the client sent them: the store scopes ids by sender (a keyed hash beside them).
    assert [m.platform_message_id for m in inbound] == ["m1", "m2", "m3"]
    assert len({m.sender_key for m in inbound}) == 1 and "carol" not in str(inbound[0].sender_key)


async def test_another_sender_reusing_a_message_id_gets_their_own_reply(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    mine = await post(client, "dora", "/interview sales_manager", message_id="1")
    theirs = await post(client, "eve", "/help", message_id="1")
    assert theirs != mine and all(item["recipient_id"] == "eve" for item in theirs)


async def test_concurrent_duplicates_are_processed_once(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await post(client, "dave", "/interview sales_manager")
    await post(client, "dave", "/yes")
    answer = strong_answers(sample_flow("sales_manager"), "en")[0]
    replies = await asyncio.gather(*(post(client, "dave", answer, message_id="same") for _ in range(5)))
    assert all(r == replies[0] for r in replies)
    assert len(await answers(runtime)) == 1


async def test_twenty_concurrent_messages_are_processed_once_in_order(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    flow = sample_flow("sales_manager")
    await post(client, "erin", "/interview sales_manager")
    await post(client, "erin", "/yes")
    texts = [f"{strong_answers(flow, 'en')[i % 7]} (message {i})" for i in range(20)]
    await asyncio.gather(*(post(client, "erin", text, message_id=f"c{i}") for i, text in enumerate(texts)))

    inbound = [m for m in await messages(runtime) if m.direction == "in"][2:]
    assert len(inbound) == 20 and all(m.processed for m in inbound)
    replies_per_message = {m.id: 0 for m in inbound}
    for message in await messages(runtime):
        if message.reply_to_id in replies_per_message:
            replies_per_message[message.reply_to_id] += 1
    assert all(count >= 1 for count in replies_per_message.values())
    # Answers follow the order the messages were stored in, one per question until the end.
    stored = await answers(runtime)
    order = {m.id: index for index, m in enumerate(inbound)}
    positions = [order[a.message_id] for a in stored if a.message_id is not None]
    assert positions == sorted(positions)
    # Arrival order decides which text meets which question, so an answer may land on a question it
    # does not fit and draw a follow-up probe; probes aside, every question is answered once, in order.
    main_answers = [a.question_id for a in stored if a.follow_up_id is None]
    assert main_answers == [q.id for q in flow.questions]
    assert all(a.question_id == b.question_id for a, b in itertools.pairwise(stored) if b.follow_up_id)
    (interview,) = await interviews(runtime)
    assert interview.state == "done"


async def test_not_ready_answers_503(runtime: Runtime, client: httpx.AsyncClient) -> None:
    runtime.conversations.ready = False
    response = await client.post(WEBHOOK, json={"sender": "zoe", "message": "hi"})
    assert response.status_code == 503 and "error" in response.json()
