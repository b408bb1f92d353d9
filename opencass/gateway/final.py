"""The final close as one unit of work: statements and hand-off files, then the rich reports and
invoices, the expected remittances and every business event — run in a worker process.

Theory of operation
-------------------
``final_close`` is what both the scheduler (at Billing Availability) and ``opencass period
close --final`` run after claiming the close in the store.  Everything it writes is a function
of the ledger and the reference time (invoice numbers are allocated once per agent and period
and reused), so a close interrupted anywhere is simply run again: the same files are written
with the same bytes and the events, keyed by their cause, are recorded once.  It returns the
number of documents written and the events for the caller to record with the close's
completion; a failure raises and leaves the close incomplete, to be retried.

In the gateway it runs in a process of the worker pool, not a thread: a close of a million
AWBs is a minute of CPU that would otherwise compete with the event loop for the interpreter.
Being the only thread there, it may also fork a second process to build documents.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import structlog

from opencass.config.model import CompanyKind, Config
from opencass.events import Event, EventType
from opencass.gateway.closing import (
    FINAL,
    close_events,
    remove_temporaries,
    run_close,
    write_documents,
)
from opencass.gateway.mailbox import OUTBOX, fsync_dir
from opencass.settlement.close import CloseResult, Document

__all__ = ["FinalOutcome", "final_close", "publish_reports"]

log = structlog.get_logger("opencass.gateway.final")

_TMP = ".report-tmp"


@dataclass(slots=True)
class FinalOutcome:
    """What a final close wrote and the events to record with its completion."""

    documents: int
    events: list[Event] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)


def _kind_of(name: str) -> tuple[str, str, str]:
    """(kind, party code, extension) from ``<stamp>_<kind>_<period>_<code>.<ext>``."""
    stem, _, ext = name.rpartition(".")
    parts = stem.split("_")
    return (parts[1], parts[-1], ext) if len(parts) >= 4 else ("report", "", ext)


def _write(config: Config, docs: list[Document]) -> list[Path]:
    """Write documents atomically into their companies' outboxes; one sync for all."""
    pending: list[tuple[Path, Path]] = []
    names: dict[Path, set[str]] = {}
    for doc in docs:
        names.setdefault(config.gateway.mailboxes_dir / doc.company / OUTBOX, set()).add(doc.name)
    dirs = set(names)
    for outbox, mine in names.items():
        outbox.mkdir(parents=True, exist_ok=True)
        remove_temporaries(outbox, _TMP, mine)
    for doc in docs:
        outbox = config.gateway.mailboxes_dir / doc.company / OUTBOX
        tmp = outbox / f".{doc.name}.{os.getpid()}{_TMP}"
        tmp.write_bytes(doc.data)
        pending.append((tmp, outbox / doc.name))
    os.sync()
    for tmp, path in pending:
        os.replace(tmp, path)
    for d in sorted(dirs):
        fsync_dir(d)
    return [path for _, path in pending]


def _events(
    config: Config, docs: list[Document], country: str, period: str, stage: str
) -> list[Event]:
    events = []
    for doc in docs:
        kind, code, ext = _kind_of(doc.name)
        company = config.companies.get(doc.company)
        agent = company is not None and company.kind is CompanyKind.AGENT
        events.append(
            Event(
                type=EventType.DOCUMENT_AVAILABLE,
                key=f"document:{doc.company}:{doc.name}",
                summary=f"{stage} {kind} ({ext}) for {code or doc.company}, "
                f"{country} period {period}",
                company=doc.company,
                country=country,
                period=period,
                agent_code=code if agent and code.isdigit() else None,
                airline_prefix=code if not agent and len(code) == 3 else None,
                object_kind=kind,
                object_ref=doc.name,
                document=doc.name,
                data={"stage": stage, "format": ext},
            )
        )
    return events


def publish_reports(
    config: Config, country: str, period: str, reference: datetime, result: CloseResult
) -> FinalOutcome:
    """Render and write the period's reports and invoices (issue 5's documents)."""
    from opencass.outbox.invoices import render_invoices
    from opencass.outbox.reports import render_period_reports

    docs = render_period_reports(config, country, period, reference, result)
    docs += render_invoices(config, country, period, reference, result, config.gateway.database)
    paths = _write(config, docs)
    return FinalOutcome(len(paths), _events(config, docs, country, period, FINAL), paths)


def final_close(
    config: Config,
    country: str,
    period: str,
    reference: datetime,
    now: datetime | None = None,
    *,
    workers: int = 2,
    reports: bool = True,
) -> FinalOutcome:
    """Run the final close of one period (see the module docstring); blocking."""
    from opencass.gateway.remittance import expect_remittance

    result = run_close(config, country, period, reference, stage=FINAL)
    written = write_documents(config, result, workers=workers)
    outcome = FinalOutcome(len(written), [], list(written))
    if reports:
        extra = publish_reports(config, country, period, reference, result)
        outcome.documents += extra.documents
        outcome.paths += extra.paths
        outcome.events += extra.events
    # the period-closed event comes last, after every document's
    *documents, closed = close_events(config, result, country, period, FINAL, reference)
    outcome.events = [*documents, *outcome.events, closed]
    expect_remittance(config, country, period, result.settlement, now)
    log.info("final_close_done", country=country, period=period, documents=outcome.documents)
    return outcome
