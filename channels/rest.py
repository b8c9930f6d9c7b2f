"""Rasa's REST channel contract, so Rasa web widgets and scripts can talk to the bot.

``POST /webhooks/rest/webhook`` with ``{"sender": "...", "message": "...", "metadata": {...}}``
answers a JSON list of ``{"recipient_id", "text", "buttons"?}``; ``GET /webhooks/rest/`` answers
``{"status": "ok"}``. ``metadata.message_id``, when given, deduplicates a retried post.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from bot.conversations import Conversations
from bot.messages import IncomingMessage
from bot.settings import Settings

MAX_MESSAGE_CHARS = 100_000
"""Posts longer than this are refused (413); shorter long ones are cut to the configured length."""


class RestMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sender: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    message: str = Field(max_length=MAX_MESSAGE_CHARS)
    metadata: dict[str, Any] = {}

    @field_validator("metadata")
    @classmethod
    def _message_id(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        message_id = metadata.get("message_id")
        if message_id is not None and (not isinstance(message_id, str | int) or len(str(message_id)) > 100):
            raise ValueError("metadata.message_id must be a string or number of at most 100 characters")
        return metadata


class RestButton(BaseModel):
    title: str
    payload: str


class RestReply(BaseModel):
    recipient_id: str
    text: str
    buttons: list[RestButton] | None = None


def _scoped(sender: str, message_id: object) -> str | None:
    """The message id within its sender's conversation: ids are the client's own, so two
    clients may pick the same one, and neither may receive the other's stored replies."""
    if message_id is None:
        return None
    return f"{hashlib.sha256(sender.encode()).hexdigest()[:20]}:{message_id}"


class RestChannel:
    name = "rest"

    def __init__(self, conversations: Conversations, settings: Settings) -> None:
        self.conversations = conversations
        self.settings = settings

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/webhooks/rest", tags=["rest channel"])

        @router.get("/")
        async def status() -> dict[str, str]:
            return {"status": "ok"}

        @router.post(
            "/webhook",
            response_model=list[RestReply],
            response_model_exclude_none=True,
            responses={422: {"description": "the body is not a valid message"}},
        )
        async def webhook(body: RestMessage) -> Any:
            message_id = body.metadata.get("message_id")
            incoming = IncomingMessage(
                channel=self.name,
                sender_id=body.sender,
                text=body.message,
                message_id=_scoped(body.sender, message_id),
                metadata=body.metadata,
            )
            if not self.conversations.ready:
                return JSONResponse(
                    status_code=503, content={"error": "starting; try again in a few seconds"}
                )
            replies = await self.conversations.handle(incoming)
            return [
                RestReply(
                    recipient_id=reply.recipient_id,
                    text=reply.text,
                    buttons=[RestButton(title=b.title, payload=b.payload) for b in reply.buttons] or None,
                )
                for reply in replies
            ]

        return router
