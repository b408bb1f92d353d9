"""Participant rules: what the gateway knows about a submitter, checked against a billing file.

The codecs judge a file on its own; these rules judge it against the participants and the
calendar: the submitter must be an airline owning the file's prefix in that CASS country, the
currency must be the country's, the billing period must be in the calendar and still open for
submissions, and every agent must be a CASS agent of that country.  The rules take plain data
(``SubmissionContext``), so they run in worker processes and need no configuration objects.

Booking rules (SETTLEMENT.md "Booking billing data")
---------------------------------------------------
* The period of a record is the calendar period the file's header names; its AWB execution date
  places it: before the period's Billing From the record is *late* (flagged in the ledger, still
  billed); after its Billing To it is rejected (``EXECUTION_AFTER_PERIOD``: bill it in its own
  period).  Both AWB and correction records carry the AWB's execution date and follow the rule.
* A file judged after the period's Airline Input Upload Cut-Off is rejected whole
  (``PERIOD_CLOSED``, a file-level finding naming the cut-off); the time that counts is the
  context's ``now``, which the intake sets when it assesses the file.
* An AWB is billed once per CASS country: a second original billing (an ``AWM``/``AWB`` record)
  of a (country, prefix, serial) already booked by an earlier, not withdrawn file is rejected
  (``AWB_ALREADY_BILLED``); repeats within one file are ``AWB_DUPLICATE``.  Changes come as
  correction pairs (CCO/CCR, DCO/DCR), which are never duplicates.  The gateway checks this in
  SQL against the ledger (``opencass.gateway.assess``).
* CASS Import (``AA2``/``AA3`` files of ``IBI``/``IBO``/``IBR`` records) follows the same rules
  in its own operation (``DE-I``): the delivery date places a record (late before the period,
  rejected after it); the file's header names no airline, so each record's prefix must be one
  the submitter bills for there (``AWB_PREFIX_NOT_OWNED``); an AWB is billed once per import
  operation; corrections come as ``IBO``/``IBR`` pairs.
* Void (``V``) and service (``S``) AWBs are booked like any AWB (they use up the serial) and
  carry no charges due (``AwbRecord.charges_due``, netting bills them as zero); charges on one
  are reported with the warning ``CHARGES_ON_NON_REVENUE`` and not billed.
* A whole file may be withdrawn by its submitter until the period's upload cut-off
  (``check_withdrawal``); its records then leave the period and no longer count as billed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from opencass.findings import Finding, finding
from opencass.model import (
    IMPORT_HEADER_IDS,
    AwbRecord,
    BillingHeader,
    CorrectionRecord,
    DetailRecord,
    ImportRecord,
)

if TYPE_CHECKING:
    from opencass.settlement.tax import Mismatch, TaxEngine


@dataclass(frozen=True, slots=True)
class PeriodWindow:
    """A calendar period as the rules need it."""

    code: str
    billing_from: date
    billing_to: date
    upload_cutoff: datetime  # aware
    invoice_day: date | None = None  # final billing day (the tax point of "invoice" countries)


@dataclass(frozen=True, slots=True)
class CountryRules:
    """One CASS country, from the submitter's point of view."""

    currency: str
    owned_prefixes: frozenset[str]  # the submitter's airline prefixes in this country
    agents: frozenset[str]  # every CASS agent code of this country
    periods: tuple[PeriodWindow, ...] = ()
    live: bool = True  # false before the country's go-live: only sandbox files
    go_live: datetime | None = None  # when a country not live goes live by itself
    tax: TaxEngine | None = None  # the country's tax rules, when it has any (TAX_MISMATCH)


@dataclass(frozen=True, slots=True)
class SubmissionContext:
    """Everything the participant rules need about one submission."""

    company: str
    is_airline: bool
    now: datetime  # aware
    countries: dict[str, CountryRules] = field(default_factory=dict)
    sandbox: bool = False  # a file of the sandbox inbox


@dataclass(frozen=True, slots=True)
class HeaderVerdict:
    """The header's findings and, when it passes, the period the file belongs to."""

    findings: list[Finding]
    period: PeriodWindow | None
    agents: frozenset[str]
    tax: TaxEngine | None = None  # the country's tax rules (TAX_MISMATCH), if it has any
    # an import file of an airline or handler: the prefixes it bills for (checked per record)
    prefixes: frozenset[str] | None = None


def _period(rules: CountryRules, header: BillingHeader) -> PeriodWindow | None:
    for p in rules.periods:
        if p.billing_from <= header.period_start <= p.billing_to:
            return p if header.period_end <= p.billing_to else None
    return None


def check_header(header: BillingHeader, ctx: SubmissionContext) -> HeaderVerdict:
    """File-level participant rules on a billing file's header."""
    out: list[Finding] = []
    rid = header.record_id

    def add(code: str, message: str, name: str) -> None:
        out.append(finding(code, message, line=1, record_type=rid, field=name))

    if not ctx.is_airline:
        add("SUBMITTER_NOT_AIRLINE", f"{ctx.company} is not an airline", "airline_prefix")
    op = header.operation  # DE (export) or DE-I (import)
    rules = ctx.countries.get(op)
    if rules is None:
        add("COUNTRY_UNKNOWN", f"CASS operation {op!r} is not operated here", "country")
        return HeaderVerdict(out, None, frozenset())
    live = rules.live or (rules.go_live is not None and ctx.now >= rules.go_live)
    if not live and not ctx.sandbox:
        since = f" (live from {rules.go_live.isoformat()})" if rules.go_live else ""
        add("COUNTRY_NOT_LIVE", f"CASS {op} is not live yet{since}: until then "
            "files go to /sandbox/inbox", "country")  # fmt: skip
    importing = header.record_id in IMPORT_HEADER_IDS  # prefixes are checked per record
    if ctx.is_airline and not importing and header.airline_prefix not in rules.owned_prefixes:
        owned = ", ".join(sorted(rules.owned_prefixes)) or "none"
        add(
            "PREFIX_NOT_OWNED",
            f"prefix {header.airline_prefix!r} is not {ctx.company}'s in {op} (yours: {owned})",
            "airline_prefix",
        )
    if header.currency and header.currency != rules.currency:
        add(
            "CURRENCY_NOT_OPERATION",
            f"{header.currency} is not the currency of CASS {op} ({rules.currency})",
            "currency",
        )
    period = _period(rules, header)
    if period is None:
        add(
            "PERIOD_UNKNOWN",
            f"no {op} billing period covers {header.period_start} to {header.period_end}",
            "period_start",
        )
    elif ctx.now > period.upload_cutoff:
        add(
            "PERIOD_CLOSED",
            f"period {period.code} closed for submissions at its Airline Input Upload Cut-Off "
            f"{period.upload_cutoff.isoformat()}; the file arrived at {ctx.now.isoformat()}",
            "period_start",
        )
    prefixes = rules.owned_prefixes if importing and ctx.is_airline else None
    return HeaderVerdict(out, period, rules.agents, rules.tax, prefixes)


def check_record(rec: DetailRecord, line: int | None, agents: frozenset[str]) -> Finding | None:
    """Record-level participant rules: the agent (an import's recipient) must be a CASS agent
    of the operation."""
    if isinstance(rec, AwbRecord | CorrectionRecord) and rec.agent_code not in agents:
        who = f"agent {rec.agent_code[:7]}/{rec.agent_code[7:]}"
    elif isinstance(rec, ImportRecord) and rec.agent_code not in agents:
        who = f"recipient {rec.agent_code}"
    else:
        return None
    return finding(
        "AGENT_UNKNOWN",
        f"{who} is not a CASS agent here",
        line=line,
        record_type=rec.record_id,
        field="agent_code",
    )


def check_billing_party(
    rec: ImportRecord, line: int | None, company: str, prefixes: frozenset[str]
) -> Finding | None:
    """``AWB_PREFIX_NOT_OWNED``: an import record of an airline the submitter does not bill for
    (an import file may bill several airlines: a ground handler bills for each it serves)."""
    if rec.airline_prefix in prefixes:
        return None
    owned = ", ".join(sorted(prefixes)) or "none"
    return finding(
        "AWB_PREFIX_NOT_OWNED",
        f"AWB {rec.awb}: {company} does not bill for airline {rec.airline_prefix} in this "
        f"operation (yours: {owned})",
        line=line,
        record_type=rec.record_id,
        field="airline_prefix",
    )


def check_execution(
    rec: AwbRecord | CorrectionRecord | ImportRecord, line: int | None, period: PeriodWindow
) -> Finding | None:
    """``EXECUTION_AFTER_PERIOD`` when the record's AWB was executed (an import record's
    shipment delivered) after the period's end."""
    if rec.execution_date <= period.billing_to:
        return None
    did, name = (
        ("delivered", "delivery_date") if isinstance(rec, ImportRecord)
        else ("executed", "execution_date")
    )  # fmt: skip
    return finding(
        "EXECUTION_AFTER_PERIOD",
        f"AWB {rec.awb} was {did} on {rec.execution_date}, after the end of period "
        f"{period.code} ({period.billing_to}); bill it in its own period",
        line=line,
        record_type=rec.record_id,
        field=name,
    )


def tax_mismatch(rec: AwbRecord, line: int | None, m: Mismatch) -> Finding:
    """``TAX_MISMATCH``: the tax a record carries is not what the rules compute."""
    return finding(
        "TAX_MISMATCH",
        f"AWB {rec.awb}: {m.field} is {m.carried} {rec.currency}, the tax rules of the country "
        f"give {m.computed}; the record's figure is settled as billed",
        line=line,
        record_type=rec.record_id,
        field=m.field,
    )


def is_late(rec: AwbRecord | CorrectionRecord | ImportRecord, period: PeriodWindow) -> bool:
    """True when the record's AWB was executed before the period's start (billed, flagged)."""
    return rec.execution_date < period.billing_from


def already_billed(
    line: int | None, record_type: str, prefix: str, serial: str, earlier_file: str
) -> Finding:
    """``AWB_ALREADY_BILLED``: a second original billing of an AWB an earlier file booked."""
    return finding(
        "AWB_ALREADY_BILLED",
        f"AWB {prefix}-{serial} was billed before in file {earlier_file}; an AWB is billed "
        "once per country (send a CCA or DCM correction pair to change it, or withdraw that "
        "file first)",
        line=line,
        record_type=record_type,
        field="awb_serial",
    )


# --- withdrawal of a whole file -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubmittedFile:
    """What the withdrawal rules need about the file a withdrawal request names."""

    file_id: str
    company: str
    sandbox: bool
    booked: int  # ledger records of the file (0: nothing was booked)
    withdrawn: bool  # a withdrawal of it is recorded
    country: str | None
    period: str | None


def check_withdrawal(
    target: SubmittedFile | None,
    requester: str,
    named: str,
    now: datetime,
    window: PeriodWindow | None,
    closed: bool = False,
) -> Finding | None:
    """None when ``requester`` may withdraw ``target`` at ``now``, else the refusal.

    ``named`` is how the request named the file (for the message); ``window`` is the file's
    period in the calendar (None when the calendar no longer has it); ``closed`` is True when a
    close of that period has started (a close published ahead of the calendar freezes it too).
    """
    if target is None:
        return finding("WITHDRAWAL_UNKNOWN_FILE", f"no submission of yours is {named}")
    if target.company != requester:
        return finding(
            "WITHDRAWAL_NOT_OWNER",
            f"file {target.file_id} was not submitted by {requester}; only its submitter "
            "may withdraw it",
        )
    if target.withdrawn:
        return finding("WITHDRAWAL_ALREADY_DONE", f"file {target.file_id} is already withdrawn")
    if target.sandbox or target.booked == 0:
        why = "a sandbox file is never booked" if target.sandbox else "nothing of it was booked"
        return finding("WITHDRAWAL_NOT_BOOKED", f"file {target.file_id} cannot be withdrawn: {why}")
    if window is None:
        return finding(
            "WITHDRAWAL_AFTER_CUTOFF",
            f"period {target.period} of {target.country} is not in the calendar any more",
        )
    if closed or now > window.upload_cutoff:
        when = (
            "its close has started"
            if closed and now <= window.upload_cutoff
            else f"its Airline Input Upload Cut-Off was {window.upload_cutoff.isoformat()}"
        )
        return finding(
            "WITHDRAWAL_AFTER_CUTOFF",
            f"file {target.file_id} is billed in period {window.code}, closed for withdrawals: "
            f"{when}",
        )
    return None
