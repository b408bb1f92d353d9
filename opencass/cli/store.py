"""``opencass store migrate|copy``: the store's schema, and moving an installation from SQLite
to PostgreSQL (or back).

``migrate`` brings the configured store (``[store] url``, or the SQLite file in the data
directory) to the latest schema, as the gateway does when it starts.  ``copy`` copies every
row of one store into another, empty one in one transaction and checks the copy (row counts
and a digest of every table, the ledger per country and period); then set ``[store] url`` to
the target and restart.  Stop the gateway first: rows written during the copy would not be in
it.  Exit codes: 0 done, 1 the copy was refused or does not check out, 2 usage or
configuration error, 3 internal failure.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from typing import TextIO

from opencass.errors import EXIT_CONFIG, EXIT_INPUT, EXIT_INTERNAL, EXIT_OK

__all__ = ["cmd_store", "store_at"]


def store_at(url: str) -> Path | str:
    """The store a command-line URL names: ``sqlite:///abs/path`` or a path (SQLite), or a
    ``postgresql://`` URL (returned as it is)."""
    if url.startswith("sqlite://"):
        return Path(url.removeprefix("sqlite://"))
    if url.startswith(("postgresql://", "postgres://")):
        return url
    if "://" in url:
        raise ValueError(f"{url!r}: a store is sqlite:///path or postgresql://…")
    return Path(url)


def cmd_store(
    args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run ``opencass store migrate|copy``."""
    from opencass.config.database import database_at
    from opencass.config.loader import load_config
    from opencass.config.reader import ConfigError

    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        given = getattr(args, "source", None)
        if given:
            source = database_at(store_at(given))
        else:
            source = load_config(Path(args.config)).gateway.database
        target = database_at(store_at(args.target)) if args.store_command == "copy" else None
    except (ConfigError, ValueError) as e:
        err.write(f"configuration error:\n{e}\n")
        return EXIT_CONFIG
    try:
        if target is None:
            return _migrate(source, out)
        return _copy(source, target, out, err)
    except sqlite3.Error as e:
        err.write(f"store error: {e}\n")
        return EXIT_INTERNAL


def _migrate(database: object, out: TextIO) -> int:
    from opencass.store.connect import connect_migrated, migrate_sync

    with closing(connect_migrated(database)) as conn:  # type: ignore[arg-type]
        version = migrate_sync(conn)
    out.write(f"store {database}: schema version {version}\n")
    return EXIT_OK


def _copy(source: object, target: object, out: TextIO, err: TextIO) -> int:
    from opencass.store.copy import CopyError, copy_store

    if str(source) == str(target):
        err.write("the source and the target are the same store\n")
        return EXIT_CONFIG
    if isinstance(source, Path) and not source.is_file():
        err.write(f"no store at {source}\n")
        return EXIT_CONFIG
    try:
        report = copy_store(source, target)  # type: ignore[arg-type]
    except CopyError as e:
        err.write(f"not copied: {e}\n")
        return EXIT_INPUT
    rows = sum(report.rows.values())
    out.write(f"copied {rows} rows of {len(report.rows)} tables from {source} to {target}\n")
    for (country, period), (n, withdrawn) in sorted(report.ledger.items()):
        out.write(f"  ledger {country} {period or '-'}: {n} rows ({withdrawn} withdrawn)\n")
    out.write(f"checked: every table's rows equal (sha256 {report.digest[:16]}…)\n")
    return EXIT_OK
