"""Benchmark: ``GET /api/v1/summary`` on 1,000,000 stored answers (target: p95 < 300 ms).

Loads the synthetic answers of ``bench/analytics.py`` into SQLite (and PostgreSQL with --pg
URL or ENGAGE_TEST_POSTGRES_URL), builds the real app, creates a staff account and token,
and sends requests through the whole ASGI stack (token check, rate limit, summary, JSON
rendering, the audit entry each download writes). Prints, never asserts:

* ``cold``: the first request (the summary is measured: one GROUP BY over the quarter);
* ``api``: p50/p95/max of the following requests (served from the cache keyed on the data
  version, which each request still reads);
* ``baseline``: ``metrics.summarize`` called directly, uncached, in the same run: what every
  request would cost without the cache (ratio = baseline median / api p95);
* ``churn``: one new answer stored every ``--write-every`` requests: the request after each
  write measures afresh (as long as ``cold``); the others stay cached (what a dashboard sees
  while a campaign is live).

    .venv/bin/python bench/api.py [--responses 1000000] [--requests 200] [--write-every 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics import PERIOD, load_postgres, load_sqlite, scratch_postgres
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from engage.accounts import service
from engage.analytics import summary_cache
from engage.analytics.metrics import summarize
from engage.analytics.periods import parse_period
from engage.config import Settings
from engage.storage.db import create_schema, make_engine, session_scope
from engage.web.app import create_app

BY = "district,age_band"
NOW = datetime(2026, 10, 2, 12, tzinfo=UTC)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(call: Callable[[], Any]) -> float:
    began = time.perf_counter()
    call()
    return (time.perf_counter() - began) * 1000


def add_answer(engine: Engine, n: int) -> None:
    """One more stored answer (an upsert moves the data version, as the runtime's would)."""
    at = datetime(2026, 9, 29, tzinfo=UTC) + timedelta(seconds=n)  # the newest answer
    with engine.begin() as conn:
        run_id = conn.execute(text("SELECT max(id) FROM run")).scalar_one()
        conn.execute(text(
            "UPDATE response SET answered_at = :at WHERE run_id = :run AND name = 'safe_day'"),
            {"at": at.replace(tzinfo=None) if engine.dialect.name == "sqlite" else at,
             "run": run_id})


def bench(engine: Engine, label: str, args: argparse.Namespace, settings: Settings) -> None:
    create_schema(engine)
    loader = load_postgres if engine.dialect.name == "postgresql" else load_sqlite
    load_s = loader(engine, args.responses)
    with session_scope(engine) as s:
        user = service.create_user(session=s, email="bench@city.example", role="staff", now=NOW)
        raw, _ = service.create_token(session=s, user=user, now=NOW)
    app = create_app(settings, engine=engine, start_background=False)
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {raw}"}
    url = f"/api/v1/summary?period={PERIOD}&by={BY}"

    def get() -> None:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text

    summary_cache.clear()
    cold = timed(get)
    warm = [timed(get) for _ in range(args.requests)]
    period = parse_period(PERIOD, settings.timezone)
    baseline = [timed(lambda: summarize(engine, period, BY.split(","), min_cell_size=10))
                for _ in range(args.baseline)]
    version = [timed(lambda: summary_cache.data_version(engine)) for _ in range(50)]
    churn: list[float] = []
    misses: list[float] = []
    for i in range(args.requests):
        if i % args.write_every == 0:
            add_answer(engine, i + 1)
            misses.append(timed(get))  # the first request after a write measures afresh
        else:
            churn.append(timed(get))
    p95 = percentile(warm, 0.95)
    base = statistics.median(baseline)
    print(f"{label:<10} responses={args.responses:,} load={load_s:.1f}s")
    print(f"{'':<10} cold first request        {cold:8.1f} ms")
    print(f"{'':<10} api  p50 {percentile(warm, 0.5):7.1f} ms  p95 {p95:7.1f} ms  "
          f"max {max(warm):7.1f} ms  ({args.requests} requests)")
    print(f"{'':<10} baseline summarize median {base:7.1f} ms  ratio baseline/api-p95 "
          f"{base / p95:6.1f}x")
    print(f"{'':<10} data version check  median {statistics.median(version):5.2f} ms")
    every = churn + misses
    print(f"{'':<10} churn (a write every {args.write_every} requests): first request after a "
          f"write median {statistics.median(misses):7.1f} ms; others p95 "
          f"{percentile(churn, 0.95):6.1f} ms; all p95 {percentile(every, 0.95):7.1f} ms")
    print(f"{'':<10} load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    app.state.runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--baseline", type=int, default=3)
    parser.add_argument("--write-every", type=int, default=20)
    parser.add_argument("--pg", default=os.environ.get("ENGAGE_TEST_POSTGRES_URL"))
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, ENGAGE_ENV="test", ENGAGE_DATA_DIR=tmp,  # type: ignore[call-arg]
                            ENGAGE_SECRET_KEY="bench-secret-key-0123456789abcdefghij",
                            ENGAGE_API_RATE_LIMIT=10**9)
        if not args.skip_sqlite:
            engine = make_engine(f"sqlite:///{tmp}/bench.sqlite3")
            try:
                bench(engine, "sqlite", args, settings)
            finally:
                engine.dispose()
        if args.pg:
            with scratch_postgres(args.pg) as engine:
                bench(engine, "postgresql", args, settings)

if __name__ == "__main__":
    main()
