"""Compliance keywords (whole message, any case/punctuation) and DST-safe quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engage.compliance import classify, in_quiet_hours, next_allowed_send

QUIET = (time(21, 0), time(8, 0))
NY = "America/New_York"


@pytest.mark.parametrize(
    "text",
    ["STOP", "stop", " Stop. ", "s-t-o-p", "STOPALL", "Unsubscribe!", "cancel", "END", "quit",
     "revoke", "OPTOUT", "opt out", "Opt-Out", "ALTO", "parar", "Cancelar", "BAJA", "¡Alto!"],
)
def test_opt_out_variants(text: str) -> None:
    keyword = classify(text)
    assert keyword is not None and keyword.kind == "opt_out"


@pytest.mark.parametrize("text", ["START", "unstop", "Start!", "comenzar"])
def test_opt_in(text: str) -> None:
    keyword = classify(text)
    assert keyword is not None and keyword.kind == "opt_in"


@pytest.mark.parametrize(("text", "language"), [("HELP", "en"), ("info", "en"), ("Ayuda", "es")])
def test_help(text: str, language: str) -> None:
    keyword = classify(text)
    assert keyword is not None and keyword.kind == "help" and keyword.language == language


@pytest.mark.parametrize("text", ["DELETE", "forget", "Borrar."])
def test_delete(text: str) -> None:
    keyword = classify(text)
    assert keyword is not None and keyword.kind == "delete"


@pytest.mark.parametrize(
    ("text", "target"),
    [("LANGUAGE", None), ("idioma", None), ("ESPAÑOL", "es"), ("espanol", "es"),
     ("English", "en")],
)
def test_language(text: str, target: str | None) -> None:
    keyword = classify(text)
    assert keyword is not None and keyword.kind == "language" and keyword.target == target


@pytest.mark.parametrize(
    "text",
    ["please stop texting me", "stop it now", "I want to end this", "help me find a meeting",
     "", "   ", "yes", "5", "stopp", "information"],
)
def test_not_keywords(text: str) -> None:
    assert classify(text) is None


@given(st.sampled_from(["stop", "alto", "quit"]), st.text(alphabet=" .!?,-_*\t\n", max_size=6),
       st.text(alphabet=" .!?,-_*\t\n", max_size=6))
def test_stray_punctuation_and_case_are_ignored(word: str, before: str, after: str) -> None:
    mixed = "".join(c.upper() if i % 2 else c for i, c in enumerate(word))
    keyword = classify(before + mixed + after)
    assert keyword is not None and keyword.kind == "opt_out"


# --- quiet hours --------------------------------------------------------------------------


def _utc(local: str, tz: str = NY) -> datetime:
    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


def test_outside_quiet_hours_is_now() -> None:
    now = _utc("2026-07-01T12:00")
    assert next_allowed_send(now, NY, QUIET) == now
    assert not in_quiet_hours(now, NY, QUIET)


def test_evening_waits_until_next_morning() -> None:
    now = _utc("2026-07-01T22:30")
    assert next_allowed_send(now, NY, QUIET) == _utc("2026-07-02T08:00")


def test_early_morning_waits_until_eight_same_day() -> None:
    now = _utc("2026-07-02T03:15")
    assert next_allowed_send(now, NY, QUIET) == _utc("2026-07-02T08:00")


def test_window_edges() -> None:
    assert next_allowed_send(_utc("2026-07-01T20:59"), NY, QUIET) == _utc("2026-07-01T20:59")
    assert next_allowed_send(_utc("2026-07-01T21:00"), NY, QUIET) == _utc("2026-07-02T08:00")
    assert next_allowed_send(_utc("2026-07-02T08:00"), NY, QUIET) == _utc("2026-07-02T08:00")


def test_spring_forward_night_is_shorter() -> None:
    """2026-03-08: clocks jump 02:00 -> 03:00 in New York; the window still ends at 08:00 EDT."""
    now = _utc("2026-03-07T22:00")  # EST (UTC-5)
    resume = next_allowed_send(now, NY, QUIET)
    assert resume == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)  # 08:00 EDT (UTC-4)
    assert resume - now == timedelta(hours=9)


def test_fall_back_night_is_longer() -> None:
    """2026-11-01: clocks fall back 02:00 -> 01:00; the window ends at 08:00 EST."""
    now = _utc("2026-10-31T22:00")  # EDT
    resume = next_allowed_send(now, NY, QUIET)
    assert resume == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)
    assert resume - now == timedelta(hours=11)


def test_same_day_window_and_disabled_window() -> None:
    window = (time(1, 0), time(6, 0))
    assert next_allowed_send(_utc("2026-07-01T02:00"), NY, window) == _utc("2026-07-01T06:00")
    assert next_allowed_send(_utc("2026-07-01T07:00"), NY, window) == _utc("2026-07-01T07:00")
    now = _utc("2026-07-01T23:00")
    assert next_allowed_send(now, NY, (time(0, 0), time(0, 0))) == now


def test_resident_timezone_is_used() -> None:
    now = datetime(2026, 7, 2, 5, 0, tzinfo=UTC)  # 01:00 New York, 22:00 Los Angeles
    assert next_allowed_send(now, NY, QUIET) == _utc("2026-07-02T08:00")
    la = "America/Los_Angeles"
    assert next_allowed_send(now, la, QUIET) == _utc("2026-07-02T08:00", la)


def test_naive_now_rejected() -> None:
    with pytest.raises(ValueError, match="naive"):
        next_allowed_send(datetime(2026, 7, 1, 12), NY, QUIET)


@given(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31),
                    timezones=st.just(UTC)),
       st.sampled_from([NY, "America/Chicago", "Europe/Madrid", "UTC"]))
def test_result_is_never_earlier_and_never_inside_the_window(now: datetime, tz: str) -> None:
    resume = next_allowed_send(now, tz, QUIET)
    assert resume >= now
    assert resume - now <= timedelta(hours=12)
    local = resume.astimezone(ZoneInfo(tz)).time()
    assert not (local >= time(21, 0) or local < time(8, 0))
