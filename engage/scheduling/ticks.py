"""The leader's tick jobs. Each is a plain function of ``now`` (tests inject it and call them
directly, no sleeping); each is idempotent, so running one twice, late, or after a crash does
the due work exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.engine import Engine

from engage import privacy
from engage.config import Settings
from engage.scheduling.campaigns import CampaignTickReport, run_campaigns
from engage.scheduling.clock import aware
from engage.scheduling.dialogue import DialogueTickReport, run_dialogues
from engage.scheduling.starter import RunStarter
from engage.storage import lifecycle
from engage.storage.db import session_scope

log = logging.getLogger(__name__)

# seconds between runs of each tick in the leader
TICK_INTERVALS: dict[str, float] = {
    "campaigns": 5.0,
    "dialogues": 30.0,
    "wake": 10.0,
    "retention": 24 * 3600.0,
    "audit_checkpoint": 300.0,
    "erasure": 3600.0,
}


TickResult = CampaignTickReport | DialogueTickReport | int
"""What a tick returns: a report of the campaigns or sessions it moved on, or a count."""


class Waker(RunStarter, Protocol):
    """What the ticks need from ``engage.runtime.Runtime``."""

    def wake_due(self, *, now: datetime, limit: int = 500) -> int: ...


@dataclass
class Ticks:
    """The tick functions bound to one database, settings and runtime."""

    engine: Engine
    settings: Settings
    runtime: Waker
    fanout_threads: int = 4  # PostgreSQL only: unthrottled campaigns fan out this wide

    def campaigns(self, now: datetime) -> CampaignTickReport:
        """Campaign fan-out and reminders."""
        report = run_campaigns(engine=self.engine, starter=self.runtime,
                               settings=self.settings, now=aware(now),
                               parallel=self.fanout_threads)
        if report.invited or report.reminded or report.finished:
            log.info("tick campaigns: invited=%d reminded=%d finished=%s", report.invited,
                     report.reminded, report.finished)
        return report

    def dialogues(self, now: datetime) -> DialogueTickReport:
        """RSVPs, waitlist promotion, session reminders, feedback, auto-close."""
        return run_dialogues(engine=self.engine, starter=self.runtime, settings=self.settings,
                             now=aware(now))

    def wake(self, now: datetime) -> int:
        """Flow timeouts: question reminders, timeout paths, run expiry."""
        total = 0
        while True:
            handled = self.runtime.wake_due(now=aware(now), limit=500)
            total += handled
            if handled < 500:
                return total

    def retention(self, now: datetime) -> int:
        """Daily purge of raw message bodies past ENGAGE_RETENTION_DAYS, then the deletion of
        finished outbox rows and message rows past it (``storage.lifecycle``, in batches)."""
        with session_scope(self.engine) as session:
            purged = privacy.purge_expired_bodies(session=session, now=aware(now),
                                                  days=self.settings.retention_days)
        if purged:
            log.info("tick retention: purged %d bodies", purged)
        deleted = lifecycle.purge_old_rows(self.engine, now=aware(now),
                                           days=self.settings.retention_days)
        if any(deleted.values()):
            log.info("tick retention: deleted %s rows past retention", deleted)
        return purged + sum(deleted.values())

    def audit_checkpoint(self, now: datetime) -> int:
        """A signed checkpoint of the audit chain's head outside the database, when it grew:
        removal of entries older than the last checkpoint can then be detected."""
        from engage import audit_checkpoints

        return audit_checkpoints.take(self.engine, self.settings, now=aware(now),
                                      force=False).seq

    def erasure(self, now: datetime) -> int:
        """Provider ids of erased residents' rows finished since their erasure (the erasure
        confirmation, once sent) are cleared: nothing here joins to the provider's logs."""
        with session_scope(self.engine) as session:
            return privacy.unlink_provider_ids(session=session)

    def jobs(self) -> dict[str, Callable[[datetime], TickResult]]:
        return {"campaigns": self.campaigns, "dialogues": self.dialogues, "wake": self.wake,
                "retention": self.retention, "audit_checkpoint": self.audit_checkpoint,
                "erasure": self.erasure}

    def run_all(self, now: datetime) -> dict[str, TickResult]:
        """Every tick once, in order (catch-up after downtime; tests)."""
        return {name: job(now) for name, job in self.jobs().items()}
