"""Delivery under faults: real engage processes on loopback, killed and starved, and what
reached the (fake) provider. Figures, not pass/fail; tests/reliability runs a short version.

Two ``engage serve --no-dispatcher``, two ``engage worker`` and ``engage scheduler`` on one
database; residents answer the survey through signed Twilio webhooks (5% delivered twice);
during the run: kill -9 of a web process, of each worker and of the scheduler at random
moments (each restarted a second later, as systemd or compose would), 429s and 500s, answers
that arrive after the client's timeout although the message was accepted, a provider outage
(500 to everything, 4 minutes by default), and with ``--pg`` a restart of PostgreSQL.

The PostgreSQL restart never touches a shared server: ``--pg`` starts a private, throwaway
cluster (initdb + pg_ctl as the ``postgres`` user, a temporary directory, a free loopback port)
and restarts that one. Bounded: every phase has a deadline; only 127.0.0.1.

    .venv/bin/python bench/chaos.py                      # SQLite, full size (2,000 messages)
    .venv/bin/python bench/chaos.py --pg                 # private PostgreSQL, with a restart
    .venv/bin/python bench/chaos.py --outage 30 --residents 50   # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.reliability.cluster import (  # noqa: E402
    Cluster,
    Residents,
    cluster,
    free_port,
    tally,
    unfinished,
    wait_drained,
)


@contextlib.contextmanager
def private_postgres() -> Iterator[tuple[str, Path, int]]:
    """A throwaway PostgreSQL cluster on a free loopback port: (URL, data dir, port)."""
    initdb = shutil.which("initdb")
    if initdb is None:
        raise SystemExit("--pg needs initdb and pg_ctl on PATH")
    home = Path(tempfile.mkdtemp(prefix="engage-chaos-pg-"))
    data, port = home / "data", free_port()
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if run_as:
        shutil.chown(home, "postgres")
    subprocess.run([*run_as, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    try:
        pg_ctl(run_as, data, port, "start")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", data, port
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run([*run_as, "pg_ctl", "-D", str(data), "-m", "immediate", "stop"],
                           check=True, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def pg_ctl(run_as: list[str], data: Path, port: int, action: str) -> None:
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=200"
    subprocess.run([*run_as, "pg_ctl", "-D", str(data), "-o", options, "-l",
                    str(data / "server.log"), "-w", "-m", "fast", action],
                   check=True, capture_output=True)


def chaos(made: Cluster, args: argparse.Namespace, stop: threading.Event,
          restart_pg: object | None, log: list[str]) -> None:
    """The faults, at random moments within the first part of the run."""
    rng = random.Random(args.seed)
    started = time.monotonic()
    restarts: list[threading.Thread] = []
    plan = [(rng.uniform(2, 25), name) for name in ("web1", "worker1", "scheduler", "worker2")]
    plan.append((rng.uniform(3, 8), "outage"))
    if restart_pg is not None:
        plan.append((rng.uniform(10, 30), "postgres"))
    for at, event in sorted(plan):
        if stop.wait(max(0.0, started + at - time.monotonic())):
            return
        moment = time.monotonic() - started
        if event == "outage":
            made.api.faults.outage(args.outage)
            log.append(f"{moment:6.1f}s provider outage for {args.outage:.0f} s")
        elif event == "postgres":
            assert callable(restart_pg)
            restart_pg()
            log.append(f"{moment:6.1f}s PostgreSQL restarted")
        else:
            restarts.append(made.crash(event))
            log.append(f"{moment:6.1f}s kill -9 {event}")
    for thread in restarts:
        thread.join()


def run(args: argparse.Namespace, pg_base: str | None, restart_pg: object | None) -> None:
    settings = {"ENGAGE_OUTBOX_LEASE": str(args.lease), "ENGAGE_TWILIO_TIMEOUT": "2",
                "ENGAGE_RETRY_BACKOFF_CAP": str(args.backoff_cap)}
    with cluster(pg_base, **settings) as made:
        faults = made.api.faults
        faults.error_rates = {429: args.errors / 2, 500: args.errors / 2}
        faults.stall_after_accept_rate = args.stalls
        faults.stall_after_accept_for = 3.0
        for name in ("web1", "web2"):
            made.add(name, "serve", "--no-dispatcher", "--no-migrate", web=True)
        for name in ("worker1", "worker2"):
            made.add(name, "worker")
        made.add("scheduler", "scheduler")
        residents = Residents(made, count=args.residents, messages=args.messages,
                              duplicates=args.duplicates, seed=args.seed)
        stop, events = threading.Event(), list[str]()
        faulting = threading.Thread(target=chaos, args=(made, args, stop, restart_pg, events))
        started = time.monotonic()
        faulting.start()
        residents.run(threads=args.threads)
        loaded = time.monotonic() - started
        faulting.join()
        backlog = unfinished(made.db_url)
        drained = wait_drained(made.db_url, timeout=args.outage + 600)
        total = time.monotonic() - started
        result = tally(made, residents)
        print(f"database: {'PostgreSQL (private cluster)' if pg_base else 'SQLite'}")
        for line in events:
            print(f"  {line}")
        print(f"inbound: {result.inbound_posted} messages from {args.residents} residents "
              f"({args.duplicates:.0%} delivered twice), {residents.retried_posts} webhook "
              f"retries (a web process or the database was down); stored "
              f"{result.inbound_stored}")
        print(f"timings: load {loaded:.1f} s; backlog at end of load {backlog}; "
              f"drained {'yes' if drained else 'NO'} after {total:.1f} s")
        print(f"provider: {made.api.requests} create requests, {made.api.list_requests} "
              f"lookups (Message list)")
        print(f"outbox: {result.rows} rows; failed {result.failed}; unfinished "
              f"{result.unfinished}; cancelled {dict(result.cancelled) or 0}")
        print(f"lost = {result.lost}, duplicated = {result.duplicated}, "
              f"out of order = {result.out_of_order}")
        for sample in result.samples[:5]:
            print(f"  {sample}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=200)
    parser.add_argument("--messages", type=int, default=10, help="per resident (max 14)")
    parser.add_argument("--duplicates", type=float, default=0.05)
    parser.add_argument("--errors", type=float, default=0.04, help="share of 429s + 500s")
    parser.add_argument("--stalls", type=float, default=0.02,
                        help="share of sends accepted, then answered after the timeout")
    parser.add_argument("--outage", type=float, default=240.0, help="seconds of 500s")
    parser.add_argument("--lease", type=float, default=20.0)
    parser.add_argument("--backoff-cap", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg", action="store_true",
                        help="a private PostgreSQL cluster, restarted mid-run")
    args = parser.parse_args()
    if not args.pg:
        run(args, None, None)
        return
    with private_postgres() as (url, data, port):
        run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        run(args, url, lambda: pg_ctl(run_as, data, port, "restart"))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    main()
