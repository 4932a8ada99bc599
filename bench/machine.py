"""What the machine was doing while a benchmark ran: CPU time stolen by the hypervisor.

Why: on a shared virtual machine the same code measures 30-50% apart from one minute to the
next, and the cause is mostly steal (time a virtual CPU was ready to run but the host ran
someone else). Printing it beside a figure says how much of a slow run was the machine.
Linux only (``/proc/stat``); elsewhere it reports nothing.
"""

from __future__ import annotations

from pathlib import Path

_STAT = Path("/proc/stat")


def _cpu_ticks() -> tuple[int, int] | None:
    """(all ticks, stolen ticks) summed over CPUs, or None where /proc/stat is absent."""
    try:
        fields = _STAT.read_text().splitlines()[0].split()
    except OSError:
        return None
    values = [int(v) for v in fields[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guests are in user
    total = sum(values[:8])
    return total, values[7] if len(values) > 7 else 0


class StealMeter:
    """``with StealMeter() as m: ...`` then ``m.share`` (0..1) and ``m.describe()``."""

    def __init__(self) -> None:
        self.share: float | None = None
        self._start: tuple[int, int] | None = None

    def __enter__(self) -> StealMeter:
        self._start = _cpu_ticks()
        return self

    def __exit__(self, *exc: object) -> None:
        end = _cpu_ticks()
        if self._start is None or end is None or end[0] <= self._start[0]:
            return
        self.share = (end[1] - self._start[1]) / (end[0] - self._start[0])

    def describe(self) -> str:
        if self.share is None:
            return "cpu steal: not measured"
        return f"cpu steal {self.share:.0%} of all CPU time during the run"
