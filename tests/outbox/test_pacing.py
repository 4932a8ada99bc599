"""When a row may go: the token bucket, a claim's quota, and quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engage.config import Settings
from engage.outbox.pacing import TokenBucket, claim_quota, quiet_hours_end
from engage.outbox.queue import OutboxRow, Recipient

NIGHT = datetime(2026, 7, 2, 3, 0, tzinfo=UTC)  # 23:00 in New York: inside 21:00-08:00
DAY = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)  # noon in New York


def _row(kind: str) -> OutboxRow:
    return OutboxRow(id=1, participant_id=1, run_id=None, channel="sms", kind=kind, body="hi",
                     buttons=None, address_enc=None, dedupe_key="k", status="pending",
                     not_before=NIGHT, attempts=0, lease_until=None, claimed_by=None,
                     message_id=None, provider_id=None, error=None, created_at=NIGHT,
                     sent_at=None)


def test_token_bucket_spaces_sends() -> None:
    now = [100.0]
    bucket = TokenBucket(2.0, burst=1, monotonic=lambda: now[0])
    assert bucket.delay() == 0
    assert bucket.delay() == pytest.approx(0.5)
    assert bucket.delay() == pytest.approx(1.0)
    now[0] += 10
    assert bucket.delay() == 0
    assert TokenBucket(0).delay() == 0 and TokenBucket(0).unlimited


def test_a_claim_takes_what_the_rate_sends_in_claim_seconds() -> None:
    assert claim_quota(TokenBucket(2.0), 2.0) == 4
    assert claim_quota(TokenBucket(0.1), 2.0) == 1  # always at least one
    assert claim_quota(TokenBucket(0), 2.0) is None
    assert claim_quota(None, 2.0) is None


@pytest.mark.parametrize("kind", ["campaign", "reminder", "invitation"])
def test_quiet_hours_hold_what_we_send_unasked(settings: Settings, kind: str) -> None:
    resident = Recipient(address_enc=b"x", opted_out=False, timezone=None)
    resume = quiet_hours_end(_row(kind), resident, NIGHT, settings)
    assert resume == datetime(2026, 7, 2, 12, 0, tzinfo=UTC)  # 08:00 in New York
    assert quiet_hours_end(_row(kind), resident, DAY, settings) is None


@pytest.mark.parametrize("kind", ["reply", "confirmation"])
def test_quiet_hours_never_hold_a_reply(settings: Settings, kind: str) -> None:
    resident = Recipient(address_enc=b"x", opted_out=False, timezone=None)
    assert quiet_hours_end(_row(kind), resident, NIGHT, settings) is None


def test_quiet_hours_follow_the_residents_own_time_zone(settings: Settings) -> None:
    evening = datetime(2026, 7, 1, 20, 0, tzinfo=UTC)  # 16:00 in New York, 22:00 in Berlin
    in_berlin = Recipient(address_enc=b"x", opted_out=False, timezone="Europe/Berlin")
    at_home = Recipient(address_enc=b"x", opted_out=False, timezone=None)
    assert quiet_hours_end(_row("campaign"), in_berlin, evening, settings) == \
        datetime(2026, 7, 2, 6, 0, tzinfo=UTC)  # 08:00 in Berlin
    assert quiet_hours_end(_row("campaign"), at_home, evening, settings) is None
