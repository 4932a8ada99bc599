"""Durations as flows write them (``expire_after``, ``timeout.after``)."""

from __future__ import annotations

import re
from typing import Any

_DURATION = re.compile(r"^(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?$")


def parse_duration(value: Any) -> int | None:
    """``90`` (seconds), ``"30m"``, ``"24h"``, ``"7d"``, ``"1d12h"`` -> seconds; None if bad."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if not isinstance(value, str):
        return None
    m = _DURATION.match(value.strip())
    if not m or not any(m.groups()):
        return None
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    total = ((d * 24 + h) * 60 + mi) * 60 + s
    return total or None
