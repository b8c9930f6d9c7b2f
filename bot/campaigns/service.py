"""Campaigns: create, add candidates, send what is due, opt out, erase, purge, next round.

Scheduling is a due-job query, not APScheduler: the leader (`bot.leader`) calls `run_due` every
``campaigns.tick_seconds``, and `run_due` asks `bot.campaigns.schedule.plan` what each candidate
is due at that moment. Everything it decides from is in the campaign tables, so nothing needs
persisting elsewhere to survive a restart, and there is one job whatever the number of candidates
(APScheduler would hold a job per reminder per candidate, in a synchronous job store beside ours).
Each message is queued in the outbox under an idempotency key (``campaign:<candidate>:<name>``),
in the same transaction as the candidate's updated state; candidates being planned are row-locked
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two schedulers at once (a leader's lapse) still queue
each message once.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hmac
import io
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import segno
from cryptography.fernet import MultiFernet
from pydantic import ValidationError
from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.campaigns.contacts import (
    Contact,
    ContactError,
    ContactKeyError,
    address_keys,
    check_time_zone,
    clean_contact,
    contact_cipher,
    external_key,
    identity_key,
    keyed_hash,
    seal,
    unseal,
)
from bot.campaigns.delivery import contact_recipient
from bot.campaigns.optout import record_opt_out, stop_members
from bot.campaigns.schedule import Due, Facts, Reminder, Window, choose_channel, plan
from bot.campaigns.schemas import (
    AddedCandidate,
    AddReport,
    CampaignCreate,
    CampaignPublic,
    CandidateIn,
    Problem,
    clock,
    minutes,
)
from bot.campaigns.slots import NextRounds
from bot.campaigns.templates import Templates
from bot.leader import cancelling
from bot.outbox import enqueue
from bot.settings import CampaignSettings
from bot.store import repo
from bot.store.db import Database
from bot.store.models import (
    Campaign,
    CampaignCandidate,
    ChannelIdentity,
    Interview,
    Invitation,
    OptOut,
    OutboxRow,
    utcnow,
)

log = logging.getLogger(__name__)

MAX_CANDIDATES_PER_REQUEST = 10_000
CAMPAIGN_CHANNELS = ("email", "sms", "wechat_contact")
"""Outbox channels whose rows name a campaign contact (``contact:<id>``)."""


class CampaignError(Exception):
    """A request that cannot be done; ``status`` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class TickReport:
    """What one `run_due` round queued."""

    queued: dict[str, int] = field(default_factory=dict)
    unreachable: int = 0
    opted_out: int = 0

    def count(self, kind: str) -> None:
        self.queued[kind] = self.queued.get(kind, 0) + 1


def public(campaign: Campaign) -> CampaignPublic:
    return CampaignPublic(
        id=campaign.id or 0,
        name=campaign.name,
        role=campaign.role,
        mode=campaign.mode,
        state=campaign.state,
        window_start=clock(campaign.window_start),
        window_end=clock(campaign.window_end),
        expires_hours=campaign.expires_hours,
        reminders=campaign.reminders,
        channels=campaign.channels,
        next_campaign_id=campaign.next_campaign_id,
        auto_next_round=campaign.auto_next_round,
        keep_contacts_days=campaign.keep_contacts_days,
        ends_at=campaign.ends_at,
        created_at=campaign.created_at,
    )


class CampaignService:
    """Campaigns of one installation.

    Args:
        db: the application database.
        settings: ``campaigns`` settings (public URL, Telegram bot, tick).
        id_key: the key of the keyed hashes (``INTERVIEWER_ID_KEY``).
        templates: the default message templates.
        roles: the published roles' titles by language (``{role: {"en": ..., "zh": ...}}``).
        clock: the time (injected in tests).
        cipher: the contact cipher; by default from ``INTERVIEWER_CONTACT_KEY`` when first needed.
    """

    def __init__(
        self,
        db: Database,
        settings: CampaignSettings,
        *,
        id_key: bytes,
        templates: Templates,
        roles: Callable[[], dict[str, dict[str, str]]],
        clock: Callable[[], datetime] = utcnow,
        cipher: MultiFernet | None = None,
        channels: Callable[[], Sequence[str]] = lambda: ("telegram", "wechat", "email", "sms"),
    ) -> None:
        self.db = db
        self.settings = settings
        self.id_key = id_key
        self.templates = templates
        self.roles = roles
        self.clock = clock
        self._cipher = cipher
        self.channels = channels
        """The channels this installation can deliver on (those with an outbox sender)."""
        self._wake = asyncio.Event()
        self.rounds = NextRounds(self)
        """The next round: interview slots, slot invitations, bookings (`bot.campaigns.slots`)."""

    def require_key(self) -> None:
        """Raise `ContactKeyError` now if there is no contact key (before anything changes)."""
        assert self.cipher is not None

    @property
    def cipher(self) -> MultiFernet:
        """Raises `ContactKeyError` (a clear message) when ``INTERVIEWER_CONTACT_KEY`` is not set."""
        if self._cipher is None:
            self._cipher = contact_cipher()
        return self._cipher

    # --- campaigns ---------------------------------------------------------------------------------

    async def create(self, spec: CampaignCreate) -> Campaign:
        if spec.role not in self.roles():
            known = ", ".join(sorted(self.roles())) or "none published"
            raise CampaignError(422, f"role: unknown role {spec.role!r} (published: {known})")
        async with self.db.write() as session:
            if (
                spec.next_campaign_id is not None
                and await session.get(Campaign, spec.next_campaign_id) is None
            ):
                raise CampaignError(422, f"next_campaign_id: no campaign {spec.next_campaign_id}")
            campaign = Campaign(
                name=spec.name,
                role=spec.role,
                mode=spec.mode,
                window_start=minutes(spec.window_start),
                window_end=minutes(spec.window_end),
                expires_hours=spec.expires_hours,
                reminders=[r.model_dump() for r in spec.reminders],
                channels=list(spec.channels),
                next_campaign_id=spec.next_campaign_id,
                auto_next_round=spec.auto_next_round,
                keep_contacts_days=spec.keep_contacts_days,
                ends_at=spec.ends_at,
                created_at=self.clock(),
            )
            session.add(campaign)
            await session.flush()
            await repo.audit(session, "campaign.created", campaign_id=campaign.id, role=spec.role)
        return campaign

    async def get(self, campaign_id: int, session: AsyncSession | None = None) -> Campaign:
        if session is None:
            async with self.db.read() as reading:
                return await self.get(campaign_id, reading)
        campaign = await session.get(Campaign, campaign_id)
        if campaign is None:
            raise CampaignError(404, f"no campaign {campaign_id}")
        return campaign

    async def campaigns(self) -> list[Campaign]:
        async with self.db.read() as session:
            return list((await session.exec(select(Campaign).order_by(col(Campaign.id)))).all())

    async def set_state(self, campaign_id: int, state: str) -> Campaign:
        async with self.db.write() as session:
            campaign = await self.get(campaign_id, session)
            if campaign.state == "ended":
                raise CampaignError(409, f"campaign {campaign_id} has ended")
            campaign.state = state
            if state == "ended":
                campaign.ends_at = min(campaign.ends_at or self.clock(), self.clock())
            session.add(campaign)
        self.wake()
        return campaign

    async def set_templates(self, campaign_id: int, templates: dict[str, Any]) -> Campaign:
        async with self.db.write() as session:
            campaign = await self.get(campaign_id, session)
            campaign.templates = templates
            session.add(campaign)
        return campaign

    # --- candidates --------------------------------------------------------------------------------

    async def add(
        self, campaign_id: int, candidates: Sequence[CandidateIn], *, rows: Sequence[int] | None = None
    ) -> AddReport:
        """Add candidates (a candidate already in the campaign, by external id, is reported, not
        added again). Each gets a single-use invitation; the scheduler sends it in the window."""
        if len(candidates) > MAX_CANDIDATES_PER_REQUEST:
            raise CampaignError(413, f"at most {MAX_CANDIDATES_PER_REQUEST} candidates per request")
        self.require_key()
        numbers = list(rows) if rows is not None else list(range(1, len(candidates) + 1))
        report = AddReport(added=0, known=0, candidates=[], problems=[])
        now = self.clock()
        async with self.db.write() as session:
            campaign = await self.get(campaign_id, session)
            if campaign.state == "ended":
                raise CampaignError(409, f"campaign {campaign_id} has ended")
            for number, item in zip(numbers, candidates, strict=True):
                try:
                    contact = clean_contact(item.email, item.phone, item.wechat_openid)
                    check_time_zone(item.time_zone)
                except ContactError as exc:
                    name, _, message = str(exc).partition(": ")
                    report.problems.append(Problem(row=number, field=name, message=message))
                    continue
                member, token, new = await self._add_one(
                    session,
                    campaign,
                    external_key(self.id_key, item.external_id),
                    contact,
                    now,
                    language=item.language,
                    time_zone=item.time_zone,
                )
                if new:
                    report.added += 1
                else:
                    report.known += 1
                report.candidates.append(
                    AddedCandidate(
                        id=member.id or 0,
                        row=number,
                        link=self.web_link(token),
                        telegram_link=self.telegram_link(token),
                        new=new,
                    )
                )
            await repo.audit(
                session, "campaign.candidates_added", campaign_id=campaign_id, added=report.added
            )
        self.wake()
        return report

    async def _add_one(
        self,
        session: AsyncSession,
        campaign: Campaign,
        key: str,
        contact: Contact,
        now: datetime,
        *,
        language: str,
        time_zone: str,
        candidate_id: int | None = None,
        source_interview_id: int | None = None,
    ) -> tuple[CampaignCandidate, str, bool]:
        existing = (
            await session.exec(
                select(CampaignCandidate).where(
                    CampaignCandidate.campaign_id == campaign.id, CampaignCandidate.external_key == key
                )
            )
        ).first()
        if existing is not None:
            return existing, unseal(self.cipher, existing.contact).token or "", False
        token = secrets.token_urlsafe(18)
        invitation = Invitation(
            token_hash=repo.token_hash(token),
            role=campaign.role,
            mode=campaign.mode,
            created_at=now,
            expires_at=self._expiry(campaign, now),
        )
        session.add(invitation)
        await session.flush()
        contact = Contact(contact.email, contact.phone, contact.wechat_openid, token)
        member = CampaignCandidate(
            campaign_id=campaign.id or 0,
            external_key=key,
            contact=seal(self.cipher, contact),
            reachable=contact.reachable(),
            language=language,
            time_zone=time_zone,
            invitation_id=invitation.id,
            candidate_id=candidate_id,
            source_interview_id=source_interview_id,
            created_at=now,
        )
        session.add(member)
        await session.flush()
        return member, token, True

    async def add_csv(self, campaign_id: int, text: str) -> AddReport:
        """Add candidates from CSV: a header row with ``external_id`` and any of ``email``,
        ``phone``, ``wechat_openid``, ``language``, ``time_zone``; problems name the line."""
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), strict=True)
        try:
            reader.fieldnames  # noqa: B018 (reads the header line)
        except csv.Error as exc:
            raise CampaignError(422, f"CSV line 1: {exc}") from exc
        if reader.fieldnames is None or "external_id" not in reader.fieldnames:
            raise CampaignError(422, "CSV line 1: a header with external_id is required")
        known = set(CandidateIn.model_fields)
        unknown = [name for name in reader.fieldnames if name not in known]
        if unknown:
            raise CampaignError(
                422, f"CSV line 1: unknown column(s) {', '.join(unknown)} (use {', '.join(sorted(known))})"
            )
        items: list[CandidateIn] = []
        numbers: list[int] = []
        problems: list[Problem] = []
        try:
            parsed = [(reader.line_num, row) for row in reader]
        except csv.Error as exc:
            raise CampaignError(422, f"CSV line {reader.line_num}: {exc}") from exc
        for number, row in parsed:
            values = {k: v for k, v in row.items() if k is not None and v not in (None, "")}
            try:
                items.append(CandidateIn(**values))
                numbers.append(number)
            except ValidationError as exc:
                error = exc.errors()[0]
                problems.append(
                    Problem(row=number, field=".".join(str(p) for p in error["loc"]), message=error["msg"])
                )
        report = await self.add(campaign_id, items, rows=numbers)
        report.problems = sorted(problems + report.problems, key=lambda p: p.row)
        return report

    async def member(self, campaign_id: int, member_id: int, session: AsyncSession) -> CampaignCandidate:
        member = await session.get(CampaignCandidate, member_id)
        if member is None or member.campaign_id != campaign_id:
            raise CampaignError(404, f"no candidate {member_id} in campaign {campaign_id}")
        return member

    async def contact(self, member_id: int) -> Contact:
        """The sealed contact data of a campaign candidate (empty once erased or purged)."""
        async with self.db.read() as session:
            member = await session.get(CampaignCandidate, member_id)
        return unseal(self.cipher, member.contact if member is not None else None)

    async def qr_svg(self, campaign_id: int, member_id: int, *, telegram: bool = False) -> str:
        """An SVG QR code of the invitation's link (for WeChat and posters)."""
        async with self.db.read() as session:
            member = await self.member(campaign_id, member_id, session)
        token = unseal(self.cipher, member.contact).token
        if not token:
            raise CampaignError(410, "the invitation's data was erased or purged")
        link = self.telegram_link(token) if telegram else self.web_link(token)
        if link is None:
            raise CampaignError(409, "no Telegram bot configured (campaigns.telegram_bot)")
        buffer = io.BytesIO()
        segno.make(link, error="m").save(buffer, kind="svg", scale=4, xmldecl=False)
        return buffer.getvalue().decode("utf-8")

    async def erase_member(self, campaign_id: int, member_id: int) -> None:
        """Erase a campaign candidate on request: their contact data, external id hash and queued
        messages (and, once they started, the rest of them through `repo.erase_candidate`)."""
        async with self.db.write() as session:
            member = await self.member(campaign_id, member_id, session)
            if member.candidate_id is not None:
                await repo.erase_candidate(session, member.candidate_id, keep_message_id=None)
            else:
                await repo.erase_campaign_candidates(session, [member_id])
        await self.db.scrub()

    # --- links -------------------------------------------------------------------------------------

    def web_link(self, token: str) -> str:
        return f"{self.settings.public_url.rstrip('/')}/chat?invite={token}"

    def telegram_link(self, token: str) -> str | None:
        bot = self.settings.telegram_bot.lstrip("@")
        return f"https://t.me/{bot}?start={token}" if bot else None

    def unsubscribe_token(self, member_id: int) -> str:
        digest = keyed_hash(self.id_key, "unsubscribe", str(member_id))[:32]
        return f"{member_id}.{digest}"

    def unsubscribe_link(self, member_id: int) -> str:
        base = self.settings.public_url.rstrip("/")
        return f"{base}/campaigns/unsubscribe/{self.unsubscribe_token(member_id)}"

    # --- opt-out -----------------------------------------------------------------------------------

    async def opt_out_link(self, token: str) -> bool:
        """The unsubscribe page's opt-out; False when the token is not one of ours."""
        number = token.partition(".")[0]
        if not number.isdigit() or not hmac.compare_digest(
            self.unsubscribe_token(int(number)).encode(), token.encode()
        ):
            return False
        async with self.db.write() as session:
            member = await session.get(CampaignCandidate, int(number))
            if member is None:
                return True  # erased since: nothing will be sent anyway
            keys = address_keys(self.id_key, unseal(self.cipher, member.contact))
            if member.candidate_id is not None:
                identities = await session.exec(
                    select(ChannelIdentity).where(ChannelIdentity.candidate_id == member.candidate_id)
                )
                keys += [identity_key(self.id_key, i.channel, i.external_id) for i in identities.all()]
            await record_opt_out(session, keys, "link", now=self.clock())
            await stop_members(session, [member], self.clock())
        return True

    # --- the scheduler -----------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """The leader's job: send what is due every ``tick_seconds`` (or when woken), and purge
        contact data past its time."""
        while True:
            self._wake.clear()
            try:
                report = await self.run_due()
                if report.queued:
                    log.info("campaigns: queued %s", report.queued)
                rounds = await self.rounds.run_due()
                if rounds:
                    log.info("campaigns: next round: queued %s", rounds)
                purged = await self.purge_contacts()
                if purged:
                    log.info("campaigns: purged the contact data of %d candidate(s)", purged)
            except ContactKeyError as exc:  # nothing can be sent until the key is set; say why
                log.error("campaigns: nothing sent: %s", exc)
            except Exception:  # the next round retries (unless the job is being stopped)
                if cancelling():
                    raise
                log.exception("campaigns: a scheduling round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.tick_seconds)

    async def run_due(self, campaign_id: int | None = None) -> TickReport:
        """One round: queue every invitation, reminder and confirmation due now."""
        now = self.clock()
        report = TickReport()
        async with self.db.read() as session:
            statement = select(Campaign).where(Campaign.state == "active")
            if campaign_id is not None:
                statement = statement.where(Campaign.id == campaign_id)
            campaigns = list((await session.exec(statement.order_by(col(Campaign.id)))).all())
        for campaign in campaigns:
            if campaign.ends_at is not None and campaign.ends_at <= now:
                continue
            last = 0
            while True:
                last, more = await self._run_batch(campaign, last, now, report)
                if not more:
                    break
        return report

    async def _run_batch(
        self, campaign: Campaign, after: int, now: datetime, report: TickReport
    ) -> tuple[int, bool]:
        window = Window(campaign.window_start, campaign.window_end)
        reminders = [Reminder(r["kind"], float(r["hours"])) for r in campaign.reminders]
        available = set(self.channels())
        async with self.db.write() as session:
            members = list(
                (
                    await session.exec(
                        select(CampaignCandidate)
                        .where(
                            CampaignCandidate.campaign_id == campaign.id,
                            col(CampaignCandidate.id) > after,
                            col(CampaignCandidate.opted_out_at).is_(None),
                            col(CampaignCandidate.contact).is_not(None),
                        )
                        .order_by(col(CampaignCandidate.id))
                        .limit(self.settings.batch_size)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
            )
            if not members:
                return after, False
            invitation_ids = [m.invitation_id for m in members if m.invitation_id is not None]
            used = dict(
                (
                    await session.exec(
                        select(Invitation.id, Invitation.used_at).where(
                            col(Invitation.id).in_(invitation_ids)
                        )
                    )
                ).all()
            )
            interviews: dict[int, Interview] = {}
            for row in (
                await session.exec(
                    select(Interview)
                    .where(col(Interview.invitation_id).in_(invitation_ids))
                    .order_by(col(Interview.id))
                )
            ).all():
                interviews[row.invitation_id or 0] = row
            candidate_ids = [m.candidate_id for m in members if m.candidate_id is not None]
            identities: dict[int, list[ChannelIdentity]] = {}
            for identity in (
                await session.exec(
                    select(ChannelIdentity)
                    .where(col(ChannelIdentity.candidate_id).in_(candidate_ids))
                    .order_by(col(ChannelIdentity.last_seen_at).desc())
                )
            ).all():
                identities.setdefault(identity.candidate_id, []).append(identity)
            contacts = {m.id: unseal(self.cipher, m.contact) for m in members}
            keys: dict[int, list[str]] = {}
            for m in members:
                keys[m.id or 0] = address_keys(self.id_key, contacts[m.id]) + [
                    identity_key(self.id_key, i.channel, i.external_id)
                    for i in identities.get(m.candidate_id or 0, [])
                ]
            every_key = [k for ks in keys.values() for k in ks]
            opted = set((await session.exec(select(OptOut.key).where(col(OptOut.key).in_(every_key)))).all())
            stopped = []
            for member in members:
                assert member.id is not None
                if opted.intersection(keys[member.id]):
                    stopped.append(member)
                    continue
                interview = interviews.get(member.invitation_id or 0)
                facts = Facts(
                    time_zone=member.time_zone,
                    invited_at=member.invited_at,
                    expires_at=member.expires_at,
                    started=used.get(member.invitation_id) is not None or interview is not None,
                    interview_state=interview.state if interview else None,
                    last_activity=interview.updated_at if interview else None,
                    reminded=frozenset(member.reminded),
                    opted_out=False,
                )
                due = plan(facts, now, window, reminders)
                if due is None:
                    continue
                chats = identities.get(member.candidate_id or 0, [])
                if await self._queue(
                    session, campaign, member, contacts[member.id], chats, due, now, available
                ):
                    report.count(due.name)
                else:
                    report.unreachable += 1
            if stopped:
                report.opted_out += len(stopped)
                await stop_members(session, stopped, now)
        return members[-1].id or 0, len(members) == self.settings.batch_size

    async def _queue(
        self,
        session: AsyncSession,
        campaign: Campaign,
        member: CampaignCandidate,
        contact: Contact,
        chats: list[ChannelIdentity],
        due: Due,
        now: datetime,
        available: set[str],
    ) -> bool:
        assert member.id is not None
        reachable = [c for c in member.reachable if c in available]
        chat_by_channel = {i.channel: i for i in chats if i.channel in available}
        reachable = list(chat_by_channel) + [c for c in reachable if c not in chat_by_channel]
        channel = choose_channel(campaign.channels, reachable)
        if channel is None or not contact.token:
            return False
        identity = chat_by_channel.get(channel)
        if identity is not None:
            outbox_channel, recipient, identity_id = channel, identity.external_id, identity.id
        else:
            outbox_channel = "wechat_contact" if channel == "wechat" else channel
            recipient, identity_id = contact_recipient(member.id), None
        if due.kind == "invitation":
            member.invited_at = now
            member.expires_at = self._expiry(campaign, now)
            await session.exec(
                update(Invitation)
                .where(col(Invitation.id) == member.invitation_id)
                .values(expires_at=member.expires_at)
            )
        else:
            member.reminded = [*member.reminded, due.name]
        session.add(member)
        values = self._values(campaign, member, contact.token, due)
        rendered = self.templates.render(due.kind, member.language, values, campaign.templates)
        buttons = (
            [{"title": "开始" if member.language == "zh" else "Start", "payload": f"/start {contact.token}"}]
            if identity is not None and due.kind != "confirmation"
            else []
        )
        payload: dict[str, Any] = {
            "text": rendered.text,
            "subject": rendered.subject,
            "html": rendered.html,
            "unsubscribe": values["unsubscribe"],
            "campaign_id": campaign.id,
        }
        if buttons:
            payload["buttons"] = buttons
        await enqueue(
            session,
            channel=outbox_channel,
            recipient=recipient,
            kind=due.kind,
            payload=payload,
            idempotency_key=f"campaign:{member.id}:{due.name}",
            ordering_key=repo.campaign_ordering_key(member.id),
            not_before=now,
            expires_at=member.expires_at if due.kind != "confirmation" else None,
            identity_id=identity_id,
            candidate_id=member.candidate_id,
        )
        return True

    def _values(self, campaign: Campaign, member: CampaignCandidate, token: str, due: Due) -> dict[str, Any]:
        titles = self.roles().get(campaign.role, {})
        expires = ""
        if member.expires_at is not None:
            local = member.expires_at.astimezone(ZoneInfo(member.time_zone))
            expires = f"{local:%Y-%m-%d %H:%M} ({member.time_zone})"
        return {
            "role": titles.get(member.language) or titles.get("en") or campaign.role,
            "link": self.web_link(token),
            "telegram_link": self.telegram_link(token) or "",
            "expires": expires,
            "unsubscribe": self.unsubscribe_link(member.id or 0),
            "reminder": due.name.removeprefix("reminder:"),
        }

    def _expiry(self, campaign: Campaign, now: datetime) -> datetime:
        expiry = now + timedelta(hours=campaign.expires_hours)
        return min(expiry, campaign.ends_at) if campaign.ends_at is not None else expiry

    # --- status, purge, next round -----------------------------------------------------------------

    async def status(self, campaign_id: int) -> dict[str, Any]:
        """Counts: candidates, invited, started, completed, opted out, purged, and the outbox's
        rows by kind and delivery state (failed with reasons: ``GET /hr/outbox``)."""
        async with self.db.read() as session:
            campaign = await self.get(campaign_id, session)
            members = select(CampaignCandidate).where(CampaignCandidate.campaign_id == campaign_id)
            total = (await session.exec(select(func.count()).select_from(members.subquery()))).one()
            invited = (
                await session.exec(
                    select(func.count()).where(
                        CampaignCandidate.campaign_id == campaign_id,
                        col(CampaignCandidate.invited_at).is_not(None),
                    )
                )
            ).one()
            opted = (
                await session.exec(
                    select(func.count()).where(
                        CampaignCandidate.campaign_id == campaign_id,
                        col(CampaignCandidate.opted_out_at).is_not(None),
                    )
                )
            ).one()
            states = dict(
                (
                    await session.exec(
                        select(Interview.state, func.count())
                        .join(
                            CampaignCandidate,
                            col(CampaignCandidate.invitation_id) == col(Interview.invitation_id),
                        )
                        .where(CampaignCandidate.campaign_id == campaign_id)
                        .group_by(Interview.state)
                    )
                ).all()
            )
            deliveries = (
                await session.exec(
                    select(OutboxRow.kind, OutboxRow.state, func.count())
                    .where(col(OutboxRow.payload)["campaign_id"].as_integer() == campaign_id)
                    .group_by(OutboxRow.kind, OutboxRow.state)
                )
            ).all()
        delivery: dict[str, dict[str, int]] = {}
        for kind, state, count in deliveries:
            delivery.setdefault(kind, {})[state] = int(count)
        return {
            "campaign": public(campaign).model_dump(mode="json"),
            "candidates": int(total),
            "invited": int(invited),
            "started": int(sum(states.values())),
            "completed": int(states.get("done", 0)),
            "opted_out": int(opted),
            "messages": delivery,
        }

    async def purge_contacts(self) -> int:
        """Delete the contact data of candidates whose campaign ended more than its
        ``keep_contacts_days`` ago; returns how many."""
        now = self.clock()
        async with self.db.write() as session:
            campaigns = (await session.exec(select(Campaign).where(col(Campaign.ends_at).is_not(None)))).all()
            purged = 0
            for campaign in campaigns:
                assert campaign.ends_at is not None
                if campaign.ends_at + timedelta(days=campaign.keep_contacts_days) > now:
                    continue
                found = await session.exec(
                    select(col(CampaignCandidate.id)).where(
                        CampaignCandidate.campaign_id == campaign.id,
                        col(CampaignCandidate.contact).is_not(None),
                    )
                )
                ids = [i for i in found.all() if i is not None]
                if not ids:
                    continue
                await session.exec(
                    update(CampaignCandidate)
                    .where(col(CampaignCandidate.id).in_(ids))
                    .values(contact=None, reachable=[], contact_purged_at=now)
                )
                await repo.delete_campaign_messages(session, ids)
                purged += len(ids)
            if purged:
                await repo.audit(session, "campaign.contacts_purged", candidates=purged)
        if purged:
            await self.db.scrub()
        return purged

    async def on_decision(self, event: dict[str, Any]) -> int | None:
        """``decision.made``: when HR advance a candidate, invite them to the next round: to the
        next campaign's interview when their campaign names one (``auto_next_round``), else to
        pick a time slot of their role (`bot.campaigns.slots`). Either happens once per interview.
        Returns the new campaign candidate's id (None for a slot invitation, or nothing due)."""
        if event.get("decision") != "advance" or not isinstance(event.get("interview_id"), int):
            return None
        following = await self._next_campaign(event)
        if following is None:
            await self.rounds.invite(event["interview_id"])
        return following

    async def _next_campaign(self, event: dict[str, Any]) -> int | None:
        now = self.clock()
        async with self.db.write() as session:
            interview = await session.get(Interview, event["interview_id"])
            if interview is None or interview.invitation_id is None:
                return None
            member = (
                await session.exec(
                    select(CampaignCandidate).where(
                        CampaignCandidate.invitation_id == interview.invitation_id
                    )
                )
            ).first()
            if member is None or member.contact is None:
                return None
            campaign = await session.get(Campaign, member.campaign_id)
            if campaign is None or not campaign.auto_next_round or campaign.next_campaign_id is None:
                return None
            following = await session.get(Campaign, campaign.next_campaign_id)
            if following is None or following.state == "ended":
                return None
            contact = unseal(self.cipher, member.contact)
            added, _, new = await self._add_one(
                session,
                following,
                member.external_key,
                contact,
                now,
                language=member.language,
                time_zone=member.time_zone,
                candidate_id=interview.candidate_id,
                source_interview_id=interview.id,
            )
            if new:
                await repo.audit(
                    session,
                    "campaign.next_round",
                    candidate_id=interview.candidate_id,
                    campaign_id=following.id,
                    from_interview_id=interview.id,
                )
        self.wake()
        return added.id
