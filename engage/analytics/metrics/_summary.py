"""``summarize``: a measured cube made publishable (small cells withheld, optional noise),
and ``trend``, one such row per period."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from engage.analytics.metrics._dimensions import ALL, SURVEY_FLOW, UNKNOWN
from engage.analytics.metrics._figures import FIGURE_COLUMNS, Key, figures_for
from engage.analytics.metrics._measure import measure
from engage.analytics.periods import Period
from engage.analytics.suppression import Suppression, laplace_counts, suppress


@dataclass(frozen=True)
class Row:
    """One published (or withheld) cell. ``key`` maps dimension -> value or ``ALL``."""

    key: tuple[tuple[str, str], ...]
    published: bool
    reason: str | None  # None | "small" | "complementary"
    figures: dict[str, float | None]

    def value(self, dim: str) -> str:
        return dict(self.key)[dim]


@dataclass(frozen=True)
class Summary:
    """A suppressed, optionally noised table for one period and set of dimensions."""

    period: Period
    dims: tuple[str, ...]
    rows: list[Row]
    min_cell_size: int
    dp_epsilon: float | None
    scorer_versions: tuple[str, ...]
    flow_id: str = SURVEY_FLOW
    notes: tuple[str, ...] = field(default_factory=tuple)
    answered: int = 0  # respondents in the whole period (0: "no data", said in words)

    def total(self) -> Row:
        return next(r for r in self.rows if all(v == ALL for _, v in r.key))


def _sort_key(key: Key) -> tuple[tuple[int, str], ...]:
    """Margins first, then values in natural order ("unknown" last)."""
    return tuple((0 if v == ALL else 2 if v == UNKNOWN else 1, v) for v in key)


def hierarchy_groups(
    cube: Mapping[Key, Any], dims: Sequence[str], districts: Mapping[str, str]
) -> list[list[Key]]:
    """Neighbourhood cells grouped by district (other dimensions equal): the district table
    publishes each group's total, so suppression must treat the group as a line."""
    if "neighbourhood" not in dims:
        return []
    d = list(dims).index("neighbourhood")
    groups: dict[tuple[str, Key], list[Key]] = {}
    for key in cube:
        district = districts.get(key[d])
        if key[d] == ALL or district is None:
            continue
        rest = key[:d] + key[d + 1:]
        groups.setdefault((district, rest), []).append(key)
    return [sorted(keys) for _, keys in sorted(groups.items())]


def summarize(
    engine: Engine,
    period: Period,
    dims: Sequence[str],
    *,
    min_cell_size: int,
    dp_epsilon: float | None = None,
    rng: Any = None,
    flow_id: str = SURVEY_FLOW,
) -> Summary:
    """Measure, suppress small cells (with complementary suppression), optionally add noise."""
    dims = tuple(dims)
    measured = measure(engine, period, dims, flow_id=flow_id)
    cube, rates = measured.cube, measured.rates
    counts = {key: int(stats.get("respondents", 0)) for key, stats in cube.items()}
    decision: Suppression = suppress(
        counts, k=min_cell_size,
        published_elsewhere=hierarchy_groups(cube, dims, measured.districts),
    )
    noisy: dict[Key, int] = {}
    if dp_epsilon is not None:
        published = {k: v for k, v in counts.items() if k not in decision.withheld}
        noisy = laplace_counts(published, epsilon=dp_epsilon, rng=rng)
    rows: list[Row] = []
    for key in sorted(cube, key=_sort_key):
        labelled = tuple(zip(dims, key, strict=True))
        reason = decision.withheld.get(key)
        if reason:
            rows.append(Row(labelled, False, reason, dict.fromkeys(FIGURE_COLUMNS)))
            continue
        rate = rates.get(key)  # a rate describes the people invited: as many as any cell
        figures = figures_for(cube[key], rate if rate and rate[0] >= min_cell_size else None)
        if key in noisy:
            figures["respondents"] = float(noisy[key])
        rows.append(Row(labelled, True, None, figures))
    return Summary(
        period=period,
        dims=dims,
        rows=rows,
        min_cell_size=min_cell_size,
        dp_epsilon=dp_epsilon,
        scorer_versions=measured.versions,
        flow_id=flow_id,
        answered=counts.get(tuple(ALL for _ in dims), 0),
    )


def trend(
    engine: Engine,
    periods: Iterable[Period],
    *,
    min_cell_size: int,
    area: tuple[str, str] | None = None,
    flow_id: str = SURVEY_FLOW,
) -> list[tuple[Period, Row]]:
    """The overall (or one area's) row for each period, suppressed like any other cell.

    ``area`` is (dimension, value), e.g. ("district", "Eastern"). Suppression runs on the
    full area table each period, so a trend point is withheld exactly when the same cell
    would be withheld in that period's summary.
    """
    out: list[tuple[Period, Row]] = []
    for period in periods:
        dims = (area[0],) if area else ()
        summary = summarize(engine, period, dims, min_cell_size=min_cell_size, flow_id=flow_id)
        wanted = ((area[0], area[1]),) if area else ()
        row = next((r for r in summary.rows if r.key == wanted), None)
        if row is None:
            row = Row(wanted, False, "small", dict.fromkeys(FIGURE_COLUMNS))
        out.append((period, row))
    return out


def as_datetime(value: datetime) -> str:
    """ISO-8601 UTC with seconds, the one timestamp format every export uses."""
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")
