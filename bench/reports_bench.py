"""Benchmark of the period reports of a 5,000-agent period (issue 5).

``python -m bench.reports_bench [--awbs N --agents M --airlines K --workers W]`` builds (once,
cached under ``bench/out/``) the same kind of booked ledger as ``bench.close_bench`` (one
generated billing file per airline: AWBs, CCA and DCM pairs, void and service AWBs), closes the
period in memory, then renders every report through ``render_period_reports``'s jobs in a
process pool of ``W`` workers (default 2): each agent's Cargo Sales Report (PDF, xlsx, CSV),
each airline's billing analysis, Management Statistics and notifications, the operator's
summary.  Prints the wall time of the rendering, the workers' total CPU time (divided by the
workers: the wall time on idle cores, whatever else runs on the machine), per document kind
the CPU and wall time per document, and the bytes.  Target: ≤ 5 minutes on 2 cores.

Baseline, measured after the rendering in the same run: reading every job's booked rows once
(what the documents are made from) in the same pool; the ratio of the rendering to it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor

from bench.close_bench import COUNTRY, OUT, PERIOD, _period, build_ledger, config_for
from bench.generate import Spec
from opencass.documents.reports import AgentBatch, AirlineJob, Job, plan_jobs, run_job_timed
from opencass.store.ledger import rows_of_agents, rows_of_airline


def read_rows(job: Job) -> int:
    """The booked rows ``job`` renders from, read once (the baseline): how many."""
    if isinstance(job, AgentBatch):
        ctx = job.tasks[0].ctx
        codes = [t.agent_code for t in job.tasks]
        found = rows_of_agents(job.database, ctx.country, ctx.period, codes, job.snapshot)
        return sum(len(v) for v in found.values())
    if isinstance(job, AirlineJob):
        by_period = rows_of_airline(
            job.database, job.ctx.country, job.ytd_periods, job.prefix, job.snapshot
        )
        return sum(len(v) for v in by_period.values())
    return 0


def main() -> None:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--awbs", type=int, default=250_000)
    p.add_argument("--agents", type=int, default=5_000)
    p.add_argument("--airlines", type=int, default=50)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--limit", type=int, default=0, help="render only the first N jobs")
    a = p.parse_args()
    spec = Spec(awbs=a.awbs, agents=a.agents, airlines=a.airlines)
    data_dir = OUT / f"reports-{a.awbs}-{a.agents}-{a.airlines}"
    database = data_dir / "opencass.db"
    if not database.exists():
        t0 = time.perf_counter()
        tmp = database.with_suffix(".building")
        tmp.unlink(missing_ok=True)
        rows = build_ledger(tmp, spec)
        tmp.rename(database)
        print(f"built ledger: {rows:,} rows in {time.perf_counter() - t0:.1f} s")

    from opencass.billing.closing import run_close

    config = config_for(data_dir, spec)
    reference = _period().billing_available
    t0 = time.perf_counter()
    result = run_close(config, COUNTRY, PERIOD, reference)
    t1 = time.perf_counter()
    jobs: list[Job] = plan_jobs(config, COUNTRY, PERIOD, reference, result)
    if a.limit:
        jobs = jobs[: a.limit]
    t2 = time.perf_counter()
    load_start = os.getloadavg()[0]
    per_kind: dict[str, list[float]] = defaultdict(list)
    cpu_kind: dict[str, list[float]] = defaultdict(list)
    size: dict[str, int] = defaultdict(int)
    documents = 0
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(a.workers, mp_context=ctx) as pool:
        for docs, timings in pool.map(run_job_timed, jobs):
            documents += len(docs)
            for d in docs:
                size[d.name.split("_")[1] + "." + d.name.rsplit(".", 1)[1]] += len(d.data)
            for kind, seconds, cpu in timings:
                per_kind[kind].append(seconds)
                cpu_kind[kind].append(cpu)
        t3 = time.perf_counter()
        rows_read = sum(pool.map(read_rows, jobs))
        t4 = time.perf_counter()
    load_end = os.getloadavg()[0]
    s = result.settlement.summary
    cpu_total = sum(sum(v) for v in cpu_kind.values())
    print(
        f"reports of {s.awbs:,} AWBs ({s.corrections:,} corrections), {s.agents:,} agents, "
        f"{s.airlines} airlines on {a.workers} workers: {documents:,} documents in "
        f"{t3 - t2:.1f} s wall (close {t1 - t0:.1f} s, planning {t2 - t1:.1f} s; target 300 s); "
        f"CPU time in the workers {cpu_total:.1f} s, i.e. {cpu_total / a.workers:.1f} s on "
        f"{a.workers} idle cores; load average {load_start:.1f} before, {load_end:.1f} after"
    )
    print(
        f"  baseline: reading the {rows_read:,} booked rows the jobs render from, same pool: "
        f"{t4 - t3:.1f} s; ratio {(t3 - t2) / max(t4 - t3, 1e-9):.1f}"
    )
    for kind in sorted(per_kind):
        wall, cpu = sorted(per_kind[kind]), sorted(cpu_kind[kind])
        n = len(wall)
        p95 = max(0, int(n * 0.95) - 1)
        print(
            f"  {kind:24} {n:6,} x  CPU mean {sum(cpu) / n * 1000:7.1f} ms, p95 "
            f"{cpu[p95] * 1000:7.1f} ms;  wall mean {sum(wall) / n * 1000:7.1f} ms;  "
            f"{size[kind] / n / 1024:7.1f} KiB each"
        )


if __name__ == "__main__":
    main()
