"""CASS Import billing as ONE Record XML: HOT ⇄ XML both ways, the same findings as HOT, and a
golden document that the ontology tests read with rdflib and pyld."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date
from decimal import Decimal

import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from opencass.cli.samples import sample_billing_file
from opencass.codecs import hot
from opencass.codecs.hot.layouts import IMPORT
from opencass.codecs.hot.records import decoder_for
from opencass.codecs.onerecord import decode_submission, encode_submission, load_schema
from opencass.model import (
    BillingFile,
    BillingHeader,
    Dialect,
    ImportRecord,
    awb_check_digit,
)
from tests.kit import DATA, REPO
from tests.kit.imports import IBI, import_records

GOLDEN = DATA / "xml" / "import-submission.xml"
SCHEMA_DIR = REPO / "opencass" / "codecs" / "onerecord" / "schema"
EUR0 = Decimal("0.00")


def _serial(seven: str) -> str:
    return seven + str(awb_check_digit(seven))


def _record(rid: str, seven: str, **values: object) -> ImportRecord:
    base = dict.fromkeys(
        ("weight_charges", "charges_due_agent", "charges_due_carrier", "fee", "handling_charges",
         "storage_charges", "other_charge_1", "other_charge_2", "miscellaneous_charges"),
        EUR0,
    )  # fmt: skip
    fields: dict[str, object] = dict(
        record_id=rid, agent_code="DE054000001", airline_prefix="997", awb_serial=_serial(seven),
        origin="JFK", destination="FRA", flight="DE0401", arrival_date=date(2026, 12, 14),
        delivery_date=date(2026, 12, 15), gross_weight=Decimal("480.0"), weight_unit="K",
        currency="EUR", rate_of_exchange=Decimal("0.00000"), fee_charged="Y",
        other_charge_1_code="", other_charge_2_code="", **base,
    )  # fmt: skip
    fields.update(values)
    return ImportRecord(**fields)  # type: ignore[arg-type]


def import_file(*records: ImportRecord, record_id: str = "AA2", party: str = "") -> BillingFile:
    header = BillingHeader(record_id, "DE", "", date(2026, 12, 1), date(2026, 12, 31),
                           date(2026, 12, 31), "01", "EUR", agent_code=party)  # fmt: skip
    trailer = hot.build_trailer(header, records, Dialect.IMPORT, office="FRA")
    return BillingFile(Dialect.IMPORT, header, records, trailer)


def rich_import_file() -> BillingFile:
    """Every import value XML carries: fee charged and not, a USD record at a rate, coded,
    text-coded and code-less other charges, a correction pair."""
    return import_file(
        _record("IBI", "2000001", weight_charges=Decimal("1250.00"), fee=Decimal("25.00"),
                charges_due_carrier=Decimal("85.00"), handling_charges=Decimal("60.00"),
                storage_charges=Decimal("40.00"), other_charge_1_code="SC",
                other_charge_1=Decimal("12.50"), other_charge_2_code="ZZ",
                other_charge_2=Decimal("3.00")),
        _record("IBI", "2000002", weight_charges=Decimal("300.00"), fee=Decimal("25.00"),
                fee_charged="N", charges_due_agent=Decimal("7.00"),
                miscellaneous_charges=Decimal("1.10"), other_charge_2=Decimal("4.00"),
                flight="", weight_unit="L", gross_weight=Decimal("1058.2")),
        _record("IBI", "2000003", currency="USD", rate_of_exchange=Decimal("0.91234"),
                weight_charges=Decimal("100.00"), arrival_date=date(2026, 12, 1)),
        _record("IBO", "1999999", weight_charges=Decimal("500.00")),
        _record("IBR", "1999999", weight_charges=Decimal("350.00")),
    )  # fmt: skip


def test_the_rich_import_file_encodes_to_the_golden_document() -> None:
    doc = encode_submission(rich_import_file())
    if os.environ.get("OPENCASS_REGENERATE"):
        GOLDEN.write_bytes(doc)
    assert doc == GOLDEN.read_bytes()
    tree = etree.fromstring(doc).getroottree()
    schema = load_schema()
    assert schema.validate(tree), schema.error_log
    assert xmlschema.XMLSchema(str(SCHEMA_DIR / "cass.xsd")).is_valid(doc.decode("utf-8"))


def test_the_rich_import_file_round_trips_exactly() -> None:
    original = rich_import_file()
    result = decode_submission(encode_submission(original))
    assert result.valid, [f.as_dict() for f in result.findings]
    assert result.file == original
    assert result.file.dialect is Dialect.IMPORT and result.file.header.operation == "DE-I"
    assert result.counts["waybills"] == 3 and result.counts["corrections"] == 2
    assert hot.encode(result.file) == hot.encode(original)


def test_the_import_terms_are_where_the_mapping_says() -> None:
    doc = encode_submission(rich_import_file()).decode()
    for term in ("<cass:cassCountry>DE-I</cass:cassCountry>", "cargo:awbDeliveryDate",
                 "cass:arrivalDate", "<cass:flightNumber>DE0401<", "cass:importFee>",
                 "cass:importFeeCharged", "cass:handlingCharges", "cass:storageCharges",
                 "cass:miscellaneousCharges", "<cass:recipientCode>DE054000001<",
                 "OtherChargeCode#SC", "<cass:otherChargeCodeText>ZZ<",
                 "ChargeIdentifier#WT", "ChargeIdentifier#OA", "ChargeIdentifier#OC",
                 f"waybill-997-{_serial('1999999')}-ibo",
                 "<cass:recordType>IBR</cass:recordType>"):  # fmt: skip
        assert term in doc, term
    assert "cass:submittedBy" not in doc and "cass:recordType>AA2" not in doc
    assert "entitlement" not in doc  # import other charges have none


def test_the_hot_md_sample_record_survives_hot_to_xml_to_model() -> None:
    sample = decoder_for(IMPORT)(IBI.ljust(250), 2)
    file = import_file(replace(sample, reserved=()))
    back = decode_submission(encode_submission(file))
    assert back.file is not None and back.file.records == (replace(sample, reserved=()),)
    r = back.file.imports[0]
    assert (r.agent_code, r.awb, r.flight, r.currency, r.rate_of_exchange) == (
        "JP054000004", "006-70158700", "DL0619", "USD", Decimal("87.67000"),
    )  # fmt: skip
    assert (r.other_charge_1_code, r.other_charge_1) == ("", Decimal("1200000000.21"))


def test_an_aa3_hand_off_header_names_its_recipient() -> None:
    file = import_file(_record("IBI", "2000001"), record_id="AA3", party="054000001")
    doc = encode_submission(file)
    assert b"<cass:recordType>AA3</cass:recordType>" in doc
    back = decode_submission(doc)
    assert back.file is not None and back.file.header == file.header
    assert back.file.header.recipient == "DE054000001"


@settings(max_examples=60, deadline=None)
@given(st.lists(import_records(), min_size=1, max_size=6))
def test_generated_import_files_go_hot_xml_hot_byte_identical(records: list[ImportRecord]) -> None:
    data = hot.encode(import_file(*records))
    decoded = hot.decode(data)
    assert decoded.file is not None
    back = decode_submission(encode_submission(decoded.file))
    assert back.file is not None, [f.as_dict() for f in back.findings]
    assert hot.encode(back.file) == data  # the generator writes no reserved positions
    assert [f.code for f in back.findings] == [f.code for f in decoded.findings]


def _doc(record: ImportRecord) -> str:
    return encode_submission(import_file(record)).decode()


def _codes(doc: str) -> list[tuple[str, str | None]]:
    return [(f.code, f.field) for f in decode_submission(doc.encode()).findings]


def test_xml_import_records_get_the_same_record_findings_as_hot() -> None:
    late = _record("IBI", "2000001", delivery_date=date(2026, 12, 10))
    foreign = _record("IBI", "2000002", agent_code="FR054000001")
    records = (late, foreign)
    from_hot = hot.decode(hot.encode(import_file(*records)))
    from_xml = decode_submission(encode_submission(import_file(*records)))
    hot_codes = [(f.code, f.field) for f in from_hot.findings]
    assert [c for c, _ in hot_codes] == ["DELIVERY_BEFORE_ARRIVAL", "RECIPIENT_CODE_INVALID"]
    assert [(f.code, f.field) for f in from_xml.findings] == hot_codes
    assert from_xml.counts["rejected_records"] == 2


def test_values_without_a_place_on_an_import_record_are_reported() -> None:
    base = _doc(_record("IBI", "2000001", fee=Decimal("25.00"), weight_charges=Decimal("1.00")))
    missing = base.replace(
        '<cass:importFeeCharged rdf:datatype="http://www.w3.org/2001/XMLSchema#boolean">true'
        "</cass:importFeeCharged>", "")  # fmt: skip
    assert missing != base and _codes(missing) == [("FIELD_REQUIRED", "fee_charged")]
    use = '<cargo:awbUseIndicator rdf:resource="https://onerecord.iata.org/ns/code-lists/AWBUseIndicator#R"/>'
    export_only = base.replace("<cargo:awbDeliveryDate", use + "<cargo:awbDeliveryDate")
    assert _codes(export_only) == [("XML_VALUE_INVALID", "use_indicator")]
    vc = base.replace("ChargeIdentifier#WT", "ChargeIdentifier#VC")
    assert _codes(vc) == [("XML_VALUE_INVALID", "charges")]
    prepaid = base.replace("PrepaidCollectIndicator#C", "PrepaidCollectIndicator#P")
    assert _codes(prepaid) == [("XML_VALUE_INVALID", "charges")]


def test_an_import_other_charge_needs_its_position_and_no_entitlement() -> None:
    base = _doc(_record("IBI", "2000001", other_charge_1_code="SC", other_charge_1=Decimal("1.00")))
    position = '<cass:chargePosition rdf:datatype="http://www.w3.org/2001/XMLSchema#integer">1</cass:chargePosition>'
    assert position in base
    assert _codes(base.replace(position, "")) == [("XML_VALUE_INVALID", "charges")]
    twice = base.replace(position, position.replace(">1<", ">2<"))
    assert decode_submission(twice.encode()).file.imports[0].other_charge_2_code == "SC"  # type: ignore[union-attr]


def test_import_and_export_terms_do_not_mix() -> None:
    # an import term on an export record, and a recipient code as an export header's party
    export = encode_submission(sample_billing_file(date(2026, 11, 1))).decode()
    arrival = ('<cass:arrivalDate rdf:datatype="http://www.w3.org/2001/XMLSchema#dateTime">'
               "2026-11-01T00:00:00Z</cass:arrivalDate>")  # fmt: skip
    first = export.index("<cargo:vatIndicator")
    mixed = export[:first] + arrival + export[first:]
    assert ("XML_VALUE_INVALID", "arrival_date") in _codes(mixed)
    # an import file names no carrier
    carrier = ('<cass:submittedBy><cargo:Carrier rdf:about="https://opencass.invalid/logistics-'
               'objects/carrier-997"><cargo:prefix>997</cargo:prefix></cargo:Carrier>'
               "</cass:submittedBy>\n")  # fmt: skip
    doc = _doc(_record("IBI", "2000001"))
    with_carrier = doc.replace("<cass:cassCountry>", carrier + "<cass:cassCountry>")
    assert _codes(with_carrier) == [("HEADER_INVALID", "airline_prefix")]
    aaa = doc.replace(
        "<cass:cassCountry>", "<cass:recordType>AAA</cass:recordType>\n<cass:cassCountry>"
    )
    assert _codes(aaa) == [("HEADER_INVALID", "record_id")]
