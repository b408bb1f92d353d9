"""Netting: what each agent owes each airline for one billing period, and the period's totals.

Theory of operation (the money rules)
-------------------------------------
The input is every billed item of one CASS country and period: AWB billing records, correction
pairs (CCA and DCM: an original and a revised record) and accepted dispute outcomes given as
``Adjustment`` amounts already in the period currency.  The output is one amount per item, one
total per (agent, airline) line, one statement per agent, one settlement per airline and the
operator's summary.  Everything is a pure function of the items, the period currency and the
terms; there is no clock, no I/O and no configuration object.

1. **Terms are data.**  SETTLEMENT.md's formula is ``DEFAULT_TERMS``: a tuple of (AWB field,
   sign) pairs.  A market with other rules passes other terms; nothing below names a charge.

2. **The discount is added with its own sign.**  The model's ``discount`` is signed: negative
   when the HOT sign character is ``-``, which is how files carry a discount or sales incentive
   (HOT.md's sample: 1320.90 with ``-``).  A discount reduces what the agent owes, so "− discount
   (signed)" in SETTLEMENT.md is read as "the discount, which the sign already makes a reduction,
   is applied": its term is ``("discount", +1)``.  A ``-`` discount of 120.00 (model −120.00)
   lowers the amount due by 120.00; a discount without a sign (model +120.00) is the reverse of
   a discount and raises it.  Subtracting the signed value instead would make every ``-``
   discount a charge to the agent, the opposite of what the field means.

3. **Corrections use the same meaning through their P/C indicators.**  A correction record has
   one amount per charge group and a prepaid/collect indicator for each.  ``CorrectionTerms``
   maps (field, indicator) to a sign; a group whose indicator matches no term (a collect weight
   charge, a blank indicator) contributes nothing.  The defaults mirror the AWB formula:
   prepaid weight, valuation, other charges due carrier and taxes are owed to the airline (+);
   VAT on charges is the tax due airline (+); other charges due agent, collect, are owed back
   to the agent (−); commission and VAT on commission (the tax due agent) are the agent's (−);
   the signed discount is applied as in rule 2.  The amount billed is revised − original.

4. **Conversion is explicit.**  A record in the period currency is taken as it is (its rate of
   exchange, usually 0, is ignored).  A record in another currency is converted as
   amount × ``rate_of_exchange``; a zero or negative rate is an ``ExchangeRateError``, never a
   silent zero.  Each record of a correction is converted with its own rate.

5. **Rounding happens once per item.**  The terms of one AWB are summed and converted exactly,
   then rounded half-up (ties away from zero: 0.005 → 0.01, −0.005 → −0.01) to the minor units
   of the period currency with ``opencass.model.quantize``.  A correction rounds revised −
   original once.  An adjustment must already be a whole number of minor units.  Void (``V``)
   and service (``S``) AWBs are due zero whatever they carry.  Negative zero is written as zero.

6. **Every total is a sum of the rounded item amounts.**  Lines sum items; agent statements and
   airline settlements sum the same lines, so Σ agents = Σ airlines by construction.  ``settle``
   still checks it (and that both equal Σ items) and raises ``ConservationError`` if not.
   Sums of whole minor units are exact (the arithmetic runs with 64 significant digits), so
   they do not depend on the order of the items.

7. **Outputs are sorted**: agents by code, airlines by prefix, items by airline prefix, AWB
   serial, kind, reference and amount.  The same items in any order give equal outputs.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from decimal import Context, Decimal, localcontext
from operator import attrgetter

from opencass.config.model import Country
from opencass.errors import ConfigurationError, InputError, InternalError, OpencassError
from opencass.model import (
    ZERO,
    AwbRecord,
    Correction,
    CorrectionRecord,
    ImportCorrection,
    ImportRecord,
    indicator_fields,
    minor_units,
    money_fields,
    quantize,
)

__all__ = [
    "DEFAULT_CORRECTION_TERMS",
    "DEFAULT_IMPORT_TERMS",
    "DEFAULT_NETTING",
    "DEFAULT_TERMS",
    "Adjustment",
    "AgentStatement",
    "AirlineSettlement",
    "AmountError",
    "ConservationError",
    "CorrectionPairError",
    "CorrectionTerms",
    "ExchangeRateError",
    "ImportTerms",
    "Item",
    "ItemAmount",
    "ItemKind",
    "LineTotal",
    "Netting",
    "NettingError",
    "NettingTerms",
    "OperatorSummary",
    "PeriodSettlement",
    "TermsError",
    "awb_due",
    "awb_due_of",
    "check_conservation",
    "correction_due",
    "import_due",
    "item_amount",
    "netting_of",
    "settle",
    "settle_amounts",
]

# Exact for any amount a 12-digit field can hold times an 11-character rate, and for sums of
# millions of them; quantize() passes its own rounding, so the context's is never used.
_EXACT = Context(prec=64)

# --- errors -------------------------------------------------------------------------------------


class NettingError(OpencassError):
    """Netting cannot continue; ``code`` is stable, the message is for people."""

    code = "NETTING_FAILED"


class TermsError(NettingError, ConfigurationError, ValueError):
    """Netting terms that name no money field or carry a bad sign (a configuration fault)."""

    code = "NETTING_TERMS_INVALID"


class ExchangeRateError(NettingError, ConfigurationError, ValueError):
    """A record in a foreign currency without a usable (positive) rate of exchange."""

    code = "EXCHANGE_RATE_INVALID"


class CorrectionPairError(NettingError, InputError, ValueError):
    """A Correction whose two records are not an original and its revision."""

    code = "CORRECTION_PAIR_INVALID"


class AmountError(NettingError, InputError, ValueError):
    """An amount that is not finite, or an adjustment not in whole minor units."""

    code = "AMOUNT_INVALID"


class ConservationError(NettingError, InternalError, RuntimeError):
    """Σ agent statements differs from Σ airline settlements: a bug, never a data problem."""

    code = "CONSERVATION_BROKEN"


# --- terms --------------------------------------------------------------------------------------


_AWB_MONEY = money_fields(AwbRecord)
_CORRECTION_MONEY = money_fields(CorrectionRecord)
_CORRECTION_PC = indicator_fields(CorrectionRecord)
_IMPORT_MONEY = money_fields(ImportRecord)


def _check_sign(name: str, sign: object) -> None:
    if isinstance(sign, bool) or sign not in (1, -1):
        raise TermsError(f"netting term {name!r}: sign must be +1 or -1, not {sign!r}")


def _check_terms(terms: tuple[tuple[str, int], ...], allowed: frozenset[str], what: str) -> None:
    if not terms:
        raise TermsError("netting terms are empty")
    seen: set[str] = set()
    for name, sign in terms:
        if name not in allowed:
            raise TermsError(f"netting term {name!r} is not a money field of {what}")
        if name in seen:
            raise TermsError(f"netting term {name!r} appears twice")
        _check_sign(name, sign)
        seen.add(name)


def _signed_sum(rec: object, terms: tuple[tuple[str, int], ...]) -> Decimal:
    """Σ sign × field of ``rec`` over ``terms``, exact."""
    total = ZERO
    for name, sign in terms:
        value: Decimal = getattr(rec, name)
        total += value if sign > 0 else -value
    return total


@dataclass(frozen=True, slots=True)
class NettingTerms:
    """The amount due airline of an AWB as Σ sign × field, over AwbRecord money fields."""

    terms: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        _check_terms(self.terms, _AWB_MONEY, "an AWB record")

    def apply(self, rec: AwbRecord) -> Decimal:
        """Σ sign × field of ``rec``, exact, in the record's currency."""
        return _signed_sum(rec, self.terms)


@dataclass(frozen=True, slots=True)
class CorrectionTerms:
    """Σ sign × field over correction money fields whose P/C indicator matches the term's.

    Each term is (field, indicator, sign): indicator ``P`` or ``C`` for a field that has one
    (``weight_charge`` has ``weight_charge_pc``), ``""`` for a field that has none.
    """

    terms: tuple[tuple[str, str, int], ...]

    def __post_init__(self) -> None:
        if not self.terms:
            raise TermsError("correction terms are empty")
        seen: set[tuple[str, str]] = set()
        for name, indicator, sign in self.terms:
            if name not in _CORRECTION_MONEY:
                raise TermsError(f"correction term {name!r} is not a money field of a correction")
            has_pc = name in _CORRECTION_PC
            if has_pc and indicator not in ("P", "C"):
                raise TermsError(f"correction term {name!r} needs indicator P or C")
            if not has_pc and indicator != "":
                raise TermsError(f"correction term {name!r} has no P/C indicator to match")
            if (name, indicator) in seen:
                raise TermsError(f"correction term {name!r} {indicator!r} appears twice")
            _check_sign(name, sign)
            seen.add((name, indicator))

    def apply(self, rec: CorrectionRecord) -> Decimal:
        """Σ sign × field of ``rec`` over the matching terms, exact, in the record's currency."""
        total = ZERO
        for name, indicator, sign in self.terms:
            if indicator and getattr(rec, f"{name}_pc") != indicator:
                continue
            value: Decimal = getattr(rec, name)
            total += value if sign > 0 else -value
        return total


@dataclass(frozen=True, slots=True)
class ImportTerms:
    """CASS Import: what the consignee's agent owes the billing party for one AWB, as
    Σ sign × field over ImportRecord money fields.  The ``fee`` term counts only on a record
    whose ``fee_charged`` is ``Y`` (a fee shown but not charged is not billed)."""

    terms: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        _check_terms(self.terms, _IMPORT_MONEY, "an import record")

    def apply(self, rec: ImportRecord) -> Decimal:
        """Σ sign × field of ``rec``, exact, in the record's currency."""
        if rec.fee_charged == "Y":
            return _signed_sum(rec, self.terms)
        return _signed_sum(rec, tuple(t for t in self.terms if t[0] != "fee"))


#: CASS Import's default: the consignee's agent pays every collect and import charge it is
#: billed (weight, charges due agent and carrier collected at destination, the fee when
#: charged, handling, storage, the two other charges, miscellaneous charges).
DEFAULT_IMPORT_TERMS = ImportTerms(
    (
        ("weight_charges", 1),
        ("charges_due_agent", 1),
        ("charges_due_carrier", 1),
        ("fee", 1),
        ("handling_charges", 1),
        ("storage_charges", 1),
        ("other_charge_1", 1),
        ("other_charge_2", 1),
        ("miscellaneous_charges", 1),
    )
)

#: SETTLEMENT.md's formula (the discount term is + because the value is signed; see rule 2).
DEFAULT_TERMS = NettingTerms(
    (
        ("weight_charge_prepaid", 1),
        ("valuation_charge_prepaid", 1),
        ("other_charges_carrier_prepaid", 1),
        ("tax_due_airline", 1),
        ("commission", -1),
        ("discount", 1),
        ("other_charges_agent_collect", -1),
        ("tax_due_agent", -1),
    )
)

#: The same meaning for correction records (rule 3).
DEFAULT_CORRECTION_TERMS = CorrectionTerms(
    (
        ("weight_charge", "P", 1),
        ("valuation_charge", "P", 1),
        ("other_charges_carrier", "P", 1),
        ("taxes", "P", 1),
        ("vat_on_charges", "", 1),
        ("commission", "", -1),
        ("vat_on_commission", "", -1),
        ("discount", "", 1),
        ("other_charges_agent", "C", -1),
    )
)


# --- per item -----------------------------------------------------------------------------------


class ItemKind(enum.StrEnum):
    """What an item amount comes from."""

    ADJUSTMENT = "ADJ"
    AWB = "AWB"
    CCA = "CCA"
    DCM = "DCM"
    IMPORT = "IBI"  # CASS Import: an AWB billed at destination
    IMPORT_CORRECTION = "IBC"  # CASS Import: a correction (IBO/IBR) of one


@dataclass(frozen=True, slots=True)
class Adjustment:
    """An accepted dispute outcome (or carried-over adjustment), in the period currency."""

    airline_prefix: str
    agent_code: str
    amount: Decimal  # due airline: negative credits the agent
    reference: str


@dataclass(frozen=True, slots=True, order=True)
class ItemAmount:
    """One billed item's amount due airline, rounded, in the period currency.

    Fields are in sort order: airline prefix, AWB serial, kind, reference, then the rest.
    """

    airline_prefix: str
    awb_serial: str  # "" for an adjustment
    kind: ItemKind
    reference: str  # CCA/DCM number or adjustment reference; "" for an AWB
    agent_code: str
    amount: Decimal

    @property
    def awb(self) -> str:
        """The AWB number ``160-62144154``, or "" for an adjustment."""
        return f"{self.airline_prefix}-{self.awb_serial}" if self.awb_serial else ""


def _convert(
    amount: Decimal, currency: str, rate: Decimal, period_currency: str, what: str
) -> Decimal:
    if currency == period_currency:
        return amount
    if not rate.is_finite() or rate <= 0:
        raise ExchangeRateError(
            f"{what}: {currency} differs from the period currency {period_currency} "
            f"and its rate of exchange is {rate}"
        )
    return amount * rate


def _round(amount: Decimal, currency: str, what: str) -> Decimal:
    if not amount.is_finite():
        raise AmountError(f"{what}: amount {amount} is not a number")
    rounded = quantize(amount, currency)
    return rounded.copy_abs() if rounded.is_zero() else rounded


def awb_due(rec: AwbRecord, period_currency: str, terms: NettingTerms = DEFAULT_TERMS) -> Decimal:
    """An AWB's amount due airline in ``period_currency``, rounded at the AWB level."""
    values = [getattr(rec, name) for name, _ in terms.terms]
    return awb_due_of(
        rec.awb, rec.charges_due, values, rec.currency, rec.rate_of_exchange, period_currency,
        terms,
    )  # fmt: skip


def awb_due_of(
    awb: str,
    charges_due: bool,
    values: Sequence[Decimal],
    currency: str,
    rate_of_exchange: Decimal,
    period_currency: str,
    terms: NettingTerms = DEFAULT_TERMS,
) -> Decimal:
    """``awb_due`` from the AWB's number, whether charges are due, the values of the terms'
    fields (in the terms' order), its currency and rate: for a reader that decodes only
    those fields of a stored line (``opencass.settlement.close``)."""
    what = f"AWB {awb}"
    with localcontext(_EXACT):
        if not charges_due:
            return _round(ZERO, period_currency, what)
        raw = ZERO
        for value, (_, sign) in zip(values, terms.terms, strict=True):
            raw += value if sign > 0 else -value
        converted = _convert(raw, currency, rate_of_exchange, period_currency, what)
        return _round(converted, period_currency, what)


def _check_pair(c: Correction | ImportCorrection) -> None:
    o, r = c.original, c.revised
    if not (o.is_original and r.is_revised and o.pair_key == r.pair_key):
        raise CorrectionPairError(
            f"{o.record_id} {o.awb} {o.reference} and {r.record_id} {r.awb} {r.reference} "
            "are not an original and its revision"
        )
    if o.agent_code != r.agent_code:
        raise CorrectionPairError(
            f"{o.kind} {o.reference} of AWB {o.awb}: agent {o.agent_code} in the original, "
            f"{r.agent_code} in the revision"
        )


def correction_due(
    c: Correction, period_currency: str, terms: CorrectionTerms = DEFAULT_CORRECTION_TERMS
) -> Decimal:
    """A correction's adjustment (revised − original) in ``period_currency``, rounded once."""
    _check_pair(c)
    what = f"{c.kind} {c.original.reference} of AWB {c.original.awb}"
    with localcontext(_EXACT):
        parts = [
            _convert(terms.apply(r), r.currency, r.rate_of_exchange, period_currency, what)
            for r in (c.revised, c.original)
        ]
        return _round(parts[0] - parts[1], period_currency, what)


def import_due(
    item: ImportRecord | ImportCorrection,
    period_currency: str,
    terms: ImportTerms = DEFAULT_IMPORT_TERMS,
) -> Decimal:
    """An import billing's amount due (or a correction's revised − original) in
    ``period_currency``, each record converted with its own rate, rounded once."""
    records: tuple[ImportRecord, ...]
    signs: tuple[int, ...]
    if isinstance(item, ImportRecord):
        what, records, signs = f"import AWB {item.awb}", (item,), (1,)
    else:
        _check_pair(item)
        o, r = item.original, item.revised
        what, records, signs = f"import correction of AWB {o.awb}", (r, o), (1, -1)
    with localcontext(_EXACT):
        total = ZERO
        for rec, sign in zip(records, signs, strict=True):
            raw = terms.apply(rec)
            converted = _convert(raw, rec.currency, rec.rate_of_exchange, period_currency, what)
            total += converted if sign > 0 else -converted
        return _round(total, period_currency, what)


def _adjustment_due(a: Adjustment, period_currency: str) -> Decimal:
    what = f"adjustment {a.reference} ({a.airline_prefix}, agent {a.agent_code})"
    with localcontext(_EXACT):
        rounded = _round(a.amount, period_currency, what)
        if rounded != a.amount:
            raise AmountError(
                f"{what}: {a.amount} is not a whole number of {period_currency} minor units"
            )
        return rounded


#: What ``settle`` nets: AWB records, correction pairs, adjustments, import billings and
#: import correction pairs.
Item = AwbRecord | Correction | Adjustment | ImportRecord | ImportCorrection


def item_amount(
    item: Item,
    period_currency: str,
    terms: NettingTerms = DEFAULT_TERMS,
    correction_terms: CorrectionTerms = DEFAULT_CORRECTION_TERMS,
    import_terms: ImportTerms = DEFAULT_IMPORT_TERMS,
) -> ItemAmount:
    """One item's rounded amount due airline (the billing party), with what identifies it."""
    if isinstance(item, ImportRecord | ImportCorrection):
        amount = import_due(item, period_currency, import_terms)
        rec = item if isinstance(item, ImportRecord) else item.original
        kind = ItemKind.IMPORT if isinstance(item, ImportRecord) else ItemKind.IMPORT_CORRECTION
        return ItemAmount(rec.airline_prefix, rec.awb_serial, kind, "", rec.agent_code, amount)
    if isinstance(item, AwbRecord):
        amount = awb_due(item, period_currency, terms)
        return ItemAmount(
            item.airline_prefix, item.awb_serial, ItemKind.AWB, "", item.agent_code, amount
        )
    if isinstance(item, Correction):
        amount = correction_due(item, period_currency, correction_terms)
        o = item.original
        kind = ItemKind(item.kind)
        return ItemAmount(o.airline_prefix, o.awb_serial, kind, o.reference, o.agent_code, amount)
    if not isinstance(item, Adjustment):
        raise TypeError(f"cannot net a {type(item).__name__}")
    amount = _adjustment_due(item, period_currency)
    return ItemAmount(
        item.airline_prefix, "", ItemKind.ADJUSTMENT, item.reference, item.agent_code, amount
    )


@dataclass(frozen=True, slots=True)
class Netting:
    """The netting terms of one CASS operation (``[countries.XX.netting]``): for AWBs, for
    corrections and for import records."""

    awb: NettingTerms = DEFAULT_TERMS
    correction: CorrectionTerms = DEFAULT_CORRECTION_TERMS
    imports: ImportTerms = DEFAULT_IMPORT_TERMS

    def amount(self, item: Item, period_currency: str) -> ItemAmount:
        """``item_amount`` under these terms."""
        return item_amount(item, period_currency, self.awb, self.correction, self.imports)


DEFAULT_NETTING = Netting()


def netting_of(country: Country) -> Netting:
    """The terms the operation's configuration names, opencass's defaults where it names none.

    Raises ``TermsError`` for terms the configuration check would have refused."""
    c = country.netting
    if c.awb is None and c.correction is None and c.imports is None:
        return DEFAULT_NETTING
    return Netting(
        DEFAULT_TERMS if c.awb is None else NettingTerms(c.awb),
        DEFAULT_CORRECTION_TERMS if c.correction is None else CorrectionTerms(c.correction),
        DEFAULT_IMPORT_TERMS if c.imports is None else ImportTerms(c.imports),
    )


# --- the period ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineTotal:
    """What one agent owes one airline for the period (negative: the airline owes the agent)."""

    agent_code: str
    airline_prefix: str
    amount: Decimal
    items: int


@dataclass(frozen=True, slots=True)
class AgentStatement:
    """One agent's single amount to remit, its per-airline subtotals and its items."""

    agent_code: str
    total: Decimal  # negative: a credit to the agent
    lines: tuple[LineTotal, ...]  # by airline prefix
    items: tuple[ItemAmount, ...]  # by airline prefix, AWB, kind, reference

    @property
    def is_credit(self) -> bool:
        """True when the period leaves the agent in credit."""
        return self.total < 0


@dataclass(frozen=True, slots=True)
class AirlineSettlement:
    """One airline prefix's single amount to receive, with its per-agent lines."""

    airline_prefix: str
    total: Decimal
    lines: tuple[LineTotal, ...]  # by agent code


@dataclass(frozen=True, slots=True)
class OperatorSummary:
    """The operator's view of a close: counts and the conservation check."""

    currency: str
    awbs: int
    non_revenue_awbs: int  # void and service AWBs (due zero), counted within ``awbs``
    corrections: int
    adjustments: int
    agents: int
    airlines: int
    agents_total: Decimal
    airlines_total: Decimal
    difference: Decimal  # agents_total − airlines_total; zero, or settle() raises


@dataclass(frozen=True, slots=True)
class PeriodSettlement:
    """Everything netting produces for one CASS country and period."""

    currency: str
    lines: tuple[LineTotal, ...]  # by agent code, then airline prefix
    agents: tuple[AgentStatement, ...]  # by agent code
    airlines: tuple[AirlineSettlement, ...]  # by airline prefix
    summary: OperatorSummary
    items: tuple[ItemAmount, ...]  # sorted, as in the statements


_CORRECTIONS = frozenset({ItemKind.CCA, ItemKind.DCM, ItemKind.IMPORT_CORRECTION})
_ORDER = attrgetter(*(f.name for f in fields(ItemAmount)))  # the fields ``order=True`` compares


def _sum(amounts: Iterable[Decimal], currency: str) -> Decimal:
    with localcontext(_EXACT):
        return sum(amounts, quantize(ZERO, currency))


def _lines(items: tuple[ItemAmount, ...], currency: str) -> tuple[LineTotal, ...]:
    # by agent, then by airline: sorting 5,000 agents and each one's airlines is cheaper than
    # sorting 400,000 (agent, airline) pairs, and gives the same order
    grouped: dict[str, dict[str, list[Decimal]]] = defaultdict(dict)
    for it in items:
        by_airline = grouped[it.agent_code]
        amounts = by_airline.get(it.airline_prefix)
        if amounts is None:
            by_airline[it.airline_prefix] = [it.amount]
        else:
            amounts.append(it.amount)
    zero = quantize(ZERO, currency)
    with localcontext(_EXACT):  # once for all lines: a large period has 400,000 of them
        return tuple(
            LineTotal(agent, airline, sum(amounts, zero), len(amounts))
            for agent, by_airline in sorted(grouped.items())
            for airline, amounts in sorted(by_airline.items())
        )


def _agents(
    lines: tuple[LineTotal, ...], items: tuple[ItemAmount, ...], currency: str
) -> tuple[AgentStatement, ...]:
    by_agent: dict[str, list[LineTotal]] = defaultdict(list)
    for line in lines:
        by_agent[line.agent_code].append(line)
    items_of: dict[str, list[ItemAmount]] = defaultdict(list)
    for it in items:
        items_of[it.agent_code].append(it)
    return tuple(
        AgentStatement(
            agent, _sum((x.amount for x in ls), currency), tuple(ls), tuple(items_of[agent])
        )
        for agent, ls in sorted(by_agent.items())
    )


def _airlines(lines: tuple[LineTotal, ...], currency: str) -> tuple[AirlineSettlement, ...]:
    by_airline: dict[str, list[LineTotal]] = defaultdict(list)
    for line in lines:
        by_airline[line.airline_prefix].append(line)
    return tuple(
        AirlineSettlement(
            airline,
            _sum((x.amount for x in ls), currency),
            tuple(sorted(ls, key=lambda x: x.agent_code)),
        )
        for airline, ls in sorted(by_airline.items())
    )


def check_conservation(s: PeriodSettlement) -> None:
    """Raise ConservationError unless Σ agents = Σ airlines = Σ items = the summary's totals."""
    agents = _sum((a.total for a in s.agents), s.currency)
    airlines = _sum((a.total for a in s.airlines), s.currency)
    items = _sum((it.amount for it in s.items), s.currency)
    reported = (s.summary.agents_total, s.summary.airlines_total)
    if not agents == airlines == items or reported != (agents, airlines) or s.summary.difference:
        raise ConservationError(
            f"period in {s.currency}: agents {agents}, airlines {airlines}, items {items}, "
            f"summary {s.summary.agents_total} / {s.summary.airlines_total} "
            f"(difference {s.summary.difference})"
        )


def settle(
    items: Iterable[Item],
    period_currency: str,
    terms: NettingTerms = DEFAULT_TERMS,
    correction_terms: CorrectionTerms = DEFAULT_CORRECTION_TERMS,
    import_terms: ImportTerms = DEFAULT_IMPORT_TERMS,
) -> PeriodSettlement:
    """Net one CASS operation's period: statements, settlements and the checked summary."""
    minor_units(period_currency)  # an unknown currency fails here, even with no items
    awbs = non_revenue = 0
    amounts: list[ItemAmount] = []
    for item in items:
        if isinstance(item, AwbRecord):
            awbs += 1
            non_revenue += not item.charges_due
        awbs += isinstance(item, ImportRecord)
        amounts.append(item_amount(item, period_currency, terms, correction_terms, import_terms))
    return settle_amounts(amounts, period_currency, awbs=awbs, non_revenue_awbs=non_revenue)


def settle_amounts(
    amounts: Iterable[ItemAmount], period_currency: str, *, awbs: int, non_revenue_awbs: int
) -> PeriodSettlement:
    """``settle`` from items already netted one by one (``item_amount``): a caller streaming a
    large ledger keeps the small amounts, not the records.  ``awbs`` and ``non_revenue_awbs``
    count the AWB records among them, for the summary."""
    minor_units(period_currency)
    non_revenue = non_revenue_awbs
    ordered = tuple(sorted(amounts, key=_ORDER))  # ItemAmount's order, compared in C
    lines = _lines(ordered, period_currency)
    agents = _agents(lines, ordered, period_currency)
    airlines = _airlines(lines, period_currency)
    agents_total = _sum((a.total for a in agents), period_currency)
    airlines_total = _sum((a.total for a in airlines), period_currency)
    kinds = [it.kind for it in ordered]
    summary = OperatorSummary(
        currency=period_currency,
        awbs=awbs,
        non_revenue_awbs=non_revenue,
        corrections=sum(k in _CORRECTIONS for k in kinds),
        adjustments=kinds.count(ItemKind.ADJUSTMENT),
        agents=len(agents),
        airlines=len(airlines),
        agents_total=agents_total,
        airlines_total=airlines_total,
        difference=_round(agents_total - airlines_total, period_currency, "difference"),
    )
    result = PeriodSettlement(period_currency, lines, agents, airlines, summary, ordered)
    check_conservation(result)
    return result
