"""Campaign fan-out, end to end: a large campaign's outbox rows, then its sends.

1. N residents (default 100,000) are inserted with encrypted addresses and survey consent.
2. A campaign to ``all`` with the throttle off is created; the campaign tick
   (``engage.scheduling.campaigns.run_campaigns``, the real ``Runtime.start_run`` per resident:
   engine start, run row, outbox rows with unique dedupe keys) is timed until every resident is
   invited: *seconds to create the outbox rows*.
3. The fake Twilio REST API runs on loopback in its own process; W ``engage worker`` processes
   (default 2, the real Dispatcher and twilio-python ``Client``) drain the outbox with the SMS
   rate limit off: *sends per second* (first to last ``sent_at``, and wall clock from start).

    .venv/bin/python bench/fanout.py [--residents 100000] [--workers 2] [--url URL]

Without ``--url`` a fresh database is created on ENGAGE_BENCH_POSTGRES_URL's server
(default postgresql+psycopg://postgres@127.0.0.1:5432/postgres) and dropped afterwards.
Quiet hours are switched off for the run so the figure does not depend on the time of day.
Figures, not pass/fail: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
FROM_NUMBER = "+14105550000"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_env(url: str, api_url: str | None, data_dir: str) -> dict[str, str]:
    from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENGAGE_", "TWILIO_"))}
    env.update(ENGAGE_ENV="development", ENGAGE_DATABASE_URL=url, ENGAGE_SECRET_KEY=SECRET,
               ENGAGE_DATA_DIR=data_dir, ENGAGE_QUIET_HOURS="00:00-00:00", ENGAGE_SMS_RATE="0",
               ENGAGE_INPROCESS_SCHEDULER="false")
    if api_url:
        env.update(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                   TWILIO_FROM_NUMBER=FROM_NUMBER, ENGAGE_TWILIO_API_URL=api_url)
    return env


def insert_residents(engine: sa.Engine, secret: bytes, count: int) -> float:
    from engage.privacy import encrypt_address, participant_key
    from engage.storage.tables import Participant

    started = time.perf_counter()
    now = datetime.now(UTC)
    chunk = 5000
    with engine.begin() as conn:
        for base in range(0, count, chunk):
            rows = []
            for i in range(base, min(base + chunk, count)):
                number = f"+1410{2000000 + i:07d}"
                rows.append({"key": participant_key(secret, "sms", number), "channel": "sms",
                             "address_enc": encrypt_address(secret, number), "language": "en",
                             "timezone": "America/New_York", "opted_out": False,
                             "consent_surveys": "granted", "created_at": now})
            conn.execute(sa.insert(Participant), rows)
    return time.perf_counter() - started


def fan_out(engine: sa.Engine, settings: Any, count: int, threads: int) -> tuple[int, float]:
    from engage.flows_catalog import FlowCatalog
    from engage.runtime import Runtime
    from engage.scheduling.campaigns import campaign_progress, create_campaign, run_campaigns
    from engage.storage.db import session_scope

    runtime = Runtime(engine=engine, settings=settings, catalog=FlowCatalog(settings.flows_dir))
    with session_scope(engine) as session:
        cid = create_campaign(session=session, settings=settings, flow_id="satisfaction",
                              now=datetime.now(UTC), audience="all").id
    assert cid is not None
    started = time.perf_counter()
    invited = 0
    while True:
        # RunStarter says start_run returns a Run; the runtime returns its run record
        report = run_campaigns(engine=engine, starter=runtime,  # type: ignore[arg-type]
                               settings=settings,
                               now=datetime.now(UTC), batch=500,
                               parallel=threads)
        invited += report.invited
        print(f"  invited {invited}/{count} ({time.perf_counter() - started:.1f}s)",
              file=sys.stderr)
        if report.invited == 0:
            break
    seconds = time.perf_counter() - started
    with session_scope(engine) as session:
        progress = campaign_progress(session=session, campaign_id=cid)
    return progress.messages_queued, seconds


def drain(url: str, env: dict[str, str], workers: int, expected: int) -> dict[str, float]:
    from sqlmodel import col

    from engage.storage.tables import Outbox

    engine = sa.create_engine(url, poolclass=sa.NullPool)
    procs = [subprocess.Popen([str(ROOT / ".venv/bin/engage"), "worker", "--batch", "200"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for _ in range(workers)]
    started = time.perf_counter()
    sent = 0
    try:
        while True:
            time.sleep(0.5)
            with engine.connect() as conn:
                counts: dict[str, int] = {
                    str(status): int(count) for status, count in conn.execute(
                        sa.select(col(Outbox.status), sa.func.count())
                        .group_by(col(Outbox.status))).all()}
            sent = int(counts.get("sent", 0))
            done = sent + int(counts.get("failed", 0)) + int(counts.get("cancelled", 0))
            print(f"  sent {sent}/{expected} {dict(counts)}", file=sys.stderr)
            if done >= expected:
                break
            if any(p.poll() is not None for p in procs):
                errors = b"".join(p.stderr.read() for p in procs if p.poll() is not None
                                  and p.stderr is not None)
                raise SystemExit("a worker died: " + errors.decode(errors="replace")[-2000:])
        wall = time.perf_counter() - started
        with engine.connect() as conn:
            first, last = conn.execute(sa.select(sa.func.min(Outbox.sent_at),
                                                 sa.func.max(Outbox.sent_at))).one()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
        engine.dispose()
    span = max((last - first).total_seconds(), 1e-9) if first and last else float("nan")
    return {"sent": sent, "wall_seconds": wall, "send_span_seconds": span,
            "sends_per_second": sent / span, "sends_per_second_wall": sent / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8, help="fan-out threads (PostgreSQL)")
    parser.add_argument("--url", help="database URL (default: a fresh PostgreSQL database)")
    parser.add_argument("--no-send", action="store_true", help="only time the fan-out")
    args = parser.parse_args()

    from engage.config import Settings
    from engage.storage.db import create_schema, engine_options, make_engine

    admin = None
    url = args.url
    if url is None:
        base = os.environ.get("ENGAGE_BENCH_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
        name = f"engage_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(sa.make_url(base).set(database="postgres"),
                                 isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    data_dir = tempfile.mkdtemp(prefix="engage-bench-")
    os.environ.update(bench_env(url, None, data_dir))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    engine = make_engine(url, **cast(dict[str, Any], engine_options(url)))
    fake = None
    try:
        create_schema(engine)
        backend = engine.dialect.name
        print(f"backend={backend} residents={args.residents} workers={args.workers}")
        seconds = insert_residents(engine, settings.secret_bytes(), args.residents)
        print(f"insert residents: {seconds:.1f}s")
        rows, seconds = fan_out(engine, settings, args.residents, args.threads)
        print(f"fan-out: {rows} outbox rows for {args.residents} residents in {seconds:.1f}s "
              f"({args.residents / seconds:.0f} residents/s, {args.threads} threads)")
        if args.no_send:
            return
        port = free_port()
        fake = subprocess.Popen([sys.executable, str(ROOT / "tests/fakes/twilio_api.py"),
                                 "--port", str(port)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.1)
        env = bench_env(url, f"http://127.0.0.1:{port}", data_dir)
        result = drain(url, env, args.workers, rows)
        print(f"sends: {result['sent']:.0f} in {result['send_span_seconds']:.1f}s first-to-last "
              f"= {result['sends_per_second']:.0f}/s ({result['sends_per_second_wall']:.0f}/s "
              f"wall clock incl. worker start-up) with {args.workers} workers")
    finally:
        if fake is not None:
            fake.terminate()
            fake.wait(10)
        engine.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{sa.make_url(url).database}" '
                                     "WITH (FORCE)")
            admin.dispose()


if __name__ == "__main__":
    main()
