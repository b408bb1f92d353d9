"""The billing statement of a closed period as ONE Record XML: encode and decode.

A ``cass:BillingStatement`` (IRI ``<base>/statements/<number>``) states, for one agent (what it
owes the airlines) or one airline (what the agents owe it): the statement number, the gateway
(``cass:issuedBy``), the ontology version, CASS country, period code, issue time, currency (a
UN/CEFACT currency IRI), the gateway's company id of the recipient, the billed party and the
remittance date.  The billed party is a ``cargo:Company`` (IATA agent code, seven digits, and
CASS location identifier, four digits, when the code has eleven) or a ``cargo:Carrier``
(three-digit prefix), with the IRIs of the submission codec (``…/logistics-objects/company-…``,
``…/carrier-…``).

Then one ``cass:StatementLine`` per billed item, in the caller's order: ``cass:forWaybill`` (a
``cargo:Waybill`` with prefix and number, the IRI ``…/logistics-objects/waybill-160-62144154``
of the submission codec) or, for an item without a waybill (an adjustment),
``cass:forAirline`` (a ``cargo:Carrier``); ``cass:recordType`` the kind (AWB, CCA, DCM, ADJ),
``cass:itemReference`` the correction, memo or adjustment reference when there is one,
``cargo:billingChargeIdentifier`` ``ChargeIdentifier#CT`` (charge summary total) and
``cass:amount``.  Then one ``cass:StatementSubtotal`` per airline (agent statement,
``cass:forAirline``) or per agent (airline statement, ``cass:forAgent``), and two
``cass:hasTotal`` charge lines: ``ChargeIdentifier#NI`` (CASS invoice amount) and ``#CN`` (CASS
net amount), both the statement total in this version.

Amounts are ``xsd:double`` literals written fixed-point from the Decimal, so the decoder gives
back the same Decimal, exponent included (``Decimal("-0.00")`` stays ``-0.00``); a negative
amount is a credit to the agent.  Output is a pure function of the inputs.  The company id may
be any text: it is escaped, characters XML cannot carry become U+FFFD.  Values the schema
restricts raise ValueError when they do not fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import quote

from opencass.codecs.onerecord import rdfxml as rx
from opencass.codecs.onerecord.mapping import Iris
from opencass.codecs.onerecord.messages import (
    _COUNTRY,
    _INSTANT,
    _children,
    _escape,
    _iri,
    _parse,
    _rejected,
    _text,
)
from opencass.codecs.onerecord.safe import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH
from opencass.codecs.onerecord.vocab import CHARGE_ID, CL, CURRENCY, ONTOLOGY_VERSION, RDF, tag

__all__ = [
    "LINE_KINDS",
    "PARTY_KINDS",
    "StatementDoc",
    "StatementLine",
    "decode_statement",
    "encode_statement",
    "statement_iri",
]

LINE_KINDS = ("AWB", "CCA", "DCM", "ADJ", "IBI", "IBC")  # IBI, IBC: CASS Import
PARTY_KINDS = ("agent", "airline")
STATEMENT = "cass:BillingStatement"
_PREFIXES = ("rdf", "cargo", "cass")
_RES = "{" + RDF + "}resource"
_LINE_ID = CL + "ChargeIdentifier#CT"  # charge summary total (not a charge of a HOT record)
_NI, _CN = CHARGE_ID["NI"], CHARGE_ID["CN"]

_PREFIX = re.compile("[0-9]{3}")
_SERIAL = re.compile("[0-9]{8}")
_AGENT = re.compile("[0-9]{7}([0-9]{4})?|[A-Z]{2}[0-9]{9}")  # or CASS Import's recipient
_CURRENCY = re.compile("[A-Z]{3}")
_TEXT = re.compile("[!-~]([ -~]*[!-~])?")  # the schema's cass:statementTextType
_DATE = re.compile("[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FIXED = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,9})?")  # the schema's rdf:fixedPoint
_SMALL = Decimal(10) ** 14  # below it, at most 9 decimals always fit _FIXED
_CATEGORY = re.compile("[A-Z]{1,2}")  # UNCL 5305 as EN 16931 uses it


class StatementLine(NamedTuple):
    """One billed item: an AWB, a correction (CCA), a memo (DCM) or an adjustment (ADJ).  A
    named tuple: a close makes two million of them."""

    airline_prefix: str  # three digits
    awb: str  # the eight-digit AWB serial, "" for an item without a waybill (an adjustment)
    kind: str  # AWB | CCA | DCM | ADJ
    reference: str  # CCA/DCM number or adjustment reference; "" for an AWB
    amount: Decimal  # due airline; negative credits the agent


@dataclass(frozen=True, slots=True)
class StatementDoc:
    """One agent's or one airline's billing statement of a closed period."""

    number: str  # e.g. "DE-20261101M-23470068510"
    country: str
    period: str  # period code, e.g. "20261101M"
    currency: str
    issued_at: str  # ISO 8601 with offset
    party_kind: str  # "agent" | "airline"
    party_code: str  # agent code (7 or 11 digits) or airline prefix (3 digits)
    company: str  # the gateway's company id of the recipient
    lines: tuple[StatementLine, ...]
    subtotals: tuple[tuple[str, Decimal], ...]  # per airline prefix (agent) or agent code (airline)
    total: Decimal  # NI and CN are both this total in this first version
    remittance_date: str | None = None  # ISO date
    # the VAT breakdown (countries with tax rules): (UNCL 5305 category, rate %, base, VAT)
    taxes: tuple[tuple[str, Decimal, Decimal, Decimal], ...] = ()


def statement_iri(base_iri: str, number: str) -> str:
    """The IRI of a statement: ``<base>/statements/<number>``."""
    return f"{_iri(base_iri, 'base IRI').rstrip('/')}/statements/{quote(number, safe='')}"


# -- encoding ----------------------------------------------------------------------------------


def _fits(pattern: re.Pattern[str], value: object, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"{what} {value!r} does not fit the schema")
    return value


def _amount(value: Decimal, what: str) -> Decimal:
    exponent = value.as_tuple().exponent if isinstance(value, Decimal) else "n"
    if not isinstance(exponent, int) or exponent > 0:
        raise ValueError(f"{what} {value!r} is not a finite fixed-point Decimal")
    if not _FIXED.fullmatch(f"{value:f}"):
        raise ValueError(f"{what} {value!r} has too many digits for the schema")
    return value


def _check(doc: StatementDoc) -> None:
    """Raise ValueError for values the schema (or the decoder) would refuse."""
    _fits(_TEXT, doc.number, "statement number")
    _fits(_COUNTRY, doc.country, "CASS country")
    _fits(_TEXT, doc.period, "period code")
    _fits(_CURRENCY, doc.currency, "currency")
    _fits(_INSTANT, doc.issued_at, "issued-at")
    datetime.fromisoformat(doc.issued_at)  # a real date and time
    if doc.party_kind not in PARTY_KINDS:
        raise ValueError(f"party kind {doc.party_kind!r} is none of {', '.join(PARTY_KINDS)}")
    own, other = (_AGENT, _PREFIX) if doc.party_kind == "agent" else (_PREFIX, _AGENT)
    _fits(own, doc.party_code, f"{doc.party_kind} code")
    if doc.remittance_date is not None:
        date.fromisoformat(_fits(_DATE, doc.remittance_date, "remittance date"))
    prefixes: set[str] = set()  # each distinct prefix checked once: statements are long
    for line in doc.lines:
        if line.airline_prefix not in prefixes:
            prefixes.add(_fits(_PREFIX, line.airline_prefix, "airline prefix"))
        if line.awb:
            _fits(_SERIAL, line.awb, "AWB serial")
        if line.kind not in LINE_KINDS:
            raise ValueError(f"line kind {line.kind!r} is none of {', '.join(LINE_KINDS)}")
        if line.reference:
            _fits(_TEXT, line.reference, "line reference")
        amount = line.amount
        exponent = amount.as_tuple().exponent if isinstance(amount, Decimal) else "n"
        if not (isinstance(exponent, int) and -9 <= exponent <= 0 and abs(amount) < _SMALL):
            _amount(amount, "line amount")  # the full check, for what the quick one leaves
    codes = [code for code, _ in doc.subtotals]
    if len(set(codes)) != len(codes):
        raise ValueError(f"subtotal codes {codes!r} are not distinct")
    for code, amount in doc.subtotals:
        _fits(other, code, "subtotal code")
        _amount(amount, "subtotal")
    keys = [(cat, rate) for cat, rate, _, _ in doc.taxes]
    if len(set(keys)) != len(keys):
        raise ValueError(f"tax subtotals {keys!r} are not distinct")
    for category, rate, base, tax in doc.taxes:
        _fits(_CATEGORY, category, "VAT category")
        if not Decimal(0) <= _amount(rate, "VAT rate") < 100:
            raise ValueError(f"VAT rate {rate} is not a percentage")
        _amount(base, "taxable amount")
        _amount(tax, "tax amount")
    _amount(doc.total, "total")


def _company(prop: str, iris: Iris, code: str) -> str:
    cass = code[7:]
    ids = (
        rx.literal("cass:recipientCode", code)  # CASS Import's consignee agent
        if code[:2].isalpha()
        else rx.literal("cargo:iataCargoAgentCode", code[:7])
        + (rx.literal("cargo:iataCargoAgentLocationIdentifier", cass) if cass else "")
    )
    return (
        rx.open_node(prop, "cargo:Company", iris.company(code))
        + ids
        + rx.close_node(prop, "cargo:Company")
    )


def _carrier(prop: str, iris: Iris, prefix: str) -> str:
    return (
        rx.open_node(prop, "cargo:Carrier", iris.carrier(prefix))
        + rx.literal("cargo:prefix", prefix)
        + rx.close_node(prop, "cargo:Carrier")
    )


@lru_cache(maxsize=1 << 14)
def _party(agent: bool, prop: str, base: str, code: str) -> str:
    """``_company`` (``agent``) or ``_carrier`` of ``code``, remembered: a close writes each
    agent's and each airline's node into thousands of statements."""
    return (_company if agent else _carrier)(prop, Iris(base), code)


class _SubtotalWriter:
    """A statement's subtotal nodes with their constant parts escaped once (an airline's
    statement has a subtotal per agent): what ``_value`` and the party node make of
    each part, written at once."""

    def __init__(self, base: str, about: str, currency: str, agent: bool, prop: str) -> None:
        self.node = rx.escape_attr(about + "#subtotal-")
        self.base, self.agent, self.prop = base, agent, prop
        self.value = (
            '-amount">'
            + rx.link("cargo:currencyUnit", CURRENCY + currency)
            + f"<cargo:numericalValue{rx.DT_DOUBLE}>"
        )
        self.end = (
            "</cargo:numericalValue></cargo:CurrencyValue></cass:amount>"
            "</cass:StatementSubtotal></cass:hasSubtotal>"
        )

    def __call__(self, code: str, amount: Decimal) -> str:
        # escaping is per character: the escaped IRI is the escaped constant + escaped code
        node = self.node + rx.escape_attr(code)
        return (
            f'<cass:hasSubtotal><cass:StatementSubtotal rdf:about="{node}">'
            + _party(self.agent, self.prop, self.base, code)
            + f'<cass:amount><cargo:CurrencyValue rdf:about="{node}{self.value}{amount:f}'
            + self.end
        )


def _value(about: str, currency: str, value: Decimal, prop: str = "cass:amount") -> str:
    return (
        rx.open_node(prop, "cargo:CurrencyValue", about)
        + rx.link("cargo:currencyUnit", CURRENCY + currency)
        + rx.decimal_literal("cargo:numericalValue", value)
        + rx.close_node(prop, "cargo:CurrencyValue")
    )


def _tax_subtotal(about: str, currency: str, tax: tuple[str, Decimal, Decimal, Decimal]) -> str:
    category, rate, base, value = tax
    node = f"{about}#vat-{category}-{rate.normalize():f}"
    return (
        rx.open_node("cass:hasTaxSubtotal", "cass:TaxSubtotal", node)
        + rx.literal("cass:taxCategory", category)
        + rx.decimal_literal("cass:taxRate", rate)
        + _value(node + "-base", currency, base, "cass:taxableAmount")
        + _value(node + "-tax", currency, value, "cass:taxAmount")
        + rx.close_node("cass:hasTaxSubtotal", "cass:TaxSubtotal")
    )


class _LineWriter:
    """``_line`` for one statement with its constant parts escaped once: a statement of a
    large agent or airline has tens of thousands of lines.  Byte-identical to ``_line``."""

    def __init__(self, iris: Iris, about: str, currency: str) -> None:
        self.iris, self.raw_about, self.currency = iris, about, currency
        self.about = rx.escape_attr(about + "#line-")
        self.lo = rx.escape_attr(iris.lo + "waybill-")
        self.tail = (
            rx.link("cargo:billingChargeIdentifier", _LINE_ID)
            + '<cass:amount><cargo:CurrencyValue rdf:about="'
        )
        self.value = (
            '-amount">'
            + rx.link("cargo:currencyUnit", CURRENCY + currency)
            + f"<cargo:numericalValue{rx.DT_DOUBLE}>"
        )
        self.end = (
            "</cargo:numericalValue></cargo:CurrencyValue></cass:amount>"
            "</cass:StatementLine></cass:hasLine>"
        )

    def __call__(self, n: int, line: StatementLine) -> str:
        prefix, awb, kind = line.airline_prefix, line.awb, line.kind
        simple = prefix.isdigit() and prefix.isascii() and awb.isdigit() and awb.isascii()
        if not (simple and kind.isalnum()):
            return _line(self.iris, f"{self.raw_about}#line-{n}", self.currency, line)
        about = f"{self.about}{n}"
        ref = line.reference
        return (
            f'<cass:hasLine><cass:StatementLine rdf:about="{about}">'
            f'<cass:forWaybill><cargo:Waybill rdf:about="{self.lo}{prefix}-{awb}">'
            f"<cargo:waybillPrefix>{prefix}</cargo:waybillPrefix>"
            f"<cargo:waybillNumber>{awb}</cargo:waybillNumber>"
            "</cargo:Waybill></cass:forWaybill>"
            f"<cass:recordType>{kind}</cass:recordType>"
            + (f"<cass:itemReference>{rx.escape_text(ref)}</cass:itemReference>" if ref else "")
            + f"{self.tail}{about}{self.value}{line.amount:f}{self.end}"
        )


def _line(iris: Iris, about: str, currency: str, line: StatementLine) -> str:
    if line.awb:
        waybill = iris.waybill(line.airline_prefix, line.awb)
        target = (
            rx.open_node("cass:forWaybill", "cargo:Waybill", waybill)
            + rx.literal("cargo:waybillPrefix", line.airline_prefix)
            + rx.literal("cargo:waybillNumber", line.awb)
            + rx.close_node("cass:forWaybill", "cargo:Waybill")
        )
    else:
        target = _carrier("cass:forAirline", iris, line.airline_prefix)
    return (
        rx.open_node("cass:hasLine", "cass:StatementLine", about)
        + target
        + rx.literal("cass:recordType", line.kind)
        + (rx.literal("cass:itemReference", line.reference) if line.reference else "")
        + rx.link("cargo:billingChargeIdentifier", _LINE_ID)
        + _value(about + "-amount", currency, line.amount)
        + rx.close_node("cass:hasLine", "cass:StatementLine")
    )


def _total(about: str, cid: str, currency: str, value: Decimal) -> str:
    return (
        rx.open_node("cass:hasTotal", "cass:ChargeLine", about)
        + rx.link("cargo:billingChargeIdentifier", cid)
        + _value(about + "-amount", currency, value)
        + rx.close_node("cass:hasTotal", "cass:ChargeLine")
    )


def encode_statement(doc: StatementDoc, *, base_iri: str) -> bytes:
    """The ``cass:BillingStatement`` (UTF-8 RDF/XML), deterministic and valid against the XSD."""
    _check(doc)
    about = statement_iri(base_iri, doc.number)
    iris = Iris(base_iri)
    cur = doc.currency
    party = _company if doc.party_kind == "agent" else _carrier
    sub_prop = "cass:forAirline" if doc.party_kind == "agent" else "cass:forAgent"
    out = [
        rx.literal("cass:statementNumber", doc.number),
        rx.link("cass:issuedBy", base_iri),
        rx.link("cass:ontologyVersion", ONTOLOGY_VERSION),
        rx.literal("cass:cassCountry", doc.country),
        rx.literal("cass:periodCode", doc.period),
        f"<cass:issuedAt{rx.DT_DATETIME}>{doc.issued_at}</cass:issuedAt>",
        rx.link("cass:currency", CURRENCY + cur),
        f"<cass:companyId>{_escape(doc.company)}</cass:companyId>",
        party("cass:billedParty", iris, doc.party_code),
    ]
    if doc.remittance_date is not None:
        out.append(rx.date_literal("cass:remittanceDate", doc.remittance_date))
    line = _LineWriter(iris, about, cur)
    out += (line(n, ln) for n, ln in enumerate(doc.lines, 1))
    subtotal = _SubtotalWriter(base_iri, about, cur, doc.party_kind != "agent", sub_prop)
    out += (subtotal(code, amount) for code, amount in doc.subtotals)
    out += (_tax_subtotal(about, cur, tax) for tax in doc.taxes)
    out.append(_total(f"{about}#NI", _NI, cur, doc.total))
    out.append(_total(f"{about}#CN", _CN, cur, doc.total))
    text = rx.root_start(STATEMENT, about, _PREFIXES) + "\n".join(out) + "\n"
    return (text + rx.root_end(STATEMENT)).encode("utf-8")


# -- decoding ----------------------------------------------------------------------------------

_HAS_LINE, _HAS_SUBTOTAL = tag("cass:hasLine"), tag("cass:hasSubtotal")
_HAS_TOTAL, _HAS_TAX = tag("cass:hasTotal"), tag("cass:hasTaxSubtotal")
_WAYBILL, _CARRIER = tag("cargo:Waybill"), tag("cargo:Carrier")


def _invalid(message: str, el: Any) -> Exception:
    return _rejected("XML_VALUE_INVALID", message, el.sourceline)


def _money(holder: Any, currency: str, prop: str = "amount") -> Decimal:
    """The amount of a line, subtotal or total (its ``cass:amount``), in ``currency``."""
    value = _children(_children(holder)[prop][0])
    unit = value.get("currencyUnit")
    if unit is None or unit.get(_RES) != CURRENCY + currency:
        raise _invalid(f"an amount is not in the statement currency {currency}", holder)
    return Decimal(_text(value["numericalValue"]).strip())


def _agent_code(company: Any) -> str:
    p = _children(company)
    if "recipientCode" in p:
        return _text(p["recipientCode"])
    return _text(p["iataCargoAgentCode"]) + _text(p.get("iataCargoAgentLocationIdentifier"))


def _prefix(carrier: Any) -> str:
    return _text(_children(carrier)["prefix"])


def _statement_line(node: Any, currency: str) -> StatementLine:
    p = _children(node)
    kind = _text(p["recordType"])
    if kind not in LINE_KINDS:
        raise _invalid(f"line kind {kind!r} is none of {', '.join(LINE_KINDS)}", node)
    if p["billingChargeIdentifier"].get(_RES) != _LINE_ID:
        raise _invalid("a statement line's charge identifier is not ChargeIdentifier#CT", node)
    target = p.get("forWaybill")
    if target is not None:
        w = _children(target[0])
        prefix, serial = _text(w["waybillPrefix"]), _text(w["waybillNumber"])
    else:
        prefix, serial = _prefix(p["forAirline"][0]), ""
    return StatementLine(
        prefix, serial, kind, _text(p.get("itemReference")), _money(node, currency)
    )


def decode_statement(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> StatementDoc:
    """The statement of a ``cass:BillingStatement``; XmlRejectedError when invalid."""
    root = _parse(data, STATEMENT, max_bytes, max_depth)
    top = _children(root)
    currency_iri = str(top["currency"].get(_RES))
    currency = currency_iri[len(CURRENCY) :]
    if not currency_iri.startswith(CURRENCY) or not _CURRENCY.fullmatch(currency):
        raise _invalid(f"{currency_iri} is not a UN/CEFACT currency", top["currency"])
    party = top["billedParty"][0]
    if party.tag == _CARRIER:
        party_kind, party_code, sub_prop = "airline", _prefix(party), "forAgent"
    else:
        party_kind, party_code, sub_prop = "agent", _agent_code(party), "forAirline"
    lines = tuple(_statement_line(h[0], currency) for h in root.iterchildren(_HAS_LINE))
    subtotals = []
    for h in root.iterchildren(_HAS_SUBTOTAL):
        node = h[0]
        target = _children(node).get(sub_prop)
        if target is None:
            raise _invalid(f"a subtotal of an {party_kind} statement lacks cass:{sub_prop}", node)
        code = _prefix(target[0]) if sub_prop == "forAirline" else _agent_code(target[0])
        subtotals.append((code, _money(node, currency)))
    totals = {h[0][0].get(_RES): _money(h[0], currency) for h in root.iterchildren(_HAS_TOTAL)}
    if set(totals) != {_NI, _CN}:
        raise _invalid("the totals are not ChargeIdentifier#NI and #CN", root)
    ni, cn = totals[_NI], totals[_CN]
    if ni != cn or ni.as_tuple().exponent != cn.as_tuple().exponent:
        raise _invalid(f"the CASS invoice amount {ni} differs from the net amount {cn}", root)
    remittance = top.get("remittanceDate")
    taxes = []
    for h in root.iterchildren(_HAS_TAX):
        p = _children(h[0])
        rate = Decimal(_text(p["taxRate"]).strip())
        base, tax = _money(h[0], currency, "taxableAmount"), _money(h[0], currency, "taxAmount")
        taxes.append((_text(p["taxCategory"]), rate, base, tax))
    return StatementDoc(
        number=_text(top["statementNumber"]),
        country=_text(top["cassCountry"]),
        period=_text(top["periodCode"]),
        currency=currency,
        issued_at=_text(top["issuedAt"]),
        party_kind=party_kind,
        party_code=party_code,
        company=_text(top["companyId"]),
        lines=lines,
        subtotals=tuple(subtotals),
        total=ni,
        remittance_date=None if remittance is None else _text(remittance),
        taxes=tuple(taxes),
    )
