"""The campaign API's typed bodies (also what the CLI builds)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.campaigns.schedule import REMINDER_KINDS

Channel = Literal["telegram", "wechat", "email", "sms"]
CHANNELS: tuple[Channel, ...] = ("telegram", "wechat", "email", "sms")


def _all_channels() -> list[Channel]:
    return list(CHANNELS)


_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def minutes(value: str) -> int:
    match = _CLOCK.match(value)
    if match is None:
        raise ValueError("use HH:MM, e.g. 09:00")
    return int(match.group(1)) * 60 + int(match.group(2))


def clock(value: int) -> str:
    return f"{value // 60:02d}:{value % 60:02d}"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReminderIn(_Body):
    kind: Literal["not_started", "before_expiry", "paused"]
    hours: float = Field(gt=0, le=24 * 60)


DEFAULT_REMINDERS = [
    ReminderIn(kind="not_started", hours=24),
    ReminderIn(kind="before_expiry", hours=2),
    ReminderIn(kind="paused", hours=24),
]


class CampaignCreate(_Body):
    name: str = Field(min_length=1, max_length=128)
    role: str = Field(min_length=1, max_length=64)
    mode: Literal["interview", "practice"] = "interview"
    window_start: str = "09:00"
    window_end: str = "20:00"
    """The send window in each candidate's local time (HH:MM; end before start wraps midnight)."""
    expires_hours: int = Field(14 * 24, ge=1, le=365 * 24)
    reminders: list[ReminderIn] = Field(default_factory=lambda: list(DEFAULT_REMINDERS), max_length=10)
    channels: list[Channel] = Field(default_factory=_all_channels, min_length=1)
    next_campaign_id: int | None = None
    auto_next_round: bool = False
    keep_contacts_days: int = Field(30, ge=0, le=3650)
    ends_at: datetime | None = None

    @field_validator("window_start", "window_end")
    @classmethod
    def _clock(cls, value: str) -> str:
        minutes(value)
        return value

    @field_validator("ends_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-12-31T18:00:00+08:00")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> CampaignCreate:
        kinds = [r.kind for r in self.reminders]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"one reminder per kind ({', '.join(REMINDER_KINDS)})")
        if self.auto_next_round and self.next_campaign_id is None:
            raise ValueError("auto_next_round needs next_campaign_id")
        return self


class CampaignPublic(BaseModel):
    id: int
    name: str
    role: str
    mode: str
    state: str
    window_start: str
    window_end: str
    expires_hours: int
    reminders: list[dict[str, Any]]
    channels: list[str]
    next_campaign_id: int | None
    auto_next_round: bool
    keep_contacts_days: int
    ends_at: datetime | None
    created_at: datetime


class CandidateIn(_Body):
    external_id: str = Field(min_length=1, max_length=200)
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=32)
    wechat_openid: str | None = Field(None, max_length=64)
    language: Literal["en", "zh"] = "en"
    time_zone: str = Field("UTC", max_length=64)


class AddedCandidate(BaseModel):
    id: int
    row: int
    """1-based position in the request (or the CSV's line number)."""
    link: str
    telegram_link: str | None
    new: bool


class Problem(BaseModel):
    row: int
    field: str
    message: str


class AddReport(BaseModel):
    added: int
    known: int
    candidates: list[AddedCandidate]
    problems: list[Problem]


class TemplateIn(_Body):
    subject: str | None = Field(None, max_length=1000)
    text: str | None = Field(None, max_length=20_000)
    html: str | None = Field(None, max_length=20_000)


class TemplateOut(BaseModel):
    kind: str
    language: str
    subject: str
    text: str
    html: str
    edited: bool


class Preview(BaseModel):
    subject: str
    text: str
    html: str
