"""Where an outbox retry is decided: backoff, how long a row is worth retrying, stale replies,
and pausing a channel whose provider keeps failing.

Transient failures (429, 5xx, timeouts) go back to ``pending`` with exponential backoff and
jitter (capped by ``ENGAGE_RETRY_BACKOFF_CAP``) until a reply is older than
``ENGAGE_REPLY_MAX_AGE`` or any other message older than ``ENGAGE_RETRY_WINDOW``; a reply older
than that is not sent at all (cancelled, with ``STALE_REPLY`` as the reason). After
``ChannelPause.THRESHOLD`` transient failures in a row a channel pauses (2 s doubling to 60 s)
so a provider that is down is probed, not hammered.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from engage.channels.base import SendResult
from engage.config import Settings
from engage.outbox.queue import OutboxRow

log = logging.getLogger("engage.dispatcher")

REPLY_KINDS = frozenset({"reply", "confirmation"})  # retried only while they make sense
STALE_REPLY = "stale: too late to make sense, not sent (ENGAGE_REPLY_MAX_AGE)"
LOOKUP_RETRY_SECONDS = 30.0  # an in-doubt row whose provider lookup failed: try again then


def backoff_seconds(attempt: int, *, base: float, cap: float,
                    rng: Callable[[], float] = random.random) -> float:
    """Exponential backoff with "equal jitter": uniform in [c/2, c], c = min(cap, base*2^(n-1)),
    so retries from many rows spread out but never come sooner than half the step."""
    ceiling = min(cap, base * 2.0 ** max(attempt - 1, 0))
    return float(ceiling / 2 + rng() * ceiling / 2)


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often a transiently failing row is tried again."""

    reply_max_age: timedelta
    retry_window: timedelta
    backoff_base: float
    backoff_cap: float
    max_attempts: int | None  # None: retry for the row's whole retry window

    @classmethod
    def from_settings(cls, settings: Settings, *, backoff_base: float,
                      backoff_cap: float | None, max_attempts: int | None) -> RetryPolicy:
        return cls(reply_max_age=timedelta(seconds=settings.reply_max_age_seconds),
                   retry_window=timedelta(seconds=settings.retry_window_seconds),
                   backoff_base=backoff_base,
                   backoff_cap=(backoff_cap if backoff_cap is not None
                                else settings.retry_backoff_cap_seconds),
                   max_attempts=max_attempts)

    def deadline(self, row: OutboxRow) -> datetime:
        """Until when a transient failure is retried: a reply only while it still makes
        sense, anything else for the whole retry window."""
        if row.kind in REPLY_KINDS:
            return row.created_at + self.reply_max_age
        return row.created_at + self.retry_window

    def stale(self, row: OutboxRow, now: datetime) -> bool:
        """A reply too old to make sense any more: not sent at all."""
        return row.kind == "reply" and now > self.deadline(row)

    def delay(self, attempts: int, result: SendResult) -> float:
        """Seconds until the next try: the backoff, or longer when the provider asked."""
        return max(result.retry_after or 0.0,
                   backoff_seconds(attempts, base=self.backoff_base, cap=self.backoff_cap))

    def gives_up(self, row: OutboxRow, attempts: int, next_try: datetime) -> bool:
        """Out of attempts, or the next try would come after the row's deadline."""
        return (self.max_attempts is not None and attempts >= self.max_attempts) or \
            next_try > self.deadline(row)


class ChannelPause:
    """Per channel: after ``THRESHOLD`` transient failures in a row, stop sending for a while
    (2 s, doubling to ``PAUSE_CAP``) so a provider that is down is probed, not hammered."""

    THRESHOLD = 3
    PAUSE_CAP = 60.0

    def __init__(self) -> None:
        self.failures: Counter[str] = Counter()
        self.until: dict[str, datetime] = {}

    def paused(self, channel: str, now: datetime) -> bool:
        until = self.until.get(channel)
        return until is not None and now < until

    def note(self, channel: str, result: SendResult, now: datetime) -> None:
        """Count a send's result: a success or a permanent failure ends the streak."""
        if result.ok or result.permanent:
            self.failures[channel] = 0
            return
        self.failures[channel] += 1
        count = self.failures[channel]
        if count >= self.THRESHOLD:
            pause = max(min(self.PAUSE_CAP, 2.0 ** (count - self.THRESHOLD + 1)),
                        result.retry_after or 0.0)
            self.until[channel] = now + timedelta(seconds=pause)
            log.warning("%s: %d transient failures in a row; pausing %.0f s", channel, count,
                        pause)
