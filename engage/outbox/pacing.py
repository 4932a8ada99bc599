"""When a row may go: each channel's rate limit (a token bucket) and residents' quiet hours.

Campaign, reminder and invitation rows are held until the end of the resident's quiet hours;
direct replies are never held. Each channel has a token bucket (``ENGAGE_SMS_RATE`` for SMS;
0 disables it), and one claim takes at most what that rate sends within ``claim_seconds``, so
nothing waits claimed for long (and a stop releases little).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from engage.channels.base import Sender
from engage.compliance import next_allowed_send
from engage.config import Settings
from engage.outbox.queue import HELD_KINDS as _HELD_KINDS
from engage.outbox.queue import OutboxRow, Recipient

TELEGRAM_RATE = 25.0  # Telegram allows about 30 messages/s per bot
HELD_KINDS = frozenset(_HELD_KINDS)


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; rate <= 0 means unlimited."""

    def __init__(self, rate: float, burst: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, burst if burst is not None else rate)
        self.tokens = self.capacity
        self._monotonic = monotonic
        self._last = monotonic()
        self._lock = asyncio.Lock()

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def delay(self) -> float:
        """Take a token; return how long to wait before using it (0 when one was available)."""
        if self.unlimited:
            return 0.0
        now = self._monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
        self._last = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    async def acquire(self, stop: asyncio.Event | None = None) -> None:
        """Wait for a token; a ``stop`` ends the wait early (the caller checks it)."""
        if self.unlimited:
            return
        async with self._lock:
            wait = self.delay()
        if wait <= 0:
            return
        if stop is None:
            await asyncio.sleep(wait)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)


def channel_buckets(settings: Settings, senders: Mapping[str, Sender],
                    rates: Mapping[str, float] | None) -> dict[str, TokenBucket]:
    """One bucket per sender; a sender that is not rate limited (the dev outbox) gets none."""
    rate_for = {"sms": settings.sms_rate, "telegram": TELEGRAM_RATE} | dict(rates or {})
    return {name: TokenBucket(rate_for.get(name, 0.0)
                              if getattr(sender, "rate_limited", True) else 0.0)
            for name, sender in senders.items()}


def claim_quota(bucket: TokenBucket | None, claim_seconds: float) -> int | None:
    """Rows one claim may take for a channel: what its rate can send within
    ``claim_seconds``; None when unlimited."""
    if bucket is None or bucket.unlimited:
        return None
    return max(1, math.floor(bucket.rate * claim_seconds))


def quiet_hours_end(row: OutboxRow, recipient: Recipient, now: datetime,
                    settings: Settings) -> datetime | None:
    """When a row held for the resident's quiet hours may go; None when it may go now."""
    if row.kind not in HELD_KINDS:
        return None
    resume = next_allowed_send(now, recipient.timezone or settings.timezone,
                               settings.quiet_window)
    return resume if resume > now else None
