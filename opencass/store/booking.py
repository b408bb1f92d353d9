"""Booking a file into the ledger: staging tables, the AWB-billed-once join, and the one write
transaction that moves a file to ``assessed`` with its findings and booked rows.

Theory of operation (the judging itself is ``opencass.gateway.assess``):

1. while a file is read, its records are staged in a table of their own (``staging_table``),
   batch by batch (``stage``); a sandbox file stages into a TEMP table of its connection, so it
   is judged the same and never stored;
2. ``billed_before`` joins the staged originals against the ledger in a read snapshot (no write
   lock); ``billed_now`` brings that up to date inside the write transaction;
3. ``book_assessed`` moves the file ``received → assessed`` and copies the staged rows that
   were not rejected into the ledger, in the caller's ``BEGIN IMMEDIATE`` transaction, and
   commits; when another worker moved the file first it rolls back and books nothing.
"""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opencass.findings import Finding
from opencass.store.connect import Database, PgUrl, connect_sync, database_at, is_pg
from opencass.store.sqlite import INSERT_EVENT, INSERT_FINDING, finding_rows

__all__ = [
    "Billed",
    "Moved",
    "billed_before",
    "billed_now",
    "book_assessed",
    "clear_staging",
    "connect_for_booking",
    "drop_staging",
    "duplicates_across",
    "move_message",
    "stage",
    "staged_tables",
    "staging_table",
]


def connect_for_booking(database: str | Database) -> sqlite3.Connection:
    """A connection for one assessment (a larger page cache: bulk inserts into indexes); on
    PostgreSQL, in a worker process of the gateway's pool, the worker's kept one (``close()``
    hands it back clean).  Elsewhere (a command, a test assessing in its own process) a
    connection of its own: a kept one would hold the database open for good."""
    at = database_at(database)
    if isinstance(at, PgUrl) and multiprocessing.parent_process() is not None:
        from opencass.store.pg import kept_connection

        return kept_connection(at.url)  # type: ignore[return-value]
    conn = connect_sync(at)
    conn.execute("PRAGMA cache_size = -16384")  # 16 MiB
    return conn


def stage(
    conn: sqlite3.Connection,
    file_id: str,
    part: int,
    rows: Sequence[tuple[Any, ...]],
    *,
    temp: bool,
) -> None:
    """Add ``rows`` (the ``staging`` table's columns) to the staging table of ``file_id``'s
    slice ``part``, in a transaction of their own.

    A staging table lives in a database file of its own beside the store (``intake-staging/``,
    attached to the connection, no journal, no fsync): staging never takes the store's write
    lock nor goes through its WAL, and dropping it is deleting a file.  A crash leaves the file,
    which the next attempt deletes.  ``temp``: the sandbox's TEMP table of this connection.
    On PostgreSQL the staging table is an UNLOGGED table of the store (no WAL), filled by COPY.
    """
    if is_pg(conn):
        _stage_pg(conn, file_id, part, rows, temp=temp)
        return
    if temp:
        name = f"staging_{_checked(file_id)}_{int(part)}"
        conn.execute("BEGIN")
        conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {name} AS SELECT * FROM main.staging WHERE 0"
        )
        table = f"temp.{name}"
    else:
        table = _attach(conn, file_id, part)
        conn.execute("BEGIN")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM main.staging WHERE 0")
    conn.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")


def _stage_pg(
    conn: Any, file_id: str, part: int, rows: Sequence[tuple[Any, ...]], *, temp: bool
) -> None:
    name = f"staging_{_checked(file_id)}_{int(part)}"
    kind = "TEMP" if temp else "UNLOGGED"
    conn.execute("BEGIN")
    conn.execute(f"CREATE {kind} TABLE IF NOT EXISTS {name} (LIKE staging)")
    conn.copy_rows(name, rows)
    conn.execute("COMMIT")


def _checked(file_id: str) -> str:
    if not file_id.isalnum():
        raise ValueError(f"unexpected file id {file_id!r}")
    return file_id


def _staging_dir(conn: sqlite3.Connection) -> Path:
    main = next(row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main")
    return Path(main).parent / "intake-staging"


def _attached(conn: sqlite3.Connection) -> set[str]:
    return {row[1] for row in conn.execute("PRAGMA database_list")}


def _attach(conn: sqlite3.Connection, file_id: str, part: int, *, create: bool = True) -> str:
    """The staging table of a slice, its file attached to ``conn`` (made when ``create``);
    "" when there is no such file."""
    schema = f"staging_{_checked(file_id)}_{int(part)}"
    if schema not in _attached(conn):
        folder = _staging_dir(conn)
        path = folder / f"{file_id}_{int(part)}.db"
        if not create and not path.exists():
            return ""
        folder.mkdir(exist_ok=True)
        conn.execute("ATTACH DATABASE ? AS " + schema, (str(path),))
        conn.execute(f"PRAGMA {schema}.journal_mode = OFF")
        conn.execute(f"PRAGMA {schema}.synchronous = OFF")
    return f"{schema}.rows"


@dataclass(frozen=True, slots=True)
class Moved:
    """The file's move to ``assessed``: what ``book_assessed`` writes."""

    file_id: str
    now: str  # UTC stamp
    format: str
    dialect: str | None
    outcome: str
    country: str | None
    period: str | None
    counts: dict[str, int]


def _json(value: dict[str, int]) -> str:
    return json.dumps(value, sort_keys=True)


_BOOK = (
    "INSERT INTO ledger (file_id, line, record_type, country, period,"
    " airline_prefix, awb_serial, agent_code, reference, currency, late,"
    " payload_format, payload)"
    " SELECT file_id, CASE WHEN line < 0 THEN NULL ELSE line END, record_type,"
    " country, period, airline_prefix, awb_serial, agent_code, reference,"
    " currency, late, payload_format, payload"
    " FROM {table}{keep}"
)


def _move(conn: sqlite3.Connection, move: Moved) -> bool:
    """The file's move ``received → assessed`` with its history row; False when it was no
    longer ``received`` (another worker moved it)."""
    cur = conn.execute(
        "UPDATE files SET state = 'assessed', updated_at = ?, format = ?, dialect = ?,"
        " outcome = ?, country = ?, period = ?, counts = ? WHERE id = ? AND state = 'received'",
        (
            move.now,
            move.format,
            move.dialect,
            move.outcome,
            move.country,
            move.period,
            _json(move.counts),
            move.file_id,
        ),
    )
    if cur.rowcount != 1:
        return False
    conn.execute(INSERT_EVENT, (move.file_id, move.file_id, move.now, "received", "assessed", "{}"))
    return True


def _replace_findings(conn: sqlite3.Connection, file_id: str, findings: Iterable[Finding]) -> None:
    conn.execute("DELETE FROM findings WHERE file_id = ?", (file_id,))
    conn.executemany(INSERT_FINDING, finding_rows(file_id, findings))


def move_message(conn: sqlite3.Connection, move: Moved, findings: Iterable[Finding]) -> bool:
    """Inside the caller's transaction: move an XML message file to ``assessed`` with its
    findings; False (nothing written) when it was no longer ``received``."""
    if not _move(conn, move):
        return False
    _replace_findings(conn, move.file_id, findings)
    return True


def book_assessed(
    conn: sqlite3.Connection,
    move: Moved,
    findings: Iterable[Finding],
    *,
    book: bool,
    rejected: set[int],
    parts: int = 1,
) -> int | None:
    """Inside the caller's write transaction: move the file to ``assessed``, book its staged
    rows but the ``rejected`` lines (when ``book``), store its findings, commit.  The number of
    ledger rows of the file; None (rolled back) when the file was no longer ``received``."""
    if not _move(conn, move):
        conn.execute("ROLLBACK")
        drop_staging(conn, move.file_id)
        return None
    if book:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS rejected_lines (line INTEGER PRIMARY KEY)")
        conn.execute("DELETE FROM rejected_lines")
        conn.executemany(
            "INSERT OR IGNORE INTO rejected_lines VALUES (?)", ((n,) for n in rejected)
        )
        keep = " WHERE line NOT IN (SELECT line FROM rejected_lines)" if rejected else ""
        for table in staged_tables(conn, move.file_id, parts, temp=False):
            conn.execute(_BOOK.format(table=table, keep=keep))
    _replace_findings(conn, move.file_id, findings)
    booked = int(
        conn.execute("SELECT COUNT(*) FROM ledger WHERE file_id = ?", (move.file_id,)).fetchone()[0]
    )
    counts = {**move.counts, "booked": booked}
    conn.execute("UPDATE files SET counts = ? WHERE id = ?", (_json(counts), move.file_id))
    conn.execute("COMMIT")
    drop_staging(conn, move.file_id)  # after the commit: a crash before it keeps them
    return booked


def duplicates_across(conn: sqlite3.Connection, file_id: str, part: int) -> list[tuple[int, str]]:
    """(first line in slice ``part``, prefix + serial) of the originals an earlier slice of the
    same file also stages."""
    if is_pg(conn):
        staged = set(_staged_pg(conn, file_id, part + 1, temp=False))
        tables = [
            t if t in staged else ""
            for t in (staging_table(file_id, k, pg=True) for k in range(part + 1))
        ]
    else:
        tables = [_attach(conn, file_id, k, create=False) for k in range(part + 1)]
    later = tables[part]
    found: dict[str, int] = {}
    for earlier in filter(None, tables[:part]) if later else ():
        rows = conn.execute(
            f"SELECT MIN(b.line), b.airline_prefix || b.awb_serial FROM {later} AS b"
            f" JOIN {earlier} AS a"
            " ON a.airline_prefix = b.airline_prefix AND a.awb_serial = b.awb_serial"
            f" WHERE a.record_type IN {_ORIGINALS} AND b.record_type IN {_ORIGINALS}"
            " GROUP BY 2"
        ).fetchall()
        for line, key in rows:
            found[key] = min(line, found.get(key, line))
    return sorted(((line, key) for key, line in found.items()))


def staging_table(file_id: str, part: int = 0, *, pg: bool = False) -> str:
    """The staging table of a file's slice, as SQL names it once ``stage`` or ``staged_tables``
    attached its file (one per slice; deleted whole after the commit); on PostgreSQL
    (``pg``) a table of the store."""
    name = f"staging_{_checked(file_id)}_{int(part)}"
    return name if pg else f"{name}.rows"


def clear_staging(database: str | Database) -> int:
    """Delete every staging file beside the store (before the daemon serves, when no
    assessment runs: one a crash left between a booking's commit and its cleanup); how many.
    On PostgreSQL none: another node may be staging (a file's next attempt drops its own)."""
    if isinstance(database_at(database), PgUrl):
        return 0
    folder = Path(database).parent / "intake-staging"
    found = sorted(folder.glob("*.db*")) if folder.exists() else []
    for path in found:
        path.unlink(missing_ok=True)
    return len(found)


def drop_staging(conn: sqlite3.Connection, file_id: str) -> None:
    """Delete every staging table of a file (left by a crashed attempt, or used); outside a
    transaction."""
    prefix = f"staging_{_checked(file_id)}_"
    if is_pg(conn):
        names = conn.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r'"
            " AND left(c.relname, ?) = ? AND pg_table_is_visible(c.oid)",
            (len(prefix), prefix.lower()),  # unquoted names are folded to lower case
        ).fetchall()
        for (name,) in names:
            conn.execute(f"DROP TABLE IF EXISTS {name}")
        return
    for schema in sorted(_attached(conn)):
        if schema.startswith(prefix):
            conn.execute(f"DETACH DATABASE {schema}")
    folder = _staging_dir(conn)
    for path in folder.glob(f"{file_id}_*.db*") if folder.exists() else ():
        path.unlink(missing_ok=True)
    # tables of the layout before the staging files (a crash before an upgrade)
    names = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, ?) = ?",
        (len(prefix), prefix),
    ).fetchall()
    for (name,) in names:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


# --- an AWB is billed once per country: the join against the ledger ---------------------------

_ORIGINALS = "('AWM', 'AWB', 'IBI')"


@dataclass(slots=True)
class Billed:
    """Staged originals that the ledger already holds, as of a snapshot of the store: the
    highest ledger row id and withdrawal rowid seen; ``rows`` maps a staged line (or XML ``-n``)
    to (record type, prefix, serial, the earlier file)."""

    ledger_max: int
    withdrawals_max: int
    rows: dict[int, tuple[str, str, str, str]] = field(default_factory=dict)

    @staticmethod
    def merge(parts: Iterable[Billed | None]) -> Billed | None:
        """One Billed for several slices: the oldest snapshot, every row."""
        found = [b for b in parts if b is not None]
        if not found:
            return None
        merged = Billed(min(b.ledger_max for b in found), min(b.withdrawals_max for b in found))
        for b in found:
            merged.rows.update(b.rows)
        return merged


def _snapshot(conn: sqlite3.Connection) -> tuple[int, int]:
    row = conn.execute(
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM ledger),"
        " (SELECT COALESCE(MAX(rowid), 0) FROM withdrawals)"
    ).fetchone()
    return int(row[0]), int(row[1])


def staged_tables(
    conn: sqlite3.Connection, file_id: str, parts: int, *, temp: bool = True
) -> list[str]:
    """The staging tables of a file that exist, their files attached (with ``temp`` also the
    sandbox's TEMP ones); call it outside a transaction (it may attach)."""
    if is_pg(conn):
        return _staged_pg(conn, file_id, parts, temp=temp)
    out = []
    for part in range(parts):
        name = f"staging_{_checked(file_id)}_{int(part)}"
        if (
            temp
            and conn.execute(
                "SELECT 1 FROM sqlite_temp_master WHERE type = 'table' AND name = ?", (name,)
            ).fetchone()
        ):
            out.append(f"temp.{name}")
            continue
        table = _attach(conn, file_id, part, create=False)
        if (
            table
            and conn.execute(
                f"SELECT 1 FROM {name}.sqlite_master WHERE type = 'table' AND name = 'rows'"
            ).fetchone()
        ):
            out.append(table)
    return out


def _staged_pg(conn: Any, file_id: str, parts: int, *, temp: bool) -> list[str]:
    out = []
    for part in range(parts):
        name = f"staging_{_checked(file_id)}_{int(part)}"
        if temp and conn.execute("SELECT to_regclass(?)", (f"pg_temp.{name}",)).fetchone()[0]:
            out.append(f"pg_temp.{name}")
        elif conn.execute("SELECT to_regclass(?)", (f"public.{name}",)).fetchone()[0]:
            out.append(name)
    return out


#: Staged originals already in the ledger (``{table}``: a staging table; parameter: the ledger
#: row id after which to look).  CROSS JOIN keeps the staging table outside: one probe of the
#: index ``ledger_by_awb`` per staged row, no scan of the ledger.
JOIN_LEDGER = (
    "SELECT s.line, s.record_type, s.airline_prefix, s.awb_serial, MIN(l.file_id)"
    " FROM {table} AS s CROSS JOIN ledger AS l INDEXED BY ledger_by_awb"
    " ON l.country = s.country AND l.airline_prefix = s.airline_prefix"
    " AND l.awb_serial = s.awb_serial"
    f" WHERE s.record_type IN {_ORIGINALS} AND l.record_type IN {_ORIGINALS}"
    " AND l.withdrawn = 0 AND l.id > ? GROUP BY s.line, s.record_type, s.airline_prefix,"
    " s.awb_serial"
)


def _join_ledger(conn: sqlite3.Connection, table: str, since: int) -> list[Any]:
    return conn.execute(JOIN_LEDGER.format(table=table), (since,)).fetchall()


def _join_new(conn: sqlite3.Connection, tables: list[str], since: int) -> list[Any]:
    """The join restricted to ledger rows after ``since``: those few rows' keys are put in a
    TEMP table first, so the staging tables are scanned once instead of the ledger probed per
    staged row (this runs while the write lock is held)."""
    new = conn.execute(
        "SELECT country, airline_prefix, awb_serial, MIN(file_id) FROM ledger"
        f" WHERE id > ? AND record_type IN {_ORIGINALS} AND withdrawn = 0 GROUP BY 1, 2, 3",
        (since,),
    ).fetchall()
    if not new:
        return []
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS billed_since (country TEXT, airline_prefix TEXT,"
        " awb_serial TEXT, file_id TEXT, PRIMARY KEY (country, airline_prefix, awb_serial))"
        " WITHOUT ROWID"
    )
    conn.execute("DELETE FROM billed_since")
    conn.executemany("INSERT INTO billed_since VALUES (?, ?, ?, ?)", new)
    return [
        row
        for table in tables
        for row in conn.execute(
            "SELECT s.line, s.record_type, s.airline_prefix, s.awb_serial, MIN(k.file_id)"
            f" FROM {table} AS s CROSS JOIN billed_since AS k"
            " ON k.country = s.country AND k.airline_prefix = s.airline_prefix"
            " AND k.awb_serial = s.awb_serial"
            f" WHERE s.record_type IN {_ORIGINALS}"
            " GROUP BY s.line, s.record_type, s.airline_prefix, s.awb_serial"
        )
    ]


def _rows(found: Iterable[Any]) -> dict[int, tuple[str, str, str, str]]:
    return {int(r[0]): (r[1], r[2], r[3], r[4]) for r in found}


def billed_before(conn: sqlite3.Connection, tables: list[str]) -> Billed:
    """The staged originals already billed, in one read snapshot (no write lock held)."""
    conn.execute("BEGIN")
    try:
        ledger_max, withdrawals_max = _snapshot(conn)
        found = [row for table in tables for row in _join_ledger(conn, table, 0)]
    finally:
        conn.execute("COMMIT")
    return Billed(ledger_max, withdrawals_max, _rows(found))


def billed_now(conn: sqlite3.Connection, tables: list[str], before: Billed) -> Billed:
    """``before`` brought up to date inside the write transaction: the ledger rows booked
    since its snapshot are joined too; a withdrawal since then makes everything joined again."""
    ledger_max, withdrawals_max = _snapshot(conn)
    if withdrawals_max != before.withdrawals_max:
        found = [row for table in tables for row in _join_ledger(conn, table, 0)]
        return Billed(ledger_max, withdrawals_max, _rows(found))
    rows = dict(before.rows)
    if ledger_max != before.ledger_max:
        rows.update(_rows(_join_new(conn, tables, before.ledger_max)))
    return Billed(ledger_max, withdrawals_max, rows)
