"""The SQLite store (aiosqlite), WAL mode, migrations applied at open."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from opencass.clock import Clock, stamp, system_clock
from opencass.errors import InternalError
from opencass.events import Event
from opencass.findings import Finding, Scope, Severity
from opencass.store.connect import (
    PRAGMAS,
    Database,
    PgUrl,
    connect_sync,
    migrate_sync,
)
from opencass.store.events import INSERT_EVENT_ROW, event_rows, record_events
from opencass.store.rows import FileRow, NewFile, StaleState
from opencass.store.tx import transaction

INSERT_EVENT = """
    INSERT INTO file_events (file_id, seq, at, from_state, to_state, detail)
    VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM file_events WHERE file_id = ?), ?, ?, ?, ?)
"""
TRANSITION = "UPDATE files SET state = ?, updated_at = ? {extra} WHERE id = ? AND state = ?"
UPDATABLE = frozenset(
    {"format", "dialect", "outcome", "duplicate_of", "country", "period", "counts", "spool_path"}
)

T = TypeVar("T")


def transition_sql(updates: dict[str, Any]) -> tuple[str, list[Any]]:
    """The UPDATE statement of a state transition with extra column updates."""
    bad = set(updates) - UPDATABLE
    if bad:
        raise ValueError(f"not updatable: {sorted(bad)}")
    extra = "".join(f", {k} = ?" for k in updates)
    values = [json.dumps(v, sort_keys=True) if k == "counts" else v for k, v in updates.items()]
    return TRANSITION.format(extra=extra), values


def finding_rows(file_id: str, found: Iterable[Finding]) -> list[tuple[Any, ...]]:
    """``findings`` table rows."""
    return [
        (
            file_id,
            i,
            f.code,
            str(f.severity),
            str(f.scope),
            f.line,
            f.record_type,
            f.field,
            f.columns[0] if f.columns else None,
            f.columns[1] if f.columns else None,
            f.message,
        )
        for i, f in enumerate(found, 1)
    ]


INSERT_FINDING = "INSERT OR REPLACE INTO findings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


class AuditWriteError(InternalError, RuntimeError):
    """Audit events could not be written (they stay queued for the next attempt)."""

    code = "AUDIT_WRITE_FAILED"


class SqliteStore:
    """The ledger in one SQLite file."""

    def __init__(
        self, conn: aiosqlite.Connection, path: Database, clock: Clock = system_clock
    ) -> None:
        self._db = conn
        self.path = path
        self.clock = clock  # the time every row it writes is stamped with
        self.audit_failure: str | None = None  # why the last audit write failed, until one works
        # One connection serves every coroutine: a transaction must not interleave with
        # another's statements, so each operation holds the lock for its whole duration.
        self._lock = asyncio.Lock()
        self._audit_queue: list[tuple[Any, ...]] = []
        self._audit_flush: asyncio.Future[None] | None = None

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    @contextlib.asynccontextmanager
    async def _query(self, sql: str, args: Iterable[Any] = ()) -> AsyncIterator[aiosqlite.Cursor]:
        async with self._lock, self._db.execute(sql, tuple(args)) as cur:
            yield cur

    # -- files ---------------------------------------------------------------------------------

    async def create_file(self, new: NewFile) -> bool:
        """Record a claimed file in state ``received``; False if the id is already known."""
        now = stamp(self.clock)
        async with self._transaction():
            cur = await self._db.execute(
                "INSERT OR IGNORE INTO files (id, company, user, name, sandbox, sha256, size,"
                " received_at, spool_path, state, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'received', ?)",
                (
                    new.id,
                    new.company,
                    new.user,
                    new.name,
                    int(new.sandbox),
                    new.sha256,
                    new.size,
                    new.received_at,
                    new.spool_path,
                    now,
                ),
            )
            created = cur.rowcount == 1
            if created:
                await self._db.execute(INSERT_EVENT, (new.id, new.id, now, None, "received", "{}"))
        return created

    async def get_file(self, file_id: str) -> FileRow | None:
        """The file with ``file_id``."""
        async with self._query("SELECT * FROM files WHERE id = ?", (file_id,)) as cur:
            row = await cur.fetchone()
        return FileRow.from_sql(row) if row else None

    async def find_original(self, row: FileRow) -> FileRow | None:
        """The first file of the same company and sandbox with the same bytes received before
        ``row`` that is not itself a duplicate and was not withdrawn (bytes submitted again
        after their file was withdrawn are assessed and booked afresh)."""
        async with self._query(
            "SELECT * FROM files WHERE company = ? AND sandbox = ? AND sha256 = ?"
            " AND duplicate_of IS NULL AND (received_at < ? OR (received_at = ? AND id < ?))"
            " AND id NOT IN (SELECT file_id FROM withdrawals)"
            " ORDER BY received_at, id LIMIT 1",
            (row.company, int(row.sandbox), row.sha256, row.received_at, row.received_at, row.id),
        ) as cur:
            found = await cur.fetchone()
        return FileRow.from_sql(found) if found else None

    async def files_in_states(self, states: Iterable[str]) -> list[FileRow]:
        """Files in any of ``states``, oldest first."""
        wanted = list(states)
        marks = ",".join("?" * len(wanted))
        async with self._query(
            f"SELECT * FROM files WHERE state IN ({marks}) ORDER BY received_at, id",
            wanted,
        ) as cur:
            rows = await cur.fetchall()
        return [FileRow.from_sql(r) for r in rows]

    async def transition(
        self,
        file_id: str,
        from_state: str,
        to_state: str,
        detail: dict[str, Any] | None = None,
        **updates: Any,
    ) -> None:
        """Move a file from one state to the next (compare-and-set), recording the event;
        ``findings=[...]`` replaces the file's stored findings in the same transaction."""
        findings: list[Finding] | None = updates.pop("findings", None)
        sql, values = transition_sql(updates)
        now = stamp(self.clock)
        async with self._transaction():
            cur = await self._db.execute(sql, (to_state, now, *values, file_id, from_state))
            if cur.rowcount != 1:
                raise StaleState(f"{file_id} is not in state {from_state}")
            if findings is not None:
                await self._db.execute("DELETE FROM findings WHERE file_id = ?", (file_id,))
                await self._db.executemany(INSERT_FINDING, finding_rows(file_id, findings))
            await self._db.execute(
                INSERT_EVENT,
                (file_id, file_id, now, from_state, to_state, json.dumps(detail or {})),
            )

    async def file_events(self, file_id: str) -> list[tuple[str | None, str]]:
        """(from, to) of every transition of a file, in order."""
        async with self._query(
            "SELECT from_state, to_state FROM file_events WHERE file_id = ? ORDER BY seq",
            (file_id,),
        ) as cur:
            return [(r[0], r[1]) for r in await cur.fetchall()]

    async def findings(self, file_id: str) -> list[Finding]:
        """The stored findings of a file, in order."""
        async with self._query(
            "SELECT * FROM findings WHERE file_id = ? ORDER BY seq", (file_id,)
        ) as cur:
            rows = await cur.fetchall()
        return [
            Finding(
                r["code"],
                Severity(r["severity"]),
                Scope(r["scope"]),
                r["line"],
                r["record_type"],
                r["field"],
                (r["col_start"], r["col_end"]) if r["col_start"] is not None else None,
                r["message"],
            )
            for r in rows
        ]

    async def ledger_count(self, file_id: str | None = None) -> int:
        """Booked (not withdrawn) ledger records, of one file or all."""
        sql, args = "SELECT COUNT(*) FROM ledger WHERE withdrawn = 0", tuple[str, ...]()
        if file_id is not None:
            sql, args = sql + " AND file_id = ?", (file_id,)
        async with self._query(sql, args) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    # -- period closes -------------------------------------------------------------------------

    async def claim_close(self, country: str, period: str, kind: str, reference: str) -> bool:
        """Claim a close: True if this call recorded it as started, or if an earlier attempt
        started it but never completed (it is then restarted with ``reference``); False once the
        close is completed."""
        now = stamp(self.clock)
        async with self._transaction():
            cur = await self._db.execute(
                "INSERT OR IGNORE INTO closes (country, period, kind, reference, started_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (country, period, kind, reference, now),
            )
            if cur.rowcount == 1:
                return True
            cur = await self._db.execute(
                "UPDATE closes SET reference = ?, started_at = ?"
                " WHERE country = ? AND period = ? AND kind = ? AND completed_at IS NULL",
                (reference, now, country, period, kind),
            )
            return cur.rowcount == 1

    async def complete_close(self, country: str, period: str, kind: str, documents: int) -> None:
        """Mark a claimed close completed, with the number of documents it wrote."""
        async with self._transaction():
            cur = await self._db.execute(
                "UPDATE closes SET completed_at = ?, documents = ?"
                " WHERE country = ? AND period = ? AND kind = ? AND completed_at IS NULL",
                (stamp(self.clock), documents, country, period, kind),
            )
            if cur.rowcount != 1:
                raise StaleState(f"close {country} {period} {kind} is not claimed and open")

    async def closes(self) -> list[dict[str, Any]]:
        """Every recorded close (started or completed), by country, period and kind."""
        async with self._query("SELECT * FROM closes ORDER BY country, period, kind") as cur:
            return [dict(r) for r in await cur.fetchall()]

    # -- business events -----------------------------------------------------------------------

    async def record_events(self, events: Iterable[Event]) -> int:
        """Record business events (a key already recorded is skipped); how many were new."""
        rows = event_rows(events, stamp(self.clock))
        if not rows:
            return 0
        async with self._transaction():
            before = self._db.total_changes
            await self._db.executemany(INSERT_EVENT_ROW, rows)
            return self._db.total_changes - before

    # -- audit ---------------------------------------------------------------------------------

    async def audit(
        self,
        event: str,
        *,
        company: str | None = None,
        user: str | None = None,
        session: str | None = None,
        file_id: str | None = None,
        **data: Any,
    ) -> None:
        """Append one audit event (group commit).

        Events queue up while the store is busy and are written together in one transaction:
        the caller waits until its event is committed, but a burst costs one commit, not one
        per event.
        """
        row = (
            stamp(self.clock),
            event,
            company,
            user,
            session,
            file_id,
            json.dumps(data, default=str),
        )
        self._audit_queue.append(row)
        await self._flush_audit(row)

    async def _flush_audit(self, row: tuple[Any, ...] | None = None) -> None:
        """Wait until ``row`` (or every queued event) is committed."""
        while any(r is row for r in self._audit_queue) if row else self._audit_queue:
            if self._audit_flush is None or self._audit_flush.done():
                self._audit_flush = asyncio.ensure_future(self._write_audit())
            await asyncio.shield(self._audit_flush)

    async def _write_audit(self) -> None:
        """Write the queued events in one transaction; they leave the queue only once it is
        committed, so a failure (a full disk) loses none: the next flush writes them."""
        rows = list(self._audit_queue)
        try:
            async with self._transaction():
                await self._db.executemany(
                    "INSERT INTO audit (at, event, company, user, session, file_id, data)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
        except sqlite3.Error as e:
            self.audit_failure = f"{type(e).__name__}: {e}"
            raise AuditWriteError(f"audit events not written ({len(rows)} kept): {e}") from e
        written = {id(r) for r in rows}
        self._audit_queue = [r for r in self._audit_queue if id(r) not in written]
        self.audit_failure = None

    async def flush_audit(self) -> None:
        """Write every queued audit event now (``AuditWriteError`` if the store cannot)."""
        await self._flush_audit()

    @property
    def audit_pending(self) -> int:
        """Audit events waiting to be written (more than a moment: the store is failing)."""
        return len(self._audit_queue)

    async def first_event_at(self, event: str) -> str | None:
        """When ``event`` was first audited (ISO 8601), or None."""
        await self._flush_audit()
        async with self._query("SELECT MIN(at) FROM audit WHERE event = ?", (event,)) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row and row[0] else None

    async def audit_events(self, event: str | None = None) -> list[dict[str, Any]]:
        """Audit events (optionally of one kind), oldest first."""
        await self._flush_audit()
        sql, args = "SELECT * FROM audit", tuple[str, ...]()
        if event:
            sql, args = sql + " WHERE event = ?", (event,)
        async with self._query(sql + " ORDER BY seq", args) as cur:
            rows = await cur.fetchall()
        return [{**dict(r), "data": json.loads(r["data"])} for r in rows]

    async def close(self) -> None:
        """Checkpoint and close (after every pending operation)."""
        await self._flush_audit()
        async with self._lock:
            await self._db.close()


async def open_store(path: Database, clock: Clock = system_clock) -> SqliteStore:
    """Open (creating if needed) the store at ``path`` and bring its schema up to date (a
    ``PgUrl``: the same store on PostgreSQL, its statements run in a worker thread)."""
    if isinstance(path, PgUrl):
        from opencass.store.pg import open_pg

        return SqliteStore(await open_pg(path.url), path, clock)  # type: ignore[arg-type]
    path.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(_migrate_file, path)
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        await conn.execute(pragma)
    return SqliteStore(conn, path, clock)


def _migrate_file(path: Path) -> None:
    conn = connect_sync(path)
    try:
        migrate_sync(conn)
    finally:
        conn.close()


def record_events_now(database: Database, events: Iterable[Event], at: str) -> int:
    """Record business events from a synchronous caller in a transaction of their own (a key
    already recorded is skipped); how many were new."""
    with contextlib.closing(connect_sync(database)) as conn, transaction(conn):
        return record_events(conn, events, at)
