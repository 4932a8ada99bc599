"""``engage demo``: a synthetic community answers the satisfaction survey through the real
product, then the staff export, a briefing and the public report are written.

Every message goes the way a real one does: a Twilio-signed webhook request into the FastAPI
app (in-process: called as an ASGI app, as uvicorn would), the signature check, the runtime's single
transaction, the engine, consent gate, scrubbing, sentiment scoring and the outbox. Time is
simulated (the runtime's injected clock), so a year of answers takes seconds. The bot's
replies are left pending in the demo database's outbox (its ``pending`` rows): nothing is
sent, there is no phone network here, and draining ~30,000 of them through the dispatcher and
development sender (~5,000 rows/s measured) would add several seconds to a 2,000-resident run
that must finish within a minute.

Residents may text concurrently (``CONCURRENCY`` at once, in one event loop) while each
one's own messages stay strictly in order. What a resident texts comes from their own seeded random
stream and their own simulated clock, so the answers stored, and every figure exported, are
the same on every run with the same seed whatever the interleaving; only row ids differ.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy import Engine, delete, func, select, text, update
from sqlmodel import col
from twilio.request_validator import RequestValidator

from engage import privacy
from engage.analytics.briefing import export_briefing
from engage.analytics.exports import export_summary
from engage.analytics.periods import parse_period, period_containing, recent_periods
from engage.analytics.report import build_report
from engage.config import Settings
from engage.demo.community import Replier, Resident, build_residents
from engage.errors import UserError
from engage.storage.tables import Outbox, Participant, Response, Run

DEMO_NUMBER = "+14105550100"  # the programme's (fictional) number residents text
MAX_TURNS = 40
# Residents texting at once. Any number gives the same figures (see the module docstring).
# With several in flight the runtime's group commit puts their messages in shared
# transactions: on a 2-core machine, 500 residents took 14.9 s one at a time, 10.9 s with 8
# and 11.1 s with 16 in flight (2026-12-01).
CONCURRENCY = 8

# Where a resident's run stands, read the way any SQLite reader would: a read-only autocommit
# connection sees each committed transaction and never takes the write lock the runtime needs
# (the engine's own connections begin IMMEDIATE, i.e. as writers).
_PARTICIPANT_SQL = (f"SELECT id FROM {Participant.__tablename__} "
                    "WHERE channel = ? AND key = ?")
_WAITING_RUN_SQL = (f"SELECT state FROM {Run.__tablename__} "
                    "WHERE participant_id = ? AND status = 'waiting' ORDER BY id DESC LIMIT 1")

_SIM_NOW: ContextVar[datetime] = ContextVar("engage_demo_now")


class SimClock:
    """The runtime's clock. Each resident converses in their own asyncio task (and so their
    own context, which the app's worker thread inherits), so the runtime reads the simulated
    time of the resident whose message it is handling."""

    def __init__(self, default: datetime) -> None:
        self.default = default

    def __call__(self) -> datetime:
        return _SIM_NOW.get(self.default)

    @property
    def now(self) -> datetime:
        return self()

    @now.setter
    def now(self, when: datetime) -> None:
        _SIM_NOW.set(when)


@dataclass(frozen=True)
class DemoResult:
    residents: int
    messages: int
    completed: int
    declined: int
    responses: int
    database_url: str
    period: str
    export: Path
    briefing: Path
    report: Path
    seconds: float
    replies_queued: int = 0  # the bot's replies, left pending in the demo database's outbox


class WebhookResident:
    """Sends residents' texts as signed Twilio webhooks and reads where their run is."""

    def __init__(self, app: Any, settings: Settings, reader: Any) -> None:
        from engage.channels.sms import SIGNATURE_HEADER, SMS_WEBHOOK_PATH, public_url_for

        self.app = app
        self.reader = reader
        self.secret = settings.secret_bytes()
        self.path = SMS_WEBHOOK_PATH
        self.url = public_url_for(settings, SMS_WEBHOOK_PATH)
        self.header = SIGNATURE_HEADER.lower().encode("latin-1")
        base = urlsplit(settings.public_url)
        self.scheme = base.scheme or "http"
        self.host = (base.netloc or "127.0.0.1").encode("latin-1")
        self.server = (base.hostname or "127.0.0.1",
                       base.port or (443 if self.scheme == "https" else 80))
        token = settings.twilio_webhook_token
        if not token:
            raise UserError("the demo needs a Twilio webhook token (development or TWILIO_*)")
        self.validator = RequestValidator(token)
        self.participants: dict[int, int] = {}  # resident index -> participant id

    async def send(self, resident: Resident, body: str, number: int) -> None:
        """Text number ``number`` of this resident (its MessageSid is unique and stable)."""
        params = {
            "MessageSid": f"SMde{resident.index:014d}{number:016d}",
            "AccountSid": "ACdemo",
            "From": resident.phone,
            "To": DEMO_NUMBER,
            "Body": body,
            "NumMedia": "0",
        }
        signature = self.validator.compute_signature(self.url, params)
        status = await self.post(urlencode(params).encode("utf-8"), signature)
        if status != 200:
            raise UserError(f"demo webhook answered {status} (expected 200)")

    async def post(self, body: bytes, signature: str) -> int:
        """POST a form to the webhook as an ASGI server would hand it to the app (the same
        scope and messages uvicorn builds), and return the response status. Calling the app
        directly, rather than through an HTTP client's ASGI transport, skips only client-side
        bookkeeping: routing, middleware, signature check and runtime all run as in production.
        """
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "method": "POST", "scheme": self.scheme,
            "path": self.path, "raw_path": self.path.encode("latin-1"), "root_path": "",
            "query_string": b"", "server": self.server, "client": ("127.0.0.1", 50000),
            "headers": [
                (b"host", self.host),
                (b"content-type", b"application/x-www-form-urlencoded"),
                (b"content-length", str(len(body)).encode("latin-1")),
                (self.header, signature.encode("latin-1")),
            ],
        }
        pending = [{"type": "http.request", "body": body, "more_body": False}]
        status = 0

        async def receive() -> dict[str, Any]:
            return pending.pop() if pending else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])

        await self.app(scope, receive, send)
        return status

    def position(self, resident: Resident) -> tuple[str | None, str]:
        """(node id the resident is being asked, conversation language) of the waiting run."""
        pid = self.participants.get(resident.index)
        if pid is None:
            key = privacy.participant_key(self.secret, "sms", resident.phone)
            row = self.reader.execute(_PARTICIPANT_SQL, ("sms", key)).fetchone()
            if row is None:
                return None, resident.language
            pid = self.participants[resident.index] = int(row[0])
        found = self.reader.execute(_WAITING_RUN_SQL, (pid,)).fetchone()
        if found is None:
            return None, resident.language
        data = json.loads(found[0])
        return data.get("node"), str(data.get("language") or "en")


async def converse(channel: WebhookResident, replier: Replier, resident: Resident,
                   clock: SimClock) -> int:
    """One resident's whole conversation, in order; returns how many messages they sent."""
    clock.now = resident.starts_at
    await channel.send(resident, replier.greeting(resident), 1)
    sent, asked_spanish = 1, False
    attempts: dict[str, int] = {}
    for _ in range(MAX_TURNS):
        node, language = channel.position(resident)
        if node is None:
            break
        clock.now += timedelta(seconds=replier.rng.randint(15, 240))
        if resident.language == "es" and language != "es" and not asked_spanish:
            body = replier.pick(("ESPAÑOL", "español", "espanol"))
            asked_spanish = True
        else:
            attempt = attempts.get(node, 0)
            attempts[node] = attempt + 1
            body = replier.answer(resident, node, attempt)
        sent += 1
        await channel.send(resident, body, sent)
    return sent


class _ServerReader:
    """``sqlite3.Connection.execute`` for a database server (PostgreSQL): an autocommit
    connection of its own, so every read sees each committed transaction."""

    def __init__(self, engine: Engine) -> None:
        self.connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def execute(self, sql: str, params: tuple[Any, ...]) -> Any:
        named = {f"p{i}": value for i, value in enumerate(params)}
        for i in range(len(params)):
            sql = sql.replace("?", f":p{i}", 1)
        return self.connection.execute(text(sql), named)

    def close(self) -> None:
        self.connection.close()


def _reader(engine: Engine) -> Any:
    if engine.dialect.name == "sqlite":
        database = engine.url.database or ""
        return sqlite3.connect(f"file:{Path(database).resolve()}?mode=ro", uri=True,
                               isolation_level=None, check_same_thread=False)
    return _ServerReader(engine)


async def _community_texts(
    app: Any,
    settings: Settings,
    engine: Engine,
    people: list[Resident],
    *,
    seed: int,
    clock: SimClock,
    on_progress: Callable[[int, int], None] | None,
) -> int:
    """Every resident's conversation through the app, ``CONCURRENCY`` at a time."""
    reader = _reader(engine)
    channel = WebhookResident(app, settings, reader)
    queue = iter(people)
    totals = {"messages": 0, "done": 0}

    async def worker() -> None:
        for resident in queue:  # shared iterator: the next resident not yet started
            replier = Replier.for_resident(seed, resident)
            # its own task, so its own context: its simulated clock is its own
            sent = await asyncio.create_task(converse(channel, replier, resident, clock))
            totals["messages"] += sent
            totals["done"] += 1
            if on_progress:
                on_progress(totals["done"], len(people))

    try:
        await asyncio.gather(*(worker() for _ in range(min(CONCURRENCY, len(people)))))
    finally:
        reader.close()
    return totals["messages"]


def _count(engine: Engine, query: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def last_complete_quarter(now: datetime, tz: str) -> str:
    current = period_containing(now, "quarter", tz)
    return current.previous(tz).label


def run_demo(
    *,
    settings: Settings,
    residents: int = 2000,
    seed: int = 2026,
    out_dir: Path,
    period: str | None = None,
    now: datetime | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    database_url: str | None = None,
) -> DemoResult:
    """Build the community and run it: in ``database_url`` (the configured database, so the
    export and report commands that follow read it; refused when it holds anything but an
    earlier demo, which is replaced), or in a fresh SQLite database under ``out_dir``."""
    from engage.flow.areas import load_gazetteer
    from engage.flows_catalog import FlowCatalog
    from engage.runtime import Runtime
    from engage.storage.db import create_schema, engine_options, make_engine
    from engage.web.app import create_app

    if residents < 1:
        raise UserError("--residents must be at least 1")
    began = datetime.now(UTC)
    wall = now or began
    label = period or last_complete_quarter(wall, settings.timezone)
    target = parse_period(label, settings.timezone)
    window = recent_periods(target, 4 if target.kind == "quarter" else 6, settings.timezone)
    out_dir.mkdir(parents=True, exist_ok=True)
    if database_url is None:
        db_path = out_dir / "demo.sqlite3"
        for stale in (db_path, out_dir / "demo.sqlite3-wal", out_dir / "demo.sqlite3-shm"):
            stale.unlink(missing_ok=True)
        url = f"sqlite:///{db_path.resolve()}"
        demo_settings = settings.model_copy(update={"database_url": url, "data_dir": out_dir})
    else:
        url = database_url
        demo_settings = settings.model_copy(update={"database_url": url})
    engine = make_engine(url, **engine_options(url))
    create_schema(engine)
    if database_url is not None:
        if settings.env == "production":
            raise UserError("the demo does not fill a production database: use --out DIR")
        _clear_earlier_demo(engine)

    gazetteer = load_gazetteer(demo_settings.flows_dir / "areas" / "baltimore.yaml")
    # the last answers land a few days before the period ends, so every run finishes inside it
    end = window[-1].end - timedelta(days=3)
    people = build_residents(gazetteer, residents, seed=seed, start=window[0].start, end=end)
    clock = SimClock(people[0].starts_at)
    catalog = FlowCatalog(demo_settings.flows_dir)
    runtime = Runtime(engine=engine, settings=demo_settings, catalog=catalog, clock=clock)
    app = create_app(demo_settings, engine=engine, runtime=runtime, start_background=False)
    messages = asyncio.run(_community_texts(app, demo_settings, engine, people, seed=seed,
                                            clock=clock, on_progress=on_progress))

    stamp = wall if wall.tzinfo else wall.replace(tzinfo=UTC)
    export_path = out_dir / f"summary-{target.label}-district-age_band.csv"
    export_summary(engine=engine, settings=demo_settings, period=target.label,
                   by="district,age_band", fmt="csv", out=export_path, now=stamp, actor=DEMO_ACTOR)
    busiest = _busiest_district(engine)
    briefing_path = out_dir / f"briefing-{busiest.replace(' ', '-')}.md"
    export_briefing(engine=engine, settings=demo_settings, area=busiest, session_id=None,
                    out=briefing_path, fmt="md", now=stamp, actor=DEMO_ACTOR,
                    period=target.label)
    report = build_report(engine=engine, settings=demo_settings, period=target.label,
                          out=out_dir / "report", now=stamp, actor=DEMO_ACTOR)
    completed = _count(engine, select(func.count()).select_from(Run).where(
        col(Run.status) == "completed"))
    declined = _count(engine, select(func.count()).select_from(Run).where(
        col(Run.status) == "declined"))
    stored = _count(engine, select(func.count()).select_from(Response))
    queued = _count(engine, select(func.count()).select_from(Outbox).where(
        col(Outbox.status) == "pending"))
    if database_url is not None:  # a server on this database must never send them
        with engine.begin() as conn:
            conn.execute(update(Outbox).where(col(Outbox.status) == "pending")
                         .values(status="cancelled", error="demo: no phone network"))
    engine.dispose()
    return DemoResult(
        residents=len(people), messages=messages, completed=completed, declined=declined,
        responses=stored, database_url=url, period=target.label, export=export_path,
        briefing=briefing_path, report=report.html, replies_queued=queued,
        seconds=(datetime.now(UTC) - began).total_seconds(),
    )


DEMO_ACTOR = "demo"


def _clear_earlier_demo(engine: Engine) -> None:
    """The configured database may hold only an earlier demo (its exports are audited with
    actor "demo"), which is removed; anything else is real data and is never touched."""
    from engage.storage.db import metadata
    from engage.storage.tables import AuditEntry

    with engine.connect() as conn:
        people = int(conn.execute(select(func.count()).select_from(Participant)).scalar_one())
        demo = conn.execute(select(col(AuditEntry.id))
                            .where(col(AuditEntry.actor) == DEMO_ACTOR).limit(1)).first()
    if people == 0:
        return
    if demo is None:
        raise UserError(
            f"the configured database ({engine.url.render_as_string(hide_password=True)}) "
            f"already holds {people} residents who are not from a demo; the demo never "
            "mixes with real data: run it with --out DIR (its own SQLite database) or point "
            "ENGAGE_DATABASE_URL at an empty database")
    with engine.begin() as conn:
        for table in reversed(metadata().sorted_tables):
            conn.execute(delete(table))


def _busiest_district(engine: Engine) -> str:
    query = (
        select(col(Participant.district), func.count())
        .where(col(Participant.district).is_not(None))
        .group_by(col(Participant.district))
        .order_by(func.count().desc(), col(Participant.district))
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return str(row[0]) if row else "Central"
