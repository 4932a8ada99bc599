"""Pure scheduling arithmetic: quiet hours in several zones and across DST, throttle budgets,
reminder due times and the session reminder slots."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from engage.errors import UserError
from engage.scheduling.audience import parse_audience
from engage.scheduling.clock import (
    is_quiet,
    quiet_ends,
    reminder_due_at,
    session_reminder_slot,
    throttle_budget,
)

NIGHT = (time(21, 0), time(8, 0))


@pytest.mark.parametrize(("utc", "zone", "quiet"), [
    (datetime(2026, 7, 1, 0, 30, tzinfo=UTC), "America/New_York", False),  # 20:30 EDT
    (datetime(2026, 7, 1, 1, 0, tzinfo=UTC), "America/New_York", True),  # 21:00 EDT
    (datetime(2026, 7, 1, 1, 0, tzinfo=UTC), "America/Los_Angeles", False),  # 18:00 PDT
    (datetime(2026, 7, 1, 4, 0, tzinfo=UTC), "America/Los_Angeles", True),  # 21:00 PDT
    (datetime(2026, 7, 1, 12, 0, tzinfo=UTC), "America/New_York", False),  # 08:00 EDT
    (datetime(2026, 7, 1, 11, 59, tzinfo=UTC), "America/New_York", True),  # 07:59 EDT
    (datetime(2026, 7, 1, 10, 0, tzinfo=UTC), "Europe/Madrid", False),  # 12:00 CEST
    (datetime(2026, 7, 1, 10, 0, tzinfo=UTC), "Asia/Tokyo", False),  # 19:00 JST
    (datetime(2026, 7, 1, 13, 0, tzinfo=UTC), "Asia/Tokyo", True),  # 22:00 JST
])
def test_quiet_hours_in_the_residents_zone(utc: datetime, zone: str, quiet: bool) -> None:
    assert is_quiet(utc, zone, NIGHT) is quiet


def test_quiet_night_ends_at_local_8am_across_spring_forward() -> None:
    # 2026-03-08: New York moves from EST (UTC-5) to EDT (UTC-4) at 02:00 local.
    evening = datetime(2026, 3, 8, 3, 0, tzinfo=UTC)  # 22:00 EST on Mar 7
    assert quiet_ends(evening, "America/New_York", NIGHT) == datetime(2026, 3, 8, 12, 0,
                                                                        tzinfo=UTC)
    assert is_quiet(datetime(2026, 3, 8, 11, 59, tzinfo=UTC), "America/New_York", NIGHT)
    assert not is_quiet(datetime(2026, 3, 8, 12, 0, tzinfo=UTC), "America/New_York", NIGHT)


def test_quiet_night_ends_at_local_8am_across_fall_back() -> None:
    # 2026-11-01: New York moves back to EST at 02:00 local; the quiet night lasts 12 hours
    evening = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)  # 22:00 EDT on Oct 31
    assert quiet_ends(evening, "America/New_York", NIGHT) == datetime(2026, 11, 1, 13, 0,
                                                                        tzinfo=UTC)


def test_outside_quiet_hours_now_is_returned() -> None:
    noon = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)
    assert quiet_ends(noon, "America/New_York", NIGHT) == noon


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError):
        is_quiet(datetime(2026, 7, 1, 16, 0), "America/New_York", NIGHT)


def test_throttle_budget() -> None:
    assert throttle_budget(None, 10_000, 500) == 500
    assert throttle_budget(30, 0, 500) == 30
    assert throttle_budget(30, 25, 500) == 5
    assert throttle_budget(30, 31, 500) == 0
    assert throttle_budget(1000, 0, 200) == 200


def test_reminder_due_times() -> None:
    invited = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)
    first = reminder_due_at(invited_at=invited, last_reminder_at=None, reminders_sent=0,
                            max_reminders=2, after_hours=24)
    assert first == invited + timedelta(hours=24)
    second = reminder_due_at(invited_at=invited, last_reminder_at=first, reminders_sent=1,
                             max_reminders=2, after_hours=24)
    assert second == invited + timedelta(hours=48)
    assert reminder_due_at(invited_at=invited, last_reminder_at=second, reminders_sent=2,
                           max_reminders=2, after_hours=24) is None


def test_session_reminder_slots() -> None:
    start = datetime(2026, 7, 2, 22, 0, tzinfo=UTC)
    assert session_reminder_slot(starts_at=start, now=start - timedelta(hours=25)) is None
    assert session_reminder_slot(starts_at=start, now=start - timedelta(hours=24)) == "24h"
    assert session_reminder_slot(starts_at=start, now=start - timedelta(hours=3)) == "24h"
    assert session_reminder_slot(starts_at=start, now=start - timedelta(hours=2)) == "2h"
    assert session_reminder_slot(starts_at=start, now=start - timedelta(minutes=1)) == "2h"
    assert session_reminder_slot(starts_at=start, now=start) is None
    assert session_reminder_slot(starts_at=start, now=start + timedelta(hours=1)) is None


@pytest.mark.parametrize(("spec", "kind", "value"), [
    ("all", "all", None), ("area:Hampden", "area", "Hampden"),
    ("district:Northern", "district", "Northern"), ("language:ES", "language", "es"),
    ("participated:satisfaction", "participated", "satisfaction"),
    ("csv:/tmp/list.csv", "csv", "/tmp/list.csv"),
])
def test_parse_audience(spec: str, kind: str, value: str | None) -> None:
    audience = parse_audience(spec)
    assert (audience.kind, audience.value) == (kind, value)


@pytest.mark.parametrize("spec", ["", "everyone", "area:", "area", "all:x", "zip:21211"])
def test_bad_audience_is_one_clear_error(spec: str) -> None:
    with pytest.raises(UserError, match="audience"):
        parse_audience(spec)


def test_when_text_per_language() -> None:
    from engage.scheduling.clock import when_text

    evening = datetime(2026, 12, 8, 18, 0, tzinfo=ZoneInfo("America/New_York"))
    morning = datetime(2026, 3, 1, 9, 5, tzinfo=ZoneInfo("America/New_York"))
    assert when_text(evening) == "Tue Dec 8, 6:00 PM"
    assert when_text(evening, "es") == "martes 8 de diciembre, 6:00 p. m."
    assert when_text(morning, "es") == "domingo 1 de marzo, 9:05 a. m."
    assert when_text(morning, "fr") == "Sun Mar 1, 9:05 AM"  # no words for it: English
