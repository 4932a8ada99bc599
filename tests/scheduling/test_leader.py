"""The scheduler leader: APScheduler job settings, leadership by advisory lock on PostgreSQL
(one leader among instances with separate connections, hand-over when it goes), and guarded
ticks that do nothing on a standby."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from apscheduler.jobstores.memory import MemoryJobStore
from sched_helpers import add_resident, make_runtime, make_ticks, number, rows
from sqlalchemy.engine import Engine

from engage.config import Settings
from engage.scheduling import campaigns
from engage.scheduling.leader import Leadership, SchedulerLeader
from engage.storage.db import make_engine, session_scope


def test_jobs_use_a_private_memory_store_and_safe_defaults(
        db_engine: Engine, settings: Settings, clock: Any, tmp_path: Path) -> None:
    ticks = make_ticks(db_engine, settings, make_runtime(db_engine, settings, clock, tmp_path))
    scheduler = SchedulerLeader(ticks=ticks, clock=clock).build()

    async def started_jobs() -> list[Any]:
        scheduler.start(paused=True)  # defaults are applied when jobs reach the store
        try:
            return list(scheduler.get_jobs())
        finally:
            scheduler.shutdown(wait=False)

    jobs = {job.id: job for job in asyncio.run(started_jobs())}
    assert set(jobs) == {"campaigns", "dialogues", "wake", "retention", "audit_checkpoint",
                         "erasure"}
    for job in jobs.values():
        assert job.misfire_grace_time is None and job.coalesce is True
        assert job.max_instances == 1
    assert isinstance(scheduler._lookup_jobstore("default"), MemoryJobStore)


def test_sqlite_process_always_leads(db_engine: Engine) -> None:
    if db_engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    assert Leadership(db_engine).try_acquire()


def test_one_leader_among_instances_and_hand_over(db_engine: Engine, db_url: str) -> None:
    if db_engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    engines = [make_engine(db_url), make_engine(db_url)]
    first, second = Leadership(engines[0], key=424242), Leadership(engines[1], key=424242)
    try:
        assert first.try_acquire() is True
        assert second.try_acquire() is False
        assert first.try_acquire() is True  # keeps it
        first._conn.invalidate()  # type: ignore[union-attr]  # the leader's connection dies
        assert second.try_acquire() is True  # the server released the lock with it
        assert first.try_acquire() is False
        second.release()
        assert first.try_acquire() is True
    finally:
        first.release()
        second.release()
        for engine in engines:
            engine.dispose()


def test_two_leaders_one_works_no_duplicates(db_engine: Engine, db_url: str,
                                             settings: Settings, clock: Any,
                                             tmp_path: Path) -> None:
    rt = make_runtime(db_engine, settings, clock, tmp_path)
    ids = [add_resident(db_engine, rt, number(i), now=clock()) for i in range(12)]
    with session_scope(db_engine) as session:
        cid = campaigns.create_campaign(session=session, settings=settings, flow_id="poll",
                                        now=clock(), throttle_per_minute=5).id
    engines = [make_engine(db_url), make_engine(db_url)]
    leaders = [
        SchedulerLeader(
            ticks=make_ticks(e, settings, make_runtime(e, settings, clock, tmp_path / str(n))),
            leadership=Leadership(e, key=515151), clock=clock)
        for n, e in enumerate(engines)
    ]

    async def round_() -> None:
        await asyncio.gather(*(leader.run_job("campaigns") for leader in leaders))

    try:
        for _ in range(4):
            asyncio.run(round_())
            clock.advance(minutes=1)
    finally:
        for leader in leaders:
            leader.leadership.release()
        for engine in engines:
            engine.dispose()
    invited = [r.participant_id for r in rows(db_engine, f"campaign:{cid}:")]
    assert sorted(invited) == sorted(ids)
    if db_engine.dialect.name == "postgresql":
        assert sorted(leader.runs.get("campaigns", 0) for leader in leaders) == [0, 4]


def test_a_failing_tick_is_logged_not_fatal(db_engine: Engine, settings: Settings, clock: Any,
                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    ticks = make_ticks(db_engine, settings, make_runtime(db_engine, settings, clock, tmp_path))
    leader = SchedulerLeader(ticks=ticks, clock=clock)

    def boom(now: Any) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(ticks, "wake", boom)
    try:
        assert asyncio.run(leader.run_job("wake")) is None
        assert asyncio.run(leader.run_job("retention")) == 0
    finally:
        leader.leadership.release()
    assert leader.runs == {"retention": 1}


def test_leader_runs_and_stops(db_engine: Engine, settings: Settings, clock: Any,
                               tmp_path: Path) -> None:
    ticks = make_ticks(db_engine, settings, make_runtime(db_engine, settings, clock, tmp_path))
    leader = SchedulerLeader(ticks=ticks, clock=clock)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(leader.run(stop))
        for _ in range(200):  # wait for the start-up catch-up round of every job
            if len(leader.runs) == 6:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await task

    asyncio.run(main())
    assert set(leader.runs) == {"campaigns", "dialogues", "wake", "retention", "audit_checkpoint",
                                "erasure"}
