"""Recording and reading business events (``opencass.events``) in the ``events`` table.

Synchronous, on a ``sqlite3`` connection: callers record events inside the transaction that
makes the change they describe (worker processes, closes), or through
``SqliteStore.record_events`` on the event loop.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from opencass.events import Event, EventType

__all__ = ["INSERT_EVENT_ROW", "StoredEvent", "event_rows", "events_after", "record_events"]

INSERT_EVENT_ROW = """
    INSERT OR IGNORE INTO events (key, at, type, company, country, period, airline_prefix,
        agent_code, object_kind, object_ref, document, summary, data)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored: its id (delivery order) and time, then the event."""

    id: int
    at: str
    event: Event


def event_rows(events: Iterable[Event], at: str) -> list[tuple[Any, ...]]:
    """Parameter rows of ``INSERT_EVENT_ROW``."""
    return [
        (
            e.key,
            at,
            str(e.type),
            e.company,
            e.country,
            e.period,
            e.airline_prefix,
            e.agent_code,
            e.object_kind,
            e.object_ref,
            e.document,
            e.summary,
            e.data_json(),
        )
        for e in events
    ]


def record_events(conn: sqlite3.Connection, events: Iterable[Event], at: str) -> int:
    """Insert events (a key already recorded is skipped); the number of new ones.

    Runs in the caller's transaction when one is open; otherwise sqlite3 opens one implicitly
    and the caller commits."""
    before = conn.total_changes
    conn.executemany(INSERT_EVENT_ROW, event_rows(events, at))
    return conn.total_changes - before


_COLUMNS = (
    "id, at, key, type, company, country, period, airline_prefix, agent_code, object_kind,"
    " object_ref, document, summary, data"
)


def stored_event(row: tuple[Any, ...]) -> StoredEvent:
    """A ``StoredEvent`` from a row of ``_COLUMNS``."""
    return StoredEvent(
        id=int(row[0]),
        at=row[1],
        event=Event(
            type=EventType(row[3]),
            key=row[2],
            company=row[4],
            country=row[5],
            period=row[6],
            airline_prefix=row[7],
            agent_code=row[8],
            object_kind=row[9],
            object_ref=row[10],
            document=row[11],
            summary=row[12],
            data=json.loads(row[13]),
        ),
    )


def events_after(conn: sqlite3.Connection, after: int = 0, limit: int = 1000) -> list[StoredEvent]:
    """Events with ``id > after``, oldest first, at most ``limit``."""
    sql = f"SELECT {_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?"
    return [stored_event(r) for r in conn.execute(sql, (after, limit))]
