"""The opt-out list: addresses that asked for no more messages, as keyed hashes only.

A candidate opts out by replying STOP / 退订 (any letter case; also ``/stop``, ``unsubscribe``,
``TD``) on any chat channel, by the unsubscribe link in every campaign message, or through HR.
Every campaign they belong to stops: its scheduled messages are cancelled and the scheduler
queues nothing more for any address on the list (`bot.campaigns.service`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.campaigns.contacts import identity_key
from bot.outbox import cancel
from bot.store import repo
from bot.store.models import CampaignCandidate, OptOut

STOP_WORDS = frozenset({"stop", "/stop", "unsubscribe", "td", "退订", "取消订阅"})


def is_stop(text: str) -> bool:
    """A whole message asking for no more messages (not a word inside an answer)."""
    return text.strip().strip(".!。！ ").lower() in STOP_WORDS


async def record_opt_out(session: AsyncSession, keys: Sequence[str], source: str, *, now: datetime) -> None:
    """Add keyed hashes to the opt-out list (each once)."""
    known = set((await session.exec(select(OptOut.key).where(col(OptOut.key).in_(list(keys))))).all())
    for key in dict.fromkeys(keys):
        if key not in known:
            session.add(OptOut(key=key, source=source, created_at=now))
    await session.flush()


async def opt_out_candidate(
    session: AsyncSession, id_key: bytes, candidate_id: int, channel: str, external_id: str, *, now: datetime
) -> int:
    """A candidate replied STOP / 退订 in a chat: their chat address goes on the opt-out list, and
    every campaign they belong to stops messaging them. Returns how many campaign memberships stopped."""
    await record_opt_out(session, [identity_key(id_key, channel, external_id)], "reply", now=now)
    members = list(
        (
            await session.exec(
                select(CampaignCandidate).where(
                    CampaignCandidate.candidate_id == candidate_id,
                    col(CampaignCandidate.opted_out_at).is_(None),
                )
            )
        ).all()
    )
    await stop_members(session, members, now)
    return len(members)


async def stop_members(session: AsyncSession, members: Sequence[CampaignCandidate], now: datetime) -> None:
    for member in members:
        member.opted_out_at = member.opted_out_at or now
        session.add(member)
        await cancel(session, ordering_key=repo.campaign_ordering_key(member.id or 0))
