"""Handing one claim to the providers: residents in parallel, each resident's rows one after
another in queue order (a failure holds the rest back), each send paced by its channel's
token bucket and stamped ``attempted_at`` just before its request goes out.

On a stop, rows not yet handed over are released at once; sends on the network get
``drain_seconds`` to finish and are left in doubt after that.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from engage.channels.base import LookupUnavailable, Outbound, OutboundButton, Sender, SendResult
from engage.outbox import queue
from engage.outbox.claiming import Job
from engage.outbox.in_doubt import InDoubtLookup
from engage.outbox.pacing import TokenBucket
from engage.outbox.retries import LOOKUP_RETRY_SECONDS, STALE_REPLY, ChannelPause, RetryPolicy
from engage.storage.sql import transaction

log = logging.getLogger("engage.dispatcher")


@dataclass
class Delivered:
    """What became of a claim: an outcome per row handed over (or found in doubt), and the
    rows released unsent with when they are due again."""

    results: list[tuple[Job, SendResult]] = field(default_factory=list)
    released: list[tuple[Job, datetime]] = field(default_factory=list)


def outbound(job: Job) -> Outbound:
    """The row as its channel's sender takes it."""
    row = job.row
    buttons: tuple[OutboundButton, ...] = ()
    if row.buttons:
        buttons = tuple(OutboundButton(label=str(b["label"]), value=str(b["value"]))
                        for b in json.loads(row.buttons))
    return Outbound(outbox_id=row.id or 0, channel=row.channel,  # type: ignore[arg-type]
                    address=job.address, text=row.body or "", buttons=buttons)


class Sending:
    """The long-lived pieces every claim's delivery shares."""

    def __init__(self, *, engine: Engine, senders: Mapping[str, Sender],
                 buckets: Mapping[str, TokenBucket], pause: ChannelPause, retries: RetryPolicy,
                 in_doubt: InDoubtLookup, clock: Callable[[], datetime], concurrency: int,
                 drain_seconds: float) -> None:
        self.engine = engine
        self.senders = senders
        self.buckets = buckets
        self.pause = pause
        self.retries = retries
        self.in_doubt = in_doubt
        self.clock = clock
        self.concurrency = concurrency
        self.drain_seconds = drain_seconds
        self.stop: asyncio.Event | None = None  # set while the dispatcher's loop runs

    def stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    async def deliver(self, jobs: list[Job]) -> Delivered:
        """Send one claim (see module docstring)."""
        return await _Batch(self).deliver(jobs)

    async def send(self, job: Job) -> SendResult:
        try:
            return await self.senders[job.row.channel].send(outbound(job))
        except Exception as exc:  # a sender bug must not kill the loop; never resend blindly
            log.exception("sender raised for outbox=%s", job.row.id)
            return SendResult(ok=False, error=f"sender error: {type(exc).__name__}",
                              permanent=True)

    def mark_attempted(self, outbox_ids: list[int]) -> None:
        with transaction(self.engine) as tx:
            queue.mark_attempted(tx=tx, outbox_ids=outbox_ids, now=self.clock())


class _Batch:
    """One claim on its way out."""

    def __init__(self, sending: Sending) -> None:
        self.s = sending
        self.done = Delivered()
        self._gate = asyncio.Semaphore(sending.concurrency)
        self._marks: list[int] = []
        self._flush: asyncio.Future[None] | None = None

    async def deliver(self, jobs: list[Job]) -> Delivered:
        groups: dict[object, list[Job]] = {}
        for job in jobs:
            key = job.row.participant_id if job.row.participant_id is not None else -job.row.id
            groups.setdefault(key, []).append(job)
        tasks = [asyncio.create_task(self._resident(sorted(g, key=lambda j: j.row.id)))
                 for g in groups.values()]
        await self._wait(tasks)
        return self.done

    async def _wait(self, tasks: list[asyncio.Task[None]]) -> None:
        """All sends finish; once a stop is asked, those still running get the drain time."""
        stop = self.s.stop
        waiting: set[asyncio.Future[Any]] = set(tasks)
        while waiting:
            if stop is None:
                await asyncio.wait(waiting)
                return
            if stop.is_set():
                _, late = await asyncio.wait(waiting, timeout=self.s.drain_seconds)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
                return
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait(waiting | {stopper},
                                         return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            waiting -= done

    async def _resident(self, group: list[Job]) -> None:
        pending = list(group)
        current: list[Job] = []  # the job whose request may be on the network
        try:
            while pending:
                job = pending[0]
                result = await self._one(job, current)
                if result is None:
                    break  # not handed over: released with the rest
                pending.pop(0)
                self.done.results.append((job, result))
                if not result.ok:
                    break  # the resident's next messages wait for this one (queue order)
        except asyncio.CancelledError:
            if current:  # the drain ran out with the request on the network
                pending.remove(current[0])
                self.done.results.append((current[0], SendResult(
                    ok=False, error="stopped mid-send: outcome unknown", retry_after=0.0,
                    in_doubt=True)))
        except Exception:
            log.exception("sending to one resident failed; their rows are released")
        for job in pending:  # due as before: a paused channel is skipped when claiming
            self.done.released.append((job, job.row.not_before))

    def _held(self, channel: str) -> bool:
        return self.s.stopping() or self.s.pause.paused(channel, self.s.clock())

    async def _one(self, job: Job, current: list[Job]) -> SendResult | None:
        """Send one row (looked up first if in doubt); None when it was not handed over."""
        s, channel = self.s, job.row.channel
        async with self._gate:
            if self._held(channel):
                return None
            if job.row.attempted_at is not None:
                try:
                    found = await s.in_doubt.find(s.senders[channel], outbound(job),
                                                  job.row.attempted_at)
                except Exception as exc:  # down, throttled, or a bug: still in doubt, later
                    if not isinstance(exc, LookupUnavailable):
                        log.exception("lookup failed for outbox=%s", job.row.id)
                    result = SendResult(ok=False, error=f"lookup unavailable: {exc}"[:200],
                                        retry_after=LOOKUP_RETRY_SECONDS, in_doubt=True)
                    s.pause.note(channel, result, s.clock())
                    return result
                if found is not None:
                    return found
                if s.retries.stale(job.row, s.clock()):
                    return SendResult(ok=False, error=STALE_REPLY, permanent=True)
            await s.buckets[channel].acquire(s.stop)
            if self._held(channel):
                return None
            current.append(job)
            await self._mark(job)
            result = await s.send(job)
            current.clear()
        s.pause.note(channel, result, s.clock())
        return result

    async def _mark(self, job: Job) -> None:
        """Stamp ``attempted_at`` before the request goes out; the rows ready at the same
        moment share one UPDATE."""
        job.attempted_at = self.s.clock()
        self._marks.append(job.row.id)
        if self._flush is None:
            self._flush = asyncio.ensure_future(self._flush_marks())
        await asyncio.shield(self._flush)

    async def _flush_marks(self) -> None:
        await asyncio.sleep(0)  # let the sends that are ready now join this UPDATE
        ids, self._marks, self._flush = self._marks, [], None
        await asyncio.to_thread(self.s.mark_attempted, ids)
