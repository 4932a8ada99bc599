"""Benchmark: summarize 1,000,000 stored survey answers by quarter x district x age band.

Prints figures, never asserts on time. For each backend (SQLite always; PostgreSQL with
--pg URL or ENGAGE_TEST_POSTGRES_URL) it bulk-loads synthetic answers (executemany on
SQLite, COPY on PostgreSQL), then times in the same run:

* ``engage``: the full ``metrics.summarize`` (pivot per respondent, every Likert item with
  its distribution and 95% intervals, indices, sentiment shares, margins, suppression);
* ``bare``: one plain ``SELECT district, name, count(*), avg(number) ... GROUP BY`` over the
  same rows, the floor any summary has to pay to read them.

    .venv/bin/python bench/analytics.py [--responses 1000000] [--pg URL] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from engage.analytics.metrics import Summary, summarize
from engage.analytics.periods import parse_period
from engage.storage.db import create_schema, make_engine

DISTRICTS = ["Central", "Eastern", "Northeastern", "Northern", "Northwestern", "Southeastern",
             "Southern", "Southwestern", "Western"]
AGE_BANDS = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
RACE = ["black", "white", "hispanic_latino", "asian", "other", "prefer_not_to_say"]
CONTACT = ["called_for_help", "stopped_by_police", "crisis_response", "community_event", "none"]
LIKERT = ["safe_day", "safe_night", "trust_respect", "trust_listen", "contact_satisfaction"]
TEXTS = ["more lights on the corner", "police never come when called", "it's fine",
         "more patrols at night please", "feel safe, good neighbours"]
PERIOD = "2026Q3"
START = datetime(2026, 7, 1, 12, tzinfo=UTC)
RESPONSES_PER_RUN = 10  # area + 5 Likert + 3 groups + 1 free text


def synthetic(responses: int, seed: int = 42) -> tuple[list[tuple], list[tuple], Iterator[tuple]]:
    """Participants, runs and a generator of response rows (plain tuples, fast to load)."""
    rng = random.Random(seed)
    runs = max(1, responses // RESPONSES_PER_RUN)
    participants: list[tuple] = []
    run_rows: list[tuple] = []
    meta: list[tuple[int, str, str, datetime]] = []
    for i in range(1, runs + 1):
        district = rng.choice(DISTRICTS)
        area = f"{district} {rng.randint(1, 12)}"
        at = START + timedelta(seconds=rng.randrange(88 * 24 * 3600))
        participants.append((i, f"{i:064x}", "sms", "en", district, area, False, "granted",
                             START.replace(tzinfo=None)))
        run_rows.append((i, i, "satisfaction", "completed", "{}", at.replace(tzinfo=None),
                         at.replace(tzinfo=None)))
        meta.append((i, district, area, at))

    def rows() -> Iterator[tuple]:
        rid = 0
        for run_id, district, area, at in meta:
            naive = at.replace(tzinfo=None)
            bias = rng.choice((0, 0, 1, -1))
            answers: list[tuple[str, str, str | None, float | None, str | None, float | None]] = [
                ("area", "area", area, None, None, None)
            ]
            for item in LIKERT:
                n = min(5, max(1, rng.randint(1, 5) + bias))
                answers.append((item, "likert", str(n), float(n), None, None))
            answers.append(("age_band", "choice", rng.choice(AGE_BANDS), None, None, None))
            answers.append(("race_ethnicity", "choice", rng.choice(RACE), None, None, None))
            answers.append(("contact_type", "choice", rng.choice(CONTACT), None, None, None))
            answers.append(("safer", "text", None, None, rng.choice(TEXTS),
                            round(rng.uniform(-1, 1), 3)))
            for name, qtype, value, number, txt, sent in answers:
                rid += 1
                if rid > responses:
                    return
                yield (rid, run_id, run_id, "satisfaction", name, qtype, value, value, number,
                       txt, sent, "bench-1" if sent is not None else None, area, district, naive)

    return participants, run_rows, rows()


P_COLS = "id, key, channel, language, district, area, opted_out, consent_surveys, created_at"
R_COLS = "id, participant_id, flow_id, status, state, started_at, updated_at"
A_COLS = ("id, run_id, participant_id, flow_id, name, question_type, value, category, number, "
          "text, sentiment, sentiment_version, area, district, answered_at")


def load_sqlite(engine: Engine, responses: int) -> float:
    participants, runs, rows = synthetic(responses)
    began = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("BEGIN")  # make_engine runs pysqlite in autocommit mode
        cur.executemany(f"INSERT INTO participant ({P_COLS}) VALUES (?,?,?,?,?,?,?,?,?)",
                        participants)
        cur.executemany(f"INSERT INTO run ({R_COLS}) VALUES (?,?,?,?,?,?,?)", runs)
        cur.executemany(
            f"INSERT INTO response ({A_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
        )
        cur.execute("COMMIT")
        cur.execute("ANALYZE")
    finally:
        raw.close()
    return time.perf_counter() - began


def load_postgres(engine: Engine, responses: int) -> float:
    participants, runs, rows = synthetic(responses)
    began = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, cols, data in (("participant", P_COLS, participants), ("run", R_COLS, runs),
                                  ("response", A_COLS, rows)):
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for record in data:
                    copy.write_row(record)
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - began


BARE = """
SELECT district, name, count(*), avg(number)
FROM response
WHERE flow_id = 'satisfaction' AND answered_at >= :start AND answered_at < :end
GROUP BY district, name
"""


T = TypeVar("T")


def timed(fn: Callable[[], T], repeat: int) -> tuple[float, float, T]:
    """Median wall and median CPU time (this process) of ``repeat`` calls, and the result.

    On SQLite the database runs inside this process, so CPU time is the figure that a busy
    machine does not inflate; on PostgreSQL the work is in the server, so read wall time.
    """
    walls, cpus = [], []
    result = fn()  # warm-up (caches, prepared plans), as a running server would be
    for _ in range(repeat):
        began, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def bench(engine: Engine, label: str, responses: int, repeat: int) -> None:
    create_schema(engine)
    loader = load_postgres if engine.dialect.name == "postgresql" else load_sqlite
    load_s = loader(engine, responses)
    period = parse_period(PERIOD, "America/New_York")
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM response")).scalar_one()

    def full() -> Summary:
        return summarize(engine, period, ("district", "age_band"), min_cell_size=10)

    def bare() -> list[Any]:
        with engine.connect() as conn:
            start, end = period.start, period.end
            if engine.dialect.name == "sqlite":
                start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
            return list(conn.execute(text(BARE), {"start": start, "end": end}).all())

    engage_s, engage_cpu, summary = timed(full, repeat)
    bare_s, bare_cpu, _ = timed(bare, repeat)
    total = summary.total().figures["respondents"]
    cells = len(summary.rows)
    print(f"{label:<10} responses={stored:>9,} load={load_s:6.1f}s  engage summarize="
          f"{engage_s:6.2f}s (cpu {engage_cpu:5.2f}s; {cells} cells, {int(total or 0):,} "
          f"respondents)  bare GROUP BY={bare_s:6.2f}s (cpu {bare_cpu:5.2f}s)  "
          f"ratio={engage_s / bare_s:4.1f}x")
    print(f"{'':<10} load average while timing: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


@contextmanager
def scratch_postgres(url: str) -> Iterator[Engine]:
    """An engine on a new, uniquely named database on the server at ``url``; dropped after."""
    server = make_url(url)
    name = f"engage_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(server.set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--pg", default=os.environ.get("ENGAGE_TEST_POSTGRES_URL"),
                        help="PostgreSQL server URL (a scratch database is created and dropped)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    print(f"summarize {PERIOD} by district x age_band; median of {args.repeat} runs")
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{tmp}/bench.sqlite3")
            try:
                bench(engine, "sqlite", args.responses, args.repeat)
            finally:
                engine.dispose()
    if args.pg:
        with scratch_postgres(args.pg) as engine:
            bench(engine, "postgresql", args.responses, args.repeat)
    else:
        print("postgresql skipped (set ENGAGE_TEST_POSTGRES_URL or pass --pg URL)")


if __name__ == "__main__":
    main()
