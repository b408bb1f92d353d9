"""Reads for the reports: booked ledger rows of some agents or one airline, and disputes.

Read-only connections (a report never changes the store); the same "booked" rule as the close
(``opencass.gateway.closing``): not withdrawn, live files in state assessed, answered or
archived.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

from opencass.gateway.closing import BOOKED_STATES
from opencass.outbox.reports.data import DisputeLine
from opencass.settlement.close import BookedRow

__all__ = ["disputes_of_period", "rows_of_agents", "rows_of_airline"]

_COLUMNS = (
    "SELECT l.id, l.record_type, l.airline_prefix, l.awb_serial, l.agent_code, l.reference,"
    " l.currency, l.late, l.payload_format, l.payload, l.period"
    " FROM ledger l JOIN files f ON f.id = l.file_id"
    " WHERE l.withdrawn = 0 AND f.sandbox = 0 AND f.state IN (?, ?, ?) AND l.country = ?"
)


def _connect(database: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{database}?mode=ro", uri=True)


def _row(r: Sequence[Any]) -> BookedRow:
    return BookedRow(
        int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), str(r[6]),
        bool(r[7]), str(r[8]), str(r[9]),
    )  # fmt: skip


def rows_of_agents(
    database: Path, country: str, period: str, codes: Iterable[str]
) -> dict[str, list[BookedRow]]:
    """The booked rows of each agent code in ``codes``, in booking order."""
    wanted = sorted(set(codes))
    out: dict[str, list[BookedRow]] = {code: [] for code in wanted}
    if not wanted or not database.exists():
        return out
    with closing(_connect(database)) as conn:
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            sql = f"{_COLUMNS} AND l.period = ? AND l.agent_code IN ({marks}) ORDER BY l.id"
            for r in conn.execute(sql, (*BOOKED_STATES, country, period, *part)):
                out[str(r[4])].append(_row(r))
    return out


def rows_of_airline(
    database: Path, country: str, periods: Iterable[str], prefix: str
) -> dict[str, list[BookedRow]]:
    """The booked rows of airline ``prefix`` in each of ``periods``, in booking order."""
    wanted = sorted(set(periods))
    out: dict[str, list[BookedRow]] = defaultdict(list)
    for p in wanted:
        out[p] = []
    if not wanted or not database.exists():
        return dict(out)
    marks = ",".join("?" * len(wanted))
    sql = f"{_COLUMNS} AND l.airline_prefix = ? AND l.period IN ({marks}) ORDER BY l.id"
    with closing(_connect(database)) as conn:
        for r in conn.execute(sql, (*BOOKED_STATES, country, prefix, *wanted)):
            out[str(r[10])].append(_row(r))
    return dict(out)


def _dec(value: object) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def disputes_of_period(database: Path, country: str, period: str) -> list[DisputeLine]:
    """The disputes of the period's AWBs; empty when the store has no disputes table."""
    if not database.exists():
        return []
    with closing(_connect(database)) as conn:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'disputes'"
        ).fetchone()
        if not found:
            return []
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT * FROM disputes WHERE country = ? AND period = ? ORDER BY id",
            (country, period),
        ).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        out.append(
            DisputeLine(
                dispute_id=str(d.get("id", "")),
                airline_prefix=str(d.get("airline_prefix", "")),
                awb_serial=str(d.get("awb_serial", "")),
                agent_code=str(d.get("agent_code", "")),
                status=str(d.get("status", "")),
                billed=_dec(d.get("billed_amount")) or Decimal(0),
                claimed=_dec(d.get("claimed_amount")),
                disputed=_dec(d.get("disputed_amount")) or Decimal(0),
                corrected=_dec(d.get("corrected_amount")),
                reason=str(d.get("reason", "")),
                adjust_period=str(d.get("adjust_period") or ""),
            )
        )
    return out
