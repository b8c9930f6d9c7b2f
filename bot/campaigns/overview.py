"""What a scheduler sees of a campaign: its funnel, its messages by delivery state, why messages
failed, and who cannot be reached and why (the campaign pages, `bot.campaigns.pages`).

Opened means the invitation's link was used (the candidate's conversation began); email opens are
not tracked (no tracking pixels). Started means the interview went past consent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from bot.campaigns.contacts import Contact, unseal
from bot.campaigns.service import CampaignService
from bot.store.models import Campaign, CampaignCandidate, ChannelIdentity, Interview, Invitation, OutboxRow

MAX_LISTED = 200
"""Unreachable candidates listed on the page (the count covers them all)."""

CHANNEL_HINTS = {
    "email": "no SMTP server configured (campaigns.smtp.host)",
    "sms": "no SMS gateway configured (campaigns.sms.gateway_url)",
    "wechat": "the WeChat channel is not enabled (channels.enabled)",
    "telegram": "the Telegram channel is not enabled (channels.enabled)",
}
KIND_OF_CONTACT = {"email": "email", "sms": "phone", "wechat": "WeChat openid"}


@dataclass
class Unreachable:
    member_id: int
    contact: str
    """Masked (``l***@example.com``): enough for the scheduler to recognise the row."""
    reason: str


@dataclass
class Overview:
    campaign: Campaign
    candidates: int = 0
    sent: int = 0
    opened: int = 0
    started: int = 0
    completed: int = 0
    opted_out: int = 0
    failed: int = 0
    messages: dict[str, dict[str, int]] = field(default_factory=dict)
    """Outbox rows by kind, then by delivery state."""
    failures: list[tuple[str, str, int]] = field(default_factory=list)
    """(kind, reason, count) of the messages given up."""
    unreachable: list[Unreachable] = field(default_factory=list)
    unreachable_count: int = 0


def mask(contact: Contact) -> str:
    parts = []
    if contact.email:
        name, _, domain = contact.email.partition("@")
        parts.append(f"{name[:1]}***@{domain}")
    if contact.phone:
        parts.append(f"{contact.phone[:3]}***{contact.phone[-2:]}")
    if contact.wechat_openid:
        parts.append(f"WeChat {contact.wechat_openid[:4]}***")
    return ", ".join(parts) or "–"


def why_unreachable(
    member: CampaignCandidate, chats: list[str], campaign_channels: list[str], available: set[str]
) -> str | None:
    """Why no channel reaches this candidate, or None when one does."""
    kinds = list(dict.fromkeys([*chats, *member.reachable]))
    usable = [k for k in kinds if k in campaign_channels and k in available]
    if usable:
        return None
    if member.contact is None:
        return "contact data erased or purged"
    if not kinds:
        return "no email, phone or WeChat openid given (Telegram is reached only after they open the link)"
    reasons = []
    for kind in kinds:
        what = KIND_OF_CONTACT.get(kind, f"{kind} chat")
        if kind not in campaign_channels:
            reasons.append(f"{what}: {kind} is not among the campaign's channels")
        else:
            reasons.append(f"{what}: {CHANNEL_HINTS.get(kind, 'not deliverable here')}")
    return "; ".join(reasons)


async def overview(service: CampaignService, campaign_id: int) -> Overview:
    available = set(service.channels())
    async with service.db.read() as session:
        campaign = await service.get(campaign_id, session)
        found = Overview(campaign=campaign)
        of_campaign = CampaignCandidate.campaign_id == campaign_id
        found.candidates = int(
            (await session.exec(select(func.count()).select_from(CampaignCandidate).where(of_campaign))).one()
        )
        found.opted_out = int(
            (
                await session.exec(
                    select(func.count())
                    .select_from(CampaignCandidate)
                    .where(of_campaign, col(CampaignCandidate.opted_out_at).is_not(None))
                )
            ).one()
        )
        found.opened = int(
            (
                await session.exec(
                    select(func.count())
                    .select_from(CampaignCandidate)
                    .join(Invitation, col(Invitation.id) == col(CampaignCandidate.invitation_id))
                    .where(of_campaign, col(Invitation.used_at).is_not(None))
                )
            ).one()
        )
        states: dict[str, int] = {}
        for state, count in (
            await session.exec(
                select(Interview.state, func.count())
                .join(CampaignCandidate, col(CampaignCandidate.invitation_id) == col(Interview.invitation_id))
                .where(of_campaign)
                .group_by(Interview.state)
            )
        ).all():
            states[state] = int(count)
        found.started = sum(n for s, n in states.items() if s not in {"consent", "declined"})
        found.completed = states.get("done", 0)
        of_rows = col(OutboxRow.payload)["campaign_id"].as_integer() == campaign_id
        for kind, state, count in (
            await session.exec(
                select(OutboxRow.kind, OutboxRow.state, func.count())
                .where(of_rows)
                .group_by(OutboxRow.kind, OutboxRow.state)
            )
        ).all():
            found.messages.setdefault(kind, {})[state] = int(count)
        found.sent = sum(states_.get("sent", 0) for states_ in found.messages.values())
        found.failed = sum(states_.get("failed", 0) for states_ in found.messages.values())
        for kind, error, count in (
            await session.exec(
                select(OutboxRow.kind, OutboxRow.last_error, func.count())
                .where(of_rows, OutboxRow.state == "failed")
                .group_by(OutboxRow.kind, col(OutboxRow.last_error))
                .order_by(func.count().desc())
            )
        ).all():
            found.failures.append((kind, error or "no reason recorded", int(count)))
        members = (
            await session.exec(
                select(CampaignCandidate)
                .where(of_campaign, col(CampaignCandidate.opted_out_at).is_(None))
                .order_by(col(CampaignCandidate.id))
            )
        ).all()
        candidate_ids = [m.candidate_id for m in members if m.candidate_id is not None]
        chats: dict[int, list[str]] = {}
        if candidate_ids:
            for identity in (
                await session.exec(
                    select(ChannelIdentity).where(col(ChannelIdentity.candidate_id).in_(candidate_ids))
                )
            ).all():
                chats.setdefault(identity.candidate_id, []).append(identity.channel)
        for member in members:
            reason = why_unreachable(
                member, chats.get(member.candidate_id or 0, []), campaign.channels, available
            )
            if reason is None:
                continue
            found.unreachable_count += 1
            if len(found.unreachable) < MAX_LISTED:
                found.unreachable.append(
                    Unreachable(member.id or 0, mask(unseal(service.cipher, member.contact)), reason)
                )
    return found


def as_json(found: Overview) -> dict[str, Any]:
    return {
        "candidates": found.candidates,
        "sent": found.sent,
        "opened": found.opened,
        "started": found.started,
        "completed": found.completed,
        "opted_out": found.opted_out,
        "failed": found.failed,
        "failures": [{"kind": k, "reason": r, "count": n} for k, r, n in found.failures],
        "unreachable": found.unreachable_count,
    }
