"""``cached_summarize``: ``metrics.summarize`` with the same signature, remembered per data
version, so pages and the API answer in milliseconds on a million answers.

A summary over a quarter reads every answer in it (one GROUP BY: seconds at 1,000,000
answers on SQLite). Its inputs change only when answers or runs are written, so a result is
kept under a *data version*: the highest id and latest ``answered_at`` of responses, the
highest run id, and the last erasure in the audit log. All four are index lookups (well
under a millisecond; counting rows instead cost 20-40 ms at a million answers). Any new or
changed answer (upserts move ``answered_at`` to the time of the answer), any new run and any
erasure (the only path that deletes answers or runs, and it always appends
``participant.erased``) changes the version, and the next call measures again. Entries also
expire after ``MAX_AGE`` as a safety net for changes the version cannot see (a resident's area
edited in place). With ``ENGAGE_DP_EPSILON`` the noisy table is remembered too: asking again
returns the same noise, so repeated requests cannot average it away.

Figures are never computed a second way: a miss calls ``summarize`` itself.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import col

from engage.analytics.metrics import SURVEY_FLOW, Summary, summarize
from engage.analytics.periods import Period
from engage.storage.tables import AuditEntry, Response, Run

MAX_ENTRIES = 128
MAX_AGE_S = 300.0
ERASED = "participant.erased"  # the audit action erase_participant appends

_VERSION = select(
    select(func.max(Response.id)).scalar_subquery(),
    select(func.max(Response.answered_at)).scalar_subquery(),
    select(func.max(Run.id)).scalar_subquery(),
    select(func.max(AuditEntry.seq)).where(col(AuditEntry.action) == ERASED).scalar_subquery(),
)

_entries: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], float, Summary]] = OrderedDict()
_guard = threading.Lock()
_key_locks: dict[tuple[Any, ...], threading.Lock] = {}


def data_version(engine: Engine) -> tuple[Any, ...]:
    """What the summaries depend on, read in one round trip."""
    with engine.connect() as conn:
        row = conn.execute(_VERSION).one()
    return tuple(row)


def cached_summarize(
    engine: Engine,
    period: Period,
    dims: Sequence[str],
    *,
    min_cell_size: int,
    dp_epsilon: float | None = None,
    rng: Any = None,
    flow_id: str = SURVEY_FLOW,
) -> Summary:
    """``summarize`` (same arguments, same result), remembered while the data is unchanged.

    A caller-supplied ``rng`` (tests of the noise) always computes afresh. Concurrent callers
    of one cold key wait for a single computation instead of each running the GROUP BY."""
    if rng is not None:
        return summarize(engine, period, dims, min_cell_size=min_cell_size,
                         dp_epsilon=dp_epsilon, rng=rng, flow_id=flow_id)
    key = (str(engine.url), id(engine), period, tuple(dims), min_cell_size, dp_epsilon, flow_id)
    with _guard:
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:
        version = data_version(engine)
        now = time.monotonic()
        with _guard:
            hit = _entries.get(key)
            if hit is not None and hit[0] == version and now - hit[1] < MAX_AGE_S:
                _entries.move_to_end(key)
                return hit[2]
        summary = summarize(engine, period, dims, min_cell_size=min_cell_size,
                            dp_epsilon=dp_epsilon, flow_id=flow_id)
        with _guard:
            _entries[key] = (version, now, summary)
            _entries.move_to_end(key)
            while len(_entries) > MAX_ENTRIES:
                old, _ = _entries.popitem(last=False)
                _key_locks.pop(old, None)
        return summary


def clear() -> None:
    """Forget every remembered summary (tests; after bulk edits outside engage)."""
    with _guard:
        _entries.clear()
        _key_locks.clear()
