"""Milestone jobs of two-stage billing: the preliminary close and the escalation of disputes.

- ``preliminary`` at CASS reports Availability: nets the period as the final close will (with
  the accepted disputes it carries so far) and writes the preliminary statements of every agent
  and airline (XML and CSV, kinds ``prelim-statement`` / ``prelim-settlement``; no hand-off
  files), then records ``DOCUMENT_AVAILABLE`` per document and ``PERIOD_CLOSED`` with stage
  ``preliminary``.  Names and bytes depend only on the ledger and the milestone, so a re-run
  after a crash rewrites the same files.
- ``dispute-escalation`` at Airline Correction Response Cut-Off + ``DisputePolicy.
  escalation_days``: every dispute of the period still pending is flagged escalated, its history
  gets a step, and each operator company gets ``DISPUTE_ESCALATED`` (keys per dispute and
  operator: a re-run notifies nobody twice).

Both are listed in ``opencass.billing.registry`` and run by the scheduler; the final close stays the
scheduler's.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from opencass.billing.closing import PRELIMINARY, close_events, run_close, write_documents
from opencass.billing.disputes import operator_companies
from opencass.billing.jobs import JobContext, MilestoneJob
from opencass.config.database import Database
from opencass.config.model import Config, Period
from opencass.events import Event, EventType, event
from opencass.store.connect import connect_sync
from opencass.store.disputes import DisputeRow, add_history, unanswered, update_dispute
from opencass.store.events import record_events
from opencass.store.tx import transaction

__all__ = ["ESCALATION", "escalate_period", "escalation_time", "run_preliminary"]

ESCALATION = "dispute-escalation"


async def run_preliminary(ctx: JobContext) -> int:
    """The preliminary close of ``ctx.period`` (see the module docstring)."""
    code = ctx.period.code
    result = await asyncio.to_thread(
        run_close, ctx.config, ctx.country, code, ctx.reference, stage=PRELIMINARY
    )
    written = await asyncio.to_thread(write_documents, ctx.config, result)
    events = close_events(ctx.config, result, ctx.country, code, PRELIMINARY, ctx.reference)
    await ctx.store.record_events(events)
    return len(written)


def escalation_time(period: Period, config: Config) -> datetime:
    """Airline Correction Response Cut-Off + the country's escalation days."""
    country = config.countries.get(period.country)
    days = country.disputes.escalation_days if country is not None else 1
    return period.airline_response_cutoff + timedelta(days=days)


def escalate_period(
    database: Database, config: Config, country: str, period: str, now: datetime
) -> int:
    """Flag the period's unanswered disputes escalated and tell the operators; how many."""
    operators: list[str | None] = list(operator_companies(config)) or [None]
    conn = connect_sync(database)
    try:
        with transaction(conn):
            count = 0
            at = now.isoformat()
            for d in unanswered(conn, country, period):
                if d.escalated:
                    continue
                update_dispute(conn, d.id, d.status, at, escalated=True)
                add_history(
                    conn, d.id, at=at, company="gateway", action="escalated",
                    from_status=d.status, to_status=d.status,
                    why="no answer from the airline by its cut-off",
                )  # fmt: skip
                record_events(conn, [_escalated(d, op) for op in operators], at)
                count += 1
    finally:
        conn.close()
    return count


def _escalated(d: DisputeRow, operator: str | None) -> Event:
    awb = f"{d.airline_prefix}-{d.awb_serial}"
    return event(
        EventType.DISPUTE_ESCALATED,
        d.id,
        operator or "",
        summary=f"dispute of AWB {awb} by agent {d.agent_code} ({d.country} {d.period}, "
        f"{d.disputed_amount} {d.currency}) unanswered by airline {d.airline_prefix}",
        company=operator,
        country=d.country,
        period=d.period,
        airline_prefix=d.airline_prefix,
        agent_code=d.agent_code,
        object_kind="dispute",
        object_ref=d.id,
        data={
            "request": d.request_iri,
            "awb": awb,
            "airline": d.airline_company,
            "agent": d.agent_company,
        },
    )


async def _run_escalation(ctx: JobContext) -> int:
    return await asyncio.to_thread(
        escalate_period,
        ctx.config.gateway.database,
        ctx.config,
        ctx.country,
        ctx.period.code,
        ctx.reference,
    )


def dispute_jobs() -> tuple[MilestoneJob, ...]:
    """The preliminary close at Reports Available, and escalation after the airlines' cut-off."""
    return (
        MilestoneJob(PRELIMINARY, lambda p: p.reports_available, run_preliminary),
        MilestoneJob(
            ESCALATION,
            lambda p: p.airline_response_cutoff + timedelta(days=1),
            _run_escalation,
            due_in=escalation_time,
        ),
    )
