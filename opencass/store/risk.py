"""Risk in the store: the operator's financial reviews of agents and the alerts raised."""

from __future__ import annotations

import sqlite3
from datetime import date

__all__ = ["alerts_of", "last_review", "raise_alert", "record_review"]


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
