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
from opencass.config.model import CompanyKind, Config, Period
from opencass.config.policies import RemittancePolicy
from opencass.events import Event, EventType
from opencass.settlement.netting import PeriodSettlement
from opencass.settlement.remittance import (
    Assessment,
    Paid,
    assess,
    default_reason,
    pick_period,
    withholding,
)
from opencass.store.events import record_events
from opencass.store.rows import utc_stamp
from opencass.store.sqlite import connect_sync, migrate_sync

__all__ = [
    "GRACE",
    "REMITTANCE",
    "AgentPeriod",
    "NewPayment",
    "agent_companies",
    "airline_companies",
    "check_period",
    "expect_remittance",
    "insert_payment",
    "local_today",
    "open_default",
    "payment_event",
    "period_status",
    "reconcile",
    "record_expected",
    "resolve_period",
]

REMITTANCE = "remittance"
GRACE = "remittance-grace"

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
    rows = [
        (country, period, a.agent_code, settlement.currency, str(a.total), due.isoformat())
        for a in settlement.agents
    ]
    conn.executemany(
        "INSERT INTO remittance_expected (country, period, agent_code, currency, amount, due)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (country, period, agent_code) DO UPDATE SET"
        " currency = excluded.currency, amount = excluded.amount, due = excluded.due",
        rows,
    )
    codes = [a.agent_code for a in settlement.agents]
    marks = ",".join("?" * len(codes))
    conn.execute(
        "DELETE FROM remittance_expected WHERE country = ? AND period = ?"  # noqa: S608
        f" AND agent_code NOT IN ({marks})",
        (country, period, *codes),
    )
    return len(rows)


def expect_remittance(
    config: Config,
    country: str,
    period: str,
    settlement: PeriodSettlement,
    now: datetime | None = None,
) -> int:
    """``record_expected`` in its own transaction, for the callers of a final close (blocking:
    run it in a thread from the event loop); the number of agents.

    A final close that runs after the end of Remittance Day (or of the grace period) -- closed
    late by hand, or run at a start together with the checks it missed, which may then have
    found nothing to check -- is followed by those checks at once, as of their own days."""
    from opencass.config.model import find_period

    _, p = find_period(config, country, period)
    conn = connect_sync(config.gateway.database)
    try:
        migrate_sync(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            n = record_expected(conn, country, period, settlement, p.remittance_day)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    when = now or system_clock()
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


def local_today(config: Config, country: str, now: datetime) -> date:
    """``now``'s day in the country's time zone."""
    return now.astimezone(ZoneInfo(config.countries[country].timezone)).date()


# --- payments ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewPayment:
    """A payment to record; ``country``/``period``/``agent_code`` None when unmatched."""

    key: str  # unique: a bank transaction or an operator entry
    source: str  # camt.053, camt.054, operator
    amount: Decimal
    currency: str
    value_date: date
    country: str | None = None
    period: str | None = None
    agent_code: str | None = None
    matched_by: str = "none"  # reference, agent-code, operator, none
    file_id: str | None = None
    booking_date: date | None = None
    reference: str = ""
    debtor: str = ""
    debtor_account: str = ""
    account: str = ""
    recorded_by: str = ""


def insert_payment(conn: sqlite3.Connection, p: NewPayment, now: datetime) -> int | None:
    """Record a payment at ``now``; its id, or None when its key was recorded before."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO payments (key, source, file_id, country, period, agent_code,"
        " amount, currency, value_date, booking_date, reference, debtor, debtor_account, account,"
        " matched_by, recorded_at, recorded_by)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            p.key,
            p.source,
            p.file_id,
            p.country,
            p.period,
            p.agent_code,
            str(p.amount),
            p.currency,
            p.value_date.isoformat(),
            p.booking_date.isoformat() if p.booking_date else None,
            p.reference,
            p.debtor,
            p.debtor_account,
            p.account,
            p.matched_by,
            utc_stamp(now),
            p.recorded_by,
        ),
    )
    return cur.lastrowid if cur.rowcount == 1 else None


def payment_event(config: Config, p: NewPayment, payment_id: int) -> list[Event]:
    """``payment.received`` for each company of the paying agent."""
    if p.country is None or p.agent_code is None:
        return []
    return [
        Event(
            type=EventType.PAYMENT_RECEIVED,
            key=f"payment.received:{p.key}:{company}",
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


def resolve_period(
    conn: sqlite3.Connection, country: str, agent_code: str, today: date
) -> str | None:
    """The period a payment of ``agent_code`` without a period goes to: the oldest expected
    remittance with something outstanding, else the most recent (see ``pick_period``)."""
    rows = conn.execute(
        "SELECT period FROM remittance_expected WHERE country = ? AND agent_code = ?",
        (country, agent_code),
    ).fetchall()
    candidates = []
    for (code,) in rows:
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
    row = conn.execute(
        "SELECT currency, amount, due, withheld FROM remittance_expected"
        " WHERE country = ? AND period = ? AND agent_code = ?",
        (country, period, agent_code),
    ).fetchone()
    if row is None:
        return None
    paid = tuple(
        Paid(Decimal(a), date.fromisoformat(v))
        for a, v in conn.execute(
            "SELECT amount, value_date FROM payments WHERE country = ? AND period = ?"
            " AND agent_code = ? ORDER BY id",
            (country, period, agent_code),
        )
    )
    return AgentPeriod(
        country,
        period,
        agent_code,
        row[0],
        Decimal(row[1]),
        date.fromisoformat(row[2]),
        Decimal(row[3]) if row[3] is not None else None,
        paid,
    )


def _disputed(conn: sqlite3.Connection, country: str, period: str) -> dict[str, Decimal]:
    try:
        from opencass.store.disputes import open_disputed_amounts
    except ImportError:  # the disputes store is not there: nothing is disputed
        return {}
    try:
        return open_disputed_amounts(conn, country, period)
    except sqlite3.OperationalError:  # no disputes table in this store
        return {}


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
        disputed = _disputed(conn, country, period).get(agent_code, Decimal(0))
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


def open_default(conn: sqlite3.Connection, country: str, agent_code: str) -> dict[str, Any] | None:
    """The agent's default in force (since, reason, period), or None."""
    row = conn.execute(
        "SELECT since, reason, period FROM agent_defaults WHERE country = ? AND agent_code = ?"
        " AND cleared_at IS NULL ORDER BY since DESC LIMIT 1",
        (country, agent_code),
    ).fetchone()
    return {"since": row[0], "reason": row[1], "period": row[2]} if row else None


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
    policy, _ = _policy(config, country)
    events: list[Event] = []
    agents = agent_companies(config, country, agent_code)
    cur = ap.currency
    where = f"{country} period {period}"
    if as_of > ap.due and ap.withheld is None:
        conn.execute(
            "UPDATE remittance_expected SET withheld = ?, checked_at = ?"
            " WHERE country = ? AND period = ? AND agent_code = ?",
            (str(a.withheld), as_of.isoformat(), country, period, agent_code),
        )
    facts = {
        "expected": str(a.expected),
        "withheld": str(a.withheld),
        "required": str(a.required),
        "paid": str(a.paid),
        "paid_on_time": str(a.paid_on_time),
        "outstanding": str(a.outstanding),
        "currency": cur,
        "remittance_day": ap.due.isoformat(),
    }
    if as_of > ap.due and a.outstanding > 0:
        events += [
            Event(
                type=EventType.PAYMENT_OVERDUE,
                key=f"payment.overdue:{country}:{period}:{agent_code}:{company}",
                summary=f"agent {agent_code}: {a.outstanding} {cur} of {where} not received by"
                f" Remittance Day {ap.due}",
                company=company,
                country=country,
                period=period,
                agent_code=agent_code,
                object_kind="remittance",
                object_ref=f"{country}:{period}:{agent_code}",
                data=facts,
            )
            for company in agents
        ]
    if a.irregularity is not None:
        cur_ins = conn.execute(
            "INSERT OR IGNORE INTO irregularities (country, period, agent_code, kind, on_day,"
            " expected, required, paid, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                country,
                period,
                agent_code,
                str(a.irregularity.kind),
                a.irregularity.on_day.isoformat(),
                str(a.expected),
                str(a.required),
                str(a.paid),
                utc_stamp(now),
            ),
        )
        if cur_ins.rowcount == 1:
            kind = str(a.irregularity.kind)
            events += [
                Event(
                    type=EventType.PAYMENT_IRREGULARITY,
                    key=f"payment.irregularity:{country}:{period}:{agent_code}:{company}",
                    summary=f"agent {agent_code}: {kind} payment for {where} (required "
                    f"{a.required} {cur}, paid {a.paid}, on time {a.paid_on_time})",
                    company=company,
                    country=country,
                    period=period,
                    agent_code=agent_code,
                    object_kind="remittance",
                    object_ref=f"{country}:{period}:{agent_code}",
                    data={**facts, "kind": kind, "on_day": a.irregularity.on_day.isoformat()},
                )
                for company in agents
            ]
    if open_default(conn, country, agent_code) is None:
        days = [
            date.fromisoformat(d)
            for (d,) in conn.execute(
                "SELECT on_day FROM irregularities WHERE country = ? AND agent_code = ?",
                (country, agent_code),
            )
        ]
        reason = default_reason(
            days,
            as_of,
            limit=policy.irregularity_limit,
            window_days=policy.irregularity_window_days,
            unpaid_after_grace=a.unpaid_after_grace,
        )
        if reason is not None:
            since = as_of.isoformat()
            conn.execute(
                "INSERT OR IGNORE INTO agent_defaults (country, agent_code, since, reason, period,"
                " recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
                (country, agent_code, since, reason, period, utc_stamp(now)),
            )
            data = {**facts, "reason": reason, "since": since}
            for company in [*agents, *airline_companies(config, country)]:
                events.append(
                    Event(
                        type=EventType.AGENT_DEFAULT,
                        key=f"agent.default:{country}:{agent_code}:{since}:{company}",
                        summary=f"agent {agent_code} is in default in {country} since {since}"
                        f" ({reason}; {where})",
                        company=company,
                        country=country,
                        period=period,
                        agent_code=agent_code,
                        object_kind="agent",
                        object_ref=f"{country}:{agent_code}",
                        data=data,
                    )
                )
    return events


def check_period(config: Config, country: str, period: str, as_of: date, now: datetime) -> int:
    """Reconcile every agent expected to remit for the period and record the events, in one
    transaction (blocking); the number of events recorded."""
    conn = connect_sync(config.gateway.database)
    try:
        migrate_sync(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            agents = [
                r[0]
                for r in conn.execute(
                    "SELECT agent_code FROM remittance_expected WHERE country = ? AND period = ?"
                    " ORDER BY agent_code",
                    (country, period),
                )
            ]
            events: list[Event] = []
            for agent in agents:
                events += reconcile(conn, config, country, period, agent, as_of, now)
            n = record_events(conn, events, utc_stamp(now))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return n
    finally:
        conn.close()


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
    sql = "SELECT period, agent_code FROM remittance_expected WHERE country = ?"
    args: list[Any] = [country]
    if period:
        sql += " AND period = ?"
        args.append(period)
    if agent_code:
        sql += " AND agent_code = ?"
        args.append(agent_code)
    out: list[dict[str, Any]] = []
    for code, agent in conn.execute(sql + " ORDER BY period, agent_code", args).fetchall():
        found = _assessment(conn, config, country, code, agent, as_of)
        if found is None:
            continue
        ap, a = found
        irr = conn.execute(
            "SELECT kind, on_day FROM irregularities WHERE country = ? AND period = ?"
            " AND agent_code = ?",
            (country, code, agent),
        ).fetchone()
        out.append(
            {
                "period": code,
                "agent_code": agent,
                "currency": ap.currency,
                "due": ap.due,
                "assessment": a,
                "irregularity": f"{irr[0]} {irr[1]}" if irr else "",
                "default": open_default(conn, country, agent),
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


def remittance_jobs() -> tuple[MilestoneJob, ...]:
    """The jobs at the end of Remittance Day and at the end of the grace days."""
    return (
        MilestoneJob(REMITTANCE, _remittance_due, _run_check),
        MilestoneJob(GRACE, _grace_due, _run_check, due_in=_grace_due_in),
    )
