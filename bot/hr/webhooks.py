"""Events sent to the HR system (ATS/EHR) as signed webhooks, through the outbox (channel ``webhook``).

Each event is queued in the transaction that made it (so it is sent if and only if that commits)
and delivered at least once, retried with the outbox's backoff; a receiver deduplicates by the
``X-Interviewer-Delivery`` header. The request::

    POST <hr.webhook_url>
    Content-Type: application/json
    X-Interviewer-Event: decision.made
    X-Interviewer-Delivery: decision:17
    X-Interviewer-Signature: t=1764770000,v1=<hex HMAC-SHA256 of "<t>.<body>">

signed with ``$INTERVIEWER_HR_WEBHOOK_SECRET``; a receiver checks it with `verify_signature` (or
the ten lines in the README) and rejects a timestamp more than five minutes old. A 2xx answer is
delivered; 408, 429 and 5xx, or no answer, are tried again (honouring ``Retry-After``); any other
4xx is given up (state ``failed``, listed at ``/hr/outbox``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable
from typing import Any

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.messages import DeliveryError, PermanentDeliveryError
from bot.outbox import OutboxItem, enqueue
from bot.settings import ConfigError

CHANNEL = "webhook"
SECRET_VARIABLE = "INTERVIEWER_HR_WEBHOOK_SECRET"  # noqa: S105 (the variable's name)
SIGNATURE_HEADER = "X-Interviewer-Signature"
TOLERANCE_SECONDS = 300


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str, header: str, body: bytes, *, now: float | None = None, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """What a receiver does: the signature matches the body and its timestamp is recent."""
    try:
        parts = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


async def queue_event(
    session: AsyncSession, *, event: str, key: str, data: dict[str, Any], candidate_id: int | None
) -> None:
    """Queue one event for the HR system in the caller's transaction (``key``: unique per event)."""
    await enqueue(
        session,
        channel=CHANNEL,
        recipient="hr-system",
        kind=event,
        payload={"event": event, "id": key, "data": data},
        idempotency_key=f"webhook:{key}",
        candidate_id=candidate_id,
    )


class WebhookSender:
    """Delivers the outbox's ``webhook`` rows to ``url``; ``transport`` and ``clock`` are injectable."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.secret = secret
        self.clock = clock
        self.client = httpx.AsyncClient(transport=transport, timeout=timeout)

    @classmethod
    def from_environment(cls, url: str, **options: Any) -> WebhookSender:
        secret = os.environ.get(SECRET_VARIABLE, "")
        if len(secret) < 16:
            raise ConfigError(
                f"hr.webhook_url is set: set ${SECRET_VARIABLE} to a random value of at least 16 characters"
            )
        return cls(url, secret, **options)

    async def send(self, item: OutboxItem) -> None:
        body = body_of(item.payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "interviewer-webhook/1",
            "X-Interviewer-Event": item.kind,
            "X-Interviewer-Delivery": str(item.payload.get("id", item.idempotency_key)),
            SIGNATURE_HEADER: sign(self.secret, body, int(self.clock())),
        }
        try:
            response = await self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"the HR system is not reachable ({type(exc).__name__})") from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        if status in {408, 429} or status >= 500:
            retry_after = response.headers.get("retry-after", "")
            raise DeliveryError(
                f"the HR system answered {status}",
                retry_after=float(retry_after) if retry_after.isdigit() else None,
            )
        raise PermanentDeliveryError(f"the HR system refused the event: {status}")

    async def close(self) -> None:
        await self.client.aclose()
