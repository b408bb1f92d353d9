"""An invoice ready to render: its number, dates, parties, texts and money (``InvoiceData``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from types import MappingProxyType

from opencass.config.legal import Contact, PostalAddress
from opencass.documents.invoices.content import InvoiceData

__all__ = [
    "CLEARING",
    "CREDIT_NOTE",
    "CREDIT_TRANSFER",
    "DIRECT_DEBIT",
    "INVOICE",
    "NO_VAT",
    "Invoice",
    "Party",
    "Payment",
    "Reference",
    "exemption",
]

INVOICE, CREDIT_NOTE = "invoice", "credit_note"


#: What a VAT breakdown without VAT says when its rule gives no reason (BT-120).
NO_VAT = {"E": "Exempt", "O": "Not subject to VAT", "AE": "Reverse charge",
          "K": "Intra-community supply", "G": "Export outside the EU"}  # fmt: skip


def exemption(category: str, reason: str, code: str) -> tuple[str, str] | None:
    """(VATEX code, reason text) a breakdown of ``category`` carries (either may be empty,
    not both); None for a category that charges VAT or needs no reason (S, Z)."""
    if category not in NO_VAT:
        return None
    code = code or ("VATEX-EU-AE" if category == "AE" else "")
    return code, reason or ("" if code else NO_VAT[category])


@dataclass(frozen=True, slots=True)
class Party:
    """Issuer or recipient: legal details as configured."""

    id: str  # company id ("" for an issuer given only by its legal block)
    legal_name: str
    address: str
    tax_id: str
    registration: str
    country: str  # ISO 3166 alpha-2
    postal: PostalAddress | None = None  # the address in its parts, when configured
    electronic_address: str = ""  # "scheme:identifier"
    contact: Contact | None = None


#: UNCL 4461 payment means: SEPA credit transfer, SEPA direct debit, clearing between partners.
CREDIT_TRANSFER, DIRECT_DEBIT, CLEARING = "58", "59", "97"


@dataclass(frozen=True, slots=True)
class Payment:
    """How the invoice is paid (EN 16931 BG-16): to the CASS collection account, by the agent's
    SEPA direct debit mandate, or by clearing (a pre-funded account, a credit note)."""

    means: str  # CREDIT_TRANSFER, DIRECT_DEBIT or CLEARING
    reference: str  # the remittance reference to quote (BT-83)
    payee_iban: str = ""  # BT-84
    payee_name: str = ""
    payee_bic: str = ""
    mandate_id: str = ""  # BT-89
    creditor_id: str = ""  # BT-90
    payer_iban: str = ""  # BT-91


@dataclass(frozen=True, slots=True)
class Reference:
    """The invoice a credit note (or a corrected invoice) refers to (BG-3)."""

    number: str
    issue_date: date


@dataclass(frozen=True, slots=True)
class Invoice:
    """Everything both renderers (PDF, UBL XML) need; two equal Invoices give equal bytes."""

    number: str
    kind: str  # INVOICE or CREDIT_NOTE
    issued_at: str  # ISO 8601: the close's reference time at first issue
    issue_date: date  # in the country's time zone
    supply_from: date  # the period's billing range
    supply_to: date
    due_date: date  # Remittance Day
    issuer: Party
    recipient: Party
    language: str  # the recipient company's first language
    payment_terms: str  # in ``language``, due date filled in
    mentions: tuple[str, ...]  # the country's mandatory mentions in ``language``
    exemption_reason: str
    airline_names: tuple[tuple[str, str], ...]  # (prefix, legal name)
    data: InvoiceData
    payment: Payment | None = None
    references: tuple[Reference, ...] = ()  # credit note of a correction: the invoice(s)
    formats: tuple[str, ...] = ("ubl",)  # "ubl": the XML beside the PDF; "facturx": in it
    revision: int = 0  # 0: the period's first issue; n: its n-th correction
    role: str = "issue"  # "issue", or "cancel": the cancellation of ``references[0]``

    @property
    def sign(self) -> int:
        """-1 for a credit note, whose amounts are shown as credited (sign flipped)."""
        return -1 if self.kind == CREDIT_NOTE else 1

    def airline(self, prefix: str) -> str:
        """The airline's legal name for ``prefix`` (the prefix when unknown)."""
        global _last
        last = _last
        if last[0] is not self.airline_names:  # hashing the 100-pair key is the cost
            last = _last = (self.airline_names, _names(self.airline_names))
        return last[1].get(prefix, prefix)


# The names of the invoice asked last (the same tuple for every line of an invoice).
_last: tuple[tuple[tuple[str, str], ...], Mapping[str, str]] = ((), MappingProxyType({}))


@lru_cache(maxsize=16)
def _names(airline_names: tuple[tuple[str, str], ...]) -> Mapping[str, str]:
    """``airline_names`` as a mapping, made once (an invoice asks it for every line)."""
    return MappingProxyType(dict(airline_names))
