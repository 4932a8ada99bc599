"""Deep-link codes: fit Telegram's start parameter, round trip, and refuse forgery and age."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from engage.channels.deeplinks import MAX_START_PARAMETER, link_url, make_code, read_code

SECRET = b"test-secret-for-deeplinks-0123456789"
NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("kind", "target"), [("campaign", 1), ("session", 2**32 - 1)])
def test_code_round_trips_and_fits_start_parameter(kind: str, target: int) -> None:
    code = make_code(SECRET, kind, target, now=NOW)  # type: ignore[arg-type]
    assert len(code) <= MAX_START_PARAMETER
    assert re.fullmatch(r"[A-Za-z0-9_-]+", code)
    link = read_code(SECRET, code, now=NOW + timedelta(days=1))
    assert link is not None and link.kind == kind and link.target_id == target


def test_codes_are_opaque_and_unguessable() -> None:
    first = make_code(SECRET, "campaign", 7, now=NOW)
    second = make_code(SECRET, "campaign", 7, now=NOW)
    assert first != second  # random nonce: same target, different code


def test_code_expires() -> None:
    code = make_code(SECRET, "session", 3, now=NOW, ttl=timedelta(hours=2))
    assert read_code(SECRET, code, now=NOW + timedelta(hours=1, minutes=59)) is not None
    assert read_code(SECRET, code, now=NOW + timedelta(hours=2)) is None


def test_other_secret_and_tampering_are_refused() -> None:
    code = make_code(SECRET, "campaign", 9, now=NOW)
    assert read_code(b"another-secret", code, now=NOW) is None
    flipped = code[:-3] + ("A" if code[-3] != "A" else "B") + code[-2:]
    assert read_code(SECRET, flipped, now=NOW) is None


@pytest.mark.parametrize("junk", ["", "hello", "!!!!", "A" * 80, "AAAA", "c_7", "campaign-7"])
def test_junk_payloads_are_refused(junk: str) -> None:
    assert read_code(SECRET, junk, now=NOW) is None


def test_naive_time_and_bad_ids_rejected() -> None:
    with pytest.raises(ValueError):
        make_code(SECRET, "campaign", 1, now=datetime(2026, 7, 1))
    with pytest.raises(ValueError):
        make_code(SECRET, "campaign", 0, now=NOW)


def test_link_url() -> None:
    assert link_url("@engage_bot", "abc") == "https://t.me/engage_bot?start=abc"
