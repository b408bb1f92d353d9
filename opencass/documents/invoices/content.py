"""What an invoice says: lines per airline and tax group, the tax breakdown per rate, totals.

Pure: no clock, no database, no files.  The input is one agent code's ``AgentStatement`` from the
final close, the netted items (AWB records, correction pairs, adjustments) it was built from and
the country's invoicing settings; the output is an ``InvoiceData`` whose total is, to the minor
unit, the statement's total.

The tax rule (documented in README.md "Invoices")
--------------------------------------------------
Every item's amount due airline (netting rule 5: rounded once, in the period currency) is split
into four parts, each converted with the record's own rate of exchange and rounded half-up:

* **tax on charges**: the VAT the record carries on the charges (``tax_due_airline``; for a
  correction, revised − original ``vat_on_charges``);
* **agent base**: what the agent earns, negative: −(commission + other charges due agent,
  collect) — for a correction the difference of its commission and collect agent charges;
* **tax on commission**: −(the VAT the record carries on the commission: ``tax_due_agent`` /
  ``vat_on_commission``);
* **charges base**: the rest (amount − the three parts above), so the parts always add up to the
  item's amount exactly and the invoice's total is the statement's total.

A record whose VAT indicator is ``Y`` puts its charges base in the country's charges rate and its
agent base in the commission rate, from the tax rule in force on the period's last billing day
(the supply date); with reverse charge both are category ``AE`` at 0 %.  A record with another
indicator, an adjustment, or a country without a tax rule is untaxed: the configured category
(``Z`` by default) at 0 %.  Lines are one per (airline, charges / commission / adjustments, tax
category and rate); the breakdown sums the lines per (category, rate).

The tax shown is **the tax the records carry** (that is what the period settles).  The tax the
rule computes (rate × taxable base, rounded with the rule's rounding) is kept beside it; when
they differ by more than the tolerance (one minor unit unless configured) the invoice carries a
warning, which the run logs: the invoice still equals the statement.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

from opencass.config.invoicing import Invoicing, TaxRule
from opencass.config.model import Period
from opencass.errors import ConfigurationError
from opencass.model import ZERO, AwbRecord, Correction, CorrectionRecord, minor_units, quantize
from opencass.settlement.netting import AgentStatement, Item, item_amount

__all__ = [
    "ADJUSTMENTS",
    "CHARGES",
    "COMMISSION",
    "InvoiceData",
    "InvoiceError",
    "InvoiceLine",
    "TaxSubtotal",
    "invoice_data",
]

CHARGES, COMMISSION, ADJUSTMENTS = "charges", "commission", "adjustments"
_SIDE_ORDER = {CHARGES: 0, COMMISSION: 1, ADJUSTMENTS: 2}


class InvoiceError(ConfigurationError):
    """An invoice cannot be built (the ledger no longer matches the close, no issuer, ...)."""

    code = "INVOICE_INVALID"


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One line: an airline's charges, commission or adjustments in one tax category and rate."""

    id: str  # "1", "2", ... in invoice order
    airline_prefix: str
    side: str  # CHARGES, COMMISSION or ADJUSTMENTS
    category: str  # UNCL 5305: S, Z, E, O, AE
    rate: Decimal  # percent
    base: Decimal  # net amount, excluding VAT; negative credits the agent
    tax: Decimal  # the VAT the records carry on this line
    items: int


@dataclass(frozen=True, slots=True)
class TaxSubtotal:
    """The VAT breakdown of one (category, rate)."""

    category: str
    rate: Decimal
    base: Decimal
    tax: Decimal  # Σ the lines' tax: what is settled
    computed: Decimal  # rate × base, rounded by the rule
    within_tolerance: bool


@dataclass(frozen=True, slots=True)
class AirlineTotal:
    """An airline's subtotal: exactly the statement's line for that airline."""

    airline_prefix: str
    amount: Decimal
    items: int


@dataclass(frozen=True, slots=True)
class InvoiceData:
    """The money of one agent code's invoice for one period."""

    country: str
    period: str
    agent_code: str
    currency: str
    lines: tuple[InvoiceLine, ...]
    taxes: tuple[TaxSubtotal, ...]
    airlines: tuple[AirlineTotal, ...]
    net: Decimal  # Σ line bases
    tax: Decimal  # Σ tax
    total: Decimal  # net + tax = the statement's total
    reverse_charge: bool
    warnings: tuple[str, ...]

    @property
    def is_credit(self) -> bool:
        """A negative total: the document is a credit note."""
        return self.total < 0

    def digest(self) -> str:
        """SHA-256 of the money (what must not change once a number is issued)."""
        body = {
            "country": self.country,
            "period": self.period,
            "agent_code": self.agent_code,
            "currency": self.currency,
            "lines": [
                [x.airline_prefix, x.side, x.category, str(x.rate), str(x.base), str(x.tax)]
                for x in self.lines
            ],
            "total": str(self.total),
        }
        raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
        return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True, slots=True)
class _Parts:
    charges_base: Decimal
    charges_tax: Decimal
    agent_base: Decimal
    agent_tax: Decimal
    taxed: bool
    adjustment: bool = False


def _conv(amount: Decimal, rec: AwbRecord | CorrectionRecord, currency: str) -> Decimal:
    if rec.currency == currency:
        return amount
    return amount * rec.rate_of_exchange  # netting already rejected a bad rate


def _awb_parts(rec: AwbRecord, amount: Decimal, currency: str) -> _Parts:
    if not rec.charges_due:
        return _Parts(ZERO, ZERO, ZERO, ZERO, rec.vat_indicator == "Y")
    tax_c = quantize(_conv(rec.tax_due_airline, rec, currency), currency)
    agent = quantize(
        _conv(-(rec.commission + rec.other_charges_agent_collect), rec, currency), currency
    )
    tax_a = quantize(_conv(-rec.tax_due_agent, rec, currency), currency)
    return _Parts(amount - tax_c - agent - tax_a, tax_c, agent, tax_a, rec.vat_indicator == "Y")


def _correction_parts(c: Correction, amount: Decimal, currency: str) -> _Parts:
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
    taxed = c.revised.vat_indicator == "Y"
    return _Parts(amount - tax_c - agent - tax_a, tax_c, agent, tax_a, taxed)


def _parts(item: Item, amount: Decimal, currency: str) -> _Parts:
    with localcontext() as ctx:
        ctx.prec = 64
        if isinstance(item, AwbRecord):
            return _awb_parts(item, amount, currency)
        if isinstance(item, Correction):
            return _correction_parts(item, amount, currency)
        return _Parts(amount, ZERO, ZERO, ZERO, False, adjustment=True)


def _agent_of(item: Item) -> str:
    if isinstance(item, Correction):
        return item.original.agent_code
    return item.agent_code


def _category(
    taxed: bool, rate: Decimal, rule: TaxRule | None, inv: Invoicing
) -> tuple[str, Decimal]:
    if not taxed or rule is None:
        return inv.untaxed_category, Decimal(0)
    if rule.reverse_charge:
        return "AE", Decimal(0)
    return ("S", rate) if rate > 0 else ("Z", Decimal(0))


def computed_tax(base: Decimal, rate: Decimal, currency: str, rounding: str) -> Decimal:
    """rate % of ``base``, rounded to the currency's minor units with ``rounding``."""
    with localcontext() as ctx:
        ctx.prec = 64
        raw = base * rate / Decimal(100)
        value = raw.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=rounding)
    return value.copy_abs() if value.is_zero() else value


def invoice_data(
    statement: AgentStatement,
    items: Iterable[Item],
    *,
    country: str,
    period: Period,
    currency: str,
    invoicing: Invoicing,
) -> InvoiceData:
    """The invoice of ``statement`` from the items it was netted from (``InvoiceError`` if the
    items do not add up to the statement: the ledger changed after the close)."""
    rule = invoicing.rule_on(period.billing_to)
    code = statement.agent_code
    groups, per_airline = _group(items, code, currency, rule, invoicing)
    expected = {line.airline_prefix: (line.amount, line.items) for line in statement.lines}
    found = {prefix: (v[0], int(v[1])) for prefix, v in per_airline.items()}
    if found != expected:
        raise InvoiceError(
            f"agent {code}: the booked items ({found}) no longer match the close's statement "
            f"({expected}); close the period again"
        )
    ordered = sorted(groups.items(), key=lambda kv: (kv[0][0], _SIDE_ORDER[kv[0][1]], kv[0][2:]))
    lines = tuple(
        InvoiceLine(str(n), prefix, side, cat, rate, v[0], v[1], int(v[2]))
        for n, ((prefix, side, cat, rate), v) in enumerate(ordered, 1)
    )
    taxes, warnings = _breakdown(lines, currency, rule)
    net = sum((x.base for x in lines), quantize(ZERO, currency))
    tax = sum((x.tax for x in lines), quantize(ZERO, currency))
    if net + tax != statement.total:  # pragma: no cover - the parts add up by construction
        raise InvoiceError(f"agent {code}: {net} + {tax} is not the statement's {statement.total}")
    airlines = tuple(
        AirlineTotal(line.airline_prefix, line.amount, line.items) for line in statement.lines
    )
    return InvoiceData(
        country, period.code, code, currency, lines, taxes, airlines, net, tax,
        statement.total, bool(rule and rule.reverse_charge), warnings,
    )  # fmt: skip


Groups = dict[tuple[str, str, str, Decimal], list[Decimal]]  # (prefix, side, cat, rate) → sums


def _group(
    items: Iterable[Item], code: str, currency: str, rule: TaxRule | None, invoicing: Invoicing
) -> tuple[Groups, dict[str, list[Decimal]]]:
    """The agent's items as (base, tax, count) per airline, side, category and rate; and the
    amount and count per airline (to check against the statement)."""
    groups: Groups = defaultdict(lambda: [ZERO, ZERO, ZERO])
    per_airline: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    charges_rate = rule.charges_rate if rule else Decimal(0)
    commission_rate = rule.commission_rate if rule else Decimal(0)

    def add(key: tuple[str, str, str, Decimal], base: Decimal, tax: Decimal) -> None:
        g = groups[key]
        g[0] += base
        g[1] += tax
        g[2] += 1

    for item in items:
        if _agent_of(item) != code:
            continue
        ia = item_amount(item, currency)
        parts = _parts(item, ia.amount, currency)
        prefix = ia.airline_prefix
        per_airline[prefix][0] += ia.amount
        per_airline[prefix][1] += 1
        if parts.adjustment:
            add(
                (prefix, ADJUSTMENTS, invoicing.untaxed_category, Decimal(0)),
                parts.charges_base,
                ZERO,
            )
            continue
        cat, rate = _category(parts.taxed, charges_rate, rule, invoicing)
        add((prefix, CHARGES, cat, rate), parts.charges_base, parts.charges_tax)
        if parts.agent_base or parts.agent_tax:
            cat, rate = _category(parts.taxed, commission_rate, rule, invoicing)
            add((prefix, COMMISSION, cat, rate), parts.agent_base, parts.agent_tax)
    return groups, per_airline


def _breakdown(
    lines: tuple[InvoiceLine, ...], currency: str, rule: TaxRule | None
) -> tuple[tuple[TaxSubtotal, ...], tuple[str, ...]]:
    sums: dict[tuple[str, Decimal], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for x in lines:
        sums[(x.category, x.rate)][0] += x.base
        sums[(x.category, x.rate)][1] += x.tax
    unit = Decimal(1).scaleb(-minor_units(currency))
    tolerance = rule.tolerance if rule and rule.tolerance is not None else unit
    rounding = rule.rounding_mode if rule else ROUND_HALF_UP
    out, warnings = [], []
    for (cat, rate), (base, tax) in sorted(sums.items(), key=lambda kv: (-kv[0][1], kv[0][0])):
        computed = computed_tax(base, rate, currency, rounding)
        ok = abs(tax - computed) <= tolerance
        if not ok:
            warnings.append(
                f"VAT {cat} {rate}%: the records carry {tax} {currency} on a base of {base}, "
                f"the rate gives {computed}"
            )
        out.append(TaxSubtotal(cat, rate, base, tax, computed, ok))
    return tuple(out), tuple(warnings)


def airline_names(names: Mapping[str, str], prefix: str) -> str:
    """The airline's legal name for ``prefix``, or the prefix itself."""
    return names.get(prefix, prefix)
