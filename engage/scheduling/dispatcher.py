"""The outbox dispatcher: claim due rows, send them through the channel's ``Sender``, record.

Guarantees (docs/OPERATIONS.md, "Delivery guarantees"):
- **Effectively once.** Claims are atomic (PostgreSQL ``FOR UPDATE SKIP LOCKED`` plus a lease;
  SQLite ``BEGIN IMMEDIATE`` serializes writers) and outcomes are recorded only while the row
  is still ``claimed`` by this worker. A row is stamped ``attempted_at`` just before its request
  goes out. A claim whose lease expires (its worker died) goes back to pending: without the
  stamp it was never handed to the provider and is simply sent; with it the outcome is unknown
  ("in doubt"), so before resending the row is looked up at the provider (Twilio's Message
  list) and, when found, recorded as sent. A sender with no lookup (Telegram) resends.
- **Claim only what can be sent now**: at most what the channel's rate lets this worker send
  within ``claim_seconds``. On shutdown rows not yet handed over are released at once, sends
  on the network get ``drain_seconds`` to finish and are left in doubt after that.
- **Per-resident order**: a row is claimed only when every earlier unfinished row of its
  resident is in the same claim; one resident's rows in a claim leave one after another, in
  queue order (a failure holds the rest back), while different residents go out in parallel.
- **Outages**: transient failures (429, 5xx, timeouts) go back to ``pending`` with exponential
  backoff and jitter (capped by ``ENGAGE_RETRY_BACKOFF_CAP``) until a reply is older than
  ``ENGAGE_REPLY_MAX_AGE`` or any other message older than ``ENGAGE_RETRY_WINDOW``; a reply
  older than that is not sent at all ("cancelled", reason recorded). After three transient
  failures in a row a channel pauses (2 s doubling to 60 s) so a provider that is down is
  probed, not hammered. Permanent failures fail at once; ``opted_out`` answers record a
  provider opt-out.
- Rows of opted-out or erased participants are cancelled (confirmations excepted: the STOP
  confirmation itself must still go out), and campaign/reminder/invitation rows are held until
  the end of the resident's quiet hours. Direct replies are never held.
- Each channel has a token bucket (``ENGAGE_SMS_RATE`` for SMS; 0 disables it).

Database work runs in a worker thread so an in-process dispatcher never blocks the web loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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

from engage.channels.base import LookupUnavailable, Outbound, OutboundButton, Sender, SendResult
from engage.compliance import next_allowed_send
from engage.config import Settings
from engage.privacy import decrypt_address
from engage.storage import outbox_queue as queue
from engage.storage.db import session_scope
from engage.storage.models import ConsentEntry, Outbox, Participant, utcnow
from engage.storage.outbox_queue import OutboxRow
from engage.storage.sql import Tx, transaction

log = logging.getLogger("engage.dispatcher")

HELD_KINDS = frozenset(queue.HELD_KINDS)
ALWAYS_SENT_KINDS = frozenset({"confirmation"})
TELEGRAM_RATE = 25.0  # Telegram allows about 30 messages/s per bot
OPT_OUT_SOURCE = {"sms": "twilio_21610", "telegram": "telegram_blocked"}
REPLY_KINDS = frozenset({"reply", "confirmation"})  # retried only while they make sense
STALE_REPLY = "stale: too late to make sense, not sent (ENGAGE_REPLY_MAX_AGE)"
LOOKUP_RETRY_SECONDS = 30.0


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

    async def acquire(self, stop: asyncio.Event | None = None) -> None:
        """Wait for a token; a ``stop`` ends the wait early (the caller checks it)."""
        if self.unlimited:
            return
        async with self._lock:
            wait = self.delay()
        if wait <= 0:
            return
        if stop is None:
            await asyncio.sleep(wait)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)


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
        lease_seconds: float | None = None,
        max_attempts: int | None = None,
        backoff_base: float = 2.0,
        backoff_cap: float | None = None,
        concurrency: int = 64,
        rates: dict[str, float] | None = None,
        poll_interval: float = 0.5,
        pipelines: int = 2,
        batch_window: float = 0.05,
        claim_seconds: float = 2.0,
        drain_seconds: float | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.senders = senders
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.runtime = runtime
        self.lease = timedelta(seconds=lease_seconds if lease_seconds is not None
                               else settings.outbox_lease_seconds)
        self.max_attempts = max_attempts  # None: retry for the row's whole retry window
        self.backoff_base = backoff_base
        self.backoff_cap = (backoff_cap if backoff_cap is not None
                            else settings.retry_backoff_cap_seconds)
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.pipelines = max(1, pipelines)  # batches in flight at once in run_forever
        # After a partial batch, wait this long so replies arriving together share one claim
        # and one record transaction (on SQLite every transaction contends with the webhooks).
        self.batch_window = batch_window
        self.claim_seconds = claim_seconds
        self.drain_seconds = (drain_seconds if drain_seconds is not None
                              else settings.shutdown_drain_seconds)
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
        self._stop: asyncio.Event | None = None
        self._breaker = _Breaker()

    # -- claiming -------------------------------------------------------------------------
    def claim(self, limit: int) -> list[OutboxRow]:
        """Claim up to ``limit`` due rows for this worker (see module docstring)."""
        return [job.row for job in self._claim(limit)]

    def _quota(self, channel: str) -> int | None:
        """Rows one claim may take for a channel: what its rate can send within
        ``claim_seconds``, so nothing waits claimed for long (and a stop releases little)."""
        bucket = self.buckets.get(channel)
        if bucket is None or bucket.unlimited:
            return None
        return max(1, math.floor(bucket.rate * self.claim_seconds))

    def _claim(self, limit: int) -> list[_Job]:
        now = self.clock()
        with transaction(self.engine) as tx:
            for outbox_id, in_doubt in queue.release_expired_leases(tx=tx, now=now):
                self.stats["lease_expired"] += 1
                log.info("outbox=%s lease expired: pending again%s", outbox_id,
                         " (in doubt: looked up before any resend)" if in_doubt else "")
            rows = queue.due_rows(tx=tx, now=now, limit=limit)
            recipients = queue.recipients(tx=tx, participant_ids=[r.participant_id for r in rows])
            jobs: list[_Job] = []
            taken: Counter[str] = Counter()
            mine: Counter[int] = Counter()  # rows of each resident in this claim
            for row in rows:  # in queue order (see due_rows)
                if row.participant_id is not None and row.earlier != mine[row.participant_id]:
                    continue  # an earlier message to this resident has to leave first
                if self._breaker.paused(row.channel, now):
                    continue  # the provider is failing: leave it pending, unclaimed
                quota = self._quota(row.channel)
                if quota is not None and taken[row.channel] >= quota:
                    continue  # leave it pending for the next claim
                job = self._prepare(tx, row, recipients.get(row.participant_id or -1), now)
                if row.participant_id is not None and row.channel in self.senders:
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
                 now: datetime) -> _Job | None:
        """Cancel, hold, or turn a due row into a job (address decrypted just in time)."""
        if row.channel not in self.senders:
            return None  # another process owns this channel (or it is not configured here)
        if row.attempted_at is None and self._stale(row, now):
            self._finish(tx, row, "cancelled", STALE_REPLY)
            return None
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

    def _retry_deadline(self, row: OutboxRow) -> datetime:
        """Until when a transient failure is retried: a reply only while it still makes
        sense, anything else for the whole retry window."""
        if row.kind in REPLY_KINDS:
            return row.created_at + timedelta(seconds=self.settings.reply_max_age_seconds)
        return row.created_at + timedelta(seconds=self.settings.retry_window_seconds)

    def _stale(self, row: OutboxRow, now: datetime) -> bool:
        return row.kind == "reply" and now > self._retry_deadline(row)

    # -- sending --------------------------------------------------------------------------
    async def run_once(self, limit: int = 100) -> int:
        """Claim, send and record one batch; returns how many rows were claimed."""
        if self._stopping():
            return 0
        jobs = await asyncio.to_thread(self._claim, limit)
        if not jobs:
            return 0
        batch = _Batch(self)
        await batch.deliver(jobs)
        opt_outs = await asyncio.to_thread(self._record, batch.results, batch.released)
        for participant_id, channel in opt_outs:
            await asyncio.to_thread(self._record_opt_out, participant_id, channel)
        return len(jobs)

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def _outbound(self, job: _Job) -> Outbound:
        row = job.row
        buttons: tuple[OutboundButton, ...] = ()
        if row.buttons:
            buttons = tuple(OutboundButton(label=str(b["label"]), value=str(b["value"]))
                            for b in json.loads(row.buttons))
        return Outbound(outbox_id=row.id or 0, channel=row.channel,  # type: ignore[arg-type]
                        address=job.address, text=row.body or "", buttons=buttons)

    async def _send(self, job: _Job) -> SendResult:
        try:
            return await self.senders[job.row.channel].send(self._outbound(job))
        except Exception as exc:  # a sender bug must not kill the loop; never resend blindly
            log.exception("sender raised for outbox=%s", job.row.id)
            return SendResult(ok=False, error=f"sender error: {type(exc).__name__}",
                              permanent=True)

    async def _reconcile(self, job: _Job) -> SendResult | None:
        """An in-doubt row: what the provider already holds for it, or None (send it).
        Raises ``LookupUnavailable`` when the provider cannot tell now."""
        lookup = getattr(self.senders[job.row.channel], "lookup", None)
        since = job.row.attempted_at
        if lookup is None or since is None:
            self.stats["resent_in_doubt"] += 1
            log.info("outbox=%s in doubt, %s has no lookup: sending again", job.row.id,
                     job.row.channel)
            return None
        self.stats["looked_up"] += 1
        candidates: list[SendResult] = await lookup(self._outbound(job), since)
        ids = [c.provider_id for c in candidates if c.provider_id]
        known = await asyncio.to_thread(self._known_ids, job.row.channel, ids)
        for candidate in candidates:
            if candidate.provider_id and candidate.provider_id not in known:
                self.stats["found_in_doubt"] += 1
                log.info("outbox=%s in doubt: found at the provider, not resent", job.row.id)
                return candidate
        log.info("outbox=%s in doubt: not at the provider, sending", job.row.id)
        return None

    def _known_ids(self, channel: str, provider_ids: list[str]) -> set[str]:
        with transaction(self.engine) as tx:
            return queue.known_provider_ids(tx=tx, channel=channel, provider_ids=provider_ids)

    def _mark_attempted(self, outbox_ids: list[int]) -> None:
        with transaction(self.engine) as tx:
            queue.mark_attempted(tx=tx, outbox_ids=outbox_ids, now=self.clock())

    def _record(self, results: list[tuple[_Job, SendResult]],
                released: list[tuple[_Job, datetime]]) -> list[tuple[int, str]]:
        """Write every outcome; returns (participant id, channel) opt-outs. An outcome is
        written only while its row is still claimed by this worker. The batch shares one
        transaction; if that fails, each row is recorded on its own so one bad row cannot
        lose the others' record (and a sent row whose message cannot be stored is still
        recorded as sent)."""
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

    def _record_batch(self, results: list[tuple[_Job, SendResult]],
                      released: list[tuple[_Job, datetime]], *,
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

    def _outcome(self, job: _Job, result: SendResult, attempts: int,
                 now: datetime) -> queue.Outcome:
        row = job.row
        if result.ok:
            self.stats["sent"] += 1
            log.info("outbox=%s sent provider_id=%s", row.id, result.provider_id)
            return queue.Outcome(row.id, "sent", attempts, provider_id=result.provider_id,
                                 sent_at=now,
                                 message=self._message(row, result, now, result.status or "sent"))
        if result.error == STALE_REPLY:
            self.stats["cancelled"] += 1
            return queue.Outcome(row.id, "cancelled", attempts, error=STALE_REPLY)
        delay = max(result.retry_after or 0.0,
                    backoff_seconds(attempts, base=self.backoff_base, cap=self.backoff_cap))
        gave_up = (self.max_attempts is not None and attempts >= self.max_attempts) or \
            now + timedelta(seconds=delay) > self._retry_deadline(row)
        if result.permanent or gave_up:
            error = (result.error or "failed")[:240]
            if gave_up and not result.permanent:
                error = f"gave up after {attempts} attempts: {error}"
            self.stats["failed"] += 1
            log.warning("outbox=%s failed: %s", row.id, error)
            return queue.Outcome(row.id, "failed", attempts, error=error,
                                 message=self._message(row, result, now, "failed"))
        self.stats["retried"] += 1
        attempted = (row.attempted_at or job.attempted_at) if result.in_doubt else None
        return queue.Outcome(row.id, "pending", attempts,
                             error=(result.error or "transient failure")[:300],
                             not_before=now + timedelta(seconds=delay), attempted_at=attempted)

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
        self._stop = stop_event
        try:
            await asyncio.gather(*(self._pump(stop_event, limit) for _ in range(self.pipelines)))
        finally:
            await asyncio.to_thread(self._release_mine)

    def _release_mine(self) -> None:
        """On the way out, nothing stays claimed by this worker (in-doubt rows stay so)."""
        try:
            with transaction(self.engine) as tx:
                count = queue.release_worker(tx=tx, worker=self.worker_id)
        except Exception:
            log.exception("could not release this worker's claims (their leases will)")
            return
        if count:
            log.info("released %d claimed rows on stop", count)

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


@dataclass
class _Job:
    row: OutboxRow
    address: str
    attempted_at: datetime | None = None  # when this worker stamped it, just before sending


class _Breaker:
    """Per channel: after ``THRESHOLD`` transient failures in a row, stop sending for a while
    (2 s, doubling to ``PAUSE_CAP``) so a provider that is down is probed, not hammered."""

    THRESHOLD = 3
    PAUSE_CAP = 60.0

    def __init__(self) -> None:
        self.failures: Counter[str] = Counter()
        self.until: dict[str, datetime] = {}

    def paused(self, channel: str, now: datetime) -> bool:
        until = self.until.get(channel)
        return until is not None and now < until

    def note(self, channel: str, result: SendResult, now: datetime) -> None:
        if result.ok or result.permanent:
            self.failures[channel] = 0
            return
        self.failures[channel] += 1
        count = self.failures[channel]
        if count >= self.THRESHOLD:
            pause = max(min(self.PAUSE_CAP, 2.0 ** (count - self.THRESHOLD + 1)),
                        result.retry_after or 0.0)
            self.until[channel] = now + timedelta(seconds=pause)
            log.warning("%s: %d transient failures in a row; pausing %.0f s", channel, count,
                        pause)


class _Batch:
    """One claim on its way out: residents in parallel, each resident's rows one after
    another in queue order; on stop, what was not handed over is released."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.d = dispatcher
        self.results: list[tuple[_Job, SendResult]] = []
        self.released: list[tuple[_Job, datetime]] = []
        self._gate = asyncio.Semaphore(dispatcher.concurrency)
        self._marks: list[int] = []
        self._flush: asyncio.Future[None] | None = None

    async def deliver(self, jobs: list[_Job]) -> None:
        groups: dict[object, list[_Job]] = {}
        for job in jobs:
            key = job.row.participant_id if job.row.participant_id is not None else -job.row.id
            groups.setdefault(key, []).append(job)
        tasks = [asyncio.create_task(self._resident(sorted(g, key=lambda j: j.row.id)))
                 for g in groups.values()]
        await self._wait(tasks)

    async def _wait(self, tasks: list[asyncio.Task[None]]) -> None:
        """All sends finish; once a stop is asked, those still running get the drain time."""
        stop = self.d._stop
        waiting: set[asyncio.Future[Any]] = set(tasks)
        while waiting:
            if stop is None:
                await asyncio.wait(waiting)
                return
            if stop.is_set():
                _, late = await asyncio.wait(waiting, timeout=self.d.drain_seconds)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
                return
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait(waiting | {stopper},
                                         return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            waiting -= done

    async def _resident(self, group: list[_Job]) -> None:
        pending = list(group)
        current: list[_Job] = []  # the job whose request may be on the network
        try:
            while pending:
                job = pending[0]
                result = await self._one(job, current)
                if result is None:
                    break  # not handed over: released with the rest
                pending.pop(0)
                self.results.append((job, result))
                if not result.ok:
                    break  # the resident's next messages wait for this one (queue order)
        except asyncio.CancelledError:
            if current:  # the drain ran out with the request on the network
                pending.remove(current[0])
                self.results.append((current[0], SendResult(
                    ok=False, error="stopped mid-send: outcome unknown", retry_after=0.0,
                    in_doubt=True)))
        except Exception:
            log.exception("sending to one resident failed; their rows are released")
        for job in pending:  # due as before: a paused channel is skipped when claiming
            self.released.append((job, job.row.not_before))

    def _held(self, channel: str) -> bool:
        return self.d._stopping() or self.d._breaker.paused(channel, self.d.clock())

    async def _one(self, job: _Job, current: list[_Job]) -> SendResult | None:
        """Send one row (looked up first if in doubt); None when it was not handed over."""
        d, channel = self.d, job.row.channel
        async with self._gate:
            if self._held(channel):
                return None
            if job.row.attempted_at is not None:
                try:
                    found = await d._reconcile(job)
                except Exception as exc:  # down, throttled, or a bug: still in doubt, later
                    if not isinstance(exc, LookupUnavailable):
                        log.exception("lookup failed for outbox=%s", job.row.id)
                    result = SendResult(ok=False, error=f"lookup unavailable: {exc}"[:200],
                                        retry_after=LOOKUP_RETRY_SECONDS, in_doubt=True)
                    d._breaker.note(channel, result, d.clock())
                    return result
                if found is not None:
                    return found
                if d._stale(job.row, d.clock()):
                    return SendResult(ok=False, error=STALE_REPLY, permanent=True)
            await d.buckets[channel].acquire(d._stop)
            if self._held(channel):
                return None
            current.append(job)
            await self._mark(job)
            result = await d._send(job)
            current.clear()
        d._breaker.note(channel, result, d.clock())
        return result

    async def _mark(self, job: _Job) -> None:
        """Stamp ``attempted_at`` before the request goes out; the rows ready at the same
        moment share one UPDATE."""
        job.attempted_at = self.d.clock()
        self._marks.append(job.row.id)
        if self._flush is None:
            self._flush = asyncio.ensure_future(self._flush_marks())
        await asyncio.shield(self._flush)

    async def _flush_marks(self) -> None:
        await asyncio.sleep(0)  # let the sends that are ready now join this UPDATE
        ids, self._marks, self._flush = self._marks, [], None
        await asyncio.to_thread(self.d._mark_attempted, ids)
