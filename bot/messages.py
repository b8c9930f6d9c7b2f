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


@runtime_checkable
class Channel(Protocol):
    """A channel plug-in: built with the conversation service, it serves its platform's traffic."""

    name: str

    def router(self) -> APIRouter | None:
        """HTTP routes to mount in the app (webhooks, pages), or None for a channel without any."""
        ...


class DeliveryError(Exception):
    """A push channel could not deliver a message now; the outbox tries again later."""


@runtime_checkable
class PushChannel(Channel, Protocol):
    """A channel that can message a candidate unprompted (Telegram, WeChat): the bot's outbox
    uses it for messages that answer no inbound message, such as HR's answer to a handed-off question.
    """

    async def send(self, message: OutgoingMessage) -> None:
        """Deliver one message to ``message.recipient_id`` (the platform's user id).

        Raises:
            DeliveryError: the platform refused or could not be reached; the message is kept and retried.
        """
        ...


class ChannelFactory(Protocol):
    def __call__(self, conversations: Conversations, settings: Settings) -> Channel: ...
