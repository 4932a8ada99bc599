"""The figures pages show, from the same functions as the exports, cached by data version.

Nothing here computes a figure: ``summarize`` (through ``cached_summarize``, which the API
shares) and ``trend`` (engage.analytics.metrics) do, with the same suppression as every export.
Pages ask often and the data changes rarely, so results are kept per process and keyed on the
same *data version* as ``engage.analytics.summary_cache`` (a few index reads that move with
every new, changed or erased answer and every new run). While
answers keep arriving the version moves all the time, so an entry is still served for
``FRESH_FOR`` seconds after it was computed even if the version moved (a page is at most that
stale); after that a changed version means a recomputation. ``MAX_AGE`` bounds how long an
entry lives anyway.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy.engine import Engine

from engage.analytics.metrics import ALL, FIGURE_COLUMNS, Row, Summary, trend
from engage.analytics.periods import Period, period_containing, recent_periods
from engage.analytics.summary_cache import cached_summarize, data_version
from engage.config import Settings

MAX_AGE = 300.0  # seconds an unchanged entry is kept
FRESH_FOR = 60.0  # seconds an entry is served even though new answers arrived
MAX_ENTRIES = 64
TREND_QUARTERS = 6
T = TypeVar("T")


class FigureCache:
    """A small LRU of computed figures keyed on (what, data version)."""

    def __init__(self, engine: Engine, *, max_age: float = MAX_AGE,
                 fresh_for: float = FRESH_FOR) -> None:
        self.engine = engine
        self.max_age = max_age
        self.fresh_for = fresh_for
        self._entries: OrderedDict[tuple[Any, ...], tuple[float, tuple[Any, ...], Any]] = (
            OrderedDict())
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        version = data_version(self.engine)
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                age = now - entry[0]
                if age < self.fresh_for or (entry[1] == version and age < self.max_age):
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return cast(T, entry[2])  # the key names the computation, so its type
        value = compute()
        with self._lock:
            self.misses += 1
            self._entries[key] = (now, version, value)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)
        return value


def last_days(now: datetime, days: int) -> Period:
    """A rolling window as a Period, so ``summarize`` measures it like any month or quarter."""
    return Period(start=now - timedelta(days=days), end=now, label=f"last {days} days",
                  kind="days")


@dataclass(frozen=True)
class Overview:
    week: Row
    quarter: Row
    quarter_label: str
    trend: list[tuple[Period, Row]]
    min_cell_size: int


def summary_for(cache: FigureCache, settings: Settings, period: Period,
                dims: tuple[str, ...]) -> Summary:
    """The suppressed summary table, exactly as ``engage export summary`` computes it."""
    k, eps = settings.min_cell_size, settings.dp_epsilon
    return cache.get(("summary", period.start, period.end, dims, k, eps),
                     lambda: cached_summarize(cache.engine, period, dims, min_cell_size=k,
                                              dp_epsilon=eps))


def total_row(summary: Summary) -> Row:
    """The all-groups row; withheld (as ``trend`` reports it) when nobody answered at all."""
    for row in summary.rows:
        if all(value == ALL for _, value in row.key):
            return row
    return Row((), False, "small", dict.fromkeys(FIGURE_COLUMNS))


def trend_for(cache: FigureCache, settings: Settings, last: Period, count: int
              ) -> list[tuple[Period, Row]]:
    """The citywide trend over ``count`` periods ending with ``last`` (``metrics.trend``)."""
    k = settings.min_cell_size
    periods = recent_periods(last, count, settings.timezone)
    return cache.get(("trend", last.label, count, k),
                     lambda: trend(cache.engine, periods, min_cell_size=k))


def overview(cache: FigureCache, settings: Settings, now: datetime) -> Overview:
    """This week's and this quarter's totals and the quarterly trend, all suppressed."""
    tz, k = settings.timezone, settings.min_cell_size
    # The week is keyed by the hour so its window moves without missing the cache each second.
    hour = now.replace(minute=0, second=0, microsecond=0)
    week = total_row(summary_for(cache, settings, last_days(hour, 7), ()))
    quarter = period_containing(now, "quarter", tz)
    quarter_total = total_row(summary_for(cache, settings, quarter, ()))
    points = trend_for(cache, settings, quarter, TREND_QUARTERS)
    return Overview(week=week, quarter=quarter_total, quarter_label=quarter.label,
                    trend=points, min_cell_size=k)
