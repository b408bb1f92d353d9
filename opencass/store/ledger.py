"""The booked ledger, read: the one "booked" rule, and every read the close, the reports and the
invoices make of it.

A record is booked in a country and period when its ledger row is not withdrawn and its file is
live (not sandbox) and in state assessed, answered or archived (``BOOKED_STATES``).  Reads use
read-only connections: closing and reporting never change the ledger.
"""

from __future__ import annotations

import os
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from opencass.config.database import Database
from opencass.model import BookedRow, LedgerSnapshot
from opencass.store.connect import connect_read_only, has_table, is_pg
from opencass.store.disputes import DisputeRow, accepted_adjustments

__all__ = [
    "BOOKED_STATES",
    "LedgerRows",
    "PeriodCounts",
    "accepted_disputes",
    "airline_rows_sql",
    "booked_rows",
    "booked_rows_of_awb",
    "disputes_of_period",
    "period_counts",
    "rows_of_agents",
    "rows_of_airline",
    "take_snapshot",
]

BOOKED_STATES = ("assessed", "answered", "archived")

# The booked rule, written once, as of a snapshot (its arguments: ``_as_of(snapshot)``): rows
# booked up to the snapshot's last ledger row, not withdrawn by then (a withdrawal recorded after
# the snapshot does not take its rows out of it), of live files in a booked state.
_BOOKED = (
    "l.id <= ? AND (l.withdrawn = 0 OR l.file_id IN (SELECT file_id FROM withdrawals"
    " WHERE rowid > ?)) AND f.sandbox = 0 AND f.state IN (?, ?, ?)"
)
_LATEST = (1 << 63) - 1  # "now": every row so far, every withdrawal so far


def take_snapshot(database: Database, country: str, period: str) -> LedgerSnapshot:
    """The snapshot of the period's booked ledger now: nothing booked after it (a higher
    ledger id) is in it, and nothing withdrawn after it (a later withdrawal row) leaves it.  A
    file's rows are booked in the one transaction that moves it to ``assessed``, and a booked
    file only moves between booked states, so these two marks fix the set of rows."""
    with closing(connect_read_only(database)) as conn:
        row = conn.execute(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM ledger),"
            " (SELECT COALESCE(MAX(rowid), 0) FROM withdrawals)"
        ).fetchone()
    return LedgerSnapshot(country, period, int(row[0]), int(row[1]))


def _as_of(snapshot: LedgerSnapshot | None) -> tuple[object, ...]:
    """The booked rule's arguments: as of ``snapshot``, or as of now."""
    marks = (
        (_LATEST, _LATEST) if snapshot is None else (snapshot.ledger_max, snapshot.withdrawals_max)
    )
    return (*marks, *BOOKED_STATES)


_JOIN = " FROM ledger l JOIN files f ON f.id = l.file_id"
_BOOKED_WHERE = _JOIN + " WHERE l.country = ? AND l.period = ? AND " + _BOOKED


@dataclass(frozen=True, slots=True)
class PeriodCounts:
    """How much is booked for one country and period."""

    records: int
    files: int


_COLUMNS = (
    "SELECT l.id, l.record_type, l.airline_prefix, l.awb_serial, l.agent_code, l.reference,"
    " l.currency, l.late, l.payload_format, l.payload"
)
_HANDOFF_ORDER = " ORDER BY l.airline_prefix, l.awb_serial, l.record_type, l.reference, l.id"


def _rows(conn: sqlite3.Connection, sql: str, args: tuple[object, ...]) -> Iterator[BookedRow]:
    make = BookedRow._make
    if is_pg(conn):  # a server-side cursor: PostgreSQL's result is never held whole
        yield from map(make, conn.stream(sql, args))  # type: ignore[attr-defined]
        return
    cur = conn.execute(sql, args)
    while batch := cur.fetchmany(10_000):
        yield from map(make, batch)


# ``opencass.settlement.close.part_of`` in SQL: the code of the serial's second-to-last
# character modulo the number of parts (0 for a shorter serial)
_PART = (
    " AND (CASE WHEN length(l.awb_serial) >= 2 THEN unicode(substr(l.awb_serial, -2, 1))"
    " ELSE 0 END) % ? = ?"
)


def booked_rows(
    database: Database,
    country: str,
    period: str,
    snapshot: LedgerSnapshot | None = None,
    part: tuple[int, int] | None = None,
) -> Iterator[BookedRow]:
    """The period's booked ledger rows (as of ``snapshot``, or now), in booking order;
    ``part`` = (k, n): the rows of the AWBs in part k of n only (``part_of``)."""
    with closing(connect_read_only(database)) as conn:
        args: tuple[object, ...] = (country, period, *_as_of(snapshot))
        where = _BOOKED_WHERE
        if part is not None:
            where += _PART
            args += (part[1], part[0])
        yield from _rows(conn, _COLUMNS + where + " ORDER BY l.id", args)


class LedgerRows:
    """The close's ``LedgerSource`` over the SQLite ledger: rows are read when needed (one
    pass in booking order to net, then one query per document), never all held at once."""

    def __init__(
        self, database: Database, country: str, period: str, snapshot: LedgerSnapshot | None = None
    ) -> None:
        self.database, self.country, self.period = database, country, period
        self.snapshot = snapshot
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    def _db(self) -> sqlite3.Connection:
        # A connection is never shared with a forked child (write_documents' second worker).
        if self._conn is None or self._pid != os.getpid():
            self._conn, self._pid = connect_read_only(self.database), os.getpid()
        return self._conn

    def booking_order(self, part: tuple[int, int] | None = None) -> Iterator[BookedRow]:
        return booked_rows(self.database, self.country, self.period, self.snapshot, part)

    def _of(self, column: str, value: str) -> list[BookedRow]:
        where = _BOOKED_WHERE
        if column == "agent_code":  # without statistics SQLite would scan the country
            where = where.replace("FROM ledger l", "FROM ledger l INDEXED BY ledger_by_period")
        sql = _COLUMNS + where + f" AND l.{column} = ?" + _HANDOFF_ORDER
        args = (self.country, self.period, *_as_of(self.snapshot), value)
        # one company's rows: a plain query (a server-side cursor costs PostgreSQL four more
        # round trips, 15,000 times in a large close)
        return list(map(BookedRow._make, self._db().execute(sql, args)))

    def rows_of_agent(self, agent_code: str) -> list[BookedRow]:
        return self._of("agent_code", agent_code)

    def rows_of_airline(self, airline_prefix: str) -> list[BookedRow]:
        return self._of("airline_prefix", airline_prefix)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def period_counts(
    database: Database, country: str, period: str, snapshot: LedgerSnapshot | None = None
) -> PeriodCounts:
    """Booked records and the files they come from, for one country and period.

    The records are counted per file from the index ``ledger_by_period_file`` alone (the
    booked rule's ledger terms are in it); the few files are then judged by the rule's file
    terms: the same count as the booked rule row by row, without reading a row."""
    if not database.exists():
        return PeriodCounts(0, 0)
    marks = _as_of(snapshot)
    with closing(connect_read_only(database)) as conn:
        records, files = conn.execute(_COUNTS, (country, period, *marks)).fetchone()
    return PeriodCounts(int(records or 0), int(files))


_COUNTS = (
    "SELECT SUM(g.n), COUNT(*) FROM (SELECT l.file_id, COUNT(*) AS n"
    " FROM ledger l INDEXED BY ledger_by_period_file WHERE l.country = ? AND l.period = ?"
    " AND l.id <= ? AND (l.withdrawn = 0 OR l.file_id IN (SELECT file_id FROM withdrawals"
    " WHERE rowid > ?)) GROUP BY l.file_id) g JOIN files f ON f.id = g.file_id"
    " WHERE f.sandbox = 0 AND f.state IN (?, ?, ?)"
)


_REPORT_COLUMNS = _COLUMNS + ", l.period" + _JOIN + " WHERE " + _BOOKED + " AND l.country = ?"


def _row(r: Sequence[Any]) -> BookedRow:
    return BookedRow(
        int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), str(r[6]),
        int(r[7]), str(r[8]), str(r[9]),
    )  # fmt: skip


def rows_of_agents(
    database: Database,
    country: str,
    period: str,
    codes: Iterable[str],
    snapshot: LedgerSnapshot | None = None,
) -> dict[str, list[BookedRow]]:
    """The booked rows (as of ``snapshot``, or now) of each agent code in ``codes``, in booking
    order."""
    wanted = sorted(set(codes))
    out: dict[str, list[BookedRow]] = {code: [] for code in wanted}
    if not wanted or not database.exists():
        return out
    with closing(connect_read_only(database)) as conn:
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            sql = f"{_REPORT_COLUMNS} AND l.period = ? AND l.agent_code IN ({marks}) ORDER BY l.id"
            for r in conn.execute(sql, (*_as_of(snapshot), country, period, *part)):
                out[str(r[4])].append(_row(r))
    return out


def airline_rows_sql(periods: int) -> str:
    """The query of ``rows_of_airline`` for ``periods`` periods.  It reads the airline's rows
    through ``ledger_by_awb``: left to choose, SQLite scans every row of the periods
    (``ledger_by_period_file``) for the one airline, 12 times slower with 100 airlines."""
    marks = ",".join("?" * periods)
    columns = _REPORT_COLUMNS.replace("FROM ledger l", "FROM ledger l INDEXED BY ledger_by_awb")
    return f"{columns} AND l.airline_prefix = ? AND l.period IN ({marks}) ORDER BY l.id"


def rows_of_airline(
    database: Database,
    country: str,
    periods: Iterable[str],
    prefix: str,
    snapshot: LedgerSnapshot | None = None,
) -> dict[str, list[BookedRow]]:
    """The booked rows (as of ``snapshot``, or now) of airline ``prefix`` in each of
    ``periods``, in booking order."""
    wanted = sorted(set(periods))
    out: dict[str, list[BookedRow]] = defaultdict(list)
    for p in wanted:
        out[p] = []
    if not wanted or not database.exists():
        return dict(out)
    sql = airline_rows_sql(len(wanted))
    with closing(connect_read_only(database)) as conn:
        for r in conn.execute(sql, (*_as_of(snapshot), country, prefix, *wanted)):
            out[str(r[10])].append(_row(r))
    return dict(out)


def disputes_of_period(database: Database, country: str, period: str) -> list[dict[str, Any]]:
    """The disputes of the period's AWBs as column → value; empty when the store has no
    disputes table."""
    if not database.exists():
        return []
    with closing(connect_read_only(database)) as conn:
        if not has_table(conn, "disputes"):
            return []
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT * FROM disputes WHERE country = ? AND period = ? ORDER BY id",
            (country, period),
        ).fetchall()
    return [dict(r) for r in rows]


def accepted_disputes(database: Database, country: str, period: str) -> list[DisputeRow]:
    """The accepted disputes the final billing of ``period`` carries; none in a store from
    before the disputes migration."""
    if not database.exists():
        return []
    with closing(connect_read_only(database)) as conn:
        try:
            return accepted_adjustments(conn, country, period)
        except sqlite3.OperationalError:
            return []


def booked_rows_of_awb(
    conn: sqlite3.Connection, country: str, period: str, prefix: str, serial: str
) -> list[BookedRow]:
    """The booked rows of one AWB in one period, by ledger id (on the caller's connection)."""
    sql = _COLUMNS + _BOOKED_WHERE + " AND l.airline_prefix = ? AND l.awb_serial = ? ORDER BY l.id"
    return list(_rows(conn, sql, (country, period, *_as_of(None), prefix, serial)))
