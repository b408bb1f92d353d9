"""The HOT layout tables: coverage of 1-250, positions as HOT.md lists them, dialect detection."""

from __future__ import annotations

import pytest

from opencass.codecs.hot.layouts import (
    ALL_LAYOUTS,
    AWB_HANDOFF,
    AWB_PARTICIPANT,
    CORRECTION,
    DIALECTS,
    HEADER_HANDOFF,
    HEADER_PARTICIPANT,
    OC_SLOT,
    OC_SLOTS,
    OTHER_CHARGES,
    RECORD_LENGTH,
    TRAILER_HANDOFF,
    TRAILER_PARTICIPANT,
    F,
    Kind,
    Layout,
    _check_coverage,
    detect_dialect,
)
from opencass.model import AwbRecord, Dialect
from tests.kit.hot import AAA_SAMPLE, PARTICIPANT, encode_line, make_header, pad


def _field(layout: Layout, name: str) -> tuple[int, int]:
    matches = [f for f in layout.fields if f.name == name]
    assert len(matches) == 1, f"{layout.name} has {len(matches)} fields named {name}"
    return matches[0].columns


@pytest.mark.parametrize("layout", ALL_LAYOUTS, ids=lambda lay: lay.name)
def test_every_layout_covers_1_to_250_contiguously(layout: Layout) -> None:
    assert RECORD_LENGTH == 250
    pos = 1
    for f in layout.fields:
        assert f.start == pos, f"{layout.name}.{f.name}"
        assert f.end >= f.start
        assert f.width == f.end - f.start + 1
        pos = f.end + 1
    assert pos == 251
    _check_coverage(layout)  # the import-time check agrees
    names = [f.name for f in layout.fields]
    assert len(names) == len(set(names)), "field names are unique within a layout"
    assert layout.fields[0].kind is Kind.ID and layout.fields[0].columns == (1, 3)


def _broken(layout: Layout, index: int, start: int, end: int) -> Layout:
    fields = list(layout.fields)
    old = fields[index]
    fields[index] = F(old.name, start, end, old.kind, old.allowed)
    return Layout(layout.name, layout.record_ids, layout.model, tuple(fields), layout.role)


@pytest.mark.parametrize(
    ("index", "start", "end", "what"),
    [
        (3, 10, 16, "gap"),  # awb_serial 9-16 starts at 10: position 9 uncovered
        (3, 8, 16, "overlap"),  # awb_serial overlaps the prefix
        (-1, 250, 249, "reversed"),  # discount sign ends before it starts
        (-2, 239, 248, "short"),  # reserved ends at 248, the sign then starts at 250
    ],
)
def test_check_coverage_raises_on_a_broken_table(
    index: int, start: int, end: int, what: str
) -> None:
    with pytest.raises(AssertionError, match="AWM"):
        _check_coverage(_broken(AWB_HANDOFF, index, start, end))


def test_check_coverage_raises_when_the_table_stops_short_or_runs_long() -> None:
    short = Layout("short", ("XXX",), AwbRecord, AWB_HANDOFF.fields[:-1], "detail")
    with pytest.raises(AssertionError, match="1-249"):
        _check_coverage(short)
    longer = Layout(
        "long", ("XXX",), AwbRecord, (*AWB_HANDOFF.fields, F("extra", 251, 251, Kind.RES)), "detail"
    )
    with pytest.raises(AssertionError, match="1-251"):
        _check_coverage(longer)


# Positions copied from the tables in HOT.md.
HOT_MD_POSITIONS = [
    (HEADER_HANDOFF, "country", 4, 5),
    (HEADER_HANDOFF, "airline_prefix", 6, 8),
    (HEADER_HANDOFF, "period_start", 9, 14),
    (HEADER_HANDOFF, "period_end", 15, 20),
    (HEADER_HANDOFF, "billing_date", 21, 26),
    (HEADER_HANDOFF, "file_number", 27, 28),
    (HEADER_HANDOFF, "currency", 29, 31),
    (HEADER_HANDOFF, "branch", 32, 32),
    (HEADER_HANDOFF, "agent_code", 33, 39),
    (AWB_HANDOFF, "branch", 4, 4),
    (AWB_HANDOFF, "vat_indicator", 5, 5),
    (AWB_HANDOFF, "airline_prefix", 6, 8),
    (AWB_HANDOFF, "awb_serial", 9, 16),
    (AWB_HANDOFF, "modulus_check", 17, 17),
    (AWB_HANDOFF, "origin", 19, 21),
    (AWB_HANDOFF, "agent_code", 22, 32),
    (AWB_HANDOFF, "use_indicator", 33, 33),
    (AWB_HANDOFF, "late_indicator", 34, 34),
    (AWB_HANDOFF, "destination", 37, 39),
    (AWB_HANDOFF, "execution_date", 40, 45),
    (AWB_HANDOFF, "gross_weight", 46, 52),
    (AWB_HANDOFF, "weight_unit", 53, 53),
    (AWB_HANDOFF, "currency", 54, 56),
    (AWB_HANDOFF, "weight_charge_prepaid", 57, 68),
    (AWB_HANDOFF, "valuation_charge_prepaid", 69, 80),
    (AWB_HANDOFF, "other_charges_carrier_prepaid", 81, 92),
    (AWB_HANDOFF, "other_charges_agent_prepaid", 93, 104),
    (AWB_HANDOFF, "weight_charge_collect", 105, 116),
    (AWB_HANDOFF, "valuation_charge_collect", 117, 128),
    (AWB_HANDOFF, "other_charges_carrier_collect", 129, 140),
    (AWB_HANDOFF, "other_charges_agent_collect", 141, 152),
    (AWB_HANDOFF, "commission_percentage", 153, 156),
    (AWB_HANDOFF, "commission", 157, 168),
    (AWB_HANDOFF, "tax_due_airline_indicator", 169, 169),
    (AWB_HANDOFF, "agent_reference", 170, 183),
    (AWB_HANDOFF, "acceptance_date", 194, 199),
    (AWB_HANDOFF, "rate_of_exchange", 200, 210),
    (AWB_HANDOFF, "discount", 211, 222),
    (AWB_HANDOFF, "tax_due_airline", 223, 230),
    (AWB_HANDOFF, "tax_due_agent", 231, 238),
    (AWB_HANDOFF, "discount_sign", 250, 250),
    (CORRECTION, "airline_prefix", 6, 8),
    (CORRECTION, "awb_serial", 9, 16),
    (CORRECTION, "origin", 19, 21),
    (CORRECTION, "agent_code", 22, 32),
    (CORRECTION, "reference", 33, 38),
    (CORRECTION, "currency", 39, 41),
    (CORRECTION, "rate_of_exchange", 42, 52),
    (CORRECTION, "execution_date", 53, 58),
    (CORRECTION, "weight_charge_pc", 59, 59),
    (CORRECTION, "weight_charge", 60, 71),
    (CORRECTION, "valuation_charge_pc", 72, 72),
    (CORRECTION, "valuation_charge", 73, 84),
    (CORRECTION, "taxes_pc", 85, 85),
    (CORRECTION, "taxes", 86, 97),
    (CORRECTION, "other_charges_agent_pc", 98, 98),
    (CORRECTION, "other_charges_agent", 99, 110),
    (CORRECTION, "other_charges_carrier_pc", 111, 111),
    (CORRECTION, "other_charges_carrier", 112, 123),
    (CORRECTION, "vat_on_charges", 124, 135),
    (CORRECTION, "commission", 136, 147),
    (CORRECTION, "vat_on_commission", 148, 159),
    (CORRECTION, "discount", 160, 171),
    (CORRECTION, "discount_sign", 172, 172),
    (CORRECTION, "weight_unit", 173, 173),
    (CORRECTION, "gross_weight", 174, 180),
    (CORRECTION, "destination", 181, 183),
    (CORRECTION, "reason", 201, 250),
    (TRAILER_HANDOFF, "country", 5, 6),
    (TRAILER_HANDOFF, "office", 7, 9),
    (TRAILER_HANDOFF, "airline_prefix", 10, 12),
    (TRAILER_HANDOFF, "branch", 13, 13),
    (TRAILER_HANDOFF, "awb_count", 14, 20),
    (TRAILER_HANDOFF, "cca_count", 21, 27),
    (TRAILER_HANDOFF, "dcm_count", 28, 34),
    (TRAILER_HANDOFF, "total_count", 35, 41),
    (TRAILER_HANDOFF, "count_AWM", 42, 48),
    (TRAILER_HANDOFF, "count_AW1", 49, 55),
    (TRAILER_HANDOFF, "count_CCR", 84, 90),
    (TRAILER_HANDOFF, "count_CCO", 91, 97),
    (TRAILER_HANDOFF, "count_DCR", 98, 104),
    (TRAILER_HANDOFF, "count_DCO", 105, 111),
    (HEADER_PARTICIPANT, "country", 4, 5),
    (HEADER_PARTICIPANT, "branch", 6, 6),
    (HEADER_PARTICIPANT, "airline_prefix", 17, 19),
    (HEADER_PARTICIPANT, "period_start", 20, 25),
    (HEADER_PARTICIPANT, "period_end", 26, 31),
    (HEADER_PARTICIPANT, "billing_date", 32, 37),
    (HEADER_PARTICIPANT, "file_number", 38, 39),
    (AWB_PARTICIPANT, "invoice_indicator", 4, 4),
    (AWB_PARTICIPANT, "vat_indicator", 5, 5),
    (AWB_PARTICIPANT, "agent_code", 6, 16),
    (AWB_PARTICIPANT, "airline_prefix", 17, 19),
    (AWB_PARTICIPANT, "awb_serial", 20, 27),
    (AWB_PARTICIPANT, "modulus_check", 28, 28),
    (AWB_PARTICIPANT, "origin", 30, 32),
    (AWB_PARTICIPANT, "use_indicator", 33, 33),
    (AWB_PARTICIPANT, "branch", 34, 34),
    (AWB_PARTICIPANT, "destination", 36, 38),
    (AWB_PARTICIPANT, "execution_date", 39, 44),
    (AWB_PARTICIPANT, "gross_weight", 45, 51),
    (AWB_PARTICIPANT, "weight_unit", 52, 52),
    (AWB_PARTICIPANT, "currency", 53, 55),
    (AWB_PARTICIPANT, "weight_charge_prepaid", 56, 67),
    (AWB_PARTICIPANT, "other_charges_agent_collect", 140, 151),
    (AWB_PARTICIPANT, "commission_percentage", 152, 155),
    (AWB_PARTICIPANT, "commission", 156, 167),
    (AWB_PARTICIPANT, "commission_indicator", 168, 168),
    (AWB_PARTICIPANT, "discount", 169, 180),
    (AWB_PARTICIPANT, "acceptance_date", 181, 186),
    (AWB_PARTICIPANT, "agent_reference", 187, 200),
    (AWB_PARTICIPANT, "rate_of_exchange", 201, 211),
    (AWB_PARTICIPANT, "tax_due_airline", 212, 223),
    (AWB_PARTICIPANT, "tax_due_agent", 224, 235),
    (AWB_PARTICIPANT, "discount_sign", 250, 250),
    (TRAILER_PARTICIPANT, "country", 4, 5),
    (TRAILER_PARTICIPANT, "airline_prefix", 6, 8),
    (TRAILER_PARTICIPANT, "branch", 9, 9),
    (TRAILER_PARTICIPANT, "awb_count", 17, 23),
    (TRAILER_PARTICIPANT, "cca_count", 24, 30),
    (TRAILER_PARTICIPANT, "dcm_count", 31, 37),
    (TRAILER_PARTICIPANT, "total_count", 38, 44),
    (TRAILER_PARTICIPANT, "hash_total", 45, 56),
    (TRAILER_PARTICIPANT, "count_AW1", 57, 63),
    (TRAILER_PARTICIPANT, "count_CC3", 64, 70),
    (TRAILER_PARTICIPANT, "count_DC3", 71, 77),
    (OTHER_CHARGES, "airline_prefix", 6, 8),
    (OTHER_CHARGES, "awb_serial", 9, 16),
    (OTHER_CHARGES, "reference", 17, 22),
    (OTHER_CHARGES, "charges", 25, 216),
]


@pytest.mark.parametrize(
    ("layout", "name", "start", "end"),
    HOT_MD_POSITIONS,
    ids=[f"{lay.name}.{n}" for lay, n, _, _ in HOT_MD_POSITIONS],
)
def test_field_positions_are_hot_md_s(layout: Layout, name: str, start: int, end: int) -> None:
    assert _field(layout, name) == (start, end)


def test_the_eight_awb_charges_sit_in_the_same_order_in_both_dialects() -> None:
    def charges(layout: Layout) -> list[tuple[str, int]]:
        fs = [f for f in layout.fields if f.kind is Kind.AMOUNT and f.width == 12]
        return [(f.name, f.start) for f in fs[:8]]

    handoff, participant = charges(AWB_HANDOFF), charges(AWB_PARTICIPANT)
    assert [n for n, _ in handoff] == [n for n, _ in participant]
    assert [s for _, s in handoff] == list(range(57, 153, 12))
    assert [s for _, s in participant] == list(range(56, 152, 12))


def test_other_charge_slots_fill_their_field() -> None:
    assert (OC_SLOT, OC_SLOTS) == (16, 12)
    start, end = _field(OTHER_CHARGES, "charges")
    assert end - start + 1 == OC_SLOT * OC_SLOTS


@pytest.mark.parametrize("layout", ALL_LAYOUTS, ids=lambda lay: lay.name)
def test_field_kinds_are_consistent(layout: Layout) -> None:
    by_name = {f.name: f for f in layout.fields}
    for f in layout.fields:
        if f.kind is Kind.SIGN:
            assert by_name[f.allowed].kind is Kind.AMOUNT, f.name
        if f.kind is Kind.IND:
            assert f.width == 1 and f.allowed, f.name
        if f.kind in (Kind.DATE, Kind.DATEOPT):
            assert f.width == 6, f.name
        if f.kind is Kind.RATE:  # 00000.00000, or CASS Import's 0000.00000
            assert f.width in (10, 11), f.name
        if f.kind is Kind.CUR:
            assert f.width == 3, f.name


def test_indicator_code_lists_are_hot_md_s() -> None:
    allowed = {f.name: f.allowed for f in AWB_HANDOFF.fields if f.kind is Kind.IND}
    assert set(allowed["use_indicator"]) == set("RSV")
    assert set(allowed["weight_unit"]) == set("KL")
    assert set(allowed["late_indicator"]) == set("L ")
    pc = {f.name: f.allowed for f in CORRECTION.fields if f.name.endswith("_pc")}
    assert len(pc) == 5 and all(set(v) >= set("PC") for v in pc.values())


def test_dialect_tables() -> None:
    handoff, participant = DIALECTS[Dialect.HANDOFF], DIALECTS[Dialect.PARTICIPANT]
    assert handoff.header is HEADER_HANDOFF and handoff.trailer is TRAILER_HANDOFF
    assert participant.header is HEADER_PARTICIPANT and participant.trailer is TRAILER_PARTICIPANT
    assert handoff.details["AWM"] is AWB_HANDOFF
    assert participant.details["AWM"] is AWB_PARTICIPANT
    assert participant.details["AWB"] is AWB_PARTICIPANT
    assert "AWB" not in handoff.details
    assert handoff.details["ECR"] is CORRECTION  # ECR appears only in hand-off files
    assert "ECR" not in participant.details
    for d in (handoff, participant):
        for rid in ("CCO", "CCR", "DCO", "DCR"):
            assert d.details[rid] is CORRECTION
        for rid in ("AW1", "CC3", "DC3"):
            assert d.details[rid] is OTHER_CHARGES


# --- dialect detection (HOT.md "Files") --------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "dialect"),
    [
        ("ALS" + "DE" + " " + "0" * 10 + "160240301240315240320", Dialect.PARTICIPANT),
        ("ALS", Dialect.PARTICIPANT),  # the record id alone decides
        # AAA with 9-14 blank and 17-19 digits: the older participant writer
        ("AAA" + "DE" + " " * 11 + "160240301240315240320", Dialect.PARTICIPANT),
        ("AAA" + "DE" + " " * 3 + "000000" + "  " + "160240301", Dialect.HANDOFF),  # 9-14 set
        ("AAA" + "DE" + " " * 11 + "1X0240301240315240320", Dialect.HANDOFF),  # 17-19 not digits
        ("AAA" + "DE" + " " * 14 + "240301240315", Dialect.HANDOFF),  # 17-19 blank
        (AAA_SAMPLE, Dialect.HANDOFF),
        ("AAADE16024030124031524032001EUR", Dialect.HANDOFF),
        ("AWM", Dialect.HANDOFF),
    ],
)
def test_detect_dialect(line: str, dialect: Dialect) -> None:
    assert detect_dialect(pad(line)) is dialect


def test_detect_dialect_of_written_headers() -> None:
    assert detect_dialect(encode_line(make_header(PARTICIPANT), PARTICIPANT)) is Dialect.PARTICIPANT
    older = make_header(PARTICIPANT, record_id="AAA")  # the older writer's header id
    assert detect_dialect(encode_line(older, PARTICIPANT)) is Dialect.PARTICIPANT
    assert detect_dialect(encode_line(make_header())) is Dialect.HANDOFF
    agent_file = make_header(airline_prefix="", agent_code="2347006")
    assert detect_dialect(encode_line(agent_file)) is Dialect.HANDOFF
