"""Assessing a 1,000,000-record HOT file against a ledger that already holds another one.

``python -m bench.booking_bench [--records N] [--workers 2] [--module PATH]`` assesses, with
the real store (SQLite, WAL) and the gateway's own slicing across worker processes:

1. file A into an empty ledger;
2. file B (other AWBs) against the ledger holding A: every record is probed against the ledger
   index for the "an AWB is billed once per country" rule, none is found;
3. file C (A's AWBs again, other bytes): every AWB is already billed, the file is rejected.

``--compare PATH`` also runs the three steps with another implementation of
``opencass.gateway.assess`` loaded from a file (e.g. the one before a change:
``git show HEAD:opencass/gateway/assess.py > /tmp/assess_before.py``), in a store of its own,
each step right after the same step of the installed one, so that before and after are measured
on the same machine under the same load.  Wall time and CPU time (this process and its workers)
are printed; on a shared machine the CPU time is the steadier figure.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.util
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from bench.gateway_bench import PREFIX, setup
from bench.generate import Spec, write_hot
from opencass.config import load_config
from opencass.config.model import Config
from opencass.gateway.context import submission_context
from opencass.model import Dialect
from opencass.store import NewFile, open_store


def _module(path: str | None) -> ModuleType:
    if not path:
        import opencass.gateway.assess as current

        return current
    spec = importlib.util.spec_from_file_location("assess_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["assess_under_test"] = module  # picklable for the worker processes
    spec.loader.exec_module(module)
    return module


async def _record(config: Config, file_id: str, path: Path) -> None:
    store = await open_store(config.gateway.database)
    try:
        data = path.read_bytes()
        await store.create_file(
            NewFile(
                file_id,
                "demoair",
                "demoair",
                path.name,
                False,
                hashlib.sha256(data).hexdigest(),
                len(data),
                datetime.now(UTC).isoformat(),
                str(path),
            )
        )
    finally:
        await store.close()


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the worker processes)."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _assess(m: ModuleType, config: Config, file_id: str, path: Path, workers: int) -> str:
    job = m.AssessJob(
        database=str(config.gateway.database),
        file_id=file_id,
        spool_path=str(path),
        sandbox=False,
        all_or_nothing=False,
        context=submission_context(config, "demoair", datetime.now(UTC)),
        max_records=5_000_000,
    )
    t, cpu = time.perf_counter(), _cpu()
    with ProcessPoolExecutor(workers) as pool:
        pieces = m.plan_slices(job, workers, 1 << 20)
        if pieces:
            futures = [pool.submit(m.assess_slice, job, i, p) for i, p in enumerate(pieces)]
            summary = m.assess_merge(job, pieces, [f.result() for f in futures])
        else:
            summary = m.assess(job)
    seconds, cpu = time.perf_counter() - t, _cpu() - cpu
    return (
        f"wall {seconds:6.1f} s, cpu {cpu:6.1f} s  {summary.outcome:<18}"
        f" records {summary.counts['records']:,}"
        f" booked {summary.counts.get('booked', 0):,} errors {summary.counts['errors']:,}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=1_000_000, help="records per file (about)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--agents", type=int, default=5000)
    p.add_argument("--compare", help="another assess.py to measure next to the installed one")
    a = p.parse_args()
    modules = {"installed": _module(None)}
    if a.compare:
        modules["compared"] = _module(a.compare)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {a.workers} workers")
    with tempfile.TemporaryDirectory(prefix="opencass-booking-") as tmp:
        work = Path(tmp)
        configs = {}
        spec = Spec()
        for label in modules:
            config_dir, spec = setup(work / label, a.agents)
            configs[label] = load_config(config_dir)
        # the period of today (setup), never a period closed already
        spec = Spec(
            agent_list=spec.agent_list, period_start=spec.period_start, period_end=spec.period_end
        )
        awbs = round(a.records / 1.21)  # itemised charges and corrections come on top
        files = {"A": (1, 1), "B": (2_000_001, 1), "C": (1, 2)}
        for name, (first, number) in files.items():
            path = work / f"{name}.hot"
            lines = write_hot(path, spec, PREFIX, awbs, Dialect.HANDOFF, first_serial=first)
            if number != 1:  # other bytes, same AWBs: the header's file number
                data = path.read_bytes()
                path.write_bytes(data[:26] + f"{number:02d}".encode() + data[28:])
            for config in configs.values():
                asyncio.run(_record(config, f"F{name}", path))
            print(f"file {name}: {lines:,} lines, {path.stat().st_size / 2**20:,.0f} MiB")
        for name in files:
            for label, m in modules.items():
                result = _assess(m, configs[label], f"F{name}", work / f"{name}.hot", a.workers)
                print(f"assess {name} ({label}): {result}", flush=True)


if __name__ == "__main__":
    main()
