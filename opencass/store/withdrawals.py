"""Withdrawals in the store: what a withdrawal request can name, and the withdrawal itself
(ledger rows flagged ``withdrawn`` and a ``withdrawals`` row, in the request file's
transaction)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "FileFacts",
    "Withdrawn",
    "close_started",
    "file_exists",
    "file_facts",
    "file_sha256",
    "files_with_sha256",
    "withdraw_file",
]


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What the withdrawal rules need to know of a submitted file."""

    file_id: str
    company: str
    sandbox: bool
    country: str | None
    period: str | None
    booked: int
    withdrawn: bool


def file_facts(conn: sqlite3.Connection, file_id: str) -> FileFacts | None:
    """A file's facts, None for an unknown file."""
    row = conn.execute(
        "SELECT id, company, sandbox, country, period FROM files WHERE id = ?", (file_id,)
    ).fetchone()
    if row is None:
        return None
    booked = conn.execute("SELECT COUNT(*) FROM ledger WHERE file_id = ?", (file_id,)).fetchone()
    withdrawn = conn.execute("SELECT 1 FROM withdrawals WHERE file_id = ?", (file_id,)).fetchone()
    return FileFacts(
        row[0], row[1], bool(row[2]), row[3], row[4], int(booked[0]), withdrawn is not None
    )


def file_sha256(conn: sqlite3.Connection, file_id: str) -> str | None:
    """A file's SHA-256, None for an unknown file."""
    found = conn.execute("SELECT sha256 FROM files WHERE id = ?", (file_id,)).fetchone()
    return None if found is None else str(found[0])


def files_with_sha256(conn: sqlite3.Connection, company: str, sha256: str) -> list[str]:
    """A company's live, non-duplicate files with these bytes, newest first."""
    rows = conn.execute(
        "SELECT id FROM files WHERE company = ? AND sha256 = ? AND sandbox = 0"
        " AND duplicate_of IS NULL ORDER BY received_at DESC, id DESC",
        (company, sha256),
    )
    return [str(r[0]) for r in rows]


def file_exists(conn: sqlite3.Connection, file_id: str) -> bool:
    """Whether the store knows the file."""
    return conn.execute("SELECT 1 FROM files WHERE id = ?", (file_id,)).fetchone() is not None


def close_started(
    conn: sqlite3.Connection, country: str, period: str, kinds: Iterable[str]
) -> bool:
    """Whether a close of one of ``kinds`` of the period has been claimed (or completed)."""
    return any(
        conn.execute(
            "SELECT 1 FROM closes WHERE country = ? AND period = ? AND kind = ?",
            (country, period, kind),
        ).fetchone()
        for kind in kinds
    )


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """What a withdrawal took out of the ledger."""

    records: int
    airline_prefix: str | None


def withdraw_file(
    conn: sqlite3.Connection,
    *,
    file_id: str,
    request_id: str,
    company: str,
    user: str,
    at: str,
    country: str | None,
    period: str | None,
    reason: str,
) -> Withdrawn:
    """Withdraw every ledger row of ``file_id`` and record the withdrawal (in the caller's
    transaction)."""
    records = conn.execute(
        "UPDATE ledger SET withdrawn = 1 WHERE file_id = ? AND withdrawn = 0", (file_id,)
    ).rowcount
    conn.execute(
        "INSERT INTO withdrawals (file_id, request_id, company, user, at, country, period,"
        " records, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (file_id, request_id, company, user, at, country, period, records, reason),
    )
    prefix = conn.execute(
        "SELECT airline_prefix FROM ledger WHERE file_id = ? LIMIT 1", (file_id,)
    ).fetchone()
    return Withdrawn(records, prefix[0] if prefix else None)
