"""Invitation batches: throttle and quiet hours across zones and a DST change, opt-outs, restarts,
concurrent tick runners and row locks."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sched_helpers import add_resident, make_runtime, make_ticks, number, opt_out, rows
from sqlalchemy import event as sa_event
from sqlalchemy import update as sa_update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from engage.config import Settings
from engage.runtime import Runtime
from engage.scheduling import campaigns
from engage.scheduling.audience import materialize, parse_audience
from engage.scheduling.clock import is_quiet
from engage.storage.db import make_engine, session_scope
from engage.storage.tables import Participant, Run
from engage.storage.tables.scheduling import CampaignRecipient
from tests.scheduling.campaigns.helpers import create, invited_ids, progress


def test_throttle_and_quiet_hours_across_zones_and_dst(db_engine: Engine, settings: Settings,
                                                       rt: Runtime, clock: Any) -> None:
    # 03:00 UTC on 2026-03-08 is 22:00 EST in New York (quiet) and 19:00 PST in Los Angeles.
    # New York springs forward that night, so its quiet hours end at 08:00 EDT = 12:00 UTC.
    clock.set(datetime(2026, 3, 8, 3, 0, tzinfo=UTC))
    zones = {"America/New_York": 6, "America/Los_Angeles": 6}
    people: dict[int, str] = {}
    i = 0
    for tz, count in zones.items():
        for _ in range(count):
            people[add_resident(db_engine, rt, number(i), now=clock(), tz=tz)] = tz
            i += 1
    cid = create(db_engine, settings, rt, clock, throttle_per_minute=2)
    ticks = make_ticks(db_engine, settings, rt)
    base = clock()
    evening = [base + timedelta(minutes=m) for m in range(10)]  # every minute
    night = [base + timedelta(minutes=30 * k) for k in range(1, 17)]  # every half hour
    morning = [datetime(2026, 3, 8, 11, 30, tzinfo=UTC) + timedelta(minutes=m)
               for m in range(41)]  # every minute, 11:30-12:10 UTC
    for moment in [*evening, *night, *morning]:
        clock.set(moment)
        ticks.campaigns(clock())

    sent = rows(db_engine, f"campaign:{cid}:")
    assert sorted(invited_ids(db_engine, cid)) == sorted(people)  # everyone, once
    per_minute = Counter(r.created_at.replace(second=0, microsecond=0) for r in sent)
    assert max(per_minute.values()) <= 2
    for row in sent:
        tz = people[row.participant_id or 0]
        assert not is_quiet(row.not_before, tz, settings.quiet_window), (tz, row.not_before)
    ny_first = min(r.created_at for r in sent if people[r.participant_id or 0].endswith("York"))
    assert ny_first == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)  # 08:00 EDT, not 08:00 EST


def test_restart_mid_campaign_no_duplicate_nothing_missed(
        db_engine: Engine, db_url: str, settings: Settings, clock: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    rt = make_runtime(db_engine, settings, clock, tmp_path)
    ids = [add_resident(db_engine, rt, number(i), now=clock()) for i in range(10)]
    cid = create(db_engine, settings, rt, clock, throttle_per_minute=2)
    make_ticks(db_engine, settings, rt).campaigns(clock())
    clock.advance(minutes=1)

    # the scheduler dies in the middle of a batch: that transaction never commits
    calls = {"n": 0}
    real = Runtime.start_run

    def dying(self: Runtime, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real(self, **kw)

    monkeypatch.setattr(Runtime, "start_run", dying)
    with pytest.raises(KeyboardInterrupt):
        make_ticks(db_engine, settings, rt).campaigns(clock())
    monkeypatch.setattr(Runtime, "start_run", real)
    assert len(invited_ids(db_engine, cid)) == 2

    # down for ten minutes; a new process (new engine, new runtime) takes over
    clock.advance(minutes=10)
    engine2 = make_engine(db_url)
    try:
        rt2 = make_runtime(engine2, settings, clock, tmp_path / "second")
        ticks2 = make_ticks(engine2, settings, rt2)
        for _ in range(6):
            ticks2.campaigns(clock())
            clock.advance(minutes=1)
    finally:
        engine2.dispose()
    invited = invited_ids(db_engine, cid)
    assert sorted(invited) == sorted(ids)  # nothing missed, nothing twice
    with session_scope(db_engine) as session:
        runs = session.exec(select(Run.participant_id).where(Run.campaign_id == cid)).all()
    assert sorted(runs) == sorted(ids)


def test_two_tick_runners_at_once_never_duplicate(db_engine: Engine, db_url: str,
                                                  settings: Settings, clock: Any,
                                                  tmp_path: Path) -> None:
    rt = make_runtime(db_engine, settings, clock, tmp_path)
    ids = [add_resident(db_engine, rt, number(i), now=clock()) for i in range(40)]
    cid = create(db_engine, settings, rt, clock)
    engines = [make_engine(db_url), make_engine(db_url)]
    errors: list[BaseException] = []

    def work(engine: Engine, n: int) -> None:
        try:
            runtime = make_runtime(engine, settings, clock, tmp_path / f"w{n}")
            for _ in range(3):
                campaigns.run_campaigns(engine=engine, starter=runtime, settings=settings,
                                        now=clock(), batch=7, parallel=3)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(e, n)) for n, e in enumerate(engines)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for engine in engines:
        engine.dispose()
    assert not errors
    assert sorted(invited_ids(db_engine, cid)) == sorted(ids)


def test_opted_out_residents_get_nothing(db_engine: Engine, settings: Settings, rt: Runtime,
                                         clock: Any) -> None:
    before = add_resident(db_engine, rt, number(1), now=clock(), opted_out=True)
    add_resident(db_engine, rt, number(2), now=clock())
    after = add_resident(db_engine, rt, number(3), now=clock())
    cid = create(db_engine, settings, rt, clock, throttle_per_minute=1, reminders=2,
                 reminder_after_hours=1)
    ticks = make_ticks(db_engine, settings, rt)
    ticks.campaigns(clock())  # invites number(2) only (throttle 1/min)
    opt_out(rt, number(3), clock)  # opts out while still pending
    for _ in range(6):
        clock.advance(hours=1)
        ticks.campaigns(clock())
    for pid in (before, after):
        assert not [r for r in rows(db_engine) if r.participant_id == pid
                    and r.kind in ("campaign", "reminder", "invitation")]
    report = progress(db_engine, cid)  # the one opted out before never was in the audience
    assert (report.total, report.count("opted_out")) == (2, 1)


def _statements(engine: Engine) -> tuple[list[str], Any]:
    """The SQL the ORM runs on ``engine`` (the hot path's statements bypass these events)."""
    seen: list[str] = []

    def record(_c: object, _cur: object, statement: str, *_a: object) -> None:
        seen.append(" ".join(statement.split()))

    sa_event.listen(engine, "before_cursor_execute", record)
    return seen, lambda: sa_event.remove(engine, "before_cursor_execute", record)


def test_a_batch_locks_its_residents_at_once_and_updates_them_together(
    db_engine: Engine, settings: Settings, rt: Runtime, clock: Any
) -> None:
    """One statement locks (PostgreSQL) a batch's residents, none per resident, and the
    recipients' new statuses go out as one UPDATE for the batch."""
    ids = [add_resident(db_engine, rt, number(i), now=clock()) for i in range(12)]
    cid = create(db_engine, settings, rt, clock)
    seen, stop = _statements(db_engine)
    try:
        campaigns.run_campaigns(engine=db_engine, starter=rt, settings=settings, now=clock(),
                                batch=5)
    finally:
        stop()
    assert sorted(invited_ids(db_engine, cid)) == sorted(ids)
    batches = 3  # 5 + 5 + 2 residents
    reads = [sql for sql in seen if sql.startswith("SELECT participant.id, participant.key")]
    assert len(reads) == (batches if db_engine.dialect.name == "postgresql" else 0)
    assert all("FOR UPDATE OF participant" in sql for sql in reads)
    one_row = ("WHERE campaign_recipient.id = ?",
               "WHERE campaign_recipient.id = %(campaign_recipient_id)s::INTEGER")
    updates = [sql for sql in seen if sql.startswith("UPDATE campaign_recipient SET status")
               and sql.endswith(one_row)]
    assert len(updates) == batches
    with session_scope(db_engine) as session:
        stored = session.exec(select(CampaignRecipient).where(
            CampaignRecipient.campaign_id == cid)).all()
    assert {(r.status, r.invite_messages > 0, r.run_id is not None) for r in stored} == {
        ("invited", True, True)}


def test_an_opt_out_committed_while_a_batch_waits_for_its_lock_is_honoured(
    db_engine: Engine, settings: Settings, rt: Runtime, clock: Any
) -> None:
    """A resident read as reachable when the batch picked its recipients, then opted out by a
    transaction the batch's lock waited for, gets no invitation."""
    if db_engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's (SQLite's write lock serializes everything)")
    ids = [add_resident(db_engine, rt, number(i), now=clock()) for i in range(4)]
    cid = create(db_engine, settings, rt, clock)
    with session_scope(db_engine) as session:  # the audience is fixed first
        campaign = campaigns.get_campaign(session=session, campaign_id=cid, lock=True)
        materialize(session=session, campaign_id=cid,
                    audience=parse_audience(campaign.audience),
                    default_timezone=settings.timezone)
        campaign.materialized_at = clock()
        session.add(campaign)
    stopping = ids[2]
    inbound = db_engine.connect()
    transaction = inbound.begin()
    inbound.execute(sa_update(Participant).where(col(Participant.id) == stopping)
                    .values(opted_out=True))  # an inbound STOP, not committed yet
    done = threading.Event()
    errors: list[BaseException] = []

    def tick() -> None:
        try:
            campaigns.run_campaigns(engine=db_engine, starter=rt, settings=settings,
                                    now=clock(), batch=10)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=tick)
    worker.start()
    assert not done.wait(0.5), "the batch must wait for the resident's row lock"
    transaction.commit()
    inbound.close()
    worker.join(30)
    assert not errors
    assert sorted(invited_ids(db_engine, cid)) == sorted(i for i in ids if i != stopping)
