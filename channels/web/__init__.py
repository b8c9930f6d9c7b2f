"""The candidate web chat: a page at ``GET /chat`` and the endpoint it talks to, ``POST /chat/messages``.

The endpoint speaks the Rasa REST contract (``{"sender", "message", "metadata": {"message_id"}}`` in,
a list of ``{"recipient_id", "text", "buttons"?}`` out) under its own channel name, ``web``, rather
than reusing ``/webhooks/rest/webhook``, because:

- a conversation is keyed by (channel, sender): browser conversations, whose sender is a random UUID
  the page keeps in localStorage, never meet REST integrations that use readable sender names;
- it is stricter: the sender must be a random UUID (it is the conversation's only key, so it must be
  unguessable) and every post carries a ``message_id``;
- the store deduplicates on (channel, sender, message id), so a client cannot replay another
  candidate's id to read that candidate's replies;
- the page works whether or not the ``rest`` channel is enabled.

``GET /chat/progress?sender=UUID`` returns the sender's progress across practice sessions (the JSON of
`bot.progress`), which the page draws as a chart; the sender id is the conversation's unguessable key,
so it is what authorises the read, and a sender the bot has never met simply has no progress.

``GET /chat/events?sender=UUID`` is a stream of server-sent events the page holds open: messages the
bot sends unprompted (HR's answer to a question it passed on) arrive there while the page is open,
whichever process serves the stream (`bot.push`), and are then not repeated with the next reply.

Bodies over `channels.rest.MAX_BODY_BYTES` are refused with 413 before they are read in full, and so
are messages over `channels.rest.MAX_MESSAGE_CHARS`; a well-formed body of the wrong shape gets 422.

``/chat?invite=TOKEN`` opens an invitation (the page sends ``/start TOKEN``); ``?lang=zh`` picks the
page's language (otherwise the browser's). The page's script and style are separate files under
``static/`` so that the Content-Security-Policy allows scripts and styles from this origin only.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import AsyncIterator
from importlib.resources import files
from string import Template
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sse_starlette import EventSourceResponse, ServerSentEvent

from bot.conversations import Conversations
from bot.messages import AudioInput, IncomingMessage, OutgoingMessage
from bot.push import Pushed, PushHub
from bot.settings import ConfigError, Settings
from channels.rest import (
    MAX_MESSAGE_CHARS,
    TOO_LARGE,
    WRONG_SHAPE,
    CappedBodyRoute,
    RestButton,
    RestReply,
    capped_route,
    check_length,
)
from channels.voice import VoiceService, supervised_voice, voice_service
from channels.voice.audio import MEDIA_TYPES

PREFIX = "/chat"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        "media-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # an invitation token is in the page's address
    "X-Frame-Options": "DENY",
}

STATIC_TYPES = {
    "chat.js": "text/javascript; charset=utf-8",
    "chat.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}

_UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class WebSettings(BaseModel):
    """``channels.web`` in config.yml."""

    model_config = ConfigDict(extra="forbid")

    push_interval: float = Field(2.0, gt=0, le=60)
    """Seconds between looks for messages to push to open pages (HR's answers)."""
    ping_seconds: float = Field(15.0, gt=0, le=300)
    """An open page's stream gets a comment this often, so proxies keep it and dead ones are found."""


def _load_settings(section: dict[str, Any]) -> WebSettings:
    try:
        return WebSettings.model_validate(section)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(["channels", "web", *(str(part) for part in error["loc"])])
        raise ConfigError(
            f"invalid setting {key!r} in config.yml: {error['msg']} (got {error.get('input')!r})"
        ) from exc


class WebMetadata(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message_id: str = Field(description="a fresh random id per message; a retried post repeats it")

    @field_validator("message_id")
    @classmethod
    def _message_id(cls, value: str) -> str:
        if not _MESSAGE_ID.fullmatch(value):
            raise ValueError("message_id must be 1-64 letters, digits, '-' or '_' (the page uses a UUID)")
        return value


class WebMessage(BaseModel):
    """One message from the chat page: the REST contract's body, with a random sender and an id."""

    model_config = ConfigDict(extra="ignore")

    sender: str = Field(description="the conversation's key: a random UUID (crypto.randomUUID())")
    message: str = Field(
        json_schema_extra={"maxLength": MAX_MESSAGE_CHARS},
        description=f"the candidate's text; over {MAX_MESSAGE_CHARS} characters is refused with 413",
    )
    metadata: WebMetadata

    @field_validator("sender")
    @classmethod
    def _random_sender(cls, value: str) -> str:
        value = value.strip().lower()
        if not _UUID4.fullmatch(value):
            raise ValueError("sender must be a random (version 4) UUID, as crypto.randomUUID() makes")
        return value


class WebReply(RestReply):
    """A reply to the page: the REST contract's, with the question read aloud when asked for."""

    audio: str | None = Field(
        None, description="URL of the question read aloud (MP3), when the candidate asked for it"
    )


class VoiceReplies(BaseModel):
    """What the page gets for a voice answer: what was heard, then the bot's replies."""

    heard: str | None = Field(None, description="the transcript, shown as the candidate's message")
    problem: str | None = Field(None, description="why the recording could not be used, if it could not")
    replies: list[WebReply]


class _Page:
    """The page's files, read once; the HTML is a template filled per language."""

    def __init__(self, max_chars: int, max_seconds: float = 180) -> None:
        self.max_seconds = max_seconds
        static = files(__name__).joinpath("static")
        self.assets = {name: static.joinpath(name).read_bytes() for name in STATIC_TYPES}
        self.versions = {name: hashlib.sha256(body).hexdigest()[:12] for name, body in self.assets.items()}
        self.template = Template(static.joinpath("chat.html").read_text(encoding="utf-8"))
        self.strings: dict[str, dict[str, str]] = json.loads(
            static.joinpath("strings.json").read_text(encoding="utf-8")
        )
        # A data block, never run; "<" escaped so no text can close the script element.
        self.strings_json = json.dumps(self.strings, ensure_ascii=False).replace("<", "\\u003c")
        self.max_chars = max_chars

    def language(self, asked: str | None, accept_language: str | None) -> str:
        """``?lang=`` first, then the browser's Accept-Language, then English."""
        candidates = [asked or ""]
        if accept_language:
            weighted = []
            for position, part in enumerate(accept_language.split(",")):
                tag, _, params = part.strip().partition(";")
                quality = 1.0
                if params.strip().startswith("q="):
                    try:
                        quality = float(params.strip()[2:])
                    except ValueError:
                        quality = 0.0
                weighted.append((-quality, position, tag))
            candidates += [tag for _, _, tag in sorted(weighted)]
        for tag in candidates:
            primary = tag.strip().lower().split("-")[0]
            if primary in self.strings:
                return primary
        return "en" if "en" in self.strings else next(iter(self.strings))

    def render(self, language: str, base: str) -> str:
        texts = {key: html.escape(value) for key, value in self.strings[language].items()}
        return self.template.substitute(
            texts,
            lang=language,
            base=html.escape(base),
            strings=self.strings_json,
            css_version=self.versions["chat.css"],
            icon_version=self.versions["icon.svg"],
            js_version=self.versions["chat.js"],
            max_chars=self.max_chars,
            max_seconds=int(self.max_seconds),
        )


class WebChannel:
    """The candidate chat page and its endpoint (channel ``web``)."""

    name = "web"
    supervised = staticmethod(supervised_voice)
    """The speech transcription process a supervisor of several workers runs for them."""

    def __init__(self, conversations: Conversations, settings: Settings) -> None:
        self.conversations = conversations
        self.settings = settings
        self.config = _load_settings(settings.channels.section(self.name))
        self.page = _Page(MAX_MESSAGE_CHARS, settings.voice.max_seconds)
        self.push = PushHub(conversations.db, self.name, self.config.push_interval)
        self.voice: VoiceService = voice_service(conversations, settings)

    def _reply(self, reply: OutgoingMessage) -> WebReply:
        audio = None
        if reply.read_aloud is not None:
            key = self.voice.speaker.remember(reply.text, reply.read_aloud)
            voice = self.voice.speaker.voice_for(reply.text)
            if key is not None and voice is not None:
                audio = f"{PREFIX}/audio/{voice}/{reply.read_aloud}/{key}.mp3"
        return WebReply(
            recipient_id=reply.recipient_id,
            text=reply.text,
            buttons=[RestButton(title=b.title, payload=b.payload) for b in reply.buttons] or None,
            audio=audio,
        )

    def router(self) -> APIRouter:
        router = APIRouter(prefix=PREFIX, tags=["web channel"], route_class=CappedBodyRoute)
        # Recordings are larger than messages: their route's cap is the voice limit (and the form's
        # few other fields).
        # (included into ``router`` below, so its paths take the prefix from there).
        uploads = APIRouter(route_class=capped_route(self.voice.max_bytes + 64_000))

        @router.get("", include_in_schema=False, response_class=HTMLResponse)
        async def chat_page(request: Request, lang: str | None = None) -> HTMLResponse:
            # ``?invite=TOKEN`` is read by the page's script and never echoed into the page.
            language = self.page.language(lang, request.headers.get("accept-language"))
            base = request.scope.get("root_path", "") + PREFIX
            return HTMLResponse(
                self.page.render(language, base),
                headers={**SECURITY_HEADERS, "Cache-Control": "no-store", "Content-Language": language},
            )

        @router.get("/static/{name}", include_in_schema=False)
        async def chat_static(name: str) -> Response:
            if name not in self.page.assets:
                raise HTTPException(status_code=404, detail=f"no such file: {name}")
            return Response(
                self.page.assets[name],
                media_type=STATIC_TYPES[name],
                headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=3600"},
            )

        @router.get(
            "/progress",
            responses={
                422: {"description": "the sender is not a random (version 4) UUID"},
                503: {"description": "the bot is starting; try again in a few seconds"},
            },
        )
        async def chat_progress(sender: str) -> JSONResponse:
            """The sender's practice progress: competency levels per session, per role (practice
            sessions only; real interviews are never included)."""
            sender = sender.strip().lower()
            if not _UUID4.fullmatch(sender):
                raise HTTPException(
                    status_code=422,
                    detail="sender must be a random (version 4) UUID, as crypto.randomUUID() makes",
                )
            if not self.conversations.ready:
                return JSONResponse(
                    status_code=503,
                    content={"error": "starting; try again in a few seconds"},
                    headers={"Retry-After": "5"},
                )
            progress = await self.conversations.practice_progress(self.name, sender)
            return JSONResponse(
                progress,
                headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
            )

        @router.get(
            "/events",
            response_class=EventSourceResponse,
            responses={
                200: {
                    "description": "server-sent events: ``message`` events whose data is a reply "
                    '(``{"text", "buttons"?}``) and whose id is the message\'s',
                    "content": {"text/event-stream": {}},
                },
                422: {"description": "the sender is not a random (version 4) UUID"},
                503: {"description": "the bot is starting; try again in a few seconds"},
            },
        )
        async def chat_events(request: Request, sender: str) -> Response:
            """Messages the bot sends the candidate unprompted (HR's answers), pushed while the
            page is open. A reconnecting page (``Last-Event-ID``) gets again what it may have missed."""
            sender = sender.strip().lower()
            if not _UUID4.fullmatch(sender):
                raise HTTPException(
                    status_code=422,
                    detail="sender must be a random (version 4) UUID, as crypto.randomUUID() makes",
                )
            if not self.conversations.ready:
                return JSONResponse(
                    status_code=503,
                    content={"error": "starting; try again in a few seconds"},
                    headers={"Retry-After": "5"},
                )
            last = request.headers.get("last-event-id", "")
            return EventSourceResponse(
                self._events(sender, int(last) if last.isdigit() else None),
                ping=self.config.ping_seconds,
                send_timeout=30,  # a page that stopped reading is dropped; it reconnects
                headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
            )

        @router.get(
            "/audio/{voice}/{version}/{key}.mp3",
            responses={404: {"description": "no such question audio"}},
            response_class=Response,
        )
        async def chat_audio(voice: str, version: int, key: str) -> Response:
            """A question read aloud (MP3), made on first request and cached per flow version."""
            text = self.voice.speaker.cached_text(voice, version, key)
            if text is None:
                raise HTTPException(status_code=404, detail="no such question audio")
            data = await self.voice.spoken(OutgoingMessage("", text, read_aloud=version), "mp3")
            if data is None:
                raise HTTPException(status_code=404, detail="no voice for this question's language")
            return Response(
                data,
                media_type=MEDIA_TYPES["mp3"],
                headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=86400"},
            )

        @uploads.post(
            "/voice",
            response_model=VoiceReplies,
            response_model_exclude_none=True,
            responses={
                413: {"description": "the recording is larger than voice.max_bytes"},
                422: {"description": "missing or invalid sender, message id or recording"},
                503: {"description": "the bot is starting; try again in a few seconds"},
            },
        )
        async def chat_voice(
            sender: Annotated[str, Form(description="the conversation's key: a random UUID")],
            message_id: Annotated[str, Form(description="a fresh random id; a retried post repeats it")],
            audio: Annotated[
                UploadFile,
                Form(description="the recording (WebM/Opus from MediaRecorder, or OGG, MP3, M4A, WAV)"),
            ],
        ) -> Any:
            """A voice answer from the page: stored, transcribed (what was heard comes back to show),
            and processed like a typed message."""
            sender = sender.strip().lower()
            if not _UUID4.fullmatch(sender):
                raise HTTPException(status_code=422, detail="sender must be a random (version 4) UUID")
            if not _MESSAGE_ID.fullmatch(message_id):
                raise HTTPException(
                    status_code=422, detail="message_id must be 1-64 letters, digits, '-' or '_'"
                )
            if not self.conversations.ready:
                return JSONResponse(
                    status_code=503,
                    content={"error": "starting; try again in a few seconds"},
                    headers={"Retry-After": "5"},
                )
            limit = self.voice.max_bytes
            data = await audio.read(limit + 1)
            problem = "too_large" if len(data) > limit else None
            platform_id = f"{sender}:{message_id}"
            incoming = IncomingMessage(
                channel=self.name,
                sender_id=sender,
                text="",
                message_id=platform_id,
                metadata={"message_id": message_id},
                audio=AudioInput(b"" if problem else data, "web", problem=problem),
            )
            replies = await self.conversations.handle(incoming)
            heard = await self.conversations.transcripts.transcript(self.name, platform_id) or {}
            return VoiceReplies(
                heard=heard.get("text") or None,
                problem=heard.get("problem"),
                replies=[self._reply(reply) for reply in replies],
            )

        @router.post(
            "/messages",
            response_model=list[WebReply],
            response_model_exclude_none=True,
            responses={
                **TOO_LARGE,
                **WRONG_SHAPE,
                503: {"description": "the bot is starting; try again in a few seconds"},
            },
        )
        async def chat_messages(body: WebMessage) -> Any:
            """The chat page's messages: the Rasa REST contract, as channel ``web``."""
            check_length(body.message)
            if not self.conversations.ready:
                return JSONResponse(
                    status_code=503,
                    content={"error": "starting; try again in a few seconds"},
                    headers={"Retry-After": "5"},
                )
            message_id = body.metadata.message_id
            incoming = IncomingMessage(
                channel=self.name,
                sender_id=body.sender,
                text=body.message,
                message_id=message_id,
                metadata={"message_id": message_id},
            )
            replies = await self.conversations.handle(incoming)
            return [self._reply(reply) for reply in replies]

        router.include_router(uploads)
        return router

    async def _events(self, sender: str, last_id: int | None) -> AsyncIterator[ServerSentEvent]:
        async with self.push.subscribe(sender) as queue:
            if last_id is not None:
                for pushed in await self.push.since(sender, last_id):
                    yield _event(pushed)
            while True:
                yield _event(await queue.get())


def _event(pushed: Pushed) -> ServerSentEvent:
    reply = RestReply(
        recipient_id=pushed.message.recipient_id,
        text=pushed.message.text,
        buttons=[RestButton(title=b.title, payload=b.payload) for b in pushed.message.buttons] or None,
    )
    return ServerSentEvent(data=reply.model_dump_json(exclude_none=True), event="message", id=str(pushed.id))
