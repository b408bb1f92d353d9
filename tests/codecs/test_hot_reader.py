"""Whole HOT files: decode/encode, streaming, every validation finding, golden files, fuzzing."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencass.codecs.checks import hash_total
from opencass.codecs.hot import HotReader, decode, decode_chunks, encode, encode_record
from opencass.codecs.hot.layouts import CORRECTION
from opencass.codecs.result import DecodeResult
from opencass.findings import CATALOGUE, Scope, Severity
from opencass.model import AwbRecord, BillingHeader, BillingTrailer, Dialect, RawRecord
from tests.kit import DATA as DATA_ROOT
from tests.kit.hot import (
    AAA_SAMPLE,
    AWM_SAMPLE,
    CCR_SAMPLE,
    DCO_SAMPLE,
    HANDOFF,
    PARTICIPANT,
    assert_same_record,
    encode_line,
    file_lines,
    join,
    make_awb,
    make_correction,
    make_file,
    make_header,
    make_other_charges,
    money,
    pad,
    serial,
    standard_records,
)

DATA = DATA_ROOT / "hot"
HYPOTHESIS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Line numbers of file_lines(standard_records()):
# 1 AAA/ALS, 2 AWM, 3 AW1, 4 AWM, 5 CCO, 6 CCR, 7 DCO, 8 DCR, 9 TTT


def std(dialect: Dialect = HANDOFF) -> list[str]:
    return file_lines(standard_records(dialect), dialect)


def put(line: str, start: int, text: str) -> str:
    return line[: start - 1] + text + line[start - 1 + len(text) :]


def summary(result: DecodeResult) -> list[tuple[Any, ...]]:
    """(code, line, record_type, field, columns) of every finding, in report order."""
    return [(f.code, f.line, f.record_type, f.field, f.columns) for f in result.findings]


def codes(result: DecodeResult) -> list[str]:
    return [f.code for f in result.findings]


def the(result: DecodeResult, code: str) -> Any:
    """The one finding with ``code``."""
    found = [f for f in result.findings if f.code == code]
    assert len(found) == 1, summary(result)
    return found[0]


def check_catalogue(result: DecodeResult) -> None:
    """Every finding carries its catalogue severity (scope may be narrowed to file)."""
    for f in result.findings:
        entry = CATALOGUE[f.code]
        assert f.severity is entry.severity, f
        assert f.scope is entry.scope or f.code in ("HEADER_INVALID", "TRAILER_INVALID"), f


# --- valid files -------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", [HANDOFF, PARTICIPANT])
@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_valid_file_decodes_and_re_encodes_byte_identically(dialect: Dialect, ending: str) -> None:
    data = join(std(dialect), ending)
    result = decode(data)
    assert result.findings == []
    assert result.valid
    assert (result.format, result.dialect) == ("hot", str(dialect))
    assert result.file is not None
    assert result.file == make_file(standard_records(dialect), dialect)
    for got, want in zip(result.file.records, standard_records(dialect), strict=True):
        assert_same_record(got, want)
    assert result.file.line_ending == ending
    assert encode(result.file) == data
    assert result.counts["lines"] == 9
    assert result.counts["records"] == 9
    assert (result.counts["errors"], result.counts["warnings"]) == (0, 0)
    assert result.counts["rejected_records"] == 0
    assert (result.counts["AWM"], result.counts["AW1"], result.counts["CCO"]) == (2, 1, 1)


def test_hot_md_samples_decode_as_an_agent_hand_off_file() -> None:
    dcr = put(put(pad(DCO_SAMPLE), 1, "DCR"), 60, "000000050000")
    cco = put(put(pad(CCR_SAMPLE), 1, "CCO"), 112, "000000021618")
    header = AAA_SAMPLE + " 2347006"  # blank prefix, agent code filled
    trailer = "TTT DE234    0000001000000200000020000005"  # blank prefix in an agent file
    lines = [header, AWM_SAMPLE, DCO_SAMPLE, dcr, cco, CCR_SAMPLE, trailer]
    data = join(lines)
    result = decode(data)
    assert summary(result) == []
    assert result.file is not None and result.dialect == "handoff"
    bf = result.file
    assert (bf.header.airline_prefix, bf.header.agent_code) == ("", "2347006")
    (awb,) = bf.awbs
    assert (awb.awb, awb.weight_charge_prepaid, awb.discount) == (
        "160-62144154",
        Decimal("3462.90"),
        Decimal("-1320.90"),
    )
    pairs = bf.corrections
    assert [(p.kind, p.original.reference) for p in pairs] == [("DCM", "808640"), ("CCA", "808640")]
    assert pairs[0].revised.weight_charge - pairs[0].original.weight_charge == Decimal("27.00")
    # the short lines (183 and 41 characters) are written back padded to 250
    assert encode(bf) == join([pad(x) for x in lines])


def test_file_without_final_newline() -> None:
    data = join(std())
    result = decode(data[:-1])
    assert result.findings == []
    assert result.file is not None and len(result.file.records) == 7
    assert encode(result.file) == data


@pytest.mark.parametrize("dialect", [HANDOFF, PARTICIPANT])
def test_trimmed_lines_are_padded(dialect: Dialect) -> None:
    lines = std(dialect)
    data = join([x.rstrip() for x in lines])
    assert len(data) < len(join(lines))
    result = decode(data)
    assert result.findings == []
    assert result.file is not None
    assert encode(result.file) == join(lines)


def test_participant_file_with_older_aaa_header() -> None:
    header = make_header(PARTICIPANT, record_id="AAA")
    lines = file_lines(standard_records(PARTICIPANT), PARTICIPANT, header)
    result = decode(join(lines))
    assert result.findings == []
    assert result.dialect == "participant"
    assert result.file is not None and result.file.header.record_id == "AAA"
    assert encode(result.file) == join(lines)


def test_participant_awb_record_id_is_accepted() -> None:
    records = [make_awb(PARTICIPANT, record_id="AWB"), make_awb(PARTICIPANT, seven="1234567")]
    result = decode(join(file_lines(records, PARTICIPANT)))
    assert result.findings == []
    assert result.file is not None
    assert [r.record_id for r in result.file.records] == ["AWB", "AWM"]
    assert result.file.trailer.awb_count == 2


def test_currencies_of_each_record_scale_its_amounts() -> None:
    jpy = make_awb(
        seven="1234567",
        currency="JPY",
        weight_charge_prepaid=Decimal(346290),
        other_charges_carrier_prepaid=Decimal(1500),
        rate_of_exchange=Decimal("0.00615"),
    )
    oc = make_other_charges("AW1", (("MY", "C", "P", "1500"),), seven="1234567", currency="JPY")
    kwd = make_awb(
        seven="7654321",
        currency="KWD",
        weight_charge_prepaid=money("12.345", "KWD"),
        rate_of_exchange=Decimal("3.25000"),
    )
    records = [make_awb(), jpy, oc, kwd]
    data = join(file_lines(records))
    result = decode(data)
    assert result.findings == []
    assert result.file is not None
    got = result.file.records
    assert got[1].weight_charge_prepaid.as_tuple() == Decimal(346290).as_tuple()
    assert got[2].charges[0].amount.as_tuple() == Decimal(1500).as_tuple()
    assert got[3].weight_charge_prepaid.as_tuple() == Decimal("12.345").as_tuple()
    assert encode(result.file) == data


# --- streaming ---------------------------------------------------------------------------------


def _stream(data: bytes, size: int) -> tuple[list[tuple[int, Any]], HotReader]:
    reader = HotReader()
    events: list[tuple[int, Any]] = []
    for i in range(0, len(data), size):
        events.extend(reader.feed(data[i : i + size]))
    events.extend(reader.close())
    return events, reader


def _streaming_inputs() -> dict[str, bytes]:
    lines = std()
    bad = list(lines)
    bad[1] = put(bad[1], 57, "0000ABC00000")  # non-numeric amount
    bad[3] = put(bad[3], 9, serial("1234567")[:7] + "9")  # AWB check digit
    bad.insert(5, "")  # blank line
    framing = [*lines[:2], lines[2] + "X", "\t" + lines[3], *lines[4:]]  # too long, control char
    return {
        "valid LF": join(lines),
        "valid CRLF": join(lines, "\r\n"),
        "participant": join(std(PARTICIPANT), "\r\n"),
        "no final newline": join(lines)[:-1],
        "findings": join(bad),
        "trimmed": join([x.rstrip() for x in lines]),
        "encoding and length": join(framing),
    }


@pytest.mark.parametrize("size", [1, 7, 250, 4096])
@pytest.mark.parametrize("name", list(_streaming_inputs()))
def test_streaming_in_chunks_gives_what_decode_gives(name: str, size: int) -> None:
    data = _streaming_inputs()[name]
    whole = decode(data)
    events, reader = _stream(data, size)
    assert reader.findings == whole.findings
    assert reader.errors == whole.counts["errors"]
    assert reader.line_ending == (whole.file.line_ending if whole.file else "\n")
    records = [r for _, r in events if not isinstance(r, BillingHeader | BillingTrailer)]
    assert whole.file is not None
    assert tuple(records) == whole.file.records
    assert isinstance(events[0][1], BillingHeader) and events[0][1] == whole.file.header
    assert isinstance(events[-1][1], BillingTrailer) and events[-1][1] == whole.file.trailer
    assert [n for n, _ in events] == sorted(n for n, _ in events)
    chunked = decode_chunks(data[i : i + size] for i in range(0, len(data), size))
    assert chunked.findings == whole.findings
    assert chunked.file == whole.file
    assert chunked.counts == whole.counts


def test_reader_yields_line_numbers_and_close_is_idempotent() -> None:
    data = join(std())
    reader = HotReader()
    events = list(reader.feed(data[:300]))
    assert [n for n, _ in events] == [1]  # only the header line is complete
    events += list(reader.feed(data[300:]))
    events += list(reader.close())
    assert [n for n, _ in events] == list(range(1, 10))
    assert list(reader.close()) == []
    assert reader.valid and reader.findings == []


def test_keep_records_false_keeps_findings_and_counts_only() -> None:
    lines = std()
    lines[3] = put(lines[3], 22, "23470068511")  # agent check digit
    data = join(lines)
    full, lean = decode(data), decode(data, keep_records=False)
    assert lean.file is None and full.file is not None
    assert lean.findings == full.findings
    assert lean.counts == full.counts


# --- encoding and framing findings (file scope) ----------------------------------------------


def test_non_ascii_byte_is_located() -> None:
    data = bytearray(join(std()))
    pos = 251 + 175  # line 2, column 175 (agent reference)
    data[pos - 1] = 0xDC
    result = decode(bytes(data))
    f = the(result, "ENCODING_NON_ASCII")
    assert (f.line, f.columns, f.scope, f.severity) == (2, (175, 175), Scope.FILE, Severity.ERROR)
    assert not result.valid


@pytest.mark.parametrize("byte", [b"\t", b"\x00", b"\x7f", b"\r", b"\x1b"])
def test_control_character_is_located(byte: bytes) -> None:
    lines = std()
    lines[3] = put(lines[3], 10, byte.decode("ascii"))
    result = decode(join(lines))
    f = the(result, "ENCODING_CONTROL_CHAR")
    assert (f.line, f.columns, f.scope) == (4, (10, 10), Scope.FILE)
    assert not result.valid


def test_line_longer_than_250_is_an_error() -> None:
    lines = std()
    lines[1] += "XY"
    result = decode(join(lines))
    f = the(result, "LINE_TOO_LONG")
    assert (f.line, f.columns, f.scope, f.severity) == (2, (251, 252), Scope.FILE, Severity.ERROR)


def test_header_missing() -> None:
    lines = std()[1:]
    result = decode(join(lines))
    f = the(result, "HEADER_MISSING")
    assert (f.line, f.record_type, f.scope) == (1, "AWM", Scope.FILE)
    assert result.file is None
    assert not result.valid


def test_second_header() -> None:
    lines = std()
    lines.insert(4, lines[0])
    result = decode(join(lines))
    assert [(f.code, f.line, f.scope) for f in result.findings] == [
        ("HEADER_DUPLICATE", 5, Scope.FILE)
    ]


def test_trailer_missing() -> None:
    result = decode(join(std()[:-1]))
    assert [(f.code, f.scope) for f in result.findings] == [("TRAILER_MISSING", Scope.FILE)]
    assert result.file is None


def test_records_after_trailer() -> None:
    lines = std()
    extra = encode_line(make_awb(seven="7777777"))
    result = decode(join([*lines, extra, extra]))
    assert [(f.code, f.line, f.scope) for f in result.findings] == [
        ("RECORD_AFTER_TRAILER", 10, Scope.FILE)
    ]


def test_second_trailer_is_a_duplicate_trailer() -> None:
    lines = std()
    result = decode(join([*lines, lines[-1]]))
    assert [(f.code, f.line, f.scope) for f in result.findings] == [
        ("TRAILER_DUPLICATE", 10, Scope.FILE)
    ]


def test_empty_file() -> None:
    result = decode(b"")
    assert [(f.code, f.scope, f.severity) for f in result.findings] == [
        ("FILE_EMPTY", Scope.FILE, Severity.ERROR)
    ]
    assert result.file is None and not result.valid


def test_blank_line_is_a_warning_and_skipped() -> None:
    lines = std()
    lines.insert(3, "")
    result = decode(join(lines))
    assert [(f.code, f.line, f.severity) for f in result.findings] == [
        ("LINE_BLANK", 4, Severity.WARNING)
    ]
    assert result.valid
    assert result.file is not None and len(result.file.records) == 7


def test_blank_crlf_line_is_a_warning() -> None:
    lines = std()
    lines.insert(2, "")
    result = decode(join(lines, "\r\n"))
    assert codes(result) == ["LINE_BLANK"]
    assert result.valid


def test_period_ending_before_it_starts() -> None:
    header = make_header(
        period_start=make_header().period_end, period_end=make_header().period_start
    )
    result = decode(join(file_lines(standard_records(), HANDOFF, header)))
    assert summary(result) == [("PERIOD_INVALID", 1, "AAA", "period_end", (15, 20))]
    assert the(result, "PERIOD_INVALID").scope is Scope.FILE


def test_header_field_malformed() -> None:
    lines = std()
    lines[0] = put(lines[0], 21, "240230")  # billing date 30 Feb
    result = decode(join(lines))
    assert summary(result) == [("HEADER_INVALID", 1, "AAA", "billing_date", (21, 26))]
    assert the(result, "HEADER_INVALID").scope is Scope.FILE
    assert result.file is None


def test_trailer_field_malformed() -> None:
    lines = std()
    lines[-1] = put(lines[-1], 14, "00000X2")
    result = decode(join(lines))
    assert summary(result) == [("TRAILER_INVALID", 9, "TTT", "awb_count", (14, 20))]
    assert the(result, "TRAILER_INVALID").scope is Scope.FILE


def test_unknown_record_type() -> None:
    lines = std()
    lines.insert(4, put(lines[3], 1, "XYZ"))
    result = decode(join(lines))
    f = the(result, "RECORD_TYPE_UNKNOWN")
    assert (f.line, f.record_type, f.columns, f.scope) == (5, "XYZ", (1, 3), Scope.RECORD)
    assert codes(result) == ["RECORD_TYPE_UNKNOWN"]


def test_ecr_is_unknown_in_the_participant_dialect() -> None:
    lines = std(PARTICIPANT)
    lines.insert(5, encode_record(CORRECTION, make_correction("ECR", seven="1111111")))
    result = decode(join(lines))
    assert [(f.code, f.line) for f in result.findings] == [("RECORD_TYPE_UNKNOWN", 6)]


# --- record field findings ---------------------------------------------------------------------

FIELD_CASES = [
    # (line index, position, text, code, field, columns)
    (1, 57, "0000003462A0", "FIELD_NOT_NUMERIC", "weight_charge_prepaid", (57, 68)),
    (1, 40, "081332", "FIELD_INVALID_DATE", "execution_date", (40, 45)),
    (1, 33, "X", "FIELD_INVALID_INDICATOR", "use_indicator", (33, 33)),
    (1, 53, "Q", "FIELD_INVALID_INDICATOR", "weight_unit", (53, 53)),
    (1, 250, "+", "FIELD_INVALID_INDICATOR", "discount_sign", (250, 250)),
    (1, 200, "000001.0000", "FIELD_INVALID_RATE", "rate_of_exchange", (200, 210)),
    (1, 54, "ZZZ", "CURRENCY_UNKNOWN", "currency", (54, 56)),
    (4, 59, "X", "FIELD_INVALID_INDICATOR", "weight_charge_pc", (59, 59)),
]


@pytest.mark.parametrize(
    ("index", "pos", "text", "code", "field", "columns"),
    FIELD_CASES,
    ids=[f"{c[3]}-{c[4]}" for c in FIELD_CASES],
)
def test_malformed_field_rejects_its_record_only(
    index: int, pos: int, text: str, code: str, field: str, columns: tuple[int, int]
) -> None:
    lines = std()
    lines[index] = put(lines[index], pos, text)
    result = decode(join(lines))
    f = the(result, code)
    rid = lines[index][:3]
    assert (f.line, f.record_type, f.field, f.columns) == (index + 1, rid, field, columns)
    assert (f.scope, f.severity) == (Scope.RECORD, Severity.ERROR)
    assert not result.valid
    assert result.counts["rejected_records"] >= 1
    # the other records are still decoded
    assert result.file is not None
    assert len(result.file.records) == 6


def test_a_malformed_record_is_still_counted_for_the_trailer() -> None:
    # HOT.md: record-level findings reject that record, the rest is accepted. The trailer
    # counts the records in the file; a malformed AWM line is still an AWM record, so it must
    # not also raise a file-level TRAILER_COUNT_MISMATCH (which would reject the whole file).
    lines = std()
    lines[3] = put(lines[3], 40, "081332")
    result = decode(join(lines))
    assert summary(result) == [("FIELD_INVALID_DATE", 4, "AWM", "execution_date", (40, 45))]
    assert [f for f in result.findings if f.scope is Scope.FILE] == []
    assert result.counts["AWM"] == 2


@pytest.mark.parametrize("kind", ["check digit", "malformed"])
def test_bad_record_is_rejected_and_the_rest_decoded(kind: str) -> None:
    lines = std()
    if kind == "check digit":
        lines[3] = put(lines[3], 16, str((int(lines[3][15]) + 1) % 10))
    else:
        lines[3] = put(lines[3], 69, "NOTANAMOUNT!")
    _, reader = _stream(join(lines), 4096)
    assert reader.rejected_lines == {4}
    assert all(f.scope is Scope.RECORD for f in reader.findings)
    assert reader.file_errors == 0
    result = decode(join(lines))
    assert result.counts["rejected_records"] == 1
    assert result.file is not None
    ids = [r.record_id for r in result.file.records]
    if kind == "check digit":  # decoded, yielded so it can be shown, and rejected
        assert ids == ["AWM", "AW1", "AWM", "CCO", "CCR", "DCO", "DCR"]
    else:  # could not be decoded at all
        assert ids == ["AWM", "AW1", "CCO", "CCR", "DCO", "DCR"]


def test_every_finding_is_returned_not_only_the_first() -> None:
    lines = std()
    lines[1] = put(lines[1], 22, "23470068511")  # agent check digit (line 2)
    lines[3] = put(lines[3], 53, "Q")  # weight unit (line 4)
    lines[6] = put(lines[6], 39, "ZZZ")  # currency (line 7)
    result = decode(join(lines))
    found = {(f.code, f.line) for f in result.findings}
    assert {
        ("AGENT_CHECK_DIGIT", 2),
        ("FIELD_INVALID_INDICATOR", 4),
        ("CURRENCY_UNKNOWN", 7),
    } <= found
    check_catalogue(result)


def test_every_finding_is_returned_three_independent_checker_problems() -> None:
    records = standard_records()
    records[0] = replace(records[0], agent_code="23470068511")
    records[2] = replace(records[2], airline_prefix="172")
    records[3] = replace(records[3], currency="USD")  # CCO in USD, no rate, EUR file
    records[4] = replace(records[4], currency="USD", rate_of_exchange=Decimal("0.90000"))
    result = decode(join(file_lines(records)))
    assert summary(result) == [
        ("AGENT_CHECK_DIGIT", 2, "AWM", "agent_code", (22, 32)),
        ("AIRLINE_PREFIX_MISMATCH", 4, "AWM", "airline_prefix", (6, 8)),
        ("EXCHANGE_RATE_MISSING", 5, "CCO", "rate_of_exchange", (42, 52)),
    ]
    check_catalogue(result)


# --- cross-record findings through the reader ----------------------------------------------------


def _decode_records(records: list[Any], dialect: Dialect = HANDOFF, **kw: Any) -> DecodeResult:
    return decode(join(file_lines(records, dialect, **kw)))


@pytest.mark.parametrize(("dialect", "columns"), [(HANDOFF, (9, 16)), (PARTICIPANT, (20, 27))])
def test_awb_check_digit(dialect: Dialect, columns: tuple[int, int]) -> None:
    bad = make_awb(dialect, awb_serial="62144155")
    result = _decode_records([make_awb(dialect, seven="1234567"), bad], dialect)
    assert [(f.code, f.line, f.field, f.columns) for f in result.findings] == [
        ("AWB_CHECK_DIGIT", 3, "awb_serial", columns)
    ]


@pytest.mark.parametrize(("dialect", "columns"), [(HANDOFF, (22, 32)), (PARTICIPANT, (6, 16))])
def test_agent_check_digit(dialect: Dialect, columns: tuple[int, int]) -> None:
    result = _decode_records([make_awb(dialect, agent_code="23470068516")], dialect)
    assert [(f.code, f.line, f.field, f.columns) for f in result.findings] == [
        ("AGENT_CHECK_DIGIT", 2, "agent_code", columns)
    ]


def test_airline_prefix_must_match_the_header() -> None:
    result = _decode_records(
        [
            make_awb(),
            make_correction("CCO", airline_prefix="172"),
            make_correction("CCR", airline_prefix="172"),
        ]
    )
    assert [(f.code, f.line, f.columns) for f in result.findings] == [
        ("AIRLINE_PREFIX_MISMATCH", 3, (6, 8)),
        ("AIRLINE_PREFIX_MISMATCH", 4, (6, 8)),
    ]


def test_agent_hand_off_file_has_no_prefix_to_match() -> None:
    header = make_header(airline_prefix="", agent_code="2347006")
    records = [make_awb(), make_awb(airline_prefix="172", seven="6782807")]
    lines = file_lines(records, HANDOFF, header)
    assert lines[0][5:8] == "   " and lines[-1][9:12] == "   "
    result = decode(join(lines))
    assert result.findings == []
    assert result.file is not None and result.file.header.agent_code == "2347006"


def test_duplicate_awb() -> None:
    awb = make_awb()
    result = _decode_records([awb, make_awb(seven="1234567"), replace(awb, origin="FRA")])
    assert [(f.code, f.line, f.field, f.scope) for f in result.findings] == [
        ("AWB_DUPLICATE", 4, "awb_serial", Scope.RECORD)
    ]


def test_same_serial_of_two_airlines_is_not_a_duplicate() -> None:
    header = make_header(airline_prefix="")
    records = [make_awb(), make_awb(airline_prefix="020")]
    assert _decode_records(records, header=header).findings == []


def test_revised_correction_without_original() -> None:
    ccr = make_correction("CCR")
    result = _decode_records([make_awb(), ccr])
    assert summary(result) == [("CORRECTION_ORIGINAL_MISSING", 3, "CCR", "reference", (33, 38))]
    assert not result.valid


def test_original_correction_without_revision() -> None:
    result = _decode_records([make_correction("DCO"), make_awb()])
    assert summary(result) == [("CORRECTION_REVISED_MISSING", 2, "DCO", "reference", (33, 38))]


def test_revision_before_its_original_pairs() -> None:
    cco = make_correction("CCO")
    result = _decode_records([replace(cco, record_id="CCR"), cco])
    assert result.findings == []


def test_duplicated_correction() -> None:
    cco = make_correction("CCO")
    ccr = replace(cco, record_id="CCR")
    result = _decode_records([cco, ccr, ccr])
    assert [(f.code, f.line, f.record_type) for f in result.findings] == [
        ("CORRECTION_DUPLICATE", 4, "CCR")
    ]


def test_charges_on_void_awb_are_a_warning() -> None:
    result = _decode_records([make_awb(use_indicator="V")])
    assert summary(result) == [("CHARGES_ON_NON_REVENUE", 2, "AWM", "use_indicator", (33, 33))]
    assert result.valid
    assert the(result, "CHARGES_ON_NON_REVENUE").severity is Severity.WARNING


def test_void_awb_without_charges_is_fine() -> None:
    void = make_awb(use_indicator="V", weight_charge_prepaid=money(0))
    assert _decode_records([void]).findings == []


def test_exchange_rate_missing() -> None:
    usd = make_awb(currency="USD")
    with_rate = make_awb(seven="1234567", currency="USD", rate_of_exchange=Decimal("1.08000"))
    result = _decode_records([usd, with_rate])
    assert summary(result) == [("EXCHANGE_RATE_MISSING", 2, "AWM", "rate_of_exchange", (200, 210))]
    assert not result.valid


def test_other_charges_total_mismatch_is_a_warning_on_the_awb() -> None:
    awb = make_awb(other_charges_agent_collect=money(20))
    aw1 = make_other_charges("AW1", (("AW", "A", "C", "19.00"),))
    result = _decode_records([awb, aw1, make_awb(seven="1234567")])
    assert summary(result) == [
        ("OTHER_CHARGES_TOTAL_MISMATCH", 2, "AWM", "other_charges_agent_collect", (141, 152))
    ]
    assert result.valid


def test_other_charges_total_mismatch_at_the_end_of_the_file_is_located() -> None:
    awb = make_awb(other_charges_agent_collect=money(20))
    aw1 = make_other_charges("AW1", (("AW", "A", "C", "19.00"),))
    result = _decode_records([awb, aw1])
    assert summary(result) == [
        ("OTHER_CHARGES_TOTAL_MISMATCH", 2, "AWM", "other_charges_agent_collect", (141, 152))
    ]


def test_other_charges_total_mismatch_followed_by_a_correction_is_located() -> None:
    # The finding is about the AWM line: its columns are the AWM's, whatever record follows.
    awb = make_awb(other_charges_agent_collect=money(20))
    aw1 = make_other_charges("AW1", (("AW", "A", "C", "19.00"),))
    cco = make_correction("CCO")
    result = _decode_records([awb, aw1, cco, replace(cco, record_id="CCR")])
    assert summary(result) == [
        ("OTHER_CHARGES_TOTAL_MISMATCH", 2, "AWM", "other_charges_agent_collect", (141, 152))
    ]


def test_itemised_charges_of_a_correction() -> None:
    cco = make_correction("CCO", other_charges_carrier=money(5))
    ccr = replace(cco, record_id="CCR", other_charges_carrier=money(7))
    cc3_ok = make_other_charges(
        "CC3", (("SC", "C", "P", "5.00"),), seven="6782807", reference="808640"
    )
    cc3_bad = replace(cc3_ok, charges=(replace(cc3_ok.charges[0], amount=money(6)),))
    result = _decode_records([cco, cc3_ok, ccr, cc3_bad, make_awb()])
    assert [(f.code, f.line, f.field) for f in result.findings] == [
        ("OTHER_CHARGES_TOTAL_MISMATCH", 4, "other_charges_carrier")
    ]


def test_other_charges_orphan_is_a_warning() -> None:
    aw1 = make_other_charges("AW1", (("AW", "A", "C", "20.00"),), seven="1234567")
    result = _decode_records([make_awb(), aw1])
    f = the(result, "OTHER_CHARGES_ORPHAN")
    assert (f.line, f.record_type, f.severity) == (3, "AW1", Severity.WARNING)
    assert codes(result) == ["OTHER_CHARGES_ORPHAN"]
    assert result.valid


def test_other_charges_record_that_does_not_fit_is_kept_verbatim() -> None:
    lines = std()
    odd = put(lines[2], 25, "MY?P000000001500 garbage that is not a slot")
    lines[2] = odd
    data = join(lines)
    result = decode(data)
    assert [(f.code, f.line, f.record_type, f.severity) for f in result.findings] == [
        ("OTHER_CHARGES_UNPARSED", 3, "AW1", Severity.WARNING)
    ]
    assert result.valid
    assert result.file is not None
    raw = result.file.records[1]
    assert isinstance(raw, RawRecord)
    assert (raw.record_id, raw.text) == ("AW1", odd)
    assert encode(result.file) == data
    assert result.counts["AW1"] == 1  # still counted for the trailer


# --- trailer -----------------------------------------------------------------------------------


def test_trailer_count_mismatch_per_type_and_total() -> None:
    records = standard_records()
    bf = make_file(records)
    counts = dict(bf.trailer.type_counts)
    counts["CCO"] = 2
    lines = file_lines(records, awb_count=3, total_count=7, type_counts=tuple(counts.items()))
    result = decode(join(lines))
    assert summary(result) == [
        ("TRAILER_COUNT_MISMATCH", 9, "TTT", "awb_count", (14, 20)),
        ("TRAILER_COUNT_MISMATCH", 9, "TTT", "total_count", (35, 41)),
        ("TRAILER_COUNT_MISMATCH", 9, "TTT", "count_CCO", (91, 97)),
    ]
    assert all(f.scope is Scope.FILE for f in result.findings)
    assert not result.valid


def test_trailer_blank_type_counts_are_not_compared() -> None:
    records = standard_records()
    lines = file_lines(records, type_counts=())
    assert lines[-1][41:111] == " " * 70
    assert decode(join(lines)).findings == []


def test_trailer_total_inconsistent() -> None:
    lines = file_lines(standard_records(), total_count=7)
    result = decode(join(lines))
    assert summary(result) == [
        ("TRAILER_COUNT_MISMATCH", 9, "TTT", "total_count", (35, 41)),
        ("TRAILER_TOTAL_INCONSISTENT", 9, "TTT", "total_count", (35, 41)),
    ]


def test_trailer_total_inconsistent_with_right_total() -> None:
    # total equals the file's records but not the trailer's own AWB + CCA + DCM
    lines = file_lines(standard_records(), dcm_count=1)
    result = decode(join(lines))
    assert summary(result) == [
        ("TRAILER_COUNT_MISMATCH", 9, "TTT", "dcm_count", (28, 34)),
        ("TRAILER_TOTAL_INCONSISTENT", 9, "TTT", "total_count", (35, 41)),
    ]


def test_participant_trailer_counts_other_charges_records() -> None:
    lines = file_lines(standard_records(PARTICIPANT), PARTICIPANT, type_counts=(("AW1", 2),))
    result = decode(join(lines))
    assert summary(result) == [("TRAILER_COUNT_MISMATCH", 9, "TTT", "count_AW1", (57, 63))]


def test_hash_total_written_is_opencass_algorithm() -> None:
    records = standard_records(PARTICIPANT)
    bf = make_file(records, PARTICIPANT)
    serials = sum(int(r.awb_serial) for r in records)  # every detail record, AW1 included
    assert bf.trailer.hash_total == hash_total(serials) == serials % 10**12


def test_hash_total_mismatch_is_a_warning() -> None:
    lines = std(PARTICIPANT)
    lines[-1] = put(lines[-1], 45, "000000000001")
    result = decode(join(lines))
    assert summary(result) == [("HASH_TOTAL_MISMATCH", 9, "TTT", "hash_total", (45, 56))]
    f = the(result, "HASH_TOTAL_MISMATCH")
    assert (f.severity, f.scope) == (Severity.WARNING, Scope.FILE)
    assert result.valid


@pytest.mark.parametrize("value", ["000000000000", " " * 12])
def test_zero_or_blank_hash_total_means_not_given(value: str) -> None:
    lines = std(PARTICIPANT)
    lines[-1] = put(lines[-1], 45, value)
    result = decode(join(lines))
    assert result.findings == []
    assert result.file is not None
    assert result.file.trailer.hash_total == (0 if value.strip() else None)


def test_correct_hash_total_passes() -> None:
    lines = std(PARTICIPANT)
    result = decode(join(lines))
    assert result.findings == []
    assert result.file is not None
    assert result.file.trailer.hash_total == hash_total(
        sum(int(r.awb_serial) for r in standard_records(PARTICIPANT))
    )


# --- limits ------------------------------------------------------------------------------------


def test_too_many_records() -> None:
    data = join(std())
    reader = HotReader(max_records=3)
    events = [*reader.feed(data), *reader.close()]
    assert [f.code for f in reader.findings if f.code == "TOO_MANY_RECORDS"] == ["TOO_MANY_RECORDS"]
    f = next(f for f in reader.findings if f.code == "TOO_MANY_RECORDS")
    assert (f.line, f.scope) == (5, Scope.FILE)
    assert not reader.valid
    assert len([r for _, r in events if isinstance(r, AwbRecord)]) <= 2


def test_findings_are_capped_but_counted() -> None:
    lines = std()
    records = [make_awb(seven=f"{i:07d}", agent_code="23470068511") for i in range(1, 8)]
    lines = file_lines(records)
    reader = HotReader(max_findings=3)
    list(reader.feed(join(lines)))
    list(reader.close())
    assert len(reader.findings) == 3
    assert reader.errors == 7


# --- golden files ------------------------------------------------------------------------------

GOLDEN = sorted(DATA.glob("*.hot"))


def _key(f: dict[str, Any]) -> tuple[Any, ...]:
    return (f["line"] or 0, f["code"], f.get("field") or "")


def _matches(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> bool:
    """Same findings; each expected entry names the keys that matter (always code and line)."""
    if len(actual) != len(expected):
        return False
    pairs = zip(sorted(actual, key=_key), sorted(expected, key=_key), strict=True)
    return all(a.get(k) == v for a, e in pairs for k, v in e.items())


def _brief(f: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(f.get(k) for k in ("code", "line", "record_type", "field", "columns"))


def test_golden_files_exist() -> None:
    names = {p.name for p in GOLDEN}
    assert {"billing_handoff.hot", "billing_participant.hot", "agent_handoff.hot"} <= names
    assert len(GOLDEN) >= 6
    for p in GOLDEN:
        assert p.with_suffix(".expected.json").exists(), p


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_file(path: Path) -> None:
    data = path.read_bytes()
    expected = json.loads(path.with_suffix(".expected.json").read_text())
    result = decode(data)
    actual = [f.as_dict() for f in result.findings]
    for f in expected["findings"]:
        assert {"code", "line"} <= f.keys()
    report = [
        "actual:",
        *(str(_brief(f)) for f in sorted(actual, key=_key)),
        "expected:",
        *(str(_brief(f)) for f in sorted(expected["findings"], key=_key)),
    ]
    assert _matches(actual, expected["findings"]), "\n".join(report)
    assert result.valid is expected["valid"]
    if "dialect" in expected:
        assert result.dialect == expected["dialect"]
    assert result.counts["rejected_records"] == expected["rejected_records"]
    for rid, n in expected.get("counts", {}).items():
        assert result.counts.get(rid, 0) == n, rid
    check_catalogue(result)
    if expected["round_trip"]:
        assert result.file is not None
        assert encode(result.file) == data


# --- fuzzing: decode never raises ----------------------------------------------------------------

FUZZ_BASES = {
    "handoff": join(std()),
    "participant": join(std(PARTICIPANT), "\r\n"),
    "agent": join(
        file_lines(
            standard_records(), HANDOFF, make_header(airline_prefix="", agent_code="2347006")
        )
    ),
}
BYTES = st.one_of(
    st.sampled_from(list(b"0123456789 -.KLPCRSVAWMTXZ\n\r\x00\t")),
    st.integers(0, 255),
)


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "insert":
            data[pos:pos] = bytes(draw(st.lists(BYTES, min_size=1, max_size=3)))
        elif op == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 300))]
        elif op == "replace" and data:
            data[pos] = draw(BYTES)
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


def _normalised_lines(data: bytes) -> list[bytes]:
    out = []
    for raw in data.split(b"\n"):
        raw = raw.removesuffix(b"\r")
        if raw:
            out.append(raw.ljust(250))
    return out


@pytest.mark.parametrize("name", list(FUZZ_BASES))
@HYPOTHESIS
@given(data=st.data())
def test_mutated_files_never_raise(name: str, data: st.DataObject) -> None:
    raw = data.draw(mutated(FUZZ_BASES[name]))
    result = decode(raw)
    assert result.findings or result.valid
    assert result.valid == (not result.errors)
    check_catalogue(result)
    for f in result.findings:
        assert f.line is None or 1 <= f.line <= raw.count(b"\n") + 1
    if result.valid:
        # A file with no error has been framed and decoded, and encodes to what was read.
        assert result.file is not None
        if not result.findings:
            assert encode(result.file).splitlines() == _normalised_lines(raw)
    # streaming the same bytes gives the same findings (the order is checked by
    # test_streaming_in_chunks_gives_what_decode_gives)
    _, reader = _stream(raw, 97)
    assert sorted(reader.findings, key=_order) == sorted(result.findings, key=_order)


def _order(f: Any) -> tuple[Any, ...]:
    return (f.line or 0, f.code, f.field or "", f.columns or (0, 0), f.message)
