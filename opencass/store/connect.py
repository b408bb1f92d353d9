"""Synchronous connections to the SQLite store: what commands, worker processes and the
close use (no asyncio, no aiosqlite: a command that only reads starts fast)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from opencass.store.schema import LATEST, MIGRATIONS

__all__ = [
    "PRAGMAS",
    "connect_migrated",
    "connect_read_only",
    "connect_sync",
    "migrate_sync",
    "read_only",
]

T = TypeVar("T")

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",  # money: a committed booking survives a power cut
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=60000",
)


def migrate_sync(conn: sqlite3.Connection) -> int:
    """Apply missing migrations; returns the schema version."""
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


def connect_sync(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection with the store's pragmas (autocommit; BEGIN explicitly)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=60)
    conn.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


def connect_migrated(path: Path) -> sqlite3.Connection:
    """``connect_sync`` to a store file brought to the latest schema, its directory made
    (a command run before the gateway ever started)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect_sync(path)
    migrate_sync(conn)
    return conn


def read_only(database: Path, read: Callable[[sqlite3.Connection], T], missing: T) -> T:
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


def connect_read_only(database: Path) -> sqlite3.Connection:
    """A read-only connection to an existing store (reports and commands that only look)."""
    return sqlite3.connect(f"file:{database}?mode=ro", uri=True)
