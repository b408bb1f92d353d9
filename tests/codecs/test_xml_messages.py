"""The gateway's answers as ONE Record XML: validation report and receipt.

Round trips (every value of SubmissionInfo and Finding comes back), schema validity, the RDF
triples a ONE Record consumer reads, byte-for-byte determinism (the receipt is signed), hostile
texts from the submitter, size and speed, and refusal of invalid documents with findings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from rdflib import RDF, Graph, Literal, Namespace, URIRef

from opencass.codecs.onerecord import (
    SubmissionInfo,
    XmlRejectedError,
    decode_receipt,
    decode_validation_report,
    encode_receipt,
    encode_validation_report,
    load_schema,
    submission_iri,
)
from opencass.findings import Finding, Scope, Severity, finding

API = Namespace("https://onerecord.iata.org/ns/api#")
CARGO = Namespace("https://onerecord.iata.org/ns/cargo#")
CASS = Namespace("https://w3id.org/opencass/ns/billing#")
ANY_URI = URIRef("http://www.w3.org/2001/XMLSchema#anyURI")
BASE = "https://gw.example"
WAYBILL = "https://gw.example/logistics-objects/waybill-160-62144154"

INFO = SubmissionInfo(
    file_id="01JDX4S9Z6",
    file_name="DE160_202611.hot",
    company="lh",
    user="lh-billing",
    sha256=hashlib.sha256(b"billing file").hexdigest(),
    size=52_650,
    received_at="2026-11-22T00:36:10.123456+00:00",
    outcome="partially_accepted",
    counts={"records": 210, "errors": 3, "warnings": 1, "rejected_records": 2, "booked": 0},
    sandbox=True,
    format="hot",
    dialect="handoff",
    country="DE",
    period="20261101M",
    duplicate_of=None,
)
MINIMAL = SubmissionInfo(
    file_id="f1",
    file_name="",
    company="",
    user="",
    sha256="0" * 64,
    size=0,
    received_at="2026-11-22T00:36:10Z",
    outcome="rejected",
    counts={},
)
# As the gateway's store delivers them: file-level findings first, then by line.
FINDINGS = [
    finding("PERIOD_CLOSED", "the period's cut-off has passed"),
    Finding("CUSTOM_CODE", Severity.WARNING, Scope.FILE, None, None, None, None, ""),
    finding("HEADER_INVALID", "bad date", line=1, field="billing_date", columns=(20, 25)),
    finding(
        "AWB_CHECK_DIGIT",
        "check digit 4, expected 5",
        line=7,
        record_type="AWM",
        field="awb_serial",
        columns=(8, 15),
    ),
    finding("CHARGES_ON_NON_REVENUE", "a void AWB carries charges", line=7, record_type="AWM"),
    finding("FIELD_NOT_NUMERIC", "'12a4'", line=9, record_type="CCR", field="gross_weight"),
    finding("RECORD_TYPE_UNKNOWN", "unknown record", line=12, record_type=" 1<"),
]


def report(info: SubmissionInfo = INFO, findings: list[Finding] | None = None, **kw: Any) -> bytes:
    return encode_validation_report(
        info, FINDINGS if findings is None else findings, base_iri=BASE, **kw
    )


def graph(data: bytes) -> Graph:
    return Graph().parse(data=data, format="xml")


def schema_valid(data: bytes) -> bool:
    return bool(load_schema()(etree.fromstring(data)))


def sanitized(text: str) -> str:
    """What a text becomes in XML: characters outside XML 1.0's Char production → U+FFFD."""
    return "".join(
        c
        if c in "\t\n\r"
        or "\x20" <= c <= "\ud7ff"
        or "\ue000" <= c <= "\ufffd"
        or c >= "\U00010000"
        else "\ufffd"
        for c in text
    )


# -- round trips ----------------------------------------------------------------------------------


def test_report_round_trip_keeps_every_value() -> None:
    info, findings = decode_validation_report(report())
    assert info == INFO
    assert findings == FINDINGS
    assert findings[1].message == "" and findings[1].line is None
    assert findings[3].columns == (8, 15) and findings[3].record_type == "AWM"


def test_receipt_round_trip_keeps_every_value() -> None:
    for info in (
        INFO,
        MINIMAL,
        dataclasses.replace(INFO, outcome="duplicate", duplicate_of="a/b c"),
    ):
        assert decode_receipt(encode_receipt(info, base_iri=BASE)) == info


def test_minimal_info_and_finding_with_every_optional_value_none() -> None:
    bare = Finding("FILE_EMPTY", Severity.ERROR, Scope.FILE, None, None, None, None, "empty")
    data = report(MINIMAL, [bare])
    assert schema_valid(data)
    assert decode_validation_report(data) == (MINIMAL, [bare])
    ref = etree.fromstring(data).find(f".//{{{CARGO}}}ExternalReference")
    assert ref is not None
    assert {etree.QName(c).localname for c in ref} == {
        "documentIdentifier", "documentName", "checksum", "byteSize", "receivedAt",
        "companyId", "userName", "sandbox",
    }  # fmt: skip


def test_empty_findings_list() -> None:
    data = report(findings=[])
    assert schema_valid(data)
    assert decode_validation_report(data) == (INFO, [])
    g = graph(data)
    assert not list(g.subjects(RDF.type, API.Verification))
    assert (None, CASS.outcome, CASS.PARTIALLY_ACCEPTED) in g


def test_findings_are_grouped_by_line_one_verification_each() -> None:
    interleaved = [FINDINGS[3], FINDINGS[0], FINDINGS[5], FINDINGS[4], FINDINGS[1]]
    _, decoded = decode_validation_report(report(findings=interleaved))
    # groups in order of first appearance, the findings of a group in input order
    assert decoded == [FINDINGS[3], FINDINGS[4], FINDINGS[0], FINDINGS[1], FINDINGS[5]]
    g = graph(report(findings=interleaved))
    assert len(set(g.subjects(RDF.type, API.Verification))) == 3


# -- schema and RDF -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["report", "receipt"])
def test_messages_are_valid_against_the_shipped_schema(kind: str) -> None:
    data = report() if kind == "report" else encode_receipt(INFO, base_iri=BASE)
    assert schema_valid(data)
    wrong = data.replace(b"api#ERROR", b"api#FATAL") if kind == "report" else data
    wrong = wrong.replace(b"#PARTIALLY_ACCEPTED", b"#MAYBE")
    assert not schema_valid(wrong)


def test_rdf_has_a_detail_triple_for_each_finding_code() -> None:
    data = report(objects={7: WAYBILL})
    g = graph(data)
    about = submission_iri(BASE, INFO.file_id) + "/validation-report"
    for n, f in enumerate(FINDINGS, 1):
        detail = URIRef(f"{about}#finding-{n}-detail")
        error = URIRef(f"{about}#finding-{n}")
        assert (detail, API.hasCode, Literal(f.code)) in g
        assert (detail, API.hasMessage, Literal(f.message)) in g
        assert (error, API.hasErrorDetail, detail) in g
        assert (error, API.hasSeverity, API[f.severity.upper()]) in g
        assert (error, RDF.type, API.Error) in g
    assert set(g.objects(None, API.hasCode)) == {Literal(f.code) for f in FINDINGS}


def test_rdf_logistics_objects_properties_and_file() -> None:
    g = graph(report(objects={7: WAYBILL}))
    sub = URIRef(submission_iri(BASE, INFO.file_id))
    targets = {str(v).rpartition("#")[2]: o for v, o in g.subject_objects(API.hasLogisticsObject)}
    assert targets == {
        "file": sub, "line-1": sub, "line-7": URIRef(WAYBILL), "line-9": sub, "line-12": sub
    }  # fmt: skip
    # the ontology property at fault, typed xsd:anyURI, for record fields that have one
    props = set(g.objects(None, API.hasProperty))
    assert props == {
        Literal(str(CARGO.waybillNumber), datatype=ANY_URI),
        Literal(str(CARGO.totalGrossWeight), datatype=ANY_URI),
    }
    assert (sub, RDF.type, CARGO.ExternalReference) in g
    assert (sub, CARGO.checksum, Literal(INFO.sha256)) in g
    assert (sub, CASS.sandbox, Literal(True)) in g
    assert (None, CASS.issuedBy, URIRef(BASE)) in g
    counts = {
        str(g.value(c, CASS.countName)): g.value(c, CASS.countValue).toPython()  # type: ignore[union-attr]
        for c in g.subjects(RDF.type, CASS.Count)
    }
    assert counts == INFO.counts


def test_receipt_rdf_states_the_file_and_the_gateway() -> None:
    info = dataclasses.replace(INFO, outcome="duplicate", duplicate_of="01JDX3A0B1")
    g = graph(encode_receipt(info, base_iri=BASE))
    receipt = URIRef(submission_iri(BASE, info.file_id) + "/receipt")
    sub = URIRef(submission_iri(BASE, info.file_id))
    assert (receipt, RDF.type, CASS.Receipt) in g
    assert (receipt, CASS.forSubmission, sub) in g
    assert (receipt, CASS.outcome, CASS.DUPLICATE) in g
    assert (sub, CASS.duplicateOf, URIRef(submission_iri(BASE, "01JDX3A0B1"))) in g
    received = g.value(sub, CASS.receivedAt)
    assert isinstance(received, Literal)
    assert received.datatype == URIRef("http://www.w3.org/2001/XMLSchema#dateTime")
    assert str(received) == info.received_at
    assert not list(g.subjects(RDF.type, API.Verification))


# -- determinism ----------------------------------------------------------------------------------


def test_same_inputs_give_identical_bytes() -> None:
    reordered = dataclasses.replace(INFO, counts=dict(reversed(list(INFO.counts.items()))))
    copies = [dataclasses.replace(f) for f in FINDINGS]
    assert report() == report(reordered, copies)
    assert encode_receipt(INFO, base_iri=BASE) == encode_receipt(reordered, base_iri=BASE)
    assert report() != report(dataclasses.replace(INFO, size=INFO.size + 1))


# -- hostile texts --------------------------------------------------------------------------------

HOSTILE = (
    '</cargo:documentName><cass:sandbox>true</cass:sandbox><x y="&amp;">]]>'
    "\x00\x07\x1b[31m\r\n\t\ud800\ufffe\uffff\u202e🚚 .hot"
)


def test_hostile_file_name_stays_well_formed_and_comes_back() -> None:
    info = dataclasses.replace(INFO, file_name=HOSTILE, sandbox=False, user="a&b<c>")
    hostile = finding("FIELD_NOT_NUMERIC", HOSTILE, line=3, record_type="\x00<&", field=HOSTILE)
    for data in (report(info, [hostile]), encode_receipt(info, base_iri=BASE)):
        etree.fromstring(data)  # well-formed
        assert schema_valid(data)
        graph(data)
        assert b"<x " not in data and b"\x00" not in data and b"\r" not in data
    decoded, found = decode_validation_report(report(info, [hostile]))
    assert decoded == dataclasses.replace(info, file_name=sanitized(HOSTILE))
    assert decoded.sandbox is False  # no element smuggled in
    assert "\r\n\t" in decoded.file_name and "\u202e🚚" in decoded.file_name
    assert found == [
        dataclasses.replace(
            hostile, message=sanitized(HOSTILE), record_type="\ufffd<&", field=sanitized(HOSTILE)
        )
    ]


@settings(max_examples=150, deadline=None)
@given(name=st.text(), message=st.text())
def test_any_text_round_trips_up_to_xml_illegal_characters(name: str, message: str) -> None:
    info = dataclasses.replace(INFO, file_name=name, company=message)
    item = finding("FIELD_REQUIRED", message, line=2, field=name)
    decoded, found = decode_validation_report(report(info, [item]))
    assert decoded.file_name == sanitized(name)
    assert decoded.company == sanitized(message)
    assert found == [dataclasses.replace(item, message=sanitized(message), field=sanitized(name))]


# -- size and speed -------------------------------------------------------------------------------


def test_ten_thousand_findings_encode_well_under_a_second() -> None:
    many = [
        finding("AWB_CHECK_DIGIT", f"check digit of record {n}", line=n + 2, record_type="AWM",
                field="awb_serial", columns=(8, 15))
        for n in range(10_000)
    ]  # fmt: skip
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        data = report(findings=many)
        best = min(best, time.perf_counter() - start)
    assert best < 0.5
    assert data.count(b"<api:Verification ") == 10_000
    _, decoded = decode_validation_report(data)
    assert decoded == many


# -- refusals -------------------------------------------------------------------------------------


def codes(data: bytes, decode: Any = decode_validation_report, **kw: Any) -> list[str]:
    with pytest.raises(XmlRejectedError) as caught:
        decode(data, **kw)
    assert isinstance(caught.value, ValueError)
    return [f.code for f in caught.value.findings]


def test_decoders_refuse_what_is_not_their_message() -> None:
    good = report()
    receipt = encode_receipt(INFO, base_iri=BASE)
    decl = b'<?xml version="1.0" encoding="UTF-8"?>\n'
    bomb = decl + b'<!DOCTYPE r [<!ENTITY a "aaaa">]>' + good[len(decl) :]
    assert codes(bomb) == ["XML_DOCTYPE_FORBIDDEN"]
    assert codes(good[:-40]) == ["XML_MALFORMED"]
    assert codes(receipt) == ["XML_ROOT_UNKNOWN"]
    assert codes(good, decode_receipt) == ["XML_ROOT_UNKNOWN"]
    assert codes(good.replace(b"api#ERROR", b"api#FATAL")) == ["XML_SCHEMA_INVALID"]
    assert codes(receipt.replace(b"cass:userName>", b"cass:user>"), decode_receipt) == [
        "XML_SCHEMA_INVALID"
    ]
    assert codes(good, max_bytes=100) == ["FILE_TOO_LARGE"]
    relative = receipt.replace(
        b"<cass:sandbox", b'<cass:duplicateOf rdf:resource="x"/><cass:sandbox'
    )
    assert codes(relative, decode_receipt) == ["XML_SCHEMA_INVALID"]  # order fixed by the XSD


def test_duplicate_of_must_name_a_submission() -> None:
    info = dataclasses.replace(INFO, duplicate_of="old")
    data = encode_receipt(info, base_iri=BASE)
    assert decode_receipt(data).duplicate_of == "old"
    elsewhere = data.replace(b"/submissions/old", b"/files/old")
    assert codes(elsewhere, decode_receipt) == ["XML_VALUE_INVALID"]


@pytest.mark.parametrize(
    "change",
    [
        {"outcome": "maybe"},
        {"sha256": "ABC"},
        {"received_at": "2026-11-22T00:36:10"},  # no offset
        {"received_at": "2026-02-30T00:00:00Z"},  # no such day
        {"size": -1},
        {"counts": {"records": -2}},
        {"counts": {"": 1}},
        {"counts": {"\x00": 1, "\x01": 2}},  # the same name once made XML-safe
        {"country": "Deutschland"},
    ],
)
def test_encoders_refuse_values_the_schema_cannot_carry(change: dict[str, Any]) -> None:
    info = dataclasses.replace(INFO, **change)
    with pytest.raises(ValueError):
        encode_receipt(info, base_iri=BASE)
    with pytest.raises(ValueError):
        report(info)


def test_encoders_refuse_relative_or_broken_iris() -> None:
    for base in ("gw.example", "https://gw example", 'https://gw"x'):
        with pytest.raises(ValueError):
            encode_receipt(INFO, base_iri=base)
    with pytest.raises(ValueError):
        report(objects={7: "waybill-160-62144154"})
