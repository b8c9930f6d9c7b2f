"""What is due when: plain functions of the time, driven by a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.campaigns.schedule import Due, Facts, Reminder, Window, choose_channel, plan

WINDOW = Window(9 * 60, 20 * 60)
REMINDERS = [Reminder("not_started", 24), Reminder("before_expiry", 2), Reminder("paused", 24)]


def facts(**changes: object) -> Facts:
    values: dict[str, object] = {
        "time_zone": "Asia/Shanghai",
        "invited_at": None,
        "expires_at": None,
        "started": False,
        "interview_state": None,
        "last_activity": None,
        "reminded": frozenset(),
        "opted_out": False,
    }
    values.update(changes)
    return Facts(**values)  # type: ignore[arg-type]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_the_window_is_the_candidates_local_time() -> None:
    # 02:00 UTC is 10:00 in Shanghai and 21:00 (the evening before) in New York
    now = at("2026-12-03T02:00:00+00:00")
    assert WINDOW.contains(now, "Asia/Shanghai")
    assert not WINDOW.contains(now, "America/New_York")
    assert WINDOW.next_open(now, "America/New_York") == at("2026-12-03T09:00:00-05:00")


def test_the_window_follows_a_daylight_saving_change() -> None:
    # New York moves its clocks forward on 2026-03-08: 13:30 UTC is 08:30 before, 09:30 after
    before, after = at("2026-03-07T13:30:00+00:00"), at("2026-03-09T13:30:00+00:00")
    assert not WINDOW.contains(before, "America/New_York")
    assert WINDOW.contains(after, "America/New_York")
    # the window opens at 09:00 local on the day of the change: 13:00 UTC, no longer 14:00
    assert WINDOW.next_open(at("2026-03-08T06:00:00+00:00"), "America/New_York") == at(
        "2026-03-08T13:00:00+00:00"
    )


def test_a_window_past_midnight_wraps() -> None:
    night = Window(22 * 60, 2 * 60)
    assert night.contains(at("2026-12-03T23:30:00+00:00"), "UTC")
    assert night.contains(at("2026-12-03T01:30:00+00:00"), "UTC")
    assert not night.contains(at("2026-12-03T12:00:00+00:00"), "UTC")


def test_the_invitation_waits_for_the_window() -> None:
    night = at("2026-12-03T15:00:00+00:00")  # 23:00 in Shanghai
    assert plan(facts(), night, WINDOW, REMINDERS) is None
    morning = at("2026-12-04T01:00:00+00:00")  # 09:00 in Shanghai
    assert plan(facts(), morning, WINDOW, REMINDERS) == Due("invitation", "invitation")


def test_reminders_come_once_each_and_stop_when_the_candidate_starts() -> None:
    invited = at("2026-12-03T02:00:00+00:00")
    waiting = facts(invited_at=invited, expires_at=invited + timedelta(days=14))
    assert plan(waiting, invited + timedelta(hours=23), WINDOW, REMINDERS) is None
    assert plan(waiting, invited + timedelta(hours=24), WINDOW, REMINDERS) == Due(
        "reminder", "reminder:not_started"
    )
    reminded = facts(
        invited_at=invited,
        expires_at=invited + timedelta(days=14),
        reminded=frozenset({"reminder:not_started"}),
    )
    assert plan(reminded, invited + timedelta(hours=30), WINDOW, REMINDERS) is None
    started = facts(
        invited_at=invited,
        expires_at=invited + timedelta(days=14),
        started=True,
        interview_state="question",
        last_activity=invited,
    )
    assert plan(started, invited + timedelta(hours=24), WINDOW, REMINDERS) == Due(
        "reminder", "reminder:paused"
    )
    active = facts(
        invited_at=invited,
        expires_at=invited + timedelta(days=14),
        started=True,
        interview_state="question",
        last_activity=invited + timedelta(hours=23),
    )
    assert plan(active, invited + timedelta(hours=24), WINDOW, REMINDERS) is None


def test_a_reminder_in_quiet_hours_moves_to_the_window_or_is_dropped_after_expiry() -> None:
    invited = at("2026-12-03T02:00:00+00:00")  # 10:00 Shanghai
    expires = at("2026-12-05T17:00:00+00:00")  # 01:00 Shanghai on the 6th
    only_expiry = [Reminder("before_expiry", 2)]
    waiting = facts(invited_at=invited, expires_at=expires)
    due_at = expires - timedelta(hours=2)  # 23:00 Shanghai: quiet
    assert plan(waiting, due_at, WINDOW, only_expiry) is None
    # the window opens at 09:00 on the 6th, after the invitation expired: dropped
    assert plan(waiting, at("2026-12-06T01:00:00+00:00"), WINDOW, only_expiry) is None
    early = facts(invited_at=invited, expires_at=at("2026-12-06T04:00:00+00:00"))  # 12:00 Shanghai
    # due at 10:00 Shanghai, inside the window
    assert plan(early, at("2026-12-06T02:00:00+00:00"), WINDOW, only_expiry) == Due(
        "reminder", "reminder:before_expiry"
    )


def test_finished_and_opted_out_candidates_get_nothing_but_one_confirmation() -> None:
    now = at("2026-12-04T02:00:00+00:00")
    invited = now - timedelta(days=2)
    done = facts(invited_at=invited, started=True, interview_state="done")
    assert plan(done, now, WINDOW, REMINDERS) == Due("confirmation", "confirmation")
    assert (
        plan(
            facts(
                invited_at=invited, started=True, interview_state="done", reminded=frozenset({"confirmation"})
            ),
            now,
            WINDOW,
            REMINDERS,
        )
        is None
    )
    assert (
        plan(facts(invited_at=invited, started=True, interview_state="withdrawn"), now, WINDOW, REMINDERS)
        is None
    )
    assert plan(facts(opted_out=True), now, WINDOW, REMINDERS) is None


def test_the_channel_is_the_first_preferred_one_that_reaches_the_candidate() -> None:
    assert choose_channel(["telegram", "email", "sms"], ["sms", "email"]) == "email"
    assert choose_channel(["telegram"], ["sms"]) is None


def test_a_candidate_who_came_by_the_poster_gets_no_invitation_but_a_nudge_after_a_pause() -> None:
    now = at("2026-12-04T02:00:00+00:00")
    poster = facts(started=True, interview_state="question", last_activity=now - timedelta(hours=2))
    assert plan(poster, now, WINDOW, REMINDERS) is None
    assert plan(poster, now + timedelta(hours=22), WINDOW, REMINDERS) is None  # due, but 08:00 in Shanghai
    assert plan(poster, now + timedelta(hours=23), WINDOW, REMINDERS) == Due("reminder", "reminder:paused")
