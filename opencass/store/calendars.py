"""Calendar publication in the store: each milestone's last published value and version
(``calendar_milestones``, migration 9) and each company's current calendar files
(``calendar_publications``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from opencass.events import Event
from opencass.store.events import record_events
from opencass.store.tx import transaction

__all__ = ["Publication", "milestone_rows", "publications", "record_publication"]

Key = tuple[str, str, int]  # company, country, year
#: (country, period, milestone, value, sequence, changed_at ISO)
MilestoneRow = tuple[str, str, str, str, int, str]
#: (company, country, year, sha256, file names)
Publication = tuple[str, str, int, str, tuple[str, ...]]


def milestone_rows(conn: sqlite3.Connection) -> list[MilestoneRow]:
    """Every stored milestone (none when the store predates migration 9)."""
    try:
        rows = conn.execute(
            "SELECT country, period, milestone, value, sequence, changed_at"
            " FROM calendar_milestones"
        ).fetchall()
    except sqlite3.OperationalError:
        return []
    return [(r[0], r[1], r[2], r[3], int(r[4]), r[5]) for r in rows]


def publications(conn: sqlite3.Connection) -> dict[Key, tuple[str, ...]]:
    """Each company's current publication per country and year: (sha256, *file names)."""
    rows = conn.execute("SELECT company, country, year, sha256, files FROM calendar_publications")
    return {(r[0], r[1], int(r[2])): (r[3], *json.loads(r[4])) for r in rows}


def record_publication(
    conn: sqlite3.Connection,
    upserts: Iterable[tuple[Any, ...]],
    written: Iterable[Publication],
    gone: Iterable[Key],
    events: Iterable[Event],
    at: str,
) -> None:
    """In one transaction: the milestones' new values and versions (``upserts``: country, period,
    milestone, value, sequence, changed_at), the publications ``written``, those ``gone``, and
    their events."""
    with transaction(conn):
        conn.executemany(
            "INSERT INTO calendar_milestones (country, period, milestone, value, sequence,"
            " changed_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (country, period, milestone)"
            " DO UPDATE SET value = excluded.value, sequence = excluded.sequence,"
            " changed_at = excluded.changed_at",
            list(upserts),
        )
        conn.executemany(
            "INSERT OR REPLACE INTO calendar_publications VALUES (?, ?, ?, ?, ?, ?)",
            [(c, k, y, d, json.dumps(list(f)), at) for c, k, y, d, f in written],
        )
        conn.executemany(
            "DELETE FROM calendar_publications WHERE company = ? AND country = ? AND year = ?",
            list(gone),
        )
        record_events(conn, events, at)
