"""Group commit: concurrent jobs share batches, each caller gets its own result or error,
nobody is left waiting, async callers never block the loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from engage.storage.group_commit import GroupCommit


class Recorder:
    """A batch runner that remembers its batches; "bad" jobs fail alone."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[str]] = []
        self.delay = delay
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def __call__(self, jobs: Sequence[str]) -> list[str | BaseException]:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        time.sleep(self.delay)
        self.batches.append(list(jobs))
        with self._lock:
            self.active -= 1
        return [ValueError(job) if job.startswith("bad") else job.upper() for job in jobs]


def test_an_uncontended_job_runs_at_once_in_the_callers_thread() -> None:
    threads: list[str] = []

    def run(jobs: Sequence[str]) -> list[str | BaseException]:
        threads.append(threading.current_thread().name)
        return [j.upper() for j in jobs]

    group: GroupCommit[str, str] = GroupCommit(run)
    assert group.submit("a") == "A"
    assert threads == [threading.current_thread().name]


def test_concurrent_jobs_share_batches_and_get_their_own_results() -> None:
    runner = Recorder(delay=0.01)
    group: GroupCommit[str, str] = GroupCommit(runner, max_batch=8)
    results: dict[str, str | BaseException] = {}
    barrier = threading.Barrier(20)

    def call(job: str) -> None:
        barrier.wait()
        try:
            results[job] = group.submit(job)
        except ValueError as exc:
            results[job] = exc

    jobs = [f"job{i}" for i in range(18)] + ["bad1", "bad2"]
    threads = [threading.Thread(target=call, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    for job in jobs:
        if job.startswith("bad"):
            assert isinstance(results[job], ValueError) and str(results[job]) == job
        else:
            assert results[job] == job.upper()
    assert runner.max_active == 1  # one batch at a time
    assert len(runner.batches) < len(jobs)  # they did share
    assert all(len(b) <= 8 for b in runner.batches)
    assert sorted(j for b in runner.batches for j in b) == sorted(jobs)  # each exactly once
    assert group.jobs == len(jobs) and group.batches == len(runner.batches)


def test_a_runner_that_crashes_fails_its_batch_and_the_next_batch_still_runs() -> None:
    calls = 0

    def run(jobs: Sequence[str]) -> list[str | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database gone")
        return [j for j in jobs]

    group: GroupCommit[str, str] = GroupCommit(run)
    with pytest.raises(RuntimeError, match="database gone"):
        group.submit("a")
    assert group.submit("b") == "b"


def test_async_callers_are_batched_on_the_worker_and_never_block_the_loop() -> None:
    runner = Recorder(delay=0.01)
    group: GroupCommit[str, str] = GroupCommit(runner, max_batch=16)

    async def main() -> tuple[list[str | BaseException], int]:
        ticks = 0

        async def heartbeat() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        beat = asyncio.create_task(heartbeat())
        results = await asyncio.gather(*(group.submit_async(f"j{i}") for i in range(40)),
                                       group.submit_async("bad"), return_exceptions=True)
        beat.cancel()
        return list(results), ticks

    try:
        results, ticks = asyncio.run(main())
    finally:
        group.close()
    assert results[:40] == [f"J{i}" for i in range(40)]
    assert isinstance(results[40], ValueError)
    assert len(runner.batches) < 41  # shared transactions
    assert ticks > 5  # the loop kept running while batches ran


def test_sync_and_async_callers_mixed_all_finish() -> None:
    runner = Recorder(delay=0.002)
    group: GroupCommit[str, str] = GroupCommit(runner, max_batch=4)
    sync_results: list[str] = []

    def sync_caller(i: int) -> None:
        for n in range(10):
            sync_results.append(group.submit(f"s{i}-{n}"))

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        workers = [loop.run_in_executor(None, sync_caller, i) for i in range(3)]
        async_results = await asyncio.gather(*(group.submit_async(f"a{n}") for n in range(30)))
        await asyncio.gather(*workers)
        return list(async_results)

    try:
        async_results = asyncio.run(asyncio.wait_for(main(), timeout=30))
    finally:
        group.close()
    assert async_results == [f"A{n}" for n in range(30)]
    assert sorted(sync_results) == sorted(f"S{i}-{n}" for i in range(3) for n in range(10))
    assert runner.max_active == 1


def test_a_burst_of_async_callers_forms_one_batch_not_a_batch_of_one_first() -> None:
    """The worker starts after the callbacks already due in this loop iteration, so callers
    that arrive together (one burst of requests, the callers woken by the last batch) join
    the same batch instead of the first of them running alone."""
    runner = Recorder()
    group: GroupCommit[str, str] = GroupCommit(runner, max_batch=64)

    async def resident(i: int) -> list[str]:
        return [await group.submit_async(f"r{i}-{step}") for step in range(3)]

    async def main() -> list[list[str]]:
        return list(await asyncio.gather(*(resident(i) for i in range(12))))

    try:
        results = asyncio.run(main())
    finally:
        group.close()
    assert results[5] == ["R5-0", "R5-1", "R5-2"]
    assert len(runner.batches[0]) == 12
    assert len(runner.batches) <= 4  # typically [12, 12, 12]; never a batch of one first
