"""What to send to whom, and when: plain functions of the time, so tests drive them with a clock.

The scheduler (`bot.campaigns.service.CampaignService.run_due`) reads each campaign candidate's
facts, asks `plan` what is due at ``now``, and queues it in the outbox under an idempotency key
that names the candidate and the message (``campaign:<id>:invitation``), so a message is queued
once whoever asks and however often.

Rules
    The invitation goes out at the first moment inside the send window (the candidate's local
    time). Reminders, each at most once: ``not_started`` (``hours`` after the invitation, while the
    link is unused), ``before_expiry`` (``hours`` before the invitation expires, until the
    interview is completed) and ``paused`` (``hours`` after an unfinished interview's last
    activity). A reminder due outside the window waits for the window to open, and is dropped when
    the invitation has expired by then. At most one message per candidate per round: what is due
    first goes first. A candidate who opted out, finished, withdrew or declined gets nothing more,
    except the one ``confirmation`` after a completed interview.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

ReminderKind = Literal["not_started", "before_expiry", "paused"]
REMINDER_KINDS: tuple[ReminderKind, ...] = ("not_started", "before_expiry", "paused")
FINISHED_STATES = frozenset({"done", "withdrawn", "declined"})


@dataclass(frozen=True)
class Window:
    """The send window: ``start`` and ``end`` are minutes after local midnight (end exclusive;
    an end before the start wraps past midnight)."""

    start: int
    end: int

    def contains(self, now: datetime, time_zone: str) -> bool:
        local = now.astimezone(ZoneInfo(time_zone))
        minute = local.hour * 60 + local.minute
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def next_open(self, now: datetime, time_zone: str) -> datetime:
        """``now`` if the window is open, else when it next opens (aware UTC)."""
        if self.contains(now, time_zone):
            return now
        zone = ZoneInfo(time_zone)
        local = now.astimezone(zone)
        opening = time(self.start // 60, self.start % 60)
        for days in range(3):
            day = (local + timedelta(days=days)).date()
            candidate = datetime.combine(day, opening, tzinfo=zone)
            if candidate > local:
                return candidate.astimezone(now.tzinfo)
        raise AssertionError("a daily window opens within two days")


@dataclass(frozen=True)
class Reminder:
    kind: ReminderKind
    hours: float


@dataclass(frozen=True)
class Facts:
    """What the scheduler knows of one campaign candidate at ``now``."""

    time_zone: str
    invited_at: datetime | None
    expires_at: datetime | None
    started: bool
    """The invitation's link was used (an interview exists)."""
    interview_state: str | None
    last_activity: datetime | None
    """The interview's last change (its ``updated_at``)."""
    reminded: frozenset[str]
    opted_out: bool


@dataclass(frozen=True)
class Due:
    """One message to queue now: ``kind`` is ``invitation``, ``reminder`` or ``confirmation``;
    ``name`` is unique per candidate (``invitation``, ``reminder:paused`` ...)."""

    kind: Literal["invitation", "reminder", "confirmation"]
    name: str


def plan(
    facts: Facts,
    now: datetime,
    window: Window,
    reminders: Sequence[Reminder],
    *,
    confirm: bool = True,
) -> Due | None:
    """The message due for this candidate at ``now``, or None."""
    if facts.opted_out:
        return None
    if facts.interview_state == "done":
        if confirm and "confirmation" not in facts.reminded:
            return Due("confirmation", "confirmation")  # sent at once: the candidate just finished
        return None
    if facts.interview_state in FINISHED_STATES:
        return None
    if not window.contains(now, facts.time_zone):
        return None
    if facts.invited_at is None and not facts.started:
        return Due("invitation", "invitation")  # (a candidate who came by the poster's QR code needs none)
    if facts.expires_at is not None and now >= facts.expires_at:
        return None
    due: list[tuple[datetime, str]] = []
    for reminder in reminders:
        name = f"reminder:{reminder.kind}"
        if name in facts.reminded:
            continue
        at = _due_at(reminder, facts)
        if at is not None and at <= now:
            due.append((at, name))
    if not due:
        return None
    return Due("reminder", min(due)[1])


def _due_at(reminder: Reminder, facts: Facts) -> datetime | None:
    hours = timedelta(hours=reminder.hours)
    if reminder.kind == "not_started":
        return None if facts.started or facts.invited_at is None else facts.invited_at + hours
    if reminder.kind == "before_expiry":
        return None if facts.expires_at is None else facts.expires_at - hours
    # paused: an interview under way that has not moved for ``hours``
    if not facts.started or facts.last_activity is None:
        return None
    return facts.last_activity + hours


def choose_channel(preference: Sequence[str], reachable: Sequence[str]) -> str | None:
    """The first channel of the campaign's preference that reaches the candidate."""
    return next((channel for channel in preference if channel in reachable), None)


@dataclass(frozen=True)
class RoundFacts:
    """What the scheduler knows of one next-round slot invitation at ``now``."""

    time_zone: str
    state: str
    """``invited``, ``booked`` or ``cancelled``."""
    invited_at: datetime | None
    open_slots: bool
    """Some slot of the role can still be booked."""
    slot_starts_at: datetime | None
    changes: int
    reminded: int | None


def plan_round(
    facts: RoundFacts, now: datetime, window: Window, reminder_hours: float
) -> Literal["invitation", "reminder"] | None:
    """The next-round message due at ``now``: the invitation once a slot is open, and one reminder
    ``reminder_hours`` before the booked slot; both inside the send window, the reminder only
    before the slot starts (a reminder held back by quiet hours past the start is dropped)."""
    if not window.contains(now, facts.time_zone):
        return None
    if facts.state == "invited" and facts.invited_at is None:
        return "invitation" if facts.open_slots else None
    if facts.state == "booked" and facts.slot_starts_at is not None and facts.reminded != facts.changes:
        due = facts.slot_starts_at - timedelta(hours=reminder_hours)
        if due <= now < facts.slot_starts_at:
            return "reminder"
    return None
