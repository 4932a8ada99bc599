"""Inbound throughput, latency and CPU per message through ``Runtime.handle_inbound``.

    .venv/bin/python bench/runtime.py [--messages 6000] [--pg URL] [--threads 8]

SQLite always (a fresh file in a temp dir); PostgreSQL when ``--pg URL`` or
ENGAGE_TEST_POSTGRES_URL is given (a throwaway database is created on that server and dropped;
each run starts with ``ANALYZE``, as autovacuum would have done by then, see ``_analyze``).
Residents walk the shipped satisfaction survey, so each message is a real engine step with
consent, results, scrubbing, sentiment and outbox writes. Each database is measured twice in
one process: one caller at a time (every message its own transaction), and ``--threads``
concurrent callers (different residents, as a webhook server sees them), where messages that
arrive together share a transaction (group commit): as threads calling ``handle_inbound``,
and as coroutines on one event loop calling ``handle_inbound_async`` (the webhooks' way).
Prints messages/s, p50/p99 latency, CPU ms/message and messages per commit.
Targets: >= 1,500/s on SQLite, >= 1,000/s on PostgreSQL (one process).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import StealMeter
from engage.channels.base import Inbound
from engage.config import Settings
from engage.flows_catalog import FlowCatalog
from engage.runtime import Runtime
from engage.storage.db import create_schema, make_engine

SCRIPT = ["hi", "yes", "1", "Canton", "4", "2", "3", "5", "called for help", "4",
          "More street lights near the park and fewer speeding cars please", "yes", "2", "1",
          "yes"]


@dataclass
class Figures:
    rate: float
    p50: float
    p99: float
    messages: int
    cpu_ms: float
    per_commit: float
    steal: float | None = None

    def line(self, label: str, how: str, target: str) -> str:
        return (f"{label:10s}  {self.messages} messages  {self.rate:8.0f} msg/s  "
                f"p50 {self.p50:6.2f} ms  p99 {self.p99:6.2f} ms  cpu {self.cpu_ms:5.2f} ms/msg  "
                f"{self.per_commit:4.1f} msg/commit  {how}  (target >= {target}/s)"
                + (f"  steal {self.steal:.0%}" if self.steal is not None else ""))


def _analyze(engine: sa.Engine) -> None:
    """Current planner statistics, as autovacuum keeps them on a server that has been up a
    minute. Without this the runs after the first measure plans PostgreSQL made for the
    nearly empty tables of a database this script filled seconds ago (sequential scans that
    a running server replaces at its next auto-analyze): measured 563 -> 1,060 msg/s for the
    16 async callers, same code, same run order."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")


def run(url: str, messages: int, settings: Settings, threads: int = 1,
        offset: int = 0, use_async: bool = False) -> Figures:
    """CPU time (``time.process_time``, all threads of this process; the database server's
    own CPU is not included) is the figure to compare on a busy machine: the wall rate
    also counts time spent waiting for cores other processes hold."""
    engine = make_engine(url)
    create_schema(engine)
    runtime = Runtime(engine=engine, settings=settings, catalog=FlowCatalog(settings.flows_dir))
    now = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)
    people = max(1, messages // len(SCRIPT))
    latencies: list[float] = []
    # warm-up (imports, flow publication, connection pool)
    runtime.handle_inbound(Inbound("sms", f"+1443{offset:07d}", "hi", f"warm{offset}", now))
    if engine.dialect.name == "postgresql":
        _analyze(engine)
    before = runtime.batch_stats

    def one(person: int, step: int, text: str) -> float:
        t0 = time.perf_counter()
        who = offset + person
        # each message its own received_at (a new object, as in production: nothing cached)
        at = now + timedelta(microseconds=step * people + person)
        runtime.handle_inbound(Inbound("sms", f"+1410{who:07d}", text, f"SM{who}-{step}", at))
        return time.perf_counter() - t0

    meter = StealMeter().__enter__()
    start = time.perf_counter()
    cpu_start = time.process_time()
    n = 0
    if use_async:
        # the webhooks' way in: coroutines on one event loop, ``handle_inbound_async``
        async def resident_async(person: int) -> list[float]:
            timings = []
            for step, text in enumerate(SCRIPT):
                t0 = time.perf_counter()
                who = offset + person
                at = now + timedelta(microseconds=step * people + person)
                await runtime.handle_inbound_async(
                    Inbound("sms", f"+1410{who:07d}", text, f"SM{who}-{step}", at))
                timings.append(time.perf_counter() - t0)
            return timings

        async def everyone() -> list[list[float]]:
            gate = asyncio.Semaphore(threads)

            async def limited(person: int) -> list[float]:
                async with gate:
                    return await resident_async(person)

            return await asyncio.gather(*(limited(p) for p in range(people)))

        for result in asyncio.run(everyone()):
            latencies.extend(result)
            n += len(result)
    elif threads == 1:
        for step, text in enumerate(SCRIPT):
            for person in range(people):
                latencies.append(one(person, step, text))
                n += 1
    else:
        # concurrent webhooks in one process: each resident's messages stay in order
        def resident(person: int) -> list[float]:
            return [one(person, step, text) for step, text in enumerate(SCRIPT)]

        with ThreadPoolExecutor(threads) as pool:
            for result in pool.map(resident, range(people)):
                latencies.extend(result)
                n += len(result)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    meter.__exit__()
    after = runtime.batch_stats
    runtime.close()
    engine.dispose()
    latencies.sort()
    commits = max(1, after["batches"] - before["batches"])
    return Figures(rate=n / elapsed, p50=statistics.median(latencies) * 1000,
                   p99=latencies[int(len(latencies) * 0.99) - 1] * 1000, messages=n,
                   cpu_ms=cpu * 1000 / n, per_commit=(after["jobs"] - before["jobs"]) / commits,
                   steal=meter.share)


def main() -> None:
    parser = argparse.ArgumentParser(description="runtime inbound benchmark")
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--pg", default=os.environ.get("ENGAGE_TEST_POSTGRES_URL"))
    parser.add_argument("--threads", type=int, default=16,
                        help="concurrent callers for the group-commit figures")
    parser.add_argument("--only", choices=("sqlite", "postgresql"),
                        help="measure one backend only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, ENGAGE_DATA_DIR=tmp, ENGAGE_ENV="test",  # type: ignore[call-arg]
                            ENGAGE_SECRET_KEY="bench-secret-" + "x" * 40)
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        sqlite_url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        if args.only != "postgresql":
            print(run(sqlite_url, args.messages, settings).line("sqlite", "1 caller", "1500"))
            print(run(sqlite_url, args.messages, settings, threads=args.threads,
                      offset=1_000_000).line("sqlite", f"{args.threads} threads", "1500"))
            print(run(sqlite_url, args.messages, settings, threads=args.threads,
                      offset=2_000_000, use_async=True).line(
                          "sqlite", f"{args.threads} async callers", "1500"))
        if args.pg and args.only != "sqlite":
            base = sa.make_url(args.pg)
            name = f"engage_bench_{uuid.uuid4().hex[:8]}"
            admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            try:
                url = base.set(database=name).render_as_string(hide_password=False)
                print(run(url, args.messages, settings).line(
                    "postgresql", "1 caller (one WAL fsync per commit)", "1000"))
                print(run(url, args.messages * 2, settings, threads=args.threads,
                          offset=1_000_000).line("postgresql", f"{args.threads} threads", "1000"))
                print(run(url, args.messages * 2, settings, threads=args.threads,
                          offset=2_000_000, use_async=True).line(
                              "postgresql", f"{args.threads} async callers", "1000"))
            finally:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.dispose()
        else:
            print("postgresql  skipped (pass --pg URL or set ENGAGE_TEST_POSTGRES_URL)")


if __name__ == "__main__":
    main()
