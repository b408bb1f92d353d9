"""The CASS HOT fixed-width files: layouts as tables, one generic reader and writer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opencass.codecs.hot.layouts import DIALECTS, RECORD_LENGTH, Field, Kind, Layout, detect_dialect
from opencass.codecs.hot.reader import HotReader
from opencass.codecs.hot.records import EncodeError, check_fields, decoder_for, encode_record
from opencass.codecs.hot.writer import HotWriter, build_trailer, encode
from opencass.codecs.result import DecodeResult
from opencass.model import BillingFile, BillingHeader, DetailRecord

__all__ = [
    "DIALECTS",
    "RECORD_LENGTH",
    "EncodeError",
    "Field",
    "HotReader",
    "HotWriter",
    "Kind",
    "Layout",
    "build_trailer",
    "check_fields",
    "decode",
    "decode_chunks",
    "decoder_for",
    "detect_dialect",
    "encode",
    "encode_record",
]

CHUNK = 1 << 20


def decode_chunks(chunks: Iterable[bytes], *, keep_records: bool = True) -> DecodeResult:
    """Decode and validate a HOT file given as chunks of bytes.

    With ``keep_records=False`` only the findings and counts are kept (bounded memory for
    large files); otherwise ``result.file`` holds the decoded file when framing allowed it.
    """
    reader = HotReader()
    header: BillingHeader | None = None
    records: list[DetailRecord] = []
    n = 0

    def take(events: Iterable[Any]) -> None:
        nonlocal n, header
        for event in events:
            if type(event) is not tuple:  # a batch of clean records (records not kept)
                n += len(event)
                continue
            _line, rec = event
            n += 1
            if keep_records:
                if isinstance(rec, BillingHeader):
                    header = rec
                elif reader.trailer is None or rec is not reader.trailer:
                    records.append(rec)

    for chunk in chunks:
        take(reader.feed(chunk) if keep_records else reader.scan(chunk))
    take(reader.close())
    file = None
    if (
        keep_records
        and header is not None
        and reader.trailer is not None
        and reader.trailer.country
    ):
        assert reader.dialect is not None
        file = BillingFile(
            reader.dialect, header, tuple(records), reader.trailer, reader.line_ending
        )
    return _result(reader, n, file)


def _result(reader: HotReader, records: int, file: BillingFile | None) -> DecodeResult:
    """The reader's findings and counts as a DecodeResult."""
    counts = {
        "lines": reader.line,
        "records": records,
        "errors": reader.errors,
        "warnings": reader.warnings,
    }
    counts["rejected_records"] = len(reader.rejected_lines)
    if reader.checker is not None:
        for rid, c in sorted(reader.checker.counts.items()):
            counts[rid] = c
    findings = list(reader.findings)
    if reader.errors + reader.warnings > len(findings):
        from opencass.findings import finding

        findings.append(
            finding(
                "FINDINGS_TRUNCATED",
                f"{reader.errors + reader.warnings - len(findings)} more findings not listed",
            )
        )
    return DecodeResult(
        "hot", str(reader.dialect) if reader.dialect else None, file, findings, counts
    )


def decode(data: bytes, *, keep_records: bool = True) -> DecodeResult:
    """Decode and validate a whole HOT file held in memory."""
    return decode_chunks(
        (data[i : i + CHUNK] for i in range(0, len(data), CHUNK)), keep_records=keep_records
    )
