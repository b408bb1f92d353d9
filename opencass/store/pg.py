"""The store on PostgreSQL (psycopg 3): a connection that serves the store's modules as
sqlite3's does, so that one set of repository functions runs on both engines.

``PgConnection`` takes the store's SQL (SQLite's dialect, ``?`` parameters) and runs it in
PostgreSQL's terms (``translate``): ``INSERT OR IGNORE`` / ``OR REPLACE`` become
``ON CONFLICT`` clauses on the table's primary key, ``INDEXED BY`` hints are dropped (the
planner chooses), ``GROUP_CONCAT`` is ``string_agg``, ``json_extract`` the ``->>`` operator,
``"user"`` is quoted.  Rows are ``Row``: by position and by name, like ``sqlite3.Row``.

Transactions keep SQLite's semantics, across every node sharing the database:
``BEGIN IMMEDIATE`` takes one transaction-scoped advisory lock, so writers are serialised as
SQLite serialises them and what a writer reads inside its transaction is current; a plain
``BEGIN`` (a reader's snapshot) is REPEATABLE READ.  Errors are raised as sqlite3's classes
(``IntegrityError`` for a constraint, ``OperationalError`` otherwise), which is what the
store's callers catch.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import functools
import itertools
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, ClassVar

import psycopg
from psycopg import pq
from psycopg.adapt import Loader

from opencass.store.pg_schema import PG_LATEST, PG_MIGRATIONS, table_layout

__all__ = [
    "WRITE_LOCK",
    "AsyncPgConnection",
    "PgConnection",
    "Row",
    "connect_pg",
    "migrate_pg",
    "open_pg",
    "translate",
]

_CURSORS = itertools.count(1)  # names of server-side cursors (unique per process)
WRITE_LOCK = 0x6F70656E63617373 & 0x7FFFFFFFFFFFFFFF  # "opencass": the one writer's lock


class Row(tuple[Any, ...]):
    """A row by position and by column name (``row["period"]``, ``dict(row)``)."""

    __slots__ = ()
    _names: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """The column names, in order."""
        return list(self._names)


@functools.lru_cache(maxsize=512)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    return type("Row", (Row,), {"__slots__": (), "_names": {n: i for i, n in enumerate(names)}})


def _row_factory(cursor: Any) -> Any:
    desc = cursor.description
    if desc is None:
        return tuple
    cls = _row_class(tuple(d.name for d in desc))
    return cls


class _Numeric(Loader):
    """NUMERIC results (SUM of integers) as int when whole, as SQLite gives them."""

    def load(self, data: Any) -> int | Decimal:
        value = Decimal(bytes(data).decode())
        return int(value) if value == value.to_integral_value() else value


# -- the dialect ------------------------------------------------------------------------------

TABLES = table_layout()

_LITERAL = re.compile(r"('(?:[^']|'')*'|\"[^\"]*\")")
_OR = re.compile(r"^\s*INSERT OR (IGNORE|REPLACE) INTO (\w+)", re.I)
_CONCAT = re.compile(r"GROUP_CONCAT\(([^(),]+)(?:,\s*('[^']*'))?\)", re.I)
_JSON = re.compile(r"json_extract\((\w+), '\$\.(\w+)'\)")
_SUBSTR = re.compile(r"unicode\(substr\(([\w.]+), -(\d+), 1\)\)")


_IS_NOT = re.compile(r"\bIS NOT (?!NULL\b|DISTINCT\b|TRUE\b|FALSE\b)")
_EMPTY_IN = re.compile(r"\bIN \(\s*\)")
_IS = re.compile(r"\bIS (?!NOT\b|NULL\b|DISTINCT\b|TRUE\b|FALSE\b)")


def _q(name: str) -> str:
    return '"user"' if name == "user" else name


def _upsert(table: str, sql: str) -> str:
    cols, key, _ = TABLES[table]
    m = re.match(r"\s*INSERT INTO \w+\s*\(([^)]*)\)", sql)
    given = [c.strip().strip('"') for c in m[1].split(",")] if m else list(cols)
    if not m:
        sql = re.sub(
            r"INTO (\w+)", lambda t: f"INTO {t[1]} ({', '.join(map(_q, cols))})", sql, count=1
        )
    update = ", ".join(f"{_q(c)} = EXCLUDED.{_q(c)}" for c in given if c not in key)
    action = f"DO UPDATE SET {update}" if update else "DO NOTHING"
    return f"{sql.rstrip()} ON CONFLICT ({', '.join(map(_q, key))}) {action}"


def _words(part: str) -> str:
    part = part.replace("?", "%s")
    part = re.sub(r"\s+INDEXED BY \w+", "", part)
    part = part.replace("CROSS JOIN", "JOIN").replace(" WITHOUT ROWID", "")
    part = _IS_NOT.sub("IS DISTINCT FROM ", part)  # SQLite's IS: equal, NULL included
    part = _IS.sub("IS NOT DISTINCT FROM ", part)
    part = _EMPTY_IN.sub("IN (SELECT NULL WHERE FALSE)", part)  # SQLite's empty list
    return re.sub(r"(?<![\w\"])user(?![\w\"])", '"user"', part)


@functools.lru_cache(maxsize=2048)
def translate(sql: str) -> str:
    """The store's SQLite statement ``sql`` in PostgreSQL's dialect (``%s`` parameters)."""
    sql = sql.replace("%", "%%")
    sql = _CONCAT.sub(lambda m: f"string_agg(({m[1]})::text, {m[2] or repr(',')})", sql)
    sql = _JSON.sub(r"(\1::jsonb ->> '\2')", sql)
    sql = _SUBSTR.sub(r"ascii(substr(\1, length(\1) - \2 + 1, 1))", sql)
    conflict = _OR.match(sql)
    if conflict:
        sql = sql[: conflict.start()] + f"INSERT INTO {conflict[2]}" + sql[conflict.end() :]
    sql = "".join(part if i % 2 else _words(part) for i, part in enumerate(_LITERAL.split(sql)))
    if conflict and conflict[1].upper() == "IGNORE":
        sql = f"{sql.rstrip()} ON CONFLICT DO NOTHING"
    elif conflict:
        sql = _upsert(conflict[2], sql)
    return sql


_INSERT = re.compile(r"^\s*INSERT INTO (\w+)", re.I)


@functools.lru_cache(maxsize=2048)
def _returning(sql: str) -> str | None:
    """``sql`` with its new row's identity returned (for ``lastrowid``), or None.  Only an
    INSERT of VALUES: an INSERT … SELECT may add a million rows (a booking), none returned."""
    m = _INSERT.match(sql)
    upper = sql.upper()
    if not m or "RETURNING" in upper or "SELECT" in upper or m[1] not in TABLES:
        return None
    identity = TABLES[m[1]][2]
    return f"{sql} RETURNING {identity}" if identity else None


# -- the connection ---------------------------------------------------------------------------


def _error(e: psycopg.Error) -> sqlite3.Error:
    """``e`` as the sqlite3 error class the store's callers catch."""
    integrity = isinstance(e, psycopg.errors.IntegrityError)
    kind = sqlite3.IntegrityError if integrity else sqlite3.OperationalError
    diag = getattr(e, "diag", None)
    out = kind((diag and diag.message_primary) or str(e).strip())
    out.__cause__ = e
    return out


class PgCursor:
    """The result of one statement: rows, ``rowcount`` and ``lastrowid`` as sqlite3 gives them."""

    __slots__ = ("_rows", "description", "lastrowid", "rowcount")

    def __init__(
        self,
        rows: list[Any],
        rowcount: int,
        lastrowid: int | None = None,
        description: list[tuple[Any, ...]] | None = None,
    ) -> None:
        self._rows = collections.deque(rows)  # taken from the front: each row once, O(1)
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        self.description = description  # DB-API: (name, None × 6) per column, as sqlite3

    def fetchone(self) -> Any:
        """The next row, or None."""
        return self._rows.popleft() if self._rows else None

    def fetchall(self) -> list[Any]:
        """Every row left."""
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def fetchmany(self, size: int = 1) -> list[Any]:
        """Up to ``size`` rows."""
        take = self._rows.popleft
        return [take() for _ in range(min(size, len(self._rows)))]

    def __iter__(self) -> Iterator[Any]:
        while self._rows:
            yield self._rows.popleft()

    def close(self) -> None:
        """Nothing to release (the rows are fetched)."""


class PgConnection:
    """A psycopg connection in autocommit mode behaving, for the store, as ``connect_sync``'s
    sqlite3 connection does (``BEGIN IMMEDIATE`` / ``COMMIT`` explicitly)."""

    def __init__(self, conn: psycopg.Connection[Any], url: str) -> None:
        self._conn = conn
        self.url = url
        self.total_changes = 0
        self.row_factory: Any = None  # sqlite3's attribute: rows are always ``Row`` here

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (BEGIN without COMMIT or ROLLBACK yet; not on a
        connection the server dropped: its transaction is gone)."""
        return self._in_work

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> PgCursor:
        """Run one statement (SQLite's dialect)."""
        head = sql.lstrip()[:16].upper()
        if head.startswith("PRAGMA"):
            return PgCursor([], -1)
        if head.startswith("BEGIN"):
            return self._begin(head)
        text = translate(sql)
        returning = _returning(text)
        self._reconnect_if_lost()
        try:
            cur = self._conn.execute(returning or text, _params(params))
            rows = cur.fetchall() if cur.description is not None else []
        except psycopg.Error as e:
            raise _error(e) from e
        count = cur.rowcount
        if count > 0 and not head.startswith("SELECT"):
            self.total_changes += count
        if returning:
            return PgCursor([], count, rows[-1][0] if rows else None)
        names = [(d.name, *(None,) * 6) for d in cur.description or ()]
        return PgCursor(rows, count, None, names or None)

    def stream(self, sql: str, params: Sequence[Any] = (), size: int = 10_000) -> Iterator[Any]:
        """The rows of a query (SQLite's dialect) read in batches of ``size`` through a
        server-side cursor: a large result is never held whole, as ``execute``'s is (the
        close reads a period's million rows this way).  Outside a transaction the query runs
        in a REPEATABLE READ one of its own, ended when the rows are read or abandoned."""
        self._reconnect_if_lost()
        own = not self._in_work
        try:
            if own:
                self._conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            with self._conn.cursor(name=f"opencass_rows_{next(_CURSORS)}") as cur:
                cur.itersize = size
                cur.execute(translate(sql), _params(params))
                while batch := cur.fetchmany(size):
                    yield from batch
        except psycopg.Error as e:
            raise _error(e) from e
        finally:
            if own and self._in_work and not self._conn.closed:
                with contextlib.suppress(psycopg.Error):
                    self._conn.execute("ROLLBACK")  # a reader's transaction: nothing to keep

    def _reconnect_if_lost(self) -> None:
        """A connection the server dropped (a restart, a failover) is made again before the
        next statement that starts work; inside a transaction the loss is the caller's error
        (the transaction is gone), and the statement after its end reconnects."""
        if not self._conn.broken and not self._conn.closed:
            return
        if self._in_work:
            return
        try:
            fresh = _open(self.url)
        except psycopg.Error as e:
            raise _error(e) from e
        self._conn = fresh

    @property
    def _in_work(self) -> bool:
        return self._conn.info.transaction_status not in (
            pq.TransactionStatus.IDLE,
            pq.TransactionStatus.UNKNOWN,
        )

    def _begin(self, head: str) -> PgCursor:
        self._reconnect_if_lost()
        try:
            if "IMMEDIATE" in head or "EXCLUSIVE" in head:
                self._conn.execute("BEGIN")
                self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            else:
                self._conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        except psycopg.Error as e:
            raise _error(e) from e
        return PgCursor([], -1)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> PgCursor:
        """Run one statement for each of ``rows``."""
        batch = [_params(r) for r in rows]
        if not batch:
            return PgCursor([], 0)
        self._reconnect_if_lost()
        try:
            with self._conn.cursor() as cur:
                cur.executemany(translate(sql), batch)
                count = cur.rowcount
        except psycopg.Error as e:
            raise _error(e) from e
        self.total_changes += max(count, 0)
        return PgCursor([], count)

    def copy_rows(
        self, table: str, rows: Iterable[Sequence[Any]], columns: Sequence[str] = ()
    ) -> None:
        """Add ``rows`` to ``table`` (``columns``, by default every column in order) with
        COPY: the bulk path."""
        names = f" ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in columns)})" if columns else ""
        try:
            with self._conn.cursor() as cur, cur.copy(f"COPY {table}{names} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as e:
            raise _error(e) from e

    def executescript(self, script: str) -> None:
        """Run several statements (no parameters), as they are: PostgreSQL's dialect."""
        try:
            self._conn.execute(script.encode())
        except psycopg.Error as e:
            raise _error(e) from e

    def commit(self) -> None:
        """Commit the open transaction, if any."""
        if self.in_transaction:
            self._conn.execute("COMMIT")

    def rollback(self) -> None:
        """Roll back the open transaction, if any."""
        if self.in_transaction:
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        """Close the connection (an open transaction is rolled back)."""
        self._conn.close()

    def __del__(self) -> None:
        # as sqlite3's connection: one dropped without close() is closed, silently
        conn = getattr(self, "_conn", None)
        if conn is not None and not conn.closed:
            conn.close()

    def __enter__(self) -> PgConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.commit()
        else:
            self.rollback()


def _params(params: Sequence[Any] | dict[str, Any]) -> Any:
    """sqlite3's parameters as PostgreSQL takes them: booleans as 0/1 (SQLite's integers)."""
    if isinstance(params, dict):
        return params
    return [int(p) if isinstance(p, bool) else p for p in params]


#: as SQLite's busy_timeout: a writer that waits a minute for the lock gives up with an error
LOCK_TIMEOUT_MS = 60_000


def _open(url: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(
        url,
        autocommit=True,
        row_factory=_row_factory,
        options=f"-c lock_timeout={LOCK_TIMEOUT_MS}",
    )
    conn.adapters.register_loader("numeric", _Numeric)
    return conn


def connect_pg(url: str) -> PgConnection:
    """A connection to the PostgreSQL store at ``url`` (autocommit; BEGIN explicitly)."""
    try:
        conn = _open(url)
    except psycopg.Error as e:
        raise _error(e) from e
    return PgConnection(conn, url)


class KeptConnection(PgConnection):
    """A connection a worker keeps between jobs (``kept_connection``): ``close()`` hands it
    back clean -- an open transaction rolled back, its TEMP tables dropped -- instead of
    closing it; one that fails to come back clean is closed, and made again next time."""

    def close(self) -> None:
        try:
            if self._in_work:
                self._conn.execute("ROLLBACK")
            self._conn.execute("DISCARD TEMP")
        except psycopg.Error:
            self._conn.close()

    def stale(self, url: str) -> bool:
        """Another store's, closed, or dropped by the server (a restart, a failover: found by
        a round trip, as the connection itself learns of it only when next used)."""
        if self.url != url or self._conn.closed or self._conn.broken:
            return True
        try:
            self._conn.execute("SELECT 1")
        except psycopg.Error:
            return True
        return False


_KEPT: dict[tuple[int, int], KeptConnection] = {}


def kept_connection(url: str) -> PgConnection:
    """This process's and thread's connection to the store at ``url``, kept between the files
    a worker assesses: opening one costs PostgreSQL a backend process and ~7 ms here, a
    tenth of a small file's whole intake.  One per thread; another URL replaces it."""
    key = (os.getpid(), threading.get_ident())
    conn = _KEPT.get(key)
    if conn is None or conn.stale(url):
        if conn is not None:
            conn._conn.close()
        try:
            conn = _KEPT[key] = KeptConnection(_open(url), url)
        except psycopg.Error as e:
            raise _error(e) from e
    return conn


def migrate_pg(conn: PgConnection) -> int:
    """Apply missing migrations; returns the schema version.  Two nodes starting together
    migrate one after the other (the writer's lock)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executescript("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        current = row[0] or 0
        for version, sql in PG_MIGRATIONS:
            if version > current:
                conn.executescript(sql)
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version VALUES (?)", (version,))
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return PG_LATEST


# -- the asyncio side -------------------------------------------------------------------------


class _AsyncCursor:
    """A ``PgCursor`` as aiosqlite's cursor is used (awaited fetches)."""

    __slots__ = ("_cur",)

    def __init__(self, cur: PgCursor) -> None:
        self._cur = cur

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cur.lastrowid

    async def fetchone(self) -> Any:
        return self._cur.fetchone()

    async def fetchall(self) -> list[Any]:
        return self._cur.fetchall()


class _Pending:
    """A statement sent to the connection's thread: awaited, or used as ``async with``."""

    __slots__ = ("_call", "_thread")

    def __init__(self, thread: ThreadPoolExecutor, call: Any) -> None:
        self._thread = thread
        self._call = call

    def __await__(self) -> Any:
        return self._run().__await__()

    async def _run(self) -> _AsyncCursor:
        return _AsyncCursor(await _on(self._thread, self._call))

    async def __aenter__(self) -> _AsyncCursor:
        return await self._run()

    async def __aexit__(self, *exc: object) -> None:
        return None


async def _on(thread: ThreadPoolExecutor, call: Any) -> Any:
    """``call()`` on ``thread`` (with the caller's context variables, as ``to_thread``)."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(thread, context.run, call)


class AsyncPgConnection:
    """``PgConnection`` for the daemon's asyncio store, as the store uses aiosqlite's
    connection: each statement runs on the connection's own thread (the event loop never
    waits on the server); the store's lock keeps one statement at a time.

    A thread of its own, as aiosqlite has: the store holds the write lock across awaits, and
    the loop's shared executor may meanwhile be filled with commands waiting for that very
    lock -- the holder's next statement would then queue behind them until each gave up."""

    def __init__(self, conn: PgConnection) -> None:
        self._conn = conn
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opencass-store")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Pending:
        return _Pending(self._thread, functools.partial(self._conn.execute, sql, params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> _Pending:
        return _Pending(self._thread, functools.partial(self._conn.executemany, sql, list(rows)))

    @property
    def total_changes(self) -> int:
        return self._conn.total_changes

    async def close(self) -> None:
        try:
            await _on(self._thread, self._conn.close)
        finally:
            self._thread.shutdown(wait=False)


async def open_pg(url: str) -> AsyncPgConnection:
    """The daemon's connection to the PostgreSQL store at ``url``, its schema brought up to
    date."""

    def _migrated() -> PgConnection:
        conn = connect_pg(url)
        migrate_pg(conn)
        return conn

    return AsyncPgConnection(await asyncio.to_thread(_migrated))
