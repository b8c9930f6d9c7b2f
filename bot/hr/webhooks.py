"""Events sent to the HR system (ATS/EHR) as signed webhooks, through the outbox (channel ``webhook``).

Events: ``interview.completed`` (a real interview's candidate answered the last question, with
the scores), ``score.overridden`` (HR set a competency's level by hand, with the reason) and
``decision.made``. Each event is queued in the transaction that made it (so it is sent if and
only if that commits) and delivered at least once, retried with the outbox's backoff; a receiver
deduplicates by the ``X-Interviewer-Delivery`` header. The request::

    POST <hr.webhook_url>
    Content-Type: application/json
    X-Interviewer-Event: decision.made
    X-Interviewer-Delivery: decision:17
    X-Interviewer-Signature: t=1764770000,v1=<hex HMAC-SHA256 of "<t>.<body>">

signed with ``$INTERVIEWER_HR_WEBHOOK_SECRET``; a receiver checks it with `verify_signature` (or
the ten lines in the README) and rejects a timestamp more than five minutes old. A 2xx answer is
delivered; 408, 429 and 5xx, or no answer, are tried again (honouring ``Retry-After``); any other
4xx is given up (state ``failed``, listed at ``/hr/outbox``).

Every attempt is written to the delivery log (table ``webhook_delivery``: event, delivery id, URL
without its query, status code, attempt, time, error), shown at ``/hr/webhooks``, where an admin
can replay an event (`bot.hr.deliveries`): the same body and delivery id, signed anew, with
``X-Interviewer-Replay: 1``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy import delete
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.messages import DeliveryError, PermanentDeliveryError
from bot.outbox import OutboxItem, describe_error, enqueue
from bot.settings import ConfigError
from bot.store.models import Interview, WebhookDelivery, utcnow

if TYPE_CHECKING:
    from bot.store.db import Database

log = logging.getLogger(__name__)

CHANNEL = "webhook"
SECRET_VARIABLE = "INTERVIEWER_HR_WEBHOOK_SECRET"  # noqa: S105 (the variable's name)
SIGNATURE_HEADER = "X-Interviewer-Signature"
REPLAY_HEADER = "X-Interviewer-Replay"
TOLERANCE_SECONDS = 300
INTERVIEW_COMPLETED = "interview.completed"
SCORE_OVERRIDDEN = "score.overridden"
DECISION_MADE = "decision.made"
EVENTS = (INTERVIEW_COMPLETED, SCORE_OVERRIDDEN, DECISION_MADE)
REPLAY_MARK = ":replay:"
"""In a replayed row's idempotency key (``webhook:<id>:replay:<n>``)."""


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


def scores_of(interview: Interview) -> dict[str, Any]:
    """The interview's machine scores as events carry them."""
    results = interview.results or {}
    return {
        "overall": results.get("overall"),
        "match": results.get("match"),
        "competencies": {cid: c.get("level") for cid, c in (results.get("competencies") or {}).items()},
    }


async def queue_interview_completed(session: AsyncSession, key: bytes, interview: Interview) -> None:
    """``interview.completed`` for a real interview, in the transaction that completes it."""
    from bot.hr.accounts import candidate_ref

    if interview.mode != "interview" or interview.id is None:
        return
    await queue_event(
        session,
        event=INTERVIEW_COMPLETED,
        key=f"interview:{interview.id}:completed",
        data={
            "interview_id": interview.id,
            "candidate_ref": candidate_ref(key, interview.candidate_id),
            "role": interview.role,
            "language": interview.language,
            "started_at": interview.created_at.isoformat(),
            "completed_at": (interview.completed_at or utcnow()).isoformat(),
            "scores": scores_of(interview),
        },
        candidate_id=interview.candidate_id,
    )


async def purge_delivery_log(db: Database, older_than: timedelta, *, now: datetime | None = None) -> int:
    """Delete delivery log entries older than ``older_than`` (the runtime's retention sweep uses
    ``outbox.keep_days``, so the log lasts as long as the events it tells about)."""
    cutoff = (now or utcnow()) - older_than
    async with db.write() as session:
        result = await session.exec(delete(WebhookDelivery).where(col(WebhookDelivery.created_at) < cutoff))
        return int(result.rowcount)


def public_url(url: str) -> str:
    """``url`` as the delivery log shows it: no credentials, no query, no fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))[:500]


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
        db: Database | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.clock = clock
        self.db = db
        """Where each attempt is logged (table ``webhook_delivery``); None logs nothing."""
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
        delivery = str(item.payload.get("id", item.idempotency_key))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "interviewer-webhook/1",
            "X-Interviewer-Event": item.kind,
            "X-Interviewer-Delivery": delivery,
            SIGNATURE_HEADER: sign(self.secret, body, int(self.clock())),
        }
        if REPLAY_MARK in item.idempotency_key:
            headers[REPLAY_HEADER] = "1"
        started = time.perf_counter()
        status: int | None = None
        try:
            try:
                response = await self.client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                raise DeliveryError(f"the HR system is not reachable ({type(exc).__name__})") from exc
            status = response.status_code
            if 200 <= status < 300:
                await self._log(item, delivery, status, "delivered", None, started)
                return
            if status in {408, 429} or status >= 500:
                retry_after = response.headers.get("retry-after", "")
                raise DeliveryError(
                    f"the HR system answered {status}",
                    retry_after=float(retry_after) if retry_after.isdigit() else None,
                )
            raise PermanentDeliveryError(f"the HR system refused the event: {status}")
        except PermanentDeliveryError as exc:
            await self._log(item, delivery, status, "refused", describe_error(exc), started)
            raise
        except DeliveryError as exc:
            await self._log(item, delivery, status, "retry", describe_error(exc), started)
            raise

    async def _log(
        self,
        item: OutboxItem,
        delivery: str,
        status: int | None,
        outcome: str,
        error: str | None,
        started: float,
    ) -> None:
        if self.db is None:
            return
        try:
            await self._write_log(item, delivery, status, outcome, error, started)
        except Exception as exc:  # the log must never turn a delivered event into a retried one
            log.warning("webhook: the delivery log was not written: %s", describe_error(exc))

    async def _write_log(
        self,
        item: OutboxItem,
        delivery: str,
        status: int | None,
        outcome: str,
        error: str | None,
        started: float,
    ) -> None:
        assert self.db is not None
        async with self.db.write() as session:
            session.add(
                WebhookDelivery(
                    outbox_id=item.id,
                    event=item.kind[:64],
                    delivery=delivery[:200],
                    url=public_url(self.url),
                    attempt=item.attempt,
                    status_code=status,
                    outcome=outcome,
                    error=error[:300] if error else None,
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                    created_at=utcnow(),
                )
            )

    async def close(self) -> None:
        await self.client.aclose()
