"""The WeChat Official Account channel, end to end through the FastAPI app and fully offline.

Requests are signed and encrypted here by hand the way WeChat's servers do it (SHA-1 over the sorted
token, timestamp, nonce and, in safe mode, Encrypt; AES-256-CBC with the EncodingAESKey); the WeChat
API is a fake transport mounted on the channel's HTTP session that fails on any call it does not know.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import secrets
import struct
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import httpx
import pytest
import requests
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from requests.adapters import BaseAdapter
from sqlmodel import col, select
from wechatpy.crypto import WeChatCrypto

from bot.app import create_app
from bot.messages import DeliveryError, OutgoingButton, OutgoingMessage, PushChannel
from bot.runtime import Runtime
from bot.settings import ChannelSettings, ConfigError, Settings
from bot.store.models import Invitation, Message, OutboxRow, utcnow
from bot.store.repo import token_hash
from channels.wechat import UNSUPPORTED_REPLY, FileTokenStorage, WeChatChannel, render
from tests.helpers import answers, database_text, interviews, messages, rows, sample_flow, strong_answers

FIXTURES = Path(__file__).parent / "fixtures" / "wechat"
TOKEN = "interviewerToken2024"
AES_KEY = base64.b64encode(hashlib.sha256(b"interviewer test key").digest()).decode().rstrip("=")
APP_ID = "wx5823bf96d3bd56c7"
ACCOUNT = "gh_1a2b3c4d5e6f"
API = "https://api.wechat.test/cgi-bin/"
SECRETS = {
    "WECHAT_TOKEN": TOKEN,
    "WECHAT_ENCODING_AES_KEY": AES_KEY,
    "WECHAT_APP_ID": APP_ID,
    "WECHAT_APP_SECRET": "test-app-secret",
}

_msg_ids = iter(range(6_000_000_000_000_000_000, 7_000_000_000_000_000_000))


# --- how WeChat's servers sign and encrypt ---------------------------------------------------------


def sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def _cipher() -> Cipher[modes.CBC]:
    key = base64.b64decode(AES_KEY + "=")
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def encrypt(xml: str) -> str:
    """random(16) + length(4, network order) + message + AppID, PKCS#7 to 32 bytes, AES-256-CBC."""
    body = xml.encode()
    plain = os.urandom(16) + struct.pack(">I", len(body)) + body + APP_ID.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = _cipher().encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def decrypt(encrypted: str) -> str:
    decryptor = _cipher().decryptor()
    plain = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    plain = plain[: -plain[-1]]
    (length,) = struct.unpack(">I", plain[16:20])
    assert plain[20 + length :] == APP_ID.encode()
    return plain[20 : 20 + length].decode()


def payload(name: str, **values: Any) -> str:
    defaults = {"account": ACCOUNT, "create_time": int(time.time()), "msg_id": next(_msg_ids)}
    return Template((FIXTURES / f"{name}.xml").read_text(encoding="utf-8")).substitute(defaults | values)


def fields_of(xml: str) -> dict[str, str]:
    return {child.tag: child.text or "" for child in ElementTree.fromstring(xml)}


# --- a fake WeChat API -------------------------------------------------------------------------------


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


@dataclass
class FakeWeChatAPI(BaseAdapter):
    """The WeChat API as a requests transport: the token and message endpoints, nothing else."""

    custom_send_errcode: int = 0
    unreachable: bool = False
    sends_unreachable: bool = False
    """The token endpoint answers, the message endpoints cannot be reached (a token is in their URL)."""
    calls: list[Call] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url or "")
        body = json.loads(request.body) if request.body else None
        call = Call(request.method or "", url.path, parse_qs(url.query), body)
        self.calls.append(call)
        if url.netloc != "api.wechat.test":
            self.unexpected.append(request.url or "")
            raise requests.ConnectionError(f"test: unexpected call to {request.url}")
        if self.unreachable or (self.sends_unreachable and call.path != "/cgi-bin/token"):
            raise self._unreachable(request)
        if call.path == "/cgi-bin/token":
            assert call.query["appid"] == [APP_ID] and call.query["secret"] == ["test-app-secret"]
            return self._json(request, {"access_token": "ACCESS_TOKEN_1", "expires_in": 7200})
        if call.path == "/cgi-bin/message/custom/send":
            assert call.query["access_token"] == ["ACCESS_TOKEN_1"]
            code = self.custom_send_errcode
            return self._json(
                request, {"errcode": code, "errmsg": "ok" if code == 0 else "out of time limit"}
            )
        if call.path == "/cgi-bin/message/template/send":
            return self._json(request, {"errcode": 0, "errmsg": "ok", "msgid": 200228332})
        self.unexpected.append(request.url or "")
        raise requests.ConnectionError(f"test: unexpected call to {request.url}")

    def close(self) -> None:
        pass

    @staticmethod
    def _unreachable(request: requests.PreparedRequest) -> requests.ConnectionError:
        """What requests raises when the host cannot be reached: urllib3 names the URL, query and all."""
        url = urlsplit(request.url or "")
        return requests.ConnectionError(
            f"HTTPSConnectionPool(host={url.hostname!r}, port=443): Max retries exceeded with url: "
            f"{url.path}?{url.query} (Caused by NewConnectionError('<urllib3.connection.HTTPSConnection "
            "object>: Failed to establish a new connection: [Errno 111] Connection refused'))",
            request=request,
        )

    @staticmethod
    def _json(request: requests.PreparedRequest, data: dict[str, Any]) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps(data).encode()
        response.headers["Content-Type"] = "application/json"
        response.request = request
        response.url = request.url or ""
        return response

    def sent(self, path: str = "/cgi-bin/message/custom/send") -> list[Any]:
        return [call.body for call in self.calls if call.path == path]


def with_fake_api(channel: WeChatChannel) -> FakeWeChatAPI:
    api = FakeWeChatAPI()
    channel.http.mount("https://", api)
    channel.http.mount("http://", api)
    return api


# --- the app with the WeChat channel -----------------------------------------------------------------


@dataclass
class WeChat:
    http: httpx.AsyncClient
    channel: WeChatChannel
    api: FakeWeChatAPI

    async def post(
        self,
        xml: str | bytes,
        *,
        safe: bool = False,
        timestamp: int | None = None,
        signature: str | None = None,
        msg_signature: str | None = None,
    ) -> httpx.Response:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = secrets.token_hex(5)
        params = {"signature": signature or sign(TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce}
        body = xml.encode() if isinstance(xml, str) else xml
        if safe:
            encrypted = encrypt(body.decode())
            params |= {
                "encrypt_type": "aes",
                "msg_signature": msg_signature or sign(TOKEN, stamp, nonce, encrypted),
            }
            body = (
                f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
                f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
            ).encode()
        return await self.http.post(
            "/wechat", params=params, content=body, headers={"content-type": "text/xml"}
        )

    async def reply(self, xml: str, *, sender: str, safe: bool = False) -> str:
        """The passive reply's text ("" for "success"), checked as WeChat would check it."""
        response = await self.post(xml, safe=safe)
        assert response.status_code == 200, response.text
        if response.text == "success":
            return ""
        reply = fields_of(response.text)
        if safe:
            assert set(reply) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
            assert reply["MsgSignature"] == sign(TOKEN, reply["TimeStamp"], reply["Nonce"], reply["Encrypt"])
            reply = fields_of(decrypt(reply["Encrypt"]))
        assert reply["MsgType"] == "text"
        assert reply["ToUserName"] == sender and reply["FromUserName"] == ACCOUNT
        return reply["Content"]

    async def answer(self, sender: str, content: str, *, safe: bool = False) -> str:
        """The bot's answer however it comes: passively, or (when the bot took longer than the reply
        timeout, as scoring a last answer may on a busy machine) by customer-service message."""
        sent_before = len(self.api.sent())
        passive = await self.say(sender, content, safe=safe)
        if passive:
            return passive
        await self.channel.drain()
        late = [body["text"]["content"] for body in self.api.sent()[sent_before:] if body["touser"] == sender]
        assert late, f"no reply to {content!r}"
        return "\n\n".join(late)

    async def say(self, sender: str, content: str, *, safe: bool = False, msg_id: int | None = None) -> str:
        xml = payload("text", sender=sender, content=content, msg_id=msg_id or next(_msg_ids))
        return await self.reply(xml, sender=sender, safe=safe)


Factory = Callable[..., WeChat]


@pytest.fixture
def wechat_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def wechat_settings(settings: Settings, tmp_path: Path, wechat_env: None) -> Settings:
    settings.channels = ChannelSettings(
        enabled=["rest", "wechat"],
        wechat={"api_base_url": API, "token_cache": str(tmp_path / "wechat-token.json")},
    )
    return settings


@pytest.fixture
async def start_wechat(runtime: Runtime, wechat_settings: Settings) -> AsyncIterator[Factory]:
    """Build the app with the WeChat channel enabled (extra ``channels.wechat`` options as keywords)."""
    started: list[WeChat] = []

    def start(**options: Any) -> WeChat:
        runtime.settings.channels = ChannelSettings(
            enabled=["rest", "wechat"], wechat=wechat_settings.channels.section("wechat") | options
        )
        built = []
        original = runtime.channels

        def capture(names: list[str] | None = None) -> Any:
            found = original(names)
            built.extend(found)
            return found

        runtime.channels = capture  # type: ignore[method-assign]
        try:
            app = create_app(runtime.settings, runtime=runtime)
        finally:
            del runtime.channels
        (channel,) = (c for c in built if isinstance(c, WeChatChannel))
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        started.append(WeChat(http, channel, with_fake_api(channel)))
        return started[-1]

    yield start
    for wechat in started:
        await wechat.channel.drain()
        await wechat.http.aclose()
        assert wechat.api.unexpected == []


@pytest.fixture
def wechat(start_wechat: Factory) -> WeChat:
    return start_wechat()


async def inbound(runtime: Runtime) -> list[Message]:
    return [m for m in await messages(runtime) if m.direction == "in"]


async def invite(runtime: Runtime, role: str) -> str:
    """An invitation token, made the way `interviewer invite` makes one."""
    token = secrets.token_urlsafe(16)
    async with runtime.db.write() as session:
        session.add(
            Invitation(token_hash=token_hash(token), role=role, expires_at=utcnow() + timedelta(days=14))
        )
    return token


# --- the platform's cryptography --------------------------------------------------------------------


def test_requests_are_signed_and_encrypted_as_wechatpy_expects() -> None:
    """The hand-made requests above are what wechatpy (and so WeChat) produce and accept."""
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    xml = payload("text", sender="o_check", content="你好 hello")
    encrypted = encrypt(xml)
    signature = sign(TOKEN, "1700000000", "nonce1", encrypted)
    by_hand = hashlib.sha1("".join(sorted([TOKEN, "1700000000", "nonce1", encrypted])).encode())
    assert signature == by_hand.hexdigest()
    envelope = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    assert crypto.decrypt_message(envelope, signature, "1700000000", "nonce1") == xml
    wrapped = fields_of(crypto.encrypt_message("<xml><Content>hi</Content></xml>", "nonce2", "1700000001"))
    assert wrapped["MsgSignature"] == sign(TOKEN, "1700000001", "nonce2", wrapped["Encrypt"])
    assert decrypt(wrapped["Encrypt"]) == "<xml><Content>hi</Content></xml>"


# --- verification and refusals -----------------------------------------------------------------------


async def test_url_verification_echoes_echostr_only_when_signed(wechat: WeChat) -> None:
    stamp, nonce = str(int(time.time())), "1514052352"
    # By hand, as the Official Account documentation describes it: sort, concatenate, SHA-1.
    expected = hashlib.sha1("".join(sorted([TOKEN, stamp, nonce])).encode()).hexdigest()
    query = {"signature": expected, "timestamp": stamp, "nonce": nonce, "echostr": "7432609375113521012"}
    response = await wechat.http.get("/wechat", params=query)
    assert response.status_code == 200 and response.text == "7432609375113521012"

    forged = await wechat.http.get("/wechat", params=query | {"signature": "0" * 40})
    assert forged.status_code == 403 and forged.json() == {"error": "bad signature"}
    old = str(int(time.time()) - 301)
    stale = await wechat.http.get(
        "/wechat", params=query | {"timestamp": old, "signature": sign(TOKEN, old, nonce)}
    )
    assert stale.status_code == 403 and "stale timestamp" in stale.json()["error"]
    missing = await wechat.http.get("/wechat", params={"echostr": "1"})
    assert missing.status_code == 403


async def test_forged_and_replayed_posts_are_refused_and_nothing_is_stored(
    runtime: Runtime, wechat: WeChat
) -> None:
    xml = payload("text", sender="o_mallory", content="/interview sales_manager")
    bad = await wechat.post(xml, signature="da39a3ee5e6b4b0d3255bfef95601890afd80709")
    assert bad.status_code == 403 and bad.json() == {"error": "bad signature"}
    unicode = await wechat.post(xml, signature="签名" * 20)
    assert unicode.status_code == 403
    stale = await wechat.post(xml, timestamp=int(time.time()) - 3600)
    assert stale.status_code == 403 and "stale timestamp" in stale.json()["error"]
    future = await wechat.post(xml, timestamp=int(time.time()) + 3600)
    assert future.status_code == 403
    forged_body = await wechat.post(xml, safe=True, msg_signature="0" * 40)
    assert forged_body.status_code == 403 and forged_body.json() == {"error": "bad msg_signature"}
    assert await messages(runtime) == []
    assert wechat.api.calls == []


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("malformed", b"<xml><ToUserName>gh_1</ToUserName><FromUserName>o_1"),
        ("not xml", b"hello"),
        ("not a message", b"<html><body>hi</body></html>"),
        ("fields missing", b"<xml><Content>hi</Content></xml>"),
        ("billion laughs", payload("billion_laughs", sender="o_mallory").encode()),
        ("external entity", payload("external_entity", sender="o_mallory").encode()),
        ("bad encoding", b'<?xml version="1.0" encoding="utf-8"?><xml><Content>\xff\xfe</Content></xml>'),
    ],
)
async def test_malformed_and_entity_expansion_xml_is_refused_with_400(
    runtime: Runtime, wechat: WeChat, name: str, body: bytes
) -> None:
    response = await wechat.post(body)
    assert response.status_code == 400, name
    assert "error" in response.json()
    if "entity" in name or "laughs" in name:
        assert "DTD" in response.json()["error"]
        assert "lol" not in response.text and "root:" not in response.text
    assert await messages(runtime) == []


async def test_entity_expansion_inside_safe_mode_is_refused_too(runtime: Runtime, wechat: WeChat) -> None:
    response = await wechat.post(payload("billion_laughs", sender="o_mallory"), safe=True)
    assert response.status_code == 400 and "DTD" in response.json()["error"]
    assert await messages(runtime) == []


async def test_oversized_body_is_refused_with_413(runtime: Runtime, wechat: WeChat) -> None:
    xml = payload("text", sender="o_big", content="x" * (64 * 1024))
    response = await wechat.post(xml)
    assert response.status_code == 413 and "error" in response.json()

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the stream itself is capped
        for _ in range(80):
            yield b"<!-- " + b"y" * 1024 + b" -->"

    stamp, nonce = str(int(time.time())), "n1"
    streamed = await wechat.http.post(
        "/wechat",
        params={"signature": sign(TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce},
        content=chunks(),
    )
    assert streamed.status_code == 413
    assert await messages(runtime) == []


# --- messages and events --------------------------------------------------------------------------


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "aes"])
async def test_text_message_gets_the_bots_reply_passively(
    runtime: Runtime, wechat: WeChat, safe: bool
) -> None:
    msg_id = next(_msg_ids)
    reply = await wechat.say("o_alice", "/interview sales_manager", safe=safe, msg_id=msg_id)
    assert "Welcome to the interview for Sales Manager" in reply
    assert reply.rstrip().endswith("» Yes (/yes) / No (/no)")
    (stored,) = await inbound(runtime)
    assert stored.channel == "wechat" and stored.platform_message_id == str(msg_id)
    assert wechat.api.calls == []  # answered passively: no API call, no access token


async def test_subscribe_with_invitation_scene_starts_the_invited_interview(
    runtime: Runtime, wechat: WeChat
) -> None:
    token = await invite(runtime, "sales_manager")
    scanned = payload("event", sender="o_carol", event="subscribe", event_key=f"qrscene_{token}")
    greeting = await wechat.reply(scanned, sender="o_carol")
    assert "Welcome to the interview for Sales Manager" in greeting
    (interview,) = await interviews(runtime)
    (invitation,) = await rows(runtime, Invitation)
    assert interview.role == "sales_manager" and interview.invitation_id == invitation.id
    assert invitation.used_at is not None
    (stored,) = await inbound(runtime)
    assert stored.text == f"/start {token}"
    # An event's id is the sender's second, event and a digest of its key: neither the openid nor
    # the invitation token is stored in it.
    assert stored.platform_message_id is not None and stored.sender_key is not None
    assert "o_carol" not in stored.platform_message_id and token not in stored.platform_message_id

    # A follower scans the same kind of code: SCAN with the bare token.
    other = await invite(runtime, "rd_engineer")
    scan = payload("event", sender="o_dan", event="SCAN", event_key=other)
    assert "Software R&D Engineer" in await wechat.reply(scan, sender="o_dan")

    plain = payload("event", sender="o_erin", event="subscribe", event_key="")
    welcome = await wechat.reply(plain, sender="o_erin")
    assert "I'm the automated interviewer" in welcome and "/interview sales_manager" in welcome


async def test_menu_clicks_send_commands_and_other_types_get_a_polite_reply(
    runtime: Runtime, wechat: WeChat
) -> None:
    practice = payload("event", sender="o_fay", event="CLICK", event_key="practice")
    assert "/practice sales_manager" in await wechat.reply(practice, sender="o_fay")
    help_text = await wechat.reply(
        payload("event", sender="o_fay", event="CLICK", event_key="help"), sender="o_fay"
    )
    assert "/delete_my_data" in help_text
    start = await wechat.reply(
        payload("event", sender="o_fay", event="CLICK", event_key="start"), sender="o_fay"
    )
    assert "I'm the automated interviewer" in start
    assert [m.text for m in await inbound(runtime)] == ["/practice", "/help", "/start"]

    image = await wechat.reply(payload("image", sender="o_fay"), sender="o_fay")
    assert image == UNSUPPORTED_REPLY
    view = payload("event", sender="o_fay", event="VIEW", event_key="https://example.com/jobs")
    assert await wechat.reply(view, sender="o_fay") == ""
    gone = payload("event", sender="o_fay", event="unsubscribe", event_key="")
    assert await wechat.reply(gone, sender="o_fay") == ""
    assert len(await inbound(runtime)) == 3


async def test_a_retried_msgid_is_stored_once_and_gets_the_same_reply(
    runtime: Runtime, wechat: WeChat
) -> None:
    flow = sample_flow("sales_manager")
    await wechat.say("o_gus", "/interview sales_manager")
    await wechat.say("o_gus", "/yes")
    answer = strong_answers(flow, "en")[0]
    msg_id = next(_msg_ids)
    first = await wechat.say("o_gus", answer, msg_id=msg_id)
    again = await wechat.say("o_gus", answer, msg_id=msg_id)
    assert first == again and flow.questions[1].text["en"] in first
    assert len(await answers(runtime)) == 1
    async with runtime.db.read() as session:
        retried = (
            await session.exec(select(Message).where(col(Message.platform_message_id) == str(msg_id)))
        ).all()
    assert len(retried) == 1


async def test_the_same_msgid_from_another_user_is_their_own_message(
    runtime: Runtime, wechat: WeChat
) -> None:
    """MsgIds are WeChat's, but nothing stops two users' messages from carrying the same one (or a
    forged request from reusing one): each is stored, processed and answered as its sender's."""
    msg_id = next(_msg_ids)
    mine = await wechat.say("o_lena", "/interview sales_manager", msg_id=msg_id)
    theirs = await wechat.say("o_mira", "/help", msg_id=msg_id)
    assert "Welcome to the interview for Sales Manager" in mine
    assert "Welcome to the interview" not in theirs and "/delete_my_data" in theirs
    stored = await inbound(runtime)
    assert [(m.text, m.platform_message_id) for m in stored] == [
        ("/interview sales_manager", str(msg_id)),
        ("/help", str(msg_id)),
    ]
    # Each user's retry is still answered from their own stored reply.
    assert await wechat.say("o_mira", "/help", msg_id=msg_id) == theirs
    assert len(await inbound(runtime)) == 2


# --- late replies through the customer-service API ----------------------------------------------------


async def test_a_message_is_stored_before_success_is_answered(
    runtime: Runtime, start_wechat: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WeChat never retries a message answered "success": it must be stored by then, however long
    storing takes (a busy database) and however short the reply timeout."""
    wechat = start_wechat(reply_timeout=0.05)
    receive = runtime.conversations._receive

    async def slow_receive(incoming: Any, **options: Any) -> Any:
        await asyncio.sleep(0.3)
        return await receive(incoming, **options)

    monkeypatch.setattr(runtime.conversations, "_receive", slow_receive)
    msg_id = next(_msg_ids)
    response = await wechat.post(
        payload("text", sender="o_nia", content="/interview sales_manager", msg_id=msg_id)
    )
    assert response.status_code == 200 and response.text == "success"
    (stored,) = await inbound(runtime)  # at the moment WeChat hears "success"
    assert stored.text == "/interview sales_manager" and stored.platform_message_id == str(msg_id)
    await wechat.channel.drain()
    (sent,) = wechat.api.sent()
    assert sent["touser"] == "o_nia" and "Welcome to the interview" in sent["text"]["content"]


async def test_no_secret_reaches_a_log_line_or_the_database(
    runtime: Runtime,
    start_wechat: Factory,
    monkeypatch: pytest.MonkeyPatch,
    app_logs: pytest.LogCaptureFixture,
) -> None:
    """requests names the URL in its errors, and WeChat's URLs carry the AppSecret (token request)
    or the access token (every other call): none of it may reach a log line or a stored error."""
    wechat = start_wechat(reply_timeout=0.05)
    handle = runtime.conversations.handle

    async def slow_handle(incoming: Any) -> Any:
        await asyncio.sleep(0.3)
        return await handle(incoming)

    monkeypatch.setattr(runtime.conversations, "handle", slow_handle)
    monkeypatch.setattr("channels.wechat.LATE_RETRY_DELAYS", (0.01,))
    wechat.api.sends_unreachable = True  # the token is fetched, the late reply cannot be sent
    assert await wechat.say("o_olga", "/interview sales_manager", msg_id=next(_msg_ids)) == ""
    await wechat.channel.drain()
    queued = await outbox_row(runtime, lambda row: row.attempts > 0 and row.last_error is not None)
    assert "not reachable" in (queued.last_error or "")  # kept, logged and stored without the token
    errors = []
    for unreachable in ("sends", "all"):
        if unreachable == "all":  # the token request itself fails: its URL carries the AppSecret
            wechat.api.unreachable = True
            wechat.channel.client.session.delete(f"{APP_ID}_access_token")
        with pytest.raises(DeliveryError) as refused:
            await wechat.channel.send(OutgoingMessage("o_olga", "hello"))
        errors.append(str(refused.value))
    wechat.api.unreachable = wechat.api.sends_unreachable = False
    wechat.api.custom_send_errcode = 40003  # invalid openid
    with pytest.raises(DeliveryError, match="40003"):
        await wechat.channel.send(OutgoingMessage("o_olga", "hello"))
    assert "ACCESS_TOKEN_1" in str([c.query for c in wechat.api.calls])  # the token was in the URLs
    assert all("not reachable" in error for error in errors)
    stored = await database_text(runtime)
    for secret in (SECRETS["WECHAT_APP_SECRET"], "ACCESS_TOKEN_1", TOKEN, AES_KEY):
        assert secret not in app_logs.text, secret
        assert not any(secret in error for error in errors), secret
        assert secret not in stored, secret
    assert "o_olga" not in app_logs.text  # nor the user's openid


async def test_a_slow_reply_goes_out_through_the_customer_service_api_once(
    runtime: Runtime, start_wechat: Factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    wechat = start_wechat(reply_timeout=0.05)
    handle = runtime.conversations.handle
    calls = 0

    async def slow_handle(incoming: Any) -> Any:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.5)
        return await handle(incoming)

    monkeypatch.setattr(runtime.conversations, "handle", slow_handle)
    msg_id = next(_msg_ids)
    assert await wechat.say("o_hana", "/interview sales_manager", msg_id=msg_id, safe=True) == ""
    # WeChat's retry while the bot still works: no second processing, no second delivery.
    assert await wechat.say("o_hana", "/interview sales_manager", msg_id=msg_id, safe=True) == ""
    await wechat.channel.drain()
    assert calls == 1
    (sent,) = wechat.api.sent()
    assert sent["touser"] == "o_hana" and sent["msgtype"] == "text"
    assert "Welcome to the interview for Sales Manager" in sent["text"]["content"]
    assert "» Yes (/yes) / No (/no)" in sent["text"]["content"]
    # A retry after the late delivery is not answered a second time.
    assert await wechat.say("o_hana", "/interview sales_manager", msg_id=msg_id) == ""
    assert len(wechat.api.sent()) == 1
    assert len(await inbound(runtime)) == 1
    # The access token was fetched once and is shared through the token file.
    assert [c.path for c in wechat.api.calls].count("/cgi-bin/token") == 1
    assert FileTokenStorage(tmp_path / "wechat-token.json").get(f"{APP_ID}_access_token") == "ACCESS_TOKEN_1"


async def test_a_late_reply_that_cannot_be_delivered_waits_in_the_outbox(
    runtime: Runtime, start_wechat: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    wechat = start_wechat(reply_timeout=0.05)
    handle = runtime.conversations.handle

    async def slow_handle(incoming: Any) -> Any:
        await asyncio.sleep(0.3)
        return await handle(incoming)

    monkeypatch.setattr(runtime.conversations, "handle", slow_handle)
    monkeypatch.setattr("channels.wechat.LATE_RETRY_DELAYS", (0.01,))
    wechat.api.unreachable = True
    assert await wechat.say("o_kai", "/interview sales_manager", msg_id=next(_msg_ids)) == ""
    await wechat.channel.drain()
    assert wechat.api.sent() == []
    # The reply waits in the outbox, with its buttons; its transcript row is not delivered yet.
    queued = await outbox_row(runtime, lambda row: row.state == "scheduled" and row.attempts > 0)
    (reply,) = [m for m in await rows(runtime, Message) if m.direction == "out"]
    assert queued.kind == "reply" and queued.message_id == reply.id and not reply.delivered
    assert "Welcome to the interview for Sales Manager" in queued.payload["text"]
    assert {b["payload"] for b in queued.payload["buttons"]} == {"/yes", "/no"}
    assert queued.recipient == "o_kai" and queued.ordering_key == f"conversation:{reply.identity_id}"
    assert "WeChat API not reachable" in (queued.last_error or "")  # its first attempt, at once
    # WeChat is reachable again: at its next attempt (the clock moved to it) the outbox delivers it.
    wechat.api.unreachable = False
    shift = queued.not_before - utcnow()
    runtime.outbox.clock = lambda: utcnow() + shift
    runtime.outbox.notify()
    done = await outbox_row(runtime, lambda row: row.state == "sent")
    (sent,) = wechat.api.sent()
    assert sent["touser"] == "o_kai" and "Welcome to the interview" in sent["text"]["content"]
    assert "» Yes (/yes) / No (/no)" in sent["text"]["content"]
    assert done.attempts == 2 and (await runtime.outbox.deliver_due()).claimed == 0
    (delivered,) = [m for m in await rows(runtime, Message) if m.direction == "out"]
    assert delivered.delivered
    # The candidate's next message (answered passively now) does not hand it over a second time.
    monkeypatch.setattr(runtime.conversations, "handle", handle)
    assert "Welcome to the interview for Sales Manager" not in await wechat.say("o_kai", "/no")
    assert len(wechat.api.sent()) == 1


async def outbox_row(runtime: Runtime, ready: Callable[[OutboxRow], bool]) -> OutboxRow:
    """The only outbox row, once the background delivery loop has brought it to ``ready``."""
    for _ in range(3000):  # tiny waits
        found = await rows(runtime, OutboxRow)
        if found and ready(found[0]):
            return found[0]
        await asyncio.sleep(0.01)
    raise AssertionError(f"the outbox row never got ready: {found}")


# --- outbound (the outbox's push channel) -------------------------------------------------------------


def outbound_channel(settings: Settings, **options: Any) -> tuple[WeChatChannel, FakeWeChatAPI]:
    settings.channels = ChannelSettings(
        enabled=["wechat"], wechat=settings.channels.section("wechat") | options
    )
    channel = WeChatChannel(None, settings)  # type: ignore[arg-type]  # send() needs no conversations
    return channel, with_fake_api(channel)


async def test_send_uses_customer_service_then_template_outside_48_hours(wechat_settings: Settings) -> None:
    channel, api = outbound_channel(
        wechat_settings, template_id="TPL_1", template_url="https://jobs.test/chat"
    )
    assert isinstance(channel, PushChannel)
    message = OutgoingMessage(
        "o_ivy", "HR answered: the range is 20-30k.", [OutgoingButton("Resume", "/resume")]
    )
    await channel.send(message)
    assert api.sent()[0]["text"]["content"] == "HR answered: the range is 20-30k.\n» Resume (/resume)"

    api.custom_send_errcode = 45015
    await channel.send(message)
    (template,) = api.sent("/cgi-bin/message/template/send")
    assert template["touser"] == "o_ivy" and template["template_id"] == "TPL_1"
    assert template["data"] == {"content": {"value": "HR answered: the range is 20-30k.\n» Resume (/resume)"}}
    assert template["url"] == "https://jobs.test/chat"
    assert api.unexpected == []


async def test_send_raises_delivery_error_instead_of_losing_a_message(wechat_settings: Settings) -> None:
    channel, api = outbound_channel(wechat_settings)
    api.custom_send_errcode = 45015
    with pytest.raises(DeliveryError, match="template_id"):
        await channel.send(OutgoingMessage("o_jon", "hello"))
    api.custom_send_errcode = 40003
    with pytest.raises(DeliveryError, match="40003"):
        await channel.send(OutgoingMessage("o_jon", "hello"))
    api.unreachable = True
    with pytest.raises(DeliveryError, match="not reachable") as unreachable:
        await channel.send(OutgoingMessage("o_jon", "hello"))
    assert "test-app-secret" not in str(unreachable.value) and unreachable.value.__cause__ is None
    assert api.sent("/cgi-bin/message/template/send") == []


# --- configuration and rendering ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WECHAT_TOKEN": None}, r"\$WECHAT_TOKEN is not set"),
        ({"WECHAT_APP_SECRET": None}, r"\$WECHAT_APP_SECRET is not set"),
        ({"WECHAT_ENCODING_AES_KEY": "tooshort"}, r"\$WECHAT_ENCODING_AES_KEY is invalid"),
        ({"WECHAT_TOKEN": "has space"}, r"\$WECHAT_TOKEN is invalid"),
    ],
)
def test_missing_or_invalid_secrets_name_the_variable(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, env: dict[str, str | None], expected: str
) -> None:
    for name, value in (SECRETS | env).items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=expected):
        WeChatChannel(None, settings)  # type: ignore[arg-type]


def test_invalid_option_names_the_key(settings: Settings, wechat_env: None) -> None:
    settings.channels = ChannelSettings(enabled=["wechat"], wechat={"reply_timeout": 6})
    with pytest.raises(ConfigError, match=r"channels\.wechat\.reply_timeout"):
        WeChatChannel(None, settings)  # type: ignore[arg-type]


def test_several_replies_become_one_text_with_typed_options() -> None:
    replies = [
        OutgoingMessage("o", "Open roles:", [OutgoingButton("Sales Manager", "/interview sales_manager")]),
        OutgoingMessage(
            "o", "Shall we begin?", [OutgoingButton("同意", "/yes"), OutgoingButton("不同意", "/no")]
        ),
    ]
    assert render(replies) == (
        "Open roles:\n» Sales Manager (/interview sales_manager)\n\n"
        "Shall we begin?\n» 同意 (/yes) / 不同意 (/no)"
    )


def test_token_storage_is_shared_and_expires_early(tmp_path: Path) -> None:
    one, two = FileTokenStorage(tmp_path / "t.json"), FileTokenStorage(tmp_path / "t.json")
    one.set("wx_access_token", "TOKEN_A", 7200)
    assert two.get("wx_access_token") == "TOKEN_A"
    one.set("wx_short", "TOKEN_B", 200)  # expires within the safety margin: refetched at once
    time.sleep(1.1)
    assert two.get("wx_short") is None
    two.delete("wx_access_token")
    assert one.get("wx_access_token", "gone") == "gone"
    assert oct((tmp_path / "t.json").stat().st_mode & 0o777) == "0o600"


# --- the journey ---------------------------------------------------------------------------------------


async def test_full_interview_in_chinese_over_wechat_safe_mode(runtime: Runtime, wechat: WeChat) -> None:
    """Invited by QR code, consent, every question answered, wrap-up reached: all encrypted."""
    flow = sample_flow("rd_engineer")
    token = await invite(runtime, "rd_engineer")
    scanned = payload("event", sender="o_candidate", event="subscribe", event_key=f"qrscene_{token}")
    response = await wechat.post(scanned, safe=True)
    assert response.status_code == 200
    switched = await wechat.answer("o_candidate", "/lang zh", safe=True)
    assert "中文" in switched
    first = await wechat.answer("o_candidate", "同意", safe=True)
    assert flow.questions[0].text["zh"] in first
    reply = ""
    for answer in strong_answers(flow, "zh"):
        reply = await wechat.answer("o_candidate", answer, safe=True)
    assert flow.closing["zh"] in reply
    assert len(await answers(runtime)) == len(flow.questions)
    (interview,) = await interviews(runtime)
    assert interview.state == "done" and interview.role == "rd_engineer" and interview.invitation_id
    assert len(await inbound(runtime)) == 3 + len(flow.questions)  # each message stored once
