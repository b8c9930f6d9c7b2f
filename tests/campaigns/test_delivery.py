"""Delivery: email through a real local SMTP server (aiosmtpd), SMS through the gateway interface."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from bot.campaigns.contacts import Contact
from bot.campaigns.delivery import EmailSender, HttpSmsGateway, RecordingSmsGateway, SmsSender
from bot.messages import DeliveryError, PermanentDeliveryError
from bot.outbox import OutboxItem
from bot.settings import SmsSettings, SmtpSettings


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("refused"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (list(envelope.rcpt_tos), email.message_from_bytes(envelope.content, policy=email.policy.default))
        )
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def item(**changes: Any) -> OutboxItem:
    values: dict[str, Any] = {
        "id": 7,
        "channel": "email",
        "recipient": "contact:3",
        "kind": "invitation",
        "payload": {
            "text": "Start here: https://jobs.example.com/chat?invite=T",
            "subject": "Your interview for R&D Engineer",
            "html": '<p><a href="https://jobs.example.com/chat?invite=T">Start</a></p>',
            "unsubscribe": "https://jobs.example.com/campaigns/unsubscribe/3.abc",
        },
        "attempt": 1,
        "idempotency_key": "campaign:3:invitation",
        "identity_id": None,
        "candidate_id": None,
        "message_id": None,
        "created_at": datetime.now(UTC),
        "expires_at": datetime.now(UTC) + timedelta(days=1),
    }
    values.update(changes)
    return OutboxItem(**values)


def contacts(**fields: str) -> Any:
    async def lookup(member_id: int) -> Contact:
        assert member_id == 3
        return Contact(**fields)

    return lookup


async def test_email_goes_over_smtp_with_a_text_and_an_html_part(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    settings = SmtpSettings(host="127.0.0.1", port=port, starttls=False, from_address="HR <hr@example.com>")
    await EmailSender(settings, contacts(email="li@example.com"))(item())
    ((recipients, message),) = inbox.messages
    assert recipients == ["li@example.com"]
    assert message["Subject"] == "Your interview for R&D Engineer"
    assert message["List-Unsubscribe"] == "<https://jobs.example.com/campaigns/unsubscribe/3.abc>"
    parts = {part.get_content_type(): part.get_payload(decode=True) for part in message.walk()}
    assert b"invite=T" in parts["text/plain"] and b"<a href" in parts["text/html"]


async def test_email_failures_retry_or_give_up(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    refused = EmailSender(
        SmtpSettings(host="127.0.0.1", port=port, starttls=False), contacts(email="refused@example.com")
    )
    with pytest.raises(PermanentDeliveryError, match="refused the recipient"):
        await refused(item())
    # STARTTLS required but the server offers none: tried again later, never sent in clear
    no_tls = EmailSender(
        SmtpSettings(host="127.0.0.1", port=port, starttls=True), contacts(email="li@example.com")
    )
    with pytest.raises(DeliveryError):
        await no_tls(item())
    away = EmailSender(
        SmtpSettings(host="127.0.0.1", port=free_port(), starttls=False, timeout_seconds=5),
        contacts(email="li@example.com"),
    )
    with pytest.raises(DeliveryError, match="cannot reach"):
        await away(item())
    erased = EmailSender(SmtpSettings(host="127.0.0.1", port=port, starttls=False), contacts())
    with pytest.raises(PermanentDeliveryError, match="no email address"):
        await erased(item())
    assert inbox.messages == []


async def test_sms_goes_through_the_gateway_interface() -> None:
    gateway = RecordingSmsGateway()
    await SmsSender(gateway, contacts(phone="+8613812345678"))(item(channel="sms"))
    assert gateway.sent == [("+8613812345678", item().text, "campaign:3:invitation")]


@pytest.mark.parametrize(
    ("status", "error"),
    [(200, None), (429, DeliveryError), (503, DeliveryError), (400, PermanentDeliveryError)],
)
async def test_the_http_gateway_maps_answers_to_retry_or_give_up(
    status: int, error: type[Exception] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMS_GATEWAY_TOKEN", "gateway-secret-token")
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, headers={"Retry-After": "30"} if status == 429 else {})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        gateway = HttpSmsGateway(SmsSettings(gateway_url="https://sms.example.com/send"), client)
        if error is None:
            await gateway.send("+8613812345678", "hello", reference="campaign:3:invitation")
        else:
            with pytest.raises(error) as raised:
                await gateway.send("+8613812345678", "hello", reference="campaign:3:invitation")
            if status == 429:
                assert isinstance(raised.value, DeliveryError) and raised.value.retry_after == 30
    assert seen[0].headers["Authorization"] == "Bearer gateway-secret-token"


async def test_a_wechat_follower_is_reached_by_openid_through_the_wechat_channels_sender() -> None:
    from bot.campaigns.delivery import OpenidSender

    sent: list[OutboxItem] = []

    async def wechat(item: OutboxItem) -> None:
        sent.append(item)

    senders: dict[str, Any] = {}
    sender = OpenidSender(senders, contacts(wechat_openid="oAbCdEf123456"))
    with pytest.raises(DeliveryError, match="not enabled"):
        await sender(item(channel="wechat_contact"))
    senders["wechat"] = wechat
    await sender(item(channel="wechat_contact"))
    assert [(i.channel, i.recipient) for i in sent] == [("wechat", "oAbCdEf123456")]
