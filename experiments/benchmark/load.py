"""Readings of the host: the CPU time of the whole machine and of this process (the load
guard's counters) and this process's peak memory."""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path


def cpu_counters() -> tuple[float, float, float] | None:
    """(busy CPU s of the whole machine, total CPU s, CPU s of this process) so far; None where
    /proc/stat is not readable (not Linux). Busy excludes idle and iowait."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    if fields[0] != "cpu":
        return None
    hz = os.sysconf("SC_CLK_TCK")
    ticks = [int(x) for x in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    total = sum(ticks[:8])  # guest time is already inside user/nice
    return (total - idle) / hz, total / hz, own_cpu_seconds()


def own_cpu_seconds() -> float:
    """CPU seconds this process (all its threads) has used so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def other_cpu_fraction(before, after) -> float:
    """Share of the machine's CPU time used by other processes between two `cpu_counters()`
    readings (0 = nothing else ran, 1 = they used every core all the time); nan if unknown."""
    if before is None or after is None or after[1] <= before[1]:
        return float("nan")
    busy, total, own = (a - b for a, b in zip(after, before, strict=True))
    return min(1.0, max(0.0, (busy - own) / total))


def peak_rss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024.0 if sys.platform != "darwin" else rss / 2**20
