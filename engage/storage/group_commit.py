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

``run_batch(jobs)`` returns one result or exception per job, in order. How a batch isolates
one bad job from the others (roll back, then run the jobs one by one) is the caller's rule.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

J = TypeVar("J")
R = TypeVar("R")

class _Slot(Generic[J, R]):
    __slots__ = ("done", "error", "event", "job", "lead", "result")

    def __init__(self, job: J) -> None:
        self.job = job
        self.event = threading.Event()
        self.lead = False
        self.done = False
        self.result: R | None = None
        self.error: BaseException | None = None

    def settle(self, outcome: R | BaseException) -> None:
        if isinstance(outcome, BaseException):
            self.error = outcome
        else:
            self.result = outcome
        self.done = True
        self.event.set()

    def outcome(self) -> R:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommit(Generic[J, R]):
    """Batches concurrent ``submit`` calls into ``run_batch`` calls (see module docstring).

    ``writer`` is held while a batch runs; other writers of the same database in this
    process (wake-ups, provider opt-outs) take it too, so SQLite sees one writer at a time
    and waits in a fair queue here instead of polling its own busy timeout."""

    def __init__(self, run_batch: Callable[[Sequence[J]], Sequence[R | BaseException]], *,
                 max_batch: int = 64, writer: threading.Lock | None = None) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run_batch = run_batch
        self.max_batch = max_batch
        self.writer = writer or threading.Lock()
        self._mutex = threading.Lock()
        self._queue: list[_Slot[J, R]] = []
        self._busy = False  # a leader is running; invariant: not busy -> queue empty
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
        self._lead()
        return slot.outcome()

    def _lead(self) -> None:
        with self._mutex:
            batch = self._queue[:self.max_batch]
            del self._queue[:self.max_batch]
        try:
            with self.writer:
                outcomes = self._run_batch([slot.job for slot in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError("run_batch returned a different number of outcomes")
        except BaseException as exc:  # never leave a follower waiting forever
            outcomes = [exc] * len(batch)
        self.batches += 1
        self.jobs += len(batch)
        for slot, outcome in zip(batch, outcomes, strict=True):
            slot.settle(outcome)
        with self._mutex:
            if self._queue:  # hand the next batch to the longest-waiting follower
                successor = self._queue[0]
                successor.lead = True
                successor.event.set()
            else:
                self._busy = False
