"""Engine figures: resume steps per second on the satisfaction flow (state JSON round trip
included, as the runtime stores it after every step) and the time to load + validate every
shipped flow. Prints figures; it does not pass or fail.

    .venv/bin/python bench/engine.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engage.flow import answers, load_flow, load_flows, resume, start, validate  # noqa: E402

# a realistic mix: valid answers, typos, words, an invalid reply and a skip
SCRIPT = ["yes", "1", "fed hill", "4", "2 - unsafe", "agree", "Strongly disagree", "purple",
          "called 911", "5", "More street lights on my block", "yes", "25-34", "skip", "no"]
TARGET = 20_000


def bench_resume(seconds: float) -> tuple[float, float, int]:
    """(steps per wall second, steps per CPU second, steps). CPU time is the fair figure on a
    busy machine: it counts only this process's own work on its one core."""
    flow = load_flow(ROOT / "flows" / "satisfaction.yaml")
    t0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    step_gap = timedelta(seconds=30)
    first = json.dumps(start(flow, now=t0).state)
    steps = 0
    deadline = time.perf_counter() + seconds
    began = time.perf_counter()
    cpu_began = time.process_time()
    while time.perf_counter() < deadline:
        # real replies are all different: start each conversation with cold parse caches
        answers.clean.cache_clear()
        answers.fold.cache_clear()
        blob = first
        now = t0
        for reply in SCRIPT:
            now += step_gap
            state = json.loads(blob)
            step = resume(flow, state, reply, now=now)
            blob = json.dumps(step.state)
            steps += 1
        if json.loads(blob)["status"] != "completed":
            raise SystemExit("benchmark script no longer completes the satisfaction flow")
    elapsed = time.perf_counter() - began
    cpu = time.process_time() - cpu_began
    return steps / elapsed, steps / cpu, steps


def bench_load(repeats: int = 20) -> tuple[float, float, int]:
    """(median wall ms, median CPU ms, flow count) for a cold load + validate of flows/."""
    wall: list[float] = []
    cpu: list[float] = []
    count = 0
    for _ in range(repeats):
        validate.read_gazetteer.cache_clear()  # measure a cold load, as at process start
        answers.fold.cache_clear()
        began, cpu_began = time.perf_counter(), time.process_time()
        count = len(load_flows(ROOT / "flows"))
        wall.append(time.perf_counter() - began)
        cpu.append(time.process_time() - cpu_began)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, one core")
    rate, cpu_rate, steps = bench_resume(args.seconds)
    verdict = "meets" if cpu_rate >= TARGET else "BELOW"
    print(f"resume (satisfaction, JSON round trip): {cpu_rate:,.0f} steps per CPU second, "
          f"{rate:,.0f} per wall second, over {steps:,} steps ({verdict} target {TARGET:,}/s)")
    wall_ms, cpu_ms, count = bench_load()
    print(f"load + validate all shipped flows ({count} flows + gazetteer, cold): "
          f"median {cpu_ms:.1f} ms CPU, {wall_ms:.1f} ms wall")


if __name__ == "__main__":
    main()
