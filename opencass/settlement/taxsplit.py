"""An item's amount split into taxed parts: the bases of each side per VAT category and rate.

Pure: what the invoices (``opencass.documents.invoices.content``) and the statements' VAT
breakdown (``opencass.settlement.close``) both build from an item, so that they agree.

Every item's amount due airline (netting rule 5: rounded once, in the period currency) is split
into the agent's side (−(commission + other charges due agent, collect), converted and
rounded), the tax on it (−tax due agent), the tax on the charges (tax due airline) and the
charges base (the rest, so the parts always add up to the item's amount exactly).  Each side is
spread over the record's bases per category and rate (``TaxEngine.portions``), each converted
and rounded, the last taking what is left; the side's tax goes with its highest rate.  A
correction carries its own VAT: a side that carries some is shown at the rate of the first rule
with a rate in force on its execution date, else untaxed.  An adjustment is untaxed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal, localcontext
from typing import NamedTuple

from opencass.config.tax import TaxRule
from opencass.model import (
    ZERO,
    AwbRecord,
    Correction,
    CorrectionRecord,
    ImportCorrection,
    ImportRecord,
    quantize,
)
from opencass.settlement.netting import Item
from opencass.settlement.tax import AGENT, AIRLINE, Portion, TaxEngine, by_side

__all__ = [
    "ADJUSTMENTS",
    "CHARGES",
    "COMMISSION",
    "Part",
    "VatRow",
    "VatSums",
    "add_vat",
    "split_item",
    "vat_rows",
]

CHARGES, COMMISSION, ADJUSTMENTS = "charges", "commission", "adjustments"


class Part(NamedTuple):  # a tuple: several are made for every item split
    """A share of an item's amount on one invoice line kind, in one tax category and rate."""

    side: str  # CHARGES, COMMISSION or ADJUSTMENTS
    category: str
    rate: Decimal
    base: Decimal
    tax: Decimal
    rule: TaxRule | None = None


def _conv(amount: Decimal, rec: AwbRecord | CorrectionRecord, currency: str) -> Decimal:
    if rec.currency == currency:
        return amount
    return amount * rec.rate_of_exchange  # netting already rejected a bad rate


def _spread(
    side: str, total: Decimal, tax: Decimal, portions: list[Portion], sign: int,
    rec: AwbRecord, currency: str, untaxed: str,
) -> list[Part]:  # fmt: skip
    """``total`` (a side's net amount, period currency) over its ``portions``: each converted
    and rounded, the last taking what is left; ``tax`` on the portion with the highest rate."""
    if not portions:
        return [Part(side, untaxed, Decimal(0), total, tax)] if total or tax else []
    ordered = sorted(portions, key=lambda p: (-p.rate, p.category))
    parts = []
    left = total
    for i, p in enumerate(ordered):
        last = i == len(ordered) - 1
        base = left if last else quantize(_conv(sign * p.base, rec, currency), currency)
        left -= base
        parts.append(Part(side, p.category, p.rate, base, tax if i == 0 else ZERO, p.rule))
    return parts


def _awb_parts(
    rec: AwbRecord, amount: Decimal, currency: str, tax: TaxEngine | None, untaxed: str
) -> list[Part]:
    if not rec.charges_due:
        return [Part(CHARGES, untaxed, Decimal(0), ZERO, ZERO)]
    tax_c = quantize(_conv(rec.tax_due_airline, rec, currency), currency)
    agent = quantize(
        _conv(-(rec.commission + rec.other_charges_agent_collect), rec, currency), currency
    )
    tax_a = quantize(_conv(-rec.tax_due_agent, rec, currency), currency)
    sides = by_side(tax.portions(rec)) if tax is not None else {}
    parts = _spread(COMMISSION, agent, tax_a, sides.get(AGENT, []), -1, rec, currency, untaxed)
    charges = amount - tax_c - agent - tax_a
    parts += _spread(CHARGES, charges, tax_c, sides.get(AIRLINE, []), 1, rec, currency, untaxed)
    return parts or [Part(CHARGES, untaxed, Decimal(0), ZERO, ZERO)]


def _correction_parts(
    c: Correction, amount: Decimal, currency: str, tax: TaxEngine | None, untaxed: str
) -> list[Part]:
    """A correction carries its own VAT (its figures are not recomputed): a side that carries
    some is shown at the rate of the first rule with a rate in force on its execution date;
    a side that carries none is untaxed."""

    def diff(value: Callable[[CorrectionRecord], Decimal]) -> Decimal:
        new = _conv(value(c.revised), c.revised, currency)
        old = _conv(value(c.original), c.original, currency)
        return quantize(new - old, currency)

    def agent_of(r: CorrectionRecord) -> Decimal:
        collect = r.other_charges_agent if r.other_charges_agent_pc == "C" else ZERO
        return -(r.commission + collect)

    tax_c = diff(lambda r: r.vat_on_charges)
    agent = diff(agent_of)
    tax_a = diff(lambda r: -r.vat_on_commission)
    day = c.revised.execution_date
    rule = next((r for r in tax.invoicing.tax if r.rate and r.applies(day)), None) if tax else None

    def part(side: str, base: Decimal, vat: Decimal) -> Part:
        if vat and rule is not None:
            return Part(side, rule.category, rule.rate, base, vat, rule)
        return Part(side, untaxed, Decimal(0), base, vat)

    parts = [part(COMMISSION, agent, tax_a)] if agent or tax_a else []
    return [*parts, part(CHARGES, amount - tax_c - agent - tax_a, tax_c)]


def split_item(item: Item, amount: Decimal, currency: str, tax: TaxEngine | None,
           untaxed: str) -> list[Part]:  # fmt: skip
    with localcontext() as ctx:
        ctx.prec = 64
        if isinstance(item, AwbRecord):
            return _awb_parts(item, amount, currency, tax, untaxed)
        if isinstance(item, Correction):
            return _correction_parts(item, amount, currency, tax, untaxed)
        if isinstance(item, ImportRecord | ImportCorrection):  # CASS Import: no VAT computed
            return [Part(CHARGES, untaxed, Decimal(0), amount, ZERO)]
        return [Part(ADJUSTMENTS, untaxed, Decimal(0), amount, ZERO)]


VatKey = tuple[str, Decimal]  # (category, rate)
VatSums = dict[VatKey, list[Decimal]]  # (category, rate) -> [net base, VAT]
VatRow = tuple[str, Decimal, Decimal, Decimal]  # category, rate, net base, VAT


def add_vat(
    into: Iterable[VatSums], item: Item, amount: Decimal, currency: str, tax: TaxEngine
) -> None:
    """Add ``item``'s parts (its ``amount`` due airline split as its invoice lines are) to each
    of the VAT sums ``into`` per category and rate."""
    parts = split_item(item, amount, currency, tax, tax.invoicing.untaxed_category)
    for sums in into:
        for part in parts:
            entry = sums.setdefault((part.category, part.rate), [ZERO, ZERO])
            entry[0] += part.base
            entry[1] += part.tax


def vat_rows(sums: VatSums | None) -> tuple[VatRow, ...]:
    """``sums`` as (category, rate, base, VAT), highest rate first, then by category."""
    ordered = sorted((sums or {}).items(), key=lambda kv: (-kv[0][1], kv[0][0]))
    return tuple((cat, rate, base, tax) for (cat, rate), (base, tax) in ordered)
