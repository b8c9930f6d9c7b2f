"""WeChat Official Account (公众号) channel, through wechatpy.

``GET /wechat`` answers WeChat's URL verification; ``POST /wechat`` takes messages and events in plain
and AES safe mode (``encrypt_type=aes``). Every request must carry a valid signature (compared in
constant time) and a timestamp within ``max_clock_skew`` seconds; bodies are capped and parsed with
defusedxml, which refuses any DTD, so entity-expansion and external-entity payloads are never expanded.

WeChat waits 5 seconds for a passive reply and retries three times. A message is stored before
anything is answered (WeChat never retries after "success"); the bot's replies are returned
passively when the conversation answers within ``reply_timeout`` seconds; otherwise the request is
answered "success" and the replies go out through the customer-service message API when ready.
The platform's message id (MsgId; CreateTime, Event and EventKey for events) is the
`IncomingMessage.message_id`, which the store scopes by sender, so a retry is stored once and
answered from the stored reply, and another user's message with the same MsgId is their own.

Logs name messages by their MsgId, never by the user's openid or text; errors name WeChat's error
code, never a URL (the access-token request carries the AppSecret, every other call the token).

Secrets come from the environment (``WECHAT_TOKEN``, ``WECHAT_ENCODING_AES_KEY``, ``WECHAT_APP_ID``,
``WECHAT_APP_SECRET``); the other options from ``channels.wechat`` in config.yml (`WeChatOptions`).
The access token is kept by wechatpy in `FileTokenStorage`, a JSON file under ``cache_dir`` shared,
under a file lock, by every process on the machine.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from xml.etree.ElementTree import ParseError

import requests
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as parse_untrusted_xml
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from filelock import FileLock
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from wechatpy import WeChatClient
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import WeChatClientException
from wechatpy.replies import TextReply
from wechatpy.session import SessionStorage

from bot.conversations import Conversations
from bot.messages import AudioInput, DeliveryError, IncomingMessage, OutgoingMessage
from bot.secrets import redact
from bot.settings import ConfigError, Settings
from channels.voice import VoiceService, supervised_voice, voice_service

log = logging.getLogger(__name__)

WECHAT_API = "https://api.weixin.qq.com/cgi-bin/"
OUTSIDE_SERVICE_WINDOW = 45015
"""errcode of a customer-service message to a user silent for more than 48 hours."""
LATE_RETRY_DELAYS = (2.0, 10.0)
"""Seconds between the attempts to deliver a late reply through the customer-service API."""
LATE_MEMORY = 120.0
"""Seconds a message answered late is remembered, so a retry of it is not answered a second time."""
TOKEN_MARGIN = 300
"""An access token is dropped from the shared storage this many seconds before WeChat expires it."""
SUCCESS = "success"
"""The passive reply that tells WeChat "no reply now" and stops its retries."""

UNSUPPORTED_REPLY = (
    "Sorry, I can only read text and voice messages here. Please type your answer or send a voice message.\n"
    "抱歉，我只能阅读文字和语音消息，请直接输入文字回答或发语音。"
)
VOICE_REPLY = (
    "Sorry, I couldn't fetch that voice message. Please send it again, or type your answer.\n"
    "抱歉，没能获取这条语音，请重新发送，或输入文字回答。"
)


class WeChatSecrets(BaseSettings):
    """The Official Account's credentials, from the environment only."""

    model_config = SettingsConfigDict(env_prefix="WECHAT_", extra="ignore")

    token: SecretStr = Field(min_length=3, max_length=32)
    """The server-configuration Token (3-32 letters or digits) that signs every request."""
    encoding_aes_key: SecretStr | None = None
    """EncodingAESKey (43 characters): needed for safe and compatible mode."""
    app_id: str = Field(min_length=1, max_length=64)
    app_secret: SecretStr = Field(min_length=1)

    @field_validator("token")
    @classmethod
    def _token(cls, token: SecretStr) -> SecretStr:
        if not token.get_secret_value().isascii() or not token.get_secret_value().isalnum():
            raise ValueError(
                "use the Token set in the Official Account's server configuration (letters, digits)"
            )
        return token

    @field_validator("encoding_aes_key", mode="before")
    @classmethod
    def _aes_key(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        key = str(value.get_secret_value() if isinstance(value, SecretStr) else value)
        try:
            decoded = base64.b64decode(key + "=", validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        if len(key) != 43 or len(decoded) != 32:
            raise ValueError("EncodingAESKey is 43 characters of base64, as the Official Account shows it")
        return key

    def aes_key(self) -> str | None:
        return self.encoding_aes_key.get_secret_value() if self.encoding_aes_key else None


class WeChatOptions(BaseModel):
    """``channels.wechat`` in config.yml: everything but secrets."""

    model_config = ConfigDict(extra="forbid")

    reply_timeout: float = Field(4.0, gt=0, le=4.5)
    """Seconds to wait for the bot before answering "success" and replying through the API instead."""
    api_base_url: str = Field(WECHAT_API, pattern=r"^https?://.+/$")
    """WeChat's API (a proxy, or a fake in tests); ends with a slash."""
    api_timeout: float = Field(10.0, gt=0)
    template_id: str | None = None
    """Template message used when a message falls outside the 48-hour customer-service window."""
    template_field: str = "content"
    """The template's field that carries the message text (``{{content.DATA}}``)."""
    template_url: str | None = None
    """Where tapping a template message leads (e.g. the web chat); none by default."""
    max_clock_skew: int = Field(300, ge=1)
    """Requests whose timestamp is further than this many seconds from now are refused (replays)."""
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=1024 * 1024)
    token_cache: Path | None = None
    """File that shares the access token between processes; a relative path is inside ``cache_dir``."""
    menu: dict[str, str] = {"practice": "/practice", "start": "/start", "help": "/help"}
    """Custom-menu CLICK keys and the command each sends."""
    unsupported_reply: str = UNSUPPORTED_REPLY
    voice_reply: str = VOICE_REPLY
    """Sent when a voice message's recording cannot be fetched from WeChat."""


class FileTokenStorage(SessionStorage):  # type: ignore[misc]  # wechatpy is untyped
    """wechatpy session storage in one JSON file, locked while read or written, so every process on
    the machine uses (and refreshes) the same access token. Entries expire ``TOKEN_MARGIN`` early."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(path) + ".lock", timeout=10)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError:
            log.warning("%s is not valid JSON; fetching a new WeChat access token", self.path)
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            json.dump(data, handle)
        temporary.replace(self.path)

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            entry = self._read().get(key)
        if not isinstance(entry, dict):
            return default
        expires_at = entry.get("expires_at")
        if expires_at is not None and expires_at <= time.time():
            return default
        return entry.get("value", default)

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        if value is None:
            return
        now = time.time()
        with self._lock:
            data = {
                k: v
                for k, v in self._read().items()
                if isinstance(v, dict) and (v.get("expires_at") is None or v["expires_at"] > now)
            }
            expires_at = now + max(int(ttl) - TOKEN_MARGIN, 1) if ttl else None
            data[key] = {"value": value, "expires_at": expires_at}
            self._write(data)

    def delete(self, key: str) -> None:
        with self._lock:
            data = self._read()
            if data.pop(key, None) is not None:
                self._write(data)


class _TimeoutSession(requests.Session):
    """wechatpy fetches the access token without a timeout; every request here has one."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


class _Client(WeChatClient):  # type: ignore[misc]  # wechatpy is untyped
    """wechatpy's client on an injected base URL and HTTP session."""

    def __init__(
        self, secrets: WeChatSecrets, *, base_url: str, storage: SessionStorage, http: requests.Session
    ) -> None:
        super().__init__(secrets.app_id, secrets.app_secret.get_secret_value(), session=storage)
        self.API_BASE_URL = base_url
        self._http = http

    def fetch_access_token(self) -> Any:
        return self._fetch_access_token(
            url=f"{self.API_BASE_URL}token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


class RejectError(Exception):
    """A request that is not a well-formed WeChat message; answered with its status and reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def signature(*parts: str) -> str:
    """WeChat's request signature: SHA-1 over the sorted, concatenated parts."""
    # SHA-1 is the platform's protocol, not our choice.
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8"), usedforsecurity=False).hexdigest()


def signature_matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8"))


def parse_xml(body: bytes | str) -> dict[str, str]:
    """The fields of one WeChat XML message (``<xml><Field>value</Field>...</xml>``).

    Raises:
        RejectError: not well-formed XML, not a WeChat message, or with a DTD (entity declarations
            are how billion-laughs and external-entity attacks work; WeChat never sends one).
    """
    try:
        root = parse_untrusted_xml(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise RejectError(400, f"XML with a DTD or entities is refused ({type(exc).__name__})") from exc
    except ParseError as exc:
        raise RejectError(400, f"malformed XML: {exc}") from exc
    if root.tag != "xml":
        raise RejectError(400, f"expected an <xml> message, got <{root.tag}>")
    return {child.tag: (child.text or "").strip() for child in root}


def render(messages: list[OutgoingMessage]) -> str:
    """The bot's replies as one WeChat text: messages apart by blank lines, buttons as options to type."""
    parts = []
    for message in messages:
        text = message.text
        if message.buttons:
            options = " / ".join(
                button.payload
                if button.title.strip() == button.payload
                else f"{button.title} ({button.payload})"
                for button in message.buttons
            )
            text = f"{text}\n» {options}"
        parts.append(text)
    return "\n\n".join(parts)


@dataclass(frozen=True)
class Inbound:
    """One WeChat message: the text for the conversation, or a reply that needs no conversation."""

    sender: str
    account: str
    message_id: str
    text: str | None = None
    reply: str = ""
    kind: str = "text"
    media_id: str = ""
    """A voice message's recording, fetched through the media API (``media/get``, AMR)."""
    recognition: str = ""
    """WeChat's own transcript of a voice message (when the account has it on): kept as a second opinion."""


@dataclass
class _Pending:
    task: asyncio.Task[list[OutgoingMessage]]
    late: bool = False
    """The request gave up waiting: the replies go out through the customer-service API."""


class WeChatChannel:
    """The WeChat Official Account channel; a `PushChannel` (``send``) for the bot's outbox."""

    name = "wechat"
    supervised = staticmethod(supervised_voice)
    """The speech transcription process a supervisor of several workers runs for them."""

    def __init__(
        self, conversations: Conversations, settings: Settings, *, http: requests.Session | None = None
    ) -> None:
        self.conversations = conversations
        self.settings = settings
        self.secrets = _load_secrets()
        try:
            self.options = WeChatOptions.model_validate(settings.channels.section("wechat"))
        except ValidationError as exc:
            error = exc.errors()[0]
            key = ".".join(str(part) for part in error["loc"])
            raise ConfigError(
                f"invalid setting channels.wechat.{key} in config.yml: {error['msg']} "
                f"(got {error.get('input')!r})"
            ) from exc
        # A relative token_cache is a file in cache_dir.
        token_cache = settings.cache_dir / (self.options.token_cache or "wechat-access-token.json")
        self.http = http or _TimeoutSession(self.options.api_timeout)
        """The HTTP session of every WeChat API call; tests mount a fake transport on it."""
        self.client = _Client(
            self.secrets,
            base_url=self.options.api_base_url,
            storage=FileTokenStorage(token_cache),
            http=self.http,
        )
        aes_key = self.secrets.aes_key()
        self.crypto = (
            WeChatCrypto(self.secrets.token.get_secret_value(), aes_key, self.secrets.app_id)
            if aes_key
            else None
        )
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._answered_late: dict[tuple[str, str], float] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.voice: VoiceService = voice_service(conversations, settings)
        self._latest_voice: dict[str, str] = {}
        """Each sender's latest voice message: an earlier one still waiting for more is answered with it."""
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        """How the channel waits for a candidate's next voice note (tests pass a fake clock's)."""

    # --- HTTP -----------------------------------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter(tags=["wechat channel"])
        errors: dict[int | str, dict[str, Any]] = {
            400: {"description": "malformed XML, or XML with a DTD"},
            403: {"description": "bad signature or stale timestamp"},
            413: {"description": "body larger than channels.wechat.max_body_bytes"},
        }

        @router.get("/wechat", response_class=PlainTextResponse, responses=errors)
        async def verify(
            signature: Annotated[str, Query()] = "",
            timestamp: Annotated[str, Query()] = "",
            nonce: Annotated[str, Query()] = "",
            echostr: Annotated[str, Query(max_length=256)] = "",
        ) -> Response:
            """WeChat's server-URL verification: echo ``echostr`` when the signature is good."""
            try:
                self._verify(signature, timestamp, nonce)
            except RejectError as exc:
                return _error(exc)
            return PlainTextResponse(echostr)

        @router.post("/wechat", response_class=PlainTextResponse, responses=errors)
        async def receive(
            request: Request,
            signature: Annotated[str, Query()] = "",
            timestamp: Annotated[str, Query()] = "",
            nonce: Annotated[str, Query()] = "",
            encrypt_type: Annotated[str, Query()] = "",
            msg_signature: Annotated[str, Query()] = "",
        ) -> Response:
            """A message or event from WeChat; the answer is the passive reply (XML) or "success"."""
            try:
                body = await _read_capped(request, self.options.max_body_bytes)
                self._verify(signature, timestamp, nonce)
                encrypted = encrypt_type.lower() == "aes"
                fields = self._decode(body, timestamp, nonce, msg_signature) if encrypted else parse_xml(body)
                inbound = self._inbound(fields)
            except RejectError as exc:
                return _error(exc)
            if not self.conversations.ready:
                return JSONResponse(
                    status_code=503, content={"error": "starting; try again in a few seconds"}
                )
            try:
                text = await self._answer(inbound)
            except Exception:  # WeChat retries a 5xx; the stored message is processed then
                log.exception("wechat: message %s failed", inbound.message_id)
                return JSONResponse(status_code=500, content={"error": "could not process the message"})
            if not text:
                return PlainTextResponse(SUCCESS)
            reply = TextReply(source=inbound.account, target=inbound.sender, content=_cdata_safe(text))
            xml = reply.render()
            if encrypted and self.crypto is not None:
                xml = self.crypto.encrypt_message(xml, nonce, timestamp)
            return Response(content=xml, media_type="application/xml")

        return router

    def _verify(self, given: str, timestamp: str, nonce: str) -> None:
        if not given or not timestamp or not nonce or len(nonce) > 64 or len(timestamp) > 16:
            raise RejectError(403, "missing signature, timestamp or nonce")
        try:
            sent = int(timestamp)
        except ValueError:
            raise RejectError(403, "the timestamp is not a number") from None
        if abs(time.time() - sent) > self.options.max_clock_skew:
            raise RejectError(403, "stale timestamp: check the server clock (NTP)")
        expected = signature(self.secrets.token.get_secret_value(), timestamp, nonce)
        if not signature_matches(expected, given):
            raise RejectError(403, "bad signature")

    def _decode(self, body: bytes, timestamp: str, nonce: str, msg_signature: str) -> dict[str, str]:
        """The fields of a safe-mode message: check ``msg_signature`` over Encrypt, then decrypt."""
        if self.crypto is None:
            log.error("wechat: a safe-mode message arrived but WECHAT_ENCODING_AES_KEY is not set")
            raise RejectError(403, "safe mode is not configured (WECHAT_ENCODING_AES_KEY)")
        encrypted = parse_xml(body).get("Encrypt", "")
        if not encrypted:
            raise RejectError(400, "safe-mode message without <Encrypt>")
        expected = signature(self.secrets.token.get_secret_value(), timestamp, nonce, encrypted)
        if not msg_signature or not signature_matches(expected, msg_signature):
            raise RejectError(403, "bad msg_signature")
        try:
            plain = PrpCrypto(self.crypto.key).decrypt(encrypted, self.secrets.app_id)
        except Exception as exc:  # wechatpy raises anything from ValueError to its own AppId error
            raise RejectError(400, f"could not decrypt the message ({type(exc).__name__})") from exc
        return parse_xml(str(plain).encode("utf-8"))

    def _inbound(self, fields: dict[str, str]) -> Inbound:
        sender = fields.get("FromUserName", "")
        account = fields.get("ToUserName", "")
        kind = fields.get("MsgType", "").lower()
        created = fields.get("CreateTime", "")
        if not sender or not account or not kind or not created.isdigit():
            raise RejectError(400, "a WeChat message needs ToUserName, FromUserName, CreateTime and MsgType")
        if len(sender) > 128:
            raise RejectError(400, "FromUserName is too long")
        message_id = fields.get("MsgId") or created
        if kind == "text":
            return Inbound(sender, account, message_id, text=fields.get("Content", ""))
        if kind == "voice":
            media_id = fields.get("MediaId", "")
            if not media_id or len(media_id) > 256:
                return Inbound(sender, account, message_id, reply=self.options.voice_reply, kind="voice")
            recognition = fields.get("Recognition", "")[:4000]
            return Inbound(
                sender, account, message_id, text="", kind="voice", media_id=media_id, recognition=recognition
            )
        if kind != "event":
            return Inbound(sender, account, message_id, reply=self.options.unsupported_reply, kind=kind)
        event = fields.get("Event", "").lower()
        key = fields.get("EventKey", "").strip()
        # Events have no MsgId: the second identifies one of the sender's (the store scopes ids by
        # sender), the event and key tell apart two in the same second (a subscribe and its SCAN, two
        # menu clicks). A long key, or one carrying an invitation token, is stored as a digest.
        key_id = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16] if key else ""
        message_id = f"{created}:{event}:{key_id}"
        command: str | None = None
        if event in {"subscribe", "scan"}:
            # A QR code made for an invitation carries its token as the scene: "qrscene_TOKEN" when
            # the scan also subscribes, plain "TOKEN" when the candidate already follows the account.
            scene = key.removeprefix("qrscene_") if event == "subscribe" else key
            if event == "subscribe" and not key.startswith("qrscene_"):
                scene = ""
            token = scene.split()[0][:128] if scene.split() else ""
            command = f"/start {token}" if token else "/start"
        elif event == "click":
            command = self.options.menu.get(key) or self.options.menu.get(key.lower())
            if command is None:
                log.warning("wechat: menu key %r is not in channels.wechat.menu", key)
        # unsubscribe, VIEW, LOCATION, TEMPLATESENDJOBFINISH ...: nothing to say
        if command is None:
            return Inbound(sender, account, message_id, kind=f"event:{event}")
        return Inbound(sender, account, message_id, text=command, kind=f"event:{event}")

    # --- replies --------------------------------------------------------------------------------

    async def _answer(self, inbound: Inbound) -> str:
        """The passive reply, or "" when the replies go out later (or there are none)."""
        if inbound.text is None:
            return inbound.reply
        key = (inbound.sender, inbound.message_id)
        if not inbound.media_id:
            # A typed message ends a run of voice notes: the run is processed before it, with it.
            self._latest_voice.pop(inbound.sender, None)
        now = time.monotonic()
        if self._answered_late.get(key, 0.0) > now:
            return ""  # a retry of a message whose reply went (or goes) through the API
        pending = self._pending.get(key)
        if pending is None:
            if inbound.media_id:
                incoming = await self._fetch_voice(inbound)
            else:
                incoming = IncomingMessage(
                    channel=self.name,
                    sender_id=inbound.sender,
                    text=inbound.text,
                    message_id=inbound.message_id,
                    metadata={"wechat_type": inbound.kind},
                )
            # Stored before WeChat can hear "success", whatever the reply timeout: WeChat does not
            # retry after it. A failure here answers 500, and WeChat's retry stores it then.
            await self.conversations.receive(incoming)
            pending = self._pending.get(key)  # a retry may have got this far meanwhile
            if pending is None:
                work = (
                    self._voice_answer(inbound, incoming)
                    if inbound.media_id
                    else self.conversations.handle(incoming)
                )
                pending = _Pending(asyncio.create_task(work))
                self._pending[key] = pending
        if pending.late:
            return ""
        try:
            replies = await asyncio.wait_for(asyncio.shield(pending.task), self.options.reply_timeout)
        except TimeoutError:
            if not pending.late:
                pending.late = True
                self._spawn(self._deliver_late(key, pending))
            return ""
        except BaseException:
            if self._pending.get(key) is pending and pending.task.done():
                del self._pending[key]
            raise
        if self._pending.get(key) is pending:
            del self._pending[key]
        self._speak(inbound.sender, replies)
        return render(replies)

    async def _fetch_voice(self, inbound: Inbound) -> IncomingMessage:
        """A voice message with its recording, fetched from WeChat's media API (a recording that
        cannot be fetched is kept as a problem: the candidate is asked to send it again, since
        WeChat would not resend it)."""
        problem: str | None = None
        try:
            response = await asyncio.to_thread(self.client.media.download, inbound.media_id)
            data = bytes(getattr(response, "content", b"") or b"")
            if isinstance(response, dict):
                raise WeChatClientException(-1, "media/get answered JSON, not a recording")
        except (WeChatClientException, requests.RequestException) as exc:
            # the error's text may carry the access token in a URL: its class only
            log.warning("wechat: a voice message was not fetched (%s)", type(exc).__name__)
            data, problem = b"", "failed"
        if len(data) > self.voice.max_bytes:
            problem = "too_large"
        return IncomingMessage(
            channel=self.name,
            sender_id=inbound.sender,
            text="",
            message_id=inbound.message_id,
            metadata={"wechat_type": "voice"},
            audio=AudioInput(
                b"" if problem else data,
                "wechat_voice",
                problem=problem,
                second_opinion=inbound.recognition or None,
            ),
        )

    async def _voice_answer(self, inbound: Inbound, incoming: IncomingMessage) -> list[OutgoingMessage]:
        """Process a stored voice message; on a merging channel (``voice.merge_channels``), first
        wait ``voice.merge_gap_seconds`` for the candidate's next voice note: the last of a run
        answers for all of them (the conversation merges their transcripts), the earlier ones with
        nothing."""
        voice = self.settings.voice
        if self.name in voice.merge_channels and voice.merge_gap_seconds > 0:
            self._latest_voice[inbound.sender] = inbound.message_id
            await self.sleep(voice.merge_gap_seconds)
            if self._latest_voice.get(inbound.sender) != inbound.message_id:
                return []  # a later voice note carries this one
            del self._latest_voice[inbound.sender]
        return await self.conversations.handle(incoming)

    def _speak(self, sender: str, replies: list[OutgoingMessage]) -> None:
        """Questions the candidate wants read aloud go out as voice messages after the text."""
        for reply in replies:
            if reply.read_aloud is not None:
                self._spawn(self._send_spoken(sender, reply))

    async def _send_spoken(self, sender: str, reply: OutgoingMessage) -> None:
        spoken = await self.voice.spoken(reply, "mp3")
        if spoken is None:
            return
        try:
            uploaded = await asyncio.to_thread(
                self.client.media.upload, "voice", ("question.mp3", spoken, "audio/mpeg")
            )
            await asyncio.to_thread(self.client.message.send_voice, sender, uploaded["media_id"])
        except (WeChatClientException, requests.RequestException, KeyError, TypeError) as exc:
            log.info("wechat: a question read aloud was not delivered: %s", exc)

    async def _deliver_late(self, key: tuple[str, str], pending: _Pending) -> None:
        sender, message_id = key
        try:
            replies = await pending.task
        except Exception:
            log.exception("wechat: message %s failed after the passive window", message_id)
            return
        finally:
            self._pending.pop(key, None)
            now = time.monotonic()
            self._answered_late = {k: t for k, t in self._answered_late.items() if t > now}
            self._answered_late[key] = now + LATE_MEMORY
        if not replies:
            return
        self._speak(sender, replies)
        message = OutgoingMessage(recipient_id=sender, text=render(replies))
        for delay in (*LATE_RETRY_DELAYS, None):
            try:
                await self.send(message)
                return
            except DeliveryError as exc:
                if delay is None:
                    # The outbox sends the replies themselves (with their buttons) and marks them delivered.
                    queued = await self.conversations.queue(self.name, sender, replies, key=message_id)
                    log.error(
                        "wechat: the reply to message %s was not delivered: %s (%s)",
                        message_id,
                        exc,
                        "queued in the outbox" if queued else "the conversation is gone",
                    )
                    return
                log.warning(
                    "wechat: late reply to message %s failed (%s); retrying in %.0f s", message_id, exc, delay
                )
                await asyncio.sleep(delay)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait until every late reply has been delivered (or given up on)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # --- outbound -------------------------------------------------------------------------------

    async def send(self, message: OutgoingMessage) -> None:
        """Send through the customer-service API; outside its 48-hour window, as a template message
        when ``channels.wechat.template_id`` is set.

        Raises:
            DeliveryError: WeChat refused the message or could not be reached.
        """
        text = render([message])
        try:
            await asyncio.to_thread(self.client.message.send_text, message.recipient_id, text)
            return
        except WeChatClientException as exc:
            if exc.errcode != OUTSIDE_SERVICE_WINDOW:
                refused = self._describe(exc)
                raise DeliveryError(f"WeChat customer-service message refused: {refused}") from None
            if not self.options.template_id:
                raise DeliveryError(
                    "the candidate has not written for 48 hours, so WeChat refuses customer-service "
                    "messages; set channels.wechat.template_id to send a template message instead"
                ) from None
        except requests.RequestException as exc:
            raise DeliveryError(f"WeChat API not reachable: {self._describe(exc)}") from None
        try:
            await asyncio.to_thread(
                self.client.message.send_template,
                message.recipient_id,
                self.options.template_id,
                {self.options.template_field: {"value": text}},
                url=self.options.template_url,
            )
        except WeChatClientException as exc:
            raise DeliveryError(f"WeChat template message refused: {self._describe(exc)}") from None
        except requests.RequestException as exc:
            raise DeliveryError(f"WeChat API not reachable: {self._describe(exc)}") from None

    def _describe(self, exc: Exception) -> str:
        """What went wrong, fit for a log line or a stored error. The exceptions' own texts are not:
        requests puts the URL in them (with ``secret=`` or ``access_token=``), and the chained
        exception is dropped (``from None``) for the same reason."""
        if isinstance(exc, WeChatClientException):
            if exc.errcode is None:  # an HTTP error status; wechatpy keeps no message for it
                status = getattr(exc.response, "status_code", None)
                return f"HTTP status {status}" if status else "an HTTP error"
            return redact(f"errcode {exc.errcode}: {exc.errmsg}")
        return type(exc).__name__  # ConnectionError, Timeout, ...


def _load_secrets() -> WeChatSecrets:
    try:
        return WeChatSecrets()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "WECHAT_" + str(error["loc"][0]).upper()
        problem = "is not set" if error["type"] == "missing" else f"is invalid: {error['msg']}"
        raise ConfigError(f"the wechat channel needs ${name}: ${name} {problem}") from exc


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RejectError(413, f"body larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RejectError(413, f"body larger than {limit} bytes")
    return bytes(body)


def _cdata_safe(text: str) -> str:
    # wechatpy wraps the content in CDATA without escaping; a literal "]]>" would end it early.
    return text.replace("]]>", "]]]]><![CDATA[>")


def _error(exc: RejectError) -> JSONResponse:
    if exc.status == 403:
        log.warning("wechat: refused a request: %s", exc.reason)
    return JSONResponse(status_code=exc.status, content={"error": exc.reason})
