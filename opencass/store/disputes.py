"""Disputes in the store: the ``disputes`` table (one row per dispute, its current state) and
``dispute_events`` (append-only history: who, when, what, why).

Synchronous, on a ``sqlite3`` connection, inside the caller's transaction (a message handler in
its worker process, a close, a milestone job).  Amounts are stored as decimal strings in the
period currency; the rules that decide them live in ``opencass.settlement.disputes``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

__all__ = [
    "DisputeRow",
    "HistoryRow",
    "accepted_adjustments",
    "add_history",
    "dispute_by_id",
    "dispute_by_iri",
    "disputes_for",
    "history",
    "insert_dispute",
    "open_disputed_amounts",
    "unanswered",
    "update_dispute",
]

PENDING = "REQUEST_PENDING"
ACCEPTED = "REQUEST_ACCEPTED"


@dataclass(frozen=True, slots=True)
class DisputeRow:
    """One dispute as stored (amounts as ``Decimal``; ``None`` where not known yet)."""

    id: str
    request_iri: str
    kind: str  # change | verification
    file_id: str
    country: str
    period: str
    airline_prefix: str
    awb_serial: str
    agent_code: str
    agent_company: str
    airline_company: str
    currency: str
    billed_amount: Decimal
    claimed_amount: Decimal | None
    disputed_amount: Decimal
    reason: str
    status: str
    opened_at: str
    updated_at: str
    corrected_amount: Decimal | None = None
    comment: str = ""
    escalated: bool = False
    answered_at: str | None = None
    adjust_period: str | None = None  # the period whose final close carries the adjustment


_MONEY = frozenset({"billed_amount", "claimed_amount", "disputed_amount", "corrected_amount"})
_COLUMNS = tuple(f.name for f in fields(DisputeRow))


def _to_sql(name: str, value: Any) -> Any:
    if name in _MONEY:
        return None if value is None else str(value)
    if name == "escalated":
        return int(value)
    return value


def _from_sql(row: tuple[Any, ...]) -> DisputeRow:
    values: dict[str, Any] = {}
    for name, value in zip(_COLUMNS, row, strict=True):
        if name in _MONEY:
            values[name] = None if value is None else Decimal(value)
        elif name == "escalated":
            values[name] = bool(value)
        else:
            values[name] = value
    return DisputeRow(**values)


_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM disputes"


def insert_dispute(conn: sqlite3.Connection, row: DisputeRow) -> None:
    """Insert a new dispute."""
    marks = ", ".join("?" for _ in _COLUMNS)
    conn.execute(
        f"INSERT INTO disputes ({', '.join(_COLUMNS)}) VALUES ({marks})",
        [_to_sql(n, getattr(row, n)) for n in _COLUMNS],
    )


_UPDATABLE = frozenset(
    {"status", "corrected_amount", "comment", "escalated", "answered_at", "adjust_period"}
)


def update_dispute(
    conn: sqlite3.Connection, dispute_id: str, expect_status: str, at: str, **changes: Any
) -> bool:
    """Compare-and-set: apply ``changes`` when the dispute is still in ``expect_status``."""
    bad = set(changes) - _UPDATABLE
    if bad:
        raise ValueError(f"not updatable: {sorted(bad)}")
    sets = "".join(f", {k} = ?" for k in changes)
    cur = conn.execute(
        f"UPDATE disputes SET updated_at = ?{sets} WHERE id = ? AND status = ?",
        [at, *(_to_sql(k, v) for k, v in changes.items()), dispute_id, expect_status],
    )
    return cur.rowcount == 1


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One step of a dispute's history."""

    seq: int
    at: str
    company: str
    user: str
    file_id: str | None
    action: str  # opened | accepted | rejected | revoked | escalated
    from_status: str | None
    to_status: str
    why: str
    detail: dict[str, Any]


def add_history(
    conn: sqlite3.Connection,
    dispute_id: str,
    *,
    at: str,
    company: str,
    action: str,
    from_status: str | None,
    to_status: str,
    why: str = "",
    user: str = "",
    file_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one step to a dispute's history."""
    conn.execute(
        "INSERT INTO dispute_events (dispute_id, seq, at, company, user, file_id, action,"
        " from_status, to_status, why, detail) VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1"
        " FROM dispute_events WHERE dispute_id = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            dispute_id,
            dispute_id,
            at,
            company,
            user,
            file_id,
            action,
            from_status,
            to_status,
            why,
            json.dumps(detail or {}, sort_keys=True, default=str),
        ),
    )


def history(conn: sqlite3.Connection, dispute_id: str) -> list[HistoryRow]:
    """A dispute's history, oldest first."""
    rows = conn.execute(
        "SELECT seq, at, company, user, file_id, action, from_status, to_status, why, detail"
        " FROM dispute_events WHERE dispute_id = ? ORDER BY seq",
        (dispute_id,),
    )
    return [
        HistoryRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], json.loads(r[9]))
        for r in rows
    ]


def dispute_by_id(conn: sqlite3.Connection, dispute_id: str) -> DisputeRow | None:
    """The dispute with this id, or None."""
    row = conn.execute(f"{_SELECT} WHERE id = ?", (dispute_id,)).fetchone()
    return _from_sql(row) if row else None


def dispute_by_iri(conn: sqlite3.Connection, iri: str) -> DisputeRow | None:
    """The dispute opened by the request with this IRI, or None."""
    row = conn.execute(f"{_SELECT} WHERE request_iri = ?", (iri,)).fetchone()
    return _from_sql(row) if row else None


def disputes_for(
    conn: sqlite3.Connection,
    country: str | None = None,
    period: str | None = None,
    statuses: Iterable[str] | None = None,
) -> list[DisputeRow]:
    """Disputes filtered by country, period and status, in opening order."""
    where, args = ["1 = 1"], []
    if country is not None:
        where.append("country = ?")
        args.append(country)
    if period is not None:
        where.append("period = ?")
        args.append(period)
    wanted = list(statuses) if statuses is not None else None
    if wanted is not None:
        where.append(f"status IN ({', '.join('?' for _ in wanted)})")
        args.extend(wanted)
    sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY opened_at, id"
    return [_from_sql(r) for r in conn.execute(sql, args)]


def accepted_adjustments(conn: sqlite3.Connection, country: str, period: str) -> list[DisputeRow]:
    """Accepted disputes whose adjustment belongs to the final close of ``period``."""
    sql = f"{_SELECT} WHERE country = ? AND adjust_period = ? AND status = ? ORDER BY id"
    return [_from_sql(r) for r in conn.execute(sql, (country, period, ACCEPTED))]


def unanswered(conn: sqlite3.Connection, country: str, period: str) -> list[DisputeRow]:
    """Disputes of the period still waiting for the airline's answer."""
    return disputes_for(conn, country, period, (PENDING,))


def open_disputed_amounts(
    conn: sqlite3.Connection, country: str, period: str
) -> dict[str, Decimal]:
    """Agent code → total disputed amount of its disputes still open (pending) in the period,
    in the period currency.

    The disputed amount is what the agent contests owing (billed − what it believes correct);
    only positive amounts count, since an agent cannot withhold money it says it owes more of.
    Agents without an open dispute are absent."""
    totals: dict[str, Decimal] = {}
    rows = conn.execute(
        "SELECT agent_code, disputed_amount FROM disputes"
        " WHERE country = ? AND period = ? AND status = ?",
        (country, period, PENDING),
    )
    for agent, amount in rows:
        value = Decimal(amount)
        if value > 0:
            totals[agent] = totals.get(agent, Decimal(0)) + value
    return dict(sorted(totals.items()))


def accepted_amounts(
    conn: sqlite3.Connection, country: str, period: str, prefix: str, serial: str
) -> list[tuple[str, str]]:
    """(billed, corrected) of the accepted disputes of one AWB in one period."""
    return conn.execute(
        "SELECT billed_amount, corrected_amount FROM disputes WHERE country = ? AND period = ?"
        " AND airline_prefix = ? AND awb_serial = ? AND status = 'REQUEST_ACCEPTED'",
        (country, period, prefix, serial),
    ).fetchall()


def final_started(conn: sqlite3.Connection, country: str) -> frozenset[str]:
    """Period codes of ``country`` whose final close has begun (claimed or completed)."""
    rows = conn.execute(
        "SELECT period FROM closes WHERE country = ? AND kind = 'final' AND started_at IS NOT NULL",
        (country,),
    )
    return frozenset(r[0] for r in rows)


def received_at(conn: sqlite3.Connection, file_id: str) -> str | None:
    """When a file was received (ISO time as stored), None for an unknown file."""
    row = conn.execute("SELECT received_at FROM files WHERE id = ?", (file_id,)).fetchone()
    return None if row is None else str(row[0])
