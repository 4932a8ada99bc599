"""Group commit: concurrent callers share one transaction, each still gets its own answer.

Why: a webhook server handles many residents at once, and a commit is the most expensive
statement of an inbound message (SQLite's WAL write; PostgreSQL's WAL fsync, ~3 ms here).
When a caller arrives while a batch is being written, it queues; the next batch takes every
queued job (up to ``max_batch``) into one transaction. A caller returns only after the
transaction holding its job has committed, so an acknowledged message is still a stored
message. Nothing is delayed to wait for company: an idle system runs each job at once.

Leader/follower: the first caller to find no batch running becomes the leader and runs the
batch in its own thread; followers sleep until their result is ready, or until they are
promoted to lead the next batch. No extra thread, and no hand-off for an uncontended caller.

Async callers (``submit_async``, the webhooks) have no thread to lend: their jobs wait as
futures, and batches that start with one run on this group's own worker thread. So a
webhook costs one thread hop per batch instead of one per request.

``run_batch(jobs)`` returns one result or exception per job, in order. How a batch isolates
one bad job from the others (roll back, then run the jobs one by one) is the caller's rule.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

J = TypeVar("J")
R = TypeVar("R")

class _Slot(Generic[J, R]):
    __slots__ = ("done", "error", "event", "future", "job", "result")

    def __init__(self, job: J, future: asyncio.Future[R] | None = None) -> None:
        self.job = job
        self.future = future  # an async caller's; None when a thread waits on ``event``
        self.event = threading.Event()
        self.done = False
        self.result: R | None = None
        self.error: BaseException | None = None

    def settle(self, outcome: R | BaseException) -> None:
        """Record the outcome and wake a waiting thread (futures: see ``_run``)."""
        if isinstance(outcome, BaseException):
            self.error = outcome
        else:
            self.result = outcome
        self.done = True
        if self.future is None:
            self.event.set()

    def outcome(self) -> R:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommit(Generic[J, R]):
    """Batches concurrent ``submit`` calls into ``run_batch`` calls (see module docstring)."""

    def __init__(self, run_batch: Callable[[Sequence[J]], Sequence[R | BaseException]], *,
                 max_batch: int = 64) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run_batch = run_batch
        self.max_batch = max_batch
        self._mutex = threading.Lock()
        self._queue: list[_Slot[J, R]] = []
        self._busy = False  # a leader is running; invariant: not busy -> queue empty
        self._worker: ThreadPoolExecutor | None = None  # leads batches of async callers
        self.batches = 0
        self.jobs = 0

    def submit(self, job: J) -> R:
        """Run ``job`` in the next batch; returns its result or raises its exception."""
        slot: _Slot[J, R] = _Slot(job)
        with self._mutex:
            self._queue.append(slot)
            leader = not self._busy
            self._busy = True
        if not leader:
            slot.event.wait()
            if slot.done:
                return slot.outcome()
        self._lead(once=True)  # promoted, or first: lead one batch (it holds our job)
        return slot.outcome()

    async def submit_async(self, job: J) -> R:
        """``submit`` for a coroutine: the event loop is never blocked."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        with self._mutex:
            self._queue.append(_Slot(job, future))
            start = not self._busy
            self._busy = True
        if start:
            # after the callbacks already due in this loop iteration (the other requests of
            # the same burst, the other callers woken by the last batch) have queued too:
            # they join this batch instead of each starting a batch of one
            loop.call_soon(self._start_worker)
        return await future

    def close(self) -> None:
        """Stop the worker thread (after the batches it has)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.shutdown(wait=True)

    def _start_worker(self) -> None:
        if self._worker is None:
            with self._mutex:
                if self._worker is None:
                    self._worker = ThreadPoolExecutor(1, thread_name_prefix="engage-commit")
        self._worker.submit(self._lead, once=False)

    def _lead(self, *, once: bool) -> None:
        """Run batches; a caller's own thread runs one, the worker runs while async jobs
        head the queue. Whoever stops hands the queue on (see ``_hand_on``)."""
        while True:
            with self._mutex:
                batch = self._queue[:self.max_batch]
                del self._queue[:self.max_batch]
            self._run(batch)
            with self._mutex:
                head = self._queue[0] if self._queue else None
                if head is None:
                    self._busy = False
                    return
                if head.future is None:  # a waiting thread: it leads the next batch
                    head.event.set()
                    return
                if once:  # async jobs wait and this caller's thread must go home
                    break
        self._start_worker()

    def _run(self, batch: list[_Slot[J, R]]) -> None:
        try:
            outcomes = self._run_batch([slot.job for slot in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError("run_batch returned a different number of outcomes")
        except BaseException as exc:  # never leave a follower waiting forever
            outcomes = [exc] * len(batch)
        self.batches += 1
        self.jobs += len(batch)
        waiting: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[R], Any]]] = {}
        for slot, outcome in zip(batch, outcomes, strict=True):
            slot.settle(outcome)
            if slot.future is not None:
                waiting.setdefault(slot.future.get_loop(), []).append((slot.future, outcome))
        for loop, resolved in waiting.items():  # one wake-up of each loop per batch
            loop.call_soon_threadsafe(_resolve, resolved)


def _resolve(resolved: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, outcome in resolved:
        if future.done():  # the caller was cancelled (client went away): nothing to tell
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
