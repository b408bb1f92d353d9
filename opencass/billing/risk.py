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

import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog

from opencass import files
from opencass.billing.remittance import agent_companies
from opencass.config.banking import Security
from opencass.config.model import CompanyKind, Config, Period, local_today
from opencass.events import Event, EventType, event
from opencass.settlement.risk import PeriodBilling, capacity, levels_reached, risk_status
from opencass.store import remittance as rstore
from opencass.store.events import record_events
from opencass.store.payruns import remittance_lines
from opencass.store.risk import alerts_of, last_review, latest_security, raise_alert
from opencass.store.rows import utc_stamp
from opencass.store.sqlite import connect_sync, migrate_sync
from opencass.store.tx import transaction

__all__ = ["AgentRisk", "assess_country", "risk_check", "write_profiles"]

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
        if self.capacity <= 0:
            return None
        return (self.exposure * 100 / self.capacity).quantize(Decimal("0.1"))

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


def _history(conn: sqlite3.Connection, config: Config, country: str, agent: str, today: date
             ) -> tuple[PeriodBilling, ...]:  # fmt: skip
    periods = {p.code: p for p in config.calendars.get(country, ())}
    out = []
    for code in sorted(rstore.expected_periods(conn, country, agent)):
        p = periods.get(code)
        row = rstore.expected_row(conn, country, code, agent)
        if p is None or row is None or p.billing_to <= today - timedelta(days=365):
            continue
        out.append(PeriodBilling(code, row.amount, (p.billing_to - p.billing_from).days + 1))
    return tuple(out)


def _unpaid(conn: sqlite3.Connection, country: str, agent: str) -> tuple[Decimal, set[str]]:
    total, airlines = Decimal(0), set()
    for code in rstore.expected_periods(conn, country, agent):
        row = rstore.expected_row(conn, country, code, agent)
        paid = sum((a for a, _ in rstore.payments_of(conn, country, code, agent)), Decimal(0))
        left = (row.amount if row else Decimal(0)) - paid
        if left > 0:
            total += left
            airlines |= {
                k for k, v in remittance_lines(conn, country, code).get(agent, {}).items() if v > 0
            }
    return total, airlines


def _holding_days(config: Config, country: str, today: date) -> int:
    """Billing plus remittance days of the period ``today`` falls in (else the latest)."""
    periods = config.calendars.get(country, ())
    p: Period | None = config.period_for(country, today) or (periods[-1] if periods else None)
    return (p.remittance_day - p.billing_from).days + 1 if p else 0


def _security(config: Config, conn: sqlite3.Connection, country: str, agent: str, company: str
              ) -> Security | None:  # fmt: skip
    """The security held: the operator's last record (``opencass risk security``), else the
    participant file's."""
    recorded = latest_security(conn, country, agent)
    if recorded is not None:
        kind, amount, currency, expires = recorded
        return None if kind == "none" else Security(kind, Decimal(amount), currency, expires)
    banking = config.companies[company].banking.get(country)
    return banking.security if banking else None


def _agent(config: Config, conn: sqlite3.Connection, country: str, agent: str, company: str,
           today: date, booked: tuple[Decimal, set[str]]) -> AgentRisk:  # fmt: skip
    c = config.countries[country]
    review = last_review(conn, country, agent)
    default = rstore.open_default(conn, country, agent)
    since = today - timedelta(days=365)
    irregular = sum(1 for d in rstore.irregularity_days(conn, country, agent) if d > since)
    status = risk_status(
        review is not None and review[0] == "fail", default is not None, irregular, c.risk
    )
    security = _security(config, conn, country, agent, company)
    history = _history(conn, config, country, agent, today)
    cap = capacity(status, history, _holding_days(config, country, today),
                   security.amount if security else None, c.risk)  # fmt: skip
    unpaid, owed_to = _unpaid(conn, country, agent)
    shown = f"{security.kind} {security.amount} {security.currency}" if security else ""
    if security and security.expires:
        shown += f" until {security.expires.isoformat()}"
    alerts = tuple(f"{p}:{lv}" for p, lv, _ in alerts_of(conn, country, agent))
    cent = Decimal("0.01")
    unpaid, open_booked = unpaid.quantize(cent), booked[0].quantize(cent)
    return AgentRisk(
        country, agent, company, status, cap, unpaid + open_booked, unpaid, open_booked,
        f"{review[0]} {review[1]}" if review else "", irregular,
        default["since"] if default else "", shown, security.expires if security else None,
        history, tuple(sorted(owed_to | booked[1])), alerts,
    )  # fmt: skip


def assess_country(conn: sqlite3.Connection, config: Config, country: str, now: datetime
                   ) -> list[AgentRisk]:  # fmt: skip
    """Every agent code of the country's agents, by code."""
    today = local_today(config, country, now)
    closed = {code for code in _closed_periods(conn, country)}
    booked = _open_booked(config, country, today, closed, now)
    out = []
    for company in sorted(config.companies.values(), key=lambda c: c.id):
        if company.kind is not CompanyKind.AGENT:
            continue
        for agent in company.agent_codes.get(country, ()):
            out.append(_agent(config, conn, country, agent, company.id, today,
                              booked.get(agent, (Decimal(0), set()))))  # fmt: skip
    return sorted(out, key=lambda r: r.agent_code)


def _closed_periods(conn: sqlite3.Connection, country: str) -> set[str]:
    return {p for p, _ in rstore.expected_keys(conn, country, None, None)}


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


def risk_check(config: Config, country: str | None, now: datetime) -> int:
    """Raise the alerts due now in one country or all (blocking); the events recorded."""
    conn = connect_sync(config.gateway.database)
    try:
        migrate_sync(conn)
        count = 0
        for code in sorted(config.countries) if country is None else [country]:
            with transaction(conn):
                events = []
                for r in assess_country(conn, config, code, now):
                    events += _alerts(conn, config, r, now)
                count += record_events(conn, events, utc_stamp(now))
    finally:
        conn.close()
    if count:
        log.info("risk_alerts", country=country or "all", events=count)
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


def write_profiles(config: Config, country: str, period: str, now: datetime) -> int:
    """Every agent's risk profile into its companies' outboxes (blocking); how many files."""
    conn = connect_sync(config.gateway.database)
    try:
        migrate_sync(conn)
        risks = assess_country(conn, config, country, now)
    finally:
        conn.close()
    written = 0
    for r in risks:
        outbox = files.mailbox_dirs(config.gateway.mailboxes_dir, r.company)[files.OUTBOX]
        files.write_atomic(outbox / f"{country}_{period}_risk_{r.agent_code}.txt",
                           profile_text(r).encode())  # fmt: skip
        written += 1
    return written
