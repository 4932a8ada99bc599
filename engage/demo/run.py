"""``engage demo``: a synthetic community answers the satisfaction survey through the real
product, then the staff export, a briefing and the public report are written.

Every message goes the way a real one does: a Twilio-signed webhook request into the FastAPI
app (in-process, through Starlette's TestClient), the signature check, the runtime's single
transaction, the engine, consent gate, scrubbing, sentiment scoring and the outbox. Time is
simulated (the runtime's injected clock), so a year of answers takes seconds and the figures
are the same on every run with the same seed.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from twilio.request_validator import RequestValidator

from engage import privacy
from engage.analytics.briefing import export_briefing
from engage.analytics.exports import export_summary
from engage.analytics.periods import parse_period, period_containing, recent_periods
from engage.analytics.report import build_report
from engage.config import Settings
from engage.demo.community import Replier, Resident, build_residents
from engage.errors import UserError
from engage.storage.models import Participant, Response, Run

DEMO_NUMBER = "+14105550100"  # the programme's (fictional) number residents text
MAX_TURNS = 40


@dataclass
class SimClock:
    """The runtime's clock: moved forward by the demo as simulated residents text."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


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


class WebhookResident:
    """Sends one resident's texts as signed Twilio webhooks and reads where their run is."""

    def __init__(self, client: Any, settings: Settings, engine: Engine, clock: SimClock) -> None:
        from engage.channels.sms import SIGNATURE_HEADER, SMS_WEBHOOK_PATH, public_url_for

        self.client = client
        self.engine = engine
        self.clock = clock
        self.secret = settings.secret_bytes()
        self.path = SMS_WEBHOOK_PATH
        self.url = public_url_for(settings, SMS_WEBHOOK_PATH)
        self.header = SIGNATURE_HEADER
        token = settings.twilio_webhook_token
        if not token:
            raise UserError("the demo needs a Twilio webhook token (development or TWILIO_*)")
        self.validator = RequestValidator(token)
        self.sent = 0
        self.participants: dict[int, int] = {}  # resident index -> participant id

    def send(self, resident: Resident, body: str) -> None:
        self.sent += 1
        params = {
            "MessageSid": f"SMdemo{resident.index:07d}{self.sent:09d}",
            "AccountSid": "ACdemo",
            "From": resident.phone,
            "To": DEMO_NUMBER,
            "Body": body,
            "NumMedia": "0",
        }
        signature = self.validator.compute_signature(self.url, params)
        reply = self.client.post(self.path, data=params, headers={self.header: signature})
        if reply.status_code != 200:
            raise UserError(f"demo webhook answered {reply.status_code} (expected 200)")

    def position(self, resident: Resident) -> tuple[str | None, str]:
        """(node id the resident is being asked, conversation language) of the waiting run."""
        with self.engine.connect() as conn:
            pid = self.participants.get(resident.index)
            if pid is None:
                key = privacy.participant_key(self.secret, "sms", resident.phone)
                pid = conn.execute(
                    select(Participant.id).where(Participant.channel == "sms",
                                                 Participant.key == key)
                ).scalar_one_or_none()
                if pid is None:
                    return None, resident.language
                self.participants[resident.index] = pid
            state = conn.execute(
                select(Run.state)
                .where(Run.participant_id == pid, Run.status == "waiting")
                .order_by(Run.id.desc())
                .limit(1)
            ).scalar_one_or_none()
        if state is None:
            return None, resident.language
        data = json.loads(state)
        return data.get("node"), str(data.get("language") or "en")


def converse(channel: WebhookResident, replier: Replier, resident: Resident,
             clock: SimClock) -> int:
    """One resident's whole conversation; returns how many messages they sent."""
    clock.now = max(clock.now, resident.starts_at)
    channel.send(resident, replier.greeting(resident))
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
        channel.send(resident, body)
        sent += 1
    return sent


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
) -> DemoResult:
    """Build the community in a fresh SQLite database under ``out_dir`` and run it."""
    with warnings.catch_warnings():  # starlette's note about its own httpx dependency
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from engage.flow.areas import load_gazetteer
    from engage.flows_catalog import FlowCatalog
    from engage.runtime import Runtime
    from engage.storage.db import create_schema, make_engine
    from engage.web.app import create_app

    if residents < 1:
        raise UserError("--residents must be at least 1")
    began = datetime.now(UTC)
    wall = now or began
    label = period or last_complete_quarter(wall, settings.timezone)
    target = parse_period(label, settings.timezone)
    window = recent_periods(target, 4 if target.kind == "quarter" else 6, settings.timezone)
    out_dir.mkdir(parents=True, exist_ok=True)
    db_path = out_dir / "demo.sqlite3"
    for stale in (db_path, out_dir / "demo.sqlite3-wal", out_dir / "demo.sqlite3-shm"):
        stale.unlink(missing_ok=True)
    url = f"sqlite:///{db_path.resolve()}"
    demo_settings = settings.model_copy(update={"database_url": url, "data_dir": out_dir})
    engine = make_engine(url)
    create_schema(engine)

    gazetteer = load_gazetteer(demo_settings.flows_dir / "areas" / "baltimore.yaml")
    # the last answers land a few days before the period ends, so every run finishes inside it
    end = window[-1].end - timedelta(days=3)
    people = build_residents(gazetteer, residents, seed=seed, start=window[0].start, end=end)
    clock = SimClock(people[0].starts_at)
    catalog = FlowCatalog(demo_settings.flows_dir)
    runtime = Runtime(engine=engine, settings=demo_settings, catalog=catalog, clock=clock)
    app = create_app(demo_settings, engine=engine, runtime=runtime, start_background=False)
    replier = Replier(seed + 1)
    messages = 0
    with TestClient(app, base_url=demo_settings.public_url) as client:
        channel = WebhookResident(client, demo_settings, engine, clock)
        for done, resident in enumerate(people, start=1):
            messages += converse(channel, replier, resident, clock)
            if on_progress:
                on_progress(done, len(people))

    stamp = wall if wall.tzinfo else wall.replace(tzinfo=UTC)
    export_path = out_dir / f"summary-{target.label}-district-age_band.csv"
    export_summary(engine=engine, settings=demo_settings, period=target.label,
                   by="district,age_band", fmt="csv", out=export_path, now=stamp, actor="demo")
    busiest = _busiest_district(engine)
    briefing_path = out_dir / f"briefing-{busiest.replace(' ', '-')}.md"
    export_briefing(engine=engine, settings=demo_settings, area=busiest, session_id=None,
                    out=briefing_path, fmt="md", now=stamp, actor="demo", period=target.label)
    report = build_report(engine=engine, settings=demo_settings, period=target.label,
                          out=out_dir / "report", now=stamp, actor="demo")
    completed = _count(engine, select(func.count()).select_from(Run).where(
        Run.status == "completed"))
    declined = _count(engine, select(func.count()).select_from(Run).where(
        Run.status == "declined"))
    stored = _count(engine, select(func.count()).select_from(Response))
    engine.dispose()
    return DemoResult(
        residents=len(people), messages=messages, completed=completed, declined=declined,
        responses=stored, database_url=url, period=target.label, export=export_path,
        briefing=briefing_path, report=report.html,
        seconds=(datetime.now(UTC) - began).total_seconds(),
    )


def _busiest_district(engine: Engine) -> str:
    query = (
        select(Participant.district, func.count())
        .where(Participant.district.is_not(None))
        .group_by(Participant.district)
        .order_by(func.count().desc(), Participant.district)
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return str(row[0]) if row else "Central"
