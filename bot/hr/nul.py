"""Refuse NUL characters in what HR send (422), before any route sees them: PostgreSQL can't store
them in text, and a query that carries one fails in the database driver (a 500, not an answer)."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REFUSAL = json.dumps({"error": "invalid request: a NUL character (\\u0000) is not allowed"}).encode()
PREFIX = "/hr/"


class RefuseNul:
    """ASGI middleware for the paths under ``/hr/``: path, query and body are checked; everything
    else passes untouched (streams included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        head = bytes(scope.get("raw_path") or b"") + b"?" + bytes(scope.get("query_string") or b"")
        if "\x00" in str(scope.get("path", "")) or b"%00" in head or b"\x00" in head:
            await _refuse(send)
            return
        if scope.get("method") not in {"POST", "PUT", "PATCH", "DELETE"}:
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        form = any(k == b"content-type" and b"form-urlencoded" in v for k, v in scope.get("headers", []))
        if b"\x00" in body or b"\\u0000" in body or (form and b"%00" in body):
            await _refuse(send)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Send) -> None:
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(REFUSAL)).encode()),
    ]
    await send({"type": "http.response.start", "status": 422, "headers": headers})
    await send({"type": "http.response.body", "body": REFUSAL})
