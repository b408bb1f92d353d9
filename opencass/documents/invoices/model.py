"""An invoice ready to render: its number, dates, parties, texts and money (``InvoiceData``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from opencass.documents.invoices.content import InvoiceData

__all__ = ["CREDIT_NOTE", "INVOICE", "Invoice", "Party"]

INVOICE, CREDIT_NOTE = "invoice", "credit_note"


@dataclass(frozen=True, slots=True)
class Party:
    """Issuer or recipient: legal details as configured."""

    id: str  # company id ("" for an issuer given only by its legal block)
    legal_name: str
    address: str
    tax_id: str
    registration: str
    country: str  # ISO 3166 alpha-2


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

    @property
    def sign(self) -> int:
        """-1 for a credit note, whose amounts are shown as credited (sign flipped)."""
        return -1 if self.kind == CREDIT_NOTE else 1

    def airline(self, prefix: str) -> str:
        """The airline's legal name for ``prefix`` (the prefix when unknown)."""
        return dict(self.airline_names).get(prefix, prefix)
