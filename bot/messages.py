"""What crosses between a channel and the bot: messages in and out, and the channel plug-in shape.

Channels import this module; the bot never imports a channel (channels are found through the
``interviewer.channels`` entry point group).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from concurrent.futures import Future

    from fastapi import APIRouter

    from bot.conversations import Conversations
    from bot.settings import Settings


@dataclass(frozen=True)
class IncomingMessage:
    """A candidate's message as any channel delivers it.

    ``message_id`` is the platform's id for the message (Telegram update id, WeChat MsgId, the REST
    ``metadata.message_id``); a message seen before is answered from the stored reply.
    """

    channel: str
    sender_id: str
    text: str
    message_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    audio: AudioInput | None = None
    """A voice message: stored with the message, transcribed before it is processed (``text`` is
    then ignored; the transcript becomes the message's text)."""


@dataclass(frozen=True)
class AudioInput:
    """A voice message's recording as the channel received it."""

    data: bytes
    source: str
    """``telegram_voice``, ``telegram_audio``, ``wechat_voice``, ``web`` ..."""
    problem: str | None = None
    """Set when the channel already knows the recording cannot be used (``too_large``: not fetched)."""
    second_opinion: str | None = None
    """The platform's own transcript (WeChat's Recognition), kept beside ours for comparison."""


class AudioRefusedError(Exception):
    """A recording that cannot be transcribed: ``kind`` is ``empty``, ``too_large``, ``too_long``,
    ``unsupported``, ``corrupt``, ``silent``, ``busy`` or ``off``; the candidate gets a clear reply."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


class Heard(Protocol):
    """A transcript, as the bot needs it."""

    @property
    def text(self) -> str: ...
    @property
    def language(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def duration(self) -> float: ...
    @property
    def avg_logprob(self) -> float: ...
    @property
    def no_speech_prob(self) -> float: ...

    def facts(self) -> dict[str, Any]: ...


class SpeechToText(Protocol):
    """The speech recogniser a channel layer provides (`channels.voice`)."""

    async def transcribe(self, data: bytes, *, languages: Sequence[str], hint: str | None = None) -> Heard:
        """Raises `AudioRefusedError` for audio that cannot be used. Loads the models first if
        nothing has loaded them yet."""
        ...

    def preload(self) -> Future[None]:
        """Start loading the models in the background; returns at once."""
        ...

    def text_turn(self) -> AbstractContextManager[None]:
        """Around a text turn: transcription gives way to it (``voice.text_first``)."""
        ...


@dataclass(frozen=True)
class OutgoingButton:
    title: str
    payload: str


@dataclass(frozen=True)
class OutgoingMessage:
    recipient_id: str
    text: str
    buttons: list[OutgoingButton] = field(default_factory=list)
    read_aloud: int | None = None
    """A question the candidate wants read aloud: the flow version whose text it is (channels that
    can send audio send it spoken as well, cached per flow version)."""
    message_id: int | None = None
    """The transcript row (`bot.store.models.Message`) this message is, when it is stored: a
    channel that cannot send it hands it to the outbox (`Conversations.queue`) by this id."""


@runtime_checkable
class Channel(Protocol):
    """A channel plug-in: built with the conversation service, it serves its platform's traffic."""

    name: str

    def router(self) -> APIRouter | None:
        """HTTP routes to mount in the app (webhooks, pages), or None for a channel without any."""
        ...


class SupervisedService(Protocol):
    """A process a channel needs beside the app's, shared by all the workers of ``serve --workers N``
    (the speech transcription process): a channel class offers it as ``supervised(settings)``
    (None when it needs none), and the supervisor starts it before the workers and stops it after."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class DeliveryError(Exception):
    """A push channel could not deliver a message now; the outbox tries again later.

    Args:
        message: why, for operators. The outbox stores and logs it with secrets and the recipient
            removed, but a channel should not put tokens or platform ids into it in the first place.
        retry_after: seconds the platform asked to wait (Telegram's 429); the next attempt waits
            that long instead of the outbox's backoff.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """The message can never be delivered (the candidate blocked the bot, unsubscribed, or the
    address is not theirs): the outbox gives it up at once instead of retrying."""


@runtime_checkable
class PushChannel(Channel, Protocol):
    """A channel that can message a candidate unprompted (Telegram, WeChat): the bot's outbox
    uses it for messages that answer no inbound message, such as HR's answer to a handed-off question.
    """

    async def send(self, message: OutgoingMessage) -> None:
        """Deliver one message to ``message.recipient_id`` (the platform's user id).

        Raises:
            DeliveryError: the platform refused or could not be reached; the message is kept and retried.
            PermanentDeliveryError: it never will be; the outbox gives the message up.
        """
        ...


class ChannelFactory(Protocol):
    def __call__(self, conversations: Conversations, settings: Settings) -> Channel: ...
