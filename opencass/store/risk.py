"""Risk in the store: the operator's financial reviews of agents and the alerts raised."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

__all__ = [
    "CountryFacts",
    "Position",
    "alerts_of",
    "country_facts",
    "last_review",
    "latest_security",
    "positions_of",
    "put_positions",
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


@dataclass(slots=True)
class CountryFacts:
    """Everything the risk assessment reads of one country, in a few queries."""

    expected: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # agent -> period -> due
    paid: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # agent -> period -> paid
    irregular: dict[str, list[date]] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)  # agent -> since
    reviews: dict[str, tuple[str, str]] = field(default_factory=dict)  # agent -> (result, day)
    securities: dict[str, tuple[str, str, str, date | None]] = field(default_factory=dict)
    alerts: dict[str, list[str]] = field(default_factory=dict)  # agent -> "period:level"


def country_facts(conn: sqlite3.Connection, country: str) -> CountryFacts:
    """The risk facts of every agent of ``country``."""
    f = CountryFacts()
    for period, agent, amount in conn.execute(
        "SELECT period, agent_code, amount FROM remittance_expected WHERE country = ?", (country,)
    ):
        f.expected.setdefault(agent, {})[period] = Decimal(amount)
    for period, agent, amount in conn.execute(
        "SELECT period, agent_code, amount FROM payments WHERE country = ? AND period IS NOT NULL"
        " AND agent_code IS NOT NULL", (country,),
    ):  # fmt: skip
        by = f.paid.setdefault(agent, {})
        by[period] = by.get(period, Decimal(0)) + Decimal(amount)
    for agent, day in conn.execute(
        "SELECT agent_code, on_day FROM irregularities WHERE country = ?", (country,)
    ):
        f.irregular.setdefault(agent, []).append(date.fromisoformat(day))
    for agent, since in conn.execute(
        "SELECT agent_code, MAX(since) FROM agent_defaults WHERE country = ? AND cleared_at IS NULL"
        " GROUP BY agent_code", (country,),
    ):  # fmt: skip
        f.defaults[agent] = str(since)
    for agent, result, day in conn.execute(
        "SELECT agent_code, result, reviewed_on FROM risk_reviews WHERE country = ?"
        " ORDER BY reviewed_on, id", (country,),
    ):  # fmt: skip
        f.reviews[agent] = (str(result), str(day))
    for agent, kind, amount, currency, expires in conn.execute(
        "SELECT agent_code, kind, amount, currency, expires FROM risk_securities"
        " WHERE country = ? ORDER BY id", (country,),
    ):  # fmt: skip
        f.securities[agent] = (
            kind,
            amount,
            currency,
            date.fromisoformat(expires) if expires else None,
        )
    for agent, period, level in conn.execute(
        "SELECT agent_code, period, level FROM risk_alerts WHERE country = ?"
        " ORDER BY raised_at DESC, period DESC, level", (country,),
    ):  # fmt: skip
        f.alerts.setdefault(agent, []).append(f"{period}:{level}")
    return f


#: (country, agent code, company, status, capacity, exposure, unpaid, booked) of one assessment
Position = tuple[str, str, str, str, Decimal, Decimal, Decimal, Decimal]


def put_positions(conn: sqlite3.Connection, positions: list[Position], at: str) -> None:
    """Keep each agent's latest assessment (what the portal's agent dashboard shows)."""
    conn.executemany(
        "INSERT INTO risk_positions (country, agent_code, company, status, capacity, exposure,"
        " unpaid, booked, assessed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (country, agent_code) DO UPDATE SET company = excluded.company,"
        " status = excluded.status, capacity = excluded.capacity,"
        " exposure = excluded.exposure, unpaid = excluded.unpaid, booked = excluded.booked,"
        " assessed_at = excluded.assessed_at",
        [(*p[:4], *(str(v) for v in p[4:]), at) for p in positions],
    )


def positions_of(conn: sqlite3.Connection, country: str, company: str) -> list[dict[str, str]]:
    """The company's agents' latest assessments in ``country``, by agent code."""
    rows = conn.execute(
        "SELECT agent_code, status, capacity, exposure, unpaid, booked, assessed_at"
        " FROM risk_positions WHERE country = ? AND company = ? ORDER BY agent_code",
        (country, company),
    ).fetchall()
    keys = ("agent_code", "status", "capacity", "exposure", "unpaid", "booked", "assessed_at")
    return [dict(zip(keys, (str(v) for v in row), strict=True)) for row in rows]
