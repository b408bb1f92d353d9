"""Period reports: what each participant receives after a close, in its own language.

One entry point, :func:`render_period_reports`, called after the final close with the close's
``CloseResult``.  It plans one job per document group and renders them in a process pool
(``forkserver`` context; each job is picklable and reads the booked rows it needs from the
ledger itself, read-only), then returns every document, sorted by company and name:

=========  ==================================================  =========================
recipient  document (``<stamp>_<kind>_<period>_<code>.<ext>``)  kind
=========  ==================================================  =========================
agent      Cargo Sales Report (pdf, xlsx, csv)                  ``salesreport``
airline    billing analysis per agent (pdf, xlsx, csv)          ``billinganalysis``
airline    Management Statistics (pdf)                          ``managementstats``
airline    notifications: period, year, courier (pdf)           ``notifications``
operator   settlement summary (pdf, csv)                        ``settlementsummary``
=========  ==================================================  =========================

``code`` is the agent code, the airline prefix, or the country for the operator.  Each document
is in the recipient company's first language (``languages[0]``), numbers, dates and amounts
formatted per its locale.  Every amount due comes from the close's settlement; the details
come from the booked rows, checked to give exactly the settlement's items (see ``data``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

from opencass.config.database import Database
from opencass.config.model import (
    CompanyKind,
    Config,
    Country,
    PdfSigningSettings,
    Period,
    find_period,
)
from opencass.documents.reports import agent as agent_docs
from opencass.documents.reports import airline as airline_docs
from opencass.documents.reports import operator as operator_docs
from opencass.documents.reports.common import Context
from opencass.documents.reports.data import (
    DisputeLine,
    ReportDataError,
    agent_report,
    airline_analysis,
    management_stats,
    operator_report,
)
from opencass.documents.reports.ledger import disputes_of_period
from opencass.documents.signing import sign_pdf
from opencass.documents.workers import init_renderer
from opencass.model import CorrectionRecord, LedgerSnapshot
from opencass.processes import fewer_collections, worker_context
from opencass.settlement.close import CloseResult, Document, collect_items, stamp_of
from opencass.settlement.netting import (
    DEFAULT_NETTING,
    AgentStatement,
    AirlineSettlement,
    ItemAmount,
    Netting,
    PeriodSettlement,
)
from opencass.settlement.tax import TaxEngine
from opencass.store.ledger import rows_of_agents, rows_of_airline

__all__ = [
    "Document",
    "Job",
    "ReportDataError",
    "iter_jobs",
    "iter_period_reports",
    "plan_jobs",
    "render_jobs",
    "render_period_reports",
    "run_job",
    "run_job_timed",
    "year_periods",
]

T = TypeVar("T")
V = TypeVar("V")

#: Agent codes rendered by one job: amortises the job's start and its ledger query.
AGENT_BATCH = 20


@dataclass(frozen=True, slots=True)
class AgentTask:
    """One agent code's Cargo Sales Report."""

    ctx: Context
    agent_code: str
    statement: AgentStatement | None
    disputes: tuple[DisputeLine, ...]


@dataclass(frozen=True, slots=True)
class AgentBatch:
    """A job: the reports of several agent codes (their rows read in one query)."""

    database: Database
    stamp: str
    tasks: tuple[AgentTask, ...]
    airline_names: dict[str, str] = field(default_factory=dict)
    snapshot: LedgerSnapshot | None = None  # the close's: the rows it netted
    tax: TaxEngine | None = None  # the close's tax rules
    netting: Netting = DEFAULT_NETTING  # the close's netting terms


@dataclass(frozen=True, slots=True)
class AirlineJob:
    """A job: one airline prefix's analysis, statistics and notifications."""

    database: Database
    stamp: str
    ctx: Context
    prefix: str
    settlement: AirlineSettlement | None
    items: tuple[ItemAmount, ...]
    ytd_periods: tuple[str, ...]
    agent_names: dict[str, str]
    disputes: tuple[DisputeLine, ...]
    courier_agents: tuple[str, ...]
    snapshot: LedgerSnapshot | None = None  # the close's: the rows it netted
    tax: TaxEngine | None = None  # the close's tax rules
    netting: Netting = DEFAULT_NETTING  # the close's netting terms


@dataclass(frozen=True, slots=True)
class OperatorJob:
    """A job: the operator's settlement summary."""

    stamp: str
    ctx: Context
    settlement: PeriodSettlement
    unpaired: tuple[CorrectionRecord, ...]
    unassigned_agents: tuple[str, ...]
    unassigned_airlines: tuple[str, ...]


def _name(stamp: str, kind: str, period: str, code: str, ext: str) -> str:
    return f"{stamp}_{kind}_{period}_{code}.{ext}"


Timings = list[tuple[str, float, float]]  # (step, wall seconds, CPU seconds)


def _timed(timings: Timings | None, kind: str, build: Callable[[], T]) -> T:
    if timings is None:
        return build()
    t0, c0 = time.perf_counter(), time.process_time()
    value = build()
    timings.append((kind, time.perf_counter() - t0, time.process_time() - c0))
    return value


def _run_agents(job: AgentBatch, timings: Timings | None = None) -> list[Document]:
    first = job.tasks[0].ctx
    codes = [t.agent_code for t in job.tasks]
    rows = rows_of_agents(job.database, first.country, first.period, codes, job.snapshot)
    docs = []
    for task in job.tasks:
        ctx, code = task.ctx, task.agent_code
        build = partial(
            agent_report, task.statement, rows[code], agent_code=code,
            agent_name=ctx.company_name, currency=ctx.currency, airline_names=job.airline_names,
            disputes=task.disputes, tax=job.tax, netting=job.netting,
        )  # fmt: skip
        report = _timed(timings, "salesreport.data", build)
        for ext, render in (
            ("pdf", agent_docs.sales_report_pdf),
            ("xlsx", agent_docs.sales_report_xlsx),
            ("csv", agent_docs.sales_report_csv),
        ):
            name = _name(job.stamp, "salesreport", ctx.period, code, ext)
            data = _timed(timings, f"salesreport.{ext}", partial(render, ctx, report))
            docs.append(Document(ctx.company, name, data))
    return docs


def _run_airline(job: AirlineJob, timings: Timings | None = None) -> list[Document]:
    ctx, prefix = job.ctx, job.prefix
    by_period = rows_of_airline(job.database, ctx.country, job.ytd_periods, prefix, job.snapshot)
    current = by_period.get(ctx.period, [])
    # decoded once for the billing analysis and the statistics: most of either's time
    collected = _timed(timings, "airline.records", lambda: collect_items(current, job.tax))
    analysis = _timed(
        timings, "billinganalysis.data",
        lambda: airline_analysis(
            job.settlement, job.items, current, airline_prefix=prefix,
            airline_name=ctx.company_name, currency=ctx.currency, agent_names=job.agent_names,
            tax=job.tax, netting=job.netting, collected=collected,
        ),
    )  # fmt: skip
    stats = _timed(
        timings, "managementstats.data",
        lambda: management_stats(
            by_period, period=ctx.period, airline_prefix=prefix, airline_name=ctx.company_name,
            currency=ctx.currency, settlement=job.settlement, items=job.items,
            agent_names=job.agent_names, disputes=job.disputes,
            courier_agents=job.courier_agents, tax=job.tax, netting=job.netting,
            collected=collected,
        ),
    )  # fmt: skip
    out: list[tuple[str, str, Callable[[], bytes]]] = [
        ("billinganalysis", "pdf", lambda: airline_docs.analysis_pdf(ctx, analysis)),
        ("billinganalysis", "xlsx", lambda: airline_docs.analysis_xlsx(ctx, analysis)),
        ("billinganalysis", "csv", lambda: airline_docs.analysis_csv(ctx, analysis)),
        ("managementstats", "pdf", lambda: airline_docs.management_stats_pdf(ctx, stats)),
        ("notifications", "pdf", lambda: airline_docs.notifications_pdf(ctx, stats)),
    ]
    return [
        Document(
            ctx.company,
            _name(job.stamp, kind, ctx.period, prefix, ext),
            _timed(timings, f"{kind}.{ext}", build),
        )
        for kind, ext, build in out
    ]


def _run_operator(job: OperatorJob, timings: Timings | None = None) -> list[Document]:
    ctx, r = job.ctx, job
    report = operator_report(
        r.settlement, country=ctx.country, period=ctx.period, unpaired=r.unpaired,
        unassigned_agents=r.unassigned_agents, unassigned_airlines=r.unassigned_airlines,
        remittance_day=ctx.remittance_day, settlement_day=ctx.settlement_day,
    )  # fmt: skip
    return [
        Document(
            ctx.company,
            _name(job.stamp, "settlementsummary", ctx.period, ctx.country, ext),
            _timed(timings, f"settlementsummary.{ext}", partial(render, ctx, report)),
        )
        for ext, render in (("pdf", operator_docs.summary_pdf), ("csv", operator_docs.summary_csv))
    ]


Job = AgentBatch | AirlineJob | OperatorJob


def run_job(job: Job, timings: Timings | None = None) -> list[Document]:
    """Render one job's documents (in a worker process, or inline); PDFs signed when the
    office has a signing certificate.  The job's input is frozen for the collector, which runs
    less often meanwhile (``fewer_collections``)."""
    with fewer_collections():
        return _render(job, timings)


def _render(job: Job, timings: Timings | None) -> list[Document]:
    if isinstance(job, AgentBatch):
        docs, ctx = _run_agents(job, timings), job.tasks[0].ctx
    elif isinstance(job, AirlineJob):
        docs, ctx = _run_airline(job, timings), job.ctx
    else:
        docs, ctx = _run_operator(job, timings), job.ctx
    if ctx.signing is None:
        return docs
    sign = partial(sign_pdf, settings=ctx.signing, at=ctx.issued)
    return [
        replace(d, data=_timed(timings, "sign.pdf", partial(sign, d.data)))
        if d.name.endswith(".pdf")
        else d
        for d in docs
    ]


def run_job_timed(job: Job) -> tuple[list[Document], Timings]:
    """``run_job`` with the time of each step: ("<kind>.<ext>" or "<kind>.data", wall seconds,
    CPU seconds of the process)."""
    timings: Timings = []
    return run_job(job, timings), timings


def year_periods(config: Config, country: str, period: Period) -> tuple[str, ...]:
    """The calendar's periods of ``period``'s year up to and including it (for YTD figures)."""
    year = period.code[:4]
    codes = {
        p.code
        for p in config.calendars.get(country, ())
        if p.code[:4] == year and p.billing_from <= period.billing_from
    }
    codes.add(period.code)
    return tuple(sorted(codes))


def _context(
    country: Country, period: Period, reference: datetime, company: str, name: str, lang: str,
    signing: PdfSigningSettings | None = None,
) -> Context:  # fmt: skip
    aware = reference if reference.tzinfo else reference.replace(tzinfo=UTC)
    return Context(
        lang=lang, country=country.code, country_name=country.name, period=period.code,
        billing_from=period.billing_from, billing_to=period.billing_to,
        remittance_day=period.remittance_day, settlement_day=period.settlement_day,
        currency=country.currency, issued=aware, company=company, company_name=name,
        signing=signing,
    )  # fmt: skip


def _names(config: Config, country: str) -> tuple[dict[str, str], dict[str, str]]:
    """The legal names of the country's agent codes and airline prefixes."""
    agent_names: dict[str, str] = {}
    airline_names: dict[str, str] = {}
    for company in config.companies.values():
        for code in company.agent_codes.get(country, ()):
            agent_names[code] = company.legal_name
        for prefix in company.airline_prefixes.get(country, ()):
            airline_names[prefix] = company.legal_name
    return agent_names, airline_names


def _grouped(values: Iterable[V], attr: str) -> dict[str, list[V]]:
    out: dict[str, list[V]] = {}
    for v in values:
        out.setdefault(getattr(v, attr), []).append(v)
    return out


def plan_jobs(
    config: Config, country: str, period: str, reference: datetime, result: CloseResult
) -> list[Job]:
    """Every job of the period's reports (picklable), agents first."""
    c, p = find_period(config, country, period)
    database = config.gateway.database
    stamp = stamp_of(reference)
    s = result.settlement
    statements = {a.agent_code: a for a in s.agents}
    settlements = {a.airline_prefix: a for a in s.airlines}
    items_of = _grouped(s.items, "airline_prefix")
    disputes = disputes_of_period(database, country, period)
    disputes_of = _grouped(disputes, "agent_code")
    agent_names, airline_names = _names(config, country)
    courier_agents = tuple(getattr(c, "courier_agents", ()) or ())

    tasks: list[AgentTask] = []
    airline_jobs: list[Job] = []
    operator_jobs: list[Job] = []
    ytd = year_periods(config, country, p)
    for cid, company in sorted(config.companies.items()):
        lang = company.language
        signing = config.gateway.pdf_signing if config.gateway.pdf_signing.enabled else None
        ctx = _context(c, p, reference, cid, company.legal_name, lang, signing)
        if company.kind is CompanyKind.AGENT:
            for code in sorted(set(company.agent_codes.get(country, ()))):
                tasks.append(
                    AgentTask(ctx, code, statements.get(code), tuple(disputes_of.get(code, ())))
                )
        elif company.kind is CompanyKind.AIRLINE:
            for prefix in sorted(set(company.airline_prefixes.get(country, ()))):
                airline_jobs.append(
                    AirlineJob(
                        database, stamp, ctx, prefix, settlements.get(prefix),
                        tuple(items_of.get(prefix, ())), ytd, agent_names,
                        tuple(d for d in disputes if d.airline_prefix == prefix), courier_agents,
                        result.snapshot, result.tax, result.netting,
                    )
                )  # fmt: skip
        elif company.kind is CompanyKind.OPERATOR and (
            not company.countries or country in company.countries
        ):
            operator_jobs.append(
                OperatorJob(
                    stamp, ctx, s, result.unpaired, result.unassigned_agents,
                    result.unassigned_airlines,
                )
            )  # fmt: skip
    batches: list[Job] = [
        AgentBatch(database, stamp, tuple(tasks[i : i + AGENT_BATCH]), airline_names,
                   result.snapshot, result.tax, result.netting)
        for i in range(0, len(tasks), AGENT_BATCH)
    ]  # fmt: skip
    # Airline and operator jobs are the largest: start them first so they do not end last.
    return [*airline_jobs, *operator_jobs, *batches]


def iter_jobs(jobs: Sequence[Job], workers: int | None = None) -> Iterator[Document]:
    """Run ``jobs`` and yield their documents as they are made (job order): in a process pool
    of ``workers`` (default: the CPUs), or inline when ``workers`` is 0 or there is one job."""
    if workers is None:
        workers = min(os.cpu_count() or 1, len(jobs))
    if workers <= 0 or len(jobs) <= 1:
        for job in jobs:
            yield from run_job(job)
        return
    pool = ProcessPoolExecutor(
        workers, mp_context=worker_context(), initializer=init_renderer, initargs=(os.getpid(),)
    )
    try:
        for part in pool.map(run_job, jobs):
            yield from part
    finally:  # a failed job (or a caller that stops early) cancels the jobs not started
        pool.shutdown(wait=True, cancel_futures=True)


def render_jobs(jobs: Sequence[Job], workers: int | None = None) -> list[Document]:
    """Every document of ``jobs`` (see ``iter_jobs``), sorted by company and name."""
    return sorted(iter_jobs(jobs, workers), key=lambda d: (d.company, d.name))


def iter_period_reports(
    config: Config,
    country: str,
    period: str,
    reference: datetime,
    result: CloseResult,
    *,
    workers: int | None = None,
) -> Iterator[Document]:
    """``render_period_reports`` one document at a time, in no particular order: a writer of
    a large period keeps a few documents in memory instead of all of them."""
    yield from iter_jobs(plan_jobs(config, country, period, reference, result), workers)


def render_period_reports(
    config: Config,
    country: str,
    period: str,
    reference: datetime,
    result: CloseResult,
    *,
    workers: int | None = None,
) -> list[Document]:
    """Every participant's period reports (blocking: call it off the event loop).

    ``result`` is the close's (``run_close``); ``reference`` its reference time (names the
    documents, like the close's).  ``workers``: pool size (default: CPU count), 0 renders in
    this process.  Raises ``CloseError`` for an unknown country or period, ``ReportDataError``
    when the ledger no longer gives the settlement's items.
    """
    return render_jobs(plan_jobs(config, country, period, reference, result), workers)
