"""CASS Import files: the AA2/AA3 header and IBI/IBO/IBR records (HOT.md "CASS Import")."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from opencass.codecs import detect_format, hot
from opencass.codecs.hot.layouts import HEADER_IMPORT, IMPORT, detect_dialect
from opencass.codecs.hot.reader import HotReader
from opencass.codecs.hot.records import decoder_for, encode_record
from opencass.model import (
    BillingFile,
    BillingHeader,
    Dialect,
    ImportRecord,
)
from tests.kit.imports import HEADER, IBI, import_records


def test_the_sample_header_decodes_to_the_asserted_values() -> None:
    line = HEADER.ljust(250)
    h = decoder_for(HEADER_IMPORT)(line, 2)
    assert detect_dialect(line) is Dialect.IMPORT and detect_format(line.encode()) == "hot"
    assert (h.record_id, h.recipient, h.country, h.operation) == (
        "AA2", "JP054000004", "JP", "JP-I",
    )  # fmt: skip
    assert (h.period_start, h.period_end, h.billing_date) == (
        date(2010, 8, 1), date(2010, 8, 15), date(2010, 8, 23),
    )  # fmt: skip
    assert (h.currency, h.file_number, h.airline_prefix) == ("JPY", "01", "")
    assert encode_record(HEADER_IMPORT, h) == line


def test_the_sample_record_decodes_to_the_asserted_values() -> None:
    r = decoder_for(IMPORT)(IBI, 0)
    assert len(IBI) == 250
    assert (r.record_id, r.agent_code, r.airline_prefix, r.awb_serial) == (
        "IBI", "JP054000004", "006", "70158700",
    )  # fmt: skip
    assert (r.origin, r.destination, r.flight) == ("MGA", "NRT", "DL0619")
    assert (r.arrival_date, r.delivery_date) == (date(2010, 8, 4), date(2010, 8, 5))
    assert (r.gross_weight, r.weight_unit, r.currency) == (Decimal("140.0"), "K", "USD")
    assert r.rate_of_exchange == Decimal("87.67")
    # amounts in the record's currency (USD: two decimals), positions as HOT.md lists them
    assert (r.weight_charges, r.charges_due_agent, r.charges_due_carrier) == (
        Decimal("415.60"), Decimal("5000.00"), Decimal("2300.00"),
    )  # fmt: skip
    assert (r.fee, r.fee_charged) == (Decimal("30.00"), "Y")
    assert (r.handling_charges, r.storage_charges) == (Decimal("0.77"), Decimal("4400000000.44"))
    assert (r.other_charge_1, r.other_charge_2, r.miscellaneous_charges) == (
        Decimal("1200000000.21"), Decimal("6700000000.67"), Decimal("1400000000.41"),
    )  # fmt: skip
    # positions HOT.md does not name are kept verbatim and written back
    assert r.reserved[0] == "        00533186 NN" and r.reserved[1] == "006A"
    assert encode_record(IMPORT, r) == IBI


def _file(*lines: str, trailer: str | None = None) -> bytes:
    body = [HEADER, *lines]
    if trailer is not None:
        body.append(trailer)
    return ("\n".join(body) + "\n").encode("ascii")


def _read(data: bytes) -> HotReader:
    reader = HotReader()
    list(reader.feed(data))
    list(reader.close())
    return reader


def _with(line: str, start: int, text: str) -> str:
    return line[: start - 1] + text + line[start - 1 + len(text) :]


def _codes(reader: HotReader) -> list[tuple[str, int | None, tuple[int, int] | None]]:
    return [(f.code, f.line, f.columns) for f in reader.findings]


GOOD = _with(IBI, 41, "70158701")  # the sample's serial with a right check digit (7015870 % 7)
TRAILER = "TTT JPTYO    0000001000000000000000000001"


def test_a_sample_file_with_a_valid_serial_reads_clean() -> None:
    reader = _read(_file(GOOD, trailer=TRAILER))
    assert reader.valid and reader.dialect is Dialect.IMPORT, _codes(reader)
    # the sample's own serial fails the AWB check digit, located at its columns
    bad = _read(_file(IBI, trailer=TRAILER))
    assert _codes(bad) == [("AWB_CHECK_DIGIT", 2, (41, 48))]


def test_findings_name_line_field_and_columns() -> None:
    lines = [
        _with(GOOD, 23, "JP05400000X"),  # recipient not country + 9 digits
        _with(_with(GOOD, 41, "10000012"), 69, "100806"),  # arrived after it was delivered
        _with(_with(GOOD, 41, "10000023"), 92, "87.670000 "),  # not a rate
        _with(_with(GOOD, 41, "10000034"), 162, "X"),  # fee charged neither Y nor N
        _with(_with(GOOD, 1, "IBR"), 41, "10000045"),  # a revision without its original
    ]
    trailer = "TTT JPTYO    0000004000000100000000000005"
    reader = _read(_file(*lines, trailer=trailer))
    assert _codes(reader) == [
        ("RECIPIENT_CODE_INVALID", 2, (23, 33)),
        ("DELIVERY_BEFORE_ARRIVAL", 3, (75, 80)),
        ("FIELD_INVALID_RATE", 4, (92, 101)),
        ("FIELD_INVALID_INDICATOR", 5, (162, 162)),
        ("CORRECTION_ORIGINAL_MISSING", 6, None),
    ]
    assert reader.rejected_lines == {2, 3, 4, 5, 6}


def test_the_trailer_counts_import_records() -> None:
    pair = [_with(_with(GOOD, 1, rid), 41, "10000012") for rid in ("IBO", "IBR")]
    good = _read(_file(GOOD, *pair, trailer="TTT JPTYO    0000001000000200000000000003"))
    assert good.valid, _codes(good)
    wrong = _read(_file(GOOD, *pair, trailer=TRAILER))
    assert [f.field for f in wrong.findings] == ["cca_count", "total_count"]
    assert {f.code for f in wrong.findings} == {"TRAILER_COUNT_MISMATCH"}
    assert _codes(_read(_file(GOOD)))[-1][0] == "TRAILER_MISSING"


def test_an_import_file_pairs_its_corrections() -> None:
    pair = [_with(_with(GOOD, 1, rid), 41, "10000012") for rid in ("IBR", "IBO")]
    result = hot.decode(_file(GOOD, *pair, trailer="TTT JPTYO    0000001000000200000000000003"))
    assert result.valid and result.file is not None
    (correction,) = result.file.import_corrections
    assert (correction.original.record_id, correction.revised.record_id) == ("IBO", "IBR")
    assert [r.awb for r in result.file.imports] == ["006-70158701"]


@settings(max_examples=60, deadline=None)
@given(st.lists(import_records(), min_size=1, max_size=8))
def test_generated_import_files_round_trip(records: list[ImportRecord]) -> None:
    header = BillingHeader("AA3", "DE", "", date(2026, 12, 1), date(2026, 12, 31),
                           date(2027, 1, 15), "02", "EUR", agent_code="054000001")  # fmt: skip
    trailer = hot.build_trailer(header, records, Dialect.IMPORT, office="FRA")
    data = hot.encode(BillingFile(Dialect.IMPORT, header, tuple(records), trailer))
    back = hot.decode(data)
    assert back.file is not None and back.file.dialect is Dialect.IMPORT
    assert back.file.header.operation == "DE-I" and back.file.header.recipient == "DE054000001"
    decoded = [replace(r, reserved=()) for r in back.file.records if isinstance(r, ImportRecord)]
    assert decoded == records
    assert hot.encode(back.file) == data  # byte-identical
