"""Claiming: which due rows this worker takes now, and which it cancels or holds instead.

Claims are atomic (PostgreSQL ``FOR UPDATE SKIP LOCKED`` plus a lease; SQLite
``BEGIN IMMEDIATE`` serializes writers). A claim whose lease expired (its worker died) goes
back to pending first. A claim takes only what can be sent now: not a paused channel, and at
most what the channel's rate sends within ``claim_seconds``. Per-resident order: a row is
claimed only when every earlier unfinished row of its resident is in the same claim.

Rows of opted-out or erased participants are cancelled (confirmations excepted: the STOP
confirmation itself must still go out), stale replies are cancelled, and campaign, reminder
and invitation rows wait out the resident's quiet hours.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from engage.config import Settings
from engage.outbox import queue
from engage.outbox.pacing import quiet_hours_end
from engage.outbox.queue import OutboxRow
from engage.outbox.retries import STALE_REPLY, ChannelPause, RetryPolicy
from engage.privacy import decrypt_address
from engage.storage.sql import Tx, transaction

log = logging.getLogger("engage.dispatcher")

ALWAYS_SENT_KINDS = frozenset({"confirmation"})


@dataclass
class Job:
    """A claimed row on its way to the provider, with its address decrypted just in time."""

    row: OutboxRow
    address: str
    attempted_at: datetime | None = None  # when this worker stamped it, just before sending


class Claimer:
    """Takes due rows for one worker (see module docstring)."""

    def __init__(self, *, engine: Engine, settings: Settings, channels: Collection[str],
                 clock: Callable[[], datetime], worker_id: str, lease: timedelta,
                 quotas: Mapping[str, int | None], pause: ChannelPause, retries: RetryPolicy,
                 stats: Counter[str]) -> None:
        self.engine = engine
        self.settings = settings
        self.channels = frozenset(channels)
        self.clock = clock
        self.worker_id = worker_id
        self.lease = lease
        self.quotas = quotas
        self.pause = pause
        self.retries = retries
        self.stats = stats
        self._secret = settings.secret_bytes()

    def claim(self, limit: int) -> list[Job]:
        """Claim up to ``limit`` due rows, cancelling or holding those that must not go."""
        now = self.clock()
        with transaction(self.engine) as tx:
            for outbox_id, in_doubt in queue.release_expired_leases(tx=tx, now=now):
                self.stats["lease_expired"] += 1
                log.info("outbox=%s lease expired: pending again%s", outbox_id,
                         " (in doubt: looked up before any resend)" if in_doubt else "")
            rows = queue.due_rows(tx=tx, now=now, limit=limit)
            recipients = queue.recipients(tx=tx, participant_ids=[r.participant_id for r in rows])
            jobs: list[Job] = []
            taken: Counter[str] = Counter()
            mine: Counter[int] = Counter()  # rows of each resident in this claim
            for row in rows:  # in queue order (see due_rows)
                if row.participant_id is not None and row.earlier != mine[row.participant_id]:
                    continue  # an earlier message to this resident has to leave first
                if self.pause.paused(row.channel, now):
                    continue  # the provider is failing: leave it pending, unclaimed
                quota = self.quotas.get(row.channel)
                if quota is not None and taken[row.channel] >= quota:
                    continue  # leave it pending for the next claim
                job = self._prepare(tx, row, recipients.get(row.participant_id or -1), now)
                if row.participant_id is not None and row.channel in self.channels:
                    mine[row.participant_id] += 1  # taken, cancelled or held: out of the way
                if job is None:
                    continue
                taken[row.channel] += 1
                jobs.append(job)
            if jobs:
                lease_until = now + self.lease
                queue.mark_claimed(tx=tx, outbox_ids=[job.row.id for job in jobs],
                                   worker=self.worker_id, lease_until=lease_until)
                for job in jobs:  # the caller's copy reflects the claim
                    job.row.status = "claimed"
                    job.row.claimed_by = self.worker_id
                    job.row.lease_until = lease_until
        return jobs

    def _prepare(self, tx: Tx, row: OutboxRow, recipient: queue.Recipient | None,
                 now: datetime) -> Job | None:
        """Cancel, hold, or turn a due row into a job (address decrypted just in time)."""
        if row.channel not in self.channels:
            return None  # another process owns this channel (or it is not configured here)
        if row.attempted_at is None and self.retries.stale(row, now):
            self._finish(tx, row, "cancelled", STALE_REPLY)
            return None
        if row.address_enc is not None:  # the erasure confirmation carries its own address
            return Job(row=row, address=decrypt_address(self._secret, row.address_enc))
        if recipient is None or recipient.address_enc is None:
            self._finish(tx, row, "cancelled", "participant erased or missing")
            return None
        if recipient.opted_out and row.kind not in ALWAYS_SENT_KINDS:
            self._finish(tx, row, "cancelled", "participant opted out")
            return None
        resume = quiet_hours_end(row, recipient, now, self.settings)
        if resume is not None:
            queue.hold(tx=tx, outbox_id=row.id, not_before=resume)
            self.stats["held"] += 1
            return None
        return Job(row=row, address=decrypt_address(self._secret, recipient.address_enc))

    def _finish(self, tx: Tx, row: OutboxRow, status: str, error: str) -> None:
        queue.finish(tx=tx, outbox_id=row.id, status=status, error=error)
        self.stats[status] += 1
        log.info("outbox=%s %s: %s", row.id, status, error)
