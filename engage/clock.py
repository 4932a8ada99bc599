"""The wall clock: the one place engage reads the current time.

Everything else takes ``now`` or a ``Clock`` as an argument, so tests can run at any instant
(quiet hours, DST changes, retention) without sleeping or patching.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Now, as an aware UTC datetime (every timestamp engage stores is one)."""
    return datetime.now(UTC)
