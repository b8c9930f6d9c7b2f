"""The next round: interview slots per role, invitations to pick one, bookings, reminders.

When HR advance a candidate (`bot.events.DecisionMade`), `NextRounds.invite` makes one
`SlotInvitation` for that interview. The scheduler's round (`NextRounds.run_due`, called by the
campaigns job of the leader) sends it once the role has an open slot, inside the candidate's send
window, on their chat (with a button per slot) or by email or SMS (with the link of their page,
``/slots/<token>``). The candidate picks a time in the chat (``/slot N``) or on the page, and may
move or cancel it until ``campaigns.slots.cutoff_hours`` before it starts. Each booking is
confirmed by email with a calendar file (``.ics``, METHOD REQUEST; a cancellation sends METHOD
CANCEL with the same UID) when an email address is known, and reminded ``reminder_hours`` before.

Never overbooked
    A slot's ``booked`` only changes by one conditional statement,
    ``UPDATE interview_slot SET booked = booked + 1 WHERE id = ? AND booked < capacity ...``,
    whose row lock (PostgreSQL re-checks the condition after waiting for it) or SQLite's single
    writer makes concurrent picks of the last place succeed once. The invitation's row is locked
    first (``FOR UPDATE``), so one candidate's concurrent picks apply one after the other.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

import icalendar
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.campaigns.contacts import Contact, address_keys, check_time_zone, identity_key, keyed_hash, unseal
from bot.campaigns.delivery import contact_recipient
from bot.campaigns.schedule import RoundFacts, Window, plan_round
from bot.campaigns.schemas import minutes
from bot.outbox import enqueue
from bot.settings import SlotSettings
from bot.store import repo
from bot.store.models import (
    Campaign,
    CampaignCandidate,
    ChannelIdentity,
    Interview,
    InterviewSlot,
    OptOut,
    SlotInvitation,
)

if TYPE_CHECKING:
    from bot.campaigns.service import CampaignService

Outcome = Literal["booked", "rescheduled", "unchanged", "cancelled", "full", "too_late", "unknown", "none"]
"""What a pick or a cancellation did: ``full`` (no place left), ``too_late`` (past the cut-off),
``unknown`` (no such slot for this role), ``none`` (nothing booked to cancel)."""


SlotPicker = Callable[[AsyncSession, int, Sequence[str]], Awaitable["Pick"]]
"""The chat's ``/slot`` in a conversation's step: (session, candidate id, arguments) -> what it did."""


class SlotError(Exception):
    """A scheduler's request that cannot be done; ``status`` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class SlotCreate(BaseModel):
    """A slot as the scheduler defines it (API and page)."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field(min_length=1, max_length=64)
    starts_at: datetime
    minutes: int = Field(60, ge=5, le=12 * 60)
    capacity: int = Field(1, ge=1, le=1000)
    location: str = Field("", max_length=500)
    time_zone: str = Field("UTC", max_length=64)
    """How HR's pages show the slot (the candidate sees it in their own time zone)."""

    @field_validator("starts_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2027-01-12T10:00:00+08:00")
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            return check_time_zone(value)
        except ValueError as exc:
            raise ValueError(str(exc).partition(": ")[2]) from exc


class SlotPublic(BaseModel):
    id: int
    role: str
    starts_at: datetime
    minutes: int
    capacity: int
    booked: int
    location: str
    time_zone: str


def slot_public(slot: InterviewSlot) -> SlotPublic:
    return SlotPublic(
        id=slot.id or 0,
        role=slot.role,
        starts_at=slot.starts_at,
        minutes=slot.minutes,
        capacity=slot.capacity,
        booked=slot.booked,
        location=slot.location,
        time_zone=slot.time_zone,
    )


_WEEKDAYS = {"en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), "zh": "一二三四五六日"}


def local_time(at: datetime, time_zone: str, language: str = "en") -> str:
    """``Tue 2027-01-12 10:00 (Asia/Shanghai)``, or ``2027-01-12（周二）10:00（Asia/Shanghai）``."""
    local = at.astimezone(ZoneInfo(time_zone))
    if language == "zh":
        return f"{local:%Y-%m-%d}（周{_WEEKDAYS['zh'][local.weekday()]}）{local:%H:%M}（{time_zone}）"
    return f"{_WEEKDAYS['en'][local.weekday()]} {local:%Y-%m-%d %H:%M} ({time_zone})"


def calendar(
    invitation_id: int,
    sequence: int,
    slot: InterviewSlot,
    *,
    summary: str,
    description: str,
    cancelled: bool = False,
    now: datetime,
) -> str:
    """The booking as an iCalendar file (RFC 5545): METHOD REQUEST, or CANCEL for a cancellation.
    The UID stays the same across reschedules, so a calendar moves the entry instead of adding one."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Interviewer//next round//EN")
    cal.add("version", "2.0")
    cal.add("method", "CANCEL" if cancelled else "REQUEST")
    event = icalendar.Event()
    event.add("uid", f"slot-invitation-{invitation_id}@interviewer")
    event.add("sequence", sequence)
    event.add("dtstamp", now)
    event.add("dtstart", slot.starts_at)
    event.add("dtend", slot.starts_at + timedelta(minutes=slot.minutes))
    event.add("summary", summary)
    event.add("description", description)
    if slot.location:
        event.add("location", slot.location)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    cal.add_component(event)
    return str(cal.to_ical().decode("utf-8"))


@dataclass(frozen=True)
class Pick:
    """The result of a pick or a cancellation, for the chat's reply and the page."""

    outcome: Outcome
    slot: str = ""
    """The slot concerned, in the candidate's time zone (empty when none)."""
    cutoff: str = ""


@dataclass(frozen=True)
class InvitationView:
    """What the candidate's page shows."""

    invitation: SlotInvitation
    role_title: str
    booked: InterviewSlot | None
    open_slots: list[InterviewSlot]
    may_change: bool
    """Before the cut-off of the booked slot (or nothing booked)."""


class NextRounds:
    """Slots, slot invitations and bookings, over the campaigns' database, keys and templates."""

    def __init__(self, campaigns: CampaignService) -> None:
        self.campaigns = campaigns
        self.db = campaigns.db

    @property
    def settings(self) -> SlotSettings:
        return self.campaigns.settings.slots

    def now(self) -> datetime:
        return self.campaigns.clock()

    @property
    def cutoff(self) -> timedelta:
        return timedelta(hours=self.settings.cutoff_hours)

    # --- slots (the scheduler) ---------------------------------------------------------------------

    async def create_slot(self, spec: SlotCreate) -> InterviewSlot:
        if spec.role not in self.campaigns.roles():
            known = ", ".join(sorted(self.campaigns.roles())) or "none published"
            raise SlotError(422, f"role: unknown role {spec.role!r} (published: {known})")
        if spec.starts_at <= self.now():
            raise SlotError(422, "starts_at: the slot must start in the future")
        slot = InterviewSlot(
            role=spec.role,
            starts_at=spec.starts_at,
            minutes=spec.minutes,
            capacity=spec.capacity,
            location=spec.location.strip(),
            time_zone=spec.time_zone,
            created_at=self.now(),
        )
        async with self.db.write() as session:
            session.add(slot)
            await session.flush()
            await repo.audit(session, "slot.created", role=spec.role, slot_id=slot.id)
        self.campaigns.wake()
        return slot

    async def slots(self, role: str | None = None, *, upcoming: bool = True) -> list[InterviewSlot]:
        statement = select(InterviewSlot).order_by(col(InterviewSlot.starts_at), col(InterviewSlot.id))
        if role is not None:
            statement = statement.where(InterviewSlot.role == role)
        if upcoming:
            statement = statement.where(col(InterviewSlot.starts_at) > self.now())
        async with self.db.read() as session:
            return list((await session.exec(statement)).all())

    async def delete_slot(self, slot_id: int) -> None:
        async with self.db.write() as session:
            slot = await session.get(InterviewSlot, slot_id)
            if slot is None:
                raise SlotError(404, f"no slot {slot_id}")
            # invitations that booked it once, then moved or cancelled, forget it
            await session.exec(
                update(SlotInvitation)
                .where(col(SlotInvitation.slot_id) == slot_id, col(SlotInvitation.state) != "booked")
                .values(slot_id=None)
            )
            # the conditional delete: a pick committed meanwhile keeps the slot
            deleted = await session.exec(
                delete(InterviewSlot).where(col(InterviewSlot.id) == slot_id, col(InterviewSlot.booked) == 0)
            )
            if deleted.rowcount != 1:
                raise SlotError(409, f"slot {slot_id} has bookings: it cannot be removed")
            await repo.audit(session, "slot.deleted", role=slot.role, slot_id=slot_id)

    async def bookings(self, role: str | None = None) -> dict[str, Any]:
        """Per role: invitations waiting for a slot, booked, cancelled (the scheduler's page)."""
        statement = select(SlotInvitation.role, SlotInvitation.state, func.count()).group_by(
            SlotInvitation.role, SlotInvitation.state
        )
        if role is not None:
            statement = statement.where(SlotInvitation.role == role)
        counts: dict[str, dict[str, int]] = {}
        async with self.db.read() as session:
            for name, state, count in (await session.exec(statement)).all():
                counts.setdefault(name, {})[state] = int(count)
        return counts

    # --- invitations -------------------------------------------------------------------------------

    async def invite(self, interview_id: int) -> int | None:
        """HR advanced this interview: make its slot invitation (once). Returns its id."""
        async with self.db.write() as session:
            existing = (
                await session.exec(select(SlotInvitation).where(SlotInvitation.interview_id == interview_id))
            ).first()
            if existing is not None:
                return existing.id
            interview = await session.get(Interview, interview_id)
            if interview is None or interview.mode != "interview":
                return None
            member = None
            if interview.invitation_id is not None:
                member = (
                    await session.exec(
                        select(CampaignCandidate).where(
                            CampaignCandidate.invitation_id == interview.invitation_id
                        )
                    )
                ).first()
            invitation = SlotInvitation(
                interview_id=interview_id,
                candidate_id=interview.candidate_id,
                role=interview.role,
                member_id=member.id if member is not None else None,
                language=interview.language if interview.language in ("en", "zh") else "en",
                time_zone=member.time_zone if member is not None else "UTC",
                created_at=self.now(),
            )
            session.add(invitation)
            await session.flush()
            await repo.audit(
                session,
                "slot.invited",
                candidate_id=interview.candidate_id,
                interview_id=interview_id,
                slot_invitation_id=invitation.id,
            )
        self.campaigns.wake()
        return invitation.id

    def token(self, invitation_id: int) -> str:
        """The secret of the candidate's page: the id and its keyed hash (nothing stored)."""
        return (
            f"{invitation_id}.{keyed_hash(self.campaigns.id_key, 'slot-invitation', str(invitation_id))[:32]}"
        )

    def invitation_of(self, token: str) -> int | None:
        number = token.partition(".")[0]
        if not number.isdigit() or len(number) > 12:
            return None
        if not hmac.compare_digest(self.token(int(number)).encode(), token.encode()):
            return None
        return int(number)

    def link(self, invitation_id: int) -> str:
        return f"{self.campaigns.settings.public_url.rstrip('/')}/slots/{self.token(invitation_id)}"

    async def view(self, invitation_id: int) -> InvitationView | None:
        now = self.now()
        async with self.db.read() as session:
            invitation = await session.get(SlotInvitation, invitation_id)
            if invitation is None:
                return None
            booked = await session.get(InterviewSlot, invitation.slot_id) if invitation.slot_id else None
            open_slots = await self._open_slots(session, invitation.role, now)
        titles = self.campaigns.roles().get(invitation.role, {})
        return InvitationView(
            invitation=invitation,
            role_title=titles.get(invitation.language) or titles.get("en") or invitation.role,
            booked=booked if invitation.state == "booked" else None,
            open_slots=open_slots,
            may_change=invitation.state != "booked"
            or (booked is not None and booked.starts_at - self.cutoff > now),
        )

    async def calendar_of(self, invitation_id: int) -> str | None:
        """The calendar file of the current booking (None when nothing is booked)."""
        async with self.db.read() as session:
            invitation = await session.get(SlotInvitation, invitation_id)
            if invitation is None or invitation.state != "booked" or invitation.slot_id is None:
                return None
            slot = await session.get(InterviewSlot, invitation.slot_id)
        if slot is None:
            return None
        values = self._values(invitation, slot)
        return calendar(
            invitation_id,
            invitation.changes,
            slot,
            summary=f"{values['role']}: interview",
            description=values["link"],
            now=self.now(),
        )

    async def _open_slots(
        self, session: AsyncSession, role: str, now: datetime, limit: int | None = None
    ) -> list[InterviewSlot]:
        statement = (
            select(InterviewSlot)
            .where(
                InterviewSlot.role == role,
                col(InterviewSlot.starts_at) > now + self.cutoff,
                col(InterviewSlot.booked) < col(InterviewSlot.capacity),
            )
            .order_by(col(InterviewSlot.starts_at), col(InterviewSlot.id))
        )
        if limit is not None:
            statement = statement.limit(limit)
        return list((await session.exec(statement)).all())

    # --- picking -----------------------------------------------------------------------------------

    async def pick(self, invitation_id: int, slot_id: int, *, via: str = "web") -> Pick:
        async with self.db.write() as session:
            return await self.pick_in(session, invitation_id, slot_id, via=via)

    async def cancel(self, invitation_id: int, *, via: str = "web") -> Pick:
        async with self.db.write() as session:
            return await self.cancel_in(session, invitation_id, via=via)

    async def _locked(self, session: AsyncSession, invitation_id: int) -> SlotInvitation | None:
        return (
            await session.exec(
                select(SlotInvitation).where(SlotInvitation.id == invitation_id).with_for_update()
            )
        ).first()

    async def pick_in(self, session: AsyncSession, invitation_id: int, slot_id: int, *, via: str) -> Pick:
        """Book (or move to) ``slot_id`` in the caller's transaction."""
        now = self.now()
        invitation = await self._locked(session, invitation_id)
        if invitation is None:
            return Pick("unknown")
        zone, language = invitation.time_zone, invitation.language
        current = await session.get(InterviewSlot, invitation.slot_id) if invitation.slot_id else None
        if invitation.state == "booked" and current is not None:
            if current.id == slot_id:
                return Pick("unchanged", local_time(current.starts_at, zone, language))
            if current.starts_at - self.cutoff <= now:
                return Pick("too_late", local_time(current.starts_at, zone, language))
            # a move takes two slots' row locks: always in id order, so that two candidates
            # swapping their slots at once wait for each other instead of deadlocking
            await session.exec(
                select(InterviewSlot.id)
                .where(col(InterviewSlot.id).in_([current.id, slot_id]))
                .order_by(col(InterviewSlot.id))
                .with_for_update()
            )
        taken = await session.exec(
            update(InterviewSlot)
            .where(
                col(InterviewSlot.id) == slot_id,
                col(InterviewSlot.role) == invitation.role,
                col(InterviewSlot.booked) < col(InterviewSlot.capacity),
                col(InterviewSlot.starts_at) > now + self.cutoff,
            )
            .values(booked=col(InterviewSlot.booked) + 1)
        )
        if taken.rowcount != 1:
            slot = await session.get(InterviewSlot, slot_id)
            if slot is None or slot.role != invitation.role:
                return Pick("unknown")
            label = local_time(slot.starts_at, zone, language)
            return Pick("too_late" if slot.starts_at <= now + self.cutoff else "full", label)
        moved = invitation.state == "booked" and current is not None
        if moved and current is not None:
            await self._release(session, current.id or 0)
        slot = await session.get(InterviewSlot, slot_id)
        assert slot is not None
        await session.refresh(slot)
        invitation.state = "booked"
        invitation.slot_id = slot_id
        invitation.changes += 1
        invitation.booked_at = now
        session.add(invitation)
        await self._confirm(session, invitation, slot, via=via, cancelled=False)
        await repo.audit(
            session,
            "slot.rescheduled" if moved else "slot.booked",
            candidate_id=invitation.candidate_id,
            interview_id=invitation.interview_id,
            slot_id=slot_id,
            via=via,
        )
        return Pick(
            "rescheduled" if moved else "booked",
            local_time(slot.starts_at, zone, language),
            local_time(slot.starts_at - self.cutoff, zone, language),
        )

    async def cancel_in(self, session: AsyncSession, invitation_id: int, *, via: str) -> Pick:
        now = self.now()
        invitation = await self._locked(session, invitation_id)
        if invitation is None:
            return Pick("unknown")
        current = await session.get(InterviewSlot, invitation.slot_id) if invitation.slot_id else None
        if invitation.state != "booked" or current is None:
            return Pick("none")
        label = local_time(current.starts_at, invitation.time_zone, invitation.language)
        if current.starts_at - self.cutoff <= now:
            return Pick("too_late", label)
        await self._release(session, current.id or 0)
        invitation.state = "cancelled"
        invitation.changes += 1
        session.add(invitation)
        await self._confirm(session, invitation, current, via=via, cancelled=True)
        await repo.audit(
            session,
            "slot.cancelled",
            candidate_id=invitation.candidate_id,
            interview_id=invitation.interview_id,
            slot_id=current.id,
            via=via,
        )
        return Pick("cancelled", label)

    async def _release(self, session: AsyncSession, slot_id: int) -> None:
        await session.exec(
            update(InterviewSlot)
            .where(col(InterviewSlot.id) == slot_id, col(InterviewSlot.booked) > 0)
            .values(booked=col(InterviewSlot.booked) - 1)
        )

    async def invitation_for_candidate(
        self, session: AsyncSession, candidate_id: int
    ) -> SlotInvitation | None:
        """The candidate's latest slot invitation (the chat's ``/slot`` acts on it)."""
        return (
            await session.exec(
                select(SlotInvitation)
                .where(SlotInvitation.candidate_id == candidate_id)
                .order_by(col(SlotInvitation.id).desc())
            )
        ).first()

    async def chat_command(self, session: AsyncSession, candidate_id: int, args: Sequence[str]) -> Pick:
        """``/slot N`` picks (or moves to) slot N; ``/slot cancel`` cancels; in the caller's
        transaction (the conversation's step)."""
        invitation = await self.invitation_for_candidate(session, candidate_id)
        if invitation is None or invitation.id is None:
            return Pick("none")
        word = args[0].lower() if args else ""
        if word in {"cancel", "取消"}:
            return await self.cancel_in(session, invitation.id, via="chat")
        if not word.isdigit() or len(word) > 12:
            return Pick("unknown")
        return await self.pick_in(session, invitation.id, int(word), via="chat")

    # --- messages ----------------------------------------------------------------------------------

    async def _route(
        self, session: AsyncSession, invitation: SlotInvitation, contact: Contact, *, chat: bool = True
    ) -> tuple[str, str, int | None] | None:
        """Where a message to this candidate goes: (outbox channel, recipient, identity id)."""
        available = set(self.campaigns.channels())
        if chat:
            identities = (
                await session.exec(
                    select(ChannelIdentity)
                    .where(ChannelIdentity.candidate_id == invitation.candidate_id)
                    .order_by(col(ChannelIdentity.last_seen_at).desc())
                )
            ).all()
            for identity in identities:
                if identity.channel in available and identity.channel in ("telegram", "wechat"):
                    return identity.channel, identity.external_id, identity.id
        if invitation.member_id is None:
            return None
        for channel, value in (("email", contact.email), ("sms", contact.phone)):
            if value and channel in available:
                return channel, contact_recipient(invitation.member_id), None
        if contact.wechat_openid and "wechat" in available:
            return "wechat_contact", contact_recipient(invitation.member_id), None
        return None

    async def _contact(
        self, session: AsyncSession, invitation: SlotInvitation
    ) -> tuple[Contact, dict[str, Any]]:
        """The candidate's sealed contact data and their campaign's template edits."""
        if invitation.member_id is None:
            return Contact(), {}
        member = await session.get(CampaignCandidate, invitation.member_id)
        if member is None:
            return Contact(), {}
        campaign = await session.get(Campaign, member.campaign_id)
        return unseal(self.campaigns.cipher, member.contact), (campaign.templates if campaign else {})

    async def _opted_out(self, session: AsyncSession, invitation: SlotInvitation, contact: Contact) -> bool:
        if invitation.member_id is not None:
            member = await session.get(CampaignCandidate, invitation.member_id)
            if member is not None and member.opted_out_at is not None:
                return True
        key = self.campaigns.id_key
        keys = address_keys(key, contact) + [
            identity_key(key, i.channel, i.external_id)
            for i in (
                await session.exec(
                    select(ChannelIdentity).where(ChannelIdentity.candidate_id == invitation.candidate_id)
                )
            ).all()
        ]
        if not keys:
            return False
        return (await session.exec(select(OptOut.id).where(col(OptOut.key).in_(keys)))).first() is not None

    def _values(self, invitation: SlotInvitation, slot: InterviewSlot | None, **extra: Any) -> dict[str, Any]:
        titles = self.campaigns.roles().get(invitation.role, {})
        zone, language = invitation.time_zone, invitation.language
        values: dict[str, Any] = {
            "role": titles.get(language) or titles.get("en") or invitation.role,
            "link": self.link(invitation.id or 0),
            "telegram_link": "",
            "expires": "",
            "unsubscribe": self.campaigns.unsubscribe_link(invitation.member_id)
            if invitation.member_id
            else "",
            "reminder": "",
            "slots": [],
            "slot": local_time(slot.starts_at, zone, language) if slot else "",
            "location": slot.location if slot else "",
            "cutoff": local_time(slot.starts_at - self.cutoff, zone, language) if slot else "",
            "cancelled": False,
        }
        values.update(extra)
        return values

    def _payload(
        self, kind: str, invitation: SlotInvitation, values: dict[str, Any], edits: dict[str, Any]
    ) -> dict[str, Any]:
        rendered = self.campaigns.templates.render(kind, invitation.language, values, edits)
        return {
            "text": rendered.text,
            "subject": rendered.subject,
            "html": rendered.html,
            "unsubscribe": values["unsubscribe"] or None,
            "slot_invitation_id": invitation.id,
        }

    async def _confirm(
        self,
        session: AsyncSession,
        invitation: SlotInvitation,
        slot: InterviewSlot,
        *,
        via: str,
        cancelled: bool,
    ) -> None:
        """Confirm a booking or a cancellation: by email with the calendar file when an address is
        known; otherwise, for a change made on the page, on the candidate's chat or by SMS (a change
        made in the chat is confirmed by the chat's own reply)."""
        contact, edits = await self._contact(session, invitation)
        values = self._values(invitation, slot, cancelled=cancelled)
        payload = self._payload("slot_confirmation", invitation, values, edits)
        email = contact.email and "email" in set(self.campaigns.channels())
        if email and invitation.member_id is not None:
            route: tuple[str, str, int | None] | None = (
                "email",
                contact_recipient(invitation.member_id),
                None,
            )
            payload["ics"] = calendar(
                invitation.id or 0,
                invitation.changes,
                slot,
                summary=f"{values['role']}: interview",
                description=values["link"],
                cancelled=cancelled,
                now=self.now(),
            )
            payload["ics_method"] = "CANCEL" if cancelled else "REQUEST"
        elif via == "chat":
            return
        else:
            route = await self._route(session, invitation, contact)
        if route is None:
            return
        channel, recipient, identity_id = route
        await enqueue(
            session,
            channel=channel,
            recipient=recipient,
            kind="slot_confirmation",
            payload=payload,
            idempotency_key=f"slot:{invitation.id}:confirmation:{invitation.changes}",
            ordering_key=ordering_key(invitation.id or 0),
            not_before=self.now(),
            identity_id=identity_id,
            candidate_id=invitation.candidate_id,
        )

    # --- the scheduler's round ---------------------------------------------------------------------

    async def run_due(self) -> dict[str, int]:
        """Queue the slot invitations and reminders due now; returns how many of each."""
        now = self.now()
        window = Window(minutes(self.settings.send_from), minutes(self.settings.send_until))
        queued: dict[str, int] = {}
        async with self.db.read() as session:
            ids = list(
                (
                    await session.exec(
                        select(SlotInvitation.id)
                        .where(col(SlotInvitation.state).in_(["invited", "booked"]))
                        .order_by(col(SlotInvitation.id))
                    )
                ).all()
            )
        for invitation_id in ids:
            if invitation_id is None:
                continue
            async with self.db.write() as session:
                invitation = (
                    await session.exec(
                        select(SlotInvitation)
                        .where(SlotInvitation.id == invitation_id)
                        .with_for_update(skip_locked=True)
                    )
                ).first()
                if invitation is None:
                    continue
                slot = await session.get(InterviewSlot, invitation.slot_id) if invitation.slot_id else None
                offered = await self._open_slots(session, invitation.role, now, self.settings.shown)
                facts = RoundFacts(
                    time_zone=invitation.time_zone,
                    state=invitation.state,
                    invited_at=invitation.invited_at,
                    open_slots=bool(offered),
                    slot_starts_at=slot.starts_at if slot else None,
                    changes=invitation.changes,
                    reminded=invitation.reminded,
                )
                due = plan_round(facts, now, window, self.settings.reminder_hours)
                if due is None:
                    continue
                contact, edits = await self._contact(session, invitation)
                if await self._opted_out(session, invitation, contact):
                    continue
                route = await self._route(session, invitation, contact)
                if route is None:
                    queued["unreachable"] = queued.get("unreachable", 0) + 1
                    continue
                channel, recipient, identity_id = route
                if due == "invitation":
                    zone, language = invitation.time_zone, invitation.language
                    labels = [local_time(s.starts_at, zone, language) for s in offered]
                    payload = self._payload(
                        "slot_invitation", invitation, self._values(invitation, None, slots=labels), edits
                    )
                    if identity_id is not None:
                        payload["buttons"] = [
                            {"title": label, "payload": f"/slot {s.id}"}
                            for label, s in zip(labels, offered, strict=True)
                        ]
                    invitation.invited_at = now
                    key, expires = f"slot:{invitation.id}:invitation", None
                else:
                    assert slot is not None
                    payload = self._payload(
                        "slot_reminder", invitation, self._values(invitation, slot), edits
                    )
                    invitation.reminded = invitation.changes
                    key, expires = f"slot:{invitation.id}:reminder:{invitation.changes}", slot.starts_at
                session.add(invitation)
                await enqueue(
                    session,
                    channel=channel,
                    recipient=recipient,
                    kind=f"slot_{due}",
                    payload=payload,
                    idempotency_key=key,
                    ordering_key=ordering_key(invitation.id or 0),
                    not_before=now,
                    expires_at=expires,
                    identity_id=identity_id,
                    candidate_id=invitation.candidate_id,
                )
                queued[due] = queued.get(due, 0) + 1
        return queued


def ordering_key(invitation_id: int) -> str:
    return f"slot-invitation:{invitation_id}"
