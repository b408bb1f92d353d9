"""The durable delivery queue in the store: fan-out, claims, retries, dead letters, downloads.

Theory of operation
-------------------
The dispatcher reads ``events`` in id order from a cursor kept in ``outbox_cursor``.  For each
event it plans the deliveries (``opencass.outbox.notify.plan``) and inserts them into
``deliveries`` in the same transaction that advances the cursor, so an event is fanned out
exactly once: a crash before the commit repeats the fan-out, after it nothing is lost.  A row is
one file to one place: (event, subscriber, channel, file name) is unique.

Deliveries of one subscriber and channel (a *lane*) go out in id order: only the oldest pending
row of a lane may be attempted.  A failure sets ``next_at`` by exponential backoff and keeps the
lane waiting (later rows queue behind it); after ``max_attempts`` failures, or a failure a retry
cannot cure, the row is a dead letter (``state = 'dead'``) and the lane moves on.  ``retry``
makes a dead letter pending again, first in its lane's order.

Writing a file twice is harmless: names are fixed by the event, mailbox files are written by
atomic rename, pushes are idempotent; a crash between the write and ``delivered`` repeats the
write and still leaves exactly one file.

Synchronous, on a ``sqlite3`` connection (``connect_sync``): the service runs these in its
database thread, the ``opencass outbox`` command against the file while the gateway runs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opencass.events import Event, EventType, event
from opencass.store.events import StoredEvent, record_events, stored_event
from opencass.store.tx import transaction

__all__ = [
    "CURSOR",
    "Delivery",
    "Planned",
    "advance",
    "backoff",
    "company_status",
    "cursor",
    "dead_letters",
    "due_lanes",
    "failed",
    "mark_delivered",
    "record_download",
    "retry",
    "uncollected",
]

CURSOR = "dispatcher"
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"

_EVENT_COLUMNS = (
    "e.id, e.at, e.key, e.type, e.company, e.country, e.period, e.airline_prefix, e.agent_code,"
    " e.object_kind, e.object_ref, e.document, e.summary, e.data"
)


_LANE_SQL = f"""
    SELECT d.id, d.company, d.channel, d.kind, d.name, d.source, d.attempts, d.next_at,
        {_EVENT_COLUMNS}
    FROM deliveries d JOIN events e ON e.id = d.event_id
    WHERE d.company = ? AND d.channel = ? AND d.state = 'pending' ORDER BY d.id LIMIT ?
"""
_DUE_SQL = f"""
    SELECT d.id, d.company, d.channel, d.kind, d.name, d.source, d.attempts, {_EVENT_COLUMNS}
    FROM deliveries d JOIN events e ON e.id = d.event_id
    WHERE d.state = 'pending' AND d.channel = ? AND d.next_at <= ?
      AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.company = d.company
          AND x.channel = d.channel AND x.state = 'pending' AND x.id < d.id AND x.next_at > ?)
    ORDER BY d.id LIMIT ?
"""
_DEAD_SQL = """
    SELECT d.id, d.company, d.channel, d.kind, d.name, d.attempts, d.last_error, e.type,
        e.id AS event_id
    FROM deliveries d JOIN events e ON e.id = d.event_id
    WHERE d.state = 'dead' {where} ORDER BY d.id
"""


@dataclass(frozen=True, slots=True)
class Planned:
    """One delivery to create: a file for a subscriber through a channel."""

    company: str
    channel: str  # mailbox | push
    kind: str  # notification | summary | document
    name: str  # the file name at the destination
    source: str = ""  # document: its path below the mailboxes directory


@dataclass(frozen=True, slots=True)
class Delivery:
    """A queued delivery with its event."""

    id: int
    company: str
    channel: str
    kind: str
    name: str
    source: str
    attempts: int
    event: StoredEvent


def iso(t: datetime) -> str:
    """The stored form of a time (UTC ISO 8601 with microseconds)."""
    return t.isoformat(timespec="microseconds")


def backoff(attempts: int, base: float, most: float) -> float:
    """Seconds to wait after failure number ``attempts``: base, 2·base, 4·base, ... ≤ ``most``."""
    return float(min(most, base * (2 ** max(0, attempts - 1))))


# -- the dispatcher's cursor and fan-out ----------------------------------------------------------


def cursor(conn: sqlite3.Connection, name: str = CURSOR) -> int:
    """The id of the last event fanned out (0 before the first)."""
    row = conn.execute("SELECT event_id FROM outbox_cursor WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


def advance(
    conn: sqlite3.Connection,
    plans: Sequence[tuple[int, Sequence[Planned]]],
    now: datetime,
    name: str = CURSOR,
) -> int:
    """Insert the deliveries of events (id, plans) and move the cursor past the last, in one
    transaction; the number of new deliveries."""
    if not plans:
        return 0
    at = iso(now)
    rows = [
        (event_id, p.company, p.channel, p.kind, p.name, p.source, at, at)
        for event_id, planned in plans
        for p in planned
    ]
    with transaction(conn):
        before = conn.total_changes
        conn.executemany(
            "INSERT OR IGNORE INTO deliveries (event_id, company, channel, kind, name, source,"
            " next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        added = conn.total_changes - before
        conn.execute(
            "INSERT INTO outbox_cursor (name, event_id) VALUES (?, ?)"
            " ON CONFLICT(name) DO UPDATE SET event_id = excluded.event_id"
            " WHERE excluded.event_id > outbox_cursor.event_id",
            (name, plans[-1][0]),
        )
    return added


def latest_event(conn: sqlite3.Connection) -> int:
    """The highest event id (0 without events)."""
    row = conn.execute("SELECT MAX(id) FROM events").fetchone()
    return int(row[0] or 0)


# -- claiming and finishing -----------------------------------------------------------------------


def _delivery(row: Sequence[Any]) -> Delivery:
    return Delivery(
        id=int(row[0]),
        company=row[1],
        channel=row[2],
        kind=row[3],
        name=row[4],
        source=row[5],
        attempts=int(row[6]),
        event=stored_event(tuple(row[7:])),
    )


def due_lanes(
    conn: sqlite3.Connection, now: datetime, channel: str, limit: int = 1000
) -> list[tuple[str, str]]:
    """Lanes (company, channel) of ``channel`` whose oldest pending delivery is due."""
    sql = (
        "SELECT d.company, d.channel FROM deliveries d WHERE d.state = 'pending'"
        " AND d.channel = ? AND d.id = (SELECT MIN(x.id) FROM deliveries x"
        " WHERE x.company = d.company AND x.channel = d.channel AND x.state = 'pending')"
        " AND d.next_at <= ? ORDER BY d.id LIMIT ?"
    )
    return [(r[0], r[1]) for r in conn.execute(sql, (channel, iso(now), limit))]


def due_in_order(
    conn: sqlite3.Connection, now: datetime, channel: str, limit: int = 2000
) -> list[Delivery]:
    """Due pending deliveries of ``channel`` across lanes, oldest first, leaving out every row
    that waits behind an earlier pending row of its lane not yet due (lane order holds when
    the caller delivers them in this order and skips a lane's rest after a failure)."""
    at = iso(now)
    return [_delivery(tuple(r)) for r in conn.execute(_DUE_SQL, (channel, at, at, limit))]


def lane_head(
    conn: sqlite3.Connection, company: str, channel: str, now: datetime, limit: int = 100
) -> list[Delivery]:
    """The lane's pending deliveries in order, stopping before the first one not yet due."""
    sql = _LANE_SQL
    out = []
    at = iso(now)
    for row in conn.execute(sql, (company, channel, limit)):
        if row[7] > at:
            break
        out.append(_delivery(tuple(row[:7]) + tuple(row[8:])))
    return out


def mark_delivered(conn: sqlite3.Connection, ids: Iterable[int], now: datetime) -> None:
    """Record deliveries as done (one transaction)."""
    at = iso(now)
    with transaction(conn):
        conn.executemany(
            "UPDATE deliveries SET state = 'delivered', delivered_at = ?, last_error = NULL,"
            " attempts = attempts + 1 WHERE id = ? AND state = 'pending'",
            [(at, i) for i in ids],
        )


def failed(
    conn: sqlite3.Connection,
    delivery_id: int,
    error: str,
    now: datetime,
    *,
    retryable: bool,
    max_attempts: int,
    base: float,
    most: float,
) -> str:
    """Record a failed attempt: pending again after a backoff, or dead; the new state."""
    with transaction(conn):
        row = conn.execute(
            "SELECT attempts FROM deliveries WHERE id = ?", (delivery_id,)
        ).fetchone()
        attempts = int(row[0]) + 1 if row else 1
        dead = not retryable or attempts >= max_attempts
        state = DEAD if dead else PENDING
        when = now + timedelta(seconds=0 if dead else backoff(attempts, base, most))
        conn.execute(
            "UPDATE deliveries SET attempts = ?, state = ?, next_at = ?, last_error = ?"
            " WHERE id = ? AND state = 'pending'",
            (attempts, state, iso(when), error[:500], delivery_id),
        )
    return state


def retry(conn: sqlite3.Connection, delivery_id: int, now: datetime) -> bool:
    """Make a dead letter pending again, due now, with a fresh attempt count; False if it is
    not a dead letter."""
    with transaction(conn):
        cur = conn.execute(
            "UPDATE deliveries SET state = 'pending', attempts = 0, next_at = ?"
            " WHERE id = ? AND state = 'dead'",
            (iso(now), delivery_id),
        )
    return cur.rowcount == 1


# -- what operators see ---------------------------------------------------------------------------


def _rows(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
    cur = conn.execute(sql, args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur]


def dead_letters(conn: sqlite3.Connection, company: str | None = None) -> list[dict[str, Any]]:
    """Dead deliveries (of one company or all), oldest first."""
    where, args = ("AND d.company = ?", [company]) if company else ("", [])
    return _rows(conn, _DEAD_SQL.format(where=where), args)


def counts(conn: sqlite3.Connection, company: str | None = None) -> dict[str, dict[str, int]]:
    """Deliveries by channel and state (of one company or all)."""
    where, args = ("WHERE company = ?", [company]) if company else ("", [])
    out: dict[str, dict[str, int]] = {}
    sql = f"SELECT channel, state, COUNT(*) FROM deliveries {where} GROUP BY channel, state"
    for channel, state, n in conn.execute(sql, args):
        out.setdefault(channel, {})[state] = int(n)
    return out


def company_status(conn: sqlite3.Connection, company: str, limit: int = 50) -> dict[str, Any]:
    """One company's deliveries (pending, delivered, dead) and documents (collected or not)."""
    deliveries = _rows(
        conn,
        "SELECT d.id, d.channel, d.kind, d.name, d.state, d.attempts, d.next_at, d.delivered_at,"
        " d.last_error, e.type FROM deliveries d JOIN events e ON e.id = d.event_id"
        " WHERE d.company = ? ORDER BY (d.state = 'delivered'), d.id DESC LIMIT ?",
        (company, limit),
    )
    documents = _rows(
        conn,
        "SELECT e.document AS name, e.at AS available_at,"
        " (SELECT MIN(w.first_at) FROM downloads w WHERE w.company = e.company"
        "  AND w.path = '/outbox/' || e.document) AS collected_at,"
        " (SELECT GROUP_CONCAT(w.user) FROM downloads w WHERE w.company = e.company"
        "  AND w.path = '/outbox/' || e.document) AS collected_by"
        " FROM events e WHERE e.company = ? AND e.type = ? AND e.document IS NOT NULL"
        " ORDER BY e.id DESC LIMIT ?",
        (company, str(EventType.DOCUMENT_AVAILABLE), limit),
    )
    return {"company": company, "counts": counts(conn, company), "deliveries": deliveries,
            "documents": documents}  # fmt: skip


# -- downloads and reminders ----------------------------------------------------------------------


def record_download(
    conn: sqlite3.Connection, company: str, path: str, user: str, size: int | None, now: datetime
) -> bool:
    """Record a user's download of an outbox file; True the first time for that user."""
    with transaction(conn):
        cur = conn.execute(
            "INSERT OR IGNORE INTO downloads (company, path, user, first_at, size)"
            " VALUES (?, ?, ?, ?, ?)",
            (company, path, user, iso(now), size),
        )
    return cur.rowcount == 1


def uncollected(conn: sqlite3.Connection, before: datetime, limit: int = 1000) -> list[StoredEvent]:
    """``document.available`` events older than ``before`` whose document nobody of the company
    downloaded (nor received by push), not yet reminded of; calendars (informative, replaced
    when they change) are left out."""
    sql = (
        f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.type = ? AND e.at < ?"
        " AND e.company IS NOT NULL AND e.document IS NOT NULL"
        " AND COALESCE(e.object_kind, '') != 'calendar'"
        " AND NOT EXISTS (SELECT 1 FROM downloads w WHERE w.company = e.company"
        "  AND w.path = '/outbox/' || e.document)"
        " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.company = e.company"
        "  AND d.name = e.document AND d.channel = 'push' AND d.state = 'delivered')"
        " AND NOT EXISTS (SELECT 1 FROM events r WHERE r.key = 'document.not_collected:'"
        "  || e.company || ':' || e.document)"
        " ORDER BY e.id LIMIT ?"
    )
    args = (str(EventType.DOCUMENT_AVAILABLE), iso(before), limit)
    return [stored_event(tuple(r)) for r in conn.execute(sql, args)]


def reminder_event(found: StoredEvent, days: int) -> Event:
    """The ``document.not_collected`` event for an uncollected document."""
    e = found.event
    return event(
        EventType.DOCUMENT_NOT_COLLECTED,
        e.company,
        e.document,
        summary=f"{e.document} has not been collected {days} days after it became available",
        company=e.company,
        country=e.country,
        period=e.period,
        airline_prefix=e.airline_prefix,
        agent_code=e.agent_code,
        object_kind=e.object_kind,
        object_ref=e.object_ref,
        document=e.document,
        data={"available_at": found.at, "days": days, "format": e.data.get("format")},
    )


def record_reminders(
    conn: sqlite3.Connection,
    before: datetime,
    days: int,
    exists: Callable[[StoredEvent], bool] | None = None,
    *,
    now: datetime,
) -> int:
    """Record, at ``now``, a reminder event for every uncollected document (that ``exists``
    still, when given); how many were new."""
    found = [f for f in uncollected(conn, before) if exists is None or exists(f)]
    if not found:
        return 0
    with transaction(conn):
        return record_events(conn, [reminder_event(f, days) for f in found], iso(now))
