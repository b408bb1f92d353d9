"""Payment files in the store: the runs given to the bank (direct debit collections, payouts to
airlines) with their lines, the statement subtotals that share an agent's payment among its
airlines, and the claims on airlines for money paid out and then returned."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

__all__ = [
    "Claim",
    "RunLine",
    "StoredRun",
    "add_claim",
    "claim_uses_of",
    "mandate_collected_before",
    "mark_reverses",
    "net_paid",
    "open_claims",
    "original_payment",
    "prefunded_balance",
    "remittance_lines",
    "run_of",
    "runs_of",
    "save_lines",
    "save_run",
    "use_claim",
]


@dataclass(frozen=True, slots=True)
class RunLine:
    """One line of a payment file: who (agent code or airline prefix), how much, as written."""

    party: str
    amount: Decimal
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A payment file as given to the bank."""

    country: str
    period: str
    kind: str  # collection, payout
    version: str
    msg_id: str
    created_at: str
    due: date
    account: dict[str, str]  # name, iban, bic of the CASS office's account
    creditor_id: str = ""
    lines: tuple[RunLine, ...] = field(default=())


def save_run(conn: sqlite3.Connection, run: StoredRun) -> bool:
    """Keep a run and its lines; False when the period already has one of that kind."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO payment_runs (country, period, kind, version, msg_id, created_at,"
        " due, account, creditor_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (run.country, run.period, run.kind, run.version, run.msg_id, run.created_at,
         run.due.isoformat(), json.dumps(run.account, sort_keys=True), run.creditor_id),
    )  # fmt: skip
    if cur.rowcount != 1:
        return False
    conn.executemany(
        "INSERT INTO payment_run_lines (country, period, kind, seq, party, amount, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(run.country, run.period, run.kind, i, line.party, str(line.amount),
          json.dumps(line.detail, sort_keys=True)) for i, line in enumerate(run.lines)],
    )  # fmt: skip
    return True


def run_of(conn: sqlite3.Connection, country: str, period: str, kind: str) -> StoredRun | None:
    """The period's run of ``kind``, with its lines in order."""
    row = conn.execute(
        "SELECT version, msg_id, created_at, due, account, creditor_id FROM payment_runs"
        " WHERE country = ? AND period = ? AND kind = ?",
        (country, period, kind),
    ).fetchone()
    if row is None:
        return None
    lines = conn.execute(
        "SELECT party, amount, detail FROM payment_run_lines WHERE country = ? AND period = ?"
        " AND kind = ? ORDER BY seq",
        (country, period, kind),
    ).fetchall()
    return StoredRun(
        country, period, kind, row[0], row[1], row[2], date.fromisoformat(row[3]),
        json.loads(row[4]), row[5],
        tuple(RunLine(p, Decimal(a), json.loads(d)) for p, a, d in lines),
    )  # fmt: skip


def runs_of(conn: sqlite3.Connection, country: str, period: str) -> list[StoredRun]:
    """Every run of a period (collection first)."""
    found = [run_of(conn, country, period, k) for k in ("collection", "payout")]
    return [r for r in found if r is not None]


def mandate_collected_before(
    conn: sqlite3.Connection, country: str, mandate_id: str, period: str
) -> bool:
    """True when a collection of an earlier period used the mandate (the next is RCUR)."""
    row = conn.execute(
        "SELECT 1 FROM payment_run_lines WHERE country = ? AND kind = 'collection'"
        " AND period < ? AND json_extract(detail, '$.mandate_id') = ? LIMIT 1",
        (country, period, mandate_id),
    ).fetchone()
    return row is not None


def save_lines(
    conn: sqlite3.Connection, country: str, period: str, lines: Iterable[tuple[str, str, Decimal]]
) -> None:
    """The final close's per agent and airline amounts (idempotent)."""
    conn.executemany(
        "INSERT OR REPLACE INTO remittance_lines (country, period, agent_code, airline_prefix,"
        " amount) VALUES (?, ?, ?, ?, ?)",
        [(country, period, a, p, str(x)) for a, p, x in lines],
    )


def remittance_lines(
    conn: sqlite3.Connection, country: str, period: str
) -> dict[str, dict[str, Decimal]]:
    """agent code -> airline prefix -> what the agent owes the airline for the period."""
    out: dict[str, dict[str, Decimal]] = {}
    for agent, prefix, amount in conn.execute(
        "SELECT agent_code, airline_prefix, amount FROM remittance_lines WHERE country = ?"
        " AND period = ? ORDER BY agent_code, airline_prefix",
        (country, period),
    ):
        out.setdefault(agent, {})[prefix] = Decimal(amount)
    return out


def net_paid(conn: sqlite3.Connection, country: str, period: str) -> dict[str, Decimal]:
    """What each agent paid for the period, returns and reversals deducted."""
    out: dict[str, Decimal] = {}
    for agent, amount in conn.execute(
        "SELECT agent_code, amount FROM payments WHERE country = ? AND period = ?"
        " AND agent_code IS NOT NULL ORDER BY id",
        (country, period),
    ):
        out[agent] = out.get(agent, Decimal(0)) + Decimal(amount)
    return out


def prefunded_balance(conn: sqlite3.Connection, country: str, agent_code: str) -> Decimal:
    """What is left on an agent's pre-funded account: top-ups less what statements drew."""
    total = Decimal(0)
    for source, amount in conn.execute(
        "SELECT source, amount FROM payments WHERE country = ? AND agent_code = ?"
        " AND (source = 'prefund-draw' OR matched_by = 'top-up')",
        (country, agent_code),
    ):
        total += -Decimal(amount) if source == "prefund-draw" else Decimal(amount)
    return total


@dataclass(frozen=True, slots=True)
class Claim:
    """Money paid out to an airline and then returned: owed back from its next payouts."""

    id: int
    airline_prefix: str
    amount: Decimal
    used: Decimal
    reason: str

    @property
    def open(self) -> Decimal:
        """What is still to be taken back."""
        return self.amount - self.used


def add_claim(
    conn: sqlite3.Connection, country: str, airline_prefix: str, amount: Decimal, reason: str,
    payment_id: int | None, at: str,
) -> None:  # fmt: skip
    """Record a claim on an airline."""
    conn.execute(
        "INSERT INTO payout_claims (country, airline_prefix, amount, reason, payment_id,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (country, airline_prefix, str(amount), reason, payment_id, at),
    )


def open_claims(conn: sqlite3.Connection, country: str) -> list[Claim]:
    """The claims of a country not taken back in full, oldest first."""
    rows = conn.execute(
        "SELECT c.id, c.airline_prefix, c.amount, c.reason, COALESCE((SELECT"
        " GROUP_CONCAT(u.amount, '|') FROM payout_claim_uses u WHERE u.claim_id = c.id), '')"
        " FROM payout_claims c WHERE c.country = ? ORDER BY c.id",
        (country,),
    ).fetchall()
    out = []
    for cid, prefix, amount, reason, uses in rows:
        used = sum((Decimal(u) for u in uses.split("|") if u), Decimal(0))
        claim = Claim(int(cid), prefix, Decimal(amount), used, reason)
        if claim.open > 0:
            out.append(claim)
    return out


def use_claim(conn: sqlite3.Connection, claim_id: int, period: str, amount: Decimal) -> None:
    """Take ``amount`` of a claim back from a period's payout."""
    conn.execute(
        "INSERT OR REPLACE INTO payout_claim_uses (claim_id, period, amount) VALUES (?, ?, ?)",
        (claim_id, period, str(amount)),
    )


def claim_uses_of(conn: sqlite3.Connection, country: str, period: str) -> dict[str, Decimal]:
    """airline prefix -> what the period's payout took back of its claims."""
    out: dict[str, Decimal] = {}
    for prefix, amount in conn.execute(
        "SELECT c.airline_prefix, u.amount FROM payout_claim_uses u JOIN payout_claims c"
        " ON c.id = u.claim_id WHERE c.country = ? AND u.period = ?",
        (country, period),
    ):
        out[prefix] = out.get(prefix, Decimal(0)) + Decimal(amount)
    return out


def original_payment(
    conn: sqlite3.Connection, country: str, period: str, agent_code: str, amount: Decimal
) -> int | None:
    """The latest payment of the agent for the period of exactly ``amount`` not reversed yet."""
    row = conn.execute(
        "SELECT p.id FROM payments p WHERE p.country = ? AND p.period = ? AND p.agent_code = ?"
        " AND p.amount = ? AND NOT EXISTS (SELECT 1 FROM payments r WHERE r.reverses = p.id)"
        " ORDER BY p.id DESC LIMIT 1",
        (country, period, agent_code, str(amount)),
    ).fetchone()
    return int(row[0]) if row else None


def mark_reverses(conn: sqlite3.Connection, payment_id: int, original_id: int) -> None:
    """Note that payment ``payment_id`` takes back payment ``original_id``."""
    conn.execute("UPDATE payments SET reverses = ? WHERE id = ?", (original_id, payment_id))
