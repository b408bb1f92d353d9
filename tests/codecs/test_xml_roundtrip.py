"""Billing submission XML: model → XML → model round trips, HOT → XML → HOT-model, XSD validity.

The rich file below uses the sample values of HOT.md and covers every record kind, every
indicator value the model knows and currencies with 0, 2 and 3 minor units.  Its encoding is
kept as a golden file (``tests/data/xml/rich-submission.xml``) that the other XML tests read,
as is an agent hand-off file (``agent-hand-off.xml``: the other file-level values); run with
``OPENCASS_REGENERATE=1`` to rewrite them after an intended change of the encoding.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from opencass.codecs import hot
from opencass.codecs.hot import build_trailer
from opencass.codecs.onerecord import decode_submission, encode_submission, load_schema
from opencass.model import (
    AwbRecord,
    BillingFile,
    BillingHeader,
    BillingTrailer,
    CorrectionRecord,
    DetailRecord,
    Dialect,
    OtherCharge,
    OtherChargesRecord,
    RawRecord,
)
from tests.kit import DATA as DATA_ROOT
from tests.kit import REPO

DATA = DATA_ROOT / "xml"
GOLDEN = DATA / "rich-submission.xml"
AGENT_GOLDEN = DATA / "agent-hand-off.xml"
SCHEMA_DIR = REPO / "opencass" / "codecs" / "onerecord" / "schema"
D = Decimal

HEADER = BillingHeader(
    "AAA",
    "DE",
    "160",
    date(2026, 11, 1),
    date(2026, 11, 30),
    date(2026, 12, 5),
    "01",
    "EUR",
    "",
    "",
)

AWB_SAMPLE = AwbRecord(  # the AWM sample line of HOT.md
    record_id="AWM",
    branch="",
    vat_indicator="N",
    airline_prefix="160",
    awb_serial="62144154",
    modulus_check="",
    origin="DUS",
    agent_code="23470068510",
    use_indicator="R",
    late_indicator="",
    destination="HKG",
    execution_date=date(2026, 11, 14),
    gross_weight=D("1190.0"),
    weight_unit="K",
    currency="EUR",
    weight_charge_prepaid=D("3462.90"),
    valuation_charge_prepaid=D("30.00"),
    other_charges_carrier_prepaid=D("1808.80"),
    other_charges_agent_prepaid=D("0.00"),
    weight_charge_collect=D("0.00"),
    valuation_charge_collect=D("0.00"),
    other_charges_carrier_collect=D("0.00"),
    other_charges_agent_collect=D("20.00"),
    commission_percentage=D("0.00"),
    commission=D("10.00"),
    tax_due_airline_indicator="",
    agent_reference="000000395080",
    acceptance_date=date(2026, 11, 16),
    rate_of_exchange=D("0.00000"),
    discount=D("-1320.90"),
    tax_due_airline=D("1320.40"),
    tax_due_agent=D("1.00"),
)

CORRECTION_SAMPLE = CorrectionRecord(  # the DCO sample line of HOT.md
    record_id="CCO",
    branch="",
    vat_indicator="N",
    airline_prefix="160",
    awb_serial="67828073",
    modulus_check="",
    origin="LEJ",
    agent_code="23470068510",
    reference="808640",
    currency="EUR",
    rate_of_exchange=D("0.00000"),
    execution_date=date(2026, 10, 7),
    weight_charge_pc="P",
    weight_charge=D("473.00"),
    valuation_charge_pc="C",
    valuation_charge=D("1.00"),
    taxes_pc="C",
    taxes=D("0.00"),
    other_charges_agent_pc="C",
    other_charges_agent=D("2.00"),
    other_charges_carrier_pc="P",
    other_charges_carrier=D("216.18"),
    vat_on_charges=D("0.00"),
    commission=D("3.00"),
    vat_on_commission=D("0.00"),
    discount=D("4.00"),
    weight_unit="K",
    gross_weight=D("215.0"),
    destination="MEX",
    reason="",
)


def rich_records() -> tuple[DetailRecord, ...]:
    """Every record kind and indicator value, in an order that exercises grouping."""
    awb = AWB_SAMPLE
    aw1 = OtherChargesRecord(
        "AW1", "160", "62144154", "", (OtherCharge("MY", "C", "P", D("1500.00")),)
    )
    aw1b = OtherChargesRecord(
        "AW1",
        "160",
        "62144154",
        "",
        (OtherCharge("SC", "C", "P", D("308.80")), OtherCharge("ZZ", "A", "C", D("20.00"))),
    )
    void = replace(
        awb,
        awb_serial="62144165",
        branch="1",
        vat_indicator="Y",
        modulus_check="M",
        use_indicator="V",
        late_indicator="L",
        origin="FRA",
        destination="JFK",
        gross_weight=D("0.0"),
        weight_unit="L",
        currency="USD",
        rate_of_exchange=D("1.08500"),
        commission_percentage=D("5.00"),
        tax_due_airline_indicator="T",
        agent_reference="",
        acceptance_date=None,
        **amounts(D("0.00"), discount=D("-0.00")),  # a negative zero survives too
    )
    service = replace(
        awb,
        awb_serial="62144176",
        record_id="AWB",
        use_indicator="S",
        vat_indicator="",
        currency="JPY",
        rate_of_exchange=D("0.00610"),
        invoice_indicator="I",
        commission_indicator="C",
        # a zero at a scale other than the currency's is kept as it is
        **amounts(D("0"), weight_charge_prepaid=D("123456"), commission=D("0.0")),
    )
    kwd = replace(
        awb,
        awb_serial="62144180",
        currency="KWD",
        rate_of_exchange=D("2.97500"),
        agent_code="23470128500",
        **amounts(D("0.000"), other_charges_agent_prepaid=D("12.345"), discount=D("-0.500")),
    )
    cco = CORRECTION_SAMPLE
    ccr = replace(cco, record_id="CCR", vat_indicator="Y", other_charges_carrier=D("546.68"))
    ccr_reason = replace(ccr, reason="WEIGHT CORRECTED AFTER RE-WEIGHING")
    cc3 = OtherChargesRecord(
        "CC3",
        "160",
        "67828073",
        "808640",
        (OtherCharge("MY", "C", "P", D("546.68")), OtherCharge("AW", "A", "C", D("2.00"))),
    )
    dco = replace(
        cco, record_id="DCO", reference="DCM001", taxes_pc="", taxes=D("0.00"), branch="2"
    )
    dcr = replace(dco, record_id="DCR", taxes_pc="P", taxes=D("12.50"), vat_on_charges=D("2.38"))
    ecr = replace(cco, record_id="ECR", reference="808641", modulus_check="M")
    orphan = OtherChargesRecord(
        "CC3", "160", "62144154", "999999", (OtherCharge("AW", "A", "C", D("1.00")),)
    )
    return (awb, aw1, aw1b, void, cco, ccr_reason, cc3, dco, dcr, service, ecr, orphan, kwd)


_AWB_AMOUNTS = (
    "weight_charge_prepaid",
    "valuation_charge_prepaid",
    "other_charges_carrier_prepaid",
    "other_charges_agent_prepaid",
    "weight_charge_collect",
    "valuation_charge_collect",
    "other_charges_carrier_collect",
    "other_charges_agent_collect",
    "commission",
    "discount",
    "tax_due_airline",
    "tax_due_agent",
)


def amounts(zero: Decimal, **values: Decimal) -> dict[str, Decimal]:
    """Every amount field of an AWB record at ``zero``, except ``values``."""
    return {**dict.fromkeys(_AWB_AMOUNTS, zero), **values}


def billing_file(
    records: tuple[DetailRecord, ...], header: BillingHeader = HEADER, office: str = "234"
) -> BillingFile:
    """A hand-off file of ``records`` with a trailer that fits them."""
    trailer = build_trailer(header, records, Dialect.HANDOFF, office=office)
    return BillingFile(Dialect.HANDOFF, header, records, trailer)


def rich_file() -> BillingFile:
    """The rich billing file of the golden document."""
    return billing_file(rich_records())


def strip_hot_only(file: BillingFile) -> BillingFile:
    """``file`` as XML can carry it: no reserved text, no raw records, counts recomputed."""
    records = tuple(replace(r, reserved=()) for r in file.records if not isinstance(r, RawRecord))
    header = replace(file.header, reserved=())
    trailer = build_trailer(header, records, Dialect.HANDOFF, office=file.trailer.office)
    trailer = replace(
        trailer,
        country=file.trailer.country,
        airline_prefix=file.trailer.airline_prefix,
        branch=file.trailer.branch,
    )
    return BillingFile(Dialect.HANDOFF, header, records, trailer)


def assert_same_records(a: BillingFile, b: BillingFile) -> None:
    """Field-by-field equality including each Decimal's exponent and sign."""
    assert len(a.records) == len(b.records)
    for x, y in zip(a.records, b.records, strict=True):
        assert type(x) is type(y)
        assert x == y
        for name in x.__slots__:  # type: ignore[union-attr]
            vx, vy = getattr(x, name), getattr(y, name)
            if isinstance(vx, Decimal):
                assert vx.as_tuple() == vy.as_tuple(), (name, vx, vy)


# -- golden document --------------------------------------------------------------------------


def test_rich_file_encodes_to_the_golden_document() -> None:
    doc = encode_submission(rich_file())
    if os.environ.get("OPENCASS_REGENERATE"):
        DATA.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_bytes(doc)
    assert doc == GOLDEN.read_bytes()


def test_encoded_document_is_valid_against_the_xsd_with_two_validators() -> None:
    doc = encode_submission(rich_file())
    tree = etree.fromstring(doc).getroottree()
    schema = load_schema()
    assert schema.validate(tree), schema.error_log
    assert xmlschema.XMLSchema(str(SCHEMA_DIR / "cass.xsd")).is_valid(doc.decode("utf-8"))


def test_rich_file_round_trips_exactly() -> None:
    original = rich_file()
    result = decode_submission(encode_submission(original))
    assert result.format == "xml" and result.dialect is None
    assert result.file is not None
    assert result.file == original
    assert_same_records(result.file, original)
    assert result.file.dialect is Dialect.HANDOFF


def test_rich_file_counts_and_findings() -> None:
    result = decode_submission(encode_submission(rich_file()))
    assert result.counts["waybills"] == 4
    assert result.counts["corrections"] == 5
    assert result.counts["other_charges"] == 4
    assert result.counts["records"] == 13
    # The ECR has no pair by design; the orphan CC3 follows a record it does not itemise.
    codes = sorted(f.code for f in result.findings)
    assert codes == ["CHARGES_ON_NON_REVENUE", "OTHER_CHARGES_ORPHAN"]
    assert result.valid


def test_decimals_keep_scale_and_sign() -> None:
    file = decode_submission(encode_submission(rich_file())).file
    assert file is not None
    void, service, kwd = file.records[3], file.records[9], file.records[12]
    assert isinstance(void, AwbRecord) and isinstance(service, AwbRecord)
    assert isinstance(kwd, AwbRecord)
    assert str(void.discount) == "-0.00" and void.discount.is_signed()
    assert str(void.weight_charge_prepaid) == "0.00"
    assert str(service.weight_charge_prepaid) == "123456"
    assert str(service.valuation_charge_prepaid) == "0"
    assert str(service.commission) == "0.0"
    assert str(kwd.other_charges_agent_prepaid) == "12.345"
    assert str(kwd.weight_charge_collect) == "0.000"
    assert str(void.rate_of_exchange) == "1.08500"


def test_amounts_are_written_fixed_point_typed_double_and_zeros_omitted() -> None:
    text = encode_submission(rich_file()).decode("utf-8")
    double = 'rdf:datatype="http://www.w3.org/2001/XMLSchema#double"'
    assert f"<cargo:numericalValue {double}>3462.90</cargo:numericalValue>" in text
    assert f"<cargo:discount {double}>-1320.90</cargo:discount>" in text
    assert f"<cargo:discount {double}>-0.00</cargo:discount>" in text
    first = text.split("<cass:hasWaybill>")[1]
    assert "#WT-C" not in first  # the AWB sample's collect weight charge is 0.00: omitted
    assert "2026-11-14T00:00:00Z" in first


def test_codes_are_code_list_links_and_uncoded_values_cass_literals() -> None:
    text = encode_submission(rich_file()).decode("utf-8")
    cl = "https://onerecord.iata.org/ns/code-lists/"
    for member in (
        "AWBUseIndicator#R",
        "AWBUseIndicator#S",
        "AWBUseIndicator#V",
        "PrepaidCollectIndicator#P",
        "PrepaidCollectIndicator#C",
        "EntitlementCode#A",
        "EntitlementCode#C",
        "MeasurementUnitCode#KGM",
        "MeasurementUnitCode#LBR",
        "OtherChargeCode#MY",
        "ChargeIdentifier#TX",
        "ParticipantIdentifier#AGT",
    ):
        assert f'rdf:resource="{cl}{member}"' in text
    assert "<cass:otherChargeCodeText>ZZ</cass:otherChargeCodeText>" in text


def test_shared_locations_are_described_once_and_linked_after() -> None:
    text = encode_submission(rich_file()).decode("utf-8")
    dus = "https://opencass.invalid/logistics-objects/location-DUS"
    assert text.count(f'<cargo:Location rdf:about="{dus}">') == 1
    assert text.count(f'rdf:resource="{dus}"') >= 2


def test_base_iri_is_used_for_every_node() -> None:
    text = encode_submission(rich_file(), base_iri="https://gw.example").decode("utf-8")
    assert "opencass.invalid" not in text
    assert 'rdf:about="https://gw.example/logistics-objects/waybill-160-62144154"' in text
    assert decode_submission(text.encode()).file == rich_file()


def test_each_record_starts_its_own_line() -> None:
    file = rich_file()
    result = decode_submission(encode_submission(replace(file, records=file.records[:3])))
    assert result.file is not None
    # Findings point at lines: a wrong check digit on the second itemised record's AWB would
    # reject only it. Here: three records, three distinct lines.
    lines = encode_submission(replace(file, records=file.records[:3])).decode().splitlines()
    assert sum("<cargo:otherCharges>" in ln[:22] for ln in lines) == 2


# -- file-level values ------------------------------------------------------------------------


def agent_hand_off_file() -> BillingFile:
    """A hand-off to one agent: billed party, half a month, a trailer naming a carrier."""
    header = replace(
        HEADER,
        airline_prefix="",
        agent_code="2347006",
        period_start=date(2026, 11, 1),
        period_end=date(2026, 11, 15),
        branch="B",
    )
    file = billing_file((AWB_SAMPLE,), header, office="")
    return replace(file, trailer=replace(file.trailer, airline_prefix="160", branch="9"))


def test_agent_hand_off_header_half_month_and_trailer_identity() -> None:
    file = agent_hand_off_file()
    doc = encode_submission(file)
    if os.environ.get("OPENCASS_REGENERATE"):
        AGENT_GOLDEN.write_bytes(doc)
    assert doc == AGENT_GOLDEN.read_bytes()
    assert b"<cass:billingPeriod>2026-11-01/2026-11-15</cass:billingPeriod>" in doc
    assert b"<cass:billedParty>" in doc and b"<cass:FileTrailer" in doc
    assert decode_submission(doc).file == file


def test_trailer_identity_that_differs_from_the_header_survives() -> None:
    file = rich_file()
    trailer = replace(file.trailer, country="AT", airline_prefix="172", branch="9")
    file = replace(file, trailer=trailer)
    doc = encode_submission(file)
    assert b"<cass:FileTrailer" in doc
    decoded = decode_submission(doc).file
    assert decoded is not None and decoded.trailer == trailer


def test_participant_header_fields_survive() -> None:
    header = replace(HEADER, record_id="ALS", currency="")
    file = billing_file((AWB_SAMPLE,), header)
    decoded = decode_submission(encode_submission(file)).file
    assert decoded is not None and decoded.header == header


def test_a_file_without_awb_or_correction_records_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="at least one"):
        encode_submission(billing_file(()))


def test_values_outside_their_code_list_are_refused_on_encoding() -> None:
    with pytest.raises(ValueError, match="code list"):
        encode_submission(billing_file((replace(AWB_SAMPLE, use_indicator="X"),)))
    with pytest.raises(ValueError, match="control characters"):
        encode_submission(billing_file((replace(AWB_SAMPLE, agent_reference="A\x00B"),)))


# -- HOT → model → XML → model -----------------------------------------------------------------

AWM_LINE = (  # the samples of HOT.md, verbatim
    "AWM N16062144154  DUS23470068510R   HKG0808140011900KEUR0000003462900000000030000000001808"
    "800000000000000000000000000000000000000000000000000000000020000000000000001000 00000039508"
    "0            08090400000.000000000001320900013204000000100000180     -"
)
DCO_LINE = (
    "DCO N17267828073  LEJ23470068510808640EUR00000.00000080607P000000047300C000000000100C00000"
    "0000000C000000000200P000000021618000000000000000000000300000000000000000000000400 K0002150"
    "MEX"
)
CCR_LINE = (
    "CCR Y17267828073  LEJ23470068510808640EUR00000.00000080607P000000047300C000000000000C00000"
    "0000000C000000000000P000000054668100200300004000000000000000000001004000000000400 K0002150"
    "MEX"
)


def hot_file(*lines: str) -> bytes:
    """A HOT hand-off file around ``lines`` (the header and trailer samples of HOT.md)."""
    body = ["AAADE   03120103123104011501EUR", *lines, "TTT DE234    0000136000000000000000000136"]
    return "".join(line.ljust(250) + "\n" for line in body).encode("ascii")


def test_hot_sample_lines_survive_hot_to_xml_to_model() -> None:
    dco_as_cco = "CCO" + DCO_LINE[3:]
    decoded_hot = hot.decode(hot_file(AWM_LINE, dco_as_cco, CCR_LINE))
    assert decoded_hot.file is not None
    expected = strip_hot_only(decoded_hot.file)
    result = decode_submission(encode_submission(decoded_hot.file))
    assert result.file == expected
    assert_same_records(result.file, expected)
    awb = result.file.records[0]
    assert isinstance(awb, AwbRecord)
    assert awb.weight_charge_prepaid == D("3462.90") and awb.discount == D("-1320.90")


def test_xml_gets_the_same_record_findings_as_hot() -> None:
    bad_digit = AWM_LINE[:15] + "5" + AWM_LINE[16:]  # serial 62144155: check digit wrong
    data = hot_file(AWM_LINE, AWM_LINE, bad_digit, DCO_LINE, CCR_LINE)
    from_hot = hot.decode(data)
    assert from_hot.file is not None
    from_xml = decode_submission(encode_submission(from_hot.file))
    hot_only = {"TRAILER_COUNT_MISMATCH"}
    want = sorted((f.code, f.record_type) for f in from_hot.findings if f.code not in hot_only)
    got = sorted((f.code, f.record_type) for f in from_xml.findings)
    assert got == want
    assert {"AWB_DUPLICATE", "AWB_CHECK_DIGIT", "CORRECTION_REVISED_MISSING"} <= {c for c, _ in got}


def test_participant_dialect_round_trip_through_hot_and_xml() -> None:
    header = replace(HEADER, record_id="ALS", currency="", airline_prefix="160")
    awb = replace(AWB_SAMPLE, record_id="AWB", invoice_indicator="I", commission_indicator="C")
    records: tuple[DetailRecord, ...] = (awb,)
    trailer = build_trailer(header, records, Dialect.PARTICIPANT)
    participant = BillingFile(Dialect.PARTICIPANT, header, records, trailer)
    from_hot = hot.decode(hot.encode(participant))
    assert from_hot.file is not None and from_hot.dialect == "participant"
    result = decode_submission(encode_submission(from_hot.file))
    assert result.file == strip_hot_only(from_hot.file)


# -- property: random AWB records round trip ---------------------------------------------------

CURRENCIES = {"EUR": 2, "JPY": 0, "KWD": 3, "USD": 2}


@st.composite
def awb_records(draw: st.DrawFn) -> AwbRecord:
    currency = draw(st.sampled_from(sorted(CURRENCIES)))
    places = CURRENCIES[currency]

    def amount(signed: bool = False) -> Decimal:
        units = draw(st.integers(-(10**11) if signed else 0, 10**12 - 1))
        value = Decimal(units).scaleb(-places)
        return value.copy_negate() if signed and units == 0 and draw(st.booleans()) else value

    serial7 = draw(st.integers(0, 9_999_999))
    return replace(
        AWB_SAMPLE,
        awb_serial=f"{serial7:07d}{serial7 % 7}",
        currency=currency,
        vat_indicator=draw(st.sampled_from(["Y", "N", ""])),
        use_indicator=draw(st.sampled_from("RSV")),
        late_indicator=draw(st.sampled_from(["L", ""])),
        weight_unit=draw(st.sampled_from("KL")),
        gross_weight=Decimal(draw(st.integers(0, 9_999_999))).scaleb(-1),
        agent_reference=draw(st.text("ABC 0123<&>\"'", max_size=14)).rstrip(),
        acceptance_date=draw(st.none() | st.dates(date(1980, 1, 1), date(2079, 12, 31))),
        rate_of_exchange=Decimal(draw(st.integers(0, 10**10 - 1))).scaleb(-5),
        commission_percentage=Decimal(draw(st.integers(0, 9999))).scaleb(-2),
        discount=amount(signed=True),
        **{n: amount() for n in _AWB_AMOUNTS if n != "discount"},
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(awb_records(), min_size=1, max_size=4))
def test_random_awb_records_round_trip(records: list[AwbRecord]) -> None:
    file = billing_file(tuple(records))
    result = decode_submission(encode_submission(file))
    assert result.file == file
    assert_same_records(result.file, file)


def test_trailer_from_build_trailer_matches_decoded_counts() -> None:
    decoded = decode_submission(encode_submission(rich_file())).file
    assert decoded is not None
    t: BillingTrailer = decoded.trailer
    assert (t.awb_count, t.cca_count, t.dcm_count) == (4, 2, 2)
    assert t.total_count == 8 and t.office == "234"
