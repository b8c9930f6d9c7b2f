"""The Telegram channel, offline: a fake Bot API transport and recorded Update payloads."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import Bot
from telegram.error import NetworkError
from telegram.request import BaseRequest, RequestData
from typer.testing import CliRunner

from bot.app import create_app
from bot.messages import DeliveryError, OutgoingButton, OutgoingMessage, PushChannel
from bot.outbox import list_outbox
from bot.runtime import Runtime
from bot.settings import ChannelSettings, ConfigError
from bot.store.models import Invitation, OutboxRow, utcnow
from bot.store.repo import token_hash
from channels.telegram.channel import AUTH_HEADER, TelegramChannel
from channels.telegram.commands import COMMANDS, register_webhook, webhook_url
from channels.telegram.render import MAX_TEXT, CallbackPayloads, split_text
from channels.telegram.throttle import Limit, Throttle
from tests.helpers import answers, interviews, messages, rows, sample_flow, strong_answers

FIXTURES = Path(__file__).parent / "fixtures" / "telegram"
TOKEN = "123456789:AAtest-token_for-offline-tests"
SECRET = "s3cret-webhook-token_for-tests"
BASE_URL = "https://bot-api.test/bot"
WEBHOOK = "/telegram/webhook"
ALICE = 424242
INVITATION = "inv-telegram-0001"
# PTB 22 warns whenever it builds a RetryAfter (its retry_after becomes a timedelta in v23)
PTB_RETRY_AFTER_DEPRECATION = pytest.mark.filterwarnings(
    "ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"
)


# -- the fake Bot API -----------------------------------------------------------------------------


class FakeBotApi(BaseRequest):
    """Answers the Bot API methods the channel uses with canned JSON and records every call; any
    other method, or a request to another host, is recorded as unexpected (the test then fails)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.unexpected: list[str] = []
        self.down = False
        """Every request fails as when the Bot API cannot be reached."""
        self.updates: list[dict[str, Any]] = []
        self._failures: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self._message_ids = itertools.count(1000)

    @property
    def read_timeout(self) -> float:
        return 5.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    def fail_next(self, endpoint: str, status: int, body: dict[str, Any]) -> None:
        self._failures.setdefault(endpoint, []).append((status, body))

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, **timeouts: Any
    ) -> tuple[int, bytes]:
        prefix = f"{BASE_URL}{TOKEN}/"
        if not url.startswith(prefix):
            self.unexpected.append(url)
            return 404, b'{"ok": false, "error_code": 404, "description": "Not Found"}'
        endpoint = url.removeprefix(prefix)
        parameters = dict(request_data.parameters) if request_data else {}
        self.calls.append((endpoint, parameters))
        if self.down:  # what python-telegram-bot's HTTPXRequest raises then
            raise NetworkError("httpx.ConnectError: All connection attempts failed")
        if self._failures.get(endpoint):
            status, body = self._failures[endpoint].pop(0)
            return status, json.dumps(body).encode()
        if endpoint == "getUpdates" and not self.updates:
            await asyncio.sleep(0.01)  # a long poll that times out empty
        handler = getattr(self, f"_{endpoint}", None)
        if handler is None:
            self.unexpected.append(endpoint)
            return 404, b'{"ok": false, "error_code": 404, "description": "Not Found"}'
        return 200, json.dumps({"ok": True, "result": handler(parameters)}).encode()

    def _getMe(self, _: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": 7000000001,
            "is_bot": True,
            "first_name": "Interviewer",
            "username": "interviewer_test_bot",
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _sendMessage(self, parameters: dict[str, Any]) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids),
            "from": self._getMe({}),
            "chat": {"id": parameters["chat_id"], "type": "private"},
            "date": 1767225600,
            "text": parameters["text"],
            **({"reply_markup": parameters["reply_markup"]} if "reply_markup" in parameters else {}),
        }

    def _answerCallbackQuery(self, _: dict[str, Any]) -> bool:
        return True

    def _editMessageReplyMarkup(self, _: dict[str, Any]) -> bool:
        return True

    def _setWebhook(self, _: dict[str, Any]) -> bool:
        return True

    def _setMyCommands(self, _: dict[str, Any]) -> bool:
        return True

    def _getWebhookInfo(self, _: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://hr.example.org/telegram/webhook",
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }

    def _deleteWebhook(self, _: dict[str, Any]) -> bool:
        return True

    def _getUpdates(self, _: dict[str, Any]) -> list[dict[str, Any]]:
        batch, self.updates = self.updates, []
        return batch

    # what the tests look at

    def endpoints(self) -> list[str]:
        return [endpoint for endpoint, _ in self.calls if endpoint != "getMe"]

    def sent(self, chat_id: int = ALICE) -> list[dict[str, Any]]:
        """The sendMessage calls to ``chat_id`` (failed attempts included)."""
        return [p for e, p in self.calls if e == "sendMessage" and p["chat_id"] == chat_id]

    def texts(self, chat_id: int = ALICE) -> list[str]:
        return [p["text"] for p in self.sent(chat_id)]


class FakeClock:
    """Time for the throttle: sleeping only moves the clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def update(
    name: str, *, update_id: int | None = None, text: str | None = None, **changes: Any
) -> dict[str, Any]:
    """A recorded update from the fixtures, with another ``update_id``, text or callback data."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    if update_id is not None:
        data["update_id"] = update_id
    if text is not None:
        data["message"]["text"] = text
        data["message"].pop("entities", None)
    if "callback_data" in changes:
        data["callback_query"]["data"] = changes["callback_data"]
    return data


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    fake = FakeBotApi()
    yield fake
    assert fake.unexpected == [], f"unexpected Bot API requests: {fake.unexpected}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def telegram_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)


@pytest.fixture
def channel(runtime: Runtime, telegram_env: None, api: FakeBotApi, clock: FakeClock) -> TelegramChannel:
    runtime.settings.channels = ChannelSettings.model_validate(
        {"enabled": ["rest", "telegram"], "telegram": {"base_url": BASE_URL}}
    )
    throttle = Throttle(Limit("overall", 30), Limit("per chat", 1, burst=3), clock=clock, sleep=clock.sleep)
    return TelegramChannel(runtime.conversations, runtime.settings, request=api, throttle=throttle)


@pytest.fixture
async def client(
    runtime: Runtime, channel: TelegramChannel, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    """The app as `interviewer serve` builds it, its Telegram channel talking to the fake API."""
    installed = runtime.channels

    def channels(names: list[str] | None = None) -> list[Any]:
        return [channel if c.name == "telegram" else c for c in installed(names)]

    monkeypatch.setattr(runtime, "channels", channels)
    app = create_app(runtime.settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
    await channel.drain()


async def deliver(
    client: httpx.AsyncClient, channel: TelegramChannel, body: dict[str, Any], secret: str = SECRET
) -> httpx.Response:
    """Post an update as Telegram does and wait until the channel has handled it."""
    response = await client.post(WEBHOOK, json=body, headers={AUTH_HEADER: secret})
    await channel.drain()
    return response


async def invite(runtime: Runtime, token: str = INVITATION, role: str = "sales_manager") -> None:
    """An invitation as `interviewer invite` stores it (only the token's hash)."""
    async with runtime.db.write() as session:
        session.add(Invitation(token_hash=token_hash(token), role=role))


def buttons(sent: dict[str, Any]) -> list[dict[str, str]]:
    return [key for row in sent.get("reply_markup", {}).get("inline_keyboard", []) for key in row]


# -- inbound ------------------------------------------------------------------------------------


async def test_start_with_an_invitation_token_starts_the_invited_interview(
    runtime: Runtime, client: httpx.AsyncClient, channel: TelegramChannel, api: FakeBotApi
) -> None:
    await invite(runtime)
    response = await deliver(client, channel, update("start_with_token"))
    assert response.status_code == 200
    (inbound,) = [m for m in await messages(runtime) if m.direction == "in"]
    assert inbound.text == f"/start {INVITATION}" and inbound.platform_message_id == "update:730100001"
    (interview,) = await interviews(runtime)
    assert interview.role == "sales_manager" and interview.invitation_id is not None
    (invitation,) = await rows(runtime, Invitation)
    assert invitation.used_at is not None
    greeting = api.sent()[-1]
    assert "Welcome to the interview for" in "\n".join(api.texts())
    assert [(b["text"], b["callback_data"]) for b in buttons(greeting)] == [("Yes", "/yes"), ("No", "/no")]


async def test_text_answer_is_recorded_as_the_answer(
    runtime: Runtime, client: httpx.AsyncClient, channel: TelegramChannel, api: FakeBotApi
) -> None:
    flow = sample_flow("sales_manager")
    await deliver(client, channel, update("text_answer", update_id=1, text="/interview sales_manager"))
    await deliver(client, channel, update("text_answer", update_id=2, text="/yes"))
    assert flow.questions[0].text["en"] in api.texts()[-1]
    answer = strong_answers(flow, "en")[0]
    await deliver(client, channel, update("text_answer", update_id=3, text=answer))
    (stored,) = await answers(runtime)
    assert stored.question_id == flow.questions[0].id
    assert flow.questions[1].text["en"] in "\n".join(api.texts()[-2:])
    inbound = [m for m in await messages(runtime) if m.direction == "in"]
    assert [m.platform_message_id for m in inbound] == ["update:1", "update:2", "update:3"]


async def test_a_redelivered_update_is_stored_once_and_answered_once(
    runtime: Runtime, client: httpx.AsyncClient, channel: TelegramChannel, api: FakeBotApi
) -> None:
    body = update("text_answer", text="/interview sales_manager")
    first, again = await asyncio.gather(
        client.post(WEBHOOK, json=body, headers={AUTH_HEADER: SECRET}),
        client.post(WEBHOOK, json=body, headers={AUTH_HEADER: SECRET}),
    )
    await channel.drain()
    assert first.status_code == again.status_code == 200
    replies = len(api.sent())
    assert replies >= 1
    later = await deliver(client, channel, body)  # Telegram retries after a timeout
    assert later.status_code == 200
    assert len(api.sent()) == replies
    inbound = [m for m in await messages(runtime) if m.direction == "in"]
    assert [m.platform_message_id for m in inbound] == ["update:730100002"]
    assert len(await interviews(runtime)) == 1


@pytest.mark.parametrize("headers", [{}, {AUTH_HEADER: "wrong-secret-of-the-same-size!"}, {AUTH_HEADER: ""}])
async def test_a_wrong_or_missing_secret_is_refused(
    runtime: Runtime,
    client: httpx.AsyncClient,
    channel: TelegramChannel,
    api: FakeBotApi,
    headers: dict[str, str],
) -> None:
    response = await client.post(WEBHOOK, json=update("text_answer"), headers=headers)
    await channel.drain()
    assert response.status_code == 403
    assert AUTH_HEADER in response.json()["error"]
    assert await messages(runtime) == [] and api.calls == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b'{"update_id": 5, "message": "\xff\xfe broken"',
        b"[]",
        b'{"message": {"text": "no update id"}}',
        b'{"update_id": "7"}',
        b'{"update_id": 7.5}',
    ],
)
async def test_a_body_that_is_not_an_update_gets_400_and_changes_nothing(
    runtime: Runtime, client: httpx.AsyncClient, channel: TelegramChannel, api: FakeBotApi, body: bytes
) -> None:
    response = await client.post(
        WEBHOOK, content=body, headers={AUTH_HEADER: SECRET, "content-type": "application/json"}
    )
    await channel.drain()
    assert response.status_code == 400
    assert "error" in response.json()
    assert await messages(runtime) == [] and api.endpoints() == []


async def test_webhook_answers_503_until_the_bot_is_ready(
    runtime: Runtime, client: httpx.AsyncClient, channel: TelegramChannel
) -> None:
    runtime.conversations.ready = False
    response = await deliver(client, channel, update("text_answer"))
    assert response.status_code == 503 and "error" in response.json()
    assert await messages(runtime) == []


@pytest.mark.parametrize(
    ("fixture", "chat", "expected"),
    [
        ("sticker", ALICE, "I can only read text messages"),
        ("photo", 515151, "我只能读取文字消息"),
    ],
)
async def test_media_in_a_private_chat_gets_a_short_reply_and_changes_nothing(
    runtime: Runtime,
    client: httpx.AsyncClient,
    channel: TelegramChannel,
    api: FakeBotApi,
    fixture: str,
    chat: int,
    expected: str,
) -> None:
    await deliver(client, channel, update("text_answer", update_id=1, text="/interview sales_manager"))
    before = await messages(runtime)
    sent_before = len(api.sent(chat))
    response = await deliver(client, channel, update(fixture))
    assert response.status_code == 200
    (notice,) = api.texts(chat)[sent_before:]
    assert expected.lower() in notice.lower()
    assert await messages(runtime) == before
    await deliver(client, channel, update(fixture))  # a redelivery is not answered twice
    assert len(api.texts(chat)) == sent_before + 1


def _wrong(name: str, change: Any) -> dict[str, Any]:
    data = update(name)
    change(data)
    return data


WRONGLY_TYPED = {
    "text is a number": _wrong("text_answer", lambda d: d["message"].update(text=12345)),
    "text is a list": _wrong("text_answer", lambda d: d["message"].update(text=["/yes"])),
    "language_code is a number": _wrong(
        "text_answer", lambda d: d["message"]["from"].update(language_code=7)
    ),
    "message without chat": _wrong("text_answer", lambda d: d["message"].pop("chat")),
    "chat id is text": _wrong("text_answer", lambda d: d["message"]["chat"].update(id="424242")),
    "from is text": _wrong("text_answer", lambda d: d["message"].update({"from": "alice"})),
    "message is a number": {"update_id": 8, "message": 42},
    "callback without from": {"update_id": 9, "callback_query": {"id": "x"}},
    "callback data is a number": _wrong("callback_query", lambda d: d["callback_query"].update(data=1)),
    "edit with text as a dict": _wrong("edited_message", lambda d: d["edited_message"].update(text={})),
}


@pytest.mark.parametrize("body", WRONGLY_TYPED.values(), ids=WRONGLY_TYPED.keys())
async def test_updates_with_fields_of_the_wrong_type_are_acknowledged_and_ignored(
    runtime: Runtime,
    client: httpx.AsyncClient,
    channel: TelegramChannel,
    api: FakeBotApi,
    body: dict[str, Any],
) -> None:
    """Telegram delivers again whatever is not answered 200: an update it could never have sent
    (probing, a proxy's mangling) is acknowledged and changes nothing, instead of a 500 forever."""
    await deliver(client, channel, update("text_answer", update_id=1, text="/interview sales_manager"))
    before, sent_before = await messages(runtime), len(api.calls)
    response = await deliver(client, channel, body)
    assert response.status_code == 200
    assert await messages(runtime) == before and len(api.calls) == sent_before


async def test_a_lone_surrogate_in_the_text_is_stored_as_a_replacement_character(
    runtime: Runtime, client: httpx.AsyncClient, channel: TelegramChannel, api: FakeBotApi
) -> None:
    """JSON can carry half of a UTF-16 pair ("\\ud83d"); neither database can store one."""
    body = json.dumps(update("text_answer", text="/interview sales_manager \ud83d"), ensure_ascii=True)
    assert "\\ud83d" in body
    response = await client.post(
        WEBHOOK, content=body.encode(), headers={AUTH_HEADER: SECRET, "content-type": "application/json"}
    )
    await channel.drain()
    assert response.status_code == 200
    (stored,) = [m for m in await messages(runtime) if m.direction == "in"]
    assert stored.text == "/interview sales_manager \ufffd"
    assert "Welcome to the interview for" in "\n".join(api.texts())


async def test_an_edited_message_is_told_that_the_original_counts(
    runtime: Runtime, client: httpx.AsyncClient, channel: TelegramChannel, api: FakeBotApi
) -> None:
    flow = sample_flow("sales_manager")
    await deliver(client, channel, update("text_answer", update_id=1, text="/interview sales_manager"))
    await deliver(client, channel, update("text_answer", update_id=2, text="/yes"))
    await deliver(client, channel, update("text_answer", update_id=3, text=strong_answers(flow, "en")[0]))
    before, sent_before = await messages(runtime), len(api.sent())
    edit = update("edited_message")
    assert (await deliver(client, channel, edit)).status_code == 200
    (notice,) = api.texts()[sent_before:]
    assert "original message is the one that counts" in notice
    assert await messages(runtime) == before  # the edit is not an answer, and changes none
    assert (await deliver(client, channel, edit)).status_code == 200  # redelivered: told once
    assert len(api.sent()) == sent_before + 1
    chinese = update("edited_message", update_id=730100008)
    chinese["edited_message"]["from"]["language_code"] = "zh-hans"
    await deliver(client, channel, chinese)
    assert "以你最初发送的内容为准" in api.texts()[-1]


@pytest.mark.parametrize("fixture", ["group_message", "channel_post"])
async def test_groups_and_channel_posts_are_ignored(
    runtime: Runtime, client: httpx.AsyncClient, channel: TelegramChannel, api: FakeBotApi, fixture: str
) -> None:
    response = await deliver(client, channel, update(fixture))
    assert response.status_code == 200
    assert api.endpoints() == []
    assert await messages(runtime) == []


async def test_consent_by_inline_button_answers_the_query_and_asks_the_first_question(
    runtime: Runtime, client: httpx.AsyncClient, channel: TelegramChannel, api: FakeBotApi
) -> None:
    flow = sample_flow("sales_manager")
    await deliver(client, channel, update("text_answer", update_id=1, text="/interview sales_manager"))
    pressed = update("callback_query")
    response = await deliver(client, channel, pressed)
    assert response.status_code == 200
    calls = api.endpoints()
    assert calls[calls.index("answerCallbackQuery") :][:2] == [
        "answerCallbackQuery",
        "editMessageReplyMarkup",
    ]
    (answered,) = [p for e, p in api.calls if e == "answerCallbackQuery"]
    assert answered["callback_query_id"] == pressed["callback_query"]["id"]
    assert flow.questions[0].text["en"] in api.texts()[-1]
    inbound = [m for m in await messages(runtime) if m.direction == "in"]
    assert [(m.text, m.platform_message_id) for m in inbound][-1] == ("/yes", "update:730100003")
    (interview,) = await interviews(runtime)
    assert interview.state != "consent"


async def test_a_payload_longer_than_64_bytes_travels_as_a_hash(
    runtime: Runtime, client: httpx.AsyncClient, channel: TelegramChannel, api: FakeBotApi
) -> None:
    payload = "/interview " + "sales_manager" * 6
    await channel.send(OutgoingMessage(str(ALICE), "Which role?", [OutgoingButton("Sales manager", payload)]))
    (key,) = buttons(api.sent()[-1])
    assert len(key["callback_data"].encode()) <= 64 and key["callback_data"] != payload
    await deliver(client, channel, update("callback_query", callback_data=key["callback_data"]))
    (inbound,) = [m for m in await messages(runtime) if m.direction == "in"]
    assert inbound.text == payload

    forgotten = CallbackPayloads().encode("/practice " + "x" * 80)  # another process's hash
    await deliver(client, channel, update("callback_query", update_id=2, callback_data=forgotten))
    assert len([m for m in await messages(runtime) if m.direction == "in"]) == 1
    (_, expired) = [p for e, p in api.calls if e == "answerCallbackQuery"]
    assert "expired" in expired["text"]


# -- outbound ------------------------------------------------------------------------------------


@PTB_RETRY_AFTER_DEPRECATION
async def test_a_429_is_waited_out_and_the_message_sent_once(
    channel: TelegramChannel, api: FakeBotApi, clock: FakeClock
) -> None:
    api.fail_next(
        "sendMessage",
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests",
            "parameters": {"retry_after": 1},
        },
    )
    await channel.send(OutgoingMessage(str(ALICE), "Question 2: tell me about a deal you lost."))
    attempts = api.texts()
    assert attempts == ["Question 2: tell me about a deal you lost."] * 2  # refused, then delivered
    assert sum(clock.sleeps) >= 1.0


@PTB_RETRY_AFTER_DEPRECATION
async def test_refusals_raise_delivery_error(channel: TelegramChannel, api: FakeBotApi) -> None:
    api.fail_next(
        "sendMessage",
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    )
    with pytest.raises(DeliveryError, match="blocked"):
        await channel.send(OutgoingMessage(str(ALICE), "Your interview expires tomorrow."))
    for _ in range(4):
        api.fail_next("sendMessage", 429, {"ok": False, "error_code": 429, "parameters": {"retry_after": 2}})
    with pytest.raises(DeliveryError, match="wait"):
        await channel.send(OutgoingMessage(str(ALICE), "Your interview expires tomorrow."))
    with pytest.raises(DeliveryError, match="chat id"):
        await channel.send(OutgoingMessage("alice", "hello"))
    assert isinstance(channel, PushChannel)


async def test_a_long_message_is_split_on_paragraphs_with_buttons_on_the_last_part(
    channel: TelegramChannel, api: FakeBotApi
) -> None:
    paragraphs = [f"Paragraph {i}: " + ("we listened to the customer. " * 60).strip() for i in range(6)]
    text = "\n\n".join(paragraphs)
    assert len(text) > MAX_TEXT
    await channel.send(OutgoingMessage(str(ALICE), text, [OutgoingButton("Yes", "/yes")]))
    sent = api.sent()
    assert len(sent) > 1
    assert all(len(p["text"]) <= MAX_TEXT for p in sent)
    assert all(p["text"].startswith("Paragraph") for p in sent)  # cut between paragraphs
    assert "\n\n".join(p["text"] for p in sent) == text
    assert [bool(buttons(p)) for p in sent] == [False] * (len(sent) - 1) + [True]


def test_split_text_without_separators_and_with_emoji() -> None:
    assert split_text("short") == ["short"]
    assert split_text("   ") == []
    parts = split_text("x" * 10_000)
    assert [len(p) for p in parts] == [4096, 4096, 1808]
    emoji = split_text("😀" * 3000)  # two UTF-16 units each
    assert [len(p) for p in emoji] == [2048, 952]
    lines = split_text("\n".join(["line of text"] * 800), limit=1000)
    assert all(len(p) <= 1000 and not p.endswith("\n") and p.startswith("line") for p in lines)


async def test_throttle_keeps_to_the_per_chat_and_overall_limits() -> None:
    clock = FakeClock()
    throttle = Throttle(Limit("overall", 10), Limit("per chat", 1, burst=3), clock=clock, sleep=clock.sleep)
    for _ in range(5):
        await throttle.acquire("alice")
    assert clock.now == pytest.approx(2.0)  # three at once, then one a second
    start = clock.now
    for chat in range(20):
        await throttle.acquire(f"chat-{chat}")
    assert clock.now - start == pytest.approx(2.0, abs=0.11)  # twenty chats at ten a second
    throttle.hold("bob", 5)
    before = clock.now
    await throttle.acquire("bob")
    assert clock.now - before == pytest.approx(5.0)


# -- polling, webhook registration, configuration ---------------------------------------------------


async def test_polling_dispatches_updates_and_advances_the_offset(
    runtime: Runtime, channel: TelegramChannel, api: FakeBotApi
) -> None:
    api.updates = [update("text_answer", text="/interview sales_manager")]
    offset = await channel.poll_once()
    await channel.drain()
    assert offset == 730100003
    assert "Welcome to the interview for" in "\n".join(api.texts())
    assert await channel.poll_once(offset) == offset
    (request,) = [p for e, p in api.calls if e == "getUpdates"][-1:]
    assert request["offset"] == offset


async def test_polling_removes_the_webhook_and_answers_until_cancelled(
    runtime: Runtime, channel: TelegramChannel, api: FakeBotApi
) -> None:
    api.updates = [update("text_answer", text="/interview sales_manager")]
    polling = asyncio.create_task(channel.poll())
    for _ in range(500):
        await asyncio.sleep(0.02)
        if api.sent():
            break
    polling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await polling
    await channel.close()
    assert api.endpoints()[:3] == ["getWebhookInfo", "deleteWebhook", "getUpdates"]
    assert "Welcome to the interview for" in "\n".join(api.texts())


async def test_set_webhook_registers_the_secret_and_both_command_menus() -> None:
    api = FakeBotApi()
    await register_webhook(
        Bot(TOKEN, base_url=BASE_URL, request=api), "https://hr.example.org" + WEBHOOK, SECRET
    )
    assert api.unexpected == []
    (webhook,) = [p for e, p in api.calls if e == "setWebhook"]
    assert webhook["url"] == "https://hr.example.org/telegram/webhook"
    assert webhook["secret_token"] == SECRET
    assert webhook["allowed_updates"] == ["message", "edited_message", "callback_query"]
    menus = [p for e, p in api.calls if e == "setMyCommands"]
    assert [m.get("language_code") for m in menus] == [None, "zh"]
    assert [c["command"] for c in menus[1]["commands"]] == [c for c, _ in COMMANDS["zh"]]
    assert webhook_url("https://hr.example.org/") == "https://hr.example.org/telegram/webhook"
    with pytest.raises(ValueError, match="https"):
        webhook_url("http://hr.example.org")


def test_cli_offers_polling_and_set_webhook(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["telegram", "--help"])
    assert result.exit_code == 0
    assert "--polling" in result.output and "set-webhook" in result.output
    result = runner.invoke(app, ["telegram", "set-webhook", "http://insecure.example.org"])
    assert result.exit_code == 2 and "https" in result.output
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    result = runner.invoke(app, ["telegram", "set-webhook", "https://hr.example.org"])
    assert result.exit_code == 2 and "TELEGRAM_BOT_TOKEN" in result.output


async def test_the_webhook_channel_refuses_to_start_without_a_secret(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
        runtime.channels(["telegram"])
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "short")
    with pytest.raises(ConfigError, match="16 to 256"):
        runtime.channels(["telegram"])
    polling = TelegramChannel(runtime.conversations, runtime.settings, mode="polling", request=FakeBotApi())
    assert polling.name == "telegram"
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
    (installed,) = runtime.channels(["telegram"])
    assert isinstance(installed, TelegramChannel)
    runtime.settings.channels = ChannelSettings.model_validate(
        {"enabled": ["telegram"], "telegram": {"rate_limits": {"per_chat": 0}}}
    )
    with pytest.raises(ConfigError, match=r"channels\.telegram\.rate_limits\.per_chat"):
        runtime.channels(["telegram"])


# -- replies Telegram could not take: the outbox ----------------------------------------------------


async def outbox_rows(runtime: Runtime, ready: Callable[[list[OutboxRow]], bool]) -> list[OutboxRow]:
    """The outbox's rows, once the background delivery loop has brought them to ``ready``."""
    for _ in range(3000):  # tiny waits
        found = await rows(runtime, OutboxRow)
        if ready(found):
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"the outbox never got ready: {found}")


def next_attempt_due(runtime: Runtime, row: OutboxRow, later: timedelta = timedelta()) -> None:
    """Move the outbox's clock to ``row``'s next attempt (plus ``later``) and wake it."""
    shift = row.not_before - utcnow() + later
    runtime.outbox.clock = lambda: utcnow() + shift
    runtime.outbox.notify()


async def test_replies_telegram_cannot_take_wait_in_the_outbox_and_go_out_in_order_with_buttons(
    runtime: Runtime, client: httpx.AsyncClient, channel: TelegramChannel, api: FakeBotApi
) -> None:
    """The Bot API is unreachable for two messages: none of their replies is lost or marked
    delivered; the later message's replies wait behind the earlier's; when Telegram is back, all go
    out in order, the consent question with its buttons."""
    flow = sample_flow("sales_manager")
    runtime.outbox.register_channel(channel)
    api.down = True
    await deliver(client, channel, update("text_answer", update_id=1, text="/interview sales_manager"))
    await deliver(client, channel, update("text_answer", update_id=2, text="/yes"))
    queued = await outbox_rows(runtime, lambda found: len(found) >= 2 and found[0].attempts > 0)
    replies = [m for m in await messages(runtime) if m.direction == "out"]
    assert [row.message_id for row in queued] == [m.id for m in replies]  # every reply, in order
    assert not any(m.delivered for m in replies)
    assert "Welcome to the interview for Sales Manager" in queued[0].payload["text"]
    assert [b["payload"] for b in queued[0].payload["buttons"]] == ["/yes", "/no"]
    assert flow.questions[0].text["en"] in queued[-1].payload["text"]
    assert {row.ordering_key for row in queued} == {queued[0].ordering_key}
    assert "NetworkError" in (queued[0].last_error or "") and TOKEN not in (queued[0].last_error or "")

    api.down = False
    attempted = len(api.sent())
    next_attempt_due(runtime, queued[0])
    sent = await outbox_rows(runtime, lambda found: all(row.state == "sent" for row in found))
    delivered = api.sent()[attempted:]
    assert [p["text"] for p in delivered] == [row.payload["text"] for row in sent]
    assert "Welcome to the interview for Sales Manager" in delivered[0]["text"]
    assert [(b["text"], b["callback_data"]) for b in buttons(delivered[0])] == [
        ("Yes", "/yes"),
        ("No", "/no"),
    ]
    assert flow.questions[0].text["en"] in delivered[-1]["text"]
    assert all(m.delivered for m in await messages(runtime) if m.direction == "out")
    # Nothing waits any more: the next reply goes straight out, once.
    await deliver(client, channel, update("text_answer", update_id=3, text="/repeat"))
    assert flow.questions[0].text["en"] in api.texts()[-1]
    assert len(await rows(runtime, OutboxRow)) == len(sent)


async def test_a_reply_undelivered_for_48_hours_is_given_up_and_shown_to_hr(
    runtime: Runtime, client: httpx.AsyncClient, channel: TelegramChannel, api: FakeBotApi
) -> None:
    runtime.outbox.register_channel(channel)
    api.down = True
    await deliver(client, channel, update("text_answer", update_id=1, text="/interview sales_manager"))
    (queued,) = await outbox_rows(runtime, lambda found: len(found) == 1 and found[0].attempts > 0)
    next_attempt_due(runtime, queued, later=timedelta(hours=48))
    (failed,) = await outbox_rows(runtime, lambda found: found[0].state == "failed")
    assert "Expired" in (failed.last_error or "")
    (shown,) = await list_outbox(runtime.db, state="failed")
    assert shown.channel == "telegram" and shown.message_id == failed.message_id
    health = (await client.get("/health")).json()
    assert health["outbox"]["failed"] == 1
    hr = {"Authorization": "Bearer hr-token-for-the-outbox"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INTERVIEWER_HR_TOKEN", hr["Authorization"].split()[1])
        (listed,) = (await client.get("/hr/outbox", params={"state": "failed"}, headers=hr)).json()
    assert listed["id"] == failed.id and listed["channel"] == "telegram" and "text" not in listed
    assert "Expired" in listed["last_error"] and str(ALICE) not in str(listed)


async def test_a_candidate_who_blocked_the_bot_is_not_retried_for_48_hours(
    runtime: Runtime, client: httpx.AsyncClient, channel: TelegramChannel, api: FakeBotApi
) -> None:
    runtime.outbox.register_channel(channel)
    blocked = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
    api.fail_next("sendMessage", 403, blocked)  # the direct send
    api.fail_next("sendMessage", 403, blocked)  # the outbox's attempt
    await deliver(client, channel, update("text_answer", update_id=1, text="/interview sales_manager"))
    (failed,) = await outbox_rows(runtime, lambda found: len(found) == 1 and found[0].state == "failed")
    assert failed.attempts == 1 and "blocked" in (failed.last_error or "")


# -- nothing leaked ---------------------------------------------------------------------------------


async def test_the_bot_token_and_chat_ids_never_reach_a_log_line_or_an_error(
    runtime: Runtime,
    client: httpx.AsyncClient,
    channel: TelegramChannel,
    api: FakeBotApi,
    app_logs: pytest.LogCaptureFixture,
) -> None:
    """python-telegram-bot quotes the token when Telegram rejects it, and its debug lines carry chat
    ids and texts: logged as `interviewer -v serve` logs, none of it appears."""
    unauthorized = {"ok": False, "error_code": 401, "description": "Unauthorized"}
    api.fail_next("getMe", 401, unauthorized)
    await deliver(client, channel, update("text_answer", update_id=1, text="/interview sales_manager"))
    api.fail_next(
        "sendMessage", 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
    )
    await deliver(client, channel, update("text_answer", update_id=2, text="/help"))
    errors = []
    for status, body in [
        (401, unauthorized),
        (403, {"ok": False, "error_code": 403, "description": "Forbidden"}),
    ]:
        channel._started = asyncio.Lock()
        channel.bot._bot_initialized = False  # to meet the rejected token again
        api.fail_next("getMe", status, body)
        with pytest.raises(DeliveryError) as refused:
            await channel.send(OutgoingMessage(str(ALICE), "Your interview expires tomorrow."))
        errors.append(str(refused.value))
    await client.post(WEBHOOK, json=update("text_answer", update_id=3), headers={AUTH_HEADER: "x" * 20})
    assert "rejected" in errors[0] or "Unauthorized" in errors[0]
    for secret in (TOKEN, TOKEN.split(":")[1], SECRET):
        assert secret not in app_logs.text, secret
        assert not any(secret in error for error in errors), secret
    assert str(ALICE) not in app_logs.text
    assert "/interview sales_manager" not in app_logs.text and "/help" not in app_logs.text


# -- the candidate's journey -----------------------------------------------------------------------


async def test_full_interview_over_the_telegram_webhook(
    runtime: Runtime, client: httpx.AsyncClient, channel: TelegramChannel, api: FakeBotApi
) -> None:
    flow = sample_flow("sales_manager")
    await invite(runtime)
    ids = itertools.count(900_000_000)
    assert (
        await deliver(client, channel, update("start_with_token", update_id=next(ids)))
    ).status_code == 200
    consent = next(p for p in reversed(api.sent()) if buttons(p))
    yes = next(b for b in buttons(consent) if b["text"] == "Yes")
    pressed = update("callback_query", update_id=next(ids), callback_data=yes["callback_data"])
    assert (await deliver(client, channel, pressed)).status_code == 200
    assert flow.questions[0].text["en"] in api.texts()[-1]
    for answer in strong_answers(flow, "en"):
        response = await deliver(client, channel, update("text_answer", update_id=next(ids), text=answer))
        assert response.status_code == 200
    assert flow.closing["en"] in "\n".join(api.texts()[-3:])
    assert len(await answers(runtime)) == len(flow.questions)
    (interview,) = await interviews(runtime)
    assert interview.state == "done"
    sent = "\n".join(api.texts())
    outbound = [m for m in await messages(runtime) if m.direction == "out"]
    assert all(m.text.strip()[:200] in sent for m in outbound)  # every stored reply went out
