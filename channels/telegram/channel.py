"""The Telegram channel: a webhook in our FastAPI app (or long polling for development) that turns
Updates into IncomingMessages and sends the bot's replies through the Bot API.

``POST /telegram/webhook`` checks ``X-Telegram-Bot-Api-Secret-Token``, answers at once and handles
the update in a background task. An update's ``update_id`` is its message id (``update:<id>``), so
a redelivered update is stored once and answered once. An update whose fields have the wrong type
is acknowledged and ignored (`channels.telegram.updates`): Telegram delivers again whatever it was
not answered 200 for. An edited message is not read again; the candidate is told that the original
counts.

Logs name updates by their ``update_id``, never by chat id or text; errors never carry the bot token
(python-telegram-bot puts it into some of its messages).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import warnings
from collections import OrderedDict
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from telegram import Bot, CallbackQuery, InlineKeyboardMarkup, InputFile, Update
from telegram import Message as TelegramMessage
from telegram.constants import ChatType, UpdateType
from telegram.error import BadRequest, Conflict, Forbidden, RetryAfter, TelegramError
from telegram.request import BaseRequest, HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.conversations import Conversations
from bot.messages import AudioInput, DeliveryError, IncomingMessage, OutgoingMessage, PermanentDeliveryError
from bot.secrets import redact
from bot.settings import Settings
from channels.telegram.config import (
    TelegramSecrets,
    TelegramSettings,
    bot_token,
    load_settings,
    webhook_secret,
)
from channels.telegram.render import CallbackPayloads, Language, keyboard, language_of, notice, split_text
from channels.telegram.throttle import Limit, Throttle
from channels.telegram.updates import well_formed
from channels.voice import VoiceService, supervised_voice, voice_service

log = logging.getLogger(__name__)

AUTH_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 1_000_000
"""Telegram's updates are a few kilobytes; anything this big is not from Telegram."""
ALLOWED_UPDATES = [UpdateType.MESSAGE, UpdateType.EDITED_MESSAGE, UpdateType.CALLBACK_QUERY]
"""The updates we ask Telegram for; others are ignored if they come anyway."""
EMPTY_TEXT = "…"
"""Telegram refuses an empty message; a reply that is only buttons gets this text."""
_REMEMBERED_UPDATES = 10_000


def _retry_seconds(exc: RetryAfter) -> float:
    # PTB 22 warns when retry_after is read as an int; either type means seconds.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message})


class TelegramChannel:
    """The ``telegram`` channel plug-in (a `PushChannel`).

    Args:
        conversations: the conversation service every message goes through.
        settings: the app settings; ``channels.telegram`` holds this channel's options.
        mode: ``webhook`` (the default, served by the app) needs ``TELEGRAM_WEBHOOK_SECRET``;
            ``polling`` does not.
        request: the Bot API transport (tests pass an offline one).
        throttle: the outgoing rate limits (tests pass one with a fake clock).
    """

    name = "telegram"
    supervised = staticmethod(supervised_voice)
    """The speech transcription process a supervisor of several workers runs for them."""

    def __init__(
        self,
        conversations: Conversations,
        settings: Settings,
        *,
        mode: Literal["webhook", "polling"] = "webhook",
        request: BaseRequest | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self.conversations = conversations
        self.config: TelegramSettings = load_settings(settings.channels.section(self.name))
        secrets = TelegramSecrets()
        token = bot_token(secrets)
        self._secret = webhook_secret(secrets).encode() if mode == "webhook" else None
        self.bot = Bot(
            token,
            base_url=self.config.base_url,
            base_file_url=self.config.files_url(),
            request=request or HTTPXRequest(connection_pool_size=16),
            get_updates_request=request or HTTPXRequest(),  # long polls add their timeout to its own
        )
        limits = self.config.rate_limits
        self.throttle = throttle or Throttle(
            overall=Limit("overall", limits.overall),
            per_chat=Limit("per chat", limits.per_chat, limits.per_chat_burst),
        )
        self.payloads = CallbackPayloads()
        self._tasks: set[asyncio.Task[None]] = set()
        self._chat_locks: dict[int, asyncio.Lock] = {}
        self._chat_waiters: dict[int, int] = {}
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._started = asyncio.Lock()
        self.voice: VoiceService = voice_service(conversations, settings)
        self._voice_received: dict[int, IncomingMessage] = {}
        """Voice messages fetched and stored by the webhook, waiting for their update's handling."""

    # -- inbound ---------------------------------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/telegram", tags=["telegram channel"])

        @router.post(
            "/webhook",
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "description": "a Telegram Update (https://core.telegram.org/bots/api#update)",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
            responses={
                200: {"description": "accepted (with fields of the wrong type: acknowledged and ignored)"},
                400: {"description": "not a Telegram update (a JSON object with an integer update_id)"},
                403: {"description": f"missing or wrong {AUTH_HEADER} header"},
                413: {"description": "the body is too large"},
                503: {"description": "the bot is starting; Telegram delivers the update again"},
            },
        )
        async def webhook(request: Request) -> JSONResponse:
            """Accept one update from Telegram; it is handled after this answers."""
            given = request.headers.get(AUTH_HEADER, "").encode("utf-8", "replace")
            if self._secret is None or not hmac.compare_digest(given, self._secret):
                return _error(403, f"missing or wrong {AUTH_HEADER} header")
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_UPDATE_BYTES:
                    return _error(413, "update too large")
            update = self.parse_update(bytes(body))
            if update is None:
                return _error(400, "the body is not a Telegram update (JSON object with an update_id)")
            if not self.conversations.ready:
                return _error(503, "starting; try again in a few seconds")
            incoming = self.incoming_text(update)
            if incoming is None and _voice_of(update) is not None:
                try:
                    incoming = await self.incoming_voice(update)
                except TelegramError as exc:  # Telegram delivers the update again
                    log.warning("telegram voice message of update %s not fetched: %s", update.update_id, exc)
                    return _error(503, "could not fetch the voice message; try again")
                self._voice_received[update.update_id] = incoming
            if incoming is not None:
                # Stored before Telegram hears "accepted": a crash from here on loses nothing.
                await self.conversations.receive(incoming)
            self.dispatch(update)
            return JSONResponse({"status": "accepted"})

        return router

    def parse_update(self, body: bytes) -> Update | None:
        """The Update in a webhook body, or None when it is not one (not JSON, no integer
        ``update_id``). An update with fields of the wrong type comes back empty (only its id), so
        that it is acknowledged and ignored."""
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if not isinstance(data, dict) or type(data.get("update_id")) is not int:
            return None
        update_id: int = data["update_id"]
        if not well_formed(data):
            log.info("telegram update %s has fields of the wrong type; ignored", update_id)
            return Update(update_id)
        try:
            return Update.de_json(data, self.bot)
        except Exception as exc:  # PTB's parsers raise KeyError, TypeError ... on a malformed object
            # No traceback: its messages may quote the update.
            log.info("telegram update %s could not be parsed (%s); ignored", update_id, type(exc).__name__)
            return Update(update_id)

    def incoming_text(self, update: Update) -> IncomingMessage | None:
        """The candidate's text message in ``update`` (private chats only), as `_converse` sees it."""
        message = update.message
        if message is None or message.text is None or message.chat.type != ChatType.PRIVATE:
            return None
        language = language_of(message.from_user.language_code if message.from_user else None)
        return self._incoming(update.update_id, message.chat.id, message.text, language)

    def _incoming(
        self, update_id: int, chat_id: int, text: str, language: Language, audio: AudioInput | None = None
    ) -> IncomingMessage:
        return IncomingMessage(
            channel=self.name,
            sender_id=str(chat_id),
            text=text,
            message_id=f"update:{update_id}",
            metadata={"update_id": update_id, "telegram_language": language},
            audio=audio,
        )

    async def incoming_voice(self, update: Update) -> IncomingMessage:
        """The candidate's voice note or audio file in ``update``, fetched from Telegram (a file
        larger than ``voice.max_bytes`` is not fetched: it is refused as too large)."""
        message = update.message
        media = _voice_of(update)
        assert message is not None and media is not None
        source = "telegram_voice" if message.voice is not None else "telegram_audio"
        language = language_of(message.from_user.language_code if message.from_user else None)
        if media.file_size is not None and media.file_size > self.voice.max_bytes:
            audio = AudioInput(b"", source, problem="too_large")
        else:
            await self._started_bot()
            file = await self.bot.get_file(media.file_id)
            data = bytes(await file.download_as_bytearray())
            audio = AudioInput(
                data, source, problem="too_large" if len(data) > self.voice.max_bytes else None
            )
        return self._incoming(update.update_id, message.chat.id, "", language, audio)

    def dispatch(self, update: Update) -> None:
        """Handle ``update`` in the background (see `drain`)."""
        self._spawn(self.process(update), f"telegram-update-{update.update_id}")

    async def drain(self) -> None:
        """Wait until every update received so far has been handled."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def process(self, update: Update) -> None:
        """Handle one update: converse, answer with a short notice, or ignore it. Never raises."""
        try:
            if update.callback_query is not None:
                await self._on_callback(update.update_id, update.callback_query)
            elif update.message is not None:
                await self._on_message(update.update_id, update.message)
            elif update.edited_message is not None:
                await self._on_edit(update.update_id, update.edited_message)
            else:
                # channel posts, membership changes, malformed updates ... change nothing
                log.debug("ignored telegram update %s", update.update_id)
        except Exception:
            log.exception("telegram update %s failed", update.update_id)

    async def _on_message(self, update_id: int, message: TelegramMessage) -> None:
        chat = message.chat
        if chat.type != ChatType.PRIVATE:
            return  # the interviewer talks to one candidate at a time, never in groups
        language = language_of(message.from_user.language_code if message.from_user else None)
        if message.text is not None:
            await self._converse(update_id, chat.id, message.text, language)
        elif message.voice is not None or message.audio is not None:
            incoming = self._voice_received.pop(update_id, None)
            if incoming is None:  # polling: no webhook fetched it
                incoming = await self.incoming_voice(Update(update_id, message=message))
            await self._converse(update_id, chat.id, "", language, incoming=incoming)
        elif message.video_note is not None:
            await self._notify(update_id, chat.id, notice("video_note", language))
        elif message.effective_attachment is not None:
            await self._notify(update_id, chat.id, notice("unsupported", language))
        # service messages (pins, write access granted ...) need no answer

    async def _on_edit(self, update_id: int, message: TelegramMessage) -> None:
        """An edit is not a new answer: the original was recorded, and the candidate is told so."""
        if message.chat.type != ChatType.PRIVATE or message.text is None:
            return
        language = language_of(message.from_user.language_code if message.from_user else None)
        await self._notify(update_id, message.chat.id, notice("edited", language))

    async def _on_callback(self, update_id: int, query: CallbackQuery) -> None:
        language = language_of(query.from_user.language_code)
        source = query.message
        if not isinstance(source, TelegramMessage) or source.chat.type != ChatType.PRIVATE:
            await self._answer_callback(query)
            return
        payload = self.payloads.decode(query.data or "")
        if not payload:
            await self._answer_callback(query, notice("button_expired", language))
            return
        await self._converse(update_id, source.chat.id, payload, language, query=query)

    async def _converse(
        self,
        update_id: int,
        chat_id: int,
        text: str,
        language: Language,
        *,
        query: CallbackQuery | None = None,
        incoming: IncomingMessage | None = None,
    ) -> None:
        incoming = incoming or self._incoming(update_id, chat_id, text, language)
        async with self._chat(chat_id):
            if await self.conversations.answered(incoming):
                log.info("telegram update %s was delivered again; already answered", update_id)
                return
            if query is not None:
                await self._answer_callback(query)
                await self._remove_keyboard(query)
            replies = await self.conversations.handle(incoming)
            await self._reply(incoming, replies)

    async def _reply(self, incoming: IncomingMessage, replies: list[OutgoingMessage]) -> None:
        """Send the replies in order. The first that cannot be sent, and every one after it, go to
        the outbox, which retries them in order, with their buttons, until they are delivered (or
        gives them up after ``outbox.expire_after_hours``, where HR see them). While earlier replies
        of the chat still wait there, new ones queue behind them."""
        if not replies:
            return
        update_id = incoming.metadata.get("update_id")
        sender = incoming.sender_id
        if await self.conversations.has_queued(self.name, sender):
            await self.conversations.queue(self.name, sender, replies, key=incoming.message_id)
            log.info("telegram replies to update %s queued behind undelivered ones", update_id)
            return
        for index, reply in enumerate(replies):
            try:
                await self.send(reply)
            except DeliveryError as exc:
                queued = await self.conversations.queue(
                    self.name, sender, replies[index:], key=incoming.message_id
                )
                log.warning(
                    "telegram: %d repl%s to update %s not delivered (%s); %s",
                    len(replies) - index,
                    "y" if len(replies) - index == 1 else "ies",
                    update_id,
                    exc,
                    "queued in the outbox" if queued else "the conversation is gone",
                )
                return

    async def _notify(self, update_id: int, chat_id: int, text: str) -> None:
        """Answer an update that is not a message for the bot (it changes no interview)."""
        if self._seen_before(update_id):
            return
        async with self._chat(chat_id):
            try:
                await self.send(OutgoingMessage(recipient_id=str(chat_id), text=text))
            except DeliveryError as exc:
                log.warning("telegram notice for update %s not delivered: %s", update_id, exc)

    def _seen_before(self, update_id: int) -> bool:
        if update_id in self._seen:
            return True
        self._seen[update_id] = None
        while len(self._seen) > _REMEMBERED_UPDATES:
            self._seen.popitem(last=False)
        return False

    async def _answer_callback(self, query: CallbackQuery, text: str | None = None) -> None:
        """Stop the button's spinner in the candidate's app (a failure there changes nothing)."""
        try:
            await self._started_bot()
            await self.bot.answer_callback_query(query.id, text=text)
        except TelegramError as exc:
            log.info("could not answer telegram callback query: %s", self._describe(exc))

    async def _remove_keyboard(self, query: CallbackQuery) -> None:
        """A pressed choice is made: take the buttons away so it cannot be pressed twice."""
        source = query.message
        if not isinstance(source, TelegramMessage) or source.reply_markup is None:
            return
        try:
            await self.bot.edit_message_reply_markup(source.chat.id, source.message_id, reply_markup=None)
        except TelegramError as exc:
            log.info("could not remove a telegram keyboard: %s", self._describe(exc))

    # -- outbound --------------------------------------------------------------------------------

    async def send(self, message: OutgoingMessage) -> None:
        """Deliver one message to the chat ``message.recipient_id``, split when it is too long.

        Raises:
            DeliveryError: Telegram could not be reached, or asks to wait (``retry_after``).
            PermanentDeliveryError: Telegram refused the message for good (the candidate blocked
                the bot, the chat does not exist).
        """
        try:
            chat_id = int(message.recipient_id)
        except ValueError:
            raise DeliveryError("the recipient is not a Telegram chat id") from None
        chunks = split_text(message.text) or [EMPTY_TEXT]
        markup = keyboard(message.buttons, self.payloads)
        spoken = await self.voice.spoken(message, "ogg") if message.read_aloud is not None else None
        if spoken is not None:
            await self._send_voice(chat_id, spoken)
        for index, chunk in enumerate(chunks):
            await self._send_text(chat_id, chunk, markup if index == len(chunks) - 1 else None)

    async def _send_text(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None) -> None:
        retries = self.config.rate_limits.max_retries
        for attempt in range(retries + 1):
            await self.throttle.acquire(str(chat_id))
            try:
                await self._started_bot()
                await self.bot.send_message(chat_id, text, reply_markup=markup)
                return
            except RetryAfter as exc:
                seconds = _retry_seconds(exc)
                if attempt == retries:
                    raise DeliveryError(
                        f"Telegram still asks to wait {seconds:g}s after {retries} retries",
                        retry_after=seconds,
                    ) from None
                log.info("telegram flood limit: retrying in %gs", seconds)
                self.throttle.hold(str(chat_id), seconds)
            except (Forbidden, BadRequest) as exc:  # blocked by the user, no such chat: for good
                raise PermanentDeliveryError(f"Telegram refused a message: {self._describe(exc)}") from None
            except TelegramError as exc:  # unreachable, timed out, a rejected token: tried again
                raise DeliveryError(f"Telegram refused a message: {self._describe(exc)}") from None
        raise AssertionError("unreachable")

    async def _send_voice(self, chat_id: int, spoken: bytes) -> None:
        """A question read aloud, as a voice note before its text (a failure leaves the text to go)."""
        await self.throttle.acquire(str(chat_id))
        try:
            await self._started_bot()
            await self.bot.send_voice(chat_id, InputFile(spoken, filename="question.ogg"))
        except TelegramError as exc:
            log.info("telegram voice note not sent: %s", self._describe(exc))

    async def _started_bot(self) -> Bot:
        """The Bot, initialised once (its getMe checks the token)."""
        async with self._started:
            await self.bot.initialize()
        return self.bot

    # -- polling (development) -------------------------------------------------------------------

    async def poll_once(self, offset: int | None = None) -> int | None:
        """Fetch one batch of updates, dispatch them, and return the next offset."""
        updates = await self.bot.get_updates(
            offset=offset, timeout=self.config.polling_timeout, allowed_updates=ALLOWED_UPDATES
        )
        for update in updates:
            self.dispatch(update)
            offset = update.update_id + 1
        return offset

    async def poll(self) -> None:
        """Long-poll Telegram until cancelled; the webhook, if any, is removed first."""
        await self._started_bot()
        info = await self.bot.get_webhook_info()
        if info.url:
            log.warning("removing the webhook %s so that polling works", info.url)
            await self.bot.delete_webhook()
        log.info("polling Telegram as @%s", self.bot.username)
        offset: int | None = None
        failures = 0
        while True:
            try:
                offset = await self.poll_once(offset)
                failures = 0
            except RetryAfter as exc:
                await asyncio.sleep(_retry_seconds(exc))
            except Conflict:
                raise
            except TelegramError as exc:
                failures += 1
                wait = min(60.0, 2.0**failures)
                log.warning("telegram polling failed (%s); retrying in %gs", self._describe(exc), wait)
                await asyncio.sleep(wait)

    async def close(self) -> None:
        """Finish the updates in hand and release the Bot API connections."""
        await self.drain()
        await self.bot.shutdown()

    # -- helpers ---------------------------------------------------------------------------------

    def _describe(self, exc: TelegramError) -> str:
        """A Bot API error fit for a log line or a stored error: python-telegram-bot puts the bot
        token into some messages (a rejected token, a URL in a network error)."""
        return f"{type(exc).__name__}: {redact(str(exc))}"

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @asynccontextmanager
    async def _chat(self, chat_id: int) -> AsyncIterator[None]:
        """One chat's updates are answered one at a time, in the order they arrived."""
        lock = self._chat_locks.setdefault(chat_id, asyncio.Lock())
        self._chat_waiters[chat_id] = self._chat_waiters.get(chat_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._chat_waiters[chat_id] -= 1
            if self._chat_waiters[chat_id] == 0:
                del self._chat_waiters[chat_id]
                del self._chat_locks[chat_id]


def _voice_of(update: Update) -> Any:
    """The voice note or audio file of a private message, if any."""
    message = update.message
    if message is None or message.chat.type != ChatType.PRIVATE:
        return None
    return message.voice or message.audio
