"""Several gateway nodes on one store: their heartbeats, the leases they hold, close locks.

Theory of operation
-------------------
A node (``opencass serve`` with a ``--node`` name) registers in ``nodes`` at start and beats
every few seconds (``heartbeat``).  Work that must be done by one node at a time is leased by
name (``file:<id>``, ``outbox``): ``take_lease`` succeeds when nobody holds the name, when the
caller already does, or when its holder's lease has expired -- the holder stopped beating for
``lease_seconds``.  Each heartbeat renews every lease of its node in the same statement, so a
node that is alive keeps what it holds and a node killed loses it ``lease_seconds`` after its
last beat.  Leases decide who *does* the work; the file states' compare-and-set transitions
and the ledger's unique index still decide what is *booked*, so a node that stalls past its
lease and wakes up cannot book twice.

Closes hold a *session lock* instead (``SessionLock``): on PostgreSQL an advisory lock held by
a connection of its own for the whole run, released by the server when the holder's
connection ends -- however it ends, kill -9 included, as the kernel releases a ``flock``.  Its
holder is written in ``leases`` (``expires`` = ``LOCKED``) for the refusal message and
``cluster status``; on SQLite (one machine) the close keeps its ``flock``.

Times are seconds since the epoch (``time.time()`` of the node writing them): the nodes'
clocks must be synchronised (NTP), as for any lease.  These statements run outside the
one-writer lock (``BEGIN IMMEDIATE``): a heartbeat is never held up by another node's booking.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from opencass.config.database import PgUrl

__all__ = [
    "LOCKED",
    "Lease",
    "NodeInfo",
    "NodeRow",
    "SessionLock",
    "heartbeat",
    "held_elsewhere",
    "leases",
    "live_nodes",
    "lock_holder",
    "nodes",
    "register",
    "release_lease",
    "running_as",
    "stop_node",
    "take_lease",
    "try_session_lock",
]

LOCKED = 1e18  # the ``expires`` of a session lock's row: as long as the holder's connection


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What a node says of itself when it registers and beats."""

    node: str
    host: str
    pid: int
    listen: str
    version: str
    config: str  # the digest of the configuration it runs (``config.loader.config_digest``)


@dataclass(frozen=True, slots=True)
class NodeRow:
    """A node as ``cluster status`` shows it."""

    node: str
    host: str
    pid: int
    listen: str
    version: str
    config: str
    started_at: float
    heartbeat_at: float
    stopped_at: float | None


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease (or a session lock's row, ``expires == LOCKED``)."""

    name: str
    node: str
    taken_at: float
    expires: float
    holder: str


def running_as(
    conn: sqlite3.Connection, node: str, now: float, lease_seconds: float
) -> tuple[str, int] | None:
    """(host, pid) of the node named ``node`` while it beats (not stopped, a beat within
    ``lease_seconds``), else None."""
    row = conn.execute(
        "SELECT host, pid, heartbeat_at, stopped_at FROM nodes WHERE node = ?", (node,)
    ).fetchone()
    if row is None or row[3] is not None or row[2] + lease_seconds < now:
        return None
    return str(row[0]), int(row[1])


def register(conn: sqlite3.Connection, info: NodeInfo, now: float) -> None:
    """Record ``info`` as started now."""
    conn.execute(
        "INSERT INTO nodes (node, host, pid, listen, version, config, started_at,"
        " heartbeat_at, stopped_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)"
        " ON CONFLICT(node) DO UPDATE SET host = excluded.host, pid = excluded.pid,"
        " listen = excluded.listen, version = excluded.version, config = excluded.config,"
        " started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,"
        " stopped_at = NULL",
        (info.node, info.host, info.pid, info.listen, info.version, info.config, now, now),
    )


def heartbeat(
    conn: sqlite3.Connection, node: str, now: float, lease_seconds: float, config: str, listen: str
) -> None:
    """The node is alive: its beat and every lease it holds renewed until now + lease."""
    conn.execute(
        "UPDATE nodes SET heartbeat_at = ?, config = ?, listen = ? WHERE node = ?",
        (now, config, listen, node),
    )
    conn.execute(
        "UPDATE leases SET expires = ? WHERE node = ? AND expires < ?",
        (now + lease_seconds, node, LOCKED),
    )


def stop_node(conn: sqlite3.Connection, node: str, now: float) -> None:
    """An orderly stop: the node's leases released at once, the node marked stopped."""
    conn.execute("DELETE FROM leases WHERE node = ? AND expires < ?", (node, LOCKED))
    conn.execute("UPDATE nodes SET stopped_at = ? WHERE node = ?", (now, node))


def take_lease(
    conn: sqlite3.Connection, name: str, node: str, now: float, lease_seconds: float
) -> bool:
    """Lease ``name`` to ``node`` until now + ``lease_seconds``: True when it is free, already
    the node's, or its holder's lease has expired (one statement: two nodes asking at once
    cannot both win)."""
    cur = conn.execute(
        "INSERT INTO leases (name, node, taken_at, expires) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(name) DO UPDATE SET node = excluded.node, expires = excluded.expires,"
        " taken_at = excluded.taken_at"
        " WHERE leases.node = excluded.node OR leases.expires < excluded.taken_at",
        (name, node, now, now + lease_seconds),
    )
    return cur.rowcount == 1


def release_lease(conn: sqlite3.Connection, name: str, node: str) -> None:
    """Give up ``name`` (if ``node`` holds it)."""
    conn.execute("DELETE FROM leases WHERE name = ? AND node = ?", (name, node))


def held_elsewhere(conn: sqlite3.Connection, prefix: str, node: str, now: float) -> set[str]:
    """Names starting with ``prefix`` leased to another node whose lease runs."""
    rows = conn.execute(
        "SELECT name FROM leases WHERE name >= ? AND name < ? AND node <> ? AND expires >= ?",
        (prefix, prefix + "\U0010ffff", node, now),
    )
    return {r[0] for r in rows}


def live_nodes(conn: sqlite3.Connection, now: float, lease_seconds: float) -> list[str]:
    """Nodes beating within the last ``lease_seconds`` and not stopped."""
    rows = conn.execute(
        "SELECT node FROM nodes WHERE stopped_at IS NULL AND heartbeat_at >= ? ORDER BY node",
        (now - lease_seconds,),
    )
    return [r[0] for r in rows]


def nodes(conn: sqlite3.Connection) -> list[NodeRow]:
    """Every node ever registered, by name."""
    rows = conn.execute(
        "SELECT node, host, pid, listen, version, config, started_at, heartbeat_at,"
        " stopped_at FROM nodes ORDER BY node"
    )
    return [NodeRow(*tuple(r)) for r in rows]


def leases(conn: sqlite3.Connection) -> list[Lease]:
    """Every lease and lock row, by name (expired ones included: the reader judges)."""
    rows = conn.execute("SELECT name, node, taken_at, expires, holder FROM leases ORDER BY name")
    return [Lease(*tuple(r)) for r in rows]


# -- session locks (closes on PostgreSQL) --------------------------------------------------------


def lock_key(name: str) -> int:
    """The advisory lock key of ``name`` (a signed 64-bit integer)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class SessionLock:
    """A held session lock: ``release()`` (or the end of the process) gives it up."""

    def __init__(self, conn: Any, name: str) -> None:
        self._conn = conn
        self.name = name

    def release(self) -> None:
        """Remove the holder's row, unlock, and end the lock's connection.  The unlock is
        explicit: the server ends a closed connection's backend -- and frees its locks -- a
        moment after the client has gone, so a claim made right after a release could
        otherwise still find the lock held."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute("DELETE FROM leases WHERE name = ? AND expires = ?", (self.name, LOCKED))
            conn.execute("SELECT pg_advisory_unlock(?)", (lock_key(self.name),))
        finally:
            conn.close()


def try_session_lock(
    database: PgUrl, name: str, node: str, holder: dict[str, Any], now: float
) -> SessionLock | None:
    """Take the session lock ``name`` on a connection of its own, without waiting: the held
    lock, or None while another connection (any node, any command) holds it."""
    from opencass.store.pg import connect_pg

    conn = connect_pg(database.url)
    try:
        got = conn.execute("SELECT pg_try_advisory_lock(?)", (lock_key(name),)).fetchone()[0]
        if not got:
            conn.close()
            return None
        conn.execute(
            "INSERT INTO leases (name, node, taken_at, expires, holder) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET node = excluded.node, taken_at = excluded.taken_at,"
            " expires = excluded.expires, holder = excluded.holder",
            (name, node, now, LOCKED, json.dumps(holder)),
        )
    except BaseException:
        conn.close()
        raise
    return SessionLock(conn, name)


def lock_holder(database: PgUrl, name: str) -> dict[str, Any]:
    """Who holds the session lock ``name``, as its row says ({} when unknown)."""
    from opencass.store.pg import connect_pg

    conn = connect_pg(database.url)
    try:
        row = conn.execute(
            "SELECT holder FROM leases WHERE name = ? AND expires = ?", (name, LOCKED)
        ).fetchone()
    finally:
        conn.close()
    try:
        return dict(json.loads(row[0])) if row and row[0] else {}
    except ValueError:
        return {}


def held_locks(conn: sqlite3.Connection, names: Iterable[str]) -> set[str]:
    """Which of the session locks ``names`` are held now (PostgreSQL; a row of a lock whose
    holder died without removing it is stale)."""
    keys = {lock_key(n): n for n in names}
    if not keys:
        return set()
    rows = conn.execute(
        "SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks"
        " WHERE locktype = 'advisory' AND granted AND objsubid = 1"
    )
    return {keys[int(r[0])] for r in rows if int(r[0]) in keys}
