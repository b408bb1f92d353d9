"""The PostgreSQL connection (``opencass.store.pg``): the dialect it translates, its rows, one
writer at a time across connections, and a server restart survived."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time

import pytest

from opencass.config.database import PgUrl
from opencass.store.pg import connect_pg, translate
from tests.kit.pg import _start_private, pg_server


@pytest.mark.parametrize(
    ("sqlite", "postgresql"),
    [
        (
            "INSERT OR IGNORE INTO risk_alerts (country) VALUES (?)",
            "INSERT INTO risk_alerts (country) VALUES (%s) ON CONFLICT DO NOTHING",
        ),
        (
            "INSERT OR REPLACE INTO remittance_lines VALUES (?, ?, ?, ?, ?)",
            "INSERT INTO remittance_lines (country, period, agent_code, airline_prefix, amount)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (country, period, agent_code,"
            " airline_prefix) DO UPDATE SET amount = EXCLUDED.amount",
        ),
        (
            "SELECT GROUP_CONCAT(w.user) FROM downloads w WHERE a IS b AND c IS NOT ?",
            "SELECT string_agg((w.\"user\")::text, ',') FROM downloads w"
            " WHERE a IS NOT DISTINCT FROM b AND c IS DISTINCT FROM %s",
        ),
        (
            "SELECT 'a ? b %', x FROM ledger l INDEXED BY ledger_by_awb WHERE y LIKE 'z%' AND"
            " w IS NULL AND v IS NOT NULL",
            "SELECT 'a ? b %%', x FROM ledger l WHERE y LIKE 'z%%' AND w IS NULL AND v IS NOT NULL",
        ),
        (
            "DELETE FROM t WHERE a NOT IN () OR b IN ()",
            "DELETE FROM t WHERE a NOT IN (SELECT NULL WHERE FALSE) OR b IN"
            " (SELECT NULL WHERE FALSE)",
        ),
        (
            "SELECT json_extract(detail, '$.mandate_id') FROM t",
            "SELECT (detail::jsonb ->> 'mandate_id') FROM t",
        ),
        (
            "SELECT users.name, user_access.user FROM users",
            'SELECT users.name, user_access."user" FROM users',
        ),
    ],
)
def test_the_dialect_is_translated(sqlite: str, postgresql: str) -> None:
    assert translate(sqlite) == postgresql


def test_rows_are_read_by_position_and_by_name() -> None:
    conn = connect_pg(pg_server().new_database())
    row = conn.execute("SELECT 1 AS a, 'x' AS b, SUM(2) AS c").fetchone()
    assert (row[0], row["b"], row["c"], row.keys()) == (1, "x", 2, ["a", "b", "c"])
    assert dict(row) == {"a": 1, "b": "x", "c": 2} and row == (1, "x", 2)
    assert isinstance(row["c"], int)  # SUM of integers is NUMERIC: whole, it comes as int
    conn.close()


def test_writers_wait_for_each_other_across_connections() -> None:
    """BEGIN IMMEDIATE is one lock for every connection (and node): the second writer starts
    after the first commits and then reads what it wrote."""
    url = pg_server().new_database()
    first, second = connect_pg(url), connect_pg(url)
    first.execute("BEGIN IMMEDIATE")
    first.execute("INSERT INTO outbox_cursor VALUES ('n', 1)")
    seen: list[object] = []

    def write() -> None:
        second.execute("BEGIN IMMEDIATE")
        seen.append(second.execute("SELECT event_id FROM outbox_cursor").fetchone())
        second.execute("UPDATE outbox_cursor SET event_id = event_id + 1")
        second.execute("COMMIT")

    t = threading.Thread(target=write)
    t.start()
    time.sleep(0.5)
    assert seen == []  # still waiting for the lock
    first.execute("COMMIT")
    t.join(10)
    assert seen == [(1,)]
    assert first.execute("SELECT event_id FROM outbox_cursor").fetchone() == (2,)
    first.close()
    second.close()


def test_a_connection_survives_a_server_restart() -> None:
    """The statement that meets the dropped connection fails; the next one reconnects."""
    server = _start_private()
    try:
        url = server.new_database(empty=True)
        conn = connect_pg(url)
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert server._home is not None and server._stop is not None
        restart = [*server._stop[:-3], "-m", "fast", "-l", str(server._home / "log"), "restart"]
        subprocess.run(restart, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with pytest.raises(sqlite3.OperationalError, match=r"terminat|closed|connection"):
            conn.execute("SELECT 2")
        assert conn.execute("SELECT 3").fetchone() == (3,)
        assert not conn.in_transaction
        conn.close()
    finally:
        server.stop()


def test_a_large_result_is_streamed_through_a_server_side_cursor() -> None:
    """``stream`` reads in batches from a server-side cursor (the close's million rows are
    never held whole): every row in order, by name too; outside a transaction it ends its own,
    read to the end or abandoned; inside one it reads that transaction's rows."""
    conn = connect_pg(pg_server().new_database(empty=True))
    conn.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"v{i}") for i in range(2500)])
    rows = list(conn.stream("SELECT id, v FROM t WHERE id >= ? ORDER BY id", (10,), size=100))
    assert [r[0] for r in rows] == list(range(10, 2500)) and rows[5]["v"] == "v15"
    assert not conn.in_transaction
    half = conn.stream("SELECT id FROM t ORDER BY id", size=100)
    assert [next(half)[0] for _ in range(150)] == list(range(150))
    assert conn.in_transaction  # the stream's own, while it is read
    # a cursor of the server's, not a result held whole by the client
    assert conn.execute("SELECT COUNT(*) FROM pg_cursors").fetchone() == (1,)
    half.close()  # abandoned
    assert not conn.in_transaction
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t VALUES (?, ?)", (9999, "new"))
    assert [r[0] for r in conn.stream("SELECT id FROM t WHERE id > ?", (2000,))][-1] == 9999
    assert conn.in_transaction  # the caller's, left open
    conn.rollback()
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone() == (2500,)
    conn.close()


def test_a_workers_kept_connection_comes_back_clean() -> None:
    """An assessment's connection is kept for the worker's next file (no new backend per
    file), but never carries anything over: an open transaction is rolled back, TEMP tables
    are dropped; a connection the server dropped is made again."""
    from opencass.store.pg import kept_connection

    url = pg_server().new_database()
    first = kept_connection(url)
    backend = first.execute("SELECT pg_backend_pid()").fetchone()[0]
    first.execute("CREATE TEMP TABLE leftover (a INTEGER)")
    first.execute("BEGIN")
    first.execute("INSERT INTO leftover VALUES (1)")
    first.close()  # handed back, not closed
    again = kept_connection(url)
    assert again is first and again.execute("SELECT pg_backend_pid()").fetchone()[0] == backend
    assert again.execute("SELECT to_regclass('pg_temp.leftover')").fetchone()[0] is None
    again.execute("BEGIN")  # no transaction was left open (a nested BEGIN would warn)
    again.execute("ROLLBACK")
    other = connect_pg(url)
    other.execute("SELECT pg_terminate_backend(?)", (backend,))
    other.close()
    time.sleep(0.2)
    third = kept_connection(url)
    third.execute("BEGIN")  # the dropped connection was made again
    assert third.execute("SELECT pg_backend_pid()").fetchone()[0] != backend
    third.execute("ROLLBACK")
    third.close()
    elsewhere = pg_server().new_database()  # another store: another connection
    fourth = kept_connection(elsewhere)
    assert fourth.execute("SELECT current_database()").fetchone()[0] == elsewhere.rsplit("/")[-1]
    fourth._conn.close()  # type: ignore[attr-defined]  # (kept by this test's process)


def test_only_the_pools_workers_keep_their_connection() -> None:
    """A command or a test assessing in its own process opens a connection of its own and
    closes it: a kept one would hold the database open (``CREATE DATABASE … TEMPLATE`` of it
    refused, as the test kit's ``moved_store`` found); a worker of a process pool keeps it."""
    from concurrent.futures import ProcessPoolExecutor

    from opencass.store.booking import connect_for_booking

    url = PgUrl(pg_server().new_database())
    mine = connect_for_booking(url)
    mine.close()
    another = connect_for_booking(url)
    assert another is not mine
    another.close()
    with ProcessPoolExecutor(1) as pool:
        backends = {pool.submit(_booking_backend, url).result() for _ in range(3)}
    assert len(backends) == 1  # one connection for the worker's three jobs


def _booking_backend(url: PgUrl) -> int:
    from opencass.store.booking import connect_for_booking

    conn = connect_for_booking(url)
    try:
        return int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
    finally:
        conn.close()


async def test_the_daemons_connection_is_never_starved_by_threads_waiting_for_its_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The daemon's store holds the write lock across awaits.  While it does, every thread of
    the event loop's default executor may be blocked in a command waiting for that lock; the
    holder's next statement must still run (it has a thread of its own), or each waiter ends
    with a lock timeout instead of its turn."""
    import asyncio
    import os

    from opencass.store import pg

    monkeypatch.setattr(pg, "LOCK_TIMEOUT_MS", 4000)
    url = pg_server().new_database()
    daemon = await pg.open_pg(url)
    await daemon.execute("BEGIN IMMEDIATE")

    def write() -> None:
        conn = connect_pg(url)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE outbox_cursor SET event_id = event_id + 1")
            conn.execute("COMMIT")
        finally:
            conn.close()

    threads = min(32, (os.cpu_count() or 1) + 4)  # the default executor's size
    waiting = [asyncio.ensure_future(asyncio.to_thread(write)) for _ in range(threads + 2)]
    await asyncio.sleep(0.5)  # every thread waits for the lock
    await daemon.execute("INSERT INTO outbox_cursor VALUES ('n', 0)")
    await daemon.execute("COMMIT")
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert [o for o in outcomes if o is not None] == []
    row = await (await daemon.execute("SELECT event_id FROM outbox_cursor")).fetchone()
    assert row[0] == threads + 2
    await daemon.close()
