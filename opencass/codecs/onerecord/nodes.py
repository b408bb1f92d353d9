"""Table-driven reading of waybill elements into flat mappings of model field values.

``Walker.walk(node, table, values)`` looks each property element's tag up in ``table``: the
entry says how to read it (``TEXT``, ``DEC``, ``DATE``, a code-list ``LINK``, a text ``MAP``, or
a ``NODE`` handler for a nested node) and which model field receives it.  Keys starting with
``_`` carry structure (charge lines, itemised charges, the adjustment's record type) to the
record builders in ``reader.py``.  Problems that the schema cannot catch are collected as
``(code, field, message)`` and turned into findings by the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from opencass.codecs.onerecord.vocab import (
    AWB_USE_OF,
    CHARGE_ID_OF,
    CURRENCY,
    ENTITLEMENT_OF,
    OTHER_CHARGE_CODE,
    PC_OF,
    PREFIXES,
    RDF,
    WEIGHT_UNIT_OF,
    tag,
)
from opencass.model import OtherCharge, frozen_builder

__all__ = ["ADJUSTMENT", "BILLING", "OTHER_CHARGE", "WAYBILL", "Itemised", "Problem", "Walker"]

TEXT, DEC, DATE, LINK, MAP, NODE = range(6)
RES = "{" + RDF + "}resource"
ABOUT = "{" + RDF + "}about"
NUMVAL, UNIT, CURUNIT = tag("cargo:numericalValue"), tag("cargo:unit"), tag("cargo:currencyUnit")
CHARGE_ID, PAYMENT, AMOUNT = (
    tag("cargo:billingChargeIdentifier"),
    tag("cargo:chargePaymentType"),
    tag("cass:amount"),
)
_NS = {"cargo": PREFIXES["cargo"], "cass": PREFIXES["cass"]}
RECIPIENT, IATA_CODE = tag("cass:recipientCode"), tag("cargo:iataCargoAgentCode")
IATA_LOCATION = tag("cargo:iataCargoAgentLocationIdentifier")
_OC_BUILD = frozen_builder(OtherCharge)

Problem = tuple[str, str, str]  # (finding code, model field, message)
Handler = Callable[["Walker", Any, dict[str, Any], str], None]
Spec = tuple[int, str, Any]

_DATES: dict[str, date] = {}


def parse_date(text: str) -> date:
    """The date of an ``xsd:dateTime`` at midnight (schema-checked), cached."""
    found = _DATES.get(text)
    if found is None:
        if len(_DATES) > 50_000:
            _DATES.clear()
        found = _DATES[text] = date.fromisoformat(text[:10])
    return found


@dataclass(frozen=True, slots=True)
class Itemised:
    """One itemised other charge as read: its record index, line, value (None if unusable)."""

    index: int
    line: int
    charge: OtherCharge | None
    problems: list[Problem]


class Walker:
    """Reads property elements by table; remembers shared nodes across waybills."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.importing = False  # a CASS Import file: other charges sit at positions 1 and 2
        self.locations: dict[str, str] = {}
        self.parties: dict[str, str] = {}

    def bad(self, field: str, message: str, code: str = "XML_VALUE_INVALID") -> None:
        """Note a problem of the record being read."""
        self.problems.append((code, field, message))

    def walk(self, el: Any, table: dict[str, Spec], f: dict[str, Any]) -> None:
        """Read the property elements of node ``el`` into ``f`` as ``table`` says."""
        for c in el:
            spec = table.get(c.tag)
            if spec is None:
                continue  # a comment, or a fixed value the schema has checked
            kind, name, arg = spec
            if kind == NODE:
                arg(self, c, f, name)
            elif kind == TEXT:
                f[name] = c.text
            elif kind == DEC:
                f[name] = Decimal(c.text)
            elif kind == DATE:
                f[name] = parse_date(c.text)
            elif kind == LINK:
                # The schema allows rdf:resource as a link's only attribute: values() is the
                # cheapest way to it.
                value = f[name] = arg.get(c.values()[0])  # None: reported, not "missing"
                if value is None:
                    self.bad(name, f"{c.get(RES)} is not a member of the expected code list")
            else:
                f[name] = arg[c.text]


# -- handlers of nested nodes -----------------------------------------------------------------


def _shared(c: Any, cache: dict[str, str], read: Callable[[Any], str | None]) -> str | None:
    """A shared node's value: described here (nested), or linked to an earlier description.

    Comments are gone (``ElementStream`` strips them), so a property's node is ``c[0]``.
    """
    link = c.values()  # the schema allows rdf:resource only
    if link:
        return None if len(c) else cache.get(link[0])
    if not len(c):
        return None  # neither a link nor a node: not a single value
    node = c[0]
    value = read(node)
    if value is not None and cache.setdefault(node.get(ABOUT), value) != value:
        return None  # described twice, differently
    return value


def _location_code(loc: Any) -> str | None:
    path = "cargo:locationCodes/cargo:CodeListElement/cargo:code"
    code: str | None = loc.findtext(path, None, _NS)
    return code


def _agent_code(party: Any) -> str | None:
    # cargo:partyRole, then cargo:partyDetails/cargo:Company: the schema fixes the order (and
    # comments are gone), so children are taken by position, not looked up by path
    values = {c.tag: c.text for c in party[1][0]}
    recipient: str | None = values.get(RECIPIENT)
    if recipient is not None:
        return recipient  # a CASS Import agent (the schema checked its form)
    code = values.get(IATA_CODE, "") + values.get(IATA_LOCATION, "")
    return code if len(code) == 11 else None


def _location(w: Walker, c: Any, f: dict[str, Any], name: str) -> None:
    code = f[name] = _shared(c, w.locations, _location_code)
    if code is None:
        w.bad(name, f"{c.get(RES) or 'location'}: no single location described before its use")


def _party(w: Walker, c: Any, f: dict[str, Any], name: str) -> None:
    code = f[name] = _shared(c, w.parties, _agent_code)
    if code is None:
        w.bad(name, "the agent party (IATA code and CASS address) is not described before use")


def _weight(w: Walker, c: Any, f: dict[str, Any], name: str) -> None:
    for x in c[0]:
        t = x.tag
        if t == NUMVAL:
            f[name] = Decimal(x.text)
        elif t == UNIT:
            unit = f["weight_unit"] = WEIGHT_UNIT_OF.get(x.get(RES))
            if unit is None:
                w.bad("weight_unit", f"{x.get(RES)} is not a weight unit of CASS (kg, lb)")


def _amount(w: Walker, c: Any, f: dict[str, Any]) -> Decimal | None:
    """The value of the CurrencyValue inside ``c``, checked against the record's currency."""
    value = None
    for x in c[0]:
        if x.tag == NUMVAL:
            value = Decimal(x.text)
        else:  # the currency unit, the only other property of a CurrencyValue
            unit, expected = x.values()[0], f.get("_cur")
            if expected is not None and unit != expected:
                w.bad("currency", f"an amount in {unit}, the record's currency is {expected}")
    return value


def _money(w: Walker, c: Any, f: dict[str, Any], name: str) -> None:
    f[name] = _amount(w, c, f)


def _currency(w: Walker, c: Any, f: dict[str, Any], name: str) -> None:
    iri: str = c.values()[0]  # the schema allows rdf:resource only
    f["_cur"] = iri
    if iri.startswith(CURRENCY):
        f[name] = iri[len(CURRENCY) :]
    else:
        f[name] = None  # reported here, not as missing
        w.bad(name, f"{iri} is not a currency of {CURRENCY}")


def _charge_line(w: Walker, c: Any, f: dict[str, Any], name: str) -> None:
    cid = pc = None
    value = None
    for x in c[0]:
        t = x.tag
        if t == CHARGE_ID:
            cid = CHARGE_ID_OF.get(x.values()[0])
            if cid is None:
                w.bad("charges", f"{x.get(RES)} is not a CASS charge identifier")
        elif t == PAYMENT:
            pc = PC_OF.get(x.values()[0])
            if pc is None:
                w.bad("charges", f"{x.get(RES)} is not prepaid or collect")
        else:  # cass:amount, the only other property of a charge line
            value = _amount(w, x, f)
    if cid is None:
        return  # reported above
    lines = f.get("_lines")
    if lines is None:
        lines = f["_lines"] = []
    lines.append((cid, pc, value))


def _billing(w: Walker, c: Any, f: dict[str, Any], name: str) -> None:
    f["_bd"] = True
    w.walk(c[0], BILLING, f)


def _adjustment(w: Walker, c: Any, f: dict[str, Any], name: str) -> None:
    w.walk(c[0], ADJUSTMENT, f)


def _other_charge(w: Walker, c: Any, f: dict[str, Any], name: str) -> None:
    oc = c[0]
    saved, w.problems = w.problems, []
    o: dict[str, Any] = {}
    if "_cur" in f:
        o["_cur"] = f["_cur"]
    w.walk(oc, OTHER_CHARGE, o)
    if w.importing:
        _import_position(w, o)
    elif "position" in o:
        w.bad("charges", "cass:chargePosition belongs to the other charges of import records")
    parts = [o.get(k) for k in ("code", "entitlement", "payment", "amount")]
    if None in parts and not w.problems:
        w.bad("charges", "an itemised other charge lacks a value")
    charge = None if w.problems else _OC_BUILD(*parts)
    ocs = f.get("_ocs")
    if ocs is None:
        ocs = f["_ocs"] = []
    ocs.append(Itemised(o.get("index", 1), c.sourceline, charge, w.problems))
    w.problems = saved


def _import_position(w: Walker, o: dict[str, Any]) -> None:
    """An import record's other charge: a position (1, 2) as its index, no entitlement, no
    P/C (the record has no place for them)."""
    if "position" not in o or "index" in o:
        w.bad("charges", "an import record's other charge has a cass:chargePosition (1 or 2) "
              "and no cass:itemisedRecordIndex")  # fmt: skip
    if "entitlement" in o or "payment" in o:
        w.bad("charges", "an import record's other charge has no entitlement or P/C")
    o["index"] = o.get("position", 1)
    o["entitlement"] = o["payment"] = ""
    o.setdefault("code", "")  # HOT allows an amount without a code


def _oc_code(w: Walker, c: Any, f: dict[str, Any], name: str) -> None:
    iri: str = c.get(RES)
    if iri.startswith(OTHER_CHARGE_CODE) and len(iri) == len(OTHER_CHARGE_CODE) + 2:
        f[name] = iri[len(OTHER_CHARGE_CODE) :]
    else:
        w.bad("charges", f"{iri} is not a member of the other-charge code list")


def _index(w: Walker, c: Any, f: dict[str, Any], name: str) -> None:
    f[name] = int(c.text)


def _table(entries: dict[str, Spec]) -> dict[str, Spec]:
    return {tag(k): v for k, v in entries.items()}


WAYBILL = _table(
    {
        "cargo:waybillPrefix": (TEXT, "airline_prefix", None),
        "cargo:waybillNumber": (TEXT, "awb_serial", None),
        "cargo:agentReference": (TEXT, "agent_reference", None),
        "cargo:departureLocation": (NODE, "origin", _location),
        "cargo:arrivalLocation": (NODE, "destination", _location),
        "cargo:involvedParties": (NODE, "agent_code", _party),
        "cargo:totalGrossWeight": (NODE, "gross_weight", _weight),
        "cargo:billingDetails": (NODE, "", _billing),
        "cargo:otherCharges": (NODE, "", _other_charge),
    }
)
BILLING = _table(
    {
        "cass:recordType": (TEXT, "record_id", None),
        "cass:branchOfficeIndicator": (TEXT, "branch", None),
        "cass:modulusCheckIndicator": (TEXT, "modulus_check", None),
        "cass:invoiceIndicator": (TEXT, "invoice_indicator", None),
        "cass:currency": (NODE, "currency", _currency),
        "cargo:awbUseIndicator": (LINK, "use_indicator", AWB_USE_OF),
        "cass:lateReporting": (MAP, "late_indicator", {"true": "L", "false": ""}),
        "cargo:awbExecutionDate": (DATE, "execution_date", None),
        "cargo:awbAcceptanceDate": (DATE, "acceptance_date", None),
        "cargo:awbDeliveryDate": (DATE, "delivery_date", None),
        "cass:arrivalDate": (DATE, "arrival_date", None),
        "cass:flightNumber": (TEXT, "flight", None),
        "cargo:vatIndicator": (MAP, "vat_indicator", {"true": "Y", "false": "N"}),
        "cargo:exchangeRate": (DEC, "rate_of_exchange", None),
        "cargo:commissionPercentage": (DEC, "commission_percentage", None),
        "cargo:commission": (DEC, "commission", None),
        "cass:commissionIndicator": (TEXT, "commission_indicator", None),
        "cargo:discount": (DEC, "discount", None),
        "cargo:taxDueAirline": (NODE, "tax_due_airline", _money),
        "cass:taxDueAirlineIndicator": (TEXT, "tax_due_airline_indicator", None),
        "cargo:taxDueAgent": (NODE, "tax_due_agent", _money),
        "cass:hasChargeLine": (NODE, "", _charge_line),
        "cass:importFee": (NODE, "fee", _money),
        "cass:importFeeCharged": (MAP, "fee_charged", {"true": "Y", "false": "N"}),
        "cass:handlingCharges": (NODE, "handling_charges", _money),
        "cass:storageCharges": (NODE, "storage_charges", _money),
        "cass:miscellaneousCharges": (NODE, "miscellaneous_charges", _money),
        "cargo:adjustments": (NODE, "", _adjustment),
    }
)
ADJUSTMENT = _table(
    {
        "cass:recordType": (TEXT, "_adj", None),
        "cargo:correctionSerialNumber": (TEXT, "reference", None),
        "cargo:reasonsForAdjustments": (TEXT, "reason", None),
    }
)
OTHER_CHARGE = _table(
    {
        "cass:itemisedRecordIndex": (NODE, "index", _index),
        "cass:chargePosition": (NODE, "position", _index),
        "cargo:otherChargeCode": (NODE, "code", _oc_code),
        "cass:otherChargeCodeText": (TEXT, "code", None),
        "cargo:entitlement": (LINK, "entitlement", ENTITLEMENT_OF),
        "cargo:chargePaymentType": (LINK, "payment", PC_OF),
        "cargo:otherChargeAmount": (NODE, "amount", _money),
    }
)
