"""Participant rules: what the gateway knows about a submitter, checked against a billing file.

The codecs judge a file on its own; these rules judge it against the participants and the
calendar: the submitter must be an airline owning the file's prefix in that CASS country, the
currency must be the country's, the billing period must be in the calendar and still open for
submissions, and every agent must be a CASS agent of that country.  The rules take plain data
(``SubmissionContext``), so they run in worker processes and need no configuration objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from opencass.codecs.findings import Finding, finding
from opencass.model import AwbRecord, BillingHeader, CorrectionRecord, DetailRecord


@dataclass(frozen=True, slots=True)
class PeriodWindow:
    """A calendar period as the rules need it."""

    code: str
    billing_from: date
    billing_to: date
    upload_cutoff: datetime  # aware


@dataclass(frozen=True, slots=True)
class CountryRules:
    """One CASS country, from the submitter's point of view."""

    currency: str
    owned_prefixes: frozenset[str]  # the submitter's airline prefixes in this country
    agents: frozenset[str]  # every CASS agent code of this country
    periods: tuple[PeriodWindow, ...] = ()


@dataclass(frozen=True, slots=True)
class SubmissionContext:
    """Everything the participant rules need about one submission."""

    company: str
    is_airline: bool
    now: datetime  # aware
    countries: dict[str, CountryRules] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HeaderVerdict:
    """The header's findings and, when it passes, the period the file belongs to."""

    findings: list[Finding]
    period: PeriodWindow | None
    agents: frozenset[str]


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
    rules = ctx.countries.get(header.country)
    if rules is None:
        add("COUNTRY_UNKNOWN", f"CASS country {header.country!r} is not operated here", "country")
        return HeaderVerdict(out, None, frozenset())
    if ctx.is_airline and header.airline_prefix not in rules.owned_prefixes:
        owned = ", ".join(sorted(rules.owned_prefixes)) or "none"
        add(
            "PREFIX_NOT_OWNED",
            f"prefix {header.airline_prefix!r} is not {ctx.company}'s in {header.country} "
            f"(yours: {owned})",
            "airline_prefix",
        )
    if header.currency and header.currency != rules.currency:
        add(
            "CURRENCY_NOT_OPERATION",
            f"{header.currency} is not the currency of CASS {header.country} ({rules.currency})",
            "currency",
        )
    period = _period(rules, header)
    if period is None:
        add(
            "PERIOD_UNKNOWN",
            f"no {header.country} billing period covers {header.period_start} to "
            f"{header.period_end}",
            "period_start",
        )
    elif ctx.now > period.upload_cutoff:
        add(
            "PERIOD_CLOSED",
            f"period {period.code} closed for submissions at {period.upload_cutoff.isoformat()}",
            "period_start",
        )
    return HeaderVerdict(out, period, rules.agents)


def check_record(rec: DetailRecord, line: int | None, agents: frozenset[str]) -> Finding | None:
    """Record-level participant rules: the agent must be a CASS agent of the country."""
    if isinstance(rec, AwbRecord | CorrectionRecord) and rec.agent_code not in agents:
        return finding(
            "AGENT_UNKNOWN",
            f"agent {rec.agent_code[:7]}/{rec.agent_code[7:]} is not a CASS agent here",
            line=line,
            record_type=rec.record_id,
            field="agent_code",
        )
    return None
