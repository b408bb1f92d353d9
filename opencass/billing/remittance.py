"""Remittance against the store: expected amounts fixed at the final billing, payments, the
checks at Remittance Day and after the grace period, irregularities and defaults.

Theory of operation
-------------------
- ``record_expected`` runs after every final close (the scheduler's and ``opencass period
  close --final``): one ``remittance_expected`` row per agent code of the period with its
  statement total and Remittance Day.  Running it again with the same close writes the same
  rows (rows of agents no longer in the statement are removed; the withholding fixed by a
  check is kept).  A credit statement (negative total) is stored as it is: the agent owes
  nothing and the credit is the operator's to refund or set off; it never becomes overdue.
- Payments (``payments`` table) come from camt.053/054 files (``opencass.billing.payments``)
  and from ``opencass payment record``.  Each is matched to (country, period, agent code) or
  left unmatched (listed for the operator).
- ``reconcile`` judges one agent's period with ``opencass.settlement.remittance.assess`` and
  records what follows, once each (keys): ``payment.received`` per matched payment,
  ``payment.overdue`` when Remittance Day is over and something is owed, the period's
  irregularity (``irregularities`` table, the first one charged is kept) with
  ``payment.irregularity``, and a default (``agent_defaults``) with ``agent.default`` for the
  agent's company and every airline company of the country.  It runs inside the caller's
  transaction: after a payment is recorded, and for every agent of a period by the two
  milestone jobs below.
- Withholding: where ``DisputePolicy.withholding_allowed``, the agent may keep back its open
  disputed amounts of the period (``opencass.store.disputes.open_disputed_amounts``).  The
  amount is read live until Remittance Day is over; the first check after that fixes it in
  ``remittance_expected.withheld`` (a dispute answered later changes the next period, not
  this remittance).
- A default stays until the operator lifts it (``cleared_at``); a later payment does not lift
  it: the payment is recorded and matched, the default is a decision about the agent.

Milestone jobs (``remittance_jobs``, listed in ``opencass.billing.registry``): ``remittance`` at the
end of Remittance Day (00:00 of the next day in the country's time zone) and ``remittance-grace`` at
the end of the grace period (00:00 after Remittance Day + ``grace_days``). Both reconcile every
agent of the period as of the day that just ended + 1 (so "after Remittance Day" holds) and are
idempotent.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from opencass.billing.jobs import JobContext, MilestoneJob
from opencass.clock import system_clock
from opencass.config.model import CompanyKind, Config, Period, local_today
from opencass.config.policies import RemittancePolicy
from opencass.errors import InputError
from opencass.events import Event, EventType, event
from opencass.settlement.netting import PeriodSettlement
from opencass.settlement.payouts import share_out
from opencass.settlement.remittance import (
    Assessment,
    Paid,
    assess,
    default_reason,
    pick_period,
    withholding,
)
from opencass.store import remittance as rstore
from opencass.store.connect import connect_sync, migrate_sync
from opencass.store.events import record_events
from opencass.store.payruns import (
    add_claim,
    prefunded_balance,
    remittance_lines,
    run_of,
    save_lines,
)
from opencass.store.remittance import NewPayment
from opencass.store.rows import utc_stamp
from opencass.store.tx import transaction

__all__ = [
    "GRACE",
    "REMITTANCE",
    "AgentPeriod",
    "HandPayment",
    "PaymentRefusedError",
    "agent_companies",
    "airline_companies",
    "check_period",
    "expect_remittance",
    "payment_event",
    "period_status",
    "reconcile",
    "record_expected",
    "record_payment",
    "resolve_period",
]

REMITTANCE = "remittance"
GRACE = "remittance-grace"
PAYOUT = "settlement-payout"

# --- expected remittance ----------------------------------------------------------------------


def record_expected(
    conn: sqlite3.Connection,
    country: str,
    period: str,
    settlement: PeriodSettlement,
    due: date,
) -> int:
    """Fix the expected remittance of every agent of a final close (in the caller's
    transaction); the number of agents.  Idempotent."""
    totals = [(a.agent_code, a.total) for a in settlement.agents]
    lines = [(line.agent_code, line.airline_prefix, line.amount) for line in settlement.lines]
    save_lines(conn, country, period, lines)
    return rstore.upsert_expected(conn, country, period, settlement.currency, totals, due)


def expect_remittance(
    config: Config,
    country: str,
    period: str,
    settlement: PeriodSettlement,
    now: datetime | None = None,
    created: datetime | None = None,
) -> int:
    """``record_expected`` in its own transaction, for the callers of a final close (blocking:
    run it in a thread from the event loop); the number of agents.  ``created``: the direct
    debit collection's creation time (the close's reference time, so that a close run again
    -- after a crash, on another node -- writes the same file; default ``now``).

    A final close that runs after the end of Remittance Day (or of the grace period) -- closed
    late by hand, or run at a start together with the checks it missed, which may then have
    found nothing to check -- is followed by those checks at once, as of their own days."""
    from opencass.config.model import find_period

    _, p = find_period(config, country, period)
    conn = connect_sync(config.gateway.database)
    try:
        migrate_sync(conn)
        with transaction(conn):
            n = record_expected(conn, country, period, settlement, p.remittance_day)
    finally:
        conn.close()
    when = now or system_clock()
    from opencass.billing.payfiles import collect_direct_debits
    from opencass.billing.risk import risk_check

    collect_direct_debits(config, country, period, created or when)
    risk_check(config, country, when, profiles=period)
    for due in (_remittance_due(p), _grace_due_in(p, config)):
        if due <= when:
            check_period(config, country, period, due.date(), when)
    return n


# --- participants -----------------------------------------------------------------------------


def agent_companies(config: Config, country: str, agent_code: str) -> list[str]:
    """The agent companies holding ``agent_code`` in ``country``."""
    return sorted(
        c.id
        for c in config.companies.values()
        if c.kind is CompanyKind.AGENT and agent_code in c.agent_codes.get(country, ())
    )


def airline_companies(config: Config, country: str) -> list[str]:
    """Every airline company billing in ``country``."""
    return sorted(
        c.id
        for c in config.companies.values()
        if c.kind is CompanyKind.AIRLINE and c.airline_prefixes.get(country)
    )


# --- payments ---------------------------------------------------------------------------------


def payment_event(config: Config, p: NewPayment, payment_id: int) -> list[Event]:
    """``payment.received`` for each company of the paying agent."""
    if p.country is None or p.agent_code is None:
        return []
    return [
        event(
            EventType.PAYMENT_RECEIVED,
            p.key,
            company,
            summary=f"payment of {p.amount} {p.currency} (value {p.value_date}) from agent "
            f"{p.agent_code} for {p.country} period {p.period}",
            company=company,
            country=p.country,
            period=p.period,
            agent_code=p.agent_code,
            object_kind="payment",
            object_ref=str(payment_id),
            data={
                "amount": str(p.amount),
                "currency": p.currency,
                "value_date": p.value_date.isoformat(),
                "source": p.source,
                "reference": p.reference,
            },
        )
        for company in agent_companies(config, p.country, p.agent_code)
    ]


def returned_events(
    conn: sqlite3.Connection, config: Config, p: NewPayment, reason: str, payment_id: int,
    now: datetime,
) -> list[Event]:  # fmt: skip
    """A payment taken back (``p``, negative): a ``returned`` irregularity of the period (at
    most one per period, as every irregularity), claims on the airlines when the period's
    payout already paid them (shared like the payment), and ``payment.returned`` for the
    agent's companies and the operator."""
    assert p.country is not None and p.period is not None and p.agent_code is not None
    country, period, agent, amount = p.country, p.period, p.agent_code, -p.amount
    expected = rstore.expected_row(conn, country, period, agent)
    owed = expected.amount if expected else Decimal(0)
    paid = sum((a for a, _ in rstore.payments_of(conn, country, period, agent)), Decimal(0))
    rstore.record_irregularity(conn, (country, period, agent), "returned", p.value_date,
                               (owed, owed, paid), now)  # fmt: skip
    claims = {}
    if run_of(conn, country, period, "payout") is not None:
        lines = remittance_lines(conn, country, period).get(agent, {})
        for prefix, share in share_out(amount, lines).items():
            if share > 0:
                add_claim(conn, country, prefix, share, f"{reason}: agent {agent} {period}",
                          payment_id, utc_stamp(now))  # fmt: skip
                claims[prefix] = str(share)
    operators = [c.id for c in config.companies.values() if c.kind is CompanyKind.OPERATOR]
    summary = (f"payment of {amount} {p.currency} from agent {agent} for {country} period"
               f" {period} came back ({reason})")  # fmt: skip
    data = {"amount": str(amount), "currency": p.currency, "reason": reason, "claims": claims}
    return [
        event(
            EventType.PAYMENT_RETURNED,
            p.key,
            company,
            summary=summary,
            company=company,
            country=country,
            period=period,
            agent_code=agent,
            object_kind="payment",
            object_ref=str(payment_id),
            data=data,
        )
        for company in [*agent_companies(config, country, agent), *operators]
    ]


def resolve_period(
    conn: sqlite3.Connection, country: str, agent_code: str, today: date
) -> str | None:
    """The period a payment of ``agent_code`` without a period goes to: the oldest expected
    remittance with something outstanding, else the most recent (see ``pick_period``)."""
    candidates = []
    for code in rstore.expected_periods(conn, country, agent_code):
        a = _assessment(conn, None, country, code, agent_code, today)
        if a is not None:
            candidates.append((code, a[0].due, a[1].outstanding))
    return pick_period(candidates)


# --- judging ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentPeriod:
    """The stored facts of one agent's period."""

    country: str
    period: str
    agent_code: str
    currency: str
    expected: Decimal
    due: date
    withheld: Decimal | None  # fixed by the first check after Remittance Day
    payments: tuple[Paid, ...]


def _agent_period(
    conn: sqlite3.Connection, country: str, period: str, agent_code: str
) -> AgentPeriod | None:
    row = rstore.expected_row(conn, country, period, agent_code)
    if row is None:
        return None
    paid = tuple(Paid(a, v) for a, v in rstore.payments_of(conn, country, period, agent_code))
    return AgentPeriod(
        country, period, agent_code, row.currency, row.amount, row.due, row.withheld, paid
    )


def _policy(config: Config | None, country: str) -> tuple[RemittancePolicy, bool]:
    c = config.countries.get(country) if config is not None else None
    if c is None:
        return RemittancePolicy(), False
    return c.remittance, c.disputes.withholding_allowed


def _assessment(
    conn: sqlite3.Connection,
    config: Config | None,
    country: str,
    period: str,
    agent_code: str,
    as_of: date,
) -> tuple[AgentPeriod, Assessment] | None:
    ap = _agent_period(conn, country, period, agent_code)
    if ap is None:
        return None
    policy, allowed = _policy(config, country)
    if ap.withheld is not None:
        withheld = ap.withheld
    else:
        disputed = rstore.open_disputed(conn, country, period).get(agent_code, Decimal(0))
        withheld = withholding(ap.expected, disputed, allowed)
    a = assess(
        ap.expected,
        ap.payments,
        ap.due,
        as_of,
        withheld=withheld,
        grace_days=policy.grace_days,
    )
    return ap, a


def reconcile(
    conn: sqlite3.Connection,
    config: Config,
    country: str,
    period: str,
    agent_code: str,
    as_of: date,
    now: datetime,
) -> list[Event]:
    """Judge one agent's period as of ``as_of`` and store what follows, stamped ``now`` (in the
    caller's transaction); the events to record with it."""
    found = _assessment(conn, config, country, period, agent_code, as_of)
    if found is None:
        return []
    ap, a = found
    if as_of > ap.due and ap.withheld is None:
        rstore.fix_withheld(conn, country, period, agent_code, a.withheld, as_of)
    about = _About(config, ap, a)
    events: list[Event] = []
    if as_of > ap.due and a.outstanding > 0:
        events += about.overdue()
    irregularity = a.irregularity
    if irregularity is not None:
        amounts = (a.expected, a.required, a.paid)
        key = (country, period, agent_code)
        kind, day = str(irregularity.kind), irregularity.on_day
        if rstore.record_irregularity(conn, key, kind, day, amounts, now):
            events += about.irregular(kind, day)
    if rstore.open_default(conn, country, agent_code) is None:
        policy, _ = _policy(config, country)
        reason = default_reason(
            rstore.irregularity_days(conn, country, agent_code),
            as_of,
            limit=policy.irregularity_limit,
            window_days=policy.irregularity_window_days,
            unpaid_after_grace=a.unpaid_after_grace,
        )
        if reason is not None:
            rstore.record_default(conn, country, agent_code, as_of, reason, period, now)
            events += about.default(reason, as_of)
    return events


class _About:
    """The events of one agent's period as judged (``reconcile``)."""

    def __init__(self, config: Config, ap: AgentPeriod, a: Assessment) -> None:
        self.config, self.ap, self.a = config, ap, a
        self.agents = agent_companies(config, ap.country, ap.agent_code)
        self.where = f"{ap.country} period {ap.period}"
        self.facts = {
            "expected": str(a.expected),
            "withheld": str(a.withheld),
            "required": str(a.required),
            "paid": str(a.paid),
            "paid_on_time": str(a.paid_on_time),
            "outstanding": str(a.outstanding),
            "currency": ap.currency,
            "remittance_day": ap.due.isoformat(),
        }

    def _event(
        self, kind: EventType, cause: tuple[str, ...], company: str, summary: str, **more: Any
    ) -> Event:
        ap = self.ap
        ref = f"{ap.country}:{ap.period}:{ap.agent_code}"
        fields: dict[str, Any] = {"object_kind": "remittance", "object_ref": ref, **more}
        return event(
            kind,
            *cause,
            company,
            summary=summary,
            company=company,
            country=ap.country,
            period=ap.period,
            agent_code=ap.agent_code,
            **{"data": self.facts, **fields},
        )

    def overdue(self) -> list[Event]:
        ap, a = self.ap, self.a
        key = (ap.country, ap.period, ap.agent_code)
        summary = (
            f"agent {ap.agent_code}: {a.outstanding} {ap.currency} of {self.where} not received"
            f" by Remittance Day {ap.due}"
        )
        return [self._event(EventType.PAYMENT_OVERDUE, key, c, summary) for c in self.agents]

    def irregular(self, kind: str, day: date) -> list[Event]:
        ap, a = self.ap, self.a
        key = (ap.country, ap.period, ap.agent_code)
        summary = (
            f"agent {ap.agent_code}: {kind} payment for {self.where} (required "
            f"{a.required} {ap.currency}, paid {a.paid}, on time {a.paid_on_time})"
        )
        data = {**self.facts, "kind": kind, "on_day": day.isoformat()}
        return [
            self._event(EventType.PAYMENT_IRREGULARITY, key, c, summary, data=data)
            for c in self.agents
        ]

    def default(self, reason: str, since_day: date) -> list[Event]:
        ap = self.ap
        since = since_day.isoformat()
        key = (ap.country, ap.agent_code, since)
        summary = (
            f"agent {ap.agent_code} is in default in {ap.country} since {since}"
            f" ({reason}; {self.where})"
        )
        data = {**self.facts, "reason": reason, "since": since}
        ref = f"{ap.country}:{ap.agent_code}"
        companies = [*self.agents, *airline_companies(self.config, ap.country)]
        return [
            self._event(
                EventType.AGENT_DEFAULT, key, c, summary, data=data, object_kind="agent",
                object_ref=ref,
            )
            for c in companies
        ]  # fmt: skip


def check_period(config: Config, country: str, period: str, as_of: date, now: datetime) -> int:
    """Reconcile every agent expected to remit for the period and record the events, in one
    transaction (blocking); the number of events recorded."""
    conn = connect_sync(config.gateway.database)
    try:
        migrate_sync(conn)
        with transaction(conn):
            events: list[Event] = []
            for agent in rstore.expected_agents(conn, country, period):
                draw_prefunded(conn, config, (country, period, agent), as_of, now)
                events += reconcile(conn, config, country, period, agent, as_of, now)
            recorded = record_events(conn, events, utc_stamp(now))
    finally:
        conn.close()
    from opencass.billing.risk import risk_check

    return recorded + risk_check(config, country, now)


def payment_option(config: Config, country: str, period: str, agent_code: str) -> str:
    """How the agent pays for the period: transfer, direct_debit or prefunded."""
    for company in agent_companies(config, country, agent_code):
        banking = config.companies[company].banking.get(country)
        if banking is not None:
            return banking.option_for(period)
    return "transfer"


def draw_prefunded(
    conn: sqlite3.Connection, config: Config, key: tuple[str, str, str], as_of: date,
    now: datetime,
) -> Decimal:  # fmt: skip
    """Pay what an agent on a pre-funded account still owes for a period from its balance
    (at most the balance), as a payment valued ``as_of``; what was drawn."""
    country, period, agent = key
    if payment_option(config, country, period, agent) != "prefunded":
        return Decimal(0)
    expected = rstore.expected_row(conn, country, period, agent)
    paid = sum((a for a, _ in rstore.payments_of(conn, country, period, agent)), Decimal(0))
    owed = (expected.amount if expected else Decimal(0)) - paid
    draw = min(prefunded_balance(conn, country, agent), owed)
    if draw <= 0:
        return Decimal(0)
    currency = expected.currency if expected else config.countries[country].currency
    rstore.insert_payment(conn, NewPayment(
        key=f"prefund:{country}:{period}:{agent}:{as_of.isoformat()}", source="prefund-draw",
        amount=draw, currency=currency, value_date=as_of, country=country, period=period,
        agent_code=agent, matched_by="prefund", reference="drawn from the pre-funded account",
        recorded_by="opencass",
    ), now)  # fmt: skip
    return draw


class PaymentRefusedError(InputError):
    """A payment that cannot be recorded: an agent unknown in the country, or no period to
    book it to."""

    code = "PAYMENT_REFUSED"


@dataclass(frozen=True, slots=True)
class HandPayment:
    """A payment the operator records by hand (``opencass payment record``, the portal)."""

    country: str
    agent: str
    amount: Decimal
    value_date: date
    period: str | None  # None: the agent's oldest period still expecting money
    reference: str
    recorded_by: str


def record_payment(config: Config, p: HandPayment, now: datetime) -> tuple[int, str]:
    """Record a payment and reconcile the agent's period as of today in the country, with its
    events (``payment.received``, and a late payment's irregularity or a default), in one
    transaction: (payment id, period).  PaymentRefusedError when it cannot be (blocking)."""
    import secrets

    today = local_today(config, p.country, now)
    conn = connect_sync(config.gateway.database)
    try:
        migrate_sync(conn)
        with transaction(conn):
            known = bool(rstore.expected_periods(conn, p.country, p.agent))
            if not agent_companies(config, p.country, p.agent) and not known:
                raise PaymentRefusedError(f"agent {p.agent} is not a CASS agent of {p.country}")
            period = p.period or resolve_period(conn, p.country, p.agent, today)
            if period is None:
                raise PaymentRefusedError(f"nothing is expected from agent {p.agent} in"
                                          f" {p.country} yet; give --period")  # fmt: skip
            payment = NewPayment(
                key=f"operator:{now:%Y%m%dT%H%M%S%f}:{secrets.token_hex(4)}", source="operator",
                amount=p.amount, currency=config.countries[p.country].currency,
                value_date=p.value_date, country=p.country, period=period, agent_code=p.agent,
                matched_by="operator", reference=p.reference, recorded_by=p.recorded_by,
            )  # fmt: skip
            payment_id = rstore.insert_payment(conn, payment, now)
            assert payment_id is not None  # a fresh random key
            events = payment_event(config, payment, payment_id)
            events += reconcile(conn, config, p.country, period, p.agent, today, now)
            record_events(conn, events, utc_stamp(now))
    finally:
        conn.close()
    return payment_id, period


def reinstate(
    config: Config, country: str, agent: str, reason: str, by: str, now: datetime
) -> bool:
    """Lift an agent's default (the operator's decision, with its reason): recorded, and
    ``agent.reinstated`` for the agent and every airline of the country; False when the agent
    is not in default (blocking)."""
    conn = connect_sync(config.gateway.database)
    try:
        migrate_sync(conn)
        with transaction(conn):
            lifted = rstore.clear_default(conn, country, agent, by, reason, now)
            if lifted is None:
                return False
            summary = f"agent {agent} is reinstated in {country}: {reason}"
            data = {"since": lifted["since"], "reason": reason, "default_reason": lifted["reason"]}
            companies = [
                *agent_companies(config, country, agent),
                *airline_companies(config, country),
            ]
            events = [
                event(
                    EventType.AGENT_REINSTATED,
                    country,
                    agent,
                    lifted["since"],
                    company,
                    summary=summary,
                    company=company,
                    country=country,
                    agent_code=agent,
                    object_kind="agent",
                    object_ref=f"{country}:{agent}",
                    data=data,
                )
                for company in companies
            ]
            record_events(conn, events, utc_stamp(now))
    finally:
        conn.close()
    return True


# --- status -----------------------------------------------------------------------------------


def period_status(
    conn: sqlite3.Connection,
    config: Config | None,
    country: str,
    as_of: date,
    period: str | None = None,
    agent_code: str | None = None,
) -> list[dict[str, Any]]:
    """One row per expected remittance (filtered), with its assessment, irregularity and the
    agent's default."""
    out: list[dict[str, Any]] = []
    for code, agent in rstore.expected_keys(conn, country, period, agent_code):
        found = _assessment(conn, config, country, code, agent, as_of)
        if found is None:
            continue
        ap, a = found
        irr = rstore.irregularity_of(conn, country, code, agent)
        out.append(
            {
                "period": code,
                "agent_code": agent,
                "currency": ap.currency,
                "due": ap.due,
                "assessment": a,
                "irregularity": f"{irr[0]} {irr[1]}" if irr else "",
                "default": rstore.open_default(conn, country, agent),
            }
        )
    return out


# --- milestone jobs ---------------------------------------------------------------------------


def _end_of(day: date, period: Period) -> datetime:
    """00:00 of the day after ``day`` in the period's time zone (its milestones' zone)."""
    return datetime.combine(
        day + timedelta(days=1), time(0), tzinfo=period.billing_available.tzinfo
    )


def _remittance_due(period: Period) -> datetime:
    return _end_of(period.remittance_day, period)


def _grace_due(period: Period) -> datetime:  # without the configuration: the default policy
    return _end_of(period.remittance_day + timedelta(days=RemittancePolicy().grace_days), period)


def _grace_due_in(period: Period, config: Config) -> datetime:
    country = config.countries.get(period.country)
    days = country.remittance.grace_days if country else RemittancePolicy().grace_days
    return _end_of(period.remittance_day + timedelta(days=days), period)


async def _run_check(ctx: JobContext) -> int:
    tz = ZoneInfo(ctx.config.countries[ctx.country].timezone)
    as_of = ctx.reference.astimezone(tz).date()
    await asyncio.to_thread(check_period, ctx.config, ctx.country, ctx.period.code, as_of, ctx.now)
    return 0


def _settlement_due(period: Period) -> datetime:
    """The start of Settlement Day (00:00, country time): the payouts go to the bank."""
    return _end_of(period.settlement_day - timedelta(days=1), period)


async def _run_payout(ctx: JobContext) -> int:
    from opencass.billing.payfiles import pay_airlines

    paths = await asyncio.to_thread(
        pay_airlines, ctx.config, ctx.country, ctx.period.code, ctx.reference
    )
    return len(paths)


def remittance_jobs() -> tuple[MilestoneJob, ...]:
    """The jobs at the end of Remittance Day and of the grace days, and the payout to the
    airlines at the start of Settlement Day."""
    return (
        MilestoneJob(REMITTANCE, _remittance_due, _run_check),
        MilestoneJob(GRACE, _grace_due, _run_check, due_in=_grace_due_in),
        MilestoneJob(PAYOUT, _settlement_due, _run_payout),
    )
