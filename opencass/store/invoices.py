"""Gap-free invoice numbers: one sequence per issuer, CASS country and year, kept in the store.

A number is taken in the same ``BEGIN IMMEDIATE`` transaction that records the invoice row
(``invoices``, migration 8), so a number exists exactly when its invoice exists: a crash before
the commit takes nothing, a crash after it leaves the row, and the next run of the same close
finds the row (one per issuer, country, period, agent code and revision) and reuses its number
and its issue time, so it renders the same bytes.  ``BEGIN IMMEDIATE`` takes SQLite's write
lock before reading the counter, so concurrent processes allocate one after the other: numbers
1..N, no gap, no duplicate.  Every invoice of one close is allocated in one transaction (one fsync).

An issued invoice is never changed or deleted (triggers).  A run whose money differs from the
standing document's (``data_hash``: a dispute accepted after billing, a withdrawn file, a tax
rule changed retroactively, then ``period close --final --force``) corrects it (migration 12):
a *cancellation* (the standing document with the sign flipped: a credit note for an invoice,
an invoice for a credit note) and a new *issue* with the new money, both referring to the
standing document's number, at revision + 1, numbered in the same transaction.  Each row keeps
its money as JSON (``content``) so that a later correction can cancel it in turn.

Number format: ``<country>-<year>-<seq, 6 digits>``, e.g. ``DE-2026-000001`` (the year of the
issue date in the country's time zone; a 7th digit appears after 999999).  Where the country
numbers credit notes in their own sequence (``credit_note_series = "own"``) they are
``DE-2026-C000001``, counted separately.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from opencass.errors import InternalError

__all__ = ["InvoiceConflictError", "Issued", "NumberRequest", "allocate", "format_number"]


class InvoiceConflictError(InternalError):
    """The invoice of this agent code and period was issued with other amounts."""

    code = "INVOICE_CONFLICT"


@dataclass(frozen=True, slots=True)
class NumberRequest:
    """One invoice to number (its money as ``content``, JSON)."""

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
    content: str = ""
    corrected_at: str = ""  # when a correction is issued (ISO 8601); "" the close's time
    credit_series: str = ""  # "C": credit notes numbered in their own sequence


@dataclass(frozen=True, slots=True)
class Issued:
    """A numbered document as stored."""

    number: str
    seq: int
    year: int
    issued_at: str
    kind: str
    fresh: bool  # numbered by this call (False: found from an earlier run)
    revision: int = 0
    role: str = "issue"  # "issue", or "cancel": the cancellation of ``corrects``
    corrects: str = ""  # the number this document cancels or replaces
    corrects_date: str = ""  # that document's issue time (ISO 8601)
    content: str = ""  # the money as JSON (for a cancellation: the cancelled document's)
    total: str = ""


def format_number(country: str, year: int, seq: int, series: str = "") -> str:
    """``DE-2026-000001``; a credit note of its own sequence ``DE-2026-C000001``."""
    return f"{country}-{year}-{series}{seq:06d}"


_COLUMNS = "number, seq, year, issued_at, kind, data_hash, revision, role, corrects, content, total"
_CURRENT = (
    f"SELECT {_COLUMNS} FROM invoices WHERE issuer = ? AND country = ? AND period = ?"
    " AND agent_code = ? ORDER BY revision DESC, role = 'issue' DESC"
)
_BY_NUMBER = f"SELECT {_COLUMNS} FROM invoices WHERE issuer = ? AND number = ?"
_BUMP = (
    "INSERT INTO invoice_series (issuer, country, year, series, last) VALUES (?, ?, ?, ?, 1)"
    " ON CONFLICT (issuer, country, year, series)"
    " DO UPDATE SET last = invoice_series.last + 1 RETURNING last"
)
_INSERT = (
    "INSERT INTO invoices (number, issuer, country, year, seq, series, period, agent_code,"
    " company, kind, issued_at, currency, total, data_hash, revision, role, corrects, content)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _issued(row: Any, fresh: bool = False, corrects_date: str = "") -> Issued:
    number, seq, year, issued_at, kind, _hash, revision, role, corrects, content, total = row
    return Issued(
        number, int(seq), int(year), issued_at, kind, fresh, int(revision), role, corrects,
        corrects_date, content, total,
    )  # fmt: skip


def _insert(
    conn: sqlite3.Connection, r: NumberRequest, *, kind: str, issued_at: str, total: str,
    data_hash: str, content: str, revision: int, role: str, corrects: str,
) -> Issued:  # fmt: skip
    series = r.credit_series if kind == "credit_note" else ""
    year = int(issued_at[:4])
    (seq,) = tuple(conn.execute(_BUMP, (r.issuer, r.country, year, series)).fetchone())
    number = format_number(r.country, year, int(seq), series)
    conn.execute(
        _INSERT,
        (number, r.issuer, r.country, year, seq, series, r.period, r.agent_code, r.company,
         kind, issued_at, r.currency, total, data_hash, revision, role, corrects, content),
    )  # fmt: skip
    return Issued(number, int(seq), year, issued_at, kind, True, revision, role, corrects,
                  "", content, total)  # fmt: skip


def _negated(total: str) -> str:
    return total[1:] if total.startswith("-") else ("-" + total if total.strip("0.") else total)


def _allocate_one(conn: sqlite3.Connection, r: NumberRequest) -> list[Issued]:
    """The documents of one agent code and period: found, numbered now, or corrected."""
    rows = conn.execute(_CURRENT, (r.issuer, r.country, r.period, r.agent_code)).fetchall()
    if not rows:
        return [_insert(conn, r, kind=r.kind, issued_at=r.issued_at, total=r.total,
                        data_hash=r.data_hash, content=r.content, revision=0, role="issue",
                        corrects="")]  # fmt: skip
    latest = [row for row in rows if row[6] == rows[0][6]]  # the latest revision
    standing = next(row for row in latest if row[7] == "issue")
    if standing[5] == r.data_hash:
        return _with_dates(conn, r.issuer, [_issued(row) for row in latest])
    current = _issued(standing)
    # A correction: cancel what stands, issue anew (both referring to it).
    at = r.corrected_at or r.issued_at
    revision = current.revision + 1
    cancel_kind = "invoice" if current.total.startswith("-") else "credit_note"
    cancel = _insert(conn, r, kind=cancel_kind, issued_at=at, total=_negated(current.total),
                     data_hash="cancel:" + str(standing[5]), content=current.content,
                     revision=revision, role="cancel", corrects=current.number)  # fmt: skip
    issue = _insert(conn, r, kind=r.kind, issued_at=at, total=r.total, data_hash=r.data_hash,
                    content=r.content, revision=revision, role="issue",
                    corrects=current.number)  # fmt: skip
    return _with_dates(conn, r.issuer, [cancel, issue])


def _with_dates(conn: sqlite3.Connection, issuer: str, found: list[Issued]) -> list[Issued]:
    """``found`` (cancellation first) with the issue time of the document each corrects."""
    out = []
    for i in sorted(found, key=lambda i: i.role != "cancel"):
        if i.corrects:
            row = conn.execute(_BY_NUMBER, (issuer, i.corrects)).fetchone()
            i = replace(i, corrects_date=row[3] if row else "")
        out.append(i)
    return out


def allocate(conn: sqlite3.Connection, requests: Sequence[NumberRequest]) -> list[list[Issued]]:
    """Number ``requests`` (in their order) in one transaction: per request, the documents to
    write — the existing one when its money is unchanged (a re-run), a new one, or after a
    change of money a cancellation of the standing document and a new issue.

    ``conn`` is in autocommit mode (``isolation_level=None``, as ``connect_sync`` opens it).
    """
    out: list[list[Issued]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for r in requests:
            out.append(_allocate_one(conn, r))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return out
