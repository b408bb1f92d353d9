"""What the participant portal reads: a company's files, the billed amounts of the final
closes (``remittance_lines``, the statements' figures), disputes, closes.  Read-only queries
on a connection the caller opens (``connect_read_only``)."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from typing import Any

__all__ = [
    "awb_periods",
    "billed_lines",
    "change_marks",
    "close_totals",
    "closes_of",
    "company_files",
    "disputes_of",
    "downloaded_paths",
]


def company_files(
    conn: sqlite3.Connection, company: str, since: str, limit: int = 50
) -> list[dict[str, Any]]:
    """The company's files received at or after ``since`` (ISO), newest first."""
    rows = conn.execute(
        "SELECT f.id, f.name, f.received_at, f.state, f.outcome, f.country, f.period, f.counts,"
        " f.sandbox, w.at FROM files f LEFT JOIN withdrawals w ON w.file_id = f.id"
        " WHERE f.company = ? AND f.received_at >= ?"
        " ORDER BY f.received_at DESC, f.id DESC LIMIT ?",
        (company, since, limit),
    ).fetchall()
    out = []
    for r in rows:
        try:
            counts = json.loads(r[7] or "{}")
        except ValueError:
            counts = {}
        out.append(
            {
                "id": r[0], "name": r[1], "received_at": r[2], "state": r[3],
                "outcome": r[4] or "", "country": r[5] or "", "period": r[6] or "",
                "counts": counts if isinstance(counts, dict) else {}, "sandbox": bool(r[8]),
                "withdrawn": r[9] or "",
            }
        )  # fmt: skip
    return out


def billed_lines(
    conn: sqlite3.Connection,
    country: str,
    *,
    agents: tuple[str, ...] = (),
    airlines: tuple[str, ...] = (),
) -> list[tuple[str, str, str, Decimal]]:
    """(period, agent code, airline prefix, amount) of the final closes of ``country``: the
    lines of ``agents`` or of ``airlines`` (one of the two), oldest period first."""
    column, values = ("agent_code", agents) if agents else ("airline_prefix", airlines)
    if not values:
        return []
    marks = ",".join("?" * len(values))
    rows = conn.execute(
        "SELECT period, agent_code, airline_prefix, amount FROM remittance_lines"
        f" WHERE country = ? AND {column} IN ({marks})"
        " ORDER BY period, agent_code, airline_prefix",
        (country, *values),
    ).fetchall()
    return [(str(r[0]), str(r[1]), str(r[2]), Decimal(str(r[3]))) for r in rows]


def disputes_of(
    conn: sqlite3.Connection, company: str, *, open_only: bool = True
) -> list[dict[str, Any]]:
    """The disputes the company is a party to (as agent or airline), newest first."""
    sql = (
        "SELECT id, country, period, airline_prefix, awb_serial, agent_code, currency,"
        " disputed_amount, reason, status, opened_at, agent_company, airline_company,"
        " request_iri, kind, billed_amount"
        " FROM disputes WHERE (agent_company = ? OR airline_company = ?)"
    )
    if open_only:
        sql += " AND status = 'REQUEST_PENDING'"
    rows = conn.execute(sql + " ORDER BY opened_at DESC, id", (company, company)).fetchall()
    keys = (
        "id", "country", "period", "airline_prefix", "awb_serial", "agent_code", "currency",
        "disputed_amount", "reason", "status", "opened_at", "agent_company", "airline_company",
        "request_iri", "kind", "billed_amount",
    )  # fmt: skip
    return [dict(zip(keys, tuple(r), strict=True)) for r in rows]


def closes_of(conn: sqlite3.Connection, country: str) -> list[dict[str, Any]]:
    """The closes of ``country``, newest period first."""
    rows = conn.execute(
        "SELECT period, kind, reference, started_at, completed_at, documents FROM closes"
        " WHERE country = ? ORDER BY period DESC, kind",
        (country,),
    ).fetchall()
    keys = ("period", "kind", "reference", "started_at", "completed_at", "documents")
    return [dict(zip(keys, tuple(r), strict=True)) for r in rows]


def downloaded_paths(conn: sqlite3.Connection, company: str) -> set[str]:
    """The outbox paths of ``company`` someone of it has downloaded."""
    rows = conn.execute("SELECT DISTINCT path FROM downloads WHERE company = ?", (company,))
    return {str(r[0]) for r in rows.fetchall()}


def awb_periods(conn: sqlite3.Connection, country: str, prefix: str, serial: str) -> list[str]:
    """The periods of ``country`` in which AWB ``prefix``-``serial`` has booked rows."""
    rows = conn.execute(
        # (left to choose, SQLite walks the country's every row by period)
        "SELECT DISTINCT period FROM ledger INDEXED BY ledger_by_awb"
        " WHERE country = ? AND airline_prefix = ?"
        " AND awb_serial = ? AND withdrawn = 0 AND period IS NOT NULL ORDER BY period DESC",
        (country, prefix, serial),
    ).fetchall()
    return [str(r[0]) for r in rows]


def change_marks(conn: sqlite3.Connection, company: str) -> tuple[Any, ...]:
    """What changes when something a company's dashboard shows changes: its files' and
    disputes' count and last update, the closes completed."""
    files = conn.execute(
        "SELECT COUNT(*), MAX(updated_at) FROM files WHERE company = ?", (company,)
    ).fetchone()
    disputes = conn.execute(
        "SELECT COUNT(*), MAX(updated_at) FROM disputes"
        " WHERE agent_company = ? OR airline_company = ?",
        (company, company),
    ).fetchone()
    closes = conn.execute(
        "SELECT COUNT(*), MAX(completed_at) FROM closes WHERE completed_at IS NOT NULL"
    ).fetchone()
    return (*tuple(files), *tuple(disputes), *tuple(closes))


def close_totals(conn: sqlite3.Connection, country: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(period, stage) → what each close of ``country`` netted (its ``period.closed`` event's
    total and currency): the total the agents owe, equal to what the airlines are owed -- a
    close whose sums differ fails its conservation check and records no such event."""
    rows = conn.execute(
        "SELECT period, data FROM events WHERE type = 'period.closed' AND country = ? ORDER BY id",
        (country,),
    ).fetchall()
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for period, data in rows:
        try:
            found = json.loads(data or "{}")
        except ValueError:
            continue
        if isinstance(found, dict) and "total" in found:
            out[(str(period), str(found.get("stage", "")))] = found
    return out
