"""A test's direct look into its store, whichever backend the test runs on."""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from dataclasses import replace
from pathlib import Path
from typing import cast

from opencass.config.database import Database, PgUrl, database_at
from opencass.config.model import Config

__all__ = ["add_request_file", "db_connect", "moved_store", "table_names"]


def db_connect(database: Database | str) -> sqlite3.Connection:
    """A plain connection to the store (rows compare equal to tuples): ``sqlite3.connect``
    for a SQLite file, the store's PostgreSQL connection for a ``PgUrl``."""
    where = database_at(database)
    if isinstance(where, PgUrl):
        from opencass.store.pg import connect_pg

        return cast(sqlite3.Connection, connect_pg(where.url))
    return sqlite3.connect(Path(where))


def moved_store(config: Config, data_dir: Path) -> Config:
    """``config`` with its data directory moved to ``data_dir`` and its store copied there
    (a SQLite file copied; on PostgreSQL a new database made from the store's): a store free
    to change."""
    moved = replace(config, gateway=replace(config.gateway, data_dir=data_dir))
    source = config.gateway.database
    if isinstance(source, PgUrl):
        import psycopg

        base, _, name = source.url.rpartition("/")
        copy = f"{name}_moved_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {copy} TEMPLATE {name}")
        store = replace(config.gateway.store, url=f"{base}/{copy}")
        return replace(moved, gateway=replace(moved.gateway, store=store))
    shutil.copy(source, moved.gateway.database)
    return moved


def table_names(database: Database) -> set[str]:
    """The store's tables (lower case: PostgreSQL folds unquoted names)."""
    where = database_at(database)
    sql = (
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        if isinstance(where, PgUrl)
        else "SELECT name FROM sqlite_master WHERE type = 'table'"
    )
    conn = db_connect(where)
    try:
        return {str(r[0]).lower() for r in conn.execute(sql)}
    finally:
        conn.close()


def add_request_file(conn: sqlite3.Connection, file_id: str, company: str) -> None:
    """A withdrawal request's file row (a withdrawal refers to it; PostgreSQL always checks
    foreign keys)."""
    conn.execute(
        "INSERT INTO files (id, company, user, name, sandbox, sha256, size, received_at,"
        " spool_path, state, updated_at) VALUES (?, ?, ?, 'withdraw.xml', 0, '', 0,"
        " '2026-11-18T10:00:00Z', '', 'answered', '2026-11-18T10:00:00Z')",
        (file_id, company, company),
    )
