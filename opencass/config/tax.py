"""Tax rules of a CASS country: ``[[countries.XX.invoicing.tax]]``, each valid for an interval.

A rule says which amounts of an AWB it taxes (its *bases*), at what rate and in which VAT
category (UNCL 5305 as EN 16931 uses it), under which conditions (domestic or international
shipment, the agent's tax registration, the airline's establishment in the country) and from
when to when.  For each base of a record the first rule in file order that is in force on the
record's tax point, lists the base and whose conditions hold, decides; a base no rule takes is
untaxed (the country's ``untaxed_category`` at 0 %).  ``opencass.settlement.tax`` applies them.

Keys of one rule::

    [[countries.DE.invoicing.tax]]
    valid_from = 2007-01-01            # required
    valid_to = 2026-12-14              # optional, inclusive
    rate = "19"                        # percent; 0 for Z, E, AE, O
    category = "standard"              # standard, reduced, zero, exempt, reverse_charge,
                                       # out_of_scope (or the code: S, Z, E, AE, O)
    bases = ["weight", "valuation", "carrier_charges", "discount", "commission",
             "agent_charges"]          # default: all six
    shipment = "domestic"              # domestic, international or any (default)
    agent_registered = true            # optional: the agent company has a tax id (or not)
    airline_established = true         # optional: the airline is registered in the country
    exemption_reason = "..."           # E, AE, O: the text the invoice prints (BT-120)
    exemption_code = "VATEX-EU-AE"     # optional (BT-121)
    rounding = "half_up"               # half_up, half_even, down
    tolerance = "0.01"                 # how far a record's own tax may stray (TAX_MISMATCH)

The older form (``charges_rate``, ``commission_rate``, ``reverse_charge``) is still read: it
stands for two rules, the charges (weight, valuation, carrier charges, discount) at
``charges_rate`` and the agent's side (commission, agent charges) at ``commission_rate``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation

from opencass.config.reader import Table

__all__ = [
    "AGENT_BASES",
    "AIRLINE_BASES",
    "BASES",
    "CATEGORIES",
    "ROUNDINGS",
    "TaxRule",
    "read_rules",
]

#: Rounding names accepted in ``rounding`` and the decimal module's modes they stand for.
ROUNDINGS = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN}
#: The amounts of an AWB a rule can tax: those due the airline (its VAT is the record's "tax
#: due airline") and those due the agent (its VAT is the "tax due agent").
AIRLINE_BASES = ("weight", "valuation", "carrier_charges", "discount")
AGENT_BASES = ("commission", "agent_charges")
BASES = AIRLINE_BASES + AGENT_BASES
#: Category names and their UNCL 5305 codes as EN 16931 allows them (a reduced rate is ``S``
#: at the lower percentage: EN 16931 has no separate code for it).
CATEGORIES = {
    "standard": "S",
    "reduced": "S",
    "zero": "Z",
    "exempt": "E",
    "reverse_charge": "AE",
    "out_of_scope": "O",
}
_CODES = frozenset(CATEGORIES.values())
_SHIPMENTS = ("any", "domestic", "international")


@dataclass(frozen=True, slots=True)
class TaxRule:
    """One rule: ``rate`` % in ``category`` on ``bases`` from ``valid_from`` to ``valid_to``."""

    valid_from: date
    valid_to: date | None = None
    rate: Decimal = Decimal(0)  # percent
    category: str = "S"  # UNCL 5305 code
    bases: tuple[str, ...] = BASES
    shipment: str = "any"
    agent_registered: bool | None = None
    airline_established: bool | None = None
    exemption_reason: str = ""
    exemption_code: str = ""
    rounding: str = "half_up"
    tolerance: Decimal | None = None  # None: one minor unit of the currency

    def applies(self, day: date) -> bool:
        """True when the rule is in force on ``day``."""
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    @property
    def rounding_mode(self) -> str:
        """The ``decimal`` rounding constant of ``rounding``."""
        return ROUNDINGS[self.rounding]

    @property
    def reverse_charge(self) -> bool:
        """The buyer accounts for the VAT (category AE)."""
        return self.category == "AE"

    def conditions(self) -> tuple[str, bool | None, bool | None]:
        """What, besides the day and the base, decides whether the rule applies."""
        return (self.shipment, self.agent_registered, self.airline_established)


def _decimal(t: Table, name: str) -> Decimal | None:
    t.read.add(name)
    if name not in t.data:
        return None
    value = t.data[name]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        t.problem(name, f'must be a decimal number such as "19" or 7.7, found {value!r}')
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        t.problem(name, f"{value!r} is not a decimal number")
        return None
    if not number.is_finite():
        t.problem(name, f"{value!r} is not a finite number")
        return None
    return number


def _rate(t: Table, name: str) -> Decimal:
    rate = _decimal(t, name)
    if rate is None:
        return Decimal(0)
    if not Decimal(0) <= rate < Decimal(100):
        t.problem(name, f"{rate} is not a percentage from 0 to under 100")
    return rate


def _category(t: Table, rate: Decimal) -> str:
    name = t.opt("category", str, "standard" if rate else "zero")
    code = CATEGORIES.get(name, name if name in _CODES else "")
    if not code:
        t.problem("category", f"{name!r} is not one of {', '.join(CATEGORIES)} (or S, Z, E, AE, O)")
        return "S"
    if code == "S" and not rate:
        t.problem("rate", f"category {name} needs a rate above 0")
    elif code != "S" and rate:
        t.problem("rate", f"category {name} ({code}) is charged at 0 %, not {rate} %")
    if code in ("E", "AE", "O") and not t.opt("exemption_reason", str, "").strip():
        t.problem("exemption_reason", f"missing: category {code} needs the printed reason")
    return code


def _bases(t: Table) -> tuple[str, ...]:
    if "bases" not in t.data:
        t.read.add("bases")
        return BASES
    out = t.names("bases", BASES)
    if not out:
        t.problem("bases", "names no amount to tax")
    return out


def _optional_bool(t: Table, name: str) -> bool | None:
    if name not in t.data:
        t.read.add(name)
        return None
    return t.opt(name, bool, False)


def _common(t: Table) -> tuple[date | None, date | None, str, Decimal | None]:
    start, end = t.req("valid_from", date), t.raw("valid_to", date, required=False)
    if start and end and end < start:
        t.problem("valid_to", f"{end} is before valid_from {start}")
    rounding = t.opt("rounding", str, "half_up")
    if rounding not in ROUNDINGS:
        t.problem("rounding", f"{rounding!r} is not one of {', '.join(ROUNDINGS)}")
    tolerance = _decimal(t, "tolerance")
    if tolerance is not None and tolerance < 0:
        t.problem("tolerance", f"must not be negative, found {tolerance}")
    return start, end, rounding, tolerance


def _legacy(t: Table) -> list[TaxRule]:
    """``charges_rate`` / ``commission_rate`` / ``reverse_charge``: two rules."""
    start, end, rounding, tolerance = _common(t)
    charges, commission = _rate(t, "charges_rate"), _rate(t, "commission_rate")
    reverse = t.opt("reverse_charge", bool, False)
    reason = t.opt("exemption_reason", str, "")
    if reverse and (charges or commission):
        t.problem("reverse_charge", "with reverse charge the invoice charges no VAT: rates 0")
    if start is None:
        return []
    out = []
    for bases, rate in ((AIRLINE_BASES, charges), (AGENT_BASES, commission)):
        category = "AE" if reverse else ("S" if rate else "Z")
        out.append(
            TaxRule(start, end, rate, category, bases, exemption_reason=reason,
                    rounding=rounding, tolerance=tolerance)
        )  # fmt: skip
    return out


def _rule(t: Table) -> list[TaxRule]:
    if any(k in t.data for k in ("charges_rate", "commission_rate", "reverse_charge")):
        return _legacy(t)
    start, end, rounding, tolerance = _common(t)
    rate = _rate(t, "rate")
    category = _category(t, rate)
    shipment = t.opt("shipment", str, "any")
    if shipment not in _SHIPMENTS:
        t.problem("shipment", f"{shipment!r} is not one of {', '.join(_SHIPMENTS)}")
    rule = TaxRule(
        valid_from=start or date.min,
        valid_to=end,
        rate=rate,
        category=category,
        bases=_bases(t),
        shipment=shipment,
        agent_registered=_optional_bool(t, "agent_registered"),
        airline_established=_optional_bool(t, "airline_established"),
        exemption_reason=t.opt("exemption_reason", str, ""),
        exemption_code=t.opt("exemption_code", str, ""),
        rounding=rounding,
        tolerance=tolerance,
    )
    return [rule] if start is not None else []


def _overlap(a: TaxRule, b: TaxRule) -> bool:
    if a.conditions() != b.conditions() or not set(a.bases) & set(b.bases):
        return False
    a_end, b_end = a.valid_to or date.max, b.valid_to or date.max
    return a.valid_from <= b_end and b.valid_from <= a_end


def read_rules(parent: Table, tables: Iterable[Table]) -> tuple[TaxRule, ...]:
    """The rules of ``tables`` in file order; two rules for the same base and conditions whose
    intervals overlap are a problem (which of them would apply depends on their order)."""
    rules: list[TaxRule] = []
    for t in tables:
        for rule in _rule(t):
            clash = next((r for r in rules if _overlap(r, rule)), None)
            if clash is not None:
                parent.problem(
                    "tax", f"the rule from {rule.valid_from} overlaps the one from "
                    f"{clash.valid_from} for the same amounts and conditions",
                )  # fmt: skip
            rules.append(rule)
    return tuple(rules)
