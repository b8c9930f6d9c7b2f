"""Campaign senders for the outbox: email over SMTP (aiosmtplib), SMS through a gateway, WeChat by
openid. Their rows carry ``contact:<campaign candidate id>`` as the recipient; the sender opens the
sealed contact data at the moment of sending, so no address sits in the outbox in clear.

What each does when it cannot deliver
    email: a refused recipient or another 5xx answer gives up (``failed``, the reason in the
    delivery log); a connection failure, timeout or 4xx answer is retried with backoff until the
    row expires. sms: the gateway's 4xx gives up, 429 and 5xx retry (``Retry-After`` honoured).
    wechat: the WeChat channel's sender (customer-service message, or a template message outside
    the 48-hour window; without a template id it gives up). Contact data erased or purged: gives up.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

import aiosmtplib
import httpx

from bot.campaigns.contacts import Contact
from bot.messages import DeliveryError, PermanentDeliveryError
from bot.outbox import OutboxItem, Sender
from bot.settings import SmsSettings, SmtpSettings

CONTACT_PREFIX = "contact:"
SMTP_PASSWORD_ENV = "SMTP_PASSWORD"  # noqa: S105 (the variable's name)
SMS_TOKEN_ENV = "SMS_GATEWAY_TOKEN"  # noqa: S105

ContactLookup = Callable[[int], Awaitable[Contact]]


def contact_recipient(member_id: int) -> str:
    return f"{CONTACT_PREFIX}{member_id}"


def member_of(item: OutboxItem) -> int:
    if not item.recipient.startswith(CONTACT_PREFIX):
        raise PermanentDeliveryError(f"not a campaign contact reference: {item.channel} row")
    return int(item.recipient.removeprefix(CONTACT_PREFIX))


def email_message(item: OutboxItem, to: str, from_address: str) -> EmailMessage:
    """The email of an outbox row: a plain-text part and, when the payload has one, an HTML part;
    a next-round confirmation also carries its calendar file (``interview.ics``)."""
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = to
    message["Subject"] = str(item.payload.get("subject") or "")
    message["Message-ID"] = make_msgid(idstring=f"outbox-{item.id}")
    unsubscribe = item.payload.get("unsubscribe")
    if unsubscribe:
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(item.text)
    html = item.payload.get("html")
    if html:
        message.add_alternative(str(html), subtype="html")
    ics = item.payload.get("ics")
    if ics:
        message.add_attachment(
            str(ics).encode("utf-8"),
            maintype="text",
            subtype="calendar",
            filename="interview.ics",
            params={"method": str(item.payload.get("ics_method") or "REQUEST"), "charset": "utf-8"},
        )
    return message


class EmailSender:
    """Sends ``email`` rows over SMTP (STARTTLS or implicit TLS as configured)."""

    def __init__(self, settings: SmtpSettings, contacts: ContactLookup) -> None:
        self.settings = settings
        self.contacts = contacts

    async def __call__(self, item: OutboxItem) -> None:
        contact = await self.contacts(member_of(item))
        if not contact.email:
            raise PermanentDeliveryError("no email address (erased, purged or never given)")
        message = email_message(item, contact.email, self.settings.from_address)
        password = os.environ.get(SMTP_PASSWORD_ENV) or None
        try:
            await aiosmtplib.send(
                message,
                hostname=self.settings.host,
                port=self.settings.port,
                start_tls=self.settings.starttls and not self.settings.tls,
                use_tls=self.settings.tls,
                username=self.settings.username or None,
                password=password if self.settings.username else None,
                timeout=self.settings.timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [error.code for error in exc.recipients]
            raise PermanentDeliveryError(f"the mail server refused the recipient ({codes})") from None
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise PermanentDeliveryError(f"the mail server refused the message ({exc.code})") from None
            raise DeliveryError(f"the mail server answered {exc.code}") from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"cannot reach the mail server ({type(exc).__name__})") from None


class SmsGateway(Protocol):
    """A provider of text messages. Raise `DeliveryError` to retry, `PermanentDeliveryError` to
    give up."""

    async def send(self, phone: str, text: str, *, reference: str) -> None: ...


class HttpSmsGateway:
    """A generic HTTP gateway: ``POST gateway_url`` with ``{"to", "text", "reference"}`` and
    ``Authorization: Bearer $SMS_GATEWAY_TOKEN``. A provider's own API goes in an adapter of the
    same shape."""

    def __init__(self, settings: SmsSettings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.client = client or httpx.AsyncClient(timeout=settings.timeout_seconds)

    async def send(self, phone: str, text: str, *, reference: str) -> None:
        token = os.environ.get(SMS_TOKEN_ENV, "")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = await self.client.post(
                self.settings.gateway_url,
                json={"to": phone, "text": text, "reference": reference},
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"cannot reach the SMS gateway ({type(exc).__name__})") from None
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = response.headers.get("Retry-After")
            seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
            raise DeliveryError(f"the SMS gateway answered {response.status_code}", retry_after=seconds)
        if response.status_code >= 400:
            raise PermanentDeliveryError(f"the SMS gateway refused the message ({response.status_code})")


@dataclass
class RecordingSmsGateway:
    """A gateway for tests and development: keeps what it was asked to send."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)

    async def send(self, phone: str, text: str, *, reference: str) -> None:
        self.sent.append((phone, text, reference))


class SmsSender:
    def __init__(self, gateway: SmsGateway, contacts: ContactLookup) -> None:
        self.gateway = gateway
        self.contacts = contacts

    async def __call__(self, item: OutboxItem) -> None:
        contact = await self.contacts(member_of(item))
        if not contact.phone:
            raise PermanentDeliveryError("no phone number (erased, purged or never given)")
        # the idempotency key lets a gateway that deduplicates recognise a repeat
        await self.gateway.send(contact.phone, item.text, reference=item.idempotency_key)


class OpenidSender:
    """Sends ``wechat_contact`` rows through the WeChat channel's own sender (customer-service
    message, or a template message outside the 48-hour window), by the sealed openid."""

    def __init__(self, senders: dict[str, Sender], contacts: ContactLookup) -> None:
        self.senders = senders
        self.contacts = contacts

    async def __call__(self, item: OutboxItem) -> None:
        wechat = self.senders.get("wechat")
        if wechat is None:
            raise DeliveryError("the WeChat channel is not enabled in this process")
        contact = await self.contacts(member_of(item))
        if not contact.wechat_openid:
            raise PermanentDeliveryError("no WeChat openid (erased, purged or never given)")
        await wechat(replace(item, channel="wechat", recipient=contact.wechat_openid))
