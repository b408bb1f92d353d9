"""Per-country invoicing settings: ``[countries.XX.invoicing]`` and its tax rules.

An invoice (one per agent code and period, ``opencass.documents.invoices``) needs an issuer, the
payment terms and mandatory mentions in the recipient's language, and the VAT rules in force on
the supply date: a rate on charges (the tax due airline), a rate on commission (the tax due
agent), how a computed tax is rounded, whether reverse charge applies, and how far the tax the
records carry may stray from the computed one before the invoice run warns.  Everything is
optional: a country without the table invoices with the operator company as issuer, no
mentions, default payment terms and no tax rule (every line untaxed).

Keys (documented with an example in ``docs/configuration.md``)::

    [countries.DE.invoicing]
    issuer = "cassops"                  # a company id; default: the operator company
    untaxed_category = "Z"              # Z zero rated, E exempt, O not subject: VAT indicator N
    exemption_reason = "..."            # required with E and O
    [countries.DE.invoicing.issuer_details]   # instead of (or over) the company's own
    legal_name, address, tax_id, registration
    [countries.DE.invoicing.payment_terms]    # language -> text, {due} is Remittance Day
    [countries.DE.invoicing.mentions]         # language -> array of texts
    [[countries.DE.invoicing.tax]]
    valid_from = 2020-01-01, valid_to (optional, inclusive), charges_rate, commission_rate
    (percent, "19" or 19), rounding ("half_up", "half_even", "down"), reverse_charge,
    tolerance (currency units; default one minor unit)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TypeVar

from opencass.config.reader import Table

__all__ = [
    "ROUNDINGS",
    "UNTAXED_CATEGORIES",
    "Invoicing",
    "IssuerDetails",
    "TaxRule",
    "read_invoicing",
]

V = TypeVar("V")

#: Rounding names accepted in ``rounding`` and the decimal module's modes they stand for.
ROUNDINGS = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN}
#: EN 16931 VAT category codes (UNCL 5305) allowed for records without VAT.
UNTAXED_CATEGORIES = ("Z", "E", "O")


@dataclass(frozen=True, slots=True)
class TaxRule:
    """The VAT rates of a country from ``valid_from`` to ``valid_to`` (inclusive; None: open)."""

    valid_from: date
    valid_to: date | None = None
    charges_rate: Decimal = Decimal(0)  # percent, on the charges due airline
    commission_rate: Decimal = Decimal(0)  # percent, on the commission due agent
    rounding: str = "half_up"
    reverse_charge: bool = False
    tolerance: Decimal | None = None  # None: one minor unit of the currency

    def applies(self, day: date) -> bool:
        """True when the rule is in force on ``day``."""
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    @property
    def rounding_mode(self) -> str:
        """The ``decimal`` rounding constant of ``rounding``."""
        return ROUNDINGS[self.rounding]


@dataclass(frozen=True, slots=True)
class IssuerDetails:
    """An issuer's legal block, when it is not (only) a configured company."""

    legal_name: str = ""
    address: str = ""
    tax_id: str = ""
    registration: str = ""  # commercial register entry, company number


@dataclass(frozen=True, slots=True)
class Invoicing:
    """How a country's invoices are issued."""

    issuer: str = ""  # company id; "" means the operator company
    issuer_details: IssuerDetails | None = None
    payment_terms: dict[str, str] = field(default_factory=dict)  # by language; {due}
    mentions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # by language
    untaxed_category: str = "Z"
    exemption_reason: str = ""
    tax: tuple[TaxRule, ...] = ()  # ordered by valid_from, never overlapping

    def rule_on(self, day: date) -> TaxRule | None:
        """The tax rule in force on ``day``, if any."""
        return next((r for r in self.tax if r.applies(day)), None)

    def mentions_for(self, *languages: str) -> tuple[str, ...]:
        """The mentions of the first of ``languages`` that has some, else of any language (a
        mandatory mention is printed in some language rather than not at all)."""
        found = _first(self.mentions, languages)
        return found if found is not None else next(iter(self.mentions.values()), ())

    def terms_for(self, *languages: str) -> str | None:
        """The payment terms text of the first of ``languages`` that has one (None: none of
        them; the invoice then prints its own translated default)."""
        return _first(self.payment_terms, languages)


def _first(table: dict[str, V], languages: tuple[str, ...]) -> V | None:
    for lang in languages:
        for key in (lang, lang.replace("-", "_").split("_")[0]):
            if key in table:
                return table[key]
    return None


def _decimal(t: Table, name: str, *, required: bool) -> Decimal | None:
    t.read.add(name)
    if name not in t.data:
        if required:
            t.problem(name, "missing")
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
    rate = _decimal(t, name, required=False)
    if rate is None:
        return Decimal(0)
    if not Decimal(0) <= rate < Decimal(100):
        t.problem(name, f"{rate} is not a percentage from 0 to under 100")
    return rate


def _rule(t: Table) -> TaxRule | None:
    start, end = t.req("valid_from", date), t.raw("valid_to", date, required=False)
    if start and end and end < start:
        t.problem("valid_to", f"{end} is before valid_from {start}")
    charges, commission = _rate(t, "charges_rate"), _rate(t, "commission_rate")
    rounding = t.opt("rounding", str, "half_up")
    if rounding not in ROUNDINGS:
        t.problem("rounding", f"{rounding!r} is not one of {', '.join(ROUNDINGS)}")
    reverse = t.opt("reverse_charge", bool, False)
    if reverse and (charges or commission):
        t.problem("reverse_charge", "with reverse charge the invoice charges no VAT: rates 0")
    tolerance = _decimal(t, "tolerance", required=False)
    if tolerance is not None and tolerance < 0:
        t.problem("tolerance", f"must not be negative, found {tolerance}")
    if start is None:
        return None
    return TaxRule(start, end, charges, commission, rounding, reverse, tolerance)


def _texts(t: Table, name: str, check_language: Callable[[str], str | None]) -> Table:
    sub = t.table(name)
    for lang in sub.data:
        if reason := check_language(lang):
            sub.problem(lang, reason)
    return sub


def read_invoicing(t: Table, check_language: Callable[[str], str | None]) -> Invoicing:
    """``[countries.XX.invoicing]`` (an empty table gives the defaults); problems go to ``t``."""
    issuer = t.opt("issuer", str, "")
    details: IssuerDetails | None = None
    if "issuer_details" in t.data:
        d = t.table("issuer_details")
        details = IssuerDetails(
            legal_name=d.opt("legal_name", str, ""),
            address=d.opt("address", str, ""),
            tax_id=d.opt("tax_id", str, ""),
            registration=d.opt("registration", str, ""),
        )
    terms_table = _texts(t, "payment_terms", check_language)
    terms = {lang: text for lang in list(terms_table.data) if (text := terms_table.req(lang, str))}
    mention_table = _texts(t, "mentions", check_language)
    mentions = {
        lang: tuple(text for _, text in mention_table.items(lang, str))
        for lang in list(mention_table.data)
    }
    untaxed = t.opt("untaxed_category", str, "Z")
    if untaxed not in UNTAXED_CATEGORIES:
        t.problem("untaxed_category", f"{untaxed!r} is not one of {', '.join(UNTAXED_CATEGORIES)}")
    reason = t.opt("exemption_reason", str, "")
    if untaxed in ("E", "O") and not reason.strip():
        t.problem("exemption_reason", f"missing: category {untaxed} needs an exemption reason")
    rules = sorted(
        (r for r in (_rule(rt) for rt in t.tables("tax")) if r is not None),
        key=lambda r: r.valid_from,
    )
    for before, after in itertools.pairwise(rules):
        if before.valid_to is None or after.valid_from <= before.valid_to:
            t.problem("tax", f"the rule from {after.valid_from} overlaps the one from "
                      f"{before.valid_from}")  # fmt: skip
    return Invoicing(issuer, details, terms, mentions, untaxed, reason, tuple(rules))
