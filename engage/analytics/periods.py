"""Reporting periods ("2026Q3", "2026-07") as half-open UTC ranges.

Periods follow the city's calendar (``ENGAGE_TIMEZONE``): an answer sent at 11 pm on
30 September in Baltimore belongs to Q3 even though it is already October in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from engage.errors import UserError

_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month or quarter; ``start``/``end`` are aware UTC, end exclusive."""

    start: datetime
    end: datetime
    label: str
    kind: str  # "month" | "quarter"

    def previous(self, tz: str) -> Period:
        """The period of the same kind just before this one."""
        year, first = _local_year_month(self.start, tz)
        step = 3 if self.kind == "quarter" else 1
        month = first - step
        if month < 1:
            month += 12
            year -= 1
        return _build(year, month, self.kind, tz)


def _local_year_month(moment: datetime, tz: str) -> tuple[int, int]:
    local = moment.astimezone(ZoneInfo(tz))
    return local.year, local.month


def _build(year: int, first_month: int, kind: str, tz: str) -> Period:
    zone = ZoneInfo(tz)
    months = 3 if kind == "quarter" else 1
    end_month = first_month + months
    end_year = year + (end_month - 1) // 12
    end_month = (end_month - 1) % 12 + 1
    start = datetime(year, first_month, 1, tzinfo=zone).astimezone(UTC)
    end = datetime(end_year, end_month, 1, tzinfo=zone).astimezone(UTC)
    if kind == "quarter":
        label = f"{year}Q{(first_month - 1) // 3 + 1}"
    else:
        label = f"{year}-{first_month:02d}"
    return Period(start=start, end=end, label=label, kind=kind)


def parse_period(text: str, tz: str = "UTC") -> Period:
    """Parse "2026Q3" / "2026-Q3" or "2026-07"; raise UserError with the accepted forms."""
    value = text.strip()
    if match := _QUARTER.match(value):
        year, quarter = int(match.group(1)), int(match.group(2))
        return _build(year, 3 * (quarter - 1) + 1, "quarter", tz)
    if match := _MONTH.match(value):
        year, month = int(match.group(1)), int(match.group(2))
        if 1 <= month <= 12:
            return _build(year, month, "month", tz)
    raise UserError(f"period must look like 2026Q3 or 2026-07, got {text!r}")


def recent_periods(last: Period, count: int, tz: str) -> list[Period]:
    """``count`` consecutive periods ending with ``last``, oldest first (for trends)."""
    periods = [last]
    while len(periods) < count:
        periods.append(periods[-1].previous(tz))
    return list(reversed(periods))


def period_containing(moment: datetime, kind: str, tz: str) -> Period:
    """The month or quarter (in the city's calendar) that contains ``moment``."""
    year, month = _local_year_month(moment, tz)
    if kind == "quarter":
        month = 3 * ((month - 1) // 3) + 1
    return _build(year, month, kind, tz)
