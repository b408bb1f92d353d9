"""The numbers of the period reports, built from the close's settlement and the booked records.

Pure: no database, no files.  The settlement (``PeriodSettlement`` of the close) is the
authority for every amount due; the booked records (decoded ledger rows) give the details a
report shows next to it (dates, routing, weights, charges).  Each builder nets the records
again with the settlement's own ``item_amount`` and checks that they give exactly the items of
the statement; a mismatch is a ``ReportDataError`` and no report is built from it.  The rows
are read as of the close's ledger snapshot, so a mismatch is a fault (a bug, or a ledger changed
by hand), never a file withdrawn after the close.

Detail amounts are shown in the period currency: a record in another currency is converted
with its rate of exchange, then rounded half up, column by column.  The net due of a line is
the settlement's (rounded once per item), so a line's columns may differ from its net due by
rounding when a record was converted.

Columns of an AWB line follow the netting formula (SETTLEMENT.md): net due = weight charge
prepaid + valuation prepaid + other charges due carrier prepaid − other charges due agent
collect + tax (due airline − due agent) − commission + discount (signed).  Weight charge
collect is shown for information; it is collected by the airline at destination.

Statistics (management statistics, notifications): tonnage is the gross weight in kg (pounds
converted, 1 lb = 0.45359237 kg) of revenue AWBs; revenue is weight charge plus valuation
charge, prepaid and collect, in the period currency; corrections add their revised − original
weight and revenue; yield = revenue / kg.  Void and service AWBs count as AWBs, never as
tonnage or revenue.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from opencass.errors import InternalError
from opencass.model import (
    ZERO,
    AwbRecord,
    BookedRow,
    Correction,
    CorrectionRecord,
    ImportCorrection,
    ImportRecord,
    quantize,
)
from opencass.settlement.close import collect_items
from opencass.settlement.netting import (
    DEFAULT_NETTING,
    Adjustment,
    AgentStatement,
    AirlineSettlement,
    ItemAmount,
    ItemKind,
    Netting,
    PeriodSettlement,
)
from opencass.settlement.tax import TaxEngine
from opencass.settlement.taxsplit import VatSums, add_vat, vat_rows

__all__ = [
    "AgentReport",
    "AirlineAnalysis",
    "AirlineSection",
    "AnalysisLine",
    "AwbLine",
    "CorrectionLine",
    "DisputeLine",
    "ManagementStats",
    "OperatorReport",
    "ReportDataError",
    "StatLine",
    "Tonnage",
    "agent_report",
    "airline_analysis",
    "management_stats",
    "operator_report",
    "tonnage_statistics",
]

KG_PER_LB = Decimal("0.45359237")

# What ``collect_items`` makes of a period's rows (items, written records, unpaired halves):
# the billing analysis and the statistics of an airline share the current period's.
Collected = tuple[list[Any], list[Any], list[Any]]


class ReportDataError(InternalError, RuntimeError):
    """The booked records do not give the settlement's items (an internal fault)."""

    code = "REPORT_ITEMS_DIFFER"


# --- lines --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AwbLine:
    """One AWB of an agent's Cargo Sales Report (amounts in the period currency)."""

    airline_prefix: str
    awb_serial: str
    execution_date: date
    origin: str
    destination: str
    weight: Decimal
    weight_unit: str
    use_indicator: str  # R, S (service) or V (void)
    late: bool
    weight_charge_prepaid: Decimal
    weight_charge_collect: Decimal
    valuation: Decimal
    other_carrier: Decimal
    other_agent: Decimal
    tax: Decimal
    commission: Decimal
    discount: Decimal
    net_due: Decimal

    @property
    def awb(self) -> str:
        """``160-62144154``."""
        return f"{self.airline_prefix}-{self.awb_serial}"


@dataclass(frozen=True, slots=True)
class CorrectionLine:
    """A CCA or DCM with its original and revised values (due airline, period currency)."""

    kind: str  # CCA or DCM; IBC (a CASS Import correction)
    reference: str
    airline_prefix: str
    awb_serial: str
    execution_date: date
    reason: str
    original_weight: Decimal
    revised_weight: Decimal
    weight_unit: str
    original_due: Decimal
    revised_due: Decimal
    net_due: Decimal

    @property
    def awb(self) -> str:
        """``160-62144154``."""
        return f"{self.airline_prefix}-{self.awb_serial}"


@dataclass(frozen=True, slots=True)
class AdjustmentLine:
    """An additional adjustment or charge (BTA): an accepted dispute outcome, for instance."""

    airline_prefix: str
    reference: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class DisputeLine:
    """A dispute of one of the agent's AWBs (from the disputes table, when there is one)."""

    dispute_id: str
    airline_prefix: str
    awb_serial: str
    agent_code: str
    status: str  # REQUEST_PENDING, REQUEST_ACCEPTED, ...
    billed: Decimal
    claimed: Decimal | None
    disputed: Decimal
    corrected: Decimal | None
    reason: str
    adjust_period: str = ""

    @property
    def awb(self) -> str:
        """``160-62144154``."""
        return f"{self.airline_prefix}-{self.awb_serial}"


@dataclass(frozen=True, slots=True)
class AirlineSection:
    """The part of an agent's report for one airline prefix."""

    airline_prefix: str
    airline_name: str
    awbs: tuple[AwbLine, ...]
    corrections: tuple[CorrectionLine, ...]
    adjustments: tuple[AdjustmentLine, ...]
    disputes: tuple[DisputeLine, ...]
    awb_total: Decimal
    correction_total: Decimal
    adjustment_total: Decimal
    total: Decimal  # the statement's line total for this airline


@dataclass(frozen=True, slots=True)
class AgentReport:
    """Everything an agent's Cargo Sales Report shows."""

    agent_code: str
    agent_name: str
    currency: str
    sections: tuple[AirlineSection, ...]
    total: Decimal  # the statement's total: > 0 to remit, < 0 credited
    # countries with tax rules: (category, rate, net base, VAT) as on the invoice, highest first
    vat: tuple[tuple[str, Decimal, Decimal, Decimal], ...] = ()

    @property
    def is_credit(self) -> bool:
        """True when the agent is credited."""
        return self.total < 0


# --- decoding helpers ---------------------------------------------------------------------------


def _conv(amount: Decimal, currency: str, rate: Decimal, period_currency: str) -> Decimal:
    value = amount if currency == period_currency or rate <= 0 else amount * rate
    rounded = quantize(value, period_currency)
    return rounded.copy_abs() if rounded.is_zero() else rounded


def _kg(weight: Decimal, unit: str) -> Decimal:
    return weight * KG_PER_LB if unit == "L" else weight


def _awb_line(rec: AwbRecord, late: bool, net: Decimal, cur: str) -> AwbLine:
    def c(v: Decimal) -> Decimal:
        return _conv(v, rec.currency, rec.rate_of_exchange, cur)

    return AwbLine(
        airline_prefix=rec.airline_prefix,
        awb_serial=rec.awb_serial,
        execution_date=rec.execution_date,
        origin=rec.origin,
        destination=rec.destination,
        weight=rec.gross_weight,
        weight_unit=rec.weight_unit,
        use_indicator=rec.use_indicator,
        late=late or rec.late_indicator == "L",
        weight_charge_prepaid=c(rec.weight_charge_prepaid),
        weight_charge_collect=c(rec.weight_charge_collect),
        valuation=c(rec.valuation_charge_prepaid),
        other_carrier=c(rec.other_charges_carrier_prepaid),
        other_agent=c(rec.other_charges_agent_collect),
        tax=c(rec.tax_due_airline - rec.tax_due_agent),
        commission=c(rec.commission),
        discount=c(rec.discount),
        net_due=net,
    )


def _correction_line(c: Correction, net: Decimal, cur: str, netting: Netting) -> CorrectionLine:
    o, r = c.original, c.revised

    def due(rec: CorrectionRecord) -> Decimal:
        amount = netting.correction.apply(rec)
        return _conv(amount, rec.currency, rec.rate_of_exchange, cur)

    return CorrectionLine(
        kind=c.kind,
        reference=o.reference,
        airline_prefix=o.airline_prefix,
        awb_serial=o.awb_serial,
        execution_date=r.execution_date,
        reason=r.reason or o.reason,
        original_weight=o.gross_weight,
        revised_weight=r.gross_weight,
        weight_unit=r.weight_unit or o.weight_unit,
        original_due=due(o),
        revised_due=due(r),
        net_due=net,
    )


def _import_line(rec: ImportRecord, net: Decimal, cur: str) -> AwbLine:
    """CASS Import's equivalent of an AWB line: the delivery date, the weight charges as the
    collect weight charge, every other charge billed (the fee when charged) as other charges
    due carrier; nothing is prepaid, commissioned or discounted at destination."""
    weight = _conv(rec.weight_charges, rec.currency, rec.rate_of_exchange, cur)
    return AwbLine(
        airline_prefix=rec.airline_prefix, awb_serial=rec.awb_serial,
        execution_date=rec.delivery_date, origin=rec.origin, destination=rec.destination,
        weight=rec.gross_weight, weight_unit=rec.weight_unit, use_indicator="R", late=False,
        weight_charge_prepaid=ZERO, weight_charge_collect=weight, valuation=ZERO,
        other_carrier=net - weight, other_agent=ZERO, tax=ZERO, commission=ZERO, discount=ZERO,
        net_due=net,
    )  # fmt: skip


def _import_correction_line(
    c: ImportCorrection, net: Decimal, cur: str, netting: Netting
) -> CorrectionLine:
    o, r = c.original, c.revised

    def due(rec: ImportRecord) -> Decimal:
        return _conv(netting.imports.apply(rec), rec.currency, rec.rate_of_exchange, cur)

    return CorrectionLine(
        kind=c.kind, reference="", airline_prefix=o.airline_prefix, awb_serial=o.awb_serial,
        execution_date=r.delivery_date, reason="", original_weight=o.gross_weight,
        revised_weight=r.gross_weight, weight_unit=r.weight_unit, original_due=due(o),
        revised_due=due(r), net_due=net,
    )  # fmt: skip


def _line(
    item: Any, late_awbs: set[tuple[str, str]], net: Decimal, cur: str, netting: Netting
) -> Any:
    """The report line of one netted item (an AWB, a correction, an import billing or an
    import correction)."""
    if isinstance(item, AwbRecord):
        late = (item.airline_prefix, item.awb_serial) in late_awbs
        return _awb_line(item, late, net, cur)
    if isinstance(item, ImportRecord):
        return _import_line(item, net, cur)
    if isinstance(item, ImportCorrection):
        return _import_correction_line(item, net, cur, netting)
    if not isinstance(item, Correction):
        raise ReportDataError(f"cannot report a {type(item).__name__}")
    return _correction_line(item, net, cur, netting)


def _key(it: ItemAmount) -> tuple[str, str, str, str]:
    return (it.airline_prefix, it.awb_serial, str(it.kind), it.reference)


def _check_items(what: str, expected: Iterable[ItemAmount], netted: Iterable[ItemAmount]) -> None:
    want = Counter((_key(it), it.amount) for it in expected if it.kind != ItemKind.ADJUSTMENT)
    got = Counter((_key(it), it.amount) for it in netted)
    if want != got:
        missing = sorted(want - got)[:3]
        extra = sorted(got - want)[:3]
        raise ReportDataError(
            f"{what}: the booked records do not give the settlement's items "
            f"(missing {missing}, unexpected {extra})"
        )


def _netted_lines(
    rows: Iterable[BookedRow],
    currency: str,
    tax: TaxEngine | None = None,
    vat: VatSums | None = None,
    netting: Netting = DEFAULT_NETTING,
    collected: Collected | None = None,
) -> tuple[list[tuple[ItemAmount, AwbLine | CorrectionLine]], list[ItemAmount]]:
    """(item, line) per AWB and paired correction of ``rows``, and the bare items; with ``vat``
    (and ``tax``), each item's VAT split added to it.  ``collected``: what ``collect_items``
    made of ``rows`` already."""
    items, written, _unpaired = collected or collect_items(rows, tax)
    late = {b.row.id for b in written if b.row.late}
    late_awbs = {
        (b.record.airline_prefix, b.record.awb_serial)
        for b in written
        if b.row.id in late and isinstance(b.record, AwbRecord)
    }
    out: list[tuple[ItemAmount, AwbLine | CorrectionLine]] = []
    for item in items:
        amount = netting.amount(item, currency)
        if vat is not None and tax is not None:
            add_vat((vat,), item, amount.amount, currency, tax)
        out.append((amount, _line(item, late_awbs, amount.amount, currency, netting)))
    out.sort(key=lambda p: (p[0], p[1].awb))
    return out, [a for a, _ in out]


# --- agent ------------------------------------------------------------------------------------


def agent_report(
    statement: AgentStatement | None,
    rows: Iterable[BookedRow],
    *,
    agent_code: str,
    agent_name: str,
    currency: str,
    airline_names: Mapping[str, str] | None = None,
    disputes: Sequence[DisputeLine] = (),
    tax: TaxEngine | None = None,
    netting: Netting = DEFAULT_NETTING,
) -> AgentReport:
    """The Cargo Sales Report data of one agent code: ``statement`` from the close's settlement,
    ``rows`` the agent's booked ledger rows, ``disputes`` its disputes (optional)."""
    names = airline_names or {}
    vat: VatSums | None = {} if tax is not None else None
    pairs, netted = _netted_lines(rows, currency, tax, vat, netting)
    _check_items(f"agent {agent_code}", statement.items if statement else (), netted)
    awbs: dict[str, list[AwbLine]] = defaultdict(list)
    corrections: dict[str, list[CorrectionLine]] = defaultdict(list)
    adjustments: dict[str, list[AdjustmentLine]] = defaultdict(list)
    dispute_lines: dict[str, list[DisputeLine]] = defaultdict(list)
    for _item, line in pairs:
        if isinstance(line, AwbLine):
            awbs[line.airline_prefix].append(line)
        else:
            corrections[line.airline_prefix].append(line)
    for it in statement.items if statement else ():
        if it.kind == ItemKind.ADJUSTMENT:
            adjustments[it.airline_prefix].append(
                AdjustmentLine(it.airline_prefix, it.reference, it.amount)
            )
            if vat is not None and tax is not None:
                adj = Adjustment(it.airline_prefix, it.agent_code, it.amount, it.reference)
                add_vat((vat,), adj, it.amount, currency, tax)
    for d in sorted(disputes, key=lambda d: (d.airline_prefix, d.awb_serial, d.dispute_id)):
        dispute_lines[d.airline_prefix].append(d)
    zero = quantize(ZERO, currency)
    totals = {line.airline_prefix: line.amount for line in statement.lines} if statement else {}
    sections = [
        _section(
            prefix, names.get(prefix, ""), awbs[prefix], corrections[prefix], adjustments[prefix],
            dispute_lines[prefix], totals.get(prefix, zero), zero,
        )
        for prefix in sorted(set(totals) | set(dispute_lines))
    ]  # fmt: skip
    for s in sections:
        if s.awb_total + s.correction_total + s.adjustment_total != s.total:
            raise ReportDataError(f"agent {agent_code}, airline {s.airline_prefix}: lines differ")
    return AgentReport(
        agent_code=agent_code,
        agent_name=agent_name,
        currency=currency,
        sections=tuple(sections),
        total=statement.total if statement else zero,
        vat=vat_rows(vat),
    )


def _section(
    prefix: str,
    name: str,
    awbs: list[AwbLine],
    corrections: list[CorrectionLine],
    adjustments: list[AdjustmentLine],
    disputes: list[DisputeLine],
    total: Decimal,
    zero: Decimal,
) -> AirlineSection:
    """One airline's section of an agent's report, with its subtotals."""
    return AirlineSection(
        airline_prefix=prefix,
        airline_name=name,
        awbs=tuple(awbs),
        corrections=tuple(corrections),
        adjustments=tuple(adjustments),
        disputes=tuple(disputes),
        awb_total=sum((x.net_due for x in awbs), zero),
        correction_total=sum((x.net_due for x in corrections), zero),
        adjustment_total=sum((x.amount for x in adjustments), zero),
        total=total,
    )


# --- airline: billing analysis ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnalysisLine:
    """One agent's business with one airline in the period (period currency)."""

    agent_code: str
    agent_name: str
    awbs: int
    corrections: int
    weight_kg: Decimal
    weight_charges: Decimal  # prepaid + collect
    valuation: Decimal
    other_carrier: Decimal
    other_agent: Decimal
    tax: Decimal
    commission: Decimal
    discount: Decimal
    awb_due: Decimal
    correction_due: Decimal
    adjustment_due: Decimal
    net_due: Decimal  # the settlement's line amount


@dataclass(frozen=True, slots=True)
class AirlineAnalysis:
    """An airline prefix's billing analysis: one line per agent, then the total."""

    airline_prefix: str
    airline_name: str
    currency: str
    lines: tuple[AnalysisLine, ...]
    total: Decimal  # the settlement's total to receive


@dataclass(slots=True)
class _Acc:
    awbs: int = 0
    corrections: int = 0
    weight_kg: Decimal = ZERO
    weight_charges: Decimal = ZERO
    valuation: Decimal = ZERO
    other_carrier: Decimal = ZERO
    other_agent: Decimal = ZERO
    tax: Decimal = ZERO
    commission: Decimal = ZERO
    discount: Decimal = ZERO
    awb_due: Decimal = ZERO
    correction_due: Decimal = ZERO
    adjustment_due: Decimal = ZERO

    def add(self, line: AwbLine | CorrectionLine) -> None:
        """Count one AWB line or correction line of the agent."""
        if isinstance(line, AwbLine):
            self.awbs += 1
            if line.use_indicator == "R":
                self.weight_kg += _kg(line.weight, line.weight_unit)
            self.weight_charges += line.weight_charge_prepaid + line.weight_charge_collect
            self.valuation += line.valuation
            self.other_carrier += line.other_carrier
            self.other_agent += line.other_agent
            self.tax += line.tax
            self.commission += line.commission
            self.discount += line.discount
            self.awb_due += line.net_due
        else:
            self.corrections += 1
            self.correction_due += line.net_due

    def line(self, agent_code: str, agent_name: str, net_due: Decimal) -> AnalysisLine:
        """The agent's line of the analysis."""
        return AnalysisLine(
            agent_code=agent_code,
            agent_name=agent_name,
            awbs=self.awbs,
            corrections=self.corrections,
            weight_kg=self.weight_kg.quantize(Decimal("0.1")),
            weight_charges=self.weight_charges,
            valuation=self.valuation,
            other_carrier=self.other_carrier,
            other_agent=self.other_agent,
            tax=self.tax,
            commission=self.commission,
            discount=self.discount,
            awb_due=self.awb_due,
            correction_due=self.correction_due,
            adjustment_due=self.adjustment_due,
            net_due=net_due,
        )


def airline_analysis(
    settlement: AirlineSettlement | None,
    items: Sequence[ItemAmount],
    rows: Iterable[BookedRow],
    *,
    airline_prefix: str,
    airline_name: str,
    currency: str,
    agent_names: Mapping[str, str] | None = None,
    tax: TaxEngine | None = None,
    netting: Netting = DEFAULT_NETTING,
    collected: Collected | None = None,
) -> AirlineAnalysis:
    """The billing analysis of one airline prefix from its settlement, its items and its
    booked rows of the period (``collected``: what ``collect_items`` made of them already)."""
    names = agent_names or {}
    pairs, netted = _netted_lines(rows, currency, tax, netting=netting, collected=collected)
    _check_items(f"airline {airline_prefix}", items, netted)
    acc: dict[str, _Acc] = defaultdict(_Acc)
    for item, line in pairs:
        acc[item.agent_code].add(line)
    for it in items:
        if it.kind == ItemKind.ADJUSTMENT:
            acc[it.agent_code].adjustment_due += it.amount
    lines = []
    for sl in settlement.lines if settlement else ():
        a = acc[sl.agent_code]
        if a.awb_due + a.correction_due + a.adjustment_due != sl.amount:
            raise ReportDataError(f"airline {airline_prefix}, agent {sl.agent_code}: lines differ")
        lines.append(a.line(sl.agent_code, names.get(sl.agent_code, ""), sl.amount))
    return AirlineAnalysis(
        airline_prefix=airline_prefix,
        airline_name=airline_name,
        currency=currency,
        lines=tuple(lines),
        total=settlement.total if settlement else quantize(ZERO, currency),
    )


# --- airline: management statistics and notifications ----------------------------------------


@dataclass(frozen=True, slots=True)
class StatLine:
    """Tonnage, revenue and yield of one key (an agent, a route, a period)."""

    key: str
    name: str
    awbs: int
    weight_kg: Decimal
    revenue: Decimal
    ytd_awbs: int
    ytd_weight_kg: Decimal
    ytd_revenue: Decimal

    @staticmethod
    def yield_of(revenue: Decimal, weight_kg: Decimal) -> Decimal | None:
        """Revenue per kg, 4 decimals; None without tonnage."""
        if not weight_kg:
            return None
        return (revenue / weight_kg).quantize(Decimal("0.0001"))

    @property
    def period_yield(self) -> Decimal | None:
        """Revenue per kg in the period."""
        return self.yield_of(self.revenue, self.weight_kg)

    @property
    def ytd_yield(self) -> Decimal | None:
        """Revenue per kg, year to date."""
        return self.yield_of(self.ytd_revenue, self.ytd_weight_kg)


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    """One period of the year (the notification year package)."""

    period: str
    awbs: int
    corrections: int
    weight_kg: Decimal
    revenue: Decimal
    net_due: Decimal


@dataclass(frozen=True, slots=True)
class Notice:
    """One entry of the period notification: what, which AWB or agent, and an amount."""

    kind: str  # late, void, service, unpaired, dispute
    agent_code: str
    awb: str
    reference: str
    amount: Decimal | None


@dataclass(frozen=True, slots=True)
class ManagementStats:
    """An airline prefix's management statistics (period and year to date) and notifications."""

    airline_prefix: str
    airline_name: str
    currency: str
    period: str
    year: str
    periods_in_ytd: tuple[str, ...]
    total: StatLine
    by_agent: tuple[StatLine, ...]
    by_route: tuple[StatLine, ...]
    year_periods: tuple[PeriodFigures, ...]
    notices: tuple[Notice, ...]
    courier_agents: tuple[str, ...] = ()
    courier: tuple[StatLine, ...] = field(default=())


@dataclass(slots=True)
class _Stat:
    awbs: int = 0
    weight: Decimal = ZERO
    revenue: Decimal = ZERO
    ytd_awbs: int = 0
    ytd_weight: Decimal = ZERO
    ytd_revenue: Decimal = ZERO

    def add(self, current: bool, awbs: int, weight: Decimal, revenue: Decimal) -> None:
        self.ytd_awbs += awbs
        self.ytd_weight += weight
        self.ytd_revenue += revenue
        if current:
            self.awbs += awbs
            self.weight += weight
            self.revenue += revenue

    def line(self, key: str, name: str, cur: str) -> StatLine:
        w = Decimal("0.1")
        return StatLine(
            key, name, self.awbs, self.weight.quantize(w), quantize(self.revenue, cur),
            self.ytd_awbs, self.ytd_weight.quantize(w), quantize(self.ytd_revenue, cur),
        )  # fmt: skip


def _revenue_awb(rec: AwbRecord, cur: str) -> Decimal:
    raw = (
        rec.weight_charge_prepaid
        + rec.weight_charge_collect
        + rec.valuation_charge_prepaid
        + rec.valuation_charge_collect
    )
    return _conv(raw, rec.currency, rec.rate_of_exchange, cur)


def _revenue_correction(rec: CorrectionRecord, cur: str) -> Decimal:
    return _conv(rec.weight_charge + rec.valuation_charge, rec.currency, rec.rate_of_exchange, cur)


def management_stats(
    rows_by_period: Mapping[str, Iterable[BookedRow]],
    *,
    period: str,
    airline_prefix: str,
    airline_name: str,
    currency: str,
    settlement: AirlineSettlement | None,
    items: Sequence[ItemAmount],
    agent_names: Mapping[str, str] | None = None,
    disputes: Sequence[DisputeLine] = (),
    courier_agents: Iterable[str] = (),
    tax: TaxEngine | None = None,
    netting: Netting = DEFAULT_NETTING,
    collected: Collected | None = None,
) -> ManagementStats:
    """Statistics of one airline prefix: ``rows_by_period`` holds its booked rows of every
    period of the year up to and including ``period`` (the YTD); the current period's amounts
    due are checked against ``items`` (the settlement's); ``collected``: what
    ``collect_items`` made of the current period's rows already."""
    names = agent_names or {}
    stats = _Stats(tuple(sorted(set(courier_agents))))
    year_periods: list[PeriodFigures] = []
    notices: list[Notice] = []
    for code in sorted(rows_by_period):
        current = code == period
        figures, netted, written, unpaired = _period_figures(
            code, rows_by_period[code], currency, stats, current, notices, tax, netting,
            collected if current else None,
        )  # fmt: skip
        if current:
            _check_items(f"airline {airline_prefix}", items, netted)
            notices += _period_notices(written, unpaired, disputes, currency, netting)
            net = settlement.total if settlement else quantize(ZERO, currency)
        else:
            net = quantize(sum((a.amount for a in netted), ZERO), currency)
        year_periods.append(replace(figures, net_due=net))
    order = {"late": 0, "unpaired": 1, "dispute": 2, "void": 3, "service": 4}
    notices.sort(key=lambda n: (order[n.kind], n.agent_code, n.awb, n.reference))

    def lines(found: dict[str, _Stat], named: bool = True) -> tuple[StatLine, ...]:
        return tuple(
            s.line(k, names.get(k, "") if named else "", currency) for k, s in sorted(found.items())
        )

    return ManagementStats(
        airline_prefix=airline_prefix,
        airline_name=airline_name,
        currency=currency,
        period=period,
        year=period[:4],
        periods_in_ytd=tuple(sorted(rows_by_period)),
        total=stats.total.line("", "", currency),
        by_agent=lines(stats.by_agent),
        by_route=lines(stats.by_route, named=False),
        year_periods=tuple(year_periods),
        notices=tuple(notices),
        courier_agents=stats.couriers,
        courier=lines(stats.courier),
    )


def _period_figures(
    code: str,
    rows: Iterable[BookedRow],
    currency: str,
    stats: _Stats,
    current: bool,
    notices: list[Notice],
    tax: TaxEngine | None = None,
    netting: Netting = DEFAULT_NETTING,
    collected: Collected | None = None,
) -> tuple[PeriodFigures, list[ItemAmount], Any, Any]:
    """One period's figures (its net due left for the caller), its netted items, written
    records and unpaired corrections; its items counted into ``stats``, the current period's
    void and service AWBs into ``notices``."""
    items_list, written, unpaired = collected or collect_items(list(rows), tax)
    p_awbs = p_corr = 0
    p_weight = p_rev = ZERO
    netted = []
    for item in items_list:
        netted.append(netting.amount(item, currency))
        w, r, agent, route, awbs, notice = _figures(item, currency)
        p_awbs, p_corr = p_awbs + awbs, p_corr + (1 - awbs)
        p_weight += w
        p_rev += r
        stats.add(current, agent, route, awbs, w, r)
        if current and notice is not None:
            notices.append(notice)
    weight = p_weight.quantize(Decimal("0.1"))
    figures = PeriodFigures(code, p_awbs, p_corr, weight, quantize(p_rev, currency), ZERO)
    return figures, netted, written, unpaired


class _Stats:
    """Tonnage and revenue totals: in all, per agent, per route, per courier agent."""

    def __init__(self, couriers: tuple[str, ...]) -> None:
        self.couriers = couriers
        self.total = _Stat()
        self.by_agent: dict[str, _Stat] = defaultdict(_Stat)
        self.by_route: dict[str, _Stat] = defaultdict(_Stat)
        self.courier: dict[str, _Stat] = defaultdict(_Stat)

    def add(self, current: bool, agent: str, route: str, awbs: int, w: Decimal, r: Decimal) -> None:
        self.total.add(current, awbs, w, r)
        self.by_agent[agent].add(current, awbs, w, r)
        self.by_route[route].add(current, awbs, w, r)
        if agent in self.couriers:
            self.courier[agent].add(current, awbs, w, r)


def _import_figures(
    item: ImportRecord | ImportCorrection, currency: str
) -> tuple[Decimal, Decimal, str, str, int, Notice | None]:
    """CASS Import's figures: the weight delivered and its weight charges (the revenue)."""

    def fig(r: ImportRecord) -> tuple[Decimal, Decimal]:
        revenue = _conv(r.weight_charges, r.currency, r.rate_of_exchange, currency)
        return _kg(r.gross_weight, r.weight_unit), revenue

    if isinstance(item, ImportRecord):
        w, r = fig(item)
        return w, r, item.agent_code, f"{item.origin}-{item.destination}", 1, None
    (w0, r0), (w1, r1) = fig(item.original), fig(item.revised)
    o = item.original
    return w1 - w0, r1 - r0, o.agent_code, f"{o.origin}-{o.destination}", 0, None


def _figures(item: Any, currency: str) -> tuple[Decimal, Decimal, str, str, int, Notice | None]:
    """(weight kg, revenue, agent code, route, AWBs, notice) of one netted item: an AWB counts
    one, a correction the change it makes; a void or service AWB is noticed."""
    if isinstance(item, ImportRecord | ImportCorrection):
        return _import_figures(item, currency)
    if isinstance(item, AwbRecord):
        revenue = item.charges_due
        w = _kg(item.gross_weight, item.weight_unit) if revenue else ZERO
        r = _revenue_awb(item, currency) if revenue else ZERO
        notice = None
        if not revenue:
            kind = "void" if item.use_indicator == "V" else "service"
            notice = Notice(kind, item.agent_code, item.awb, "", None)
        return w, r, item.agent_code, f"{item.origin}-{item.destination}", 1, notice
    o, v = item.original, item.revised
    w = _kg(v.gross_weight, v.weight_unit) - _kg(o.gross_weight, o.weight_unit)
    r = _revenue_correction(v, currency) - _revenue_correction(o, currency)
    return w, r, o.agent_code, f"{o.origin}-{v.destination or o.destination}", 0, None


def _period_notices(
    written: Iterable[Any],
    unpaired: Iterable[CorrectionRecord | ImportRecord],
    disputes: Sequence[DisputeLine],
    currency: str,
    netting: Netting,
) -> list[Notice]:
    """The current period's notices: late AWBs, unpaired corrections, pending disputes."""
    notices = [
        Notice(
            "late",
            b.record.agent_code,
            b.record.awb,
            "",
            netting.amount(b.record, currency).amount,
        )
        for b in written
        if b.row.late and isinstance(b.record, AwbRecord)
    ]
    notices += [Notice("unpaired", u.agent_code, u.awb, u.reference, None) for u in unpaired]
    notices += [
        Notice("dispute", d.agent_code, d.awb, d.dispute_id, d.disputed)
        for d in disputes
        if d.status == "REQUEST_PENDING"
    ]
    return notices


# --- operator ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OperatorReport:
    """The operator's settlement summary of a close."""

    country: str
    period: str
    currency: str
    settlement: PeriodSettlement
    items_total: Decimal
    unpaired: tuple[tuple[str, str, str, str], ...]  # (kind, awb, reference, agent)
    unassigned_agents: tuple[str, ...]
    unassigned_airlines: tuple[str, ...]
    remittance_day: date
    settlement_day: date

    @property
    def balanced(self) -> bool:
        """Σ agents = Σ airlines = Σ items, difference zero."""
        s = self.settlement.summary
        return s.agents_total == s.airlines_total == self.items_total and not s.difference


def operator_report(
    settlement: PeriodSettlement,
    *,
    country: str,
    period: str,
    unpaired: Iterable[CorrectionRecord | ImportRecord],
    unassigned_agents: Iterable[str],
    unassigned_airlines: Iterable[str],
    remittance_day: date,
    settlement_day: date,
) -> OperatorReport:
    """The operator's summary: the close's totals and their conservation check."""
    cur = settlement.currency
    return OperatorReport(
        country=country,
        period=period,
        currency=cur,
        settlement=settlement,
        items_total=quantize(sum((it.amount for it in settlement.items), ZERO), cur),
        unpaired=tuple((u.kind, u.awb, u.reference, u.agent_code) for u in unpaired),
        unassigned_agents=tuple(unassigned_agents),
        unassigned_airlines=tuple(unassigned_airlines),
        remittance_day=remittance_day,
        settlement_day=settlement_day,
    )


@dataclass(frozen=True, slots=True)
class Tonnage:
    """Tonnage, revenue and yield of an airline prefix's booked rows, for ``period`` and the
    year to date, in total, by agent and by route: the Management Statistics' figures, for
    rows as they stand (the portal's charts, between closes too)."""

    period: str
    currency: str
    total: StatLine
    by_agent: tuple[StatLine, ...]
    by_route: tuple[StatLine, ...]


def tonnage_statistics(
    rows_by_period: Mapping[str, Iterable[BookedRow]],
    *,
    period: str,
    currency: str,
    agent_names: Mapping[str, str] | None = None,
    tax: TaxEngine | None = None,
    netting: Netting = DEFAULT_NETTING,
) -> Tonnage:
    """``management_stats``' tonnage, revenue and yield, without its settlement cross-check
    and notices (there may be no settlement yet)."""
    names = agent_names or {}
    stats = _Stats(())
    for code in sorted(rows_by_period):
        _period_figures(
            code, rows_by_period[code], currency, stats, code == period, [], tax, netting
        )

    def lines(found: dict[str, _Stat], named: bool = True) -> tuple[StatLine, ...]:
        return tuple(
            s.line(k, names.get(k, "") if named else "", currency) for k, s in sorted(found.items())
        )

    return Tonnage(
        period, currency, stats.total.line("", "", currency), lines(stats.by_agent),
        lines(stats.by_route, named=False),
    )  # fmt: skip
