"""The campaign tick: cutoff, quotas, a missed start, and staying open for flyer links until the
cutoff."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sched_helpers import add_resident, make_ticks, number, reply, rows
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from engage.config import Settings
from engage.runtime import Runtime
from engage.storage.db import session_scope
from engage.storage.tables import Run
from engage.storage.tables.scheduling import CampaignRecipient
from tests.scheduling.campaigns.helpers import create, invited_ids, progress


def test_cutoff_holds(db_engine: Engine, settings: Settings, rt: Runtime, clock: Any) -> None:
    for i in range(6):
        add_resident(db_engine, rt, number(i), now=clock())
    start = clock()
    cid = create(db_engine, settings, rt, clock, throttle_per_minute=1,
                 cutoff_at=start + timedelta(minutes=3), reminders=1, reminder_after_hours=0.05)
    ticks = make_ticks(db_engine, settings, rt)
    for _ in range(10):
        ticks.campaigns(clock())
        clock.advance(minutes=1)
    sent = rows(db_engine, f"campaign:{cid}:")
    assert all(r.created_at < start + timedelta(minutes=3) for r in sent)
    assert len(invited_ids(db_engine, cid)) == 3
    report = progress(db_engine, cid)
    assert report.status == "finished" and report.count("skipped") == 3


def test_quota_stops_the_campaign(db_engine: Engine, settings: Settings, rt: Runtime,
                                  clock: Any) -> None:
    for i in range(5):
        add_resident(db_engine, rt, number(i), now=clock())
    cid = create(db_engine, settings, rt, clock, quota=2, throttle_per_minute=3, reminders=1,
                 reminder_after_hours=1)
    ticks = make_ticks(db_engine, settings, rt)
    ticks.campaigns(clock())
    reply(rt, number(0), "yes", clock)
    reply(rt, number(1), "yes", clock)
    clock.advance(hours=2)
    ticks.campaigns(clock())
    report = progress(db_engine, cid)
    assert report.status == "finished" and report.count("completed") == 2
    assert len(invited_ids(db_engine, cid)) == 3  # the last two never invited
    assert not [r for r in rows(db_engine, f"campaign:{cid}:") if ":reminder:" in r.dedupe_key]


def test_quota_per_area(db_engine: Engine, settings: Settings, rt: Runtime, clock: Any) -> None:
    for i in range(3):
        add_resident(db_engine, rt, number(i), now=clock(), area="Hampden")
    for i in range(3, 6):
        add_resident(db_engine, rt, number(i), now=clock(), area="Canton")
    cid = create(db_engine, settings, rt, clock, quota=1, quota_per_area=True,
                 throttle_per_minute=2)
    ticks = make_ticks(db_engine, settings, rt)
    ticks.campaigns(clock())  # one Hampden resident (id order), then a second
    reply(rt, number(0), "yes", clock)
    clock.advance(minutes=2)
    ticks.campaigns(clock())
    with session_scope(db_engine) as session:
        recipients = session.exec(select(CampaignRecipient).where(
            CampaignRecipient.campaign_id == cid)).all()
        skipped = {r.area for r in recipients if r.status == "skipped"}
    assert skipped == {"Hampden"}
    assert progress(db_engine, cid).status == "running"


def test_missed_start_is_done_on_return_unless_past_cutoff(
        db_engine: Engine, settings: Settings, rt: Runtime, clock: Any) -> None:
    add_resident(db_engine, rt, number(1), now=clock())
    start = clock() + timedelta(hours=1)
    late = create(db_engine, settings, rt, clock, start_at=start)
    expired = create(db_engine, settings, rt, clock, start_at=start,
                     cutoff_at=start + timedelta(hours=1))
    ticks = make_ticks(db_engine, settings, rt)
    ticks.campaigns(clock())
    assert not rows(db_engine, "campaign:")  # not started yet
    clock.advance(hours=3)  # the scheduler was down through both windows
    ticks.campaigns(clock())
    assert len(invited_ids(db_engine, late)) == 1
    assert invited_ids(db_engine, expired) == []
    assert progress(db_engine, expired).status == "finished"
    with session_scope(db_engine) as session:
        assert session.exec(select(col(Run.id))).all()


def test_campaign_with_a_cutoff_ahead_stays_open_for_flyer_links(
        db_engine: Engine, settings: Settings, rt: Runtime, clock: Any) -> None:
    start = clock()
    link_only = create(db_engine, settings, rt, clock, audience="area:Canton",
                       cutoff_at=start + timedelta(days=7))
    no_cutoff = create(db_engine, settings, rt, clock, audience="area:Canton")
    ticks = make_ticks(db_engine, settings, rt)
    for _ in range(3):
        ticks.campaigns(clock())
        clock.advance(minutes=1)
    assert progress(db_engine, link_only).status == "running"  # audience 0, links still work
    assert progress(db_engine, no_cutoff).status == "finished"
    clock.set(start + timedelta(days=7, minutes=1))
    ticks.campaigns(clock())
    assert progress(db_engine, link_only).status == "finished"
