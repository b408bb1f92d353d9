"""Benchmark of the invoices of a 5,000-agent period (issue 5): number, PDF and UBL XML each.

``python -m bench.invoices_bench [--awbs N --agents M --airlines K --workers W] [--unsigned]
[--facturx] [--with-reports] [--runs N]`` reuses (or builds) the ledger of
``bench.close_bench``, closes the period, then times ``render_invoices``: the content of every
agent's invoice rebuilt from the ledger, the numbers allocated in the store (one transaction),
and every PDF and XML rendered in a process pool (the steps of ``render_invoices``, timed one
by one).  ``--with-reports``: then the period's reports of the same close, in a pool of the
same size, and reports + invoices as one figure (issue 18's 5-minute target); with ``--runs
N`` (each run closing again) its median and minimum, and the baseline: reading every booked
row the reports render from, once, in a pool of that size.  Issued invoices of an earlier run
are cleared first, so each run numbers from 1.  Prints the wall times, the wall time per
invoice, the worker time per invoice (rendering wall time × workers / invoices) and the sizes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sqlite3
import statistics
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.close_bench import COUNTRY, OUT, PERIOD, _period, build_ledger, config_for
from bench.generate import Spec
from opencass.config.invoicing import Invoicing, IssuerDetails, TaxRule
from opencass.store.schema import MIGRATIONS


def _clear(database: os.PathLike[str]) -> None:
    conn = sqlite3.connect(database)
    try:
        conn.execute("DROP TRIGGER IF EXISTS invoices_append_only_delete")
        conn.execute("DELETE FROM invoices")
        conn.execute("DELETE FROM invoice_series")
        conn.execute(
            "CREATE TRIGGER invoices_append_only_delete BEFORE DELETE ON invoices"
            " BEGIN SELECT RAISE(ABORT, 'an issued invoice is never deleted'); END"
        )
        conn.commit()
    finally:
        conn.close()


def main() -> None:
    """Command-line entry point."""

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--awbs", type=int, default=1_000_000)
    p.add_argument("--agents", type=int, default=5_000)
    p.add_argument("--airlines", type=int, default=100)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--unsigned", action="store_true", help="PDFs not signed (PAdES)")
    p.add_argument("--facturx", action="store_true", help="Factur-X PDF/A-3 as well as UBL")
    p.add_argument("--runs", type=int, default=1, help="runs (with --with-reports: median, min)")
    p.add_argument(
        "--with-reports",
        action="store_true",
        help="then the period's reports of the same close: reports + invoices, one figure",
    )
    a = p.parse_args()
    spec = Spec(awbs=a.awbs, agents=a.agents, airlines=a.airlines)
    data_dir = OUT / f"close-{a.awbs}-{a.agents}-{a.airlines}"
    database = data_dir / "opencass.db"
    if not database.exists():
        tmp = database.with_suffix(".building")
        tmp.unlink(missing_ok=True)
        build_ledger(tmp, spec)
        tmp.rename(database)
    from opencass.store.connect import connect_sync, migrate_sync

    conn = connect_sync(database)
    migrate_sync(conn)
    if not conn.execute("SELECT name FROM sqlite_master WHERE name = 'invoices'").fetchone():
        # A ledger built while migration 8 was still a placeholder.
        conn.executescript(dict(MIGRATIONS)[8])
    conn.close()
    _clear(database)

    config = config_for(data_dir, spec)
    invoicing = Invoicing(
        issuer_details=IssuerDetails("CASS Deutschland GmbH", "Frankfurt am Main", "DE812345673"),
        mentions={"en": ("Invoice issued by the CASS operator on behalf of the airlines.",)},
        # 19 % on every amount, as for German domestic carriage: the generated records carry no
        # VAT, so the close computes it for every AWB and the invoices have taxed lines.
        tax=(TaxRule(date(2020, 1, 1), None, Decimal(19), "S"),),
        formats=("ubl", "facturx") if a.facturx else ("ubl",),
    )
    country = dataclasses.replace(config.countries[COUNTRY], invoicing=invoicing)
    config = dataclasses.replace(config, countries={COUNTRY: country})
    signing = None
    if not a.unsigned:
        from opencass.config.demo import write_pdf_certificate
        from opencass.config.model import PdfSigningSettings

        (data_dir / "keys").mkdir(exist_ok=True)
        for old in ("pdf_signing_cert.pem", "pdf_signing_key.pem"):
            (data_dir / "keys" / old).unlink(missing_ok=True)
        write_pdf_certificate(data_dir)
        signing = PdfSigningSettings(
            str(data_dir / "keys/pdf_signing_cert.pem"), str(data_dir / "keys/pdf_signing_key.pem")
        )
    reference = _period().billing_available
    totals, result = [], None
    for run in range(a.runs):
        if run:
            _clear(database)
        seconds, result = _once(a, config, database, signing, reference)
        totals.append(seconds)
    if a.with_reports:
        rows = _baseline(config, reference, result, a.workers)
        print(
            f"reports + invoices, {len(totals)} run(s): median {statistics.median(totals):.1f} s,"
            f" min {min(totals):.1f} s (target 300 s); baseline: reading the {rows[0]:,} booked"
            f" rows the reports render from, same pool size, {rows[1]:.1f} s; ratio"
            f" {statistics.median(totals) / max(rows[1], 1e-9):.1f}"
        )


def _once(
    a: argparse.Namespace, config: Any, database: Path, signing: Any, reference: Any
) -> tuple[float, Any]:
    """One run: the close, then its invoices (then its reports): the seconds after the close."""
    import opencass.documents.invoices as invoices
    from opencass.billing.closing import run_close

    t0 = time.perf_counter()
    result = run_close(config, COUNTRY, PERIOD, reference)
    t1 = time.perf_counter()
    # The steps of render_invoices, timed one by one (one pool for both, as there).
    with invoices._pool(len(result.settlement.agents), a.workers) as pool:
        built = invoices.build_invoices(
            config, COUNTRY, PERIOD, reference, result, database, pool=pool
        )
        t2 = time.perf_counter()
        rendered = invoices._render_all(built, pool, signing)
        t3 = time.perf_counter()
    reports = _reports(config, reference, result, a.workers) if a.with_reports else None
    n = len(built)
    pdf = sum(len(r[0]) for r in rendered)
    xml = sum(len(r[1]) for r in rendered)
    lines = sum(len(i.data.lines) for i in built)
    print(
        f"{'signed' if signing else 'unsigned'}{' Factur-X +' if a.facturx else ''} "
        f"invoices of {result.settlement.summary.awbs:,} AWBs, {n:,} agents "
        f"({lines:,} lines), {a.workers} workers: close {t1 - t0:.1f} s; "
        f"content + numbering {t2 - t1:.1f} s; rendering {t3 - t2:.1f} s; "
        f"invoices in all {t3 - t1:.1f} s = {(t3 - t1) / max(n, 1) * 1000:.1f} ms wall per "
        f"invoice ({(t3 - t2) * a.workers / max(n, 1) * 1000:.0f} ms of a worker per PDF + XML); "
        f"PDF {pdf / max(n, 1) / 1024:.0f} KiB, XML {xml / max(n, 1) / 1024:.0f} KiB per invoice",
        flush=True,
    )
    if reports is None:
        return t3 - t1, result
    documents, seconds = reports
    print(
        f"reports of the same close: {documents:,} documents in {seconds:.1f} s; reports + "
        f"invoices {seconds + t3 - t1:.1f} s (target 300 s)",
        flush=True,
    )
    return seconds + t3 - t1, result


def _baseline(config: Any, reference: Any, result: Any, workers: int) -> tuple[int, float]:
    """Reading every booked row the reports render from, once, in a pool of ``workers``:
    (rows, seconds)."""
    from concurrent.futures import ProcessPoolExecutor

    from bench.reports_bench import read_rows
    from opencass.documents.reports import plan_jobs
    from opencass.processes import worker_context

    jobs = plan_jobs(config, COUNTRY, PERIOD, reference, result)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=worker_context()) as pool:
        rows = sum(pool.map(read_rows, jobs))
    return rows, time.perf_counter() - t0


def _reports(config: object, reference: object, result: object, workers: int) -> tuple[int, float]:
    """The period's reports of ``result`` rendered in a pool of ``workers`` renderers, as the
    close renders them (its jobs): (documents, wall seconds); prints the CPU per kind."""
    from collections import defaultdict
    from concurrent.futures import ProcessPoolExecutor

    from opencass.documents.reports import plan_jobs, run_job_timed
    from opencass.documents.workers import init_renderer
    from opencass.processes import worker_context

    t0 = time.perf_counter()
    jobs = plan_jobs(config, COUNTRY, PERIOD, reference, result)  # type: ignore[arg-type]
    documents, cpu = 0, defaultdict(float)
    with ProcessPoolExecutor(
        workers, mp_context=worker_context(), initializer=init_renderer, initargs=(os.getpid(),)
    ) as pool:
        for docs, timings in pool.map(run_job_timed, jobs):
            documents += len(docs)
            for kind, _wall, seconds in timings:
                cpu[kind] += seconds
    wall = time.perf_counter() - t0
    top = sorted(cpu.items(), key=lambda kv: -kv[1])[:6]
    print("reports, CPU per kind in all: " + ", ".join(f"{k} {v:.1f} s" for k, v in top))
    return documents, wall


if __name__ == "__main__":
    main()
