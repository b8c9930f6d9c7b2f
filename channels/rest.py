"""Rasa's REST channel contract, so Rasa web widgets and scripts can talk to the bot.

``POST /webhooks/rest/webhook`` with ``{"sender": "...", "message": "...", "metadata": {...}}``
answers a JSON list of ``{"recipient_id", "text", "buttons"?}``; ``GET /webhooks/rest/`` answers
``{"status": "ok"}``. ``metadata.message_id``, when given, deduplicates a retried post (within the
sender's conversation: the store scopes message ids by sender).

Errors are JSON ``{"error": ...}``: 413 for a body over `MAX_BODY_BYTES` (refused before it is
read in full) or a message over `MAX_MESSAGE_CHARS`; 422 for a well-formed body of the wrong shape.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from bot.conversations import Conversations
from bot.messages import IncomingMessage
from bot.settings import Settings

MAX_MESSAGE_CHARS = 100_000
"""Posts longer than this are refused (413); shorter long ones are cut to the configured length."""
MAX_BODY_BYTES = 1_000_000
"""Bodies larger than this are refused (413) before they are read in full: a message at the limit
takes at most 600 kB of JSON (six bytes for a ``\\uXXXX`` escape)."""

TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {
        "description": f"the body is over {MAX_BODY_BYTES} bytes or the message over "
        f"{MAX_MESSAGE_CHARS} characters"
    }
}
WRONG_SHAPE: dict[int | str, dict[str, Any]] = {
    422: {"description": "the body is well-formed but not a message (a field missing or of the wrong type)"}
}


def capped_route(limit: int) -> type[APIRoute]:
    """A route class that refuses a body over ``limit`` bytes with 413 while reading it: FastAPI
    would otherwise read any body in full before validating it."""

    class Capped(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def capped(request: Request) -> Response:
                declared = request.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    return _too_large(limit)
                body = bytearray()
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > limit:
                        return _too_large(limit)
                request._body = bytes(body)  # what FastAPI reads next (Starlette caches the body here)
                return await handler(request)

            return capped

    return Capped


CappedBodyRoute = capped_route(MAX_BODY_BYTES)
"""Routes whose bodies are JSON messages: at most `MAX_BODY_BYTES`."""


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(status_code=413, content={"error": f"the body is over {limit} bytes"})


def check_length(message: str) -> None:
    """Raise 413 for a message over `MAX_MESSAGE_CHARS` (a valid body, but too much to keep)."""
    if len(message) > MAX_MESSAGE_CHARS:
        raise HTTPException(413, f"the message is over {MAX_MESSAGE_CHARS} characters")


class RestMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sender: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    message: str = Field(
        json_schema_extra={"maxLength": MAX_MESSAGE_CHARS},
        description=f"the candidate's text; over {MAX_MESSAGE_CHARS} characters is refused with 413",
    )
    metadata: dict[str, Any] = {}

    @field_validator("metadata")
    @classmethod
    def _message_id(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        message_id = metadata.get("message_id")
        wrong_type = isinstance(message_id, bool) or not isinstance(message_id, str | int)
        if message_id is not None and (wrong_type or len(str(message_id)) > 100):
            raise ValueError("metadata.message_id must be a string or number of at most 100 characters")
        return metadata


class RestButton(BaseModel):
    title: str
    payload: str


class RestReply(BaseModel):
    recipient_id: str
    text: str
    buttons: list[RestButton] | None = None


class RestChannel:
    name = "rest"

    def __init__(self, conversations: Conversations, settings: Settings) -> None:
        self.conversations = conversations
        self.settings = settings

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/webhooks/rest", tags=["rest channel"], route_class=CappedBodyRoute)

        @router.get("/")
        async def status() -> dict[str, str]:
            return {"status": "ok"}

        @router.post(
            "/webhook",
            response_model=list[RestReply],
            response_model_exclude_none=True,
            responses={
                **TOO_LARGE,
                **WRONG_SHAPE,
                503: {"description": "the bot is starting; try again in a few seconds"},
            },
        )
        async def webhook(body: RestMessage) -> Any:
            """One message from a candidate; the bot's replies, in order.

            413 when the body is over the byte cap or the message over the character cap; 422 when
            the body is JSON of the wrong shape (no sender, a message that is not a string ...)."""
            check_length(body.message)
            message_id = body.metadata.get("message_id")
            incoming = IncomingMessage(
                channel=self.name,
                sender_id=body.sender,
                text=body.message,
                message_id=None if message_id is None else str(message_id),
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
