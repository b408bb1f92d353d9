"""Codec benchmark: HOT and XML decode + validate throughput and peak memory.

Run ``make bench`` (or ``python -m bench.codec_bench``).  Test files are generated once into
``bench/out/`` by ``bench.generate`` (deterministic) and reused.  Every figure is printed next
to a raw baseline measured in the same run on the same file — reading it in 1 MiB chunks and
splitting the lines without parsing — and the ratio, so machines of different speed compare.
Peak memory is the maximum resident set of a separate ``opencass validate`` process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.generate import Spec, write_hot
from opencass.codecs import hot
from opencass.gateway.validate import file_chunks
from opencass.model import Dialect

OUT = Path(__file__).parent / "out"
CHUNK = 1 << 20


def baseline_lines(path: Path) -> int:
    """Read the file and split it into lines, parsing nothing; returns the line count."""
    n, rest = 0, b""
    for chunk in file_chunks(path):
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        n += len(lines)
    return n + (1 if rest else 0)


def timed(fn: Callable[[], object], repeat: int = 1) -> tuple[float, object]:
    """Best wall time of ``repeat`` runs and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def hot_file(records: int, dialect: Dialect) -> Path:
    """A generated billing file with about ``records`` lines (cached in bench/out)."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"bench-{dialect}-{records}.hot"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        # ~1.21 lines per AWB in the generated mix (AW1, CCA and DCM pairs).
        write_hot(tmp, Spec(agents=5000), "176", round(records / 1.21), dialect)
        tmp.replace(path)
    return path


def peak_rss_mb(argv: list[str]) -> tuple[float, int]:
    """Peak RSS (MB) of one child process (its own, from wait4) and its exit code."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, proc.returncode


def runs(fn: Callable[[], object], repeat: int = 3) -> tuple[list[float], object]:
    """Wall times of ``repeat`` runs and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return times, result


def report_runs(label: str, n: int, times: list[float], base: float) -> None:
    """Median and min of the runs, records per second, and the ratio to the baseline time."""
    med, low = statistics.median(times), min(times)
    print(
        f"{label:44} median {med:6.2f} s  min {low:6.2f} s  {n / med:>10,.0f} records/s   "
        f"baseline {base:5.2f} s   ratio {med / base:5.2f}"
    )


def bench_hot(records: int, dialect: Dialect, workers: int) -> None:
    """HOT decode + validate, single process and parallel: 3 runs each, median and min, next
    to the baseline (reading the file and splitting its lines, best of 3)."""
    path = hot_file(records, dialect)
    size = path.stat().st_size / 2**20
    base, lines = timed(lambda: baseline_lines(path), 3)
    assert isinstance(lines, int)
    print(f"\nHOT {dialect}: {path.name}: {lines:,} records, {size:,.0f} MiB")
    times, result = runs(lambda: hot.decode_chunks(file_chunks(path), keep_records=False))
    assert isinstance(result, hot.DecodeResult) and result.valid, "generated file must be valid"
    report_runs("decode + validate, 1 process", lines, times, base)
    if workers > 1:
        from opencass.gateway.validate import validate_hot_file

        times, par = runs(lambda: validate_hot_file(path, workers=workers))
        assert isinstance(par, hot.DecodeResult)
        assert par.valid and par.counts["records"] == result.counts["records"]
        report_runs(f"decode + validate, {workers} processes", lines, times, base)


def bench_memory(records: int) -> None:
    """Peak memory of ``opencass validate`` on the large file, one process."""
    path = hot_file(records, Dialect.HANDOFF)
    idle, _ = peak_rss_mb([sys.executable, "-c", "import opencass.cli"])
    argv = [sys.executable, "-m", "opencass.cli", "validate", str(path), "--workers", "1"]
    peak, code = peak_rss_mb(argv)
    print(
        f"\npeak RSS of `opencass validate --workers 1` on {records:,} records: {peak:,.0f} MB "
        f"(exit {code}; the interpreter with opencass imported: {idle:,.0f} MB)"
    )


def main() -> None:
    """Run the benchmarks selected on the command line."""
    p = argparse.ArgumentParser(description="opencass codec benchmarks")
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--xml-waybills", type=int, default=100_000)
    a = p.parse_args()
    print(f"python {sys.version.split()[0]}; figures are wall-clock on this machine")
    bench_hot(a.records, Dialect.HANDOFF, a.workers)
    bench_hot(a.records // 5, Dialect.PARTICIPANT, a.workers)
    bench_memory(a.records)
    from bench.xml_bench import bench_xml

    bench_xml(a.xml_waybills)


if __name__ == "__main__":
    main()
