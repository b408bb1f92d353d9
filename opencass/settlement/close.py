"""Closing a billing period: booked ledger rows in, settlement and output documents out.

Theory of operation
-------------------
Pure: no clock, no database, no files.  The caller reads the period's booked ledger rows
(``BookedRow``), says who takes part (agent companies with their agent codes, airline companies
with their prefixes) and gives the close's reference time; ``close_period`` returns the netted
``PeriodSettlement`` and every output document as bytes with its recipient and file name.

1. **Items.**  Each row's payload is decoded back into its model record (``from_payload``).
   AWB records are netted as they are.  Correction records are paired, original with revision,
   by (kind, airline prefix, AWB serial, reference) in booking order (ledger id); a half left
   without its partner cannot be netted and is reported in ``CloseResult.unpaired`` (it is not
   in any document).  Itemised other-charges (``AW1``/``CC3``/``DC3``), ``ECR`` and verbatim
   records carry no amount of their own and are not part of this first version's outputs.

2. **Netting** is ``opencass.settlement.netting.settle`` in the country's currency, which also
   checks conservation (Σ agents = Σ airlines = Σ items).  ``close_period`` checks it once more
   before building any document; a ``ConservationError`` means nothing may be written.

3. **Documents** (names ``<stamp>_<kind>_<PERIOD>_<code>.<ext>``, stamp = the reference time
   in UTC as ``YYYYMMDDTHHMMSSZ``):

   - per agent code of an agent company: a HOT hand-off file (``AAA`` header with the country,
     blank airline prefix, period from/to, billing date = the reference time's local date, the
     country's currency and the agent's 7-digit IATA code; the agent's ``AWM`` and correction
     records; ``TTT`` with counts) and a statement CSV;
   - per airline prefix of an airline company: a HOT hand-off file (prefix filled, no agent
     code) of that prefix's records and a settlement CSV (one line per agent, then the total).

   A code with nothing booked still gets its (empty) documents: "nothing due" is an answer.

4. **Determinism.**  Records are written in (airline prefix, AWB serial, record id, reference,
   ledger id) order, CSV amounts with a decimal point at the currency's minor units, LF line
   ends: the same rows, participants and reference time give byte-identical documents.

Statement CSV columns: ``airline_prefix,awb,kind,reference,amount,currency``; one row per item,
then one ``SUBTOTAL`` row per airline prefix (``awb`` empty), in a country with tax rules a
``VAT_BASE`` and a ``VAT`` row per VAT category and rate (``reference`` e.g. ``S 19%``: the
net base and the VAT of the items, split as the invoice splits them), and a final ``TOTAL``
row.  Settlement CSV columns: ``agent_code,items,amount,currency``, the same ``VAT_BASE`` and
``VAT`` rows (the category and rate in ``items``), then a ``TOTAL`` row.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from opencass.codecs.hot.writer import HotWriter
from opencass.codecs.onerecord import (
    DEFAULT_BASE_IRI,
    StatementDoc,
    StatementLine,
    encode_statement,
)
from opencass.codecs.payload import from_payload
from opencass.config.model import Country, Period
from opencass.model import (
    ZERO,
    AwbRecord,
    BillingHeader,
    BookedRow,
    Correction,
    CorrectionRecord,
    Dialect,
    ImportCorrection,
    ImportRecord,
    LedgerSnapshot,
    minor_units,
    pair_halves,
    quantize,
)
from opencass.settlement.netting import (
    DEFAULT_NETTING,
    Adjustment,
    AgentStatement,
    AirlineSettlement,
    ConservationError,
    Item,
    ItemAmount,
    ItemKind,
    LineTotal,
    Netting,
    PeriodSettlement,
    check_conservation,
    netting_of,
    settle_amounts,
)
from opencass.settlement.stored import AWB_TYPES, netted_awbs
from opencass.settlement.tax import TaxEngine
from opencass.settlement.taxsplit import VatSums, add_vat, vat_rows

__all__ = [
    "BookedRecord",
    "BookedRow",
    "CloseResult",
    "Document",
    "LedgerSource",
    "PlannedDocument",
    "RowsSource",
    "Runner",
    "agent_statement_csv",
    "airline_settlement_csv",
    "close_period",
    "collect_items",
    "format_amount",
    "handoff_file",
    "in_turn",
    "part_of",
    "stamp_of",
]

#: Record types that go into hand-off files and netting.
_NETTED = frozenset({"AWM", "AWB", "CCO", "CCR", "DCO", "DCR", "IBI", "IBO", "IBR"})


@dataclass(frozen=True, slots=True)
class Document:
    """One output file: the company whose outbox receives it, its name and its bytes."""

    company: str
    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class PlannedDocument:
    """A document not built yet: ``build()`` makes its bytes (each call builds them anew), so a
    close of a large period holds one document in memory at a time, not all of them."""

    company: str
    name: str
    build: Callable[[], bytes]

    def document(self) -> Document:
        """Build it."""
        return Document(self.company, self.name, self.build())


@dataclass(frozen=True, slots=True)
class CloseResult:
    """What a close produced."""

    settlement: PeriodSettlement
    planned: tuple[PlannedDocument, ...]  # sorted by company, then name
    unpaired: tuple[CorrectionRecord | ImportRecord, ...]  # correction halves without partner
    unassigned_agents: tuple[str, ...]  # agent codes with items but no agent company
    unassigned_airlines: tuple[str, ...]  # prefixes with items but no airline company
    # the accepted disputes netted with the rows: what reads the ledger again after the close
    # (invoices) takes them from here, never from a second read of the disputes
    adjustments: tuple[Adjustment, ...] = ()
    # the ledger as the close read it: what reads it again after the close (reports, invoices)
    # reads it as of this snapshot, so every document of the close shows the same rows
    snapshot: LedgerSnapshot | None = None
    # the tax rules the close applied: what reads the ledger again applies them the same way
    tax: TaxEngine | None = None
    # the netting terms the close applied: what nets the ledger again nets it the same way
    netting: Netting = DEFAULT_NETTING

    @property
    def documents(self) -> tuple[Document, ...]:
        """Every document, built (for small periods and tests; writers use ``planned``)."""
        return tuple(p.document() for p in self.planned)


@runtime_checkable
class LedgerSource(Protocol):
    """Where a close reads the period's booked rows (a list in memory, or the ledger)."""

    def booking_order(self, part: tuple[int, int] | None = None) -> Iterable[BookedRow]:
        """Every row, by ledger id; ``part`` = (k, n): only the rows of the AWBs in part k of
        n (``part_of``)."""

    def rows_of_agent(self, agent_code: str) -> Iterable[BookedRow]:
        """The rows of one agent code, in hand-off order (see ``HANDOFF_ORDER``)."""

    def rows_of_airline(self, airline_prefix: str) -> Iterable[BookedRow]:
        """The rows of one airline prefix, in hand-off order."""


def part_of(awb_serial: str, parts: int) -> int:
    """The part (0 … ``parts`` − 1) whose netting takes the rows of the AWB ``awb_serial``:
    the code of its second-to-last character modulo ``parts`` (the last is a check digit,
    0–6, which would split unevenly), 0 for a serial shorter than two characters.  Every row of
    one AWB, both halves of a correction included, falls in one part.  ``opencass.store.ledger``
    selects a part in SQL by the same rule."""
    return ord(awb_serial[-2]) % parts if len(awb_serial) >= 2 else 0


#: Runs independent jobs and returns their results in order.  A close's caller may run them
#: side by side in processes of their own (``opencass.billing.closing.forked``); a job's
#: result must then be picklable.
Runner = Callable[[Sequence[Callable[[], Any]]], list[Any]]


def in_turn(jobs: Sequence[Callable[[], Any]]) -> list[Any]:
    """The ``Runner`` that runs the jobs one after the other, in this process."""
    return [job() for job in jobs]


def handoff_key(r: BookedRow) -> tuple[str, str, str, str, int]:
    """Hand-off order: airline prefix, AWB serial, record type, reference, ledger id."""
    return (r.airline_prefix, r.awb_serial, r.record_type, r.reference, r.id)


class RowsSource:
    """A ``LedgerSource`` over rows held in memory."""

    def __init__(self, rows: Iterable[BookedRow]) -> None:
        self.rows = sorted(rows, key=lambda r: r.id)
        self._agents: dict[str, list[BookedRow]] | None = None
        self._airlines: dict[str, list[BookedRow]] | None = None

    def booking_order(self, part: tuple[int, int] | None = None) -> Iterable[BookedRow]:
        if part is None:
            return self.rows
        k, n = part
        return [r for r in self.rows if part_of(r.awb_serial, n) == k]

    def _group(self, attr: str) -> dict[str, list[BookedRow]]:
        groups: dict[str, list[BookedRow]] = defaultdict(list)
        for r in sorted(self.rows, key=handoff_key):
            groups[getattr(r, attr)].append(r)
        return groups

    def rows_of_agent(self, agent_code: str) -> Iterable[BookedRow]:
        if self._agents is None:
            self._agents = self._group("agent_code")
        return self._agents.get(agent_code, [])

    def rows_of_airline(self, airline_prefix: str) -> Iterable[BookedRow]:
        if self._airlines is None:
            self._airlines = self._group("airline_prefix")
        return self._airlines.get(airline_prefix, [])


@dataclass(frozen=True, slots=True)
class BookedRecord:
    """A booked row with its decoded AWB or correction record."""

    row: BookedRow
    record: AwbRecord | CorrectionRecord | ImportRecord


def stamp_of(reference: datetime) -> str:
    """``20261121T233000Z``: the reference time in UTC (a naive time is taken as UTC)."""
    aware = reference if reference.tzinfo else reference.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def format_amount(amount: Decimal, currency: str) -> str:
    """``1234.50``: fixed point at the currency's minor units, no grouping."""
    places = minor_units(currency)
    return f"{amount:.{places}f}"


def _decode(rows: Iterable[BookedRow], tax: TaxEngine | None = None) -> list[BookedRecord]:
    booked: list[BookedRecord] = []
    engine = tax.fresh() if tax is not None and tax.active else None
    for row in sorted(rows, key=lambda r: r.id):
        if row.record_type not in _NETTED:
            continue
        rec = from_payload(row.payload_format, row.payload, row.currency)
        if engine is not None and isinstance(rec, AwbRecord):
            rec = engine.apply(rec)
        if isinstance(rec, AwbRecord | CorrectionRecord | ImportRecord):
            booked.append(BookedRecord(row, rec))
    return booked


def _is_half(r: object) -> bool:
    """A correction half that pairs: CCO/CCR, DCO/DCR, IBO/IBR (not an ECR, not an IBI)."""
    return isinstance(r, CorrectionRecord | ImportRecord) and (r.is_original or r.is_revised)


def _pair(
    booked: list[BookedRecord],
) -> tuple[list[Correction | ImportCorrection], list[BookedRecord], list[BookedRecord]]:
    """(pairs, the rows of the pairs, the unpaired halves), in booking order."""
    halves = [b for b in booked if _is_half(b.record)]
    by_record = {id(b.record): b for b in halves}
    pairs: list[Correction | ImportCorrection] = []
    paired: list[BookedRecord] = []
    exports = (b.record for b in halves if isinstance(b.record, CorrectionRecord))
    imports = (b.record for b in halves if isinstance(b.record, ImportRecord))
    for o, v in pair_halves(exports):
        pairs.append(Correction(o, v))
        paired += [by_record[id(o)], by_record[id(v)]]
    for i_o, i_v in pair_halves(imports):
        pairs.append(ImportCorrection(i_o, i_v))
        paired += [by_record[id(i_o)], by_record[id(i_v)]]
    taken = {id(b) for b in paired}
    left = [b for b in halves if id(b) not in taken]
    return pairs, paired, left


def collect_items(
    rows: Iterable[BookedRow], tax: TaxEngine | None = None
) -> tuple[list[Item], list[BookedRecord], list[CorrectionRecord | ImportRecord]]:
    """(items to net, the booked records that go into hand-off files, unpaired halves); with
    ``tax``, AWBs that carry no tax get the computed one (``opencass.settlement.tax``)."""
    booked = _decode(rows, tax)
    billed = [b for b in booked if isinstance(b.record, AwbRecord) or _is_import(b.record)]
    pairs, paired, left = _pair(booked)
    items: list[Item] = [b.record for b in billed if not isinstance(b.record, CorrectionRecord)]
    items += pairs
    written = sorted(billed + paired, key=lambda b: handoff_key(b.row))
    unpaired = [b.record for b in left if not isinstance(b.record, AwbRecord)]
    return items, written, unpaired


def _is_import(r: object) -> bool:
    """An import billing (IBI), netted as it is like an AWB."""
    return isinstance(r, ImportRecord) and r.kind == "IBI"


class IdSet:
    """A set of ledger ids as a bitmap: a million ids in 125 kB, not 60 MB of a ``set``."""

    def __init__(self) -> None:
        self.bits = bytearray()

    def add(self, i: int) -> None:
        byte = i >> 3
        if byte >= len(self.bits):
            self.bits.extend(bytes(max(byte + 1 - len(self.bits), len(self.bits))))
        self.bits[byte] |= 1 << (i & 7)

    def update(self, ids: Iterable[int]) -> None:
        for i in ids:
            self.add(i)

    def merge(self, other: IdSet) -> None:
        """Add every id of ``other``."""
        size = max(len(self.bits), len(other.bits))
        both = int.from_bytes(self.bits, "little") | int.from_bytes(other.bits, "little")
        self.bits = bytearray(both.to_bytes(size, "little"))

    def __contains__(self, i: object) -> bool:
        if not isinstance(i, int) or i < 0:
            return False
        byte = i >> 3
        return byte < len(self.bits) and bool(self.bits[byte] >> (i & 7) & 1)


@dataclass(slots=True)
class _Netted:
    """Pass one of a close: the item amounts, which rows go into hand-off files, the rest."""

    amounts: list[ItemAmount]
    written: IdSet  # ledger ids of AWBs and paired corrections
    unpaired: list[tuple[int, CorrectionRecord | ImportRecord]]  # (ledger id, half), by id
    awbs: int
    non_revenue: int
    taxed: dict[int, tuple[Decimal, Decimal]]  # document rounding: ledger id -> computed tax
    vat: Breakdown | None = None  # with tax rules: the VAT breakdown per agent and airline


class Breakdown:
    """The VAT of a close per (category, rate): base and tax, per agent code and per airline
    prefix, split from each item as its invoice lines are (``opencass.settlement.taxsplit``)."""

    def __init__(self, engine: TaxEngine, currency: str) -> None:
        self.engine, self.currency = engine, currency
        self.agents: dict[str, VatSums] = defaultdict(dict)
        self.airlines: dict[str, VatSums] = defaultdict(dict)

    def add(self, item: Item, amount: ItemAmount) -> None:
        into = (self.agents[amount.agent_code], self.airlines[amount.airline_prefix])
        add_vat(into, item, amount.amount, self.currency, self.engine)

    def merge(self, agents: dict[str, VatSums], airlines: dict[str, VatSums]) -> None:
        """Add the sums of another part of the close."""
        for mine, theirs in ((self.agents, agents), (self.airlines, airlines)):
            for code, sums in theirs.items():
                into = mine[code]
                for key, (base, tax) in sums.items():
                    entry = into.setdefault(key, [ZERO, ZERO])
                    entry[0] += base
                    entry[1] += tax


def _shared(it: ItemAmount, names: dict[str, str]) -> ItemAmount:
    prefix = names.setdefault(it.airline_prefix, it.airline_prefix)
    agent = names.setdefault(it.agent_code, it.agent_code)
    if prefix is it.airline_prefix and agent is it.agent_code:
        return it
    return ItemAmount(prefix, it.awb_serial, it.kind, it.reference, agent, it.amount)


def _net(
    rows: Iterable[BookedRow],
    currency: str,
    tax: TaxEngine | None = None,
    netting: Netting = DEFAULT_NETTING,
) -> _Netted:
    """Decode and net row by row, keeping only amounts: memory stays small for big periods."""
    engine = tax.fresh() if tax is not None and tax.active else None
    keep = engine is not None and engine.invoicing.tax_rounding == "document"
    taxed: dict[int, tuple[Decimal, Decimal]] = {}
    vat = Breakdown(engine, currency) if engine is not None else None
    amounts: list[ItemAmount] = []
    written = IdSet()
    names: dict[str, str] = {}  # one string object per prefix and agent code, not per item
    waiting: dict[tuple[bool, tuple[str, str, str, str]], tuple[int, Any]] = {}
    awbs = non_revenue = 0
    # without tax rules, AWB lines are netted without building their records
    pairs = netted_awbs(rows, netting, currency) if engine is None else ((r, None) for r in rows)
    for row, got in pairs:
        if row.record_type not in _NETTED:
            continue
        if got is not None:
            awbs += 1
            non_revenue += not got[1]
            amounts.append(_shared(got[0], names))
            written.add(row.id)
            continue
        rec = from_payload(row.payload_format, row.payload, row.currency)
        if isinstance(rec, ImportRecord) and rec.kind == "IBI":
            awbs += 1
            amounts.append(_shared(netting.amount(rec, currency), names))
            written.add(row.id)
            continue
        if isinstance(rec, AwbRecord):
            if engine is not None:
                before, rec = rec, engine.apply(rec)
                if keep and rec is not before:
                    taxed[row.id] = (rec.tax_due_airline, rec.tax_due_agent)
            awbs += 1
            non_revenue += not rec.charges_due
            amounts.append(_shared(netting.amount(rec, currency), names))
            written.add(row.id)
            if vat is not None:
                vat.add(rec, amounts[-1])
        elif _is_half(rec):
            half: Any = rec
            other = waiting.pop((not half.is_original, half.pair_key), None)
            if other is None:
                waiting[(half.is_original, half.pair_key)] = (row.id, half)
                continue
            o, v = (half, other[1]) if half.is_original else (other[1], half)
            pair = ImportCorrection(o, v) if isinstance(o, ImportRecord) else Correction(o, v)
            amounts.append(_shared(netting.amount(pair, currency), names))
            written.update((row.id, other[0]))
            if vat is not None:
                vat.add(pair, amounts[-1])
    unpaired = sorted(waiting.values(), key=lambda w: w[0])
    return _Netted(amounts, written, unpaired, awbs, non_revenue, taxed, vat)


def _billing_date(reference: datetime, country: Country) -> datetime:
    aware = reference if reference.tzinfo else reference.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(country.timezone))


def _handoff_header(
    country: Country, period: Period, reference: datetime, airline_prefix: str, agent_code: str
) -> BillingHeader:
    if country.kind == "import":  # AA2: the party code is the recipient's (blank to a party)
        return BillingHeader(
            "AA2", country.iso, "", period.billing_from, period.billing_to,
            _billing_date(reference, country).date(), "01", country.currency,
            agent_code=agent_code[2:],
        )  # fmt: skip
    return BillingHeader(
        record_id="AAA",
        country=country.code,
        airline_prefix=airline_prefix,
        period_start=period.billing_from,
        period_end=period.billing_to,
        billing_date=_billing_date(reference, country).date(),
        file_number="01",
        currency=country.currency,
        branch="",
        agent_code=agent_code[:7],
    )


def handoff_file(
    records: Iterable[BookedRecord],
    country: Country,
    period: Period,
    reference: datetime,
    *,
    airline_prefix: str = "",
    agent_code: str = "",
) -> bytes:
    """A hand-off HOT file: to an agent (``agent_code``) or to an airline (``airline_prefix``)."""
    header = _handoff_header(country, period, reference, airline_prefix, agent_code)
    w = HotWriter(header, _dialect(country), keep_reserved=False)
    parts = [w.header_line()]
    for b in records:
        rec = b.record
        if isinstance(rec, AwbRecord) and b.row.late and not rec.late_indicator:
            rec = replace(rec, late_indicator="L")
        parts.append(w.line(rec))
    parts.append(w.trailer_line(office=country.office))
    return "".join(parts).encode("ascii")


def _dialect(country: Country) -> Dialect:
    """The dialect of an operation's hand-off files: CASS Import's, or the export hand-off."""
    return Dialect.IMPORT if country.kind == "import" else Dialect.HANDOFF


def _handoff_from_rows(
    rows_of: Callable[[], Iterable[BookedRow]],
    written: IdSet,
    country: Country,
    period: Period,
    reference: datetime,
    *,
    airline_prefix: str = "",
    agent_code: str = "",
    taxes: _Taxes | None = None,
) -> bytes:
    """``handoff_file`` from ledger rows: a line booked in the hand-off dialect is copied (its
    reserved positions blanked, the late flag set), any other is decoded and encoded; so is an
    AWB whose tax the close computes (``taxes``)."""
    header = _handoff_header(country, period, reference, airline_prefix, agent_code)
    dialect = _dialect(country)
    w = HotWriter(header, dialect, keep_reserved=False)
    copyable = f"hot-{dialect}"
    parts = [w.header_line()]
    for row in rows_of():
        if row.id not in written:
            continue
        late = bool(row.late) and row.record_type in AWB_TYPES
        rec = None
        if taxes is not None and row.record_type in AWB_TYPES:
            rec = taxes.record(row)
        elif row.payload_format == copyable:
            parts.append(w.copy_line(row.payload, late=late))
            continue
        rec = rec or from_payload(row.payload_format, row.payload, row.currency)
        if isinstance(rec, AwbRecord) and late and not rec.late_indicator:
            rec = replace(rec, late_indicator="L")
        parts.append(w.line(rec))
    parts.append(w.trailer_line(office=country.office))
    return "".join(parts).encode("ascii")


@dataclass(frozen=True, slots=True)
class _Taxes:
    """How the hand-off files of a close get the computed tax of an AWB: recomputed (line
    rounding needs no state) or as the netting pass computed it (document rounding)."""

    engine: TaxEngine
    taxed: dict[int, tuple[Decimal, Decimal]]

    def record(self, row: BookedRow) -> Any:
        rec = from_payload(row.payload_format, row.payload, row.currency)
        if not isinstance(rec, AwbRecord):
            return rec
        if self.engine.invoicing.tax_rounding == "line":
            return self.engine.apply(rec)
        found = self.taxed.get(row.id)
        if found is None:
            return rec
        return replace(rec, vat_indicator="Y", tax_due_airline=found[0], tax_due_agent=found[1])


def _csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _vat_rows(vat: VatSums | None, currency: str) -> list[list[str]]:
    """``VAT_BASE`` and ``VAT`` rows per (category, rate), highest rate first."""
    rows = []
    for category, rate, base, tax in vat_rows(vat):
        label = f"{category} {rate.normalize():f}%"
        rows.append(["", "", "VAT_BASE", label, format_amount(base, currency), currency])
        rows.append(["", "", "VAT", label, format_amount(tax, currency), currency])
    return rows


def agent_statement_csv(
    statement: AgentStatement | None,
    currency: str,
    vat: VatSums | None = None,
) -> bytes:
    """One agent's statement: its items, per-airline subtotals, the VAT breakdown (countries
    with tax rules) and the total to remit."""
    rows = [["airline_prefix", "awb", "kind", "reference", "amount", "currency"]]
    zero = format_amount(Decimal(0), currency)
    if statement is None:
        rows.append(["", "", "TOTAL", "", zero, currency])
        return _csv(rows)
    for it in statement.items:
        amount = format_amount(it.amount, currency)
        rows.append([it.airline_prefix, it.awb, str(it.kind), it.reference, amount, currency])
    for line in statement.lines:
        amount = format_amount(line.amount, currency)
        rows.append([line.airline_prefix, "", "SUBTOTAL", "", amount, currency])
    rows += _vat_rows(vat, currency)
    rows.append(["", "", "TOTAL", "", format_amount(statement.total, currency), currency])
    return _csv(rows)


def airline_settlement_csv(
    settlement: AirlineSettlement | None,
    currency: str,
    vat: VatSums | None = None,
) -> bytes:
    """One airline prefix's settlement: what each agent owes it, the VAT breakdown (countries
    with tax rules: ``VAT_BASE`` and ``VAT`` rows, the category and rate in ``items``), then the
    total to receive."""
    rows = [["agent_code", "items", "amount", "currency"]]
    total = Decimal(0)
    if settlement is not None:
        for line in settlement.lines:
            amount = format_amount(line.amount, currency)
            rows.append([line.agent_code, str(line.items), amount, currency])
        total = settlement.total
    rows += [
        [kind, label, amount, cur] for _, _, kind, label, amount, cur in _vat_rows(vat, currency)
    ]
    rows.append(["TOTAL", "", format_amount(total, currency), currency])
    return _csv(rows)


def statement_xml(
    *,
    party_kind: str,
    code: str,
    company: str,
    items: Iterable[ItemAmount],
    subtotals: Iterable[LineTotal],
    total: Decimal,
    country: Country,
    period: Period,
    reference: datetime,
    base_iri: str,
    vat: VatSums | None = None,
) -> bytes:
    """The ONE Record billing statement (``cass:BillingStatement``) of one agent or airline,
    with its VAT breakdown (``vat``: countries with tax rules)."""
    doc = StatementDoc(
        number=f"{country.code}-{period.code}-{code}",
        country=country.code,
        period=period.code,
        currency=country.currency,
        issued_at=reference.isoformat(),
        party_kind=party_kind,
        party_code=code,
        company=company,
        lines=tuple(
            StatementLine(it.airline_prefix, it.awb_serial, str(it.kind), it.reference, it.amount)
            for it in items
        ),
        subtotals=tuple(
            (line.airline_prefix if party_kind == "agent" else line.agent_code, line.amount)
            for line in subtotals
        ),
        total=total,
        remittance_date=period.remittance_day.isoformat(),
        taxes=vat_rows(vat),
    )
    return encode_statement(doc, base_iri=base_iri)


def _prelim_name(name: str) -> str:
    """``<stamp>_prelim-<kind>_<PERIOD>_<code>.<ext>``: a preliminary close's document name."""
    stamp, kind, rest = name.split("_", 2)
    return f"{stamp}_prelim-{kind}_{rest}"


def close_period(
    rows: Iterable[BookedRow] | LedgerSource,
    *,
    country: Country,
    period: Period,
    reference: datetime,
    agents: Mapping[str, Iterable[str]],
    airlines: Mapping[str, Iterable[str]],
    base_iri: str = DEFAULT_BASE_IRI,
    adjustments: Iterable[Adjustment] = (),
    preliminary: bool = False,
    tax: TaxEngine | None = None,
    run: Runner | None = None,
    parts: int = 1,
) -> CloseResult:
    """Net the period's booked rows and plan every document (nothing is written here).

    ``run`` and ``parts``: net the rows in ``parts`` parts by AWB (``part_of``), the jobs run
    by ``run`` (e.g. in processes of their own); the result is the same as netting them in one
    pass.  When several parts meet data netting cannot use, the error raised is the first
    part's.

    ``adjustments`` (accepted disputes) are netted with the rows.  A ``preliminary`` close
    plans statements only (no hand-off files), their kinds named ``prelim-…``.

    ``rows`` are the booked rows, or a ``LedgerSource`` reading them (a large period is read
    twice, row by row: once to net, once per document).  ``agents`` maps an agent company id
    to its agent codes in ``country``; ``airlines`` maps an airline company id to its prefixes
    there.  Raises ``ConservationError`` (and plans no document) if the totals do not balance,
    ``NettingError`` for data netting cannot use.
    """
    source = rows if isinstance(rows, LedgerSource) else RowsSource(rows)
    adjustments = tuple(adjustments)
    # CASS Import bills charges as the billing party gives them: no VAT is computed on them
    tax = tax if tax is not None and tax.active and country.kind == "export" else None
    netting = netting_of(country)
    netted, settlement = _settle(source, country.currency, adjustments, tax, netting, run, parts)
    statements = {s.agent_code: s for s in settlement.agents}
    settlements = {s.airline_prefix: s for s in settlement.airlines}
    taxes = _Taxes(tax, netted.taxed) if tax else None
    plan = _Planner(source, netted.written, country, period, reference, base_iri, taxes)
    _plan_parties(plan, agents, airlines, settlement, country.currency, netted.vat)
    docs = plan.docs
    if preliminary:
        docs = [replace(d, name=_prelim_name(d.name)) for d in docs if "_handoff_" not in d.name]
    docs.sort(key=lambda d: (d.company, d.name))
    return CloseResult(
        settlement=settlement,
        planned=tuple(docs),
        unpaired=tuple(rec for _, rec in netted.unpaired),
        unassigned_agents=tuple(sorted(set(statements) - {c for v in agents.values() for c in v})),
        unassigned_airlines=tuple(
            sorted(set(settlements) - {p for v in airlines.values() for p in v})
        ),
        adjustments=adjustments,
        tax=tax,
        netting=netting,
    )


def _plan_parties(
    plan: _Planner,
    agents: Mapping[str, Iterable[str]],
    airlines: Mapping[str, Iterable[str]],
    settlement: PeriodSettlement,
    cur: str,
    vat: Breakdown | None,
) -> None:
    """Each agent code's and airline prefix's documents, planned."""
    agent_vat = vat.agents if vat else {}
    airline_vat = vat.airlines if vat else {}
    statements = {s.agent_code: s for s in settlement.agents}
    settlements = {s.airline_prefix: s for s in settlement.airlines}
    airline_items: dict[str, list[ItemAmount]] = defaultdict(list)
    for it in settlement.items:
        airline_items[it.airline_prefix].append(it)
    for company, codes in agents.items():
        for code in sorted(set(codes)):
            st = statements.get(code)
            csv_ = partial(agent_statement_csv, st, cur, agent_vat.get(code))
            plan.party(
                "agent", company, code, csv_, st.items if st else (), st, agent_vat.get(code)
            )
    for company, codes in airlines.items():
        for code in sorted(set(codes)):
            se = settlements.get(code)
            csv_ = partial(airline_settlement_csv, se, cur, airline_vat.get(code))
            plan.party(
                "airline", company, code, csv_, airline_items.get(code, ()), se,
                airline_vat.get(code),
            )  # fmt: skip


#: A part of a close netted by a job of its own, in a form cheap to pickle: (amounts as
#: tuples of strings, the written ids' bitmap, the unpaired halves, AWBs, non-revenue AWBs,
#: document-rounded taxes, the VAT sums per agent and per airline or None).
_Packed = tuple[
    list[tuple[str, str, str, str, str, str]], bytes,
    list[tuple[int, CorrectionRecord | ImportRecord]], int, int,
    dict[int, tuple[Decimal, Decimal]], tuple[dict[str, VatSums], dict[str, VatSums]] | None,
]  # fmt: skip


def _net_part(
    source: LedgerSource,
    part: tuple[int, int],
    currency: str,
    tax: TaxEngine | None,
    netting: Netting,
    pack: bool = True,
) -> _Packed | _Netted:
    """Net one part of the period's AWBs; packed to be sent from another process (the part a
    runner runs here, the first, need not be)."""
    n = _net(source.booking_order(part), currency, tax, netting)
    if not pack:
        return n
    amounts = [
        (a.airline_prefix, a.awb_serial, a.kind.value, a.reference, a.agent_code, str(a.amount))
        for a in n.amounts
    ]
    return _packed(n, amounts)


def _unpack(parts: Sequence[_Packed | _Netted], currency: str, tax: TaxEngine | None) -> _Netted:
    """The parts netted apart, as one: what netting them all in one pass gives."""
    engine = tax.fresh() if tax is not None and tax.active else None
    out = _Netted([], IdSet(), [], 0, 0, {}, Breakdown(engine, currency) if engine else None)
    names: dict[str, str] = {}
    kinds = {k.value: k for k in ItemKind}
    for part in parts:
        if isinstance(part, _Netted):  # netted here: its amounts are taken as they are
            out.amounts += part.amounts
            part = _packed(part, [])
        else:
            out.amounts += (
                ItemAmount(
                    names.setdefault(p, p), s, kinds[k], r, names.setdefault(a, a), Decimal(v)
                )
                for p, s, k, r, a, v in part[0]
            )
        _, bits, unpaired, awbs, non_revenue, taxed, vat = part
        written = IdSet()
        written.bits = bytearray(bits)
        out.written.merge(written)
        out.unpaired += unpaired
        out.awbs += awbs
        out.non_revenue += non_revenue
        out.taxed.update(taxed)
        if out.vat is not None and vat is not None:
            out.vat.merge(*vat)
    out.unpaired.sort(key=lambda u: u[0])
    return out


def _packed(n: _Netted, amounts: list[tuple[str, str, str, str, str, str]]) -> _Packed:
    """``n`` in ``_Packed``'s shape, with ``amounts`` as its amounts."""
    vat = (dict(n.vat.agents), dict(n.vat.airlines)) if n.vat is not None else None
    return amounts, bytes(n.written.bits), n.unpaired, n.awbs, n.non_revenue, n.taxed, vat


def _net_all(
    source: LedgerSource,
    currency: str,
    tax: TaxEngine | None,
    netting: Netting,
    run: Runner | None,
    parts: int,
) -> _Netted:
    """Net every booked row: in one pass, or in ``parts`` parts by AWB run by ``run`` (side by
    side, when the caller's runner forks).  Tax rounded per document keeps running totals per
    agent in booking order across AWBs, so such a close is netted in one pass."""
    document = tax is not None and tax.active and tax.invoicing.tax_rounding == "document"
    if run is None or parts < 2 or document:
        return _net(source.booking_order(), currency, tax, netting)
    jobs = [
        partial(_net_part, source, (k, parts), currency, tax, netting, k > 0) for k in range(parts)
    ]
    return _unpack(run(jobs), currency, tax)


def _settle(
    source: LedgerSource,
    currency: str,
    adjustments: tuple[Adjustment, ...],
    tax: TaxEngine | None = None,
    netting: Netting = DEFAULT_NETTING,
    run: Runner | None = None,
    parts: int = 1,
) -> tuple[_Netted, PeriodSettlement]:
    """Net the rows in booking order with the adjustments, settle, check conservation."""
    netted = _net_all(source, currency, tax, netting, run, parts)
    for a in adjustments:
        netted.amounts.append(netting.amount(a, currency))
        if netted.vat is not None:
            netted.vat.add(a, netted.amounts[-1])
    settlement = settle_amounts(
        netted.amounts, currency, awbs=netted.awbs, non_revenue_awbs=netted.non_revenue
    )
    del netted.amounts[:]  # the settlement holds them, sorted
    check_conservation(settlement)
    if settlement.currency != currency:  # pragma: no cover - settle() guarantees it
        raise ConservationError(f"settled in {settlement.currency}, not {currency}")
    return netted, settlement


class _Planner:
    """Plans each party's documents of a close (built later, from the source's rows)."""

    def __init__(
        self,
        source: LedgerSource,
        written: Any,
        country: Country,
        period: Period,
        reference: datetime,
        base_iri: str,
        taxes: _Taxes | None = None,
    ) -> None:
        self.source, self.written = source, written
        self.country, self.period, self.reference, self.base_iri = (
            country, period, reference, base_iri,
        )  # fmt: skip
        self.stamp = stamp_of(reference)
        self.zero = quantize(ZERO, country.currency)
        self.docs: list[PlannedDocument] = []
        self.taxes = taxes

    def party(
        self, kind: str, company: str, code: str, csv_: Callable[[], bytes], items: Any, sub: Any,
        vat: VatSums | None = None,
    ) -> None:  # fmt: skip
        """One agent's or airline's hand-off file, CSV and XML statement, planned."""
        country, period, reference = self.country, self.period, self.reference
        total = sub.total if sub else self.zero
        is_agent = kind == "agent"
        source = self.source
        rows_of = partial(source.rows_of_agent if is_agent else source.rows_of_airline, code)
        hot = partial(
            _handoff_from_rows, rows_of, self.written, country, period, reference,
            agent_code=code if is_agent else "", airline_prefix="" if is_agent else code,
            taxes=self.taxes,
        )  # fmt: skip
        xml = partial(
            statement_xml, party_kind=kind, code=code, company=company, country=country,
            period=period, reference=reference, base_iri=self.base_iri, items=items,
            subtotals=sub.lines if sub else (), total=total, vat=vat,
        )  # fmt: skip
        summary = "statement" if is_agent else "settlement"
        stamp = self.stamp
        self.docs.extend(
            (
                PlannedDocument(company, f"{stamp}_handoff_{period.code}_{code}.hot", hot),
                PlannedDocument(company, f"{stamp}_{summary}_{period.code}_{code}.csv", csv_),
                PlannedDocument(company, f"{stamp}_statement_{period.code}_{code}.xml", xml),
            )
        )
