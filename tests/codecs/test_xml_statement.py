"""The billing statement as ONE Record XML: encode, decode, schema, RDF, determinism, refusals."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from rdflib import RDF, Graph, Literal, Namespace, URIRef

from opencass.codecs.onerecord import (
    StatementDoc,
    StatementLine,
    XmlRejectedError,
    decode_statement,
    encode_statement,
    load_schema,
    statement_iri,
)

CARGO = Namespace("https://onerecord.iata.org/ns/cargo#")
CASS = Namespace("https://w3id.org/opencass/ns/billing#")
CI = Namespace("https://onerecord.iata.org/ns/code-lists/ChargeIdentifier#")
DOUBLE = URIRef("http://www.w3.org/2001/XMLSchema#double")
BASE = "https://gw.example"
ABOUT = URIRef("https://gw.example/statements/DE-20261101M-23470068510")

# An agent statement: AWBs, a correction, a memo and an adjustment of two airlines; credits.
AGENT = StatementDoc(
    number="DE-20261101M-23470068510",
    country="DE",
    period="20261101M",
    currency="EUR",
    issued_at="2026-11-22T00:36:10.123456+00:00",
    party_kind="agent",
    party_code="23470068510",
    company="kuehne",
    lines=(
        StatementLine("020", "", "ADJ", "DSP 2026/17", Decimal("-15.00")),
        StatementLine("020", "11111111", "AWB", "", Decimal("-0.00")),
        StatementLine("160", "62144154", "AWB", "", Decimal("3462.90")),
        StatementLine("160", "62144154", "CCA", "808640", Decimal("-12.5")),
        StatementLine("160", "62144165", "DCM", "D-77", Decimal("100")),
    ),
    subtotals=(("020", Decimal("-15.00")), ("160", Decimal("3550.40"))),
    total=Decimal("3535.40"),
    remittance_date="2026-12-05",
)
# An airline statement that credits the agents overall, subtotals per agent code.
AIRLINE = dataclasses.replace(
    AGENT,
    number="DE-20261101M-160",
    party_kind="airline",
    party_code="160",
    company="lh",
    lines=(
        StatementLine("160", "62144154", "AWB", "", Decimal("10.00")),
        StatementLine("160", "62144154", "CCA", "808640", Decimal("-250.00")),
    ),
    subtotals=(("23470068510", Decimal("10.00")), ("2347006", Decimal("-250.00"))),
    total=Decimal("-240.00"),
    remittance_date=None,
)
EMPTY = dataclasses.replace(
    AGENT, number="DE-20261101M-23470060000", lines=(), subtotals=(), total=Decimal("0.00")
)
HOSTILE = '</cass:companyId><cass:companyId>evil</cass:companyId>]]>&amp;<x y="1">\r\n\x00\ud800🚚'


def encode(doc: StatementDoc) -> bytes:
    return encode_statement(doc, base_iri=BASE)


def exact(doc: StatementDoc) -> list[tuple[Any, ...]]:
    """Every amount with its exponent: Decimal equality alone ignores ``-0.00`` vs ``0``."""
    amounts = [ln.amount for ln in doc.lines] + [a for _, a in doc.subtotals] + [doc.total]
    return [a.as_tuple() for a in amounts]


def graph(data: bytes) -> Graph:
    return Graph().parse(data=data, format="xml")


# -- round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", [AGENT, AIRLINE, EMPTY], ids=["agent", "airline", "empty"])
def test_round_trip_keeps_every_value_and_exponent(doc: StatementDoc) -> None:
    back = decode_statement(encode(doc))
    assert back == doc
    assert exact(back) == exact(doc)


def test_negative_total_is_a_credit_and_comes_back_negative() -> None:
    back = decode_statement(encode(AIRLINE))
    assert back.total == Decimal("-240.00") and back.total.is_signed()
    assert back.lines[1].amount.as_tuple().exponent == -2


def test_empty_statement_has_no_lines_and_a_zero_total() -> None:
    data = encode(EMPTY)
    assert b"cass:hasLine" not in data and b"cass:hasSubtotal" not in data
    assert load_schema()(etree.fromstring(data))
    back = decode_statement(data)
    assert back.lines == () and back.subtotals == ()
    assert str(back.total) == "0.00"
    totals = set(graph(data).objects(None, CARGO.numericalValue))
    assert totals == {Literal("0.00", datatype=DOUBLE)}


# -- schema and RDF -------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", [AGENT, AIRLINE, EMPTY], ids=["agent", "airline", "empty"])
def test_statement_is_valid_against_the_shipped_schema(doc: StatementDoc) -> None:
    schema = load_schema()
    assert schema(etree.fromstring(encode(doc))), schema.error_log


def total_of(g: Graph, code: str) -> Literal:
    (line,) = g.subjects(CARGO.billingChargeIdentifier, CI[code])
    assert (ABOUT, CASS.hasTotal, line) in g
    (value,) = g.objects(line, CASS.amount)
    (number,) = g.objects(value, CARGO.numericalValue)
    assert isinstance(number, Literal)
    return number


def test_rdf_has_the_ni_and_cn_totals() -> None:
    g = graph(encode(AGENT))
    for code in ("NI", "CN"):
        number = total_of(g, code)
        assert number.datatype == DOUBLE  # typed double, compared by value (XML.md)
        assert number.toPython() == 3535.40
        assert number == Literal("3535.40", datatype=DOUBLE)
    assert len(set(g.objects(ABOUT, CASS.hasTotal))) == 2
    credit = graph(encode(AIRLINE))
    about = URIRef(statement_iri(BASE, AIRLINE.number))
    for code in ("NI", "CN"):
        (line,) = credit.subjects(CARGO.billingChargeIdentifier, CI[code])
        assert (about, CASS.hasTotal, line) in credit
        (value,) = credit.objects(line, CASS.amount)
        assert credit.value(value, CARGO.numericalValue) == Literal("-240.00", datatype=DOUBLE)


def test_rdf_lines_point_at_the_waybills_of_the_submission_codec() -> None:
    g = graph(encode(AGENT))
    assert (ABOUT, RDF.type, CASS.BillingStatement) in g
    lines = set(g.objects(ABOUT, CASS.hasLine))
    assert len(lines) == len(AGENT.lines)
    waybill = URIRef("https://gw.example/logistics-objects/waybill-160-62144154")
    assert (waybill, RDF.type, CARGO.Waybill) in g
    assert (waybill, CARGO.waybillNumber, Literal("62144154")) in g
    assert len(set(g.subjects(CASS.forWaybill, waybill))) == 2  # the AWB and its CCA
    carrier = URIRef("https://gw.example/logistics-objects/carrier-020")
    assert (carrier, CARGO.prefix, Literal("020")) in g
    assert {line for line in lines if (line, CASS.forAirline, carrier) in g}  # the adjustment
    for line in lines:
        assert (line, CARGO.billingChargeIdentifier, CI.CT) in g
    party = URIRef("https://gw.example/logistics-objects/company-23470068510")
    assert (ABOUT, CASS.billedParty, party) in g
    assert (party, CARGO.iataCargoAgentCode, Literal("2347006")) in g
    assert (party, CARGO.iataCargoAgentLocationIdentifier, Literal("8510")) in g
    assert len(set(g.objects(ABOUT, CASS.hasSubtotal))) == 2


def test_airline_statement_names_a_carrier_and_agents() -> None:
    data = encode(AIRLINE)
    g = graph(data)
    about = URIRef(statement_iri(BASE, AIRLINE.number))
    carrier = URIRef("https://gw.example/logistics-objects/carrier-160")
    assert (about, CASS.billedParty, carrier) in g
    assert (carrier, RDF.type, CARGO.Carrier) in g
    agents = {str(o) for o in g.objects(None, CASS.forAgent)}
    assert agents == {
        "https://gw.example/logistics-objects/company-23470068510",
        "https://gw.example/logistics-objects/company-2347006",
    }
    assert b"cass:remittanceDate" not in data


# -- determinism and hostile text -----------------------------------------------------------------


def test_same_inputs_give_identical_bytes() -> None:
    copy = dataclasses.replace(AGENT, lines=tuple(ln._replace() for ln in AGENT.lines))
    assert encode(AGENT) == encode(copy)
    assert encode(AGENT) != encode(dataclasses.replace(AGENT, total=Decimal("3535.4")))


def test_hostile_company_id_is_escaped() -> None:
    data = encode(dataclasses.replace(AGENT, company=HOSTILE))
    etree.fromstring(data)  # well-formed
    assert load_schema()(etree.fromstring(data))
    assert b"<x " not in data and b"\x00" not in data and b"\r" not in data
    assert data.count(b"<cass:companyId>") == 1
    back = decode_statement(data)
    assert back.company == HOSTILE.replace("\x00", "\ufffd").replace("\ud800", "\ufffd")
    assert (ABOUT, CASS.companyId, Literal(back.company)) in graph(data)


@settings(max_examples=100, deadline=None)
@given(
    company=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40),
    cents=st.integers(-(10**12), 10**12),
)
def test_any_company_and_amount_round_trip(company: str, cents: int) -> None:
    doc = dataclasses.replace(
        AGENT,
        company=company,
        total=Decimal(cents).scaleb(-2),
        lines=(AGENT.lines[0]._replace(amount=Decimal(-cents).scaleb(-3)),),
    )
    back = decode_statement(encode(doc))
    legal = "".join(
        c if c in "\t\n\r" or "\x20" <= c <= "\ufffd" or c >= "\U00010000" else "\ufffd"
        for c in doc.company
    )
    assert back == dataclasses.replace(doc, company=legal)
    assert exact(back) == exact(doc)


# -- refusals -------------------------------------------------------------------------------------


def codes(data: bytes, **kw: Any) -> list[str]:
    with pytest.raises(XmlRejectedError) as caught:
        decode_statement(data, **kw)
    return [f.code for f in caught.value.findings]


def test_decoder_refuses_bad_documents() -> None:
    good = encode(AGENT)
    decl = b'<?xml version="1.0" encoding="UTF-8"?>\n'
    bomb = decl + b'<!DOCTYPE r [<!ENTITY a "aaaa">]>' + good[len(decl) :]
    assert codes(bomb) == ["XML_DOCTYPE_FORBIDDEN"]
    assert codes(good[:-30]) == ["XML_MALFORMED"]
    assert codes(good, max_bytes=100) == ["FILE_TOO_LARGE"]
    assert codes(b'<cass:Receipt xmlns:cass="https://w3id.org/opencass/ns/billing#"/>') == [
        "XML_ROOT_UNKNOWN"
    ]
    # the schema: amounts fixed-point, one NI and one CN, kinds of the right shape
    assert codes(good.replace(b">3462.90<", b">3.4629E3<")) == ["XML_SCHEMA_INVALID"]
    assert codes(good.replace(b"ChargeIdentifier#CN", b"ChargeIdentifier#NI")) == [
        "XML_SCHEMA_INVALID"
    ]
    assert codes(good.replace(b">AWB<", b">AWBX<", 1)) == ["XML_SCHEMA_INVALID"]
    # the decoder: values the schema lets through
    assert codes(good.replace(b">AWB<", b">AWM<", 1)) == ["XML_VALUE_INVALID"]
    assert codes(good.replace(b">3535.40<", b">3535.41<", 1)) == ["XML_VALUE_INVALID"]  # NI≠CN
    assert codes(good.replace(b"ChargeIdentifier#CN", b"ChargeIdentifier#WT")) == [
        "XML_VALUE_INVALID"
    ]
    assert codes(good.replace(b"CurrencyCodeList#EUR", b"CurrencyCodeList#USD", 2)) == [
        "XML_VALUE_INVALID"
    ]
    assert codes(good.replace(b"<cass:companyId>kuehne</cass:companyId>", b"")) == [
        "XML_SCHEMA_INVALID"
    ]


def test_agent_statement_refuses_subtotals_per_agent() -> None:
    data = encode(AGENT)
    start = data.index(b"<cass:hasSubtotal>")
    end = data.index(b"</cass:hasSubtotal>", start) + len(b"</cass:hasSubtotal>")
    per_agent = encode(AIRLINE)
    s2 = per_agent.index(b"<cass:hasSubtotal>")
    e2 = per_agent.index(b"</cass:hasSubtotal>", s2) + len(b"</cass:hasSubtotal>")
    mixed = data[:start] + per_agent[s2:e2] + data[end:]
    assert codes(mixed) == ["XML_VALUE_INVALID"]


@pytest.mark.parametrize(
    "change",
    [
        {"number": ""},
        {"number": " DE-1"},
        {"country": "Deutschland"},
        {"currency": "eur"},
        {"issued_at": "2026-11-22T00:36:10"},  # no offset
        {"issued_at": "2026-02-30T00:00:00Z"},  # no such day
        {"party_kind": "operator"},
        {"party_code": "160"},  # an agent statement needs an agent code
        {"remittance_date": "2026-13-01"},
        {"total": Decimal("1E+2")},  # exponent would be lost
        {"total": Decimal("NaN")},
        {"total": Decimal("1.0000000001")},  # more decimals than the schema allows
        {"subtotals": (("160", Decimal(1)), ("160", Decimal(2)))},
        {"subtotals": (("23470068510", Decimal(1)),)},  # agent statement: per airline
        {"lines": (StatementLine("16", "62144154", "AWB", "", Decimal(1)),)},
        {"lines": (StatementLine("160", "160-62144154", "AWB", "", Decimal(1)),)},
        {"lines": (StatementLine("160", "62144154", "XYZ", "", Decimal(1)),)},
        {"lines": (StatementLine("160", "62144154", "CCA", "a\x00b", Decimal(1)),)},
    ],
)
def test_encoder_refuses_values_the_schema_cannot_carry(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        encode(dataclasses.replace(AGENT, **change))


def test_encoder_refuses_relative_base_iri() -> None:
    with pytest.raises(ValueError):
        encode_statement(AGENT, base_iri="gw.example")


# -- VAT breakdown ------------------------------------------------------------------------------

TAXED = dataclasses.replace(
    AGENT,
    taxes=(
        ("S", Decimal("19"), Decimal("3350.64"), Decimal("636.62")),
        ("AE", Decimal("0"), Decimal("120.00"), Decimal("0.00")),
        ("E", Decimal("0"), Decimal("-85.00"), Decimal("0.00")),
    ),
)


def test_vat_breakdown_round_trips_validates_and_reads_as_rdf() -> None:
    data = encode(TAXED)
    assert decode_statement(data) == TAXED
    schema = load_schema()
    assert schema(etree.fromstring(data)), schema.error_log
    g = graph(data)
    subtotals = list(g.objects(ABOUT, CASS.hasTaxSubtotal))
    assert len(subtotals) == 3
    found = {}
    for node in subtotals:
        assert (node, RDF.type, CASS.TaxSubtotal) in g
        tax = g.value(g.value(node, CASS.taxAmount), CARGO.numericalValue)
        base = g.value(g.value(node, CASS.taxableAmount), CARGO.numericalValue)
        found[str(g.value(node, CASS.taxCategory))] = (
            g.value(node, CASS.taxRate).toPython(),
            base.toPython(),
            tax.toPython(),
        )
    assert found["S"] == (19.0, 3350.64, 636.62) and found["E"] == (0.0, -85.0, 0.0)
    assert encode(dataclasses.replace(AGENT, taxes=())) == encode(AGENT)  # absent when none


@pytest.mark.parametrize(
    "taxes",
    [
        (("s", Decimal("19"), Decimal("1.00"), Decimal("0.19")),),  # not a code
        (("S", Decimal("100"), Decimal("1.00"), Decimal("1.00")),),  # not a percentage
        (("S", Decimal("19"), Decimal("1.00"), Decimal("0.19")),) * 2,  # twice
        (("S", Decimal("19"), Decimal("NaN"), Decimal("0.19")),),
    ],
)
def test_vat_breakdown_values_the_schema_refuses_are_refused(taxes: Any) -> None:
    with pytest.raises(ValueError):
        encode(dataclasses.replace(AGENT, taxes=taxes))


@pytest.mark.parametrize("base", [BASE, "https://gw.example/a&b/q?x=1&y=2", "https://gw.ex/ü/"])
@pytest.mark.parametrize("agent", [True, False])
def test_subtotal_writer_writes_the_bytes_of_the_plain_subtotal(base: str, agent: bool) -> None:
    # a close writes a million subtotal nodes through the writer; each must be the node the
    # plain composition writes, whatever the base IRI holds (escaping is per character)
    from opencass.codecs.onerecord import rdfxml as rx
    from opencass.codecs.onerecord.mapping import Iris
    from opencass.codecs.onerecord.statement import _carrier, _company, _SubtotalWriter, _value

    def plain(iris: Iris, about: str, cur: str, agent: bool, prop: str, code: str, v: Any) -> str:
        # the node written part by part, as statements wrote it before the writer existed
        node = f"{about}#subtotal-{code}"
        return (
            rx.open_node("cass:hasSubtotal", "cass:StatementSubtotal", node)
            + (_company if agent else _carrier)(prop, iris, code)
            + _value(node + "-amount", cur, v)
            + rx.close_node("cass:hasSubtotal", "cass:StatementSubtotal")
        )

    about = statement_iri(base, "DE-20261101M-1234567")
    prop = "cass:forAgent" if agent else "cass:forAirline"
    write = _SubtotalWriter(base, about, "EUR", agent, prop)
    codes = ["2347006", "23470068510", "AB1234567"] if agent else ["160", "020", "999"]
    for code in codes:
        for amount in (Decimal("0.00"), Decimal("-12.5"), Decimal("123456789.123")):
            expected = plain(Iris(base), about, "EUR", agent, prop, code, amount)
            assert write(code, amount) == expected
