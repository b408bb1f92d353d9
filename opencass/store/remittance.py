"""Remittance in the store: what each agent is expected to remit per period, the payments
received, irregularities and defaults.  Amounts are stored as decimal strings."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from opencass.store.disputes import open_disputed_amounts
from opencass.store.rows import utc_stamp

__all__ = [
    "ExpectedRow",
    "NewPayment",
    "clear_default",
    "expected_agents",
    "expected_keys",
    "expected_periods",
    "expected_row",
    "fix_withheld",
    "has_expected",
    "insert_payment",
    "irregularity_days",
    "irregularity_of",
    "open_default",
    "open_disputed",
    "payments_of",
    "payments_unmatched",
    "payments_waiting",
    "record_default",
    "record_irregularity",
    "upsert_expected",
]


@dataclass(frozen=True, slots=True)
class NewPayment:
    """A payment to record; ``country``/``period``/``agent_code`` None when unmatched."""

    key: str  # unique: a bank transaction or an operator entry
    source: str  # camt.053, camt.054, operator
    amount: Decimal
    currency: str
    value_date: date
    country: str | None = None
    period: str | None = None
    agent_code: str | None = None
    matched_by: str = "none"  # reference, agent-code, operator, none
    file_id: str | None = None
    booking_date: date | None = None
    reference: str = ""
    debtor: str = ""
    debtor_account: str = ""
    account: str = ""
    recorded_by: str = ""


def insert_payment(conn: sqlite3.Connection, p: NewPayment, now: datetime) -> int | None:
    """Record a payment at ``now``; its id, or None when its key was recorded before."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO payments (key, source, file_id, country, period, agent_code,"
        " amount, currency, value_date, booking_date, reference, debtor, debtor_account, account,"
        " matched_by, recorded_at, recorded_by)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            p.key,
            p.source,
            p.file_id,
            p.country,
            p.period,
            p.agent_code,
            str(p.amount),
            p.currency,
            p.value_date.isoformat(),
            p.booking_date.isoformat() if p.booking_date else None,
            p.reference,
            p.debtor,
            p.debtor_account,
            p.account,
            p.matched_by,
            utc_stamp(now),
            p.recorded_by,
        ),
    )
    return cur.lastrowid if cur.rowcount == 1 else None


def open_default(conn: sqlite3.Connection, country: str, agent_code: str) -> dict[str, Any] | None:
    """The agent's default in force (since, reason, period), or None."""
    row = conn.execute(
        "SELECT since, reason, period FROM agent_defaults WHERE country = ? AND agent_code = ?"
        " AND cleared_at IS NULL ORDER BY since DESC LIMIT 1",
        (country, agent_code),
    ).fetchone()
    return {"since": row[0], "reason": row[1], "period": row[2]} if row else None


def upsert_expected(
    conn: sqlite3.Connection,
    country: str,
    period: str,
    currency: str,
    totals: list[tuple[str, Decimal]],
    due: date,
) -> int:
    """Fix the expected remittance of each (agent code, total) of a final close, and forget
    agents the close no longer has (in the caller's transaction); how many.  Idempotent."""
    rows = [
        (country, period, code, currency, str(total), due.isoformat()) for code, total in totals
    ]
    conn.executemany(
        "INSERT INTO remittance_expected (country, period, agent_code, currency, amount, due)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (country, period, agent_code) DO UPDATE SET"
        " currency = excluded.currency, amount = excluded.amount, due = excluded.due",
        rows,
    )
    codes = [code for code, _ in totals]
    marks = ",".join("?" * len(codes))
    conn.execute(
        "DELETE FROM remittance_expected WHERE country = ? AND period = ?"
        f" AND agent_code NOT IN ({marks})",
        (country, period, *codes),
    )
    return len(rows)


@dataclass(frozen=True, slots=True)
class ExpectedRow:
    """One agent's expected remittance of one period, as stored."""

    currency: str
    amount: Decimal
    due: date
    withheld: Decimal | None  # fixed by the first check after Remittance Day


def expected_row(
    conn: sqlite3.Connection, country: str, period: str, agent_code: str
) -> ExpectedRow | None:
    """The agent's expected remittance of the period, None when none is expected."""
    row = conn.execute(
        "SELECT currency, amount, due, withheld FROM remittance_expected"
        " WHERE country = ? AND period = ? AND agent_code = ?",
        (country, period, agent_code),
    ).fetchone()
    if row is None:
        return None
    withheld = Decimal(row[3]) if row[3] is not None else None
    return ExpectedRow(row[0], Decimal(row[1]), date.fromisoformat(row[2]), withheld)


def has_expected(conn: sqlite3.Connection, country: str, period: str, agent_code: str) -> bool:
    """Whether the agent is expected to remit for the period."""
    return expected_row(conn, country, period, agent_code) is not None


def payments_of(
    conn: sqlite3.Connection, country: str, period: str, agent_code: str
) -> list[tuple[Decimal, date]]:
    """(amount, value date) of the agent's payments for the period, in the order recorded."""
    return [
        (Decimal(a), date.fromisoformat(v))
        for a, v in conn.execute(
            "SELECT amount, value_date FROM payments WHERE country = ? AND period = ?"
            " AND agent_code = ? ORDER BY id",
            (country, period, agent_code),
        )
    ]


def expected_periods(conn: sqlite3.Connection, country: str, agent_code: str) -> list[str]:
    """The periods the agent is expected to remit for."""
    rows = conn.execute(
        "SELECT period FROM remittance_expected WHERE country = ? AND agent_code = ?",
        (country, agent_code),
    ).fetchall()
    return [str(r[0]) for r in rows]


def expected_agents(conn: sqlite3.Connection, country: str, period: str) -> list[str]:
    """The agent codes expected to remit for the period, sorted."""
    rows = conn.execute(
        "SELECT agent_code FROM remittance_expected WHERE country = ? AND period = ?"
        " ORDER BY agent_code",
        (country, period),
    )
    return [str(r[0]) for r in rows]


def expected_keys(
    conn: sqlite3.Connection, country: str, period: str | None, agent_code: str | None
) -> list[tuple[str, str]]:
    """(period, agent code) of every expected remittance of the country, filtered."""
    sql = "SELECT period, agent_code FROM remittance_expected WHERE country = ?"
    args: list[Any] = [country]
    if period:
        sql += " AND period = ?"
        args.append(period)
    if agent_code:
        sql += " AND agent_code = ?"
        args.append(agent_code)
    rows = conn.execute(sql + " ORDER BY period, agent_code", args).fetchall()
    return [(str(p), str(a)) for p, a in rows]


def fix_withheld(
    conn: sqlite3.Connection,
    country: str,
    period: str,
    agent_code: str,
    withheld: Decimal,
    checked: date,
) -> None:
    """Fix the amount withheld for disputes, at the first check after Remittance Day."""
    conn.execute(
        "UPDATE remittance_expected SET withheld = ?, checked_at = ?"
        " WHERE country = ? AND period = ? AND agent_code = ?",
        (str(withheld), checked.isoformat(), country, period, agent_code),
    )


def record_irregularity(
    conn: sqlite3.Connection,
    key: tuple[str, str, str],
    kind: str,
    on_day: date,
    amounts: tuple[Decimal, Decimal, Decimal],
    now: datetime,
) -> bool:
    """Record an irregularity of (country, period, agent code) with its expected, required
    and paid amounts; False when that period's irregularity was recorded before."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO irregularities (country, period, agent_code, kind, on_day,"
        " expected, required, paid, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*key, kind, on_day.isoformat(), *map(str, amounts), utc_stamp(now)),
    )
    return cur.rowcount == 1


def irregularity_days(conn: sqlite3.Connection, country: str, agent_code: str) -> list[date]:
    """The days of the agent's irregularities in the country."""
    return [
        date.fromisoformat(d)
        for (d,) in conn.execute(
            "SELECT on_day FROM irregularities WHERE country = ? AND agent_code = ?",
            (country, agent_code),
        )
    ]


def irregularity_of(
    conn: sqlite3.Connection, country: str, period: str, agent_code: str
) -> tuple[str, str] | None:
    """(kind, day) of the agent's irregularity in the period, or None."""
    row = conn.execute(
        "SELECT kind, on_day FROM irregularities WHERE country = ? AND period = ?"
        " AND agent_code = ?",
        (country, period, agent_code),
    ).fetchone()
    return (str(row[0]), str(row[1])) if row else None


def record_default(
    conn: sqlite3.Connection,
    country: str,
    agent_code: str,
    since: date,
    reason: str,
    period: str,
    now: datetime,
) -> None:
    """Record the agent in default since ``since`` (once)."""
    conn.execute(
        "INSERT OR IGNORE INTO agent_defaults (country, agent_code, since, reason, period,"
        " recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
        (country, agent_code, since.isoformat(), reason, period, utc_stamp(now)),
    )


def open_disputed(conn: sqlite3.Connection, country: str, period: str) -> dict[str, Decimal]:
    """The amounts in open disputes per agent code; none in a store without disputes."""
    try:
        return open_disputed_amounts(conn, country, period)
    except sqlite3.OperationalError:  # no disputes table in this store
        return {}


def payments_waiting(
    conn: sqlite3.Connection, country: str, period: str | None, agent_code: str | None
) -> list[tuple[Any, ...]]:
    """(id, period, agent code, amount, currency, value date) of the agents' payments no
    final billing expects yet (filtered)."""
    sql = (
        "SELECT p.id, p.period, p.agent_code, p.amount, p.currency, p.value_date FROM payments p"
        " WHERE p.country = ? AND p.agent_code IS NOT NULL AND NOT EXISTS (SELECT 1 FROM"
        " remittance_expected e WHERE e.country = p.country AND e.period IS p.period"
        " AND e.agent_code = p.agent_code)"
    )
    args: list[Any] = [country]
    if period is not None:
        sql += " AND p.period = ?"
        args.append(period)
    if agent_code is not None:
        sql += " AND p.agent_code = ?"
        args.append(agent_code)
    return list(conn.execute(sql + " ORDER BY p.id", args).fetchall())


def payments_unmatched(conn: sqlite3.Connection, country: str) -> list[tuple[Any, ...]]:
    """(id, amount, currency, value date, debtor, reference, source) of the payments that
    name no agent, of the country or of none."""
    return list(
        conn.execute(
            "SELECT id, amount, currency, value_date, debtor, reference, source FROM payments"
            " WHERE agent_code IS NULL AND (country = ? OR country IS NULL) ORDER BY id",
            (country,),
        ).fetchall()
    )


def clear_default(
    conn: sqlite3.Connection, country: str, agent_code: str, by: str, reason: str, now: datetime
) -> dict[str, Any] | None:
    """Lift the agent's default in force (recorded with who and why); the default lifted, or
    None when the agent is not in default."""
    found = open_default(conn, country, agent_code)
    if found is None:
        return None
    conn.execute(
        "UPDATE agent_defaults SET cleared_at = ?, cleared_by = ?, cleared_reason = ?"
        " WHERE country = ? AND agent_code = ? AND since = ? AND cleared_at IS NULL",
        (utc_stamp(now), by, reason, country, agent_code, found["since"]),
    )
    return found
