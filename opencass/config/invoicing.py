"""Per-country invoicing settings: ``[countries.XX.invoicing]`` and its tax rules.

An invoice (one per agent code and period, ``opencass.documents.invoices``) needs an issuer, the
payment terms and mandatory mentions in the recipient's language, and the tax rules in force
(``opencass.config.tax``).  Everything is optional: a country without the table invoices with
the operator company as issuer, no mentions, default payment terms and no tax rule (every line
untaxed).

Keys (documented with an example in ``docs/configuration.md``)::

    [countries.DE.invoicing]
    issuer = "cassops"                  # a company id; default: the operator company
    untaxed_category = "Z"              # Z zero rated, E exempt, O not subject
    exemption_reason = "..."            # required with E and O
    tax_point = "execution"             # which day picks a rule: the AWB's execution date,
                                        # or "invoice": the period's final billing day
    tax_rounding = "line"               # computed tax rounded per record ("line") or once per
                                        # invoice and tax rate ("document")
    formats = ["ubl"]                   # the XML beside the PDF: "ubl" and/or "facturx"
    credit_note_series = "same"         # credit notes of corrections: "same" sequence or "own"
    [countries.DE.invoicing.issuer_details]   # instead of (or over) the company's own
    legal_name, address (a line or a table), tax_id, registration, electronic_address, contact
    [countries.DE.invoicing.payment_terms]    # language -> text, {due} is Remittance Day
    [countries.DE.invoicing.mentions]         # language -> array of texts
    [[countries.DE.invoicing.tax]]            # opencass.config.tax
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

from opencass.config.legal import Contact, PostalAddress, read_identity
from opencass.config.reader import Table
from opencass.config.tax import ROUNDINGS, TaxRule, read_rules

__all__ = [
    "FORMATS",
    "ROUNDINGS",
    "UNTAXED_CATEGORIES",
    "Invoicing",
    "IssuerDetails",
    "TaxRule",
    "read_invoicing",
]

V = TypeVar("V")

#: EN 16931 VAT category codes (UNCL 5305) allowed for amounts no rule taxes.
UNTAXED_CATEGORIES = ("Z", "E", "O")
#: Machine-readable invoice formats: UBL 2.1 XML, Factur-X (CII in a PDF/A-3).
FORMATS = ("ubl", "facturx")


@dataclass(frozen=True, slots=True)
class IssuerDetails:
    """An issuer's legal block, when it is not (only) a configured company."""

    legal_name: str = ""
    address: str = ""
    tax_id: str = ""
    registration: str = ""  # commercial register entry, company number
    postal: PostalAddress | None = None
    electronic_address: str = ""
    contact: Contact | None = None


@dataclass(frozen=True, slots=True)
class Invoicing:
    """How a country's invoices are issued."""

    issuer: str = ""  # company id; "" means the operator company
    issuer_details: IssuerDetails | None = None
    payment_terms: dict[str, str] = field(default_factory=dict)  # by language; {due}
    mentions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # by language
    untaxed_category: str = "Z"
    exemption_reason: str = ""
    tax: tuple[TaxRule, ...] = ()  # in file order: the first that applies decides
    tax_point: str = "execution"  # "execution" or "invoice"
    tax_rounding: str = "line"  # "line" or "document"
    formats: tuple[str, ...] = ("ubl",)
    credit_note_series: str = "same"  # "same" or "own"

    def rule_on(self, day: date) -> TaxRule | None:
        """The first tax rule in force on ``day``, if any (whatever its bases)."""
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


def _issuer_details(t: Table) -> IssuerDetails | None:
    if "issuer_details" not in t.data:
        t.read.add("issuer_details")
        return None
    d = t.table("issuer_details")
    legal_name = d.opt("legal_name", str, "")
    i = read_identity(d)
    return IssuerDetails(
        legal_name, i.address, i.tax_id, i.registration, i.postal, i.electronic_address, i.contact
    )


def _choice(t: Table, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = t.opt(name, str, default)
    if value not in allowed:
        t.problem(name, f"{value!r} is not one of {', '.join(allowed)}")
        return default
    return value


def _formats(t: Table) -> tuple[str, ...]:
    return t.names("formats", FORMATS) or ("ubl",)


def _texts(t: Table, name: str, check_language: Callable[[str], str | None]) -> Table:
    sub = t.table(name)
    for lang in sub.data:
        if reason := check_language(lang):
            sub.problem(lang, reason)
    return sub


def read_invoicing(t: Table, check_language: Callable[[str], str | None]) -> Invoicing:
    """``[countries.XX.invoicing]`` (an empty table gives the defaults); problems go to ``t``."""
    issuer = t.opt("issuer", str, "")
    details = _issuer_details(t)
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
    rules = read_rules(t, t.tables("tax"))
    return Invoicing(
        issuer, details, terms, mentions, untaxed, reason, rules,
        tax_point=_choice(t, "tax_point", ("execution", "invoice"), "execution"),
        tax_rounding=_choice(t, "tax_rounding", ("line", "document"), "line"),
        formats=_formats(t),
        credit_note_series=_choice(t, "credit_note_series", ("same", "own"), "same"),
    )  # fmt: skip
