"""Soak: sustained load with campaigns on PostgreSQL, with the table lifecycle on.

``engage serve --no-dispatcher``, one ``engage worker`` and ``engage scheduler`` on a private,
throwaway PostgreSQL cluster (initdb + pg_ctl on a free loopback port; see bench/chaos.py),
the fake Twilio API in this process. Residents text at ``--rate`` messages/s (survey answers,
over and over); every ``--campaign-every`` minutes a campaign to everyone who consented starts.
The lifecycle runs as the scheduler's retention tick does, on a compressed clock: every 30 s,
finished outbox rows and message rows older than ``--retention`` minutes are deleted (the rows
are read first, so lost/duplicated/out-of-order can still be counted at the end).

Each minute it prints RSS per process, webhook latency (p50/p99), sends, outbox backlog and
table sizes; at the end lost, duplicated and out of order. Bounded by ``--minutes``.

    .venv/bin/python bench/soak.py --minutes 10 --rate 40
    .venv/bin/python bench/soak.py --minutes 10 --rate 40 --no-lifecycle   # growth, for contrast
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench.chaos import private_postgres  # noqa: E402
from engage.channels.sms import SIGNATURE_HEADER, SMS_WEBHOOK_PATH, sign  # noqa: E402
from engage.storage.lifecycle import purge_old_rows  # noqa: E402
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN  # noqa: E402
from tests.reliability.cluster import (  # noqa: E402
    ENGAGE,
    FROM_NUMBER,
    OUTBOX_ROWS,
    SURVEY,
    Cluster,
    Residents,
    cluster,
    tally,
    unfinished,
    wait_drained,
)


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Load:
    """Residents texting at a steady rate; latencies of accepted webhooks."""

    def __init__(self, made: Cluster, residents: Residents, rate: float, count: int) -> None:
        self.made, self.residents, self.rate, self.count = made, residents, rate, count
        self.latencies: list[float] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self, threads: int) -> list[threading.Thread]:
        pool = [threading.Thread(target=self._work, args=(i, threads)) for i in range(threads)]
        for thread in pool:
            thread.start()
        return pool

    def _work(self, index: int, threads: int) -> None:
        rng = random.Random(index)
        mine = list(range(index, self.count, threads))
        step = {r: 0 for r in mine}
        interval = threads / self.rate
        port = self.made.web_ports()[0]
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                began = time.monotonic()
                resident = rng.choice(mine)
                text = SURVEY[step[resident] % len(SURVEY)]
                step[resident] += 1
                form = {"MessageSid": f"SM{uuid.uuid4().hex}", "From": Residents.number(resident),
                        "To": FROM_NUMBER, "Body": text, "NumMedia": "0",
                        "AccountSid": ACCOUNT_SID}
                signature = sign(AUTH_TOKEN, url + SMS_WEBHOOK_PATH, form)
                try:
                    response = client.post(url + SMS_WEBHOOK_PATH, data=form,
                                           headers={SIGNATURE_HEADER: signature})
                    if response.status_code == 200:
                        with self.lock:
                            self.latencies.append(time.monotonic() - began)
                            self.residents.posted.add(form["MessageSid"])
                except httpx.HTTPError:
                    pass
                self.stop.wait(max(0.0, interval - (time.monotonic() - began)))


def sizes(engine: sa.Engine) -> tuple[float, float, float]:
    with engine.connect() as conn:
        def mb(sql: str) -> float:
            return float(conn.execute(sa.text(sql)).scalar() or 0) / 2**20
        return (mb("SELECT pg_total_relation_size('outbox')"),
                mb("SELECT pg_total_relation_size('message')"),
                mb("SELECT pg_database_size(current_database())"))


def archive_and_purge(engine: sa.Engine, archived: dict[int, tuple[object, ...]],
                      minutes: float) -> int:
    now = datetime.now(UTC)
    cutoff = sa.text(OUTBOX_ROWS + " WHERE status IN ('sent', 'failed', 'cancelled') "
                     "AND created_at < :cutoff")
    from datetime import timedelta
    with engine.connect() as conn:
        for row in conn.execute(cutoff, {"cutoff": now - timedelta(minutes=minutes)}):
            archived[int(row[0])] = tuple(row)
    deleted = purge_old_rows(engine, now=now, days=minutes / 1440)
    return sum(deleted.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=40, help="inbound messages/s")
    parser.add_argument("--residents", type=int, default=2000)
    parser.add_argument("--campaign-every", type=float, default=3, help="minutes")
    parser.add_argument("--retention", type=float, default=2, help="minutes (compressed)")
    parser.add_argument("--lifecycle", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    with private_postgres() as (pg_url, _, _), cluster(pg_url, ENGAGE_SMS_RATE="0",
                                                        ENGAGE_QUIET_HOURS="03:00-03:01") as made:
        made.add("web", "serve", "--no-dispatcher", "--no-migrate", web=True)
        made.add("worker", "worker")
        made.add("scheduler", "scheduler")
        engine = sa.create_engine(made.db_url, poolclass=sa.NullPool)
        residents = Residents(made, count=args.residents, messages=len(SURVEY))
        load = Load(made, residents, args.rate, args.residents)
        pool = load.run(args.threads)
        archived: dict[int, tuple[object, ...]] = {}
        started = time.monotonic()
        next_campaign, next_purge, minute = started + 60, started + 30, 1
        sent_before, purged = 0, 0
        print("min  rss MB (web/worker/scheduler)  p50/p99 ms  sends/min  backlog  "
              "outbox/message/db MB  deleted")
        while time.monotonic() - started < args.minutes * 60:
            now = time.monotonic()
            if now >= next_campaign:
                subprocess.run([ENGAGE, "campaign", "create", "--flow", "satisfaction",
                                "--audience", "all", "--name", f"soak {minute}"],
                               env=made.env(), capture_output=True, timeout=120)
                next_campaign = now + args.campaign_every * 60
            if args.lifecycle and now >= next_purge:
                purged += archive_and_purge(engine, archived, args.retention)
                next_purge = now + 30
            if now - started >= minute * 60:
                with load.lock:
                    window, load.latencies = sorted(load.latencies), []
                p50 = statistics.median(window) * 1000 if window else 0
                p99 = window[int(len(window) * 0.99)] * 1000 if window else 0
                sent = len(made.api.snapshot())
                rss = "/".join(f"{rss_mb(p.popen.pid):.0f}" for p in made.procs.values()
                               if p.popen is not None)
                outbox_mb, message_mb, db_mb = sizes(engine)
                print(f"{minute:3d}  {rss:>28}  {p50:5.1f}/{p99:6.1f}  {sent - sent_before:9d}  "
                      f"{unfinished(made.db_url):7d}  {outbox_mb:6.1f}/{message_mb:6.1f}/"
                      f"{db_mb:6.1f}  {purged:7d}", flush=True)
                sent_before, minute = sent, minute + 1
            time.sleep(0.5)
        load.stop.set()
        for thread in pool:
            thread.join()
        drained = wait_drained(made.db_url, timeout=300)
        result = tally(made, residents, archived)
        print(f"inbound accepted {len(residents.posted)}, stored "
              f"{result.inbound_stored} (rows older than retention deleted: compare only "
              f"without --lifecycle); outbox rows {result.rows}; drained "
              f"{'yes' if drained else 'NO'}")
        print(f"lost = {result.lost}, duplicated = {result.duplicated}, "
              f"out of order = {result.out_of_order}, failed = {result.failed}")
        engine.dispose()


if __name__ == "__main__":
    main()
