"""Benchmark: the console's overview and a summary page on 1,000,000 stored answers.

Prints figures, never asserts on time. Loads synthetic answers into SQLite (the loader of
bench/analytics.py), starts the real app, logs a staff user in, then requests each page
``--repeat`` times and prints p50/p95 in milliseconds. Beside it, in the same run, the same
pages with the page-layer figure cache emptied before every request (the baseline: what each
request would cost if it recomputed the summary: the page cache and the analytics summary
cache both emptied), so the ratio says what the caches buy.

    .venv/bin/python bench/console.py [--responses 1000000] [--repeat 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analytics import PERIOD, load_sqlite  # bench/analytics.py (run from the repo root)
from fastapi.testclient import TestClient

from engage.accounts import service
from engage.analytics import summary_cache
from engage.config import Settings
from engage.storage.db import create_schema, make_engine, session_scope
from engage.web.app import create_app

PASSWORD = "plum kettle orbit 7 lantern"


def _staff(engine: Any) -> None:
    now = datetime.now(UTC)
    with session_scope(engine) as db:
        user = service.create_user(session=db, email="bench@city.example", role="staff",
                                   now=now)
        raw = service.issue_setup_link(session=db, user=user, now=now)
        service.redeem_setup_link(session=db, raw=raw, password=PASSWORD, now=now)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--db", type=Path, help="Keep the loaded SQLite file here and reuse it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.sqlite3"
        url = f"sqlite:///{path.resolve()}"
        reuse = path.exists()
        engine = make_engine(url)
        load_s = 0.0
        if not reuse:
            create_schema(engine)
            load_s = load_sqlite(engine, args.responses)
            _staff(engine)
        settings = Settings(_env_file=None, ENGAGE_ENV="test", ENGAGE_DATA_DIR=tmp,  # type: ignore[call-arg]
                            ENGAGE_DATABASE_URL=url,
                            ENGAGE_SECRET_KEY="bench-secret-0123456789abcdefghijklmnop")
        app = create_app(settings, engine=engine, start_background=False)
        with TestClient(app) as client:
            page = client.get("/console/login").text
            token = page.split('name="csrf_token" value="')[1].split('"')[0]
            client.post("/console/login", data={"email": "bench@city.example",
                                                "password": PASSWORD, "csrf_token": token})
            pages = {"overview": "/console/overview",
                     "summary": f"/console/summaries?period={PERIOD}&by=district"}
            print(f"responses={args.responses:,} load={load_s:.1f}s repeat={args.repeat}")
            for name, path in pages.items():
                cold: list[float] = []
                warm: list[float] = []
                for _ in range(args.repeat):  # alternate: baseline, then cached
                    app.state.console_figures = None
                    summary_cache.clear()
                    t0 = time.perf_counter()
                    assert client.get(path).status_code == 200
                    cold.append((time.perf_counter() - t0) * 1000)
                    t0 = time.perf_counter()
                    assert client.get(path).status_code == 200
                    warm.append((time.perf_counter() - t0) * 1000)
                c50, c95 = _percentiles(cold)
                w50, w95 = _percentiles(warm)
                print(f"{name:<9} cached p50={w50:7.1f} ms p95={w95:7.1f} ms | recomputed "
                      f"p50={c50:8.1f} ms p95={c95:8.1f} ms | p95 ratio {c95 / w95:6.1f}x")
        print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        app.state.runtime.close()


if __name__ == "__main__":
    main()
