"""HOT records: the HOT.md samples, round trips per layout, field diagnostics, fast = diagnostic."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencass.codecs.hot.layouts import (
    AWB_HANDOFF,
    AWB_PARTICIPANT,
    CORRECTION,
    HEADER_HANDOFF,
    HEADER_PARTICIPANT,
    OTHER_CHARGES,
    TRAILER_HANDOFF,
    TRAILER_PARTICIPANT,
    Kind,
    Layout,
)
from opencass.codecs.hot.records import (
    EncodeError,
    Malformed,
    check_fields,
    decoder_for,
    encode_record,
    parse_date,
)
from opencass.findings import Scope, Severity
from opencass.model import (
    AwbRecord,
    BillingHeader,
    BillingTrailer,
    CorrectionRecord,
    OtherCharge,
    OtherChargesRecord,
)
from tests.kit.hot import (
    AAA_SAMPLE,
    AGENT,
    AWM_SAMPLE,
    CCR_SAMPLE,
    DCO_SAMPLE,
    PARTICIPANT,
    TTT_SAMPLE,
    assert_same_record,
    blank_reserved,
    make_awb,
    make_correction,
    make_header,
    make_other_charges,
    money,
    pad,
)

HYPOTHESIS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))


def decode(layout: Layout, line: str, mu: int = 2) -> Any:
    return decoder_for(layout)(line, mu)


def put(line: str, start: int, text: str) -> str:
    """``line`` with ``text`` written from 1-based position ``start``."""
    return line[: start - 1] + text + line[start - 1 + len(text) :]


# --- the HOT.md samples ------------------------------------------------------------------------


def test_awm_sample_decodes_to_the_values_hot_md_states() -> None:
    rec = decode(AWB_HANDOFF, AWM_SAMPLE)
    assert len(AWM_SAMPLE) == 250
    assert isinstance(rec, AwbRecord)
    assert (rec.record_id, rec.airline_prefix, rec.awb_serial) == ("AWM", "160", "62144154")
    assert rec.awb == "160-62144154"
    assert (rec.origin, rec.destination) == ("DUS", "HKG")
    assert rec.agent_code == "23470068510" == AGENT
    assert (rec.gross_weight, rec.weight_unit) == (Decimal("1190.0"), "K")
    assert rec.gross_weight.as_tuple() == Decimal("1190.0").as_tuple()
    assert rec.currency == "EUR"
    assert rec.weight_charge_prepaid.as_tuple() == Decimal("3462.90").as_tuple()
    assert rec.other_charges_agent_collect.as_tuple() == Decimal("20.00").as_tuple()
    assert rec.commission.as_tuple() == Decimal("10.00").as_tuple()
    assert rec.discount.as_tuple() == Decimal("-1320.90").as_tuple()
    # the other fields, read with HOT.md's table
    assert (rec.vat_indicator, rec.use_indicator, rec.late_indicator) == ("N", "R", "")
    assert rec.execution_date == date(2008, 8, 14)
    assert rec.acceptance_date == date(2008, 9, 4)
    assert rec.valuation_charge_prepaid == Decimal("30.00")
    assert rec.other_charges_carrier_prepaid == Decimal("1808.80")
    for name in (
        "other_charges_agent_prepaid",
        "weight_charge_collect",
        "valuation_charge_collect",
        "other_charges_carrier_collect",
    ):
        assert getattr(rec, name).as_tuple() == Decimal("0.00").as_tuple(), name
    assert rec.commission_percentage.as_tuple() == Decimal("0.00").as_tuple()
    assert rec.agent_reference == "000000395080"
    assert rec.rate_of_exchange.as_tuple() == Decimal("0.00000").as_tuple()
    assert (rec.tax_due_airline, rec.tax_due_agent) == (Decimal("1320.40"), Decimal("1.00"))
    assert rec.reserved == (" ", "  ", " " * 10, "000180     ")


def test_awm_sample_has_valid_check_digits_and_no_field_findings() -> None:
    assert int("6214415") % 7 == 4
    assert int("2347006851") % 7 == 0
    assert check_fields(AWB_HANDOFF, AWM_SAMPLE, 1) == []


def test_aaa_sample_decodes_to_the_values_hot_md_states() -> None:
    rec = decode(HEADER_HANDOFF, pad(AAA_SAMPLE))
    assert isinstance(rec, BillingHeader)
    assert rec.record_id == "AAA"
    assert rec.country == "DE"
    assert rec.airline_prefix == ""  # blank in the sample
    assert (rec.period_start, rec.period_end) == (date(2003, 12, 1), date(2003, 12, 31))
    assert rec.billing_date == date(2004, 1, 15)
    assert rec.file_number == "01"
    assert rec.currency == "EUR"
    assert (rec.branch, rec.agent_code) == ("", "")


def test_dco_sample_decodes() -> None:
    assert len(DCO_SAMPLE) == 183
    rec = decode(CORRECTION, pad(DCO_SAMPLE))
    assert isinstance(rec, CorrectionRecord)
    assert (rec.record_id, rec.kind, rec.is_original) == ("DCO", "DCM", True)
    assert (rec.vat_indicator, rec.airline_prefix, rec.awb_serial) == ("N", "172", "67828073")
    assert (rec.origin, rec.destination, rec.agent_code) == ("LEJ", "MEX", AGENT)
    assert (rec.reference, rec.currency) == ("808640", "EUR")
    assert rec.rate_of_exchange.as_tuple() == Decimal("0.00000").as_tuple()
    assert rec.execution_date == date(2008, 6, 7)
    assert (rec.weight_charge_pc, rec.weight_charge) == ("P", Decimal("473.00"))
    assert (rec.valuation_charge_pc, rec.valuation_charge) == ("C", Decimal("1.00"))
    assert (rec.taxes_pc, rec.taxes) == ("C", Decimal("0.00"))
    assert (rec.other_charges_agent_pc, rec.other_charges_agent) == ("C", Decimal("2.00"))
    assert (rec.other_charges_carrier_pc, rec.other_charges_carrier) == ("P", Decimal("216.18"))
    assert (rec.vat_on_charges, rec.commission) == (Decimal("0.00"), Decimal("3.00"))
    assert (rec.vat_on_commission, rec.discount) == (Decimal("0.00"), Decimal("4.00"))
    assert not rec.discount.is_signed()
    assert (rec.weight_unit, rec.gross_weight) == ("K", Decimal("215.0"))
    assert rec.reason == ""
    assert rec.weight_charge.as_tuple() == Decimal("473.00").as_tuple()


def test_ccr_sample_decodes() -> None:
    assert len(CCR_SAMPLE) == 183
    rec = decode(CORRECTION, pad(CCR_SAMPLE))
    assert (rec.record_id, rec.kind, rec.is_revised) == ("CCR", "CCA", True)
    assert (rec.vat_indicator, rec.airline_prefix, rec.awb_serial) == ("Y", "172", "67828073")
    assert rec.reference == "808640"
    assert rec.weight_charge == Decimal("473.00")
    assert rec.other_charges_carrier == Decimal("546.68")
    assert rec.vat_on_charges == Decimal("1002003000.04")
    assert rec.vat_on_commission == Decimal("10.04")
    assert rec.discount == Decimal("4.00")
    assert rec.gross_weight == Decimal("215.0")


def test_ttt_sample_decodes_to_the_values_hot_md_states() -> None:
    rec = decode(TRAILER_HANDOFF, pad(TTT_SAMPLE))
    assert isinstance(rec, BillingTrailer)
    assert (rec.country, rec.office, rec.airline_prefix, rec.branch) == ("DE", "234", "", "")
    assert (rec.awb_count, rec.cca_count, rec.dcm_count, rec.total_count) == (136, 0, 0, 136)
    assert rec.hash_total is None
    assert dict(rec.type_counts) == dict.fromkeys(
        ("AWM", "AW1", "AW2", "AW3", "AW4", "AW5", "CCR", "CCO", "DCR", "DCO")
    )


@pytest.mark.parametrize(
    ("layout", "sample"),
    [
        (AWB_HANDOFF, AWM_SAMPLE),
        (HEADER_HANDOFF, AAA_SAMPLE),
        (CORRECTION, DCO_SAMPLE),
        (CORRECTION, CCR_SAMPLE),
        (TRAILER_HANDOFF, TTT_SAMPLE),
    ],
    ids=["AWM", "AAA", "DCO", "CCR", "TTT"],
)
def test_samples_re_encode_byte_identically_padded_to_250(layout: Layout, sample: str) -> None:
    line = pad(sample)
    out = encode_record(layout, decode(layout, line))
    assert len(out) == 250
    assert out == line
    assert check_fields(layout, line, 1) == []


@pytest.mark.parametrize(
    ("currency", "expected", "discount", "zero"),
    [("JPY", "346290", "-132090", "0"), ("KWD", "346.290", "-132.090", "0.000")],
)
def test_amounts_scale_by_the_currency_of_the_record(
    currency: str, expected: str, discount: str, zero: str
) -> None:
    line = put(AWM_SAMPLE, 54, currency)
    rec = decode(AWB_HANDOFF, line)
    assert rec.weight_charge_prepaid.as_tuple() == Decimal(expected).as_tuple()
    assert rec.discount.as_tuple() == Decimal(discount).as_tuple()
    assert rec.weight_charge_collect.as_tuple() == Decimal(zero).as_tuple()
    # weight and commission % keep their fixed implied decimals whatever the currency
    assert rec.gross_weight.as_tuple() == Decimal("1190.0").as_tuple()
    assert rec.commission_percentage.as_tuple() == Decimal("0.00").as_tuple()
    assert encode_record(AWB_HANDOFF, rec) == line


def test_jpy_and_kwd_amounts_are_written_with_their_minor_units() -> None:
    jpy = make_awb(currency="JPY", weight_charge_prepaid=Decimal(346290), discount=Decimal(-5))
    line = encode_record(AWB_HANDOFF, jpy)
    assert line[56:68] == "000000346290"
    assert line[210:222] == "000000000005" and line[249] == "-"
    kwd = make_awb(currency="KWD", weight_charge_prepaid=Decimal("346.29"))
    line = encode_record(AWB_HANDOFF, kwd)
    assert line[56:68] == "000000346290"
    back = decode(AWB_HANDOFF, line)
    assert back.weight_charge_prepaid.as_tuple() == Decimal("346.290").as_tuple()


# --- table-driven round trips ------------------------------------------------------------------


def _trailer_handoff(**changes: Any) -> BillingTrailer:
    ids = ("AWM", "AW1", "AW2", "AW3", "AW4", "AW5", "CCR", "CCO", "DCR", "DCO")
    base = BillingTrailer(
        country="DE",
        airline_prefix="160",
        awb_count=3,
        cca_count=2,
        dcm_count=2,
        total_count=7,
        office="234",
        branch="",
        type_counts=tuple(zip(ids, (3, 1, 0, 0, 0, 0, 1, 1, 1, 1), strict=True)),
        hash_total=None,
        reserved=blank_reserved(TRAILER_HANDOFF),
    )
    return replace(base, **changes)


def _trailer_participant(**changes: Any) -> BillingTrailer:
    base = BillingTrailer(
        country="DE",
        airline_prefix="160",
        awb_count=2,
        cca_count=2,
        dcm_count=0,
        total_count=4,
        office="",
        branch="",
        type_counts=(("AW1", 1), ("CC3", 0), ("DC3", 0)),
        hash_total=270000061,
        reserved=blank_reserved(TRAILER_PARTICIPANT),
    )
    return replace(base, **changes)


def _oc(rid: str, charges: tuple[tuple[str, str, str, str], ...], **kw: Any) -> Any:
    return make_other_charges(rid, charges, **kw)


ROUND_TRIPS: list[tuple[str, Layout, Any]] = [
    ("AAA hand-off", HEADER_HANDOFF, make_header()),
    ("AAA agent hand-off", HEADER_HANDOFF, make_header(airline_prefix="", agent_code="2347006")),
    ("AAA branch JPY", HEADER_HANDOFF, make_header(branch="B", currency="JPY", file_number="12")),
    ("ALS participant", HEADER_PARTICIPANT, make_header(PARTICIPANT)),
    ("AAA participant", HEADER_PARTICIPANT, make_header(PARTICIPANT, record_id="AAA", branch="1")),
    ("AWM hand-off", AWB_HANDOFF, make_awb()),
    ("AWM late void", AWB_HANDOFF, make_awb(late_indicator="L", use_indicator="V")),
    ("AWM service lb", AWB_HANDOFF, make_awb(use_indicator="S", weight_unit="L", branch="2")),
    ("AWM no acceptance", AWB_HANDOFF, make_awb(acceptance_date=None, vat_indicator="")),
    (
        "AWM all amounts",
        AWB_HANDOFF,
        make_awb(
            **{
                n: money(f"{i + 1}{i + 1}.{i}5")
                for i, n in enumerate(
                    (
                        "weight_charge_prepaid",
                        "valuation_charge_prepaid",
                        "other_charges_carrier_prepaid",
                        "other_charges_agent_prepaid",
                        "weight_charge_collect",
                        "valuation_charge_collect",
                        "other_charges_carrier_collect",
                        "other_charges_agent_collect",
                        "commission",
                        "tax_due_airline",
                        "tax_due_agent",
                    )
                )
            },
            discount=-money("1320.90"),
            rate_of_exchange=Decimal("1.08125"),
            commission_percentage=Decimal("12.50"),
            tax_due_airline_indicator="Y",
            modulus_check="M",
        ),
    ),
    ("AWM JPY", AWB_HANDOFF, make_awb(currency="JPY", weight_charge_prepaid=Decimal(999999))),
    ("AWM KWD", AWB_HANDOFF, make_awb(currency="KWD", discount=-money("0.125", "KWD"))),
    ("AWM participant", AWB_PARTICIPANT, make_awb(PARTICIPANT)),
    (
        "AWB participant",
        AWB_PARTICIPANT,
        make_awb(
            PARTICIPANT,
            record_id="AWB",
            invoice_indicator="I",
            commission_indicator="C",
            branch="3",
            discount=-money("7.50"),
            tax_due_airline=money("123456789.01"),
            currency="USD",
            rate_of_exchange=Decimal("0.92500"),
        ),
    ),
    ("CCO", CORRECTION, make_correction("CCO")),
    ("CCR", CORRECTION, make_correction("CCR", reason="WEIGHT CORRECTED AFTER RECHECK")),
    ("DCO", CORRECTION, make_correction("DCO", discount=-money(4), weight_charge_pc="")),
    ("DCR", CORRECTION, make_correction("DCR", taxes_pc="P", taxes=money("1.50"))),
    ("ECR", CORRECTION, make_correction("ECR", reference="E12345", reason="x" * 50)),
    ("CCO JPY", CORRECTION, make_correction("CCO", currency="JPY", weight_charge=Decimal(47300))),
    ("AW1", OTHER_CHARGES, _oc("AW1", (("MY", "C", "P", "15.00"), ("AW", "A", "C", "20.00")))),
    (
        "AW1 12 slots",
        OTHER_CHARGES,
        _oc("AW1", tuple((f"C{chr(65 + i)}", "C", "P", "1.00") for i in range(12))),
    ),
    ("AW1 empty", OTHER_CHARGES, _oc("AW1", ())),
    ("CC3", OTHER_CHARGES, _oc("CC3", (("SC", "A", "P", "2.00"),), reference="000123")),
    ("DC3", OTHER_CHARGES, _oc("DC3", (("SC", "C", "C", "3.00"),), reference="D00001")),
    ("TTT hand-off", TRAILER_HANDOFF, _trailer_handoff()),
    (
        "TTT agent hand-off",
        TRAILER_HANDOFF,
        _trailer_handoff(
            airline_prefix="",
            type_counts=_trailer_handoff().type_counts[:1]
            + tuple((rid, None) for rid, _ in _trailer_handoff().type_counts[1:]),
        ),
    ),
    ("TTT participant", TRAILER_PARTICIPANT, _trailer_participant()),
    ("TTT participant no hash", TRAILER_PARTICIPANT, _trailer_participant(hash_total=None)),
]


@pytest.mark.parametrize(
    ("layout", "record"), [r[1:] for r in ROUND_TRIPS], ids=[r[0] for r in ROUND_TRIPS]
)
def test_model_encode_decode_gives_an_equal_model(layout: Layout, record: Any) -> None:
    line = encode_record(layout, record)
    assert len(line) == 250
    assert check_fields(layout, line, 7) == []
    back = decode(layout, line)
    assert_same_record(back, record)
    assert encode_record(layout, back) == line


@pytest.mark.parametrize(
    ("layout", "record"), [r[1:] for r in ROUND_TRIPS], ids=[r[0] for r in ROUND_TRIPS]
)
def test_decode_encode_keeps_reserved_positions_verbatim(layout: Layout, record: Any) -> None:
    line = encode_record(layout, record)
    res = [f for f in layout.fields if f.kind is Kind.RES]
    for i, f in enumerate(res):
        line = put(line, f.start, (str(i) + "#R" * f.width)[: f.width])
    back = decode(layout, line)
    assert back.reserved == tuple(line[f.start - 1 : f.end] for f in res)
    assert encode_record(layout, back) == line


def test_participant_header_has_no_currency() -> None:
    header = decode(HEADER_PARTICIPANT, encode_record(HEADER_PARTICIPANT, make_header(PARTICIPANT)))
    assert (header.record_id, header.airline_prefix, header.currency) == ("ALS", "160", "")


def test_other_charges_scale_by_the_minor_units_passed_in() -> None:
    line = encode_record(OTHER_CHARGES, _oc("AW1", (("MY", "C", "P", "15.00"),)))
    assert line[24:40] == "MYCP000000001500"
    assert decode(OTHER_CHARGES, line, 2).charges == (
        OtherCharge("MY", "C", "P", Decimal("15.00")),
    )
    jpy = decode(OTHER_CHARGES, line, 0).charges[0].amount
    assert jpy.as_tuple() == Decimal(1500).as_tuple()


@pytest.mark.parametrize(
    ("slots", "why"),
    [
        (" " * 16 + "MYCP000000001500", "a used slot after a blank one"),
        ("MYXP000000001500", "entitlement X"),
        ("MYCX000000001500", "P/C X"),
        ("MYCP0000000015O0", "letter O in the amount"),
        ("M CP000000001500", "code with a blank"),
    ],
)
def test_other_charges_slots_that_do_not_fit_are_malformed(slots: str, why: str) -> None:
    line = put(encode_record(OTHER_CHARGES, _oc("AW1", ())), 25, slots)
    with pytest.raises(Malformed):
        decode(OTHER_CHARGES, line)


def test_encode_record_writes_id_from_the_layout_when_the_model_has_none() -> None:
    line = encode_record(TRAILER_HANDOFF, _trailer_handoff())
    assert line.startswith("TTT DE234160 000000300000020000002000000700000030000001")


# --- encode errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layout", "record", "match"),
    [
        (AWB_HANDOFF, make_awb(origin="DUSS"), "origin"),
        (AWB_HANDOFF, make_awb(weight_charge_prepaid=Decimal("1.001")), "decimal"),
        (AWB_HANDOFF, make_awb(currency="JPY", commission=Decimal("1.5")), "decimal"),
        (AWB_HANDOFF, make_awb(weight_charge_prepaid=Decimal("10000000000.00")), "12 digits"),
        (AWB_HANDOFF, make_awb(tax_due_airline=Decimal("1000000.00")), "8 digits"),
        (AWB_HANDOFF, make_awb(gross_weight=Decimal("1000000.0")), "7 digits"),
        (AWB_HANDOFF, make_awb(execution_date=date(1979, 12, 31)), "1980"),
        (AWB_HANDOFF, make_awb(acceptance_date=date(2080, 1, 1)), "2079"),
        (AWB_HANDOFF, make_awb(rate_of_exchange=Decimal(100000)), "00000.00000"),
        (AWB_HANDOFF, make_awb(rate_of_exchange=Decimal(-1)), "00000.00000"),
        (AWB_HANDOFF, make_awb(reserved=(" ", " ", " " * 10, " " * 11)), "reserved"),
        (CORRECTION, make_correction(reference="1234567"), "reference"),
        (OTHER_CHARGES, _oc("AW1", tuple(("MY", "C", "P", "1.00") for _ in range(13))), "12"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_values_that_do_not_fit_raise_encode_error(layout: Layout, record: Any, match: str) -> None:
    with pytest.raises(EncodeError, match=match):
        encode_record(layout, record)


@pytest.mark.parametrize("code", ["MYX", "M", ""])
def test_other_charge_code_that_is_not_two_characters_raises_encode_error(code: str) -> None:
    # The slot has exactly 2 characters for the code; "MYX" must not be cut to "MY" and "M"
    # must not be written as "M " (a slot the reader itself refuses).
    with pytest.raises(EncodeError):
        encode_record(OTHER_CHARGES, _oc("AW1", ((code, "C", "P", "1.00"),)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("800101", date(1980, 1, 1)),
        ("991231", date(1999, 12, 31)),
        ("000229", date(2000, 2, 29)),
        ("791231", date(2079, 12, 31)),
        ("081332", None),
        ("010229", None),
        ("080800", None),
        ("08081 ", None),
        ("      ", None),
    ],
)
def test_parse_date_window(text: str, expected: date | None) -> None:
    if expected is None:
        with pytest.raises(Malformed):
            parse_date(text)
    else:
        assert parse_date(text) == expected


# --- field diagnostics -------------------------------------------------------------------------

FIELD_CASES = [
    # (layout, base line, position, replacement, code, field, columns)
    (AWB_HANDOFF, 57, "0000003462A0", "FIELD_NOT_NUMERIC", "weight_charge_prepaid", (57, 68)),
    (AWB_HANDOFF, 40, "081332", "FIELD_INVALID_DATE", "execution_date", (40, 45)),
    (AWB_HANDOFF, 194, "000000", "FIELD_INVALID_DATE", "acceptance_date", (194, 199)),
    (AWB_HANDOFF, 33, "X", "FIELD_INVALID_INDICATOR", "use_indicator", (33, 33)),
    (AWB_HANDOFF, 53, "Q", "FIELD_INVALID_INDICATOR", "weight_unit", (53, 53)),
    (AWB_HANDOFF, 250, "+", "FIELD_INVALID_INDICATOR", "discount_sign", (250, 250)),
    (AWB_HANDOFF, 5, "X", "FIELD_INVALID_INDICATOR", "vat_indicator", (5, 5)),
    (AWB_HANDOFF, 200, "0000.000000", "FIELD_INVALID_RATE", "rate_of_exchange", (200, 210)),
    (AWB_HANDOFF, 200, "00001,00000", "FIELD_INVALID_RATE", "rate_of_exchange", (200, 210)),
    (AWB_HANDOFF, 54, "ZZZ", "CURRENCY_UNKNOWN", "currency", (54, 56)),
    (AWB_HANDOFF, 54, "eur", "CURRENCY_UNKNOWN", "currency", (54, 56)),
    (AWB_HANDOFF, 19, "   ", "FIELD_REQUIRED", "origin", (19, 21)),
    (AWB_HANDOFF, 9, "6214415 ", "FIELD_NOT_NUMERIC", "awb_serial", (9, 16)),
    (AWB_HANDOFF, 22, "2347006851O", "FIELD_NOT_NUMERIC", "agent_code", (22, 32)),
    (AWB_HANDOFF, 46, "001190.", "FIELD_NOT_NUMERIC", "gross_weight", (46, 52)),
    (AWB_HANDOFF, 153, " 500", "FIELD_NOT_NUMERIC", "commission_percentage", (153, 156)),
    (AWB_PARTICIPANT, 20, "6214415X", "FIELD_NOT_NUMERIC", "awb_serial", (20, 27)),
    (AWB_PARTICIPANT, 52, "Q", "FIELD_INVALID_INDICATOR", "weight_unit", (52, 52)),
    (AWB_PARTICIPANT, 201, "00000000000", "FIELD_INVALID_RATE", "rate_of_exchange", (201, 211)),
    (CORRECTION, 59, "X", "FIELD_INVALID_INDICATOR", "weight_charge_pc", (59, 59)),
    (CORRECTION, 172, "+", "FIELD_INVALID_INDICATOR", "discount_sign", (172, 172)),
    (CORRECTION, 33, "      ", "FIELD_REQUIRED", "reference", (33, 38)),
    (CORRECTION, 53, "080631", "FIELD_INVALID_DATE", "execution_date", (53, 58)),
    (CORRECTION, 39, "XYZ", "CURRENCY_UNKNOWN", "currency", (39, 41)),
]


def _base(layout: Layout) -> str:
    if layout is AWB_HANDOFF:
        return AWM_SAMPLE
    if layout is AWB_PARTICIPANT:
        return encode_record(AWB_PARTICIPANT, make_awb(PARTICIPANT))
    return pad(DCO_SAMPLE)


@pytest.mark.parametrize(
    ("layout", "pos", "text", "code", "field", "columns"),
    FIELD_CASES,
    ids=[f"{c[0].name}.{c[4]}={c[2]!r}" for c in FIELD_CASES],
)
def test_check_fields_names_code_field_and_columns(
    layout: Layout, pos: int, text: str, code: str, field: str, columns: tuple[int, int]
) -> None:
    line = put(_base(layout), pos, text)
    assert len(line) == 250
    with pytest.raises(Malformed):
        decode(layout, line)
    found = check_fields(layout, line, 12)
    assert [(f.code, f.field, f.columns) for f in found] == [(code, field, columns)]
    (f,) = found
    assert (f.line, f.record_type, f.severity, f.scope) == (
        12,
        line[:3],
        Severity.ERROR,
        Scope.RECORD,
    )
    assert f.message


def test_check_fields_reports_every_malformed_field_in_table_order() -> None:
    line = put(put(put(AWM_SAMPLE, 250, "+"), 40, "081332"), 57, "ABCDEFGHIJKL")
    found = check_fields(AWB_HANDOFF, line, 3)
    assert [(f.code, f.field) for f in found] == [
        ("FIELD_INVALID_DATE", "execution_date"),
        ("FIELD_NOT_NUMERIC", "weight_charge_prepaid"),
        ("FIELD_INVALID_INDICATOR", "discount_sign"),
    ]


@pytest.mark.parametrize(
    ("layout", "line", "pos", "text", "code", "field"),
    [
        (HEADER_HANDOFF, pad(AAA_SAMPLE), 9, "031232", "HEADER_INVALID", "period_start"),
        (HEADER_HANDOFF, pad(AAA_SAMPLE), 29, "ZZZ", "HEADER_INVALID", "currency"),
        (HEADER_HANDOFF, pad(AAA_SAMPLE), 6, "1 0", "HEADER_INVALID", "airline_prefix"),
        (TRAILER_HANDOFF, pad(TTT_SAMPLE), 14, "00001 6", "TRAILER_INVALID", "awb_count"),
        (TRAILER_HANDOFF, pad(TTT_SAMPLE), 5, "  ", "TRAILER_INVALID", "country"),
    ],
)
def test_header_and_trailer_fields_are_file_findings(
    layout: Layout, line: str, pos: int, text: str, code: str, field: str
) -> None:
    bad = put(line, pos, text)
    with pytest.raises(Malformed):
        decode(layout, bad)
    found = check_fields(layout, bad, 1, Scope.FILE)
    assert [(f.code, f.field, f.scope, f.severity) for f in found] == [
        (code, field, Scope.FILE, Severity.ERROR)
    ]
    assert found[0].columns == (pos, pos + len(text) - 1)


# --- the fast path and the diagnostic path agree -----------------------------------------------

VALID_LINES: dict[str, tuple[Layout, list[str]]] = {
    "AWM hand-off": (
        AWB_HANDOFF,
        [
            AWM_SAMPLE,
            encode_record(AWB_HANDOFF, make_awb(acceptance_date=None, late_indicator="L")),
            encode_record(AWB_HANDOFF, make_awb(currency="JPY", weight_charge_prepaid=Decimal(5))),
        ],
    ),
    "AWM participant": (
        AWB_PARTICIPANT,
        [
            encode_record(AWB_PARTICIPANT, make_awb(PARTICIPANT)),
            encode_record(
                AWB_PARTICIPANT, make_awb(PARTICIPANT, acceptance_date=None, discount=-money(3))
            ),
        ],
    ),
    "correction": (CORRECTION, [pad(DCO_SAMPLE), pad(CCR_SAMPLE)]),
    "AAA hand-off": (
        HEADER_HANDOFF,
        [pad(AAA_SAMPLE), encode_record(HEADER_HANDOFF, make_header(agent_code="2347006"))],
    ),
    "AAA participant": (
        HEADER_PARTICIPANT,
        [encode_record(HEADER_PARTICIPANT, make_header(PARTICIPANT))],
    ),
    "TTT hand-off": (
        TRAILER_HANDOFF,
        [pad(TTT_SAMPLE), encode_record(TRAILER_HANDOFF, _trailer_handoff())],
    ),
    "TTT participant": (
        TRAILER_PARTICIPANT,
        [encode_record(TRAILER_PARTICIPANT, _trailer_participant())],
    ),
}

# Printable ASCII, weighted towards the characters that matter in fixed-width fields.
MUTATION_CHARS = st.one_of(st.sampled_from("0123456789 .-+KLRSVYNPCXZ"), st.sampled_from(PRINTABLE))


@pytest.mark.parametrize("name", list(VALID_LINES))
@HYPOTHESIS
@given(data=st.data())
def test_fast_path_raises_iff_diagnostics_find_something(name: str, data: st.DataObject) -> None:
    layout, bases = VALID_LINES[name]
    line = data.draw(st.sampled_from(bases), label="base")
    edits = data.draw(
        st.lists(st.tuples(st.integers(1, 250), MUTATION_CHARS), min_size=1, max_size=3),
        label="edits",
    )
    for pos, char in edits:
        line = put(line, pos, char)
    try:
        decoder_for(layout)(line, 2)
        refused = False
    except Malformed:
        refused = True
    found = check_fields(layout, line, 1)
    assert refused == bool(found), (line, [(f.code, f.field) for f in found])


@pytest.mark.parametrize("name", list(VALID_LINES))
def test_valid_base_lines_are_valid(name: str) -> None:
    layout, bases = VALID_LINES[name]
    for line in bases:
        assert len(line) == 250
        assert check_fields(layout, line, 1) == []
        assert encode_record(layout, decoder_for(layout)(line, 2)) == line


# --- hypothesis: random valid records round-trip ------------------------------------------------

CURRENCIES = {"EUR": 2, "USD": 2, "GBP": 2, "JPY": 0, "KWD": 3}
DATES = st.dates(date(1980, 1, 1), date(2079, 12, 31))


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=n, max_size=n)


def text(width: int, *, required: bool = False) -> st.SearchStrategy[str]:
    s = st.text(PRINTABLE, min_size=1 if required else 0, max_size=width).map(str.rstrip)
    return s.filter(bool) if required else s


def scaled(places: int, width: int) -> st.SearchStrategy[Decimal]:
    return st.integers(0, 10**width - 1).map(lambda n: Decimal(n).scaleb(-places))


def signed(places: int, width: int) -> st.SearchStrategy[Decimal]:
    return st.tuples(scaled(places, width), st.booleans()).map(
        lambda t: t[0].copy_negate() if t[1] else t[0]
    )


def reserved(layout: Layout) -> st.SearchStrategy[tuple[str, ...]]:
    widths = [f.width for f in layout.fields if f.kind is Kind.RES]
    return st.tuples(*(st.text(PRINTABLE, min_size=w, max_size=w) for w in widths))


def check_digit(n: int) -> st.SearchStrategy[str]:
    return digits(n).map(lambda s: s + str(int(s) % 7))


@st.composite
def awb_records(draw: st.DrawFn, layout: Layout) -> AwbRecord:
    handoff = layout is AWB_HANDOFF
    currency = draw(st.sampled_from(sorted(CURRENCIES)))
    mu = CURRENCIES[currency]
    amount = scaled(mu, 12)
    tax = scaled(mu, 8 if handoff else 12)
    return AwbRecord(
        record_id=draw(st.sampled_from(["AWM"] if handoff else ["AWM", "AWB"])),
        branch=draw(text(1)),
        vat_indicator=draw(st.sampled_from(["Y", "N", ""])),
        airline_prefix=draw(digits(3)),
        awb_serial=draw(check_digit(7)),
        modulus_check=draw(text(1)),
        origin=draw(text(3, required=True)),
        agent_code=draw(check_digit(10)),
        use_indicator=draw(st.sampled_from("RSV")),
        destination=draw(text(3, required=True)),
        execution_date=draw(DATES),
        gross_weight=draw(scaled(1, 7)),
        weight_unit=draw(st.sampled_from("KL")),
        currency=currency,
        weight_charge_prepaid=draw(amount),
        valuation_charge_prepaid=draw(amount),
        other_charges_carrier_prepaid=draw(amount),
        other_charges_agent_prepaid=draw(amount),
        weight_charge_collect=draw(amount),
        valuation_charge_collect=draw(amount),
        other_charges_carrier_collect=draw(amount),
        other_charges_agent_collect=draw(amount),
        commission_percentage=draw(scaled(2, 4)),
        commission=draw(amount),
        agent_reference=draw(text(14)),
        acceptance_date=draw(st.none() | DATES),
        rate_of_exchange=draw(scaled(5, 10)),
        discount=draw(signed(mu, 12)),
        tax_due_airline=draw(tax),
        tax_due_agent=draw(tax),
        late_indicator=draw(st.sampled_from(["L", ""])) if handoff else "",
        invoice_indicator="" if handoff else draw(text(1)),
        commission_indicator="" if handoff else draw(text(1)),
        tax_due_airline_indicator=draw(text(1)) if handoff else "",
        reserved=draw(reserved(layout)),
    )


@st.composite
def correction_records(draw: st.DrawFn) -> CorrectionRecord:
    currency = draw(st.sampled_from(sorted(CURRENCIES)))
    mu = CURRENCIES[currency]
    amount = scaled(mu, 12)
    pc = st.sampled_from(["P", "C", ""])
    return CorrectionRecord(
        record_id=draw(st.sampled_from(["CCO", "CCR", "DCO", "DCR", "ECR"])),
        branch=draw(text(1)),
        vat_indicator=draw(st.sampled_from(["Y", "N", ""])),
        airline_prefix=draw(digits(3)),
        awb_serial=draw(check_digit(7)),
        modulus_check=draw(text(1)),
        origin=draw(text(3, required=True)),
        agent_code=draw(check_digit(10)),
        reference=draw(text(6, required=True)),
        currency=currency,
        rate_of_exchange=draw(scaled(5, 10)),
        execution_date=draw(DATES),
        weight_charge_pc=draw(pc),
        weight_charge=draw(amount),
        valuation_charge_pc=draw(pc),
        valuation_charge=draw(amount),
        taxes_pc=draw(pc),
        taxes=draw(amount),
        other_charges_agent_pc=draw(pc),
        other_charges_agent=draw(amount),
        other_charges_carrier_pc=draw(pc),
        other_charges_carrier=draw(amount),
        vat_on_charges=draw(amount),
        commission=draw(amount),
        vat_on_commission=draw(amount),
        discount=draw(signed(mu, 12)),
        weight_unit=draw(st.sampled_from("KL")),
        gross_weight=draw(scaled(1, 7)),
        destination=draw(text(3, required=True)),
        reason=draw(text(50)),
        reserved=draw(reserved(CORRECTION)),
    )


@st.composite
def other_charges_records(draw: st.DrawFn) -> tuple[OtherChargesRecord, int]:
    mu = draw(st.sampled_from(sorted(set(CURRENCIES.values()))))
    rid = draw(st.sampled_from(["AW1", "CC3", "DC3"]))
    code = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=2, max_size=2)
    charge = st.builds(
        OtherCharge, code, st.sampled_from("AC"), st.sampled_from("PC"), scaled(mu, 12)
    )
    rec = OtherChargesRecord(
        record_id=rid,
        airline_prefix=draw(digits(3)),
        awb_serial=draw(check_digit(7)),
        reference="" if rid == "AW1" else draw(text(6, required=True)),
        charges=tuple(draw(st.lists(charge, max_size=12))),
        reserved=draw(reserved(OTHER_CHARGES)),
    )
    return rec, mu


def _round_trip(layout: Layout, record: Any, mu: int = 2) -> None:
    line = encode_record(layout, record, mu)
    assert len(line) == 250 and line.isascii() and line.isprintable()
    assert check_fields(layout, line, 1) == []
    back = decoder_for(layout)(line, mu)
    assert_same_record(back, record)
    assert encode_record(layout, back, mu) == line


@HYPOTHESIS
@given(awb_records(AWB_HANDOFF))
def test_random_awb_records_round_trip_handoff(record: AwbRecord) -> None:
    _round_trip(AWB_HANDOFF, record)


@HYPOTHESIS
@given(awb_records(AWB_PARTICIPANT))
def test_random_awb_records_round_trip_participant(record: AwbRecord) -> None:
    _round_trip(AWB_PARTICIPANT, record)


@HYPOTHESIS
@given(correction_records())
def test_random_correction_records_round_trip(record: CorrectionRecord) -> None:
    _round_trip(CORRECTION, record)


@HYPOTHESIS
@given(other_charges_records())
def test_random_other_charges_records_round_trip(drawn: tuple[OtherChargesRecord, int]) -> None:
    record, mu = drawn
    _round_trip(OTHER_CHARGES, record, mu)
