"""What an invoice says: lines per airline and tax group, the tax breakdown per rate, totals.

Pure: no clock, no database, no files.  The input is one agent code's ``AgentStatement`` from the
final close, the netted items (AWB records, correction pairs, adjustments) it was built from and
the country's invoicing settings; the output is an ``InvoiceData`` whose total is, to the minor
unit, the statement's total.

Lines and tax
-------------
Each item is split into taxed parts by ``opencass.settlement.taxsplit`` (the bases of each
side per VAT category and rate, adding up to the item's amount exactly; the same split gives
the statements' VAT breakdown).  Lines are one per (airline, side, category and rate); the
breakdown sums the lines per (category, rate) with its rule's exemption reason.  The tax shown
is the tax of the records as the close netted them (carried by the file, or computed by the
close: ``opencass.settlement.tax``); the rule's own figure (rate × base of the breakdown,
rounded as configured) is checked against it and a difference beyond the tolerance (one minor
unit per line with per-line rounding) becomes a warning the run logs: the invoice still equals
the statement.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal, localcontext

from opencass.config.invoicing import Invoicing, TaxRule
from opencass.config.model import Period
from opencass.errors import ConfigurationError
from opencass.model import ZERO, Correction, ImportCorrection, minor_units, quantize
from opencass.settlement.netting import DEFAULT_NETTING, AgentStatement, Item, Netting
from opencass.settlement.tax import TaxEngine
from opencass.settlement.taxsplit import ADJUSTMENTS, CHARGES, COMMISSION, split_item

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
    exemption_reason: str = ""  # E, AE, O, Z: why no VAT is charged (BT-120)
    exemption_code: str = ""  # VATEX code (BT-121)


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


def _agent_of(item: Item) -> str:
    if isinstance(item, Correction | ImportCorrection):
        return item.original.agent_code
    return item.agent_code


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
    tax: TaxEngine | None = None,
    netting: Netting = DEFAULT_NETTING,
) -> InvoiceData:
    """The invoice of ``statement`` from the items it was netted from (with the close's tax
    applied: ``collect_items(rows, tax)``); ``InvoiceError`` if the items do not add up to the
    statement: the ledger changed after the close."""
    code = statement.agent_code
    untaxed = invoicing.untaxed_category
    groups, per_airline, rules = _group(items, code, currency, tax, untaxed, netting)
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
    taxes, warnings = _breakdown(lines, currency, rules, invoicing)
    net = sum((x.base for x in lines), quantize(ZERO, currency))
    total_tax = sum((x.tax for x in lines), quantize(ZERO, currency))
    if net + total_tax != statement.total:  # pragma: no cover - the parts add up by construction
        raise InvoiceError(
            f"agent {code}: {net} + {total_tax} is not the statement's {statement.total}"
        )
    airlines = tuple(
        AirlineTotal(line.airline_prefix, line.amount, line.items) for line in statement.lines
    )
    return InvoiceData(
        country, period.code, code, currency, lines, taxes, airlines, net, total_tax,
        statement.total, any(x.category == "AE" for x in lines), warnings,
    )  # fmt: skip


Groups = dict[tuple[str, str, str, Decimal], list[Decimal]]  # (prefix, side, cat, rate) → sums
Rules = dict[tuple[str, Decimal], TaxRule]  # (category, rate) → the first rule behind it


def _group(
    items: Iterable[Item], code: str, currency: str, tax: TaxEngine | None, untaxed: str,
    netting: Netting,
) -> tuple[Groups, dict[str, list[Decimal]], Rules]:  # fmt: skip
    """The agent's items as (base, tax, count) per airline, side, category and rate; the
    amount and count per airline (to check against the statement); the rule of each
    category and rate."""
    groups: Groups = defaultdict(lambda: [ZERO, ZERO, ZERO])
    per_airline: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    rules: Rules = {}
    for item in items:
        if _agent_of(item) != code:
            continue
        ia = netting.amount(item, currency)
        prefix = ia.airline_prefix
        per_airline[prefix][0] += ia.amount
        per_airline[prefix][1] += 1
        for part in split_item(item, ia.amount, currency, tax, untaxed):
            g = groups[(prefix, part.side, part.category, part.rate)]
            g[0] += part.base
            g[1] += part.tax
            g[2] += 1
            if part.rule is not None:
                rules.setdefault((part.category, part.rate), part.rule)
    return groups, per_airline, rules


def _breakdown(
    lines: tuple[InvoiceLine, ...], currency: str, rules: Rules, invoicing: Invoicing
) -> tuple[tuple[TaxSubtotal, ...], tuple[str, ...]]:
    sums: dict[tuple[str, Decimal], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for x in lines:
        sums[(x.category, x.rate)][0] += x.base
        sums[(x.category, x.rate)][1] += x.tax
    unit = Decimal(1).scaleb(-minor_units(currency))
    out, warnings = [], []
    for (cat, rate), (base, tax) in sorted(sums.items(), key=lambda kv: (-kv[0][1], kv[0][0])):
        rule = rules.get((cat, rate))
        tolerance = rule.tolerance if rule and rule.tolerance is not None else unit
        rounding = rule.rounding_mode if rule else ROUND_HALF_UP
        computed = computed_tax(base, rate, currency, rounding)
        if invoicing.tax_rounding == "line":  # records rounded one by one: up to ½ unit each
            tolerance = max(tolerance, unit * sum(1 for x in lines if x.category == cat))
        ok = abs(tax - computed) <= tolerance
        if not ok:
            warnings.append(
                f"VAT {cat} {rate}%: the records carry {tax} {currency} on a base of {base}, "
                f"the rate gives {computed}"
            )
        reason = rule.exemption_reason if rule else ""
        code = rule.exemption_code if rule else ""
        if not rule and cat != "S":
            reason = invoicing.exemption_reason
        out.append(TaxSubtotal(cat, rate, base, tax, computed, ok, reason, code))
    return tuple(out), tuple(warnings)


def airline_names(names: Mapping[str, str], prefix: str) -> str:
    """The airline's legal name for ``prefix``, or the prefix itself."""
    return names.get(prefix, prefix)


def to_json(data: InvoiceData) -> str:
    """The money of ``data`` as JSON (kept with the issued invoice, to cancel it later)."""
    body = {
        "country": data.country, "period": data.period, "agent_code": data.agent_code,
        "currency": data.currency,
        "lines": [[x.id, x.airline_prefix, x.side, x.category, str(x.rate), str(x.base),
                   str(x.tax), x.items] for x in data.lines],
        "taxes": [[x.category, str(x.rate), str(x.base), str(x.tax), str(x.computed),
                   x.within_tolerance, x.exemption_reason, x.exemption_code] for x in data.taxes],
        "airlines": [[x.airline_prefix, str(x.amount), x.items] for x in data.airlines],
        "net": str(data.net), "tax": str(data.tax), "total": str(data.total),
        "reverse_charge": data.reverse_charge,
    }  # fmt: skip
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def from_json(text: str) -> InvoiceData:
    """``to_json``'s inverse."""
    b = json.loads(text)
    d = Decimal
    return InvoiceData(
        b["country"], b["period"], b["agent_code"], b["currency"],
        tuple(InvoiceLine(i, p, s, c, d(r), d(base), d(t), n)
              for i, p, s, c, r, base, t, n in b["lines"]),
        tuple(TaxSubtotal(c, d(r), d(base), d(t), d(comp), ok, reason, code)
              for c, r, base, t, comp, ok, reason, code in b["taxes"]),
        tuple(AirlineTotal(p, d(a), n) for p, a, n in b["airlines"]),
        d(b["net"]), d(b["tax"]), d(b["total"]), b["reverse_charge"], (),
    )  # fmt: skip


def _neg(value: Decimal) -> Decimal:
    return -value if value else value.copy_abs()


def negated(data: InvoiceData) -> InvoiceData:
    """``data`` with every amount's sign flipped: the content of the document that cancels it."""
    n = _neg
    return replace(
        data,
        lines=tuple(replace(x, base=n(x.base), tax=n(x.tax)) for x in data.lines),
        taxes=tuple(
            replace(x, base=n(x.base), tax=n(x.tax), computed=n(x.computed)) for x in data.taxes
        ),
        airlines=tuple(replace(x, amount=n(x.amount)) for x in data.airlines),
        net=n(data.net), tax=n(data.tax), total=n(data.total), warnings=(),
    )  # fmt: skip
