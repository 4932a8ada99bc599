"""Real engage processes on loopback against the fake Twilio API, for fault injection.

``Cluster`` starts ``engage serve --no-dispatcher`` web processes, ``engage worker`` and
``engage scheduler`` as the deploy files run them (one database, migrated by ``engage db
upgrade`` first), kills and restarts them, and plays residents: signed Twilio webhooks, some
delivered twice, retried on another web process when one is down (as a load balancer would).
``Tally`` compares what the outbox says engage sent with what reached the fake provider:
lost, duplicated, out of order, failed. Used by tests/reliability and bench/chaos.py.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from engage.channels.sms import SIGNATURE_HEADER, SMS_WEBHOOK_PATH, sign
from engage.privacy import decrypt_address
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioAPI

SECRET = "reliability-secret-key-0123456789abcdefghijklmnop"
FROM_NUMBER = "+14435550000"
SURVEY = ["Hello", "YES", "1", "Hampden", "4", "2", "3", "4", "5", "More street lights", "yes",
          "2", "skip", "no"]
ENGAGE = str(Path(sys.executable).with_name("engage"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def database(pg_base: str | None, workdir: Path) -> Iterator[str]:
    """A fresh database: a new SQLite file, or a uniquely named PostgreSQL database."""
    if not pg_base:
        yield f"sqlite:///{workdir / 'engage.sqlite3'}"
        return
    admin = sa.create_engine(sa.make_url(pg_base).set(database="postgres"),
                             isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    name = f"engage_rel_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(pg_base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@dataclass
class Proc:
    name: str
    args: list[str]
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class Cluster:
    """Processes sharing one database and one fake Twilio API; see the module docstring."""

    db_url: str
    api: FakeTwilioAPI
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)

    def env(self, port: int | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ENGAGE_", "TWILIO_"))}
        env.update({
            "ENGAGE_ENV": "test", "ENGAGE_DATABASE_URL": self.db_url,
            "ENGAGE_SECRET_KEY": SECRET, "ENGAGE_DATA_DIR": str(self.workdir / "var"),
            "ENGAGE_PUBLIC_URL": f"http://127.0.0.1:{port or 8000}",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": FROM_NUMBER, "ENGAGE_TWILIO_API_URL": self.api.url,
            "ENGAGE_INPROCESS_SCHEDULER": "false", "ENGAGE_SMS_RATE": "0",
            "ENGAGE_QUIET_HOURS": "03:00-03:01",
        })
        env.update(self.extra_env)
        return env

    def migrate(self) -> None:
        subprocess.run([ENGAGE, "db", "upgrade"], env=self.env(), check=True,
                       capture_output=True, timeout=120)

    def add(self, name: str, *args: str, web: bool = False) -> Proc:
        port = free_port() if web else None
        argv = [ENGAGE, *args] + (["--port", str(port)] if web else [])
        proc = Proc(name, argv, port, log=self.workdir / f"{name}.log")
        self.procs[name] = proc
        self.start(name)
        return proc

    def start(self, name: str) -> None:
        proc = self.procs[name]
        assert proc.log is not None
        with proc.log.open("ab") as log:
            proc.popen = subprocess.Popen(proc.args, env=self.env(proc.port), stdout=log,
                                          stderr=subprocess.STDOUT)
        if proc.port is not None:
            wait_port(proc.port)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> float:
        """Send ``sig``; return how long the process took to exit."""
        proc = self.procs[name]
        assert proc.popen is not None
        started = time.monotonic()
        proc.popen.send_signal(sig)
        proc.popen.wait(30)
        return time.monotonic() - started

    def crash(self, name: str, restart_after: float = 1.0) -> threading.Thread:
        """kill -9, then start it again in the background (as systemd or compose would)."""
        self.kill(name)

        def restart() -> None:
            time.sleep(restart_after)
            self.start(name)

        thread = threading.Thread(target=restart, name=f"restart-{name}")
        thread.start()
        return thread

    def web_ports(self) -> list[int]:
        return [p.port for p in self.procs.values() if p.port is not None]

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.alive:
                assert proc.popen is not None
                proc.popen.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            if proc.popen is not None:
                try:
                    proc.popen.wait(15)
                except subprocess.TimeoutExpired:
                    proc.popen.kill()


def wait_port(port: int, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


@dataclass
class Residents:
    """Residents answering the survey: each sends its next message once the last one was
    acknowledged; ``duplicates`` of the deliveries are sent twice (a provider retry)."""

    cluster: Cluster
    count: int
    messages: int
    duplicates: float = 0.05
    seed: int = 11
    posted: set[str] = field(default_factory=set)
    retried_posts: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    @staticmethod
    def number(i: int) -> str:
        return f"+1410557{i:04d}"

    def run(self, threads: int = 16) -> None:
        queue = list(range(self.count))
        lock = threading.Lock()

        def work(seed: int) -> None:
            rng = random.Random(seed)
            with httpx.Client(timeout=30) as client:
                while True:
                    with lock:
                        if not queue:
                            return
                        resident = queue.pop()
                    for text in SURVEY[: self.messages]:
                        sid = f"SM{uuid.uuid4().hex}"
                        self._post(client, resident, text, sid, rng)
                        if rng.random() < self.duplicates:
                            self._post(client, resident, text, sid, rng)

        pool = [threading.Thread(target=work, args=(self.seed + i,)) for i in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()

    def _post(self, client: httpx.Client, resident: int, text: str, sid: str,
              rng: random.Random) -> None:
        form = {"MessageSid": sid, "From": self.number(resident), "To": FROM_NUMBER,
                "Body": text, "NumMedia": "0", "AccountSid": ACCOUNT_SID}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            port = rng.choice(self.cluster.web_ports())
            url = f"http://127.0.0.1:{port}"
            signature = sign(AUTH_TOKEN, url + SMS_WEBHOOK_PATH, form)
            try:
                response = client.post(url + SMS_WEBHOOK_PATH, data=form,
                                       headers={SIGNATURE_HEADER: signature})
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 200:
                self.posted.add(sid)
                return
            self.retried_posts += 1  # down or busy: Twilio-like retry, maybe elsewhere
            time.sleep(0.2)
        raise RuntimeError("a webhook was never accepted")


@dataclass
class Tally:
    """What the outbox says was sent against what the fake provider received."""

    rows: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    failed: int = 0
    unfinished: int = 0
    cancelled: Counter[str] = field(default_factory=Counter)
    inbound_stored: int = 0
    inbound_posted: int = 0
    looked_up: int = 0
    samples: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"rows={self.rows} lost={self.lost} duplicated={self.duplicated} "
                f"out_of_order={self.out_of_order} failed={self.failed} "
                f"unfinished={self.unfinished} inbound stored/posted="
                f"{self.inbound_stored}/{self.inbound_posted} lookups={self.looked_up} "
                f"cancelled={dict(self.cancelled)} {' | '.join(self.samples[:3])}")


def unfinished(db_url: str) -> int:
    engine = sa.create_engine(db_url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(
                "SELECT count(*) FROM outbox WHERE status IN ('pending', 'claimed')").scalar()
                or 0)
    finally:
        engine.dispose()


def wait_drained(db_url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if unfinished(db_url) == 0:
            return True
        time.sleep(0.5)
    return False


OUTBOX_ROWS = "SELECT id, participant_id, body, status, error FROM outbox"


def tally(cluster: Cluster, residents: Residents,
          archived: dict[int, tuple[Any, ...]] | None = None) -> Tally:
    """Compare, resident by resident, the outbox (queue order) with the fake's messages;
    ``archived``: rows read before a purge deleted them (id -> the OUTBOX_ROWS columns)."""
    engine = sa.create_engine(cluster.db_url, poolclass=sa.NullPool)
    result = Tally(inbound_posted=len(residents.posted), looked_up=cluster.api.list_requests)
    expected: dict[str, list[str]] = defaultdict(list)
    with engine.connect() as conn:
        people = {row[0]: decrypt_address(SECRET.encode(), row[1]) for row in
                  conn.exec_driver_sql("SELECT id, address_enc FROM participant")}
        rows = dict(archived or {})
        rows.update((int(r[0]), tuple(r)) for r in conn.exec_driver_sql(OUTBOX_ROWS))
        for _, pid, body, status, error in (rows[i] for i in sorted(rows)):
            result.rows += 1
            if status == "cancelled":
                result.cancelled[(error or "")[:40]] += 1
                continue
            if status == "failed":
                result.failed += 1
            if status in ("pending", "claimed"):
                result.unfinished += 1
            expected[people[pid]].append(body)
        result.inbound_stored = int(conn.exec_driver_sql(
            "SELECT count(*) FROM message WHERE direction = 'in'").scalar() or 0)
    engine.dispose()
    received: dict[str, list[str]] = defaultdict(list)
    for message in cluster.api.snapshot():
        received[message.to].append(message.body)
    for number in set(expected) | set(received):
        want, got = expected.get(number, []), received.get(number, [])
        missing = Counter(want) - Counter(got)
        extra = Counter(got) - Counter(want)
        result.lost += sum(missing.values())
        result.duplicated += sum(extra.values())
        if not missing and not extra and want != got:
            result.out_of_order += 1
            result.samples.append(f"{number[-4:]}: queued {want} received {got}")
    return result


@contextmanager
def cluster(pg_base: str | None, **env: str) -> Iterator[Cluster]:
    """A migrated database, the fake Twilio API and an empty set of processes."""
    with tempfile.TemporaryDirectory(prefix="engage-rel-") as tmp, FakeTwilioAPI() as api:
        workdir = Path(tmp)
        (workdir / "var").mkdir()
        with database(pg_base, workdir) as url:
            made = Cluster(url, api, workdir, extra_env=dict(env))
            made.migrate()
            try:
                yield made
            finally:
                made.stop_all()


def logs(made: Cluster, keep: tuple[str, ...] = ("lost", "lease", "doubt", "Error", "rror")) -> str:
    """The processes' notable log lines (for a failing assertion's message)."""
    parts = []
    for proc in made.procs.values():
        if proc.log is not None and proc.log.exists():
            lines = [line for line in proc.log.read_text().splitlines()
                     if any(word in line for word in keep)]
            parts.append(f"--- {proc.name}\n" + "\n".join(lines[-40:]))
    return "\n".join(parts)
