"""Anonymized survey metrics: one SQL ``GROUP BY`` per summary, margins rolled up in Python.

The unit is a respondent: one resident's most recent satisfaction survey in the period (a
resident who answered twice counts once). Stored ``Response`` rows (one per answer) are pivoted
per run inside the database, then grouped by the requested dimensions. Every aggregate is a
sufficient statistic (count, sum, sum of squares, level counts), so totals and subtotals are
exact sums of the finest cells and need no second query. Suppression and the optional noise
live in :mod:`engage.analytics.suppression`; this module only measures.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, distinct, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from engage.analytics.periods import Period
from engage.analytics.stats import Estimate, mean_ci, wilson_ci
from engage.analytics.suppression import Suppression, laplace_counts, suppress
from engage.errors import UserError
from engage.storage.models import Participant, Response, Run

SURVEY_FLOW = "satisfaction"
LIKERT_ITEMS: tuple[str, ...] = (
    "safe_day",
    "safe_night",
    "trust_respect",
    "trust_listen",
    "contact_satisfaction",
)
TEXT_ITEMS: tuple[str, ...] = ("safer",)
LEVELS = (1, 2, 3, 4, 5)
ALL = "all"  # the key value of a margin (every value of that dimension)
UNKNOWN = "unknown"
SKIPPED = "skipped"  # the engine's category for an optional question the resident skipped
# Sentiment classes: the usual +/-0.05 dead band around zero (as VADER's authors recommend).
NEGATIVE_BELOW = -0.05
POSITIVE_ABOVE = 0.05

AREA_DIMENSIONS = ("district", "neighbourhood")
GROUP_DIMENSIONS = ("age_band", "race_ethnicity", "contact_type")
DIMENSION_ALIASES = {
    "area": "neighbourhood",
    "neighborhood": "neighbourhood",
    "incident_type": "contact_type",
    "age": "age_band",
    "race": "race_ethnicity",
}


def parse_dimensions(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"district,age_band"`` -> ("district", "age_band"); one area dimension at most."""
    raw = text.split(",") if isinstance(text, str) else list(text)
    dims: list[str] = []
    for item in raw:
        name = item.strip().lower()
        if not name:
            continue
        name = DIMENSION_ALIASES.get(name, name)
        if name not in AREA_DIMENSIONS + GROUP_DIMENSIONS:
            allowed = ", ".join(AREA_DIMENSIONS + GROUP_DIMENSIONS)
            raise UserError(f"unknown --by dimension {item.strip()!r} (use {allowed})")
        if name in dims:
            raise UserError(f"--by names {name!r} twice")
        dims.append(name)
    if sum(d in AREA_DIMENSIONS for d in dims) > 1:
        raise UserError("--by takes one area dimension (district or neighbourhood), not both")
    if len(dims) > 3:
        raise UserError("--by takes at most three dimensions")
    return tuple(dims)


# --- the SQL --------------------------------------------------------------------------------


def _answer(name: str) -> ColumnElement[Any]:
    """The numeric answer of ``name`` within one run (NULL when not answered)."""
    return func.max(case((Response.name == name, Response.number)))


def _choice(name: str) -> ColumnElement[Any]:
    """The choice value of ``name`` within one run (the option value, else its category)."""
    return func.max(case((Response.name == name, func.coalesce(Response.value, Response.category))))


def _pivot(
    period: Period, flow_id: str, dims: Sequence[str], *, scan: bool = False, dedupe: bool = True
) -> Any:
    """One row per respondent: the latest run per resident in the period, answers as columns.

    Only the requested dimensions are pivoted (each is one more aggregate over every row).
    ``scan=True`` wraps the time filter in an expression so SQLite will not drive the query
    from the ``answered_at`` index: when the period holds most rows, walking that index and
    then sorting by run is about twice as slow as reading the table in run order.
    """
    answered_at: ColumnElement[Any] = (
        func.coalesce(Response.answered_at, Response.answered_at) if scan else Response.answered_at
    )
    person = func.coalesce(func.max(Response.participant_id), -Response.run_id)
    columns: list[Any] = [Response.run_id.label("run_id")]
    if "district" in dims:
        district = func.coalesce(func.max(Response.district), literal(UNKNOWN))
        columns.append(district.label("district"))
    if "neighbourhood" in dims:
        columns.append(
            func.coalesce(
                func.max(case((Response.name == "area", Response.value))),
                func.max(Response.area),
                literal(UNKNOWN),
            ).label("neighbourhood")
        )
    columns += [
        func.coalesce(_choice(g), literal(UNKNOWN)).label(g) for g in GROUP_DIMENSIONS if g in dims
    ]
    answers = [_answer(item) for item in LIKERT_ITEMS]
    columns += [a.label(item) for a, item in zip(answers, LIKERT_ITEMS, strict=True)]
    answered_text = func.coalesce(Response.category, "") != SKIPPED
    sentiment = func.avg(case((answered_text, Response.sentiment)))
    columns.append(sentiment.label("sentiment"))
    columns.append(func.min(Response.sentiment_version).label("version_min"))
    columns.append(func.max(Response.sentiment_version).label("version_max"))
    if dedupe:
        rank = func.row_number().over(partition_by=person, order_by=Response.run_id.desc())
    else:
        rank = literal(1)
    columns.append(rank.label("rn"))
    # a respondent answered at least one survey question (a skip is not an answer)
    answered_any = or_(*(a.is_not(None) for a in answers), sentiment.is_not(None))
    return (
        select(*columns)
        .where(
            Response.flow_id == flow_id,
            answered_at >= period.start,
            answered_at < period.end,
        )
        .group_by(Response.run_id)
        .having(answered_any)
        .subquery("pivot")
    )


def _moments(prefix: str, expr: ColumnElement[Any]) -> list[Any]:
    return [
        func.count(expr).label(f"{prefix}__n"),
        func.sum(expr).label(f"{prefix}__s"),
        func.sum(expr * expr).label(f"{prefix}__ss"),
    ]


def _aggregate_query(
    period: Period, dims: Sequence[str], flow_id: str, *, scan: bool = False, dedupe: bool = True
) -> Any:
    pivot = _pivot(period, flow_id, dims, scan=scan, dedupe=dedupe)
    c = pivot.c
    aggregates: list[Any] = [func.count().label("respondents")]
    for item in LIKERT_ITEMS:
        col = c[item]
        aggregates += _moments(item, col)
        aggregates += [
            func.sum(case((col == level, 1), else_=0)).label(f"{item}__l{level}")
            for level in LEVELS
        ]
    trust = (c.trust_respect + c.trust_listen - 2) * 12.5
    safety = (c.safe_day + c.safe_night - 2) * 12.5
    aggregates += _moments("trust_index", trust)
    aggregates += _moments("safety_index", safety)
    aggregates += _moments("sentiment", c.sentiment)
    aggregates += [
        func.sum(case((c.sentiment < NEGATIVE_BELOW, 1), else_=0)).label("sentiment__neg"),
        func.sum(case((c.sentiment > POSITIVE_ABOVE, 1), else_=0)).label("sentiment__pos"),
    ]
    aggregates += [
        func.min(c.version_min).label("version_min"),
        func.max(c.version_max).label("version_max"),
    ]
    dim_cols = [c[d] for d in dims]
    return select(*dim_cols, *aggregates).where(c.rn == 1).group_by(*dim_cols)


def _invited_query(period: Period, dims: Sequence[str], flow_id: str) -> Any:
    """Residents asked (a survey run started in the period) and how many of them answered,
    by the resident's area. Used for the response rate of area cells only."""
    answered = (
        select(Response.id)
        .where(Response.run_id == Run.id, Response.name.in_(LIKERT_ITEMS + TEXT_ITEMS))
        .exists()
    )
    area_cols: list[Any] = []
    for dim in dims:
        column = Participant.district if dim == "district" else Participant.area
        area_cols.append(func.coalesce(column, literal(UNKNOWN)).label(dim))
    query = (
        select(
            *area_cols,
            func.count(distinct(Run.participant_id)).label("invited"),
            func.count(distinct(case((answered, Run.participant_id)))).label("responded"),
        )
        .select_from(Run)
        .join(Participant, Participant.id == Run.participant_id)
        .where(
            Run.flow_id == flow_id,
            and_(Run.started_at >= period.start, Run.started_at < period.end),
        )
    )
    return query.group_by(*area_cols) if area_cols else query


# --- roll-up and figures --------------------------------------------------------------------

Key = tuple[str, ...]


def _rollup(finest: Mapping[Key, Mapping[str, float]], ndims: int) -> dict[Key, dict[str, float]]:
    """Every margin of the table: each subset of dimensions replaced by ``ALL``."""
    cube: dict[Key, dict[str, float]] = {}
    for key, stats in finest.items():
        for mask in itertools.product((False, True), repeat=ndims):
            target = tuple(ALL if m else v for v, m in zip(key, mask, strict=True))
            bucket = cube.setdefault(target, {})
            for name, value in stats.items():
                bucket[name] = bucket.get(name, 0.0) + value
    if not cube:
        cube[tuple(ALL for _ in range(ndims))] = {}
    return cube


def _estimate_columns(prefix: str, est: Estimate, digits: int) -> dict[str, float | None]:
    def r(x: float | None) -> float | None:
        return None if x is None else round(x, digits)

    return {f"{prefix}": r(est.value), f"{prefix}_low": r(est.low), f"{prefix}_high": r(est.high)}


def _mean(stats: Mapping[str, float], prefix: str) -> Estimate:
    return mean_ci(int(stats.get(f"{prefix}__n", 0)), stats.get(f"{prefix}__s", 0.0),
                   stats.get(f"{prefix}__ss", 0.0))


def figures_for(
    stats: Mapping[str, float], rate: tuple[int, int] | None
) -> dict[str, float | None]:
    """The published figures of one cell, in a fixed column order (the export schema)."""
    out: dict[str, float | None] = {"respondents": float(int(stats.get("respondents", 0)))}
    if rate and rate[0] > 0:
        out.update(_estimate_columns("response_rate", wilson_ci(rate[1], rate[0]), 3))
    else:
        out.update({"response_rate": None, "response_rate_low": None, "response_rate_high": None})
    out.update(_estimate_columns("trust_index", _mean(stats, "trust_index"), 1))
    out.update(_estimate_columns("safety_index", _mean(stats, "safety_index"), 1))
    for item in LIKERT_ITEMS:
        n = int(stats.get(f"{item}__n", 0))
        out[f"{item}_n"] = float(n)
        out.update(_estimate_columns(f"{item}_mean", _mean(stats, item), 2))
        for level in LEVELS:
            count = stats.get(f"{item}__l{level}", 0.0)
            out[f"{item}_pct_{level}"] = round(100.0 * count / n, 1) if n else None
    sentiment = _mean(stats, "sentiment")
    out["sentiment_n"] = float(sentiment.n)
    out.update(_estimate_columns("sentiment_mean", sentiment, 3))
    neg = int(stats.get("sentiment__neg", 0))
    pos = int(stats.get("sentiment__pos", 0))
    classes = (("negative", neg), ("neutral", sentiment.n - neg - pos), ("positive", pos))
    for label, count in classes:
        out.update(_estimate_columns(f"share_{label}", wilson_ci(count, sentiment.n), 3))
    return out


FIGURE_COLUMNS: tuple[str, ...] = tuple(figures_for({}, None).keys())


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


SCAN_FRACTION = 0.25
PG_WORK_MEM = "64MB"  # per sort/hash node, this transaction only


def _prefer_scan(conn: Connection, period: Period, flow_id: str) -> bool:
    """SQLite only: read the table in run order when the period holds over a quarter of all
    answers (two cheap index-only counts decide; PostgreSQL's planner needs no help)."""
    if conn.dialect.name != "sqlite":
        return False
    total = conn.execute(select(func.count()).select_from(Response)).scalar_one()
    if not total:
        return False
    in_period = conn.execute(
        select(func.count())
        .select_from(Response)
        .where(Response.answered_at >= period.start, Response.answered_at < period.end)
    ).scalar_one()
    return bool(in_period > SCAN_FRACTION * total)


def _someone_answered_twice(conn: Connection, period: Period, flow_id: str) -> bool:
    """Whether any resident has two runs that may hold answers in the period (started
    before its end, last active after its start). If not, the per-resident "latest run"
    ranking is skipped: a cheap query on runs saves a window over every respondent."""
    candidates = (
        select(
            func.count(distinct(Run.participant_id)).label("people"),
            func.count(Run.participant_id).label("runs"),
        )
        .where(Run.flow_id == flow_id, Run.started_at < period.end,
               Run.updated_at >= period.start)
    )
    people, runs = conn.execute(candidates).one()
    return bool(runs != people)  # runs of erased residents (no participant) are distinct


@dataclass(frozen=True)
class Measurement:
    """Raw (unsuppressed) cube of sufficient statistics, response-rate counts of area cells
    (invited, responded) and the sentiment scorer versions seen. Internal: never publish
    directly; :func:`summarize` suppresses."""

    cube: dict[Key, dict[str, float]]
    rates: dict[Key, tuple[int, int]]
    versions: tuple[str, ...]
    districts: dict[str, str] = field(default_factory=dict)  # neighbourhood -> district


def measure(
    engine: Engine, period: Period, dims: Sequence[str], *, flow_id: str = SURVEY_FLOW
) -> Measurement:
    """Two queries: the pivoted aggregate and, for response rates, runs started by area."""
    dims = tuple(dims)
    finest: dict[Key, dict[str, float]] = {}
    versions: set[str] = set()
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # one pivot row per respondent is sorted/hashed: keep it in memory, not on disk
            conn.exec_driver_sql(f"SET LOCAL work_mem = '{PG_WORK_MEM}'")
        scan = _prefer_scan(conn, period, flow_id)
        dedupe = _someone_answered_twice(conn, period, flow_id)
        result = conn.execute(_aggregate_query(period, dims, flow_id, scan=scan, dedupe=dedupe))
        names = list(result.keys())
        for row in result:
            key = tuple(str(v) for v in row[: len(dims)])
            stats: dict[str, float] = {}
            for name, value in zip(names[len(dims):], row[len(dims):], strict=True):
                if value is None:
                    continue
                if name.startswith("version_"):
                    versions.add(str(value))
                else:
                    stats[name] = float(value)
            finest[key] = stats
        area_dims = [d for d in dims if d in AREA_DIMENSIONS]
        invited: dict[Key, tuple[int, int]] = {}
        for row in conn.execute(_invited_query(period, area_dims, flow_id)):
            area_key = tuple(str(v) for v in row[: len(area_dims)])
            invited[area_key] = (int(row[-2]), int(row[-1]))
    cube = _rollup(finest, len(dims))
    rates: dict[Key, tuple[int, int]] = {}
    for key in cube:
        pairs = list(zip(dims, key, strict=True))
        if any(v != ALL for d, v in pairs if d not in AREA_DIMENSIONS):
            continue  # demographic cells have no denominator (non-respondents' age is unknown)
        area_value = [v for d, v in pairs if d in AREA_DIMENSIONS]
        if area_value and area_value[0] != ALL:
            rates[key] = invited.get((area_value[0],), (0, 0))
        else:
            total = (sum(i for i, _ in invited.values()), sum(r for _, r in invited.values()))
            rates[key] = total
    districts = _district_of(engine, flow_id) if "neighbourhood" in dims else {}
    return Measurement(cube, rates, tuple(sorted(versions)), districts)


def _district_of(engine: Engine, flow_id: str) -> dict[str, str]:
    """Which district each neighbourhood seen in the answers belongs to."""
    by_value = (
        select(Response.value, func.max(Response.district))
        .where(Response.flow_id == flow_id, Response.name == "area", Response.value.is_not(None))
        .group_by(Response.value)
    )
    by_column = (
        select(Response.area, func.max(Response.district))
        .where(Response.flow_id == flow_id, Response.area.is_not(None))
        .group_by(Response.area)
    )
    mapping: dict[str, str] = {}
    with engine.connect() as conn:
        for query in (by_column, by_value):
            for hood, district in conn.execute(query):
                if hood and district:
                    mapping[str(hood)] = str(district)
    return mapping


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
