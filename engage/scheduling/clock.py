"""Pure scheduling arithmetic: quiet hours in a resident's zone, throttle budgets, reminder due
times. No I/O and no clock of its own: every function takes ``now`` (aware), so tests can walk
across a DST change or midnight in any zone without sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engage import compliance

QuietWindow = tuple[time, time]
THROTTLE_WINDOW = timedelta(minutes=1)



_DAYS_ES = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
_MONTHS_ES = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
              "septiembre", "octubre", "noviembre", "diciembre")
WHEN_LANGUAGES = ("es",)  # languages with their own date words (English is the default)


def when_text(local: datetime, language: str = "en") -> str:
    """A local date and time as residents read it in their language, without the locale
    module (process-wide and often missing on servers): "Tue Dec 8, 6:00 PM" in English,
    "martes 8 de diciembre, 6:00 p. m." in Spanish."""
    hour = local.hour % 12 or 12
    if language == "es":
        meridiem = "a. m." if local.hour < 12 else "p. m."
        return (f"{_DAYS_ES[local.weekday()]} {local.day} de {_MONTHS_ES[local.month - 1]}, "
                f"{hour}:{local:%M} {meridiem}")
    return f"{local:%a %b} {local.day}, {hour}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"


def aware(moment: datetime) -> datetime:
    """Reject naive datetimes (they silently mean "server local time") and return UTC."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime rejected: use aware UTC datetimes")
    return moment.astimezone(UTC)


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """A zone by IANA name; an unknown name falls back to UTC rather than crash a tick."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def zone_name_ok(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def is_quiet(now: datetime, tz_name: str | None, window: QuietWindow) -> bool:
    """Is it the resident's local night? (compliance judges it on their wall clock: DST-safe.)"""
    return compliance.in_quiet_hours(aware(now), tz_name, window)


def quiet_ends(now: datetime, tz_name: str | None, window: QuietWindow) -> datetime:
    """``now`` outside quiet hours, else the UTC instant the resident's quiet window ends."""
    return compliance.next_allowed_send(aware(now), tz_name, window)


def throttle_budget(per_minute: int | None, sent_last_minute: int, cap: int) -> int:
    """How many more messages may go now under a sliding one-minute window (``cap`` if off)."""
    if per_minute is None or per_minute <= 0:
        return cap
    return max(0, min(cap, per_minute - sent_last_minute))


def reminder_due_at(*, invited_at: datetime, last_reminder_at: datetime | None,
                    reminders_sent: int, max_reminders: int, after_hours: float) -> datetime | None:
    """When the next reminder to a non-responder is due, or None when none is left."""
    if reminders_sent >= max_reminders:
        return None
    base = last_reminder_at or invited_at
    return aware(base) + timedelta(hours=after_hours)


SESSION_REMINDERS: tuple[tuple[str, timedelta], ...] = (
    ("24h", timedelta(hours=24)),
    ("2h", timedelta(hours=2)),
)


def session_reminder_slot(*, starts_at: datetime, now: datetime) -> str | None:
    """Which session reminder ("24h" or "2h") is due now, or None.

    A slot is open from its lead time until the next slot opens (the last until the start), so
    a resident never gets both at once and nothing is sent at or after the start.
    """
    now, starts_at = aware(now), aware(starts_at)
    if now >= starts_at:
        return None
    due: str | None = None
    for name, lead in SESSION_REMINDERS:
        if now >= starts_at - lead:
            due = name
    return due
