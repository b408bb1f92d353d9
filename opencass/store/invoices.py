"""Gap-free invoice numbers: one sequence per issuer, CASS country and year, kept in the store.

A number is taken in the same ``BEGIN IMMEDIATE`` transaction that records the invoice row
(``invoices``, migration 8), so a number exists exactly when its invoice exists: a crash before
the commit takes nothing, a crash after it leaves the row, and the next run of the same close
finds the row (``UNIQUE(issuer, country, period, agent_code)``) and reuses its number and its
issue time, so it renders the same bytes.  ``BEGIN IMMEDIATE`` takes SQLite's write lock before
reading the counter, so concurrent processes allocate one after the other: numbers 1..N, no gap,
no duplicate.  Every invoice of one close is allocated in one transaction (one fsync).

An issued invoice is never changed or deleted (triggers).  A re-run whose money differs from the
stored invoice's (``data_hash``) raises ``InvoiceConflictError``: correcting an issued invoice
needs a credit note, never a silent re-issue under the same number.

Number format: ``<country>-<year>-<seq, 6 digits>``, e.g. ``DE-2026-000001`` (the year of the
issue date in the country's time zone; a 7th digit appears after 999999).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from opencass.errors import InternalError

__all__ = ["InvoiceConflictError", "Issued", "NumberRequest", "allocate", "format_number"]


class InvoiceConflictError(InternalError):
    """The invoice of this agent code and period was issued with other amounts."""

    code = "INVOICE_CONFLICT"


@dataclass(frozen=True, slots=True)
class NumberRequest:
    """One invoice to number."""

    issuer: str
    country: str
    year: int
    period: str
    agent_code: str
    company: str
    kind: str  # "invoice" or "credit_note"
    issued_at: str  # ISO 8601, the close's reference time
    currency: str
    total: str
    data_hash: str


@dataclass(frozen=True, slots=True)
class Issued:
    """A numbered invoice as stored."""

    number: str
    seq: int
    year: int
    issued_at: str
    kind: str
    fresh: bool  # numbered by this call (False: found from an earlier run)


def format_number(country: str, year: int, seq: int) -> str:
    """``DE-2026-000001``."""
    return f"{country}-{year}-{seq:06d}"


_FIND = (
    "SELECT number, seq, year, issued_at, kind, data_hash FROM invoices"
    " WHERE issuer = ? AND country = ? AND period = ? AND agent_code = ?"
)
_BUMP = (
    "INSERT INTO invoice_counters (issuer, country, year, last) VALUES (?, ?, ?, 1)"
    " ON CONFLICT (issuer, country, year) DO UPDATE SET last = last + 1 RETURNING last"
)
_INSERT = (
    "INSERT INTO invoices (number, issuer, country, year, seq, period, agent_code, company,"
    " kind, issued_at, currency, total, data_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def allocate(conn: sqlite3.Connection, requests: Sequence[NumberRequest]) -> list[Issued]:
    """Number ``requests`` (in their order) in one transaction; existing invoices are reused.

    ``conn`` is in autocommit mode (``isolation_level=None``, as ``connect_sync`` opens it).
    """
    out: list[Issued] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for r in requests:
            row = conn.execute(_FIND, (r.issuer, r.country, r.period, r.agent_code)).fetchone()
            if row is not None:
                number, seq, year, issued_at, kind, digest = tuple(row)
                if digest != r.data_hash:
                    raise InvoiceConflictError(
                        f"invoice {number} ({r.country} period {r.period}, agent {r.agent_code})"
                        " was issued with other amounts; it is never re-issued: credit it instead"
                    )
                out.append(Issued(number, int(seq), int(year), issued_at, kind, fresh=False))
                continue
            (seq,) = tuple(conn.execute(_BUMP, (r.issuer, r.country, r.year)).fetchone())
            number = format_number(r.country, r.year, int(seq))
            conn.execute(
                _INSERT,
                (number, r.issuer, r.country, r.year, seq, r.period, r.agent_code, r.company,
                 r.kind, r.issued_at, r.currency, r.total, r.data_hash),
            )  # fmt: skip
            out.append(Issued(number, int(seq), r.year, r.issued_at, r.kind, fresh=True))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return out
