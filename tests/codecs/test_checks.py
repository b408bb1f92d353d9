"""FileChecker: the cross-record checks of one billing file, independent of its format."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opencass.codecs.checks import HASH_MODULUS, FileChecker, hash_total, locate
from opencass.findings import Scope, Severity, finding
from opencass.model import AwbRecord, BillingHeader, RawRecord
from tests.kit.hot import (
    PARTICIPANT,
    make_awb,
    make_correction,
    make_header,
    make_other_charges,
    money,
    serial,
)


def run(records: list[Any], header: BillingHeader | None = None) -> tuple[list[Any], FileChecker]:
    """Feed ``records`` as lines 2, 3, ... and finish; every finding in order."""
    checker = FileChecker(header or make_header())
    found = []
    for line, rec in enumerate(records, 2):
        found += checker.record(rec, line)
    found += checker.finish()
    return found, checker


def brief(found: list[Any]) -> list[tuple[Any, ...]]:
    return [(f.code, f.line, f.record_type, f.field) for f in found]


def test_hash_total_is_the_serial_sum_modulo_10_to_the_12() -> None:
    assert HASH_MODULUS == 10**12
    assert hash_total(0) == 0
    assert hash_total(62144154 + 12345675) == 74489829
    assert hash_total(10**12 + 5) == 5
    assert hash_total(3 * 10**12 - 1) == 10**12 - 1


def test_a_clean_file_has_no_findings() -> None:
    cco = make_correction("CCO")
    records = [
        make_awb(other_charges_agent_collect=money(20)),
        make_other_charges("AW1", (("AW", "A", "C", "20.00"),)),
        make_awb(seven="1234567"),
        cco,
        replace(cco, record_id="CCR", weight_charge=money(1)),
    ]
    found, checker = run(records)
    assert found == []
    assert checker.rejected_lines == set()
    assert dict(checker.counts) == {"AWM": 2, "AW1": 1, "CCO": 1, "CCR": 1}
    assert checker.serial_sum == 62144154 * 2 + 12345675 + 67828073 * 2


def test_awb_check_digit() -> None:
    found, checker = run([make_awb(awb_serial="62144150")])
    assert brief(found) == [("AWB_CHECK_DIGIT", 2, "AWM", "awb_serial")]
    assert "4" in found[0].message
    assert checker.rejected_lines == {2}


def test_agent_check_digit() -> None:
    found, checker = run([make_correction("ECR", agent_code="23470068513")])
    assert brief(found) == [("AGENT_CHECK_DIGIT", 2, "ECR", "agent_code")]
    assert checker.rejected_lines == {2}


def test_prefix_must_match_a_filled_header_prefix() -> None:
    rec = make_awb(airline_prefix="172")
    assert brief(run([rec])[0]) == [("AIRLINE_PREFIX_MISMATCH", 2, "AWM", "airline_prefix")]
    assert run([rec], make_header(airline_prefix="", agent_code="2347006"))[0] == []


def test_exchange_rate_missing() -> None:
    usd = make_correction("ECR", currency="USD")
    assert brief(run([usd])[0]) == [("EXCHANGE_RATE_MISSING", 2, "ECR", "rate_of_exchange")]
    assert run([replace(usd, rate_of_exchange=Decimal("1.10000"))])[0] == []
    # the participant header has no currency: nothing to compare with
    assert run([make_awb(currency="USD")], make_header(PARTICIPANT))[0] == []


def test_duplicate_awb_rejects_the_second_only() -> None:
    awb = make_awb()
    found, checker = run([awb, make_awb(seven="1234567"), awb])
    assert brief(found) == [("AWB_DUPLICATE", 4, "AWM", "awb_serial")]
    assert checker.rejected_lines == {4}


@pytest.mark.parametrize("use", ["V", "S"])
def test_charges_on_non_revenue_awb_is_a_warning(use: str) -> None:
    found, checker = run([make_awb(use_indicator=use)])
    assert brief(found) == [("CHARGES_ON_NON_REVENUE", 2, "AWM", "use_indicator")]
    assert found[0].severity is Severity.WARNING
    assert checker.rejected_lines == set()
    no_charges = make_awb(use_indicator=use, weight_charge_prepaid=money(0))
    assert run([no_charges])[0] == []


def test_discount_and_commission_are_not_charges_on_a_void_awb() -> None:
    void = make_awb(use_indicator="V", weight_charge_prepaid=money(0), discount=-money(1))
    assert run([void])[0] == []


@pytest.mark.parametrize("kind", ["CC", "DC"])
@pytest.mark.parametrize("order", ["original first", "revision first"])
def test_corrections_pair_in_either_order(kind: str, order: str) -> None:
    original = make_correction(f"{kind}O")
    revised = replace(original, record_id=f"{kind}R")
    pair = [original, revised] if order == "original first" else [revised, original]
    found, checker = run(pair)
    assert found == []
    assert checker.rejected_lines == set()


def test_unpaired_corrections_are_reported_at_the_end() -> None:
    cco = make_correction("CCO", reference="000001")
    dcr = make_correction("DCR", reference="000001")  # same number, other kind: no pair
    found, checker = run([cco, make_awb(), dcr])
    assert brief(found) == [
        ("CORRECTION_REVISED_MISSING", 2, "CCO", "reference"),
        ("CORRECTION_ORIGINAL_MISSING", 4, "DCR", "reference"),
    ]
    assert all(f.scope is Scope.RECORD and f.severity is Severity.ERROR for f in found)
    assert checker.rejected_lines == {2, 4}


def test_different_reference_does_not_pair() -> None:
    cco = make_correction("CCO", reference="000001")
    found, _ = run([cco, replace(cco, record_id="CCR", reference="000002")])
    assert [f.code for f in found] == ["CORRECTION_REVISED_MISSING", "CORRECTION_ORIGINAL_MISSING"]


@pytest.mark.parametrize(
    ("sequence", "dup_line"),
    [
        (["CCO", "CCO", "CCR"], 3),
        (["CCO", "CCR", "CCR"], 4),
        (["CCO", "CCR", "CCO"], 4),
        (["CCR", "CCR", "CCO"], 3),
    ],
)
def test_duplicated_correction(sequence: list[str], dup_line: int) -> None:
    base = make_correction("CCO")
    found, checker = run([replace(base, record_id=rid) for rid in sequence])
    assert [(f.code, f.line) for f in found] == [("CORRECTION_DUPLICATE", dup_line)]
    assert checker.rejected_lines == {dup_line}


def test_ecr_is_never_paired() -> None:
    ecr = make_correction("ECR")
    assert run([ecr, ecr])[0] == []


# --- itemised other charges --------------------------------------------------------------------


def test_itemised_charges_add_up_per_group() -> None:
    awb = make_awb(
        other_charges_carrier_prepaid=money("18.80"),
        other_charges_agent_prepaid=money(1),
        other_charges_carrier_collect=money(2),
        other_charges_agent_collect=money(20),
    )
    aw1a = make_other_charges("AW1", (("MY", "C", "P", "15.00"), ("AP", "A", "P", "1.00")))
    aw1b = make_other_charges(
        "AW1", (("SC", "C", "P", "3.80"), ("CC", "C", "C", "2.00"), ("AW", "A", "C", "20.00"))
    )
    found, checker = run([awb, aw1a, aw1b, make_awb(seven="1234567")])
    assert found == []
    assert checker.rejected_lines == set()


def test_itemised_mismatch_is_a_warning_on_the_itemised_record() -> None:
    awb = make_awb(other_charges_carrier_prepaid=money("18.80"))
    aw1 = make_other_charges(
        "AW1", (("MY", "C", "P", "15.00"), ("AW", "A", "C", "1.00"))
    )  # carrier prepaid 15.00 of 18.80; agent collect 1.00 of 0.00
    found, checker = run([awb, aw1])
    assert brief(found) == [
        ("OTHER_CHARGES_TOTAL_MISMATCH", 2, "AWM", "other_charges_carrier_prepaid"),
        ("OTHER_CHARGES_TOTAL_MISMATCH", 2, "AWM", "other_charges_agent_collect"),
    ]
    assert all(f.severity is Severity.WARNING for f in found)
    assert checker.rejected_lines == set()


def test_itemised_mismatch_is_reported_when_the_next_record_arrives() -> None:
    checker = FileChecker(make_header())
    assert checker.record(make_awb(other_charges_agent_collect=money(20)), 2) == []
    assert checker.record(make_other_charges("AW1", (("AW", "A", "C", "19.99"),)), 3) == []
    found = checker.record(make_awb(seven="1234567"), 4)
    assert brief(found) == [
        ("OTHER_CHARGES_TOTAL_MISMATCH", 2, "AWM", "other_charges_agent_collect")
    ]
    assert checker.finish() == []


def test_correction_itemised_charges_group_by_entitlement() -> None:
    cco = make_correction("CCO", other_charges_agent=money(3), other_charges_carrier=money(5))
    cc3 = make_other_charges(
        "CC3",
        (("AW", "A", "P", "1.00"), ("AX", "A", "C", "2.00"), ("SC", "C", "P", "5.00")),
        seven="6782807",
        reference="808640",
    )
    ccr = replace(cco, record_id="CCR")
    assert run([cco, cc3, ccr])[0] == []
    bad = replace(cc3, charges=cc3.charges[:2])
    found, _ = run([cco, bad, ccr])
    assert brief(found) == [
        ("OTHER_CHARGES_TOTAL_MISMATCH", 2, "CCO", "other_charges_carrier"),
    ]


def _orphans(records: list[Any]) -> list[tuple[Any, ...]]:
    found, checker = run(records)
    assert all(f.severity is Severity.WARNING for f in found)
    assert checker.rejected_lines == set()
    return [(f.code, f.line) for f in found]


def test_other_charges_orphans() -> None:
    aw1 = make_other_charges("AW1", ())
    cco = make_correction("CCO", seven="6214415", reference="808640")
    ccr = replace(cco, record_id="CCR")
    cc3 = make_other_charges("CC3", (), seven="6214415", reference="808640")
    dc3 = make_other_charges("DC3", (), seven="6214415", reference="808640")
    orphan = [("OTHER_CHARGES_ORPHAN", 2)]
    assert _orphans([aw1]) == orphan  # nothing before it
    assert _orphans([make_awb(seven="1234567"), aw1]) == [("OTHER_CHARGES_ORPHAN", 3)]
    assert _orphans([cco, aw1, ccr]) == [("OTHER_CHARGES_ORPHAN", 3)]  # AW1 after a correction
    assert _orphans([make_awb(), cc3]) == [("OTHER_CHARGES_ORPHAN", 3)]  # CC3 after an AWB
    assert _orphans([cco, dc3, ccr]) == [("OTHER_CHARGES_ORPHAN", 3)]  # DC3 after a CCA
    wrong_ref = replace(cc3, reference="808641")
    assert _orphans([cco, wrong_ref, ccr]) == [("OTHER_CHARGES_ORPHAN", 3)]
    assert _orphans([cco, cc3, ccr]) == []


def test_other_charges_of_another_airline_are_orphans() -> None:
    header = make_header(airline_prefix="")
    found, _ = run([make_awb(), make_other_charges("AW1", (), prefix="161")], header)
    assert [(f.code, f.line) for f in found] == [("OTHER_CHARGES_ORPHAN", 3)]


def test_itemised_charges_of_another_airlines_awb_are_rejected() -> None:
    """Defect: an AW1 itemising another airline's AWB was booked with only a warning."""
    header = make_header()
    other = make_other_charges("AW1", (), prefix="161")
    assert header.airline_prefix and header.airline_prefix != "161"
    found, checker = run([make_awb(), other], header)
    assert [(f.code, f.line, f.is_error) for f in found] == [("AIRLINE_PREFIX_MISMATCH", 3, True)]
    assert checker.rejected_lines == {3}


def test_raw_records_are_counted_and_not_checked() -> None:
    raw = RawRecord("AW1", "AW1 garbage".ljust(250))
    found, checker = run([make_awb(), raw])
    assert found == []
    assert checker.counts["AW1"] == 1


def test_findings_carry_no_columns_until_a_codec_locates_them() -> None:
    found, _ = run([make_awb(awb_serial="62144150")])
    assert found[0].columns is None
    located = locate(found, {"awb_serial": (9, 16)})
    assert located[0].columns == (9, 16)
    assert replace(located[0], columns=None) == found[0]
    # a finding that already has columns, or names an unknown field, is left alone
    other = finding("AWB_CHECK_DIGIT", "x", field="awb_serial", columns=(1, 2))
    unknown = finding("OTHER_CHARGES_ORPHAN", "x", field="nowhere")
    assert locate([other, unknown], {"awb_serial": (9, 16)}) == [other, unknown]


# --- property: the checker agrees with a plain reading of the rules ------------------------------


@st.composite
def awbs(draw: st.DrawFn) -> AwbRecord:
    seven = draw(st.sampled_from(["6214415", "1234567", "0000001"]))
    check = draw(st.sampled_from([int(seven) % 7, (int(seven) % 7 + 1) % 10]))
    agent10 = draw(st.sampled_from(["2347006851", "9999999999"]))
    agent_check = draw(st.sampled_from([int(agent10) % 7, (int(agent10) % 7 + 3) % 10]))
    return make_awb(
        seven=seven,
        awb_serial=seven + str(check),
        agent_code=agent10 + str(agent_check),
        airline_prefix=draw(st.sampled_from(["160", "172"])),
        currency=draw(st.sampled_from(["EUR", "USD"])),
        rate_of_exchange=draw(st.sampled_from([Decimal("0.00000"), Decimal("1.10000")])),
        use_indicator=draw(st.sampled_from("RRRSV")),
        weight_charge_prepaid=draw(st.sampled_from([money(0), money(100)])),
    )


def expected_codes(rec: AwbRecord, seen: set[tuple[str, str]]) -> list[str]:
    out = []
    if int(rec.awb_serial[:7]) % 7 != int(rec.awb_serial[7]):
        out.append("AWB_CHECK_DIGIT")
    if int(rec.agent_code[:10]) % 7 != int(rec.agent_code[10]):
        out.append("AGENT_CHECK_DIGIT")
    if rec.airline_prefix != "160":
        out.append("AIRLINE_PREFIX_MISMATCH")
    if rec.currency != "EUR" and not rec.rate_of_exchange:
        out.append("EXCHANGE_RATE_MISSING")
    if rec.key in seen:
        out.append("AWB_DUPLICATE")
    if rec.use_indicator != "R" and rec.weight_charge_prepaid:
        out.append("CHARGES_ON_NON_REVENUE")
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(awbs(), min_size=1, max_size=8))
def test_checker_agrees_with_the_rules(records: list[AwbRecord]) -> None:
    checker = FileChecker(make_header())
    seen: set[tuple[str, str]] = set()
    rejected = set()
    for line, rec in enumerate(records, 2):
        want = expected_codes(rec, seen)
        seen.add(rec.key)
        got = checker.record(rec, line)
        assert sorted(f.code for f in got) == sorted(want), rec
        assert all(f.line == line and f.record_type == "AWM" for f in got)
        if any(c != "CHARGES_ON_NON_REVENUE" for c in want):
            rejected.add(line)
    assert checker.finish() == []
    assert checker.rejected_lines == rejected
    assert checker.serial_sum == sum(int(r.awb_serial) for r in records)
    assert checker.counts["AWM"] == len(records)


def test_serial_helper_matches_check_digit_rule() -> None:
    assert serial("1234567") == "12345675"
    assert serial("6214415") == "62144154"
