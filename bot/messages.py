"""What crosses between a channel and the bot: messages in and out, and the channel plug-in shape.

Channels import this module; the bot never imports a channel (channels are found through the
``interviewer.channels`` entry point group).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
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


@dataclass(frozen=True)
class OutgoingButton:
    title: str
    payload: str


@dataclass(frozen=True)
class OutgoingMessage:
    recipient_id: str
    text: str
    buttons: list[OutgoingButton] = field(default_factory=list)
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
