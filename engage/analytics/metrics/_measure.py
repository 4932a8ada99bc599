"""``measure``: the raw (unsuppressed) cube of one period, straight from the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine

from engage.analytics.metrics._dimensions import ALL, AREA_DIMENSIONS, SURVEY_FLOW
from engage.analytics.metrics._figures import Key, rollup
from engage.analytics.metrics._queries import (
    aggregate_query,
    district_of,
    invited_query,
    prefer_scan,
    someone_answered_twice,
)
from engage.analytics.periods import Period

PG_WORK_MEM = "64MB"  # per sort/hash node, this transaction only


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
        scan = prefer_scan(conn, period, flow_id)
        dedupe = someone_answered_twice(conn, period, flow_id)
        result = conn.execute(aggregate_query(period, dims, flow_id, scan=scan, dedupe=dedupe))
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
        for row in conn.execute(invited_query(period, area_dims, flow_id)):
            area_key = tuple(str(v) for v in row[: len(area_dims)])
            invited[area_key] = (int(row[-2]), int(row[-1]))
    cube = rollup(finest, len(dims))
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
    districts = district_of(engine, flow_id) if "neighbourhood" in dims else {}
    return Measurement(cube, rates, tuple(sorted(versions)), districts)
