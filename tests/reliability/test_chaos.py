"""Fault injection with real processes (docs/OPERATIONS.md, "Delivery guarantees"): two web
processes, two workers and the scheduler on one database, residents answering the survey with
5% duplicate deliveries, kill -9 of each kind of process at random moments, random 429s and
500s, a provider that accepts and answers after the client's timeout, an outage. After the
queue drains, every reply reached the fake provider exactly once and in queue order.

The short version of ``bench/chaos.py`` (which runs the full 2,000 messages, the 4-minute
outage and a PostgreSQL restart). PostgreSQL runs when ENGAGE_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest

from tests.reliability.cluster import Cluster, Residents, cluster, logs, tally, wait_drained

FAST = {"ENGAGE_OUTBOX_LEASE": "6", "ENGAGE_TWILIO_TIMEOUT": "1", "ENGAGE_RETRY_BACKOFF_CAP": "2",
        "ENGAGE_SHUTDOWN_DRAIN": "2"}


@pytest.fixture(params=["sqlite", "postgresql"])
def pg_base(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    base = os.environ.get("ENGAGE_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("needs ENGAGE_TEST_POSTGRES_URL")
    return base


def _chaos(made: Cluster, stop: threading.Event, seed: int) -> list[str]:
    """kill -9 a web process, a worker and the scheduler (each restarted a second later, as
    systemd or compose would), and a short outage, at random moments."""
    rng = random.Random(seed)
    done: list[str] = []
    events = ["web1", "worker1", "scheduler", "outage", "worker2"]
    rng.shuffle(events)
    restarts = []
    for event in events:
        if stop.wait(rng.uniform(1.0, 3.0)):
            break
        if event == "outage":
            made.api.faults.outage(3.0)
        else:
            restarts.append(made.crash(event))
        done.append(event)
    for thread in restarts:
        thread.join()
    return done


def test_kills_outage_and_provider_faults_lose_and_duplicate_nothing(
        pg_base: str | None) -> None:
    with cluster(pg_base, **FAST) as made:
        made.api.faults.error_rates = {429: 0.03, 500: 0.03}
        made.api.faults.stall_after_accept_rate = 0.03
        made.api.faults.stall_after_accept_for = 1.5
        for name in ("web1", "web2"):
            made.add(name, "serve", "--no-dispatcher", "--no-migrate", web=True)
        made.add("worker1", "worker")
        made.add("worker2", "worker")
        made.add("scheduler", "scheduler")
        residents = Residents(made, count=30, messages=8)
        stop = threading.Event()
        events: list[str] = []
        chaos = threading.Thread(target=lambda: events.extend(_chaos(made, stop, seed=5)))
        chaos.start()
        residents.run(threads=8)
        chaos.join()
        assert wait_drained(made.db_url, timeout=120), logs(made)
        result = tally(made, residents)
        assert len(events) == 5
        assert result.inbound_stored == result.inbound_posted, result.line()
        assert (result.lost, result.duplicated, result.out_of_order) == (0, 0, 0), \
            result.line() + logs(made)
        assert (result.failed, result.unfinished, sum(result.cancelled.values())) == (0, 0, 0), \
            result.line()
        assert result.rows >= 30 * 8


@pytest.mark.parametrize("role", ["worker", "serve"])
def test_sigterm_under_load_exits_within_8_seconds_and_loses_nothing(
        pg_base: str | None, role: str) -> None:
    """A backlog at 20 sends/s with slow answers; SIGTERM: exit 0 within 8 s, nothing stays
    claimed, and a fresh worker sends the rest: every reply exactly once."""
    with cluster(pg_base, ENGAGE_SMS_RATE="20", ENGAGE_OUTBOX_LEASE="60") as made:
        made.api.faults.stall_seconds.extend([0.5] * 2000)  # every answer takes 0.5 s
        if role == "worker":
            made.add("web", "serve", "--no-dispatcher", "--no-migrate", web=True)
            made.add("sender", "worker")
        else:
            made.add("web", "serve", "--no-migrate", web=True)
            made.procs["sender"] = made.procs["web"]
        residents = Residents(made, count=40, messages=4, duplicates=0.0)
        residents.run(threads=8)
        deadline = time.monotonic() + 60
        while len(made.api.snapshot()) < 20 and time.monotonic() < deadline:
            time.sleep(0.1)  # until the backlog is being sent
        took = made.kill("sender", signal.SIGTERM)
        proc = made.procs["sender"].popen
        assert proc is not None and proc.returncode == 0, logs(made)
        assert took < 8.0, f"stopped in {took:.1f} s"
        made.add("after", "worker")
        if role == "serve":
            made.add("web2", "serve", "--no-dispatcher", "--no-migrate", web=True)
        assert wait_drained(made.db_url, timeout=120), logs(made)
        result = tally(made, residents)
        assert (result.lost, result.duplicated, result.out_of_order, result.failed) == \
            (0, 0, 0, 0), result.line() + logs(made)
