"""Where an outbox retry is decided: backoff, each kind's retry deadline, stale replies, and
the channel pause after repeated transient failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engage.channels.base import SendResult
from engage.config import Settings
from engage.outbox.queue import OutboxRow
from engage.outbox.retries import ChannelPause, RetryPolicy, backoff_seconds

CREATED = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)
TRANSIENT = SendResult(ok=False, error="503", retry_after=None)


def _row(kind: str) -> OutboxRow:
    return OutboxRow(id=1, participant_id=1, run_id=None, channel="sms", kind=kind, body="hi",
                     buttons=None, address_enc=None, dedupe_key="k", status="pending",
                     not_before=CREATED, attempts=0, lease_until=None, claimed_by=None,
                     message_id=None, provider_id=None, error=None, created_at=CREATED,
                     sent_at=None)


def _policy(settings: Settings, max_attempts: int | None = None) -> RetryPolicy:
    return RetryPolicy.from_settings(settings, backoff_base=2.0, backoff_cap=None,
                                     max_attempts=max_attempts)


def test_backoff_grows_and_is_capped() -> None:
    assert backoff_seconds(1, base=2, cap=100, rng=lambda: 1.0) == 2
    assert backoff_seconds(3, base=2, cap=100, rng=lambda: 0.0) == 4
    assert backoff_seconds(20, base=2, cap=100, rng=lambda: 1.0) == 100


def test_a_reply_is_retried_only_while_it_makes_sense(settings: Settings) -> None:
    policy = _policy(settings)
    reply_age = timedelta(seconds=settings.reply_max_age_seconds)
    window = timedelta(seconds=settings.retry_window_seconds)
    assert policy.deadline(_row("reply")) == CREATED + reply_age
    assert policy.deadline(_row("confirmation")) == CREATED + reply_age
    assert policy.deadline(_row("campaign")) == CREATED + window
    assert not policy.stale(_row("reply"), CREATED + reply_age)
    assert policy.stale(_row("reply"), CREATED + reply_age + timedelta(seconds=1))
    assert not policy.stale(_row("confirmation"), CREATED + reply_age + timedelta(seconds=1))


def test_giving_up_past_the_deadline_or_out_of_attempts(settings: Settings) -> None:
    reply = _row("reply")
    late = CREATED + timedelta(seconds=settings.reply_max_age_seconds + 1)
    assert _policy(settings).gives_up(reply, 50, late)
    assert not _policy(settings).gives_up(reply, 50, CREATED + timedelta(seconds=10))
    assert _policy(settings, max_attempts=3).gives_up(reply, 3, CREATED)


def test_the_provider_can_ask_for_a_longer_wait(settings: Settings) -> None:
    asked = SendResult(ok=False, error="429", retry_after=120.0)
    assert _policy(settings).delay(1, asked) == 120.0
    assert 1.0 <= _policy(settings).delay(1, TRANSIENT) <= 2.0


def test_a_channel_pauses_after_three_transient_failures_in_a_row() -> None:
    pause = ChannelPause()
    for _ in range(2):
        pause.note("sms", TRANSIENT, CREATED)
    assert not pause.paused("sms", CREATED)
    pause.note("sms", TRANSIENT, CREATED)
    assert pause.paused("sms", CREATED + timedelta(seconds=1))
    assert not pause.paused("sms", CREATED + timedelta(seconds=2))
    assert not pause.paused("telegram", CREATED)
    pause.note("sms", TRANSIENT, CREATED)  # the fourth doubles the pause
    assert pause.paused("sms", CREATED + timedelta(seconds=3))


@pytest.mark.parametrize("result", [SendResult(ok=True, provider_id="SM1"),
                                    SendResult(ok=False, error="21211", permanent=True)])
def test_an_answer_from_the_provider_ends_the_streak(result: SendResult) -> None:
    pause = ChannelPause()
    for _ in range(2):
        pause.note("sms", TRANSIENT, CREATED)
    pause.note("sms", result, CREATED)
    pause.note("sms", TRANSIENT, CREATED)
    assert not pause.paused("sms", CREATED)
