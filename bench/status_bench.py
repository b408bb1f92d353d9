"""What ``opencass period status`` counts, on a big ledger (issue 18: ≤ 0.2 s at 1.2M rows).

``python -m bench.status_bench [--awbs N --months M]`` builds (once, cached under
``bench/out/``) the close benchmark's ledger — 1,000,000 AWBs make ~1.21M rows — for each of
``M`` consecutive periods, then times the store's ``period_counts`` of the last period (the
records and files ``period status`` shows, by the booked rule) against an index-only
``COUNT(*)`` of the same period's rows (the least any count can cost): median and minimum of
7 runs, and their ratio.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench.close_bench import COUNTRY, OUT, PERIOD, build_ledger
from bench.generate import Spec
from opencass.store.connect import connect_sync, migrate_sync
from opencass.store.ledger import period_counts

RUNS = 7


def _times(fn: Callable[[], object]) -> tuple[float, float, object]:
    seen, value = [], None
    for _ in range(RUNS):
        t0 = time.perf_counter()
        value = fn()
        seen.append(time.perf_counter() - t0)
    return statistics.median(seen), min(seen), value


def _periods(months: int) -> list[str]:
    year, month = int(PERIOD[:4]), int(PERIOD[4:6])
    out = []
    for _ in range(months):
        out.append(f"{year:04d}{month:02d}01M")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]  # oldest first; the benchmark period (PERIOD) last


def build(database: Path, spec: Spec, months: int) -> int:
    """The ledger: the close benchmark's for PERIOD, copied into ``months - 1`` earlier
    periods (as a year of such periods would be); the rows in all."""
    rows = build_ledger(database, spec)
    conn = sqlite3.connect(database)
    try:
        for n, code in enumerate(_periods(months)[:-1], start=1):
            conn.execute("BEGIN")
            conn.execute(
                "INSERT INTO files (id, company, name, sandbox, sha256, size, received_at,"
                " spool_path, state, format, dialect, outcome, country, period, updated_at)"
                " SELECT id || ?, company, name, sandbox, sha256 || ?, size, received_at,"
                " spool_path, state, format, dialect, outcome, country, ?, updated_at"
                " FROM files WHERE period = ?",
                (f"-{n}", f"-{n}", code, PERIOD),
            )
            conn.execute(
                "INSERT INTO ledger (file_id, line, record_type, country, period,"
                " airline_prefix, awb_serial, agent_code, reference, currency, late,"
                " payload_format, payload) SELECT file_id || ?, line, record_type, country, ?,"
                " airline_prefix, awb_serial, agent_code, reference, currency, late,"
                " payload_format, payload FROM ledger WHERE period = ?",
                (f"-{n}", code, PERIOD),
            )
            conn.execute("COMMIT")
            rows += conn.execute("SELECT changes()").fetchone()[0]
    finally:
        conn.close()
    return rows


def main() -> None:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--awbs", type=int, default=1_000_000)
    p.add_argument("--agents", type=int, default=5_000)
    p.add_argument("--airlines", type=int, default=100)
    p.add_argument("--months", type=int, default=1)
    a = p.parse_args()
    spec = Spec(awbs=a.awbs, agents=a.agents, airlines=a.airlines)
    database = OUT / f"status-{a.awbs}-{a.agents}-{a.airlines}-{a.months}" / "opencass.db"
    if not database.exists():
        t0 = time.perf_counter()
        tmp = database.with_suffix(".building")
        tmp.unlink(missing_ok=True)
        rows = build(tmp, spec, a.months)
        tmp.rename(database)
        print(f"built ledger: {rows:,} rows in {time.perf_counter() - t0:.1f} s")
    conn = connect_sync(database)
    migrate_sync(conn)  # a ledger built before the last migration gets its indexes
    total = conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]

    def index_only() -> int:
        sql = "SELECT COUNT(*) FROM ledger WHERE country = ? AND period = ?"
        return int(conn.execute(sql, (COUNTRY, PERIOD)).fetchone()[0])

    base, base_min, rows = _times(index_only)
    subject, subject_min, counts = _times(lambda: period_counts(database, COUNTRY, PERIOD))
    conn.close()
    print(
        f"period status counts of {PERIOD} ({rows:,} of the ledger's {total:,} rows): "
        f"{counts}; period_counts {subject * 1000:.0f} ms (min {subject_min * 1000:.0f}), "
        f"index-only COUNT(*) {base * 1000:.0f} ms (min {base_min * 1000:.0f}), "
        f"ratio {subject / base:.2f} (target: ≤ 200 ms)"
    )


if __name__ == "__main__":
    main()
