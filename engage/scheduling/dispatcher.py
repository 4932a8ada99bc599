"""The outbox dispatcher: claim due rows, send them through the channel's ``Sender``, record.

Guarantees (DESIGN.md "nothing lost, nothing made up"):
- A row is sent at most once. Claims are atomic (PostgreSQL ``FOR UPDATE SKIP LOCKED`` plus a
  lease; SQLite ``BEGIN IMMEDIATE`` serializes writers) and results are recorded only while the
  row is still ``claimed`` by this worker. A lease that expires means a worker died between
  claiming and recording: the outcome is unknown, so the row is marked ``failed`` ("lease
  expired") rather than risk a second copy reaching the resident.
- Transient failures (429, 5xx, timeouts) go back to ``pending`` with exponential backoff and
  jitter; permanent ones fail at once; ``opted_out`` answers record a provider opt-out.
- Rows of opted-out or erased participants are cancelled (confirmations excepted: the STOP
  confirmation itself must still go out), and campaign/reminder/invitation rows are held until
  the end of the resident's quiet hours. Direct replies are never held.
- Each channel has a token bucket (``ENGAGE_SMS_RATE`` for SMS; 0 disables it).

Database work runs in a worker thread so an in-process dispatcher never blocks the web loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from engage.channels.base import Outbound, OutboundButton, Sender, SendResult
from engage.compliance import next_allowed_send
from engage.config import Settings
from engage.privacy import decrypt_address
from engage.storage import outbox_queue as queue
from engage.storage.db import session_scope
from engage.storage.models import ConsentEntry, Outbox, Participant, utcnow
from engage.storage.outbox_queue import OutboxRow
from engage.storage.sql import Tx, transaction

log = logging.getLogger("engage.dispatcher")

HELD_KINDS = frozenset({"campaign", "reminder", "invitation"})
ALWAYS_SENT_KINDS = frozenset({"confirmation"})
TELEGRAM_RATE = 25.0  # Telegram allows about 30 messages/s per bot
OPT_OUT_SOURCE = {"sms": "twilio_21610", "telegram": "telegram_blocked"}
LEASE_EXPIRED = "lease expired: outcome unknown, not resent"


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; rate <= 0 means unlimited."""

    def __init__(self, rate: float, burst: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, burst if burst is not None else rate)
        self.tokens = self.capacity
        self._monotonic = monotonic
        self._last = monotonic()
        self._lock = asyncio.Lock()

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def delay(self) -> float:
        """Take a token; return how long to wait before using it (0 when one was available)."""
        if self.unlimited:
            return 0.0
        now = self._monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
        self._last = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    async def acquire(self) -> None:
        if self.unlimited:
            return
        async with self._lock:
            wait = self.delay()
        if wait > 0:
            await asyncio.sleep(wait)


@dataclass
class _Job:
    row: OutboxRow
    address: str


def backoff_seconds(attempt: int, *, base: float, cap: float,
                    rng: Callable[[], float] = random.random) -> float:
    """Exponential backoff with "equal jitter": uniform in [c/2, c], c = min(cap, base*2^(n-1)),
    so retries from many rows spread out but never come sooner than half the step."""
    ceiling = min(cap, base * 2.0 ** max(attempt - 1, 0))
    return float(ceiling / 2 + rng() * ceiling / 2)


class Dispatcher:
    """Drains the outbox. Create one per process (or several on PostgreSQL)."""

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        senders: dict[str, Sender],
        clock: Callable[[], datetime] = utcnow,
        worker_id: str | None = None,
        runtime: Any | None = None,
        lease_seconds: float = 120.0,
        max_attempts: int = 8,
        backoff_base: float = 2.0,
        backoff_cap: float = 900.0,
        concurrency: int = 64,
        rates: dict[str, float] | None = None,
        poll_interval: float = 0.5,
        pipelines: int = 2,
        batch_window: float = 0.05,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.senders = senders
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.runtime = runtime
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.pipelines = max(1, pipelines)  # batches in flight at once in run_forever
        # After a partial batch, wait this long so replies arriving together share one claim
        # and one record transaction (on SQLite every transaction contends with the webhooks).
        self.batch_window = batch_window
        rate_for = {"sms": settings.sms_rate, "telegram": TELEGRAM_RATE} | (rates or {})
        self.buckets = {
            name: TokenBucket(rate_for.get(name, 0.0)
                              if getattr(sender, "rate_limited", True) else 0.0)
            for name, sender in senders.items()
        }
        self.stats: Counter[str] = Counter()
        self._secret = settings.secret_bytes()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- claiming -------------------------------------------------------------------------
    def claim(self, limit: int) -> list[OutboxRow]:
        """Claim up to ``limit`` due rows for this worker (see module docstring)."""
        return [job.row for job in self._claim(limit)]

    def _quota(self, channel: str) -> int | None:
        """Rows one claim may take for a channel: what its rate can send within half a lease,
        shared between the batches that may be in flight at once."""
        bucket = self.buckets.get(channel)
        if bucket is None or bucket.unlimited:
            return None
        return max(1, math.floor(bucket.rate * self.lease.total_seconds() / 2 / self.pipelines))

    def _claim(self, limit: int) -> list[_Job]:
        now = self.clock()
        with transaction(self.engine) as tx:
            for outbox_id in queue.fail_expired_leases(tx=tx, now=now, error=LEASE_EXPIRED):
                self.stats["failed"] += 1
                log.info("outbox=%s failed: %s", outbox_id, LEASE_EXPIRED)
            rows = queue.due_rows(tx=tx, now=now, limit=limit)
            recipients = queue.recipients(tx=tx, participant_ids=[r.participant_id for r in rows])
            jobs: list[_Job] = []
            taken: Counter[str] = Counter()
            for row in rows:
                job = self._prepare(tx, row, recipients.get(row.participant_id or -1), now)
                if job is None:
                    continue
                quota = self._quota(row.channel)
                if quota is not None and taken[row.channel] >= quota:
                    continue  # leave it pending for the next claim
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
                 now: datetime) -> _Job | None:
        """Cancel, hold, or turn a due row into a job (address decrypted just in time)."""
        if row.channel not in self.senders:
            return None  # another process owns this channel (or it is not configured here)
        if row.address_enc is not None:  # the erasure confirmation carries its own address
            return _Job(row=row, address=decrypt_address(self._secret, row.address_enc))
        if recipient is None or recipient.address_enc is None:
            self._finish(tx, row, "cancelled", "participant erased or missing")
            return None
        if recipient.opted_out and row.kind not in ALWAYS_SENT_KINDS:
            self._finish(tx, row, "cancelled", "participant opted out")
            return None
        if row.kind in HELD_KINDS:
            resume = next_allowed_send(now, recipient.timezone or self.settings.timezone,
                                       self.settings.quiet_window)
            if resume > now:
                queue.hold(tx=tx, outbox_id=row.id, not_before=resume)
                self.stats["held"] += 1
                return None
        address = decrypt_address(self._secret, recipient.address_enc)
        return _Job(row=row, address=address)

    def _finish(self, tx: Tx, row: OutboxRow, status: str, error: str) -> None:
        queue.finish(tx=tx, outbox_id=row.id, status=status, error=error)
        self.stats[status] += 1
        log.info("outbox=%s %s: %s", row.id, status, error)

    # -- sending --------------------------------------------------------------------------
    async def run_once(self, limit: int = 100) -> int:
        """Claim, send and record one batch; returns how many rows were attempted."""
        jobs = await asyncio.to_thread(self._claim, limit)
        if not jobs:
            return 0
        gate = asyncio.Semaphore(self.concurrency)

        async def send(job: _Job) -> tuple[_Job, SendResult]:
            async with gate:
                await self.buckets[job.row.channel].acquire()
                return job, await self._send(job)

        results = await asyncio.gather(*(send(job) for job in jobs))
        opt_outs = await asyncio.to_thread(self._record, results)
        for participant_id, channel in opt_outs:
            await asyncio.to_thread(self._record_opt_out, participant_id, channel)
        return len(jobs)

    async def _send(self, job: _Job) -> SendResult:
        row = job.row
        buttons: tuple[OutboundButton, ...] = ()
        if row.buttons:
            import json

            buttons = tuple(OutboundButton(label=str(b["label"]), value=str(b["value"]))
                            for b in json.loads(row.buttons))
        message = Outbound(outbox_id=row.id or 0, channel=row.channel,  # type: ignore[arg-type]
                           address=job.address, text=row.body or "", buttons=buttons)
        try:
            return await self.senders[row.channel].send(message)
        except Exception as exc:  # a sender bug must not kill the loop; never resend blindly
            log.exception("sender raised for outbox=%s", row.id)
            return SendResult(ok=False, error=f"sender error: {type(exc).__name__}",
                              permanent=True)

    def _record(self, results: list[tuple[_Job, SendResult]]) -> list[tuple[int, str]]:
        """Write every outcome in one transaction; returns (participant id, channel) opt-outs.
        An outcome is written only while its row is still claimed by this worker."""
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
                attempts = claim.attempts + 1
                final = result.ok or result.permanent or attempts >= self.max_attempts
                if result.ok:
                    outcomes.append(queue.Outcome(
                        row.id, "sent", attempts, provider_id=result.provider_id, sent_at=now,
                        message=self._message(row, result, now, result.status or "sent")))
                    self.stats["sent"] += 1
                    log.info("outbox=%s sent provider_id=%s", row.id, result.provider_id)
                elif final:
                    error = (result.error or "failed")[:300]
                    outcomes.append(queue.Outcome(row.id, "failed", attempts, error=error,
                                                  message=self._message(row, result, now,
                                                                        "failed")))
                    self.stats["failed"] += 1
                    if result.opted_out and row.participant_id is not None:
                        self.stats["opted_out"] += 1
                        opt_outs.append((row.participant_id, row.channel))
                    log.warning("outbox=%s failed: %s", row.id, error)
                else:
                    delay = max(result.retry_after or 0.0,
                                backoff_seconds(attempts, base=self.backoff_base,
                                                cap=self.backoff_cap))
                    outcomes.append(queue.Outcome(
                        row.id, "pending", attempts,
                        error=(result.error or "transient failure")[:300],
                        not_before=now + timedelta(seconds=delay)))
                    self.stats["retried"] += 1
            queue.record(tx=tx, outcomes=outcomes)
        return opt_outs

    @staticmethod
    def _message(row: OutboxRow, result: SendResult, now: datetime, status: str) -> dict[str, Any]:
        """The outbound ``Message`` row (segments and encoding as measured by the sender)."""
        return {
            "participant_id": row.participant_id, "run_id": row.run_id, "channel": row.channel,
            "direction": "out", "provider_id": result.provider_id if result.ok else None,
            "body": row.body, "status": status, "segments": result.segments,
            "encoding": result.encoding, "error_code": None if result.ok else result.error_code,
            "created_at": now, "purged_at": None,
        }

    def _record_opt_out(self, participant_id: int, channel: str) -> None:
        """The provider says the recipient unsubscribed: honour it everywhere, at once."""
        now = self.clock()
        source = OPT_OUT_SOURCE.get(channel, "provider")
        if self.runtime is not None and hasattr(self.runtime, "record_provider_opt_out"):
            self.runtime.record_provider_opt_out(participant_id=participant_id, source=source,
                                                 now=now)
        else:
            with session_scope(self.engine) as session:
                participant = session.get(Participant, participant_id)
                if participant is not None and not participant.opted_out:
                    participant.opted_out = True
                    session.add(participant)
                    session.add(ConsentEntry(participant_id=participant_id, scope="all",
                                             status="opted_out", text_version="provider",
                                             source=source, at=now))
        with session_scope(self.engine) as session:
            session.execute(
                sa.update(Outbox)
                .where(col(Outbox.participant_id) == participant_id,
                       col(Outbox.status) == "pending",
                       col(Outbox.kind).not_in(ALWAYS_SENT_KINDS))
                .values(status="cancelled", error="participant opted out")
            )
        log.info("participant_id=%s opted out via %s", participant_id, source)

    # -- the loop -------------------------------------------------------------------------
    def notify(self) -> None:
        """Wake the loop now (e.g. a webhook just enqueued a reply). Safe from any thread."""
        wake, loop = self._wake, self._loop
        if wake is None or loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()  # a webhook on the dispatcher's own loop: no self-pipe write
        else:
            loop.call_soon_threadsafe(wake.set)

    async def run_forever(self, stop_event: asyncio.Event, *, limit: int = 100) -> None:
        """Send until ``stop_event`` is set. ``pipelines`` batches overlap, so one is on the
        network while another is being claimed or recorded; errors are logged, then retried."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        await asyncio.gather(*(self._pump(stop_event, limit) for _ in range(self.pipelines)))

    async def _pump(self, stop_event: asyncio.Event, limit: int) -> None:
        assert self._wake is not None
        while not stop_event.is_set():
            try:
                count = await self.run_once(limit)
            except Exception:
                log.exception("dispatcher batch failed; retrying shortly")
                count = 0
                await asyncio.sleep(self.poll_interval)
            if count >= limit:
                continue
            if count:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop_event.wait(), self.batch_window)
                continue
            self._wake.clear()
            waiters = [asyncio.ensure_future(stop_event.wait()),
                       asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waiters, timeout=self.poll_interval,
                               return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            if self._wake.is_set() and not stop_event.is_set():
                await asyncio.sleep(self.batch_window)  # let the burst that woke us gather

    async def aclose(self) -> None:
        """Close senders that hold connections (Twilio's aiohttp session, the aiogram Bot)."""
        for sender in self.senders.values():
            close = getattr(sender, "close", None)
            if close is not None:
                await close()
