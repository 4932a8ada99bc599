"""Campaign reminders: only to non-responders, and none once a run has expired."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sched_helpers import add_resident, make_ticks, number, opt_out, reply, rows
from sqlalchemy.engine import Engine
from sqlmodel import select

from engage.config import Settings
from engage.runtime import Runtime
from engage.storage.db import session_scope
from engage.storage.tables import Run
from tests.scheduling.campaigns.helpers import create, progress


def test_reminders_only_to_non_responders(db_engine: Engine, settings: Settings, clock: Any,
                                          tmp_path: Path) -> None:
    from engage.flows_catalog import FlowCatalog

    rt = Runtime(engine=db_engine, settings=settings, catalog=FlowCatalog(settings.flows_dir),
                 clock=clock)
    ids = [add_resident(db_engine, rt, number(i), now=clock()) for i in range(4)]
    cid = create(db_engine, settings, rt, clock, flow_id="satisfaction", reminders=2,
                 reminder_after_hours=4)
    ticks = make_ticks(db_engine, settings, rt)
    ticks.campaigns(clock())
    reply(rt, number(0), "yes", clock)  # consents: started, not finished
    reply(rt, number(1), "no", clock)  # declines
    opt_out(rt, number(2), clock)  # opts out
    for _ in range(4):
        clock.advance(hours=4)
        ticks.campaigns(clock())
    reminders = [r for r in rows(db_engine, f"campaign:{cid}:") if ":reminder:" in r.dedupe_key]
    assert [r.participant_id for r in reminders] == [ids[3], ids[3]]  # two, then no more
    assert [r.kind for r in reminders] == ["reminder", "reminder"]
    report = progress(db_engine, cid)
    assert report.count("started") == 1 and report.count("declined") == 1
    assert report.count("opted_out") == 1 and report.count("invited") == 1


def test_run_expiry_stops_reminders_and_ends_the_run(db_engine: Engine, settings: Settings,
                                                     rt: Runtime, clock: Any) -> None:
    pid = add_resident(db_engine, rt, number(1), now=clock())
    cid = create(db_engine, settings, rt, clock, reminders=3, reminder_after_hours=2,
                 run_expiry_hours=3)
    ticks = make_ticks(db_engine, settings, rt)
    ticks.campaigns(clock())
    for _ in range(3):  # daytime in New York throughout
        clock.advance(hours=2)
        ticks.campaigns(clock())
    reminders = [r for r in rows(db_engine, f"campaign:{cid}:") if ":reminder:" in r.dedupe_key]
    assert len(reminders) == 1  # at 2 h; by 4 h the run had expired
    report = progress(db_engine, cid)
    assert report.count("expired") == 1 and report.status == "finished"
    with session_scope(db_engine) as session:
        run = session.exec(select(Run).where(Run.participant_id == pid)).one()
    assert run.status == "expired"
