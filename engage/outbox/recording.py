"""Writing back what sending did: sent, failed, retried later, or released unsent.

An outcome is written only while its row is still ``claimed`` by this worker, so a worker
whose lease ran out cannot overwrite what another worker did since. A batch shares one
transaction; if that fails, each row is recorded on its own so one bad row cannot lose the
others' record (and a sent row whose message cannot be stored is still recorded as sent).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from engage.channels.base import SendResult
from engage.outbox import queue
from engage.outbox.claiming import Job
from engage.outbox.queue import OutboxRow
from engage.outbox.retries import STALE_REPLY, RetryPolicy
from engage.outbox.sending import Delivered
from engage.storage.sql import transaction

log = logging.getLogger("engage.dispatcher")


class Recorder:
    """Records one worker's outcomes (see module docstring)."""

    def __init__(self, *, engine: Engine, worker_id: str, clock: Callable[[], datetime],
                 retries: RetryPolicy, stats: Counter[str]) -> None:
        self.engine = engine
        self.worker_id = worker_id
        self.clock = clock
        self.retries = retries
        self.stats = stats

    def record(self, delivered: Delivered) -> list[tuple[int, str]]:
        """Write every outcome; returns the (participant id, channel) the provider reported
        as opted out."""
        results, released = delivered.results, delivered.released
        try:
            return self._record_batch(results, released)
        except Exception:
            log.exception("recording a batch of %d failed; recording row by row", len(results))
        opt_outs: list[tuple[int, str]] = []
        for one in results:
            try:
                opt_outs += self._record_batch([one], [])
            except Exception:
                log.exception("outbox=%s: recording failed; recording without its message",
                              one[0].row.id)
                opt_outs += self._record_batch([one], [], keep_message=False)
        if released:
            self._record_batch([], released)
        return opt_outs

    def _record_batch(self, results: list[tuple[Job, SendResult]],
                      released: list[tuple[Job, datetime]], *,
                      keep_message: bool = True) -> list[tuple[int, str]]:
        now = self.clock()
        opt_outs: list[tuple[int, str]] = []
        with transaction(self.engine) as tx:
            current = queue.claims(tx=tx, outbox_ids=[job.row.id for job, _ in results])
            outcomes: list[queue.Outcome] = []
            for job, result in results:
                row = job.row
                claim = current.get(row.id)
                if claim is None or claim.status != "claimed" or claim.claimed_by != self.worker_id:
                    log.error("outbox=%s lost its claim before recording", row.id)
                    continue
                outcome = self._outcome(job, result, claim.attempts + 1, now)
                if not keep_message:
                    outcome.message = None
                outcomes.append(outcome)
                if outcome.status == "failed" and result.opted_out \
                        and row.participant_id is not None:
                    self.stats["opted_out"] += 1
                    opt_outs.append((row.participant_id, row.channel))
            queue.record(tx=tx, outcomes=outcomes)
            if released:
                queue.release(tx=tx, worker=self.worker_id,
                              rows=[(job.row.id, not_before) for job, not_before in released])
                self.stats["released"] += len(released)
        return opt_outs

    def _outcome(self, job: Job, result: SendResult, attempts: int,
                 now: datetime) -> queue.Outcome:
        row = job.row
        if result.ok:
            self.stats["sent"] += 1
            log.info("outbox=%s sent provider_id=%s", row.id, result.provider_id)
            return queue.Outcome(row.id, "sent", attempts, provider_id=result.provider_id,
                                 sent_at=now,
                                 message=_message(row, result, now, result.status or "sent"))
        if result.error == STALE_REPLY:
            self.stats["cancelled"] += 1
            return queue.Outcome(row.id, "cancelled", attempts, error=STALE_REPLY)
        delay = self.retries.delay(attempts, result)
        next_try = now + timedelta(seconds=delay)
        gave_up = self.retries.gives_up(row, attempts, next_try)
        if result.permanent or gave_up:
            error = (result.error or "failed")[:240]
            if gave_up and not result.permanent:
                error = f"gave up after {attempts} attempts: {error}"
            self.stats["failed"] += 1
            log.warning("outbox=%s failed: %s", row.id, error)
            return queue.Outcome(row.id, "failed", attempts, error=error,
                                 message=_message(row, result, now, "failed"))
        self.stats["retried"] += 1
        attempted = (row.attempted_at or job.attempted_at) if result.in_doubt else None
        return queue.Outcome(row.id, "pending", attempts,
                             error=(result.error or "transient failure")[:300],
                             not_before=next_try, attempted_at=attempted)


def _message(row: OutboxRow, result: SendResult, now: datetime, status: str) -> dict[str, Any]:
    """The outbound ``Message`` row (segments and encoding as measured by the sender)."""
    return {
        "participant_id": row.participant_id, "run_id": row.run_id, "channel": row.channel,
        "direction": "out", "provider_id": result.provider_id if result.ok else None,
        "body": row.body, "status": status, "segments": result.segments,
        "encoding": result.encoding, "error_code": None if result.ok else result.error_code,
        "created_at": now, "purged_at": None,
    }
