"""Reading answers: the SQL behind a summary.

Stored ``Response`` rows (one per answer) are pivoted per run inside the database, one row per
respondent (their latest run in the period), then grouped by the requested dimensions into
sufficient statistics (count, sum, sum of squares, level counts) the figures are computed from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    SQLColumnExpression,
    and_,
    case,
    distinct,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from engage.analytics.metrics._dimensions import (
    GROUP_DIMENSIONS,
    LEVELS,
    LIKERT_ITEMS,
    NEGATIVE_BELOW,
    POSITIVE_ABOVE,
    SKIPPED,
    TEXT_ITEMS,
    UNKNOWN,
)
from engage.analytics.periods import Period
from engage.storage.tables import Participant, Response, Run


def _answer(name: str) -> ColumnElement[Any]:
    """The numeric answer of ``name`` within one run (NULL when not answered)."""
    return func.max(case((col(Response.name) == name, col(Response.number))))


def _choice(name: str) -> ColumnElement[Any]:
    """The choice value of ``name`` within one run (the option value, else its category)."""
    choice = func.coalesce(col(Response.value), col(Response.category))
    return func.max(case((col(Response.name) == name, choice)))


def _pivot(
    period: Period, flow_id: str, dims: Sequence[str], *, scan: bool = False, dedupe: bool = True
) -> Any:
    """One row per respondent: the latest run per resident in the period, answers as columns.

    Only the requested dimensions are pivoted (each is one more aggregate over every row).
    ``scan=True`` wraps the time filter in an expression so SQLite will not drive the query
    from the ``answered_at`` index: when the period holds most rows, walking that index and
    then sorting by run is about twice as slow as reading the table in run order.
    """
    answered_at: SQLColumnExpression[Any] = col(Response.answered_at)
    if scan:
        answered_at = func.coalesce(answered_at, answered_at)
    person = func.coalesce(func.max(col(Response.participant_id)), -col(Response.run_id))
    columns: list[Any] = [col(Response.run_id).label("run_id")]
    if "district" in dims:
        district = func.coalesce(func.max(col(Response.district)), literal(UNKNOWN))
        columns.append(district.label("district"))
    if "neighbourhood" in dims:
        columns.append(
            func.coalesce(
                func.max(case((col(Response.name) == "area", col(Response.value)))),
                func.max(col(Response.area)),
                literal(UNKNOWN),
            ).label("neighbourhood")
        )
    columns += [
        func.coalesce(_choice(g), literal(UNKNOWN)).label(g) for g in GROUP_DIMENSIONS if g in dims
    ]
    answers = [_answer(item) for item in LIKERT_ITEMS]
    columns += [a.label(item) for a, item in zip(answers, LIKERT_ITEMS, strict=True)]
    answered_text = func.coalesce(col(Response.category), "") != SKIPPED
    sentiment = func.avg(case((answered_text, col(Response.sentiment))))
    columns.append(sentiment.label("sentiment"))
    columns.append(func.min(col(Response.sentiment_version)).label("version_min"))
    columns.append(func.max(col(Response.sentiment_version)).label("version_max"))
    rank: ColumnElement[Any]
    if dedupe:
        rank = func.row_number().over(partition_by=person, order_by=col(Response.run_id).desc())
    else:
        rank = literal(1)
    columns.append(rank.label("rn"))
    # a respondent answered at least one survey question (a skip is not an answer)
    answered_any = or_(*(a.is_not(None) for a in answers), sentiment.is_not(None))
    return (
        select(*columns)
        .where(
            col(Response.flow_id) == flow_id,
            answered_at >= period.start,
            answered_at < period.end,
        )
        .group_by(col(Response.run_id))
        .having(answered_any)
        .subquery("pivot")
    )


def _moments(prefix: str, expr: ColumnElement[Any]) -> list[Any]:
    return [
        func.count(expr).label(f"{prefix}__n"),
        func.sum(expr).label(f"{prefix}__s"),
        func.sum(expr * expr).label(f"{prefix}__ss"),
    ]


def aggregate_query(
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


def invited_query(period: Period, dims: Sequence[str], flow_id: str) -> Any:
    """Residents asked (a survey run started in the period) and how many of them answered,
    by the resident's area. Used for the response rate of area cells only."""
    answered = (
        select(col(Response.id))
        .where(col(Response.run_id) == col(Run.id),
               col(Response.name).in_(LIKERT_ITEMS + TEXT_ITEMS))
        .exists()
    )
    area_cols: list[Any] = []
    for dim in dims:
        column = col(Participant.district) if dim == "district" else col(Participant.area)
        area_cols.append(func.coalesce(column, literal(UNKNOWN)).label(dim))
    query = (
        select(
            *area_cols,
            func.count(distinct(col(Run.participant_id))).label("invited"),
            func.count(distinct(case((answered, col(Run.participant_id))))).label("responded"),
        )
        .select_from(Run)
        .join(Participant, col(Participant.id) == col(Run.participant_id))
        .where(
            col(Run.flow_id) == flow_id,
            and_(col(Run.started_at) >= period.start, col(Run.started_at) < period.end),
        )
    )
    return query.group_by(*area_cols) if area_cols else query


SCAN_FRACTION = 0.25


def prefer_scan(conn: Connection, period: Period, flow_id: str) -> bool:
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
        .where(col(Response.answered_at) >= period.start, col(Response.answered_at) < period.end)
    ).scalar_one()
    return bool(in_period > SCAN_FRACTION * total)


def someone_answered_twice(conn: Connection, period: Period, flow_id: str) -> bool:
    """Whether any resident has two runs that may hold answers in the period (started
    before its end, last active after its start). If not, the per-resident "latest run"
    ranking is skipped: a cheap query on runs saves a window over every respondent."""
    candidates = (
        select(
            func.count(distinct(col(Run.participant_id))).label("people"),
            func.count(col(Run.participant_id)).label("runs"),
        )
        .where(col(Run.flow_id) == flow_id, col(Run.started_at) < period.end,
               col(Run.updated_at) >= period.start)
    )
    people, runs = conn.execute(candidates).one()
    return bool(runs != people)  # runs of erased residents (no participant) are distinct


def district_of(engine: Engine, flow_id: str) -> dict[str, str]:
    """Which district each neighbourhood seen in the answers belongs to."""
    by_value = (
        select(col(Response.value), func.max(col(Response.district)))
        .where(col(Response.flow_id) == flow_id, col(Response.name) == "area",
               col(Response.value).is_not(None))
        .group_by(col(Response.value))
    )
    by_column = (
        select(col(Response.area), func.max(col(Response.district)))
        .where(col(Response.flow_id) == flow_id, col(Response.area).is_not(None))
        .group_by(col(Response.area))
    )
    mapping: dict[str, str] = {}
    with engine.connect() as conn:
        for query in (by_column, by_value):
            for hood, district in conn.execute(query):
                if hood and district:
                    mapping[str(hood)] = str(district)
    return mapping
