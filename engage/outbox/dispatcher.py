"""The outbox dispatcher: claim due rows, send them through the channel's ``Sender``, record.

Guarantees (docs/OPERATIONS.md, "Delivery guarantees"):
- **Effectively once.** Claims are atomic and outcomes are recorded only while the row is
  still ``claimed`` by this worker (``claiming``, ``recording``); a row whose outcome is
  unknown is looked up at the provider before any resend (``in_doubt``).
- **Claim only what can be sent now** (``pacing``); on shutdown rows not yet handed over are
  released at once, sends on the network get ``drain_seconds`` to finish (``sending``).
- **Per-resident order**; different residents go out in parallel (``claiming``, ``sending``).
- **Outages**: backoff, retry windows, stale replies and channel pauses (``retries``);
  ``opted_out`` answers go to the one function that records a provider opt-out.

Database work runs in a worker thread so an in-process dispatcher never blocks the web loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from engage.channels.base import Sender
from engage.clock import utcnow
from engage.config import Settings
from engage.outbox import queue
from engage.outbox.claiming import Claimer
from engage.outbox.in_doubt import InDoubtLookup
from engage.outbox.pacing import channel_buckets, claim_quota
from engage.outbox.provider_opt_out import ProviderOptOut, source_for
from engage.outbox.queue import OutboxRow
from engage.outbox.recording import Recorder
from engage.outbox.retries import ChannelPause, RetryPolicy
from engage.outbox.sending import Sending
from engage.storage.sql import transaction

log = logging.getLogger("engage.dispatcher")


class Dispatcher:
    """Drains the outbox. Create one per process (or several on PostgreSQL)."""

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        senders: Mapping[str, Sender],
        provider_opt_out: ProviderOptOut,
        clock: Callable[[], datetime] = utcnow,
        worker_id: str | None = None,
        lease_seconds: float | None = None,
        max_attempts: int | None = None,
        backoff_base: float = 2.0,
        backoff_cap: float | None = None,
        concurrency: int = 64,
        rates: Mapping[str, float] | None = None,
        poll_interval: float = 0.5,
        pipelines: int = 2,
        batch_window: float = 0.05,
        claim_seconds: float = 2.0,
        drain_seconds: float | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.senders = senders
        self.provider_opt_out = provider_opt_out
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.poll_interval = poll_interval
        self.pipelines = max(1, pipelines)  # batches in flight at once in run_forever
        # After a partial batch, wait this long so replies arriving together share one claim
        # and one record transaction (on SQLite every transaction contends with the webhooks).
        self.batch_window = batch_window
        self.stats: Counter[str] = Counter()
        retries = RetryPolicy.from_settings(settings, backoff_base=backoff_base,
                                            backoff_cap=backoff_cap, max_attempts=max_attempts)
        pause = ChannelPause()
        buckets = channel_buckets(settings, senders, rates)
        lease = timedelta(seconds=lease_seconds if lease_seconds is not None
                          else settings.outbox_lease_seconds)
        self._claimer = Claimer(
            engine=engine, settings=settings, channels=senders.keys(), clock=clock,
            worker_id=self.worker_id, lease=lease,
            quotas={name: claim_quota(bucket, claim_seconds) for name, bucket in buckets.items()},
            pause=pause, retries=retries, stats=self.stats)
        self._sending = Sending(
            engine=engine, senders=senders, buckets=buckets, pause=pause, retries=retries,
            in_doubt=InDoubtLookup(engine=engine, stats=self.stats), clock=clock,
            concurrency=concurrency,
            drain_seconds=(drain_seconds if drain_seconds is not None
                           else settings.shutdown_drain_seconds))
        self._recorder = Recorder(engine=engine, worker_id=self.worker_id, clock=clock,
                                  retries=retries, stats=self.stats)
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def claim(self, limit: int) -> list[OutboxRow]:
        """Claim up to ``limit`` due rows for this worker (see ``claiming``)."""
        return [job.row for job in self._claimer.claim(limit)]

    async def run_once(self, limit: int = 100) -> int:
        """Claim, send and record one batch; returns how many rows were claimed."""
        if self._sending.stopping():
            return 0
        jobs = await asyncio.to_thread(self._claimer.claim, limit)
        if not jobs:
            return 0
        delivered = await self._sending.deliver(jobs)
        opt_outs = await asyncio.to_thread(self._recorder.record, delivered)
        for participant_id, channel in opt_outs:
            await asyncio.to_thread(self._record_opt_out, participant_id, channel)
        return len(jobs)

    def _record_opt_out(self, participant_id: int, channel: str) -> None:
        """The provider says the recipient unsubscribed: honour it everywhere, at once."""
        source = source_for(channel)
        self.provider_opt_out(participant_id=participant_id, source=source, now=self.clock())
        log.info("participant_id=%s opted out via %s", participant_id, source)

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
        self._sending.stop = stop_event
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
