"""The scheduler leader: APScheduler 3 runs the tick jobs; a PostgreSQL advisory lock makes
sure only one process in the whole deployment acts on them.

APScheduler keeps its jobs in a ``MemoryJobStore`` that is never shared (its FAQ: job stores
must not be shared between processes). Schedules live in our tables; a tick only turns due work
into outbox rows with unique dedupe keys, so even two processes that both believed they lead
could not send anything twice. Every process runs the same jobs; each job first makes sure this
process holds the lock (on a dedicated connection: if it dies, PostgreSQL releases the lock and
a standby takes over on its next tick). On SQLite the single process leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from datetime import timedelta

import sqlalchemy as sa
from apscheduler.executors.asyncio import AsyncIOExecutor  # type: ignore[import-untyped]
from apscheduler.jobstores.memory import MemoryJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]
from sqlalchemy.engine import Connection, Engine

from engage.clock import Clock, utcnow
from engage.scheduling.ticks import TICK_INTERVALS, TickResult, Ticks

log = logging.getLogger(__name__)

LOCK_KEY = 0x656E6761  # "enga": one advisory lock id for the scheduler leader
JOB_DEFAULTS = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}


class Leadership:
    """Leader election. PostgreSQL: ``pg_try_advisory_lock`` held on a connection of our own
    (not from the pool, so pool recycling can never drop it). SQLite: always the leader."""

    def __init__(self, engine: Engine, *, key: int = LOCK_KEY, holder: str | None = None) -> None:
        self.key = key
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self._is_pg = engine.dialect.name == "postgresql"
        self._url = engine.url
        self._own_engine: Engine | None = None
        self._conn: Connection | None = None

    @property
    def is_leader(self) -> bool:
        return not self._is_pg or self._conn is not None

    def try_acquire(self) -> bool:
        """Keep or take the lead. Cheap when already leading (one ``SELECT 1``)."""
        if not self._is_pg:
            return True
        if self._conn is not None:
            try:
                self._conn.execute(sa.text("SELECT 1"))
                return True
            except sa.exc.SQLAlchemyError:
                log.warning("scheduler leader lost its lock connection")
                self._drop()
        if self._own_engine is None:
            self._own_engine = sa.create_engine(self._url, poolclass=sa.NullPool)
        try:
            conn = self._own_engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except sa.exc.DBAPIError:
            return False
        got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                                {"k": self.key}).scalar())
        if not got:
            conn.close()
            return False
        self._conn = conn
        log.info("scheduler leadership acquired by %s", self.holder)
        return True

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self._drop()
        if self._own_engine is not None:
            self._own_engine.dispose()
            self._own_engine = None

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                conn.close()


class SchedulerLeader:
    """Runs the tick jobs under APScheduler, each guarded by leadership."""

    def __init__(self, *, ticks: Ticks, leadership: Leadership | None = None,
                 clock: Clock = utcnow, intervals: dict[str, float] | None = None) -> None:
        self.ticks = ticks
        self.leadership = leadership or Leadership(ticks.engine)
        self.clock = clock
        self.intervals = {**TICK_INTERVALS, **(intervals or {})}
        self.scheduler: AsyncIOScheduler | None = None
        self.runs: dict[str, int] = {}

    async def run_job(self, name: str) -> TickResult | None:
        """One guarded tick: only the leader works; errors are logged, never fatal."""
        job = self.ticks.jobs()[name]
        if not await asyncio.to_thread(self.leadership.try_acquire):
            return None
        try:
            result = await asyncio.to_thread(job, self.clock())
        except Exception:
            log.exception("tick %s failed; it will run again", name)
            return None
        self.runs[name] = self.runs.get(name, 0) + 1
        return result

    def build(self) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": AsyncIOExecutor()},
            job_defaults=JOB_DEFAULTS,
            timezone="UTC",
        )
        start = utcnow()
        for offset, name in enumerate(self.ticks.jobs()):
            scheduler.add_job(
                self.run_job, IntervalTrigger(seconds=self.intervals[name], timezone="UTC"),
                args=[name], id=name, name=f"tick:{name}", replace_existing=True,
                next_run_time=start + timedelta(milliseconds=200 * offset),  # catch up now
            )
        return scheduler

    async def run(self, stop_event: asyncio.Event) -> None:
        """Tick until ``stop_event`` is set, then step down (the lock goes with us)."""
        self.scheduler = self.build()
        self.scheduler.start()
        try:
            await stop_event.wait()
        finally:
            self.scheduler.shutdown(wait=False)
            await asyncio.to_thread(self.leadership.release)
