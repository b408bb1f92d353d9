"""Moving an installation's store to another engine: every table copied in one transaction,
then checked row for row (``opencass store copy``).

The target must be empty (its schema is made or brought up to date first).  Tables are copied
parents first, rows in key order, identity columns with their values (the sequences are moved
past them afterwards, so the next booking continues the numbering).  The check reads both
stores again: per table the row count and a SHA-256 of every row in key order, and the ledger's
rows per country and period (booked and withdrawn); any difference is an error and the target
is left as the copy made it, for the operator to look at (nothing of the source changes).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from opencass.errors import ConfigurationError
from opencass.store.connect import Database, connect_migrated, is_pg
from opencass.store.pg_schema import table_layout
from opencass.store.tx import transaction

__all__ = ["CopyError", "CopyReport", "copy_store", "store_digest"]

_BATCH = 5000


class CopyError(ConfigurationError, RuntimeError):
    """The copy cannot be made (the target holds data) or does not check out (the operator's
    to look at: the stores given)."""

    code = "STORE_COPY_FAILED"


@dataclass(slots=True)
class CopyReport:
    """What was copied: rows per table, the ledger per (country, period), the digests."""

    rows: dict[str, int] = field(default_factory=dict)
    ledger: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    digest: str = ""


def _select(table: str, columns: tuple[str, ...], key: tuple[str, ...]) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    order = ", ".join(f'"{c}"' for c in key or columns)
    return f"SELECT {names} FROM {table} ORDER BY {order}"


def _batches(conn: sqlite3.Connection, sql: str) -> Iterator[list[tuple[Any, ...]]]:
    if is_pg(conn):  # a server-side cursor: a million-row table is never held whole
        rows = conn.stream(sql, (), size=_BATCH)  # type: ignore[attr-defined]
        while batch := [tuple(r) for r in itertools.islice(rows, _BATCH)]:
            yield batch
        return
    cur = conn.execute(sql)
    while rows := cur.fetchmany(_BATCH):
        yield [tuple(r) for r in rows]


def _insert(target: sqlite3.Connection, table: str, columns: tuple[str, ...]) -> Callable[..., Any]:
    if is_pg(target):
        return lambda rows: target.copy_rows(table, rows, columns)  # type: ignore[attr-defined]
    marks = ", ".join("?" * len(columns))
    names = ", ".join(f'"{c}"' for c in columns)
    return lambda rows: target.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


# A node's heartbeat and leases belong to the installation that runs, not to its data.
_RUNTIME = frozenset({"nodes", "leases"})


def _tables() -> list[tuple[str, tuple[tuple[str, ...], tuple[str, ...], str | None]]]:
    """The tables a copy moves (all but the runtime ones), parents first."""
    return [(t, layout) for t, layout in table_layout().items() if t not in _RUNTIME]


def _empty(target: sqlite3.Connection) -> None:
    for table, _ in _tables():
        if target.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
            raise CopyError(f"the target store is not empty (table {table} has rows)")


def _move_sequences(target: sqlite3.Connection) -> None:
    """Identity columns continue after the copied values (PostgreSQL)."""
    if not is_pg(target):
        return
    for table, (_, _, identity) in table_layout().items():
        if identity:
            target.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{identity}'),"
                f" COALESCE(MAX({identity}), 1), MAX({identity}) IS NOT NULL) FROM {table}"
            )


def copy_store(source: Database, target: Database) -> CopyReport:
    """Copy every row of ``source`` into the empty store ``target`` and check the copy."""
    with (
        contextlib.closing(connect_migrated(source)) as src,
        contextlib.closing(connect_migrated(target)) as dst,
    ):
        try:
            with transaction(dst):
                _empty(dst)
                for table, (columns, key, _) in _tables():
                    insert = _insert(dst, table, columns)
                    for rows in _batches(src, _select(table, columns, key)):
                        insert(rows)
                _move_sequences(dst)
        except sqlite3.IntegrityError as e:  # nothing was copied: the transaction rolled back
            raise CopyError(f"the source's rows break a rule of the target store: {e}") from e
        expected, got = store_digest(src), store_digest(dst)
    if expected.rows != got.rows or expected.ledger != got.ledger:
        raise CopyError(f"the copy differs: rows {expected.rows} != {got.rows}")
    if expected.digest != got.digest:
        raise CopyError("the copy's rows differ from the source's (same counts, other values)")
    return got


def _value(v: Any) -> str:
    return "\x00" if v is None else str(v)


def store_digest(conn: sqlite3.Connection) -> CopyReport:
    """Row counts, the ledger per (country, period) and one SHA-256 of every row of every
    table in key order (values as text): equal for two stores holding the same rows."""
    out = CopyReport()
    total = hashlib.sha256()
    for table, (columns, key, _) in _tables():
        h, n = hashlib.sha256(), 0
        for rows in _batches(conn, _select(table, columns, key)):
            n += len(rows)
            for row in rows:
                h.update("\x1f".join(map(_value, row)).encode() + b"\x1e")
        out.rows[table] = n
        total.update(f"{table}:{n}:{h.hexdigest()}\n".encode())
    for country, period, rows, withdrawn in conn.execute(
        "SELECT country, COALESCE(period, ''), COUNT(*), SUM(withdrawn) FROM ledger"
        " GROUP BY country, COALESCE(period, '') ORDER BY 1, 2"
    ):
        out.ledger[(country, period)] = (int(rows), int(withdrawn or 0))
    out.digest = total.hexdigest()
    return out
