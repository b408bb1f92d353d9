"""Agents' risk with I/O: the facts from the store and the ledger, the alerts, the report and
each agent's risk profile (the rules are ``settlement.risk``).

**Exposure** of an agent in a country: what its final statements asked and it has not paid
(returns deducted), plus what is booked for it in periods not finally closed yet (netted as a
preliminary close would, without writing anything).

**Alerts** (``risk.alert``): when the exposure reaches each of the country's ``alert_percents``
of the capacity, once per level and period (the period the day falls in), to the agent's
companies, the airlines it owes (exposure) and the operator; and once when a security is within
``security_warning_days`` of its expiry.  Checked after every final close, at each Remittance
Day check, every ``gateway.risk_check_seconds`` by the daemon, and by ``opencass risk check``:
an alert is raised once, however often it is checked.

**Risk profile**: after each final close, every agent finds ``<country>_<period>_risk_<agent>.txt``
in its outbox (status, capacity, exposure, security, history).
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog

from opencass.billing.remittance import agent_companies
from opencass.config.banking import Security
from opencass.config.model import CompanyKind, Config, Period, local_today
from opencass.events import Event, EventType, event
from opencass.settlement.risk import (
    PeriodBilling,
    capacity,
    levels_reached,
    risk_status,
    used_percent,
)
from opencass.store.connect import connect_sync, migrate_sync
from opencass.store.events import record_events
from opencass.store.payruns import remittance_lines
from opencass.store.risk import (
    CountryFacts,
    Position,
    country_facts,
    put_positions,
    raise_alert,
)
from opencass.store.rows import utc_stamp
from opencass.store.tx import transaction

__all__ = ["AgentRisk", "assess_country", "profile_text", "risk_check"]

log = structlog.get_logger("opencass.billing.risk")


@dataclass(frozen=True, slots=True)
class AgentRisk:
    """One agent's risk in one country, as of a day."""

    country: str
    agent_code: str
    company: str
    status: str
    capacity: Decimal
    exposure: Decimal
    unpaid: Decimal  # of final statements
    booked: Decimal  # in periods not finally closed
    review: str  # "pass 2026-10-01", "fail ...", "" (none)
    irregularities: int  # in the last 12 months
    default_since: str  # "" when not in default
    security: str  # "guarantee 20000.00 EUR until 2027-06-30", "" (none)
    security_expires: date | None
    history: tuple[PeriodBilling, ...]
    airlines: tuple[str, ...]  # prefixes the agent owes (unpaid or booked)
    alerts: tuple[str, ...] = field(default=())

    @property
    def percent(self) -> Decimal | None:
        """Exposure as a percentage of the capacity (None without a capacity)."""
        return used_percent(self.exposure, self.capacity)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        d = asdict(self)
        d["history"] = [
            {"period": h.period, "total": str(h.total), "days": h.days} for h in self.history
        ]
        d["security_expires"] = self.security_expires.isoformat() if self.security_expires else ""
        d["percent"] = str(self.percent) if self.percent is not None else ""
        for k in ("capacity", "exposure", "unpaid", "booked"):
            d[k] = str(d[k])
        d["airlines"], d["alerts"] = list(self.airlines), list(self.alerts)
        return d


def _open_booked(config: Config, country: str, today: date, closed: set[str], now: datetime
                 ) -> dict[str, tuple[Decimal, set[str]]]:  # fmt: skip
    """agent -> (booked amount, airlines) of periods begun and not finally closed."""
    from opencass.billing.closing import PRELIMINARY, run_close

    out: dict[str, tuple[Decimal, set[str]]] = {}
    for p in config.calendars.get(country, ()):
        if p.billing_from > today or p.code in closed or p.billing_to < today - timedelta(days=90):
            continue
        result = run_close(config, country, p.code, now, stage=PRELIMINARY)
        for line in result.settlement.lines:
            amount, airlines = out.get(line.agent_code, (Decimal(0), set()))
            out[line.agent_code] = (amount + line.amount, airlines | {line.airline_prefix})
    return out


def _history(config: Config, country: str, due: dict[str, Decimal], today: date
             ) -> tuple[PeriodBilling, ...]:  # fmt: skip
    """The agent's final statements of the last 12 months, with their billing days."""
    periods = {p.code: p for p in config.calendars.get(country, ())}
    out = []
    for code, amount in sorted(due.items()):
        p = periods.get(code)
        if p is not None and p.billing_to > today - timedelta(days=365):
            out.append(PeriodBilling(code, amount, (p.billing_to - p.billing_from).days + 1))
    return tuple(out)


class _Lines:
    """The statements' subtotals per period, read once each."""

    def __init__(self, conn: sqlite3.Connection, country: str) -> None:
        self.conn, self.country = conn, country
        self.cache: dict[str, dict[str, dict[str, Decimal]]] = {}

    def owed_to(self, period: str, agent: str) -> set[str]:
        if period not in self.cache:
            self.cache[period] = remittance_lines(self.conn, self.country, period)
        return {k for k, v in self.cache[period].get(agent, {}).items() if v > 0}


def _unpaid(facts: CountryFacts, lines: _Lines, agent: str) -> tuple[Decimal, set[str]]:
    """What the agent's final statements ask and it has not paid, and the airlines it owes."""
    total, airlines = Decimal(0), set()
    paid = facts.paid.get(agent, {})
    for period, due in facts.expected.get(agent, {}).items():
        left = due - paid.get(period, Decimal(0))
        if left > 0:
            total += left
            airlines |= lines.owed_to(period, agent)
    return total, airlines


def _holding_days(config: Config, country: str, today: date) -> int:
    """Billing plus remittance days of the period ``today`` falls in (else the latest)."""
    periods = config.calendars.get(country, ())
    p: Period | None = config.period_for(country, today) or (periods[-1] if periods else None)
    return (p.remittance_day - p.billing_from).days + 1 if p else 0


def _security(config: Config, facts: CountryFacts, country: str, agent: str, company: str
              ) -> Security | None:  # fmt: skip
    """The security held: the operator's last record (``opencass risk security``), else the
    participant file's."""
    recorded = facts.securities.get(agent)
    if recorded is not None:
        kind, amount, currency, expires = recorded
        return None if kind == "none" else Security(kind, Decimal(amount), currency, expires)
    banking = config.companies[company].banking.get(country)
    return banking.security if banking else None


@dataclass(frozen=True, slots=True)
class _Scope:
    """What every agent of one assessment shares."""

    config: Config
    country: str
    today: date
    facts: CountryFacts
    lines: _Lines
    holding_days: int


def _agent(s: _Scope, agent: str, company: str, booked: tuple[Decimal, set[str]]) -> AgentRisk:
    policy = s.config.countries[s.country].risk
    review = s.facts.reviews.get(agent)
    since = s.facts.defaults.get(agent, "")
    irregular = sum(
        1 for d in s.facts.irregular.get(agent, ()) if d > s.today - timedelta(days=365)
    )
    status = risk_status(review is not None and review[0] == "fail", bool(since), irregular, policy)
    security = _security(s.config, s.facts, s.country, agent, company)
    history = _history(s.config, s.country, s.facts.expected.get(agent, {}), s.today)
    cap = capacity(status, history, s.holding_days, security.amount if security else None, policy)
    unpaid, owed_to = _unpaid(s.facts, s.lines, agent)
    shown = f"{security.kind} {security.amount} {security.currency}" if security else ""
    if security and security.expires:
        shown += f" until {security.expires.isoformat()}"
    cent = Decimal("0.01")
    unpaid, open_booked = unpaid.quantize(cent), booked[0].quantize(cent)
    return AgentRisk(
        s.country, agent, company, status, cap, unpaid + open_booked, unpaid, open_booked,
        f"{review[0]} {review[1]}" if review else "", irregular, since, shown,
        security.expires if security else None, history, tuple(sorted(owed_to | booked[1])),
        tuple(s.facts.alerts.get(agent, ())),
    )  # fmt: skip


def assess_country(conn: sqlite3.Connection, config: Config, country: str, now: datetime
                   ) -> list[AgentRisk]:  # fmt: skip
    """Every agent code of the country's agents, by code."""
    today = local_today(config, country, now)
    facts = country_facts(conn, country)
    closed = {p for by in facts.expected.values() for p in by}
    booked = _open_booked(config, country, today, closed, now)
    scope = _Scope(config, country, today, facts, _Lines(conn, country),
                   _holding_days(config, country, today))  # fmt: skip
    out = []
    for company in sorted(config.companies.values(), key=lambda c: c.id):
        if company.kind is not CompanyKind.AGENT:
            continue
        for agent in company.agent_codes.get(country, ()):
            out.append(_agent(scope, agent, company.id, booked.get(agent, (Decimal(0), set()))))
    return sorted(out, key=lambda r: r.agent_code)


def _alert_events(config: Config, r: AgentRisk, level: str, period: str, summary: str
                  ) -> list[Event]:  # fmt: skip
    airlines = [c.id for c in config.companies.values() if c.kind is CompanyKind.AIRLINE
                and set(c.airline_prefixes.get(r.country, ())) & set(r.airlines)]  # fmt: skip
    operators = [c.id for c in config.companies.values() if c.kind is CompanyKind.OPERATOR]
    data = {"level": level, "exposure": str(r.exposure), "capacity": str(r.capacity),
            "status": r.status, "security": r.security}  # fmt: skip
    return [
        event(
            EventType.RISK_ALERT,
            r.country,
            r.agent_code,
            period,
            level,
            company,
            summary=summary,
            company=company,
            country=r.country,
            agent_code=r.agent_code,
            object_kind="agent",
            object_ref=f"{r.country}:{r.agent_code}",
            data=data,
        )
        for company in sorted(
            {*agent_companies(config, r.country, r.agent_code), *airlines, *operators}
        )
    ]


def _alerts(conn: sqlite3.Connection, config: Config, r: AgentRisk, now: datetime) -> list[Event]:
    today = local_today(config, r.country, now)
    p = config.period_for(r.country, today)
    period, at, events = p.code if p else today.isoformat(), utc_stamp(now), []
    policy = config.countries[r.country].risk
    for level in levels_reached(r.exposure, r.capacity, policy.alert_percents):
        if raise_alert(conn, r.country, r.agent_code, period, str(level), at):
            summary = (
                f"agent {r.agent_code}: exposure {r.exposure} reached {level} % of its"
                f" remittance holding capacity {r.capacity} (status {r.status})"
            )
            events += _alert_events(config, r, str(level), period, summary)
    expires = r.security_expires
    near = expires is not None and 0 <= (expires - today).days <= policy.security_warning_days
    if (
        expires
        and near
        and raise_alert(conn, r.country, r.agent_code, expires.isoformat(), "security", at)
    ):
        summary = f"agent {r.agent_code}: its {r.security} expires on {expires.isoformat()}"
        events += _alert_events(config, r, "security", expires.isoformat(), summary)
    return events


def _position(r: AgentRisk) -> Position:
    return (r.country, r.agent_code, r.company, r.status, r.capacity, r.exposure, r.unpaid,
            r.booked)  # fmt: skip


def risk_check(config: Config, country: str | None, now: datetime, profiles: str | None = None
               ) -> int:  # fmt: skip
    """Raise the alerts due now in one country or all (blocking); the events recorded.  Each
    agent's assessment is kept (``risk_positions``: the portal's agent dashboard shows it).  With
    ``profiles`` (a period code), also write every agent's risk profile for that period."""
    conn = connect_sync(config.gateway.database)
    risks: list[AgentRisk] = []
    try:
        migrate_sync(conn)
        count = 0
        for code in sorted(config.countries) if country is None else [country]:
            with transaction(conn):
                found = assess_country(conn, config, code, now)
                events = [e for r in found for e in _alerts(conn, config, r, now)]
                put_positions(conn, [_position(r) for r in found], utc_stamp(now))
                count += record_events(conn, events, utc_stamp(now))
                risks += found
    finally:
        conn.close()
    if count:
        log.info("risk_alerts", country=country or "all", events=count)
    if profiles is not None:
        _write_profiles(config, profiles, risks)
    return count


def profile_text(r: AgentRisk) -> str:
    """An agent's risk profile (the outbox file after each final close)."""
    lines = [
        f"opencass risk profile of agent {r.agent_code} ({r.company}) in {r.country}", "",
        f"Status:            {r.status}",
        f"Holding capacity:  {r.capacity}",
        f"Exposure:          {r.exposure} ({r.percent if r.percent is not None else '-'} %)",
        f"  unpaid billing:  {r.unpaid}",
        f"  booked, open:    {r.booked}",
        f"Financial review:  {r.review or 'none recorded'}",
        f"Irregularities:    {r.irregularities} in the last 12 months",
        f"Default:           {'since ' + r.default_since if r.default_since else 'no'}",
        f"Security:          {r.security or 'none'}",
        "", "Billing of the last 12 months (period, total, daily average):",
    ]  # fmt: skip
    lines += [f"  {h.period}  {h.total}  {h.daily.quantize(Decimal('0.01'))}" for h in r.history]
    return "\n".join(lines) + "\n"


def _write_profiles(config: Config, period: str, risks: list[AgentRisk]) -> int:
    """Every agent's risk profile into its company's outbox (blocking); how many files.

    Staged and renamed into place like the close's documents (``write_planned``): no
    temporary file ever appears in a mailbox."""
    from opencass.billing.closing import write_planned
    from opencass.settlement.close import PlannedDocument

    planned = [
        PlannedDocument(
            r.company, f"{r.country}_{period}_risk_{r.agent_code}.txt",
            functools.partial(lambda r: profile_text(r).encode(), r),
        )
        for r in risks
    ]  # fmt: skip
    return len(write_planned(config, planned))
