"""A billing submission read from its file chunk by chunk, its records handed to a sink as
they are read: the same records, lines, findings and counts as the decode in memory, and
neither the file nor its records held whole."""

from __future__ import annotations

import tracemalloc
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from opencass.cli.samples import sample_billing_file
from opencass.codecs.onerecord import decode_submission, decode_submission_file
from opencass.codecs.onerecord.safe import CHUNK
from opencass.model import AwbRecord, BillingFile, BillingHeader, DetailRecord, awb_check_digit

START = date(2026, 11, 1)


class Collect:
    def __init__(self) -> None:
        self.headers: list[BillingHeader] = []
        self.records: list[tuple[DetailRecord, int]] = []

    def header(self, header: BillingHeader) -> None:
        self.headers.append(header)

    def record(self, rec: DetailRecord, line: int) -> None:
        self.records.append((rec, line))


class Count:
    def __init__(self) -> None:
        self.n = 0

    def header(self, header: BillingHeader) -> None:
        pass

    def record(self, rec: DetailRecord, line: int) -> None:
        self.n += 1


def _encoded(file: BillingFile) -> bytes:
    from opencass.codecs.onerecord import encode_submission

    return encode_submission(file)


def _many(n: int) -> BillingFile:
    """The demo billing with its first AWB repeated under ``n`` serial numbers."""
    base = sample_billing_file(START)
    awb = next(r for r in base.records if isinstance(r, AwbRecord))
    records = []
    for i in range(n):
        seven = f"{5000000 + i:07d}"
        records.append(replace(awb, awb_serial=seven + str(awb_check_digit(seven))))
    return replace(base, records=tuple(records))


def test_a_file_streamed_to_a_sink_decodes_as_in_memory(tmp_path: Path) -> None:
    data = _encoded(sample_billing_file(START))
    # a wrong check digit on one waybill: a record finding on its line, in both
    data = data.replace(b"<cargo:waybillNumber>62144154<", b"<cargo:waybillNumber>62144155<", 1)
    path = tmp_path / "billing.xml"
    path.write_bytes(data)
    whole = decode_submission(data)
    sink = Collect()
    streamed = decode_submission_file(path, sink=sink)
    assert whole.file is not None and streamed.file is not None
    assert [r for r, _ in sink.records] == list(whole.file.records)
    assert tuple(line for _, line in sink.records) == whole.record_lines
    assert sink.headers == [whole.file.header] == [streamed.file.header]
    assert streamed.findings == whole.findings and streamed.counts == whole.counts
    assert any(f.code == "AWB_CHECK_DIGIT" for f in streamed.findings)
    assert streamed.file.records == () and streamed.file.trailer == whole.file.trailer
    # without a sink the file's records are kept, as in memory
    kept = decode_submission_file(path)
    assert kept.file == whole.file and kept.record_lines == whole.record_lines


def test_a_long_prolog_and_a_doctype_read_from_a_file(tmp_path: Path) -> None:
    data = _encoded(sample_billing_file(START))
    head, rest = data.split(b"\n", 1)
    long = head + b"\n<!--" + b"x" * (3 * CHUNK) + b"-->\n" + rest
    (tmp_path / "long.xml").write_bytes(long)
    assert decode_submission_file(tmp_path / "long.xml").valid
    doctype = head + b'\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n' + rest
    (tmp_path / "doctype.xml").write_bytes(doctype)
    result = decode_submission_file(tmp_path / "doctype.xml")
    assert result.file is None and [f.code for f in result.findings] == ["XML_DOCTYPE_FORBIDDEN"]


def test_streaming_holds_neither_the_file_nor_its_records(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(_encoded(_many(4000)))
    size = path.stat().st_size
    assert size > 8_000_000
    sink = Count()
    tracemalloc.start()
    try:
        result = decode_submission_file(path, sink=sink)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.valid and sink.n == 4000
    # Python-side memory stays far below the file (libxml2's own is bounded by the chunk
    # and the element being read; the records went to the sink one by one)
    assert peak < size / 4, (peak, size)


def test_a_comment_first_seen_late_and_split_across_chunks_is_stripped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Comments and PIs are stripped from an element only once the document has shown one: a
    # comment deep in the file, its "<" the last byte of a chunk, splitting a value, still is.
    from opencass.codecs.onerecord import safe

    clean = _encoded(_many(60))
    number = clean.index(b"<cargo:waybillNumber>", len(clean) // 2) + len(b"<cargo:waybillNumber>")
    noisy = clean[: number + 4] + b"<!--x-->" + clean[number + 4 :]
    monkeypatch.setattr(safe, "CHUNK", number + 4 + 1 - safe.check_prolog(noisy))
    path = tmp_path / "noisy.xml"
    path.write_bytes(noisy)
    sink = Collect()
    result = decode_submission_file(path, sink=sink)
    expected = decode_submission(clean)
    assert result.valid, [f.as_dict() for f in result.findings]
    assert expected.file is not None
    assert [r for r, _ in sink.records] == list(expected.file.records)
