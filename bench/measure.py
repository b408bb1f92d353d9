"""Measuring a benchmark's own process."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident memory since its exec, in MB (``VmHWM``).  Not
    ``ru_maxrss``: Linux carries that over fork and exec, so a benchmark started by a parent
    that once held 2 GB (the PostgreSQL copy of a ledger) would report 2 GB itself."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
