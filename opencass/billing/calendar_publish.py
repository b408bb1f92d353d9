"""Publishing the calendars into participants' outboxes, and noticing when they change.

Theory of operation
-------------------
Every participant's outbox holds the current calendar of each of its countries and years as
three files, ``<UTC stamp>_calendar_<CC>_<year>.csv|pdf|ics``, for its audience (agents get the
agent columns; airlines and operators the airline columns) in its language.

The store remembers two things (migration 9): ``calendar_milestones``, the last published value
and iCalendar version of every milestone (see ``opencass.documents.calendar_versions``), and
``calendar_publications``: per company, country and year, the SHA-256 of what was published
(CSV and ICS bytes, language, audience and layout version: the PDF is drawn from the same data)
and the names of the files.

``publish_sync`` renders each distinct (country, year, audience, language) once, writes the
files of every company whose digest differs (atomically, directories fsynced once), then
commits milestones, publications and business events in one transaction, then removes the
superseded calendar files (any ``*_calendar_<CC>_<year>.*`` of that outbox that is not the
current publication, and those of countries or years the company no longer has).  A crash
before the commit leaves new files beside the old: the next run writes them again under a new
stamp and removes the rest, and its events have the same keys, so nobody is told twice.
Files a participant deleted after download are not written again until the calendar changes.

Events: ``calendar.changed`` per company whose country/year calendar changed, with the changed
milestones in ``data["changes"]``; a company's first publication of a country/year is a
``document.available`` (kind ``calendar``).  A re-publication for another reason (a new
language, a new gateway host in the UIDs) records nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import sqlite3
import threading
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from opencass.clock import Clock
from opencass.config.database import Database
from opencass.config.model import Company, Config
from opencass.documents.calendar import (
    LANGUAGES,
    Selection,
    Version,
    audience_of,
    gateway_host,
    latest_stamp,
    milestones_for,
    render_csv,
    render_ics,
    render_pdf_calendar,
)
from opencass.documents.calendar_versions import (
    LABELS,
    Change,
    Key,
    Plan,
    plan_versions,
    stored_milestones,
)
from opencass.events import Event, EventType, event
from opencass.files import OUTBOX, fsync_dir, write_atomic
from opencass.store.calendars import milestone_rows, publications, record_publication
from opencass.store.connect import connect_sync

__all__ = ["LAYOUT", "company_language", "publish_calendars", "publish_hook", "publish_sync"]

LAYOUT = "calendar-1"  # bump when a renderer's output changes for the same data
FILE_NAME = re.compile(r"^\d{8}T\d{6}Z_calendar_([A-Z]{2}(?:-I)?)_(\d{4})\.(csv|pdf|ics)$")

_serial = threading.Lock()  # one publication at a time in this process
log = structlog.get_logger("opencass.calendar")


# --- rendering --------------------------------------------------------------------------------


def company_language(company: Company) -> str:
    """The first of the company's languages that calendars are written in (else English)."""
    return next((lang for lang in company.languages if lang in LANGUAGES), "en")


@dataclass(slots=True)
class _Rendered:
    selection: Selection
    audience: str
    language: str
    csv: bytes
    ics: bytes
    digest: str
    created: datetime  # the calendar version's time (the PDF's creation date)
    pdf: bytes | None = None

    def files(self) -> dict[str, bytes]:
        if self.pdf is None:
            self.pdf = render_pdf_calendar(
                [self.selection], self.audience, self.language, self.created
            )
        return {"csv": self.csv, "pdf": self.pdf, "ics": self.ics}


class _Renderer:
    """Each distinct calendar document is rendered once, whatever the number of companies."""

    def __init__(self, config: Config, versions: dict[Key, Version], now: datetime) -> None:
        self.config = config
        self.versions = versions
        self.now = now
        self.host = gateway_host(config.gateway.public_url)
        self.cache: dict[tuple[str, int, str, str], _Rendered] = {}

    def get(self, country: str, year: int, audience: str, language: str) -> _Rendered:
        key = (country, year, audience, language)
        if key not in self.cache:
            self.cache[key] = self._render(country, year, audience, language)
        return self.cache[key]

    def _render(self, country: str, year: int, audience: str, language: str) -> _Rendered:
        from opencass.documents.i18n import translator

        periods = tuple(p for p in self.config.calendars[country] if int(p.code[:4]) == year)
        s = Selection(self.config.countries[country], year, periods)
        t = translator(language, "calendar")
        gettext = getattr(t, "gettext", t)
        data = render_csv([s], audience)
        ics = render_ics(
            [s], audience, host=self.host, versions=self.versions, stamp=self.now, gettext=gettext
        )
        h = hashlib.sha256(f"{LAYOUT}\n{language}\n{audience}\n".encode())
        h.update(data)
        h.update(ics)
        created = latest_stamp([s], self.versions, self.now)
        return _Rendered(s, audience, language, data, ics, h.hexdigest(), created)


def _years(config: Config, country: str) -> list[int]:
    return sorted({int(p.code[:4]) for p in config.calendars.get(country, ())})


def _targets(config: Config) -> list[tuple[Company, str, int]]:
    """(company, country, year) of every calendar a participant should hold."""
    out = []
    for _cid, company in sorted(config.companies.items()):
        for country in company.countries:
            if country in config.countries:
                out += [(company, country, y) for y in _years(config, country)]
    return out


# --- publication ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Published:
    company: str
    country: str
    year: int
    audience: str
    digest: str
    files: tuple[str, ...]
    first: bool


def publish_sync(config: Config, database: Database, now: datetime) -> int:
    """Publish changed calendars into the outboxes (blocking); how many calendars were written."""
    now = now.astimezone(UTC).replace(microsecond=0)
    with _serial, closing(connect_sync(database)) as conn:
        plan = plan_versions(config, stored_milestones(milestone_rows(conn)), now)
        previous = publications(conn)
        renderer = _Renderer(config, plan.versions, now)
        written: list[_Published] = []
        for company, country, year in _targets(config):
            r = renderer.get(country, year, audience_of(company.kind), company_language(company))
            before = previous.get((company.id, country, year))
            if before is not None and before[0] == r.digest:
                continue
            outbox = config.gateway.mailboxes_dir / company.id / OUTBOX
            outbox.mkdir(parents=True, exist_ok=True)
            names = []
            for ext, data in r.files().items():
                name = f"{now:%Y%m%dT%H%M%SZ}_calendar_{country}_{year}.{ext}"
                write_atomic(outbox / name, data, fsync=False)
                names.append(name)
            written.append(
                _Published(
                    company.id, country, year, r.audience, r.digest, tuple(names), not before
                )
            )
        if written:
            os.sync()  # every file and directory entry durable before the store says published
        _commit(conn, config, plan, written, previous, now)
        _remove_superseded(conn, config)
    return len(written)


def _commit(
    conn: sqlite3.Connection,
    config: Config,
    plan: Plan,
    written: list[_Published],
    previous: dict[tuple[str, str, int], tuple[str, ...]],
    now: datetime,
) -> None:
    current = {(c.id, country, year) for c, country, year in _targets(config)}
    at = now.isoformat()
    record_publication(
        conn,
        [(*k, v, ver.sequence, ver.stamp.isoformat()) for k, (v, ver) in plan.upserts.items()],
        [(p.company, p.country, p.year, p.digest, p.files) for p in written],
        [k for k in previous if k not in current],
        [e for p in written if (e := _event(p, plan)) is not None],
        at,
    )


def _event(p: _Published, plan: Plan) -> Event | None:
    pdf = next(n for n in p.files if n.endswith(".pdf"))
    shown = {m.key for m in milestones_for(p.audience)}
    changes = [c for c in plan.changes.get((p.country, p.year), []) if c.milestone in shown]
    common: dict[str, Any] = {
        "company": p.company,
        "country": p.country,
        "object_kind": "calendar",
        "object_ref": f"{p.country}:{p.year}",
        "document": pdf,
    }
    if p.first:
        return event(
            EventType.DOCUMENT_AVAILABLE,
            p.company,
            pdf,
            summary=f"{p.country} calendar {p.year} published (CSV, PDF, ICS)",
            data={"kind": "calendar", "year": p.year, "documents": list(p.files)},
            **common,
        )
    if not changes:
        return None
    periods = sorted({c.period for c in changes})
    return event(
        EventType.CALENDAR_CHANGED,
        p.company,
        p.country,
        p.year,
        p.digest[:16],
        summary=f"{p.country} calendar {p.year} changed: "
        + "; ".join(map(_say, changes[:5]))
        + (f" and {len(changes) - 5} more" if len(changes) > 5 else ""),
        period=periods[0] if len(periods) == 1 else None,
        data={
            "year": p.year,
            "changes": [c.as_dict() for c in changes],
            "documents": list(p.files),
        },
        **common,
    )


def _say(c: Change) -> str:
    return f"{LABELS[c.milestone]} {c.period} {c.old or '(none)'} → {c.new or '(removed)'}"


def _remove_superseded(conn: sqlite3.Connection, config: Config) -> None:
    """Remove calendar files that are not a company's current publication (blocking)."""
    keep = {(k[0], n) for k, v in publications(conn).items() for n in v[1:]}
    for cid in sorted(config.companies):
        outbox = config.gateway.mailboxes_dir / cid / OUTBOX
        try:
            names = [e.name for e in outbox.iterdir() if FILE_NAME.match(e.name)]
        except FileNotFoundError:
            continue
        stale = [n for n in names if (cid, n) not in keep]
        for name in stale:
            (outbox / name).unlink(missing_ok=True)
        if stale:
            fsync_dir(outbox)


async def publish_calendars(config: Config, store: Any, *, now: datetime) -> int:
    """Publish the participants' calendars off the event loop; how many were written."""
    return await asyncio.to_thread(publish_sync, config, store.path, now)


async def publish_hook(config: Config, store: Any, clock: Clock) -> int:
    """The gateway's hook (start, reload): publish now; a failure is logged, never raised, so
    the gateway keeps serving (the next start or reload tries again)."""
    try:
        count = await publish_calendars(config, store, now=clock())
    except Exception as e:
        log.error("calendar_publication_failed", error=f"{type(e).__name__}: {e}")
        return 0
    if count:
        log.info("calendars_published", calendars=count)
    return count
