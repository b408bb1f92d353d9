"""Invoices of a final close: one per agent code and period, numbered without gaps, PDF and UBL.

``render_invoices`` is what the close calls (blocking: run it off the event loop):

1. **Content** (``content``): each agent statement of the close is rebuilt from its agent
   code's booked ledger rows (read-only, ``LedgerRows.rows_of_agent``) into invoice lines per
   airline and tax group, the VAT breakdown per rate and the totals; the total is the
   statement's, to the minor unit, or the run fails (``InvoiceError``: the ledger changed after
   the close).  With many agents this runs in the process pool, a share of the codes per task.
2. **Numbers** (``numbering``): every invoice of the close is numbered in one ``BEGIN IMMEDIATE``
   transaction of the store; a re-run finds its invoices and reuses their numbers and issue
   times.  A statement with a negative total becomes a credit note (same sequence).
3. **Documents**: the PDF in the recipient company's first language (``render``) and the UBL 2.1
   XML per EN 16931 (``ubl``), rendered in the same process pool when there are many, named
   ``<stamp>_invoice_<period>_<agent code>.pdf|.xml`` (``creditnote`` for a credit note), stamp =
   the first issue time in UTC: a re-run returns the same names and the same bytes.

Only agent codes that belong to an agent company and have something booked get an invoice ("no
supply, no invoice": a number is never spent on an empty period).  The issuer is
``[countries.XX.invoicing] issuer`` (a company id), else the operator company; its legal details
are the company's, overridden by ``issuer_details``.  The numbering sequence is keyed by the
issuer's company id (its legal name when it is given only by ``issuer_details``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from zoneinfo import ZoneInfo

import structlog

from opencass.config.database import Database
from opencass.config.invoicing import Invoicing
from opencass.config.model import (
    Company,
    CompanyKind,
    Config,
    Country,
    PdfSigningSettings,
    Period,
    find_period,
)
from opencass.documents.invoices.content import (
    InvoiceData,
    InvoiceError,
    from_json,
    invoice_data,
    negated,
    to_json,
)
from opencass.documents.invoices.model import (
    CLEARING,
    CREDIT_NOTE,
    CREDIT_TRANSFER,
    DIRECT_DEBIT,
    INVOICE,
    Invoice,
    Party,
    Payment,
    Reference,
)
from opencass.documents.invoices.texts import default_terms, tr
from opencass.documents.workers import init_renderer
from opencass.model import LedgerSnapshot
from opencass.processes import fewer_collections, pool_context
from opencass.settlement.close import CloseResult, Document, collect_items, format_amount, stamp_of
from opencass.settlement.netting import DEFAULT_NETTING, Adjustment, AgentStatement, Netting
from opencass.settlement.remittance import format_reference
from opencass.settlement.tax import TaxEngine
from opencass.store.connect import connect_sync
from opencass.store.invoices import InvoiceConflictError, Issued, NumberRequest, allocate
from opencass.store.ledger import LedgerRows

__all__ = [
    "InvoiceConflictError",
    "InvoiceError",
    "build_invoices",
    "render_invoice",
    "render_invoices",
]

log = structlog.get_logger("opencass.invoices")

#: From this many invoices on, content and rendering are fanned out to a process pool.
POOL_THRESHOLD = 24


@dataclass(frozen=True, slots=True)
class Workers:
    """A process pool and its size."""

    executor: ProcessPoolExecutor
    count: int


@dataclass(frozen=True, slots=True)
class _Draft:
    company: str
    data: InvoiceData


def _issuer(config: Config, country: Country) -> Party:
    inv = country.invoicing
    company = None
    if inv.issuer:
        company = config.companies.get(inv.issuer)
        if company is None:
            raise InvoiceError(f"{country.code}: invoicing issuer {inv.issuer!r} is no company")
    else:
        operators = [c for c in config.companies.values() if c.kind is CompanyKind.OPERATOR]
        local = [c for c in operators if country.code in c.countries]
        chosen = local or operators
        if len(chosen) == 1:
            company = chosen[0]
        elif inv.issuer_details is None:
            raise InvoiceError(
                f"{country.code}: {len(chosen)} operator companies; name the invoicing issuer"
            )
    d = inv.issuer_details
    party = _party(company, country.code) if company else Party("", "", "", "", "", country.code)
    if d is not None:
        postal = d.postal or party.postal
        party = replace(
            party,
            legal_name=d.legal_name or party.legal_name,
            address=d.address or party.address,
            tax_id=d.tax_id or party.tax_id,
            registration=d.registration or party.registration,
            postal=postal,
            country=postal.country if postal and postal.country else party.country,
            electronic_address=d.electronic_address or party.electronic_address,
            contact=d.contact or party.contact,
        )
    if not party.legal_name:
        raise InvoiceError(f"{country.code}: the invoicing issuer has no legal name")
    return party


def _party(company: Company, country: str) -> Party:
    """A company's legal block; its country is its address's, else the CASS country."""
    postal = company.postal
    return Party(
        company.id, company.legal_name, company.address, company.tax_id, company.registration,
        postal.country if postal and postal.country else country, postal,
        company.electronic_address, company.contact,
    )  # fmt: skip


def _payment(c: Country, p: Period, company: Company, agent_code: str, credit: bool) -> Payment:
    """How the agent pays: by its direct debit mandate, from its pre-funded account, or by
    transfer to the CASS collection account; a credit note is settled by clearing."""
    reference = format_reference(c.code, p.code, agent_code)
    banking = company.banking.get(c.code)
    option = banking.option_for(p.code) if banking else "transfer"
    collection = c.collection
    if credit or option == "prefunded" or collection is None:
        return Payment(CLEARING, reference)
    account = collection.account
    if option == "direct_debit" and banking and banking.mandate and banking.account:
        return Payment(
            DIRECT_DEBIT, reference, mandate_id=banking.mandate.id,
            creditor_id=collection.creditor_id, payer_iban=banking.account.iban,
        )  # fmt: skip
    return Payment(CREDIT_TRANSFER, reference, account.iban, account.holder, account.bic)


def _agent_companies(config: Config, country: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for cid, c in sorted(config.companies.items()):
        if c.kind is CompanyKind.AGENT:
            for code in c.agent_codes.get(country, ()):
                out[code] = cid
    return out


def _airline_names(config: Config, country: str) -> tuple[tuple[str, str], ...]:
    names: dict[str, str] = {}
    for c in config.companies.values():
        if c.kind is CompanyKind.AIRLINE:
            for prefix in c.airline_prefixes.get(country, ()):
                names[prefix] = c.legal_name
    return tuple(sorted(names.items()))


def _local(moment: datetime, zone: str) -> datetime:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(zone))


def _content(
    database: Database,
    country: str,
    period: Period,
    currency: str,
    invoicing: Invoicing,
    statements: Sequence[AgentStatement],
    adjustments: Sequence[Adjustment] = (),
    snapshot: LedgerSnapshot | None = None,
    tax: TaxEngine | None = None,
    netting: Netting = DEFAULT_NETTING,
) -> list[InvoiceData]:
    """The invoice content of ``statements``, each from its agent code's booked ledger rows
    (as of the close's ``snapshot``) and the accepted disputes the close netted with them."""
    source = LedgerRows(database, country, period.code, snapshot)
    adjusted: dict[str, list[Adjustment]] = defaultdict(list)
    for a in adjustments:
        adjusted[a.agent_code].append(a)
    out = []
    try:
        with fewer_collections():  # records by the hundred thousand, few cycles
            for st in statements:
                rows = source.rows_of_agent(st.agent_code)
                items, _written, _unpaired = collect_items(rows, tax)
                out.append(
                    invoice_data(
                        st, [*items, *adjusted.get(st.agent_code, ())], country=country,
                        period=period, currency=currency, invoicing=invoicing, tax=tax,
                        netting=netting,
                    )
                )  # fmt: skip
        return out
    finally:
        source.close()


def _of(adjustments: Sequence[Adjustment], part: Sequence[AgentStatement]) -> list[Adjustment]:
    codes = {st.agent_code for st in part}
    return [a for a in adjustments if a.agent_code in codes]


def _chunks(values: Sequence[AgentStatement], parts: int) -> list[Sequence[AgentStatement]]:
    size = max(1, -(-len(values) // parts))
    return [values[i : i + size] for i in range(0, len(values), size)]


def _resolve(
    config: Config, country: str | Country, period: str | Period
) -> tuple[Country, Period]:
    code = country.code if isinstance(country, Country) else country
    pcode = period.code if isinstance(period, Period) else period
    return find_period(config, code, pcode)


def build_invoices(
    config: Config,
    country: str | Country,
    period: str | Period,
    reference: datetime,
    result: CloseResult,
    database: Database,
    *,
    pool: Workers | None = None,
    now: datetime | None = None,
) -> list[Invoice]:
    """Build and number the invoices of a final close (in the store); nothing is rendered.

    With ``pool``, the content is built there, a share of the agent codes per task.  Where an
    invoice of the period was issued with other money, it is corrected (``store.invoices``):
    its cancellation and the new invoice come back, issued at ``now`` (default: the close's
    reference time).
    """
    c, p = _resolve(config, country, period)
    issuer = _issuer(config, c)
    companies = _agent_companies(config, c.code)
    currency = result.settlement.currency
    mine = [st for st in result.settlement.agents if st.items and st.agent_code in companies]
    contents = _contents(database, c, p, result, mine, pool)
    drafts = [_Draft(companies[data.agent_code], data) for data in contents]
    differing = [(d.agent_code, w) for d in contents for w in d.warnings]
    if differing:  # one line per run: a market whose records carry no VAT would flood the log
        log.warning(
            "invoice tax differs from the rule", country=c.code, period=p.code,
            invoices=len({code for code, _ in differing}), first=differing[:5],
        )  # fmt: skip
    requests = _requests(c, p, issuer, drafts, currency, reference, now)
    conn = connect_sync(database)
    try:
        numbers = allocate(conn, requests)
    finally:
        conn.close()
    airlines = _airline_names(config, c.code)
    return [
        _invoice(config, c, p, issuer, _Draft(d.company, _money_of(d, i)), i, airlines)
        for d, issued in zip(drafts, numbers, strict=True)
        for i in issued
    ]


def _requests(
    c: Country, p: Period, issuer: Party, drafts: list[_Draft], currency: str,
    reference: datetime, now: datetime | None,
) -> list[NumberRequest]:  # fmt: skip
    """What to number: one request per draft, with its money."""
    issued_at = _local(reference, c.timezone)
    return [
        NumberRequest(
            issuer=issuer.id or issuer.legal_name,
            country=c.code,
            year=issued_at.year,
            period=p.code,
            agent_code=d.data.agent_code,
            company=d.company,
            kind=CREDIT_NOTE if d.data.is_credit else INVOICE,
            issued_at=issued_at.isoformat(),
            currency=currency,
            total=format_amount(d.data.total, currency),
            data_hash=d.data.digest(),
            content=to_json(d.data),
            corrected_at=_local(now, c.timezone).isoformat() if now else "",
            credit_series="C" if c.invoicing.credit_note_series == "own" else "",
        )
        for d in drafts
    ]


def _money_of(draft: _Draft, issued: Issued) -> InvoiceData:
    """The money of an issued document: the draft's, or for a cancellation the cancelled
    document's with the sign flipped."""
    if issued.role != "cancel":
        return draft.data
    if not issued.content:
        raise InvoiceError(
            f"invoice {issued.corrects} was issued before corrections kept the money of an "
            "invoice; cancel it by hand"
        )
    return negated(from_json(issued.content))


def _contents(
    database: Database,
    c: Country,
    p: Period,
    result: CloseResult,
    mine: list[AgentStatement],
    pool: Workers | None,
) -> list[InvoiceData]:
    """The invoice content of the statements ``mine``, built here or in ``pool``."""
    args = (database, c.code, p, result.settlement.currency, c.invoicing)
    if pool is None:
        return _content(
            *args, mine, result.adjustments, result.snapshot, result.tax, result.netting
        )
    # Without their items (content does not read them): far less to pickle.
    parts = _chunks([replace(st, items=()) for st in mine], pool.count * 4)
    futures = [
        pool.executor.submit(
            _content,
            *args,
            part,
            _of(result.adjustments, part),
            result.snapshot,
            result.tax,
            result.netting,
        )
        for part in parts
    ]
    return [data for f in futures for data in f.result()]


def _invoice(
    config: Config,
    c: Country,
    p: Period,
    issuer: Party,
    d: _Draft,
    n: Issued,
    airlines: tuple[tuple[str, str], ...],
) -> Invoice:
    """One numbered invoice, in its recipient's language."""
    inv = c.invoicing
    recipient = config.companies[d.company]
    lang = recipient.language
    t = tr(lang)
    issued = datetime.fromisoformat(n.issued_at)
    terms = inv.terms_for(lang, c.language) or default_terms(t)
    recipient_party = _party(recipient, c.code)
    payment = _payment(c, p, recipient, d.data.agent_code, n.kind == CREDIT_NOTE)
    references = ()
    if n.corrects:
        day = _local(datetime.fromisoformat(n.corrects_date), c.timezone).date()
        references = (Reference(n.corrects, day),)
    return Invoice(
        number=n.number,
        kind=n.kind,
        issued_at=n.issued_at,
        issue_date=_local(issued, c.timezone).date(),
        supply_from=p.billing_from,
        supply_to=p.billing_to,
        due_date=p.remittance_day,
        issuer=issuer,
        recipient=recipient_party,
        language=lang,
        payment_terms=terms.replace("{due}", t.date(p.remittance_day)),
        mentions=inv.mentions_for(lang, c.language, "en"),
        exemption_reason=inv.exemption_reason,
        airline_names=airlines,
        data=d.data,
        payment=payment,
        formats=recipient.invoice_formats or inv.formats,
        revision=n.revision,
        role=n.role,
        references=references,
    )


def render_invoice(inv: Invoice, signing: PdfSigningSettings | None = None) -> tuple[bytes, bytes]:
    """(PDF, UBL XML) of one invoice; the PDF a Factur-X PDF/A-3 with the CII inside when the
    recipient takes that format, signed with ``signing`` at the issue time; the XML empty when
    the recipient does not take UBL."""
    with fewer_collections():
        return _rendered(inv, signing)


def _rendered(inv: Invoice, signing: PdfSigningSettings | None) -> tuple[bytes, bytes]:
    from opencass.documents.invoices.render import invoice_pdf
    from opencass.documents.invoices.ubl import invoice_xml

    pdf = invoice_pdf(inv)
    if "facturx" in inv.formats:
        from opencass.documents.invoices.cii import factur_x_pdf

        pdf = factur_x_pdf(pdf, inv)
    if signing is not None:
        from opencass.documents.signing import sign_pdf

        pdf = sign_pdf(pdf, signing, datetime.fromisoformat(inv.issued_at), f"invoice {inv.number}")
    return pdf, invoice_xml(inv) if "ubl" in inv.formats else b""


@contextmanager
def _pool(count: int, workers: int | None) -> Iterator[Workers | None]:
    """A process pool when ``count`` invoices are worth one (else None)."""
    cpus = workers or os.cpu_count() or 1
    if count < POOL_THRESHOLD or cpus < 2:
        yield None
        return
    with ProcessPoolExecutor(
        max_workers=cpus,
        mp_context=pool_context(),
        initializer=init_renderer,
        initargs=(os.getpid(),),
    ) as pool:
        yield Workers(pool, cpus)


def _render_all(
    invoices: Sequence[Invoice], pool: Workers | None, signing: PdfSigningSettings | None
) -> list[tuple[bytes, bytes]]:
    render = partial(render_invoice, signing=signing)
    if pool is None:
        return [render(i) for i in invoices]
    chunk = max(1, min(64, len(invoices) // (pool.count * 4)))
    return list(pool.executor.map(render, invoices, chunksize=chunk))


def documents_of(inv: Invoice, pdf: bytes, xml: bytes) -> list[Document]:
    """The documents of an invoice (its PDF, and its UBL XML when there is one), in the
    recipient's outbox."""
    stamp = stamp_of(datetime.fromisoformat(inv.issued_at))
    kind = "creditnote" if inv.kind == CREDIT_NOTE else "invoice"
    period = inv.data.period
    if inv.revision:  # a correction: "-r1" the new issue, "-c1" the cancellation
        period += f"-{'c' if inv.role == 'cancel' else 'r'}{inv.revision}"
    base = f"{stamp}_{kind}_{period}_{inv.data.agent_code}"
    docs = [Document(inv.recipient.id, f"{base}.pdf", pdf)]
    if xml:
        docs.append(Document(inv.recipient.id, f"{base}.xml", xml))
    return docs


def render_invoices(
    config: Config,
    country: str | Country,
    period: str | Period,
    reference: datetime,
    result: CloseResult,
    database: Database,
    *,
    workers: int | None = None,
    now: datetime | None = None,
) -> list[Document]:
    """Number (in the store) and render the invoices of a final close; blocking.

    Raises ``InvoiceError`` (no issuer, the ledger no longer matches the close) or
    ``InvoiceConflictError`` (an issued invoice would change).  Sorted by company, then name.
    """
    with _pool(len(result.settlement.agents), workers) as pool:
        invoices = build_invoices(
            config, country, period, reference, result, database, pool=pool, now=now
        )
        signing = config.gateway.pdf_signing
        rendered = _render_all(invoices, pool, signing if signing.enabled else None)
    docs = [d for inv, (pdf, xml) in zip(invoices, rendered, strict=True)
            for d in documents_of(inv, pdf, xml)]  # fmt: skip
    docs.sort(key=lambda d: (d.company, d.name))
    return docs
