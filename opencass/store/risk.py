"""Risk in the store: the operator's financial reviews of agents and the alerts raised."""

from __future__ import annotations

import sqlite3
from datetime import date

__all__ = [
    "alerts_of",
    "last_review",
    "latest_security",
    "raise_alert",
    "record_review",
    "record_security",
]


def record_review(
    conn: sqlite3.Connection, country: str, agent_code: str, result: str, on: date, note: str,
    at: str,
) -> None:  # fmt: skip
    """Record a financial review's result (pass, fail)."""
    conn.execute(
        "INSERT INTO risk_reviews (country, agent_code, result, reviewed_on, note, recorded_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (country, agent_code, result, on.isoformat(), note, at),
    )


def last_review(conn: sqlite3.Connection, country: str, agent_code: str) -> tuple[str, str] | None:
    """(result, day) of the agent's latest review, or None."""
    row = conn.execute(
        "SELECT result, reviewed_on FROM risk_reviews WHERE country = ? AND agent_code = ?"
        " ORDER BY reviewed_on DESC, id DESC LIMIT 1",
        (country, agent_code),
    ).fetchone()
    return (str(row[0]), str(row[1])) if row else None


def raise_alert(
    conn: sqlite3.Connection, country: str, agent_code: str, period: str, level: str, at: str
) -> bool:
    """Note an alert; False when that level was raised for the period before (once only)."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO risk_alerts (country, agent_code, period, level, raised_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (country, agent_code, period, level, at),
    )
    return cur.rowcount == 1


def alerts_of(
    conn: sqlite3.Connection, country: str, agent_code: str
) -> list[tuple[str, str, str]]:
    """(period, level, raised at) of the agent's alerts, newest first."""
    rows = conn.execute(
        "SELECT period, level, raised_at FROM risk_alerts WHERE country = ? AND agent_code = ?"
        " ORDER BY raised_at DESC, period DESC, level",
        (country, agent_code),
    ).fetchall()
    return [(str(p), str(lv), str(at)) for p, lv, at in rows]


def record_security(
    conn: sqlite3.Connection, country: str, agent_code: str,
    security: tuple[str, str, str, date | None], at: str,
) -> None:  # fmt: skip
    """Record a security (kind, amount, currency, expiry) the operator holds for an agent."""
    kind, amount, currency, expires = security
    conn.execute(
        "INSERT INTO risk_securities (country, agent_code, kind, amount, currency, expires,"
        " recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (country, agent_code, kind, amount, currency,
         expires.isoformat() if expires else None, at),
    )  # fmt: skip


def latest_security(
    conn: sqlite3.Connection, country: str, agent_code: str
) -> tuple[str, str, str, date | None] | None:
    """The security the operator recorded last for the agent (kind ``none``: withdrawn)."""
    row = conn.execute(
        "SELECT kind, amount, currency, expires FROM risk_securities WHERE country = ?"
        " AND agent_code = ? ORDER BY id DESC LIMIT 1",
        (country, agent_code),
    ).fetchone()
    if row is None:
        return None
    return (str(row[0]), str(row[1]), str(row[2]),
            date.fromisoformat(row[3]) if row[3] else None)  # fmt: skip
