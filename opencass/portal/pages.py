"""What each dashboard shows, gathered from the store, the configuration and the mailboxes
(blocking: the portal runs these in a thread).  Amounts are those of the final closes'
statements (``remittance_lines``, ``remittance_expected``): a dashboard summarises the
documents, it never computes a figure of its own."""

from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from opencass.billing.disputes import billed_amount, milestones
from opencass.billing.payfiles import PAYOUT
from opencass.billing.remittance import period_status
from opencass.config.model import Company, CompanyKind, Config, Period, find_period
from opencass.documents.reports.data import StatLine, Tonnage, tonnage_statistics
from opencass.files import plain_name
from opencass.settlement.netting import netting_of
from opencass.settlement.risk import used_percent
from opencass.settlement.tax import TaxEngine
from opencass.store import portal as q
from opencass.store import queue
from opencass.store.connect import connect_read_only, connect_sync
from opencass.store.ledger import period_counts, rows_of_airline
from opencass.store.payruns import run_of
from opencass.store.remittance import payments_unmatched
from opencass.store.risk import positions_of

__all__ = [
    "Dashboard",
    "awb_search",
    "dashboard",
    "documents",
    "outbox_file",
    "statistics",
    "version",
]


@dataclass(slots=True)
class Dashboard:
    """One company's dashboard in one country."""

    kind: str
    company: Company
    country: str
    currency: str
    today: date
    period: Period | None  # the period open today
    data: dict[str, Any] = field(default_factory=dict)


def _since(period: Period | None, config: Config, country: str) -> str:
    """The ISO instant the period's billing began (its files are those received since)."""
    if period is None:
        return "0000"
    zone = ZoneInfo(config.countries[country].timezone)
    return datetime.combine(period.billing_from, time(), zone).isoformat()


DOCUMENTS_SHOWN = 200  # the newest; older ones stay in the outbox (SFTP, the downloads)


PERIOD_DOCUMENTS = 5000  # of one period (a period's documents of one company)


def documents(
    config: Config, company: str, conn: sqlite3.Connection | None, period: str | None = None
) -> list[dict[str, Any]]:
    """The newest ``DOCUMENTS_SHOWN`` files in the company's outbox, or with ``period`` every
    document of that period (its code in the name), each with whether anyone of the company
    has downloaded it."""
    outbox = config.gateway.mailboxes_dir / company / "outbox"
    got = q.downloaded_paths(conn, company) if conn is not None else set()
    found: list[dict[str, Any]] = []
    mark = re.compile(rf"(^|_){re.escape(period)}([_.]|$)") if period else None
    with contextlib.suppress(FileNotFoundError):
        for p in outbox.iterdir():
            if mark is not None and not mark.search(p.name):
                continue
            if p.is_file() and not p.name.startswith("."):
                st = p.stat()
                found.append(
                    {"name": p.name, "size": st.st_size, "mtime": st.st_mtime,
                     "downloaded": f"/outbox/{p.name}" in got}
                )  # fmt: skip
    shown = PERIOD_DOCUMENTS if period else DOCUMENTS_SHOWN
    return sorted(found, key=lambda d: (-d["mtime"], d["name"]))[:shown]


def _agent(d: Dashboard, config: Config, conn: sqlite3.Connection) -> None:
    codes = d.company.agent_codes.get(d.country, ())
    airlines = {
        p: c.legal_name
        for c in config.companies.values()
        for p in c.airline_prefixes.get(d.country, ())
    }
    lines = q.billed_lines(conn, d.country, agents=codes)
    status = {
        (r["period"], r["agent_code"]): r
        for code in codes
        for r in period_status(conn, config, d.country, d.today, None, code)
    }
    periods: dict[tuple[str, str], dict[str, Any]] = {}
    for period, agent, prefix, amount in lines:
        entry = periods.setdefault((period, agent), {"period": period, "agent": agent, "lines": []})
        entry["lines"].append(
            {"prefix": prefix, "airline": airlines.get(prefix, ""), "amount": amount}
        )
    for key, entry in periods.items():
        entry["total"] = sum((x["amount"] for x in entry["lines"]), Decimal(0))
        row = status.get(key)
        entry["status"] = row
    d.data["periods"] = sorted(
        periods.values(), key=lambda e: (e["period"], e["agent"]), reverse=True
    )
    d.data["codes"] = codes
    d.data["risk"] = [
        {**r, "percent": used_percent(Decimal(r["exposure"]), Decimal(r["capacity"]))}
        for r in positions_of(conn, d.country, d.company.id)
    ]


def _airline(d: Dashboard, config: Config, conn: sqlite3.Connection) -> None:
    prefixes = d.company.airline_prefixes.get(d.country, ())
    d.data["files"] = [
        f
        for f in q.company_files(conn, d.company.id, _since(d.period, config, d.country))
        if f["country"] in ("", d.country)
    ]
    billed: dict[str, Decimal] = {}
    for period, _agent, _prefix, amount in q.billed_lines(conn, d.country, airlines=prefixes):
        billed[period] = billed.get(period, Decimal(0)) + amount
    d.data["billed"] = sorted(billed.items(), reverse=True)
    d.data["settled"] = {period: _paid_out(conn, d.country, period, prefixes) for period in billed}
    d.data["prefixes"] = prefixes


def _paid_out(
    conn: sqlite3.Connection, country: str, period: str, prefixes: tuple[str, ...]
) -> Decimal | None:
    """What the period's payout file pays the airline (claims deducted), None before it."""
    run = run_of(conn, country, period, PAYOUT)
    if run is None:
        return None
    return sum((line.amount for line in run.lines if line.party in prefixes), Decimal(0))


def _operator(d: Dashboard, config: Config, conn: sqlite3.Connection) -> None:
    database = config.gateway.database
    totals = q.close_totals(conn, d.country)
    d.data["closes"] = [
        {**c, "netted": totals.get((c["period"], c["kind"]))} for c in q.closes_of(conn, d.country)
    ]
    d.data["calendar"] = [
        p
        for p in config.calendars.get(d.country, ())
        if p.billing_to >= d.today - timedelta(days=62)
    ][:6]
    d.data["counts"] = period_counts(database, d.country, d.period.code) if d.period else None
    rows = period_status(conn, config, d.country, d.today)
    d.data["remittances"] = {
        "expected": len(rows),
        "settled": sum(1 for r in rows if r["assessment"].outstanding == 0),
        "defaults": sum(1 for r in rows if r["default"]),
    }
    late = [r for r in rows if r["irregularity"] or r["default"]]
    d.data["attention"] = sorted(late, key=lambda r: (r["period"], r["agent_code"]))[:100]
    d.data["unmatched"] = payments_unmatched(conn, d.country)[:100]
    d.data["outbox"] = {"counts": queue.counts(conn), "dead": queue.dead_letters(conn)[:100]}


_BY_KIND = {
    CompanyKind.AGENT: _agent,
    CompanyKind.AIRLINE: _airline,
    CompanyKind.OPERATOR: _operator,
}


def _document_periods(d: Dashboard, config: Config, period: str | None) -> str | None:
    """The periods begun by today (newest first, 13 at most) offered for the documents' list;
    ``period`` when it is one of them."""
    begun = [p.code for p in config.calendars.get(d.country, ()) if p.billing_from <= d.today]
    d.data["document_periods"] = begun[::-1][:13]
    d.data["document_period"] = period if period in begun else None
    return d.data["document_period"]


def _deadlines(config: Config, disputes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each dispute with the time its answer is due (the period's Airline Correction Response
    Cut-Off; after it the dispute is escalated)."""
    for x in disputes:
        found = [p for p in config.calendars.get(x["country"], ()) if p.code == x["period"]]
        x["answer_due"] = milestones(found[0]).airline_cutoff if found else None
    return disputes


def dashboard(
    config: Config, company_id: str, country: str, now: datetime, period: str | None = None
) -> Dashboard:
    """The dashboard of ``company_id`` in ``country`` at ``now`` (blocking); its documents
    those of ``period`` when given, else the newest."""
    company = config.companies[company_id]
    settings = config.countries[country]
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    d = Dashboard(company.kind.value, company, country, settings.currency, today,
                  config.period_for(country, today))  # fmt: skip
    shown = _document_periods(d, config, period)
    database = config.gateway.database
    if not database.exists():
        d.data["documents"] = documents(config, company_id, None, shown)
        return d
    conn = connect_read_only(database)
    try:
        _BY_KIND[company.kind](d, config, conn)
        d.data["documents"] = documents(config, company_id, conn, shown)
        d.data["disputes"] = _deadlines(config, q.disputes_of(conn, company_id))
    finally:
        conn.close()
    return d


def outbox_file(config: Config, company: str, name: str) -> Path | None:
    """The file ``name`` of the company's outbox (a plain name, no path; None otherwise)."""
    if not plain_name(name):
        return None
    path = config.gateway.mailboxes_dir / company / "outbox" / name
    return path if path.is_file() and not path.is_symlink() else None


AWB = re.compile(r"\s*(\d{3})[-\s]?(\d{8})\s*")


def awb_search(config: Config, company_id: str, country: str, query: str) -> list[dict[str, Any]]:
    """The periods in which the AWB ``query`` (``997-12345675``) is billed to one of the
    company's agent codes in ``country``, newest first, each with its billed amount (as a
    dispute would see it) and whether a dispute of it is open."""
    m = AWB.fullmatch(query)
    company = config.companies[company_id]
    codes = company.agent_codes.get(country, ())
    database = config.gateway.database
    if m is None or not codes or not database.exists():
        return []
    prefix, serial = m.groups()
    settings = config.countries[country]
    conn = connect_read_only(database)
    found = []
    try:
        open_ = {
            (d["period"], d["airline_prefix"], d["awb_serial"])
            for d in q.disputes_of(conn, company_id)
        }
        final = {c["period"] for c in q.closes_of(conn, country) if c["kind"] == "final"}
        for code in q.awb_periods(conn, country, prefix, serial):
            _, period = find_period(config, country, code)
            billed = billed_amount(
                conn, settings, code, prefix, serial, TaxEngine.for_config(config, settings, period)
            )
            if billed is None:
                continue
            amount, agents = billed
            mine = sorted(a for a in agents if any(a == c or a[:7] == c for c in codes))
            if mine:
                found.append(
                    {"period": code, "prefix": prefix, "serial": serial, "agent": mine[0],
                     "amount": amount, "open": (code, prefix, serial) in open_,
                     "final": code in final}
                )  # fmt: skip
    finally:
        conn.close()
    return found


def version(config: Config, company_id: str) -> str:
    """A fingerprint of what the company's dashboard shows (it changes when the dashboard
    would): files, disputes, closes, the outbox's documents."""
    marks: list[Any] = []
    database = config.gateway.database
    if database.exists():
        conn = connect_read_only(database)
        try:
            marks += q.change_marks(conn, company_id)
        finally:
            conn.close()
    outbox = config.gateway.mailboxes_dir / company_id / "outbox"
    with contextlib.suppress(FileNotFoundError):
        names = sorted(p.name for p in outbox.iterdir() if not p.name.startswith("."))
        marks += [len(names), names[-1] if names else ""]
    return hashlib.sha256(repr(marks).encode()).hexdigest()[:16]


TOP = 20  # the lines a statistics table shows; the rest summed in one line


def top(lines: tuple[StatLine, ...], other: str) -> tuple[StatLine, ...]:
    """The ``TOP`` lines of most revenue this period (then year to date), in key order, and
    the others summed into one line keyed ``other`` (the full lists are in the Management
    Statistics report)."""
    if len(lines) <= TOP:
        return lines
    ranked = sorted(lines, key=lambda x: (x.revenue, x.ytd_revenue, x.key), reverse=True)
    rest = ranked[TOP:]
    summed = StatLine(
        other, f"({len(rest)})", sum(x.awbs for x in rest),
        sum((x.weight_kg for x in rest), Decimal(0)), sum((x.revenue for x in rest), Decimal(0)),
        sum(x.ytd_awbs for x in rest), sum((x.ytd_weight_kg for x in rest), Decimal(0)),
        sum((x.ytd_revenue for x in rest), Decimal(0)),
    )  # fmt: skip
    return (*sorted(ranked[:TOP], key=lambda x: x.key), summed)


def statistics(config: Config, company_id: str, country: str, code: str) -> list[Tonnage]:
    """The airline's tonnage, revenue and yield per prefix for period ``code`` and the year to
    date (its booked rows as they stand), as the Management Statistics compute them."""
    company = config.companies[company_id]
    settings = config.countries[country]
    _, period = find_period(config, country, code)
    ytd = [
        p.code
        for p in config.calendars.get(country, ())
        if p.code[:4] == code[:4] and p.code <= code
    ]
    names = {
        a: c.legal_name for c in config.companies.values() for a in c.agent_codes.get(country, ())
    }
    tax = TaxEngine.for_config(config, settings, period)
    out = []
    database = config.gateway.database
    for prefix in company.airline_prefixes.get(country, ()):
        rows = rows_of_airline(database, country, ytd, prefix) if database.exists() else {}
        out.append(
            tonnage_statistics(
                rows,
                period=code,
                currency=settings.currency,
                agent_names=names,
                tax=tax,
                netting=netting_of(settings),
            )
        )
    return out


def retry_delivery(config: Config, delivery: int, now: datetime) -> bool:
    """A dead letter queued again, due now (blocking); False when it is no dead letter."""
    conn = connect_sync(config.gateway.database)
    try:
        return queue.retry(conn, delivery, now)
    finally:
        conn.close()
