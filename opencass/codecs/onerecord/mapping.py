"""How the billing model's fields map onto ONE Record terms: shared by writer and reader.

A field is written under a ``cargo:`` term where ONE Record has one that means the same, else
under a ``cass:`` term (``schema/cass.ttl``).  Amounts on a record are in the record's currency;
an amount equal to the currency's zero (``0.00`` for EUR, scale and sign included) is omitted and
read back as that zero, so the XML stays compact and decoding gives identical Decimals.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from urllib.parse import quote

from opencass.codecs.onerecord import rdfxml as rx
from opencass.model import CurrencyError, is_recipient_code, minor_units

__all__ = [
    "AWB_CHARGE_LINES",
    "CORRECTION_CHARGE_LINES",
    "IMPORT_AMOUNTS",
    "IMPORT_CHARGE_LINES",
    "PERCENT_ZERO",
    "RATE_ZERO",
    "Iris",
    "company_code",
    "currency_zero",
]

#: (charge identifier, P/C) of each of the eight AWB charge totals, in the order written.
AWB_CHARGE_LINES: tuple[tuple[str, str, str], ...] = (
    ("WT", "P", "weight_charge_prepaid"),
    ("VC", "P", "valuation_charge_prepaid"),
    ("OC", "P", "other_charges_carrier_prepaid"),
    ("OA", "P", "other_charges_agent_prepaid"),
    ("WT", "C", "weight_charge_collect"),
    ("VC", "C", "valuation_charge_collect"),
    ("OC", "C", "other_charges_carrier_collect"),
    ("OA", "C", "other_charges_agent_collect"),
)

#: charge identifier → (P/C field, amount field) of a correction record's charge groups.
CORRECTION_CHARGE_LINES: tuple[tuple[str, str, str], ...] = (
    ("WT", "weight_charge_pc", "weight_charge"),
    ("VC", "valuation_charge_pc", "valuation_charge"),
    ("TX", "taxes_pc", "taxes"),
    ("OA", "other_charges_agent_pc", "other_charges_agent"),
    ("OC", "other_charges_carrier_pc", "other_charges_carrier"),
)

#: charge identifier → amount field of an import record's charge lines (collect charges).
IMPORT_CHARGE_LINES: tuple[tuple[str, str], ...] = (
    ("WT", "weight_charges"),
    ("OA", "charges_due_agent"),
    ("OC", "charges_due_carrier"),
)

#: (cass property, amount field) of an import record's other amounts, in the order written.
IMPORT_AMOUNTS: tuple[tuple[str, str], ...] = (
    ("cass:importFee", "fee"),
    ("cass:handlingCharges", "handling_charges"),
    ("cass:storageCharges", "storage_charges"),
    ("cass:miscellaneousCharges", "miscellaneous_charges"),
)

# Zeros of the fields that are not money (as the HOT layouts decode them).
RATE_ZERO = Decimal("0.00000")
PERCENT_ZERO = Decimal("0.00")


@cache
def currency_zero(currency: str) -> Decimal | None:
    """Zero at the currency's minor units, or None for a code the currency data lacks."""
    try:
        return Decimal(0).scaleb(-minor_units(currency))
    except CurrencyError:
        return None


def company_code(code: str) -> str:
    """The properties naming an agent company: its IATA code and CASS address
    (``cargo:iataCargoAgentCode``, ``cargo:iataCargoAgentLocationIdentifier``), or a CASS
    Import recipient code (``cass:recipientCode``)."""
    if is_recipient_code(code):
        return rx.literal("cass:recipientCode", code)
    iata, cass = code[:7], code[7:]
    located = rx.literal("cargo:iataCargoAgentLocationIdentifier", cass) if cass else ""
    return rx.literal("cargo:iataCargoAgentCode", iata) + located


def _seg(text: str) -> str:
    return quote(text, safe="")


class Iris:
    """The IRIs of one message's nodes, derived from a base IRI and the records' keys.

    Waybills are logistics objects (``<base>/logistics-objects/waybill-160-62144154``); a
    correction record describes the AWB as its original or revised values state it and gets an
    IRI of its own (``…-62144154-cco-808640``).  Embedded nodes are fragments of their owner.
    Shared nodes (locations, agents, carriers) are logistics objects named by their codes.
    """

    def __init__(self, base: str) -> None:
        self.lo = base.rstrip("/") + "/logistics-objects/"
        self.base = base.rstrip("/")

    def waybill(self, prefix: str, serial: str) -> str:
        """The AWB's logistics object."""
        return f"{self.lo}waybill-{_seg(prefix)}-{_seg(serial)}"

    def record(self, prefix: str, serial: str, record_id: str, reference: str) -> str:
        """The node of a correction record, or of itemised charges that follow no record."""
        return f"{self.waybill(prefix, serial)}-{record_id.lower()}-{_seg(reference)}"

    def location(self, code: str) -> str:
        """An airport by its IATA code."""
        return f"{self.lo}location-{_seg(code)}"

    def agent_party(self, agent_code: str) -> str:
        """The agent role of a CASS agent (IATA code + CASS address)."""
        return f"{self.lo}party-agent-{_seg(agent_code)}"

    def import_half(self, prefix: str, serial: str, record_id: str) -> str:
        """The node of an import correction's half (``…-62144154-ibo``): one pair per AWB."""
        return f"{self.waybill(prefix, serial)}-{record_id.lower()}"

    def company(self, code: str) -> str:
        """An agent company by IATA code (and CASS address, when given)."""
        return f"{self.lo}company-{_seg(code)}"

    def carrier(self, prefix: str) -> str:
        """An airline by its three-digit prefix."""
        return f"{self.lo}carrier-{_seg(prefix)}"

    def submission(self, country: str, party: str, start: str, number: str) -> str:
        """The billing submission itself."""
        parts = "-".join(_seg(p) for p in (country, party, start, number))
        return f"{self.base}/billing-submissions/{parts}"
