"""Nodes and leases in the store (``opencass.store.cluster``), on both backends; close locks
across processes on PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from datetime import datetime
from typing import Any

import pytest

from opencass.billing.closelock import CloseBusy, take_close
from opencass.store import cluster
from opencass.store.connect import Database, PgUrl, connect_migrated
from tests.kit.pg import pg_server

LEASE = 30.0
T0 = 1_800_000_000.0  # lease time is the machines' epoch seconds, given here


def _info(node: str, pid: int = 1) -> cluster.NodeInfo:
    return cluster.NodeInfo(node, "host-a", pid, "127.0.0.1:2222", "0.1.0", "abc")


def test_a_lease_is_held_until_its_holder_stops_beating(db: Database) -> None:
    with contextlib.closing(connect_migrated(db)) as conn:
        for name in ("a", "b"):
            cluster.register(conn, _info(name), T0)
        assert cluster.take_lease(conn, "file:F1", "a", T0, LEASE)
        assert cluster.take_lease(conn, "file:F1", "a", T0 + 1, LEASE)  # its own, again
        assert not cluster.take_lease(conn, "file:F1", "b", T0 + 2, LEASE)
        assert cluster.held_elsewhere(conn, "file:", "b", T0 + 2) == {"file:F1"}
        assert cluster.held_elsewhere(conn, "file:", "a", T0 + 2) == set()
        assert cluster.held_elsewhere(conn, "outbox", "b", T0 + 2) == set()
        # a beats at T0+25: its lease runs to T0+55, so b still cannot take it at T0+40
        cluster.heartbeat(conn, "a", T0 + 25, LEASE, "abc", "127.0.0.1:2222")
        assert not cluster.take_lease(conn, "file:F1", "b", T0 + 40, LEASE)
        assert cluster.live_nodes(conn, T0 + 40, LEASE) == ["a"]  # b never beat after T0
        # a stops beating: at T0+56 its lease has run out and b takes the file over
        assert cluster.take_lease(conn, "file:F1", "b", T0 + 56, LEASE)
        assert not cluster.take_lease(conn, "file:F1", "a", T0 + 57, LEASE)
        assert cluster.held_elsewhere(conn, "file:", "a", T0 + 57) == {"file:F1"}
        [lease] = cluster.leases(conn)
        assert (lease.node, lease.taken_at, lease.expires) == ("b", T0 + 56, T0 + 56 + LEASE)
        cluster.release_lease(conn, "file:F1", "a")  # not a's: nothing happens
        assert len(cluster.leases(conn)) == 1
        cluster.release_lease(conn, "file:F1", "b")
        assert cluster.leases(conn) == []


def test_an_orderly_stop_releases_at_once(db: Database) -> None:
    with contextlib.closing(connect_migrated(db)) as conn:
        cluster.register(conn, _info("a", pid=41), T0)
        assert cluster.running_as(conn, "a", T0 + 5, LEASE) == ("host-a", 41)
        assert cluster.take_lease(conn, "outbox", "a", T0, LEASE)
        cluster.stop_node(conn, "a", T0 + 1)
        assert cluster.leases(conn) == []
        assert cluster.running_as(conn, "a", T0 + 2, LEASE) is None
        assert cluster.live_nodes(conn, T0 + 2, LEASE) == []
        [row] = cluster.nodes(conn)
        assert (row.node, row.stopped_at, row.pid) == ("a", T0 + 1, 41)
        cluster.register(conn, _info("a", pid=42), T0 + 3)  # started again
        assert cluster.running_as(conn, "a", T0 + 4, LEASE) == ("host-a", 42)
        assert cluster.running_as(conn, "a", T0 + 3 + LEASE + 1, LEASE) is None  # lost


def test_two_nodes_racing_for_one_lease_one_wins(db: Database) -> None:
    """Many threads on their own connections ask for the same names at once: each name is
    won by exactly one."""
    names = [f"file:F{i}" for i in range(40)]
    won: dict[str, list[str]] = {n: [] for n in names}
    start = threading.Barrier(4, timeout=60)
    connect_migrated(db).close()  # the schema first

    def race(node: str) -> None:
        with contextlib.closing(connect_migrated(db)) as conn:
            start.wait()
            for name in names:
                if cluster.take_lease(conn, name, node, T0, LEASE):
                    won[name].append(node)

    threads = [threading.Thread(target=race, args=(f"n{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(w) == 1 for w in won.values()), won


_HOLD = """
import sys, time
from datetime import datetime
from typing import Any
from opencass.billing.closelock import take_close
from opencass.config.database import PgUrl
held = take_close(PgUrl(sys.argv[1]), None, "DE", "20261101M", "final",
                  by="a test's close", since=datetime(2026, 12, 1))
print("held", flush=True)
time.sleep(600)
"""


def test_a_close_lock_is_released_when_its_holder_is_killed() -> None:
    """The close lock on PostgreSQL: another process holding it is named in the refusal;
    killed with -9, its lock is free at once (the server ends its session)."""
    url = PgUrl(pg_server().new_database())
    since = datetime(2026, 12, 1)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, url.url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(CloseBusy, match=rf"a test's close \(.*process {holder.pid},"):
            take_close(url, None, "DE", "20261101M", "final", by="me", since=since)  # type: ignore[arg-type]
        other = take_close(url, None, "DE", "20261101M", "prelim", by="me", since=since)  # type: ignore[arg-type]
        other.release()  # another stage is another lock
        with contextlib.closing(connect_migrated(url)) as conn:
            locks = [x.name for x in cluster.leases(conn) if x.expires >= cluster.LOCKED]
            assert locks == ["close:DE:20261101M:final"]
            assert cluster.held_locks(conn, locks) == set(locks)
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    mine = take_close(url, None, "DE", "20261101M", "final", by="me", since=since)  # type: ignore[arg-type]
    with contextlib.closing(connect_migrated(url)) as conn:
        [row] = cluster.leases(conn)
        assert row.node == f"{os.uname().nodename}:{os.getpid()}"
    mine.release()
    with contextlib.closing(connect_migrated(url)) as conn:
        assert cluster.leases(conn) == []


def test_a_negative_lock_key_is_found_held() -> None:
    """Advisory lock keys are signed 64-bit: a key with the high bit set is read back."""
    url = PgUrl(pg_server().new_database())
    name = next(
        f"close:X:{i}:final" for i in range(100) if cluster.lock_key(f"close:X:{i}:final") < 0
    )
    lock = cluster.try_session_lock(url, name, "n", {"by": "t"}, T0)
    assert lock is not None
    assert cluster.try_session_lock(url, name, "m", {}, T0) is None
    with contextlib.closing(connect_migrated(url)) as conn:
        assert cluster.held_locks(conn, [name, "close:Y:1:final"]) == {name}
    lock.release()
    again = cluster.try_session_lock(url, name, "m", {}, T0)
    assert again is not None
    again.release()


def test_a_released_lock_is_free_before_its_connection_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A claim made right after a release succeeds: the release unlocks on the server before
    it returns.  (A closed connection's backend frees its locks a moment after the client has
    gone, which once made a second close, run at once after the first, report "running".)
    The fault injected: the lock's connection is not ended until later."""
    from opencass.store import pg

    url = PgUrl(pg_server().new_database())
    kept: list[Any] = []
    real = pg.connect_pg

    def slow_to_end(address: str) -> Any:
        conn = real(address)
        kept.append(conn)
        monkeypatch.setattr(conn, "close", lambda: None)
        return conn

    monkeypatch.setattr(pg, "connect_pg", slow_to_end)
    try:
        lock = cluster.try_session_lock(url, "close:DE:20261101M:final", "n", {"by": "t"}, T0)
        assert lock is not None
        lock.release()
        monkeypatch.setattr(pg, "connect_pg", real)
        again = cluster.try_session_lock(url, "close:DE:20261101M:final", "m", {}, T0)
        assert again is not None
        again.release()
    finally:
        for conn in kept:
            conn._conn.close()
