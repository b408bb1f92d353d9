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

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import structlog

from opencass.billing.closing import (
    FINAL,
    close_events,
    document_events,
    run_close,
    write_documents,
    write_planned,
)
from opencass.config.model import Config
from opencass.events import Event
from opencass.settlement.close import CloseResult, Document, PlannedDocument

__all__ = ["FinalOutcome", "final_close", "publish_reports"]

log = structlog.get_logger("opencass.billing.final")


@dataclass(slots=True)
class FinalOutcome:
    """What a final close wrote and the events to record with its completion."""

    documents: int
    events: list[Event] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)


def publish_reports(
    config: Config, country: str, period: str, reference: datetime, result: CloseResult,
    now: datetime | None = None,
) -> FinalOutcome:  # fmt: skip
    """Render and write the period's reports and invoices (issue 5's documents)."""
    from opencass.documents.invoices import render_invoices
    from opencass.documents.reports import render_period_reports

    docs = render_period_reports(config, country, period, reference, result)
    docs += render_invoices(
        config, country, period, reference, result, config.gateway.database, now=now
    )
    paths = write_planned(config, [PlannedDocument(d.company, d.name, _bytes(d)) for d in docs])
    return FinalOutcome(len(paths), document_events(config, docs, country, period, FINAL), paths)


def _bytes(doc: Document) -> Callable[[], bytes]:
    return lambda: doc.data


def final_close(
    config: Config,
    country: str,
    period: str,
    reference: datetime,
    now: datetime | None = None,
    *,
    workers: int = 2,
    reports: bool = True,
    result: CloseResult | None = None,
) -> FinalOutcome:
    """Run the final close of one period (see the module docstring); blocking.  ``result``: the
    close already netted by the caller (``run_close``), to write it without netting again."""
    from opencass.billing.remittance import expect_remittance

    if result is None:
        result = run_close(config, country, period, reference, stage=FINAL, workers=workers)
    written = write_documents(config, result, workers=workers)
    outcome = FinalOutcome(len(written), [], list(written))
    if reports:
        extra = publish_reports(config, country, period, reference, result, now)
        outcome.documents += extra.documents
        outcome.paths += extra.paths
        outcome.events += extra.events
    # the period-closed event comes last, after every document's
    *documents, closed = close_events(config, result, country, period, FINAL, reference)
    outcome.events = [*documents, *outcome.events, closed]
    expect_remittance(config, country, period, result.settlement, now, created=reference)
    log.info("final_close_done", country=country, period=period, documents=outcome.documents)
    return outcome
