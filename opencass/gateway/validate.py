"""Validation of files on disk, in parallel for large HOT files.

Theory of operation
-------------------
Decoding is CPU-bound Python, so a large HOT file is cut into slices that worker processes
decode and check at the same time.  Slices start at AWB records (never between an AWB and its
itemised charges) and know their first line number, so their findings carry the file's own
line numbers.  Each worker returns its findings and its ``FileChecker`` state; the parent merges
the states in file order (counts, hash, AWBs seen, corrections waiting for their other half),
reports the duplicates that only the merge reveals, then runs the end-of-file checks once.

The sequential reader is the reference: whenever the framing is unusual (a bad header, a trailer
before the last slice, more records than the limit) the file is read again sequentially, so the
parallel path can only ever be faster, never different.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from opencass.codecs import hot
from opencass.codecs.checks import FileChecker
from opencass.codecs.hot.layouts import DIALECTS
from opencass.codecs.hot.reader import DEFAULT_MAX_FINDINGS, DEFAULT_MAX_RECORDS, HotReader
from opencass.codecs.result import DecodeResult
from opencass.findings import Finding, Severity, finding
from opencass.model import BillingTrailer, Dialect
from opencass.processes import pool_context

__all__ = ["PARALLEL_MIN_BYTES", "file_chunks", "validate_hot_file"]

CHUNK = 1 << 20
PARALLEL_MIN_BYTES = 16 << 20  # below this a second process costs more than it saves


def file_chunks(path: Path, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """The bytes of ``path`` from ``start`` to ``end`` (default: its end) in 1 MiB chunks."""
    with path.open("rb") as f:
        f.seek(start)
        left = (end if end is not None else os.fstat(f.fileno()).st_size) - start
        while left > 0 and (chunk := f.read(min(CHUNK, left))):
            left -= len(chunk)
            yield chunk


@dataclass(slots=True)
class _Slice:
    """What a worker hands back for one slice of the file."""

    findings: list[Finding] = field(default_factory=list)
    errors: int = 0
    warnings: int = 0
    records: int = 0
    lines: int = 0
    checker: FileChecker | None = None
    bad_lines: set[int] = field(default_factory=set)
    trailer: BillingTrailer | None = None
    trailer_line: int | None = None
    dialect: Dialect | None = None
    line_ending: str = "\n"


def _read_slice(path: Path, header_end: int, start: int, end: int, first_line: int) -> _Slice:
    """Read one slice; ``first_line`` 0 means "number lines locally" (the merge shifts them)."""
    reader = HotReader()
    with path.open("rb") as f:
        header = f.read(header_end)
    n = sum(1 for _ in reader.feed(header))
    reader.line = (first_line or 2) - 1
    for chunk in file_chunks(path, start, end):
        # a batch of clean records counts its records; anything else is one
        n += sum(1 if type(x) is tuple else len(x) for x in reader.scan(chunk))
    n += sum(1 for _ in reader.close(end_of_file=False))
    return _Slice(
        findings=reader.findings,
        errors=reader.errors,
        warnings=reader.warnings,
        records=n,
        lines=reader.line,
        checker=reader.checker,
        bad_lines=reader._bad_lines,
        trailer=reader.trailer,
        trailer_line=reader._trailer_line,
        dialect=reader.dialect,
        line_ending=reader.line_ending,
    )


def _boundaries(
    path: Path, size: int, header_end: int, parts: int, *, count_lines: bool = True
) -> list[tuple[int, int, int]]:
    """(start, end, first line) of each slice; slices begin at an AWB record.

    With ``count_lines=False`` the first lines are 0 (unknown) and the file is not read
    through: the slices number their lines locally and the merge renumbers them.
    """
    cuts = [header_end]
    with path.open("rb") as f:
        for k in range(1, parts):
            f.seek(max(size * k // parts, cuts[-1]))
            window = f.read(1 << 20)
            pos = min(
                (i for i in (window.find(b"\nAWM"), window.find(b"\nAWB")) if i >= 0),
                default=-1,
            )
            if pos < 0:
                break
            cuts.append(f.tell() - len(window) + pos + 1)
    cuts.append(size)
    if not count_lines:
        return [(start, end, 0) for start, end in itertools.pairwise(cuts)]
    out, line = [], 2
    with path.open("rb") as f:
        for start, end in itertools.pairwise(cuts):
            out.append((start, end, line))
            f.seek(start)
            line += f.read(end - start).count(b"\n")
    return out


def _locate_duplicates(
    path: Path, piece: tuple[int, int, int], dialect: Dialect, keys: set[int]
) -> list[tuple[int, str]]:
    """Lines of the first AWB of each key in ``keys`` within one slice."""
    layout = DIALECTS[dialect].details["AWM"]
    cols = {f.name: (f.start - 1, f.end) for f in layout.fields}
    (ps, pe), (ss, se) = cols["airline_prefix"], cols["awb_serial"]
    start, end, line = piece
    found: dict[int, tuple[int, str]] = {}
    rest = b""
    for chunk in file_chunks(path, start, end):
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for raw in lines:
            if raw[:3] in (b"AWM", b"AWB"):
                text = raw.decode("ascii", "replace")
                awb = text[ps:pe] + text[ss:se]
                if awb.isdigit() and int(awb) in keys and int(awb) not in found:
                    found[int(awb)] = (line, f"{awb[:3]}-{awb[3:]}")
            line += 1
    return sorted(found.values())


def _sequential(path: Path) -> DecodeResult:
    return hot.decode_chunks(file_chunks(path), keep_records=False)


def validate_hot_file(
    path: Path, *, workers: int | None = None, min_bytes: int = PARALLEL_MIN_BYTES
) -> DecodeResult:
    """Decode and validate a HOT file on disk; files over ``min_bytes`` in parallel."""
    size = path.stat().st_size
    workers = workers or min(os.cpu_count() or 1, 8)
    if workers < 2 or size < min_bytes:
        return _sequential(path)
    with path.open("rb") as f:
        header = f.readline(4096)
    header_end = len(header)
    probe = HotReader()
    list(probe.feed(header if header.endswith(b"\n") else b""))
    if probe.findings or probe.header is None or probe.dialect is None:
        return _sequential(path)
    pieces = _boundaries(path, size, header_end, workers, count_lines=False)
    # This process reads the first slice itself while workers read the others.  A process
    # with no other thread forks them (cheap, nothing to re-import); otherwise a fork server.
    with ProcessPoolExecutor(max_workers=len(pieces) - 1, mp_context=pool_context()) as pool:
        futures = [pool.submit(_read_slice, path, header_end, *p) for p in pieces[1:]]
        slices = [_read_slice(path, header_end, *pieces[0])] + [f.result() for f in futures]
    if any(s.trailer is not None for s in slices[:-1]) or slices[-1].lines > DEFAULT_MAX_RECORDS:
        return _sequential(path)
    return _merge(path, pieces, slices, probe.dialect)


def _shift(sl: _Slice, delta: int) -> None:
    """Renumber a slice read with local line numbers (its first body line was 2)."""
    sl.findings = [f if f.line is None else replace(f, line=f.line + delta) for f in sl.findings]
    sl.bad_lines = {line + delta for line in sl.bad_lines}
    sl.lines += delta
    if sl.trailer_line is not None:
        sl.trailer_line += delta
    if sl.checker is not None:
        sl.checker.shift(delta)


def _merge(
    path: Path, pieces: list[tuple[int, int, int]], slices: list[_Slice], dialect: Dialect
) -> DecodeResult:
    first, last = slices[0], slices[-1]
    assert first.checker is not None
    merger = HotReader()
    list(merger.feed(next(file_chunks(path, 0, pieces[0][0]))))
    merger.checker = checker = first.checker
    findings = list(first.findings)
    errors, warnings = first.errors, first.warnings
    bad = set(first.bad_lines)
    offset = first.lines - 1  # body lines before the next slice
    for piece, sl in zip(pieces[1:], slices[1:], strict=True):
        assert sl.checker is not None
        _shift(sl, offset)
        piece = (piece[0], piece[1], offset + 2)
        offset = sl.lines - 1
        dups = checker.absorb(sl.checker)
        findings += sl.findings
        errors, warnings = errors + sl.errors, warnings + sl.warnings
        bad |= sl.bad_lines
        for line, awb in _locate_duplicates(path, piece, dialect, dups) if dups else ():
            findings.append(
                finding(
                    "AWB_DUPLICATE",
                    f"AWB {awb} is billed more than once in this file",
                    line=line,
                    record_type="AWM",
                    field="awb_serial",
                )
            )
            errors += 1
            bad.add(line)
    merger.trailer, merger._trailer_line = last.trailer, last.trailer_line
    merger.line = last.lines
    merger.finish_checks()
    findings += merger.findings
    errors += sum(f.severity is Severity.ERROR for f in merger.findings)
    warnings += sum(f.severity is Severity.WARNING for f in merger.findings)
    findings.sort(key=lambda f: (f.line is None, f.line or 0))
    if len(findings) > DEFAULT_MAX_FINDINGS:
        hidden = errors + warnings - DEFAULT_MAX_FINDINGS
        findings = findings[:DEFAULT_MAX_FINDINGS]
        findings.append(finding("FINDINGS_TRUNCATED", f"{hidden} more findings not listed"))
    counts = {
        "lines": last.lines,
        "records": sum(s.records for s in slices) - (len(slices) - 1),  # header read by each
        "errors": errors,
        "warnings": warnings,
        "rejected_records": len(bad | checker.rejected_lines),
    }
    counts.update(sorted(checker.counts.items()))
    return DecodeResult("hot", str(dialect), None, findings, counts)
