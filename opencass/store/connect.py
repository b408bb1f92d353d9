"""Synchronous connections to the store: what commands, worker processes and the close use
(no asyncio, no aiosqlite: a command that only reads starts fast).

A store is a ``Database``: the SQLite file's ``Path``, or a ``PgUrl`` (``[store] url`` in
gateway.toml: PostgreSQL, ``opencass.store.pg``).  Every function here takes either; the
connection a PostgreSQL store gives behaves as the sqlite3 one for the store's modules.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from typing import TypeVar, cast

from opencass.config.database import Database, PgUrl, database_at
from opencass.store.schema import LATEST, MIGRATIONS

__all__ = [
    "PRAGMAS",
    "Database",
    "PgUrl",
    "connect_migrated",
    "connect_read_only",
    "connect_sync",
    "database_at",
    "migrate_sync",
    "read_only",
]

T = TypeVar("T")


def is_pg(conn: object) -> bool:
    """Whether ``conn`` is a PostgreSQL store's connection (``opencass.store.pg``)."""
    return not isinstance(conn, sqlite3.Connection)


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the store has table ``name`` (a store from before its migration may not)."""
    if is_pg(conn):
        return bool(conn.execute("SELECT to_regclass(?) IS NOT NULL", (name,)).fetchone()[0])
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return conn.execute(sql, (name,)).fetchone() is not None


def _pg(database: PgUrl) -> sqlite3.Connection:
    from opencass.store.pg import connect_pg

    # a PgConnection serves every call the store's modules make of a sqlite3 connection
    return cast(sqlite3.Connection, connect_pg(database.url))


PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",  # money: a committed booking survives a power cut
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=60000",
)


def migrate_sync(conn: sqlite3.Connection) -> int:
    """Apply missing migrations; returns the schema version."""
    if not isinstance(conn, sqlite3.Connection):
        from opencass.store.pg import migrate_pg

        return migrate_pg(conn)
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    current = row[0] or 0
    for version, sql in MIGRATIONS:
        if version > current:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{sql}\nDELETE FROM schema_version;\n"
                f"INSERT INTO schema_version VALUES ({version});\nCOMMIT;"
            )
    return LATEST


def connect_sync(path: Database) -> sqlite3.Connection:
    """A plain sqlite3 connection with the store's pragmas (autocommit; BEGIN explicitly)."""
    if isinstance(path, PgUrl):
        return _pg(path)
    conn = sqlite3.connect(path, isolation_level=None, timeout=60)
    conn.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


def connect_migrated(path: Database) -> sqlite3.Connection:
    """``connect_sync`` to a store file brought to the latest schema, its directory made
    (a command run before the gateway ever started)."""
    if isinstance(path, PgUrl):
        conn = _pg(path)
        migrate_sync(conn)
        return conn
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect_sync(path)
    migrate_sync(conn)
    return conn


def read_only(database: Database, read: Callable[[sqlite3.Connection], T], missing: T) -> T:
    """``read`` on a read-only connection to ``database``; ``missing`` when there is no store
    (or it cannot be opened)."""
    if not database.exists():
        return missing
    try:
        conn = connect_read_only(database)
    except sqlite3.Error:
        return missing
    with contextlib.closing(conn):
        return read(conn)


def connect_read_only(database: Database) -> sqlite3.Connection:
    """A read-only connection to an existing store (reports and commands that only look)."""
    if isinstance(database, PgUrl):
        conn = _pg(database)
        conn.execute("SET default_transaction_read_only = on")
        return conn
    return sqlite3.connect(f"file:{database}?mode=ro", uri=True)
