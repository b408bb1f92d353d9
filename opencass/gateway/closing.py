"""Closing a period against the real ledger and mailboxes (the I/O around ``settlement.close``).

The booked records of one country and period are the ledger rows of that country and period,
not withdrawn, of live (non-sandbox) files in state assessed, answered or archived.  The pure
``close_period`` nets them and builds the documents; conservation is checked there before any
document exists, so a failed check writes nothing.  Documents are then written atomically into
``<mailboxes>/<company>/outbox/`` under names fixed by the reference time, so closing again with
the same reference time replaces the same files with the same bytes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from opencass.config.model import CompanyKind, Config, Country, Period
from opencass.events import Event, EventType
from opencass.gateway.answers import write_atomic
from opencass.gateway.mailbox import OUTBOX, fsync_dir
from opencass.settlement.close import BookedRow, CloseResult, close_period

__all__ = [
    "BOOKED_STATES",
    "CloseError",
    "PeriodCounts",
    "booked_rows",
    "close_events",
    "find_period",
    "period_counts",
    "record_close_events",
    "run_close",
    "write_documents",
]

BOOKED_STATES = ("assessed", "answered", "archived")

_BOOKED_WHERE = (
    " FROM ledger l JOIN files f ON f.id = l.file_id"
    " WHERE l.country = ? AND l.period = ? AND l.withdrawn = 0 AND f.sandbox = 0"
    " AND f.state IN (?, ?, ?)"
)


class CloseError(Exception):
    """Unknown country or period (a usage/configuration error)."""


@dataclass(frozen=True, slots=True)
class PeriodCounts:
    """How much is booked for one country and period."""

    records: int
    files: int


def find_period(config: Config, country: str, code: str) -> tuple[Country, Period]:
    """The configured country and its period ``code``; CloseError when either is unknown."""
    c = config.countries.get(country)
    if c is None:
        raise CloseError(f"unknown CASS country {country!r}")
    for p in config.calendars.get(country, ()):
        if p.code == code:
            return c, p
    raise CloseError(f"no period {code!r} in the calendar of {country}")


def _connect(database: Path) -> sqlite3.Connection:
    # Read-only: a close never changes the ledger.
    return sqlite3.connect(f"file:{database}?mode=ro", uri=True)


def booked_rows(database: Path, country: str, period: str) -> Iterator[BookedRow]:
    """The period's booked ledger rows, in booking order."""
    sql = (
        "SELECT l.id, l.record_type, l.airline_prefix, l.awb_serial, l.agent_code, l.reference,"
        " l.currency, l.late, l.payload_format, l.payload" + _BOOKED_WHERE + " ORDER BY l.id"
    )
    with closing(_connect(database)) as conn:
        for r in conn.execute(sql, (country, period, *BOOKED_STATES)):
            yield BookedRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8], r[9])


def period_counts(database: Path, country: str, period: str) -> PeriodCounts:
    """Booked records and the files they come from, for one country and period."""
    if not database.exists():
        return PeriodCounts(0, 0)
    sql = "SELECT COUNT(*), COUNT(DISTINCT l.file_id)" + _BOOKED_WHERE
    with closing(_connect(database)) as conn:
        records, files = conn.execute(sql, (country, period, *BOOKED_STATES)).fetchone()
    return PeriodCounts(int(records), int(files))


def _participants(config: Config, country: str) -> tuple[dict[str, tuple[str, ...]], ...]:
    agents: dict[str, tuple[str, ...]] = {}
    airlines: dict[str, tuple[str, ...]] = {}
    for cid, c in sorted(config.companies.items()):
        if c.kind is CompanyKind.AGENT and c.agent_codes.get(country):
            agents[cid] = c.agent_codes[country]
        elif c.kind is CompanyKind.AIRLINE and c.airline_prefixes.get(country):
            airlines[cid] = c.airline_prefixes[country]
    return agents, airlines


def run_close(config: Config, country: str, period: str, reference: datetime) -> CloseResult:
    """Net the period from the ledger and build its documents (writes nothing)."""
    c, p = find_period(config, country, period)
    rows = list(booked_rows(config.gateway.database, country, period))
    agents, airlines = _participants(config, country)
    return close_period(
        rows,
        country=c,
        period=p,
        reference=reference,
        agents=agents,
        airlines=airlines,
        base_iri=config.gateway.public_url,
    )


def write_documents(config: Config, result: CloseResult) -> list[Path]:
    """Write every document into its company's outbox, atomically; the paths written."""
    written: list[Path] = []
    dirs: set[Path] = set()
    for doc in result.documents:
        outbox = config.gateway.mailboxes_dir / doc.company / OUTBOX
        outbox.mkdir(parents=True, exist_ok=True)
        path = outbox / doc.name
        write_atomic(path, doc.data, sync_dir=False)
        dirs.add(outbox)
        written.append(path)
    for d in sorted(dirs):
        fsync_dir(d)
    return written


def _document_kind(name: str) -> tuple[str, str]:
    """(kind, party code) from a close document's name ``<stamp>_<kind>_<period>_<code>.<ext>``."""
    parts = name.rsplit(".", 1)[0].split("_")
    return (parts[1], parts[3]) if len(parts) >= 4 else ("document", "")


def close_events(
    config: Config, result: CloseResult, country: str, period: str, stage: str, reference: datetime
) -> list[Event]:
    """The business events of a close: one per document written, then the period closed."""
    events: list[Event] = []
    for doc in result.documents:
        kind, code = _document_kind(doc.name)
        company = config.companies.get(doc.company)
        agent = company is not None and company.kind is CompanyKind.AGENT
        ext = doc.name.rsplit(".", 1)[-1]
        events.append(
            Event(
                type=EventType.DOCUMENT_AVAILABLE,
                key=f"document:{doc.company}:{doc.name}",
                summary=f"{stage} {kind} ({ext}) for {code}, {country} period {period}",
                company=doc.company,
                country=country,
                period=period,
                agent_code=code if agent else None,
                airline_prefix=None if agent else code,
                object_kind=kind,
                object_ref=doc.name,
                document=doc.name,
                data={"stage": stage, "format": ext},
            )
        )
    s = result.settlement.summary
    events.append(
        Event(
            type=EventType.PERIOD_CLOSED,
            key=f"period.closed:{country}:{period}:{stage}",
            summary=f"{country} period {period}: {stage} close, {s.awbs} AWBs, "
            f"{s.agents} agents, {s.airlines} airlines, {s.agents_total} {s.currency}",
            country=country,
            period=period,
            object_kind="period",
            object_ref=f"{country}:{period}",
            data={
                "stage": stage,
                "reference": reference.isoformat(),
                "documents": len(result.documents),
                "total": str(s.agents_total),
                "currency": s.currency,
            },
        )
    )
    return events


def record_close_events(config: Config, events: list[Event]) -> int:
    """Record events from a synchronous caller (the ``period close`` command)."""
    from opencass.store.events import record_events
    from opencass.store.sqlite import connect_sync

    conn = connect_sync(config.gateway.database)
    try:
        with conn:
            return record_events(conn, events)
    finally:
        conn.close()
