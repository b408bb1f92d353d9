"""Streaming, sans-IO decoder and validator of HOT files.

Theory of operation
-------------------
``HotReader.feed(chunk)`` takes bytes as they arrive and yields ``(line, record)`` for every
complete line it could decode; ``close()`` yields what is left and runs the end-of-file checks.
Findings accumulate in ``reader.findings`` (at most ``max_findings`` are kept; the counts stay
exact).  Memory is bounded by one chunk plus the cross-record state of ``FileChecker``.

A line goes through: encoding (ASCII, no control characters, at most 250 characters) → padding
to 250 → framing (header first, one trailer last) → the record's layout (fast path, then the
field diagnostics when it fails) → the cross-record checks.  File-level errors (encoding,
framing, header, trailer) reject the whole file; record-level errors reject the record, which
is still yielded so that a caller can show it, with its line in ``rejected_lines``.

``scan`` is ``feed`` for large files: ``vector`` checks each block's lines as arrays and only
the lines it cannot vouch for take the per-record path (see ``scan``).

Framing: the first line must be a header (``AAA``/``ALS``); the dialect is read from it.  A
second header, records after the trailer or a missing trailer are file errors.  An empty line
is skipped with a warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING, Any

from opencass.codecs.checks import FileChecker, hash_total, locate
from opencass.codecs.hot.layouts import (
    CORRECTION,
    DIALECTS,
    OTHER_CHARGES,
    RECORD_LENGTH,
    DialectLayouts,
    Layout,
    columns,
    detect_dialect,
    group_counts,
)
from opencass.codecs.hot.records import (
    _MU,
    Malformed,
    check_fields,
    currency_units,
    decoder_for,
)
from opencass.findings import Finding, Scope, Severity, finding
from opencass.model import (
    IMPORT_HEADER_IDS,
    AwbRecord,
    BillingHeader,
    BillingTrailer,
    CorrectionRecord,
    DetailRecord,
    Dialect,
    ImportRecord,
    RawRecord,
)

if TYPE_CHECKING:  # the vector path imports numpy when a large block first needs it
    import numpy as np
    import numpy.typing as npt

    from opencass.codecs.hot.vector import CleanRows, LineBlock

__all__ = ["DEFAULT_MAX_RECORDS", "HotReader"]

DEFAULT_MAX_RECORDS = 5_000_000
DEFAULT_MAX_FINDINGS = 10_000
# A block shorter than this is read per record by ``scan`` too: arrays pay off on hundreds of
# lines, and a command reading a small file never imports numpy.
VECTOR_MIN_BYTES = 64 << 10
_HEADER_IDS = ("AAA", "ALS", *IMPORT_HEADER_IDS)
# Bytes a HOT line may hold (printable ASCII) plus the line end.
_TEXT_BYTES = bytes(range(0x20, 0x7F)) + b"\r\n"
# Cross-record checks still run when the header could not be read; they compare with nothing.
_NO_HEADER = BillingHeader("", "", "", date.min, date.min, date.min, "", "", "", "")


class HotReader:
    """Decode and validate a HOT file fed in chunks of bytes."""

    def __init__(
        self,
        *,
        max_records: int = DEFAULT_MAX_RECORDS,
        max_findings: int = DEFAULT_MAX_FINDINGS,
        vector_min_bytes: int = VECTOR_MIN_BYTES,
    ) -> None:
        self.max_records = max_records
        self.vector_min_bytes = vector_min_bytes  # smaller blocks: per record (no numpy)
        self.max_findings = max_findings
        self.findings: list[Finding] = []
        self.errors = 0
        self.warnings = 0
        self.file_errors = 0
        self.line = 0
        self.dialect: Dialect | None = None
        self.header: BillingHeader | None = None
        self.trailer: BillingTrailer | None = None
        self.checker: FileChecker | None = None
        self.line_ending = "\n"
        self.text = ""  # the line (padded to 250) of the record last yielded
        self._layouts: DialectLayouts | None = None
        self._decoders: dict[str, tuple[Layout, Any, dict[str, tuple[int, int]]]] = {}
        self._rest = b""
        self._mu = 2
        self._bad_lines: set[int] = set()
        self._after_trailer_reported = False
        self._too_many = False
        self._closed = False
        self._started = False
        self._in_body = False  # between header and trailer, under the record limit
        self._check: Any = None
        self._trailer_line: int | None = None

    # -- bookkeeping ------------------------------------------------------------------------

    def _add(self, found: Finding) -> None:
        if found.severity is Severity.ERROR:
            self.errors += 1
            if found.scope is Scope.FILE:
                self.file_errors += 1
            elif found.line is not None:
                self._bad_lines.add(found.line)
        else:
            self.warnings += 1
        if len(self.findings) < self.max_findings:
            self.findings.append(found)

    def _extend(self, found: list[Finding]) -> None:
        for f in found:
            self._add(f)

    @property
    def rejected_lines(self) -> set[int]:
        """Lines whose records are rejected by record-level errors."""
        extra = self.checker.rejected_lines if self.checker else set()
        return self._bad_lines | extra

    @property
    def valid(self) -> bool:
        """No error so far."""
        return self.errors == 0

    # -- input --------------------------------------------------------------------------------

    def feed(self, data: bytes) -> Iterator[tuple[int, Any]]:
        """Yield ``(line, record)`` for every complete line in ``data`` (plus buffered bytes)."""
        buf = self._rest + data
        cut = buf.rfind(b"\n") + 1
        self._rest, block = buf[cut:], buf[:cut]
        if not block:
            return
        if self.line == 0 and block.split(b"\n", 1)[0].endswith(b"\r"):
            self.line_ending = "\r\n"
        lines = self._split(block)
        line_no = self.line
        decoders, limit, in_body = self._decoders, self.max_records + 1, self._in_body
        for text in lines:
            line_no += 1
            self.line = line_no
            if isinstance(text, bytes):  # a line _split found bad: report it in order
                self._bad_line(text, line_no)
                continue
            if len(text) != RECORD_LENGTH:
                if not text or len(text) > RECORD_LENGTH:
                    self._bad_line(text.encode("ascii"), line_no)
                    continue
                text = text.ljust(RECORD_LENGTH)
            entry = decoders.get(text[:3]) if in_body and line_no <= limit else None
            if entry is None:  # header, trailer, unknown type, after the trailer, over the limit
                rec = self._record(text, line_no)
                decoders, in_body = self._decoders, self._in_body  # a header or trailer moves them
                if rec is not None:
                    self.text = text
                    yield line_no, rec
                continue
            layout, decode, _ = entry
            try:
                rec = decode(text, self._mu)
            except Malformed:
                rec = self._malformed(layout, text, line_no)
                if rec is not None:
                    self.text = text
                    yield line_no, rec
                continue
            if layout is not OTHER_CHARGES:
                self._mu = _MU[rec.currency]
            issues = self._check(rec, line_no)
            if issues:
                self._extend(self._locate(issues))
            self.text = text
            yield line_no, rec

    def scan(self, data: bytes) -> Iterator[tuple[int, Any] | CleanRows]:
        """Like ``feed``, but the clean AWB records of each block (and itemised charges that add
        up to their totals) come as ``CleanRows`` batches (arrays, no record object per line),
        after the block's other lines, which come as ``feed`` gives them, in file order.

        The reader's state afterwards (counts, AWBs seen, hash, findings, line) is what
        ``feed`` would have left: ``tests/codecs/test_hot_vector.py`` holds the two equal.
        """
        buf = self._rest + data
        cut = buf.rfind(b"\n") + 1
        rest, block = buf[cut:], buf[:cut]
        self._rest = b""
        if block and not self._started:  # the header line
            end = block.find(b"\n") + 1
            yield from self.feed(block[:end])
            block = block[end:]
        if block and self._awb_layout() is None:  # after the trailer, or an import file
            yield from self.feed(block)
        elif block:
            screened = len(block) >= self.vector_min_bytes
            screened = screened and not block.translate(None, _TEXT_BYTES)
            if screened and (b"\r" not in block or block.count(b"\r") == block.count(b"\r\n")):
                yield from self._scan_block(block)
            else:
                yield from self.feed(block)
        self._rest = rest

    def _awb_layout(self) -> Layout | None:
        """The AWB layout while the body of an export file is being read, else None."""
        if not self._in_body or self._layouts is None or self._layouts.dialect is Dialect.IMPORT:
            return None
        return self._layouts.details["AWM"]

    def _scan_block(self, block: bytes) -> Iterator[tuple[int, Any] | CleanRows]:
        """The block's other lines through ``feed``, in order, each in the state the clean
        records before it leave; then the clean records as one batch."""
        import numpy as np

        from opencass.codecs.hot.vector import CleanRows, runs, split_lines

        layout = self._awb_layout()
        checker = self.checker
        assert layout is not None and checker is not None
        lb = split_lines(block)
        awb, keys = self._fast_lines(block, lb, layout)
        aw1, aw1_keys, units = self._fast_itemised(lb, awb, layout)
        cca, cca_keys = self._fast_pairs(lb)
        fast = awb | aw1 | cca
        first, n = self.line + 1, len(fast)
        row_of = np.cumsum(lb.regular) - 1
        # how many lines before each may itemise a record (a line of a slow group that may)
        itemising = np.concatenate(([0], np.cumsum(self._itemising(lb)))).tolist()
        end = n
        for a, b, clean in runs(fast):
            if not self._in_body:  # a trailer, or the record limit, came before
                end = a
                yield from self.feed(block[lb.starts[a] :])
                break
            if clean:
                if checker._oc_sums:  # the itemised charges of the record before, compared
                    pending: list[Finding] = []  # as this record's arrival would compare them
                    checker._flush_other_charges(pending)
                    self._extend(self._locate(pending))
                continue
            if a:  # a clean record just before: the currency and parent it leaves
                # (a line of the next block may itemise it too, past lines that are no record)
                may = b == n or itemising[b] > itemising[a]
                self._after_clean(lb.rows[row_of[a - 1]], first + a - 1, may)
            self.line = first + a - 1
            yield from self.feed(block[lb.starts[a] : lb.ends[b - 1]])
        else:
            self.line = first + n - 1
            if n and fast[-1]:
                self._after_clean(lb.rows[row_of[-1]], first + n - 1, True)
        batches = (  # keys (and units) by line
            (awb, layout, _by_line(lb, keys), None),
            (cca, CORRECTION, _by_line(lb, cca_keys), None),
            (aw1, OTHER_CHARGES, aw1_keys, units),
        )
        for mask, kind, line_keys, line_units in batches:
            picked = np.flatnonzero(mask[:end])
            if len(picked):
                rows = lb.rows[row_of[picked]]
                more = None if line_units is None else line_units[picked]
                batch = CleanRows(kind, picked + first, rows, line_keys[picked], more)
                self._take(batch)
                yield batch

    def _after_clean(self, row: Any, line: int, itemised: bool) -> None:
        """The state a clean record (an AWB or a correction) leaves for the lines after it: its
        currency's minor units (itemised amounts are read with them) and, when a line after it
        may itemise it, the record itself as the parent of those charges."""
        text = row.tobytes().decode("ascii")
        layout = self._decoders[text[:3]][0]
        start, end = self._decoders[text[:3]][2]["currency"]
        self._mu = currency_units(text[start - 1 : end])
        if itemised:
            assert self.checker is not None
            self.checker._oc_parent = decoder_for(layout)(text, 2)
            self.checker._oc_parent_line = line

    def _itemising(self, lb: LineBlock) -> npt.NDArray[np.bool_]:
        """Lines that may itemise a record before them (and odd lines, which might)."""
        import numpy as np

        out = ~lb.regular
        ids = lb.rows[:, :3].copy().view("S3").ravel()
        out[lb.regular] = np.isin(ids, np.array([r.encode() for r in OTHER_CHARGES.record_ids]))
        return out

    def _fast_lines(
        self, block: bytes, lb: LineBlock, layout: Layout
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
        """Lines of the block that are clean AWB records (see ``vector``) and bill an AWB that
        neither the file so far nor another line of the block bills; and their AWB keys."""
        import numpy as np

        from opencass.codecs.hot.vector import Expect, clean_rows

        assert self.checker is not None
        n, m = len(lb.starts), lb.rows
        fast = np.zeros(n, dtype=np.bool_)
        reg = np.flatnonzero(lb.regular)
        line_nos = self.line + 1 + reg
        ids = [rid.encode() for rid, lay in self._decoders.items() if lay[0] is layout]
        rid = m[:, :3].copy().view("S3").ravel()
        awb = np.isin(rid, np.array(ids, dtype="S3"))
        cand = awb & (line_nos <= self.max_records + 1)
        header = self.checker.header
        ok, keys = clean_rows(m, layout, Expect(header.airline_prefix, header.currency))
        # an AWB seen twice in the block, or before it, goes the per-record way (which
        # reports it); so does one that a trimmed line of the block may bill
        twice = np.zeros(len(reg), dtype=np.bool_)
        _, inverse, counts = np.unique(keys[awb], return_inverse=True, return_counts=True)
        twice[awb] = counts[inverse.ravel()] > 1
        seen = self.checker._awbs
        cand &= ok & ~twice
        idx = np.flatnonzero(cand)
        if seen:
            before = np.fromiter((k in seen for k in keys[idx].tolist()), np.bool_, len(idx))
            cand[idx[before]] = False
        odd = _odd_keys(block, lb, layout)
        if odd:
            cand &= ~np.isin(keys, np.array(sorted(odd), dtype=np.int64))
        fast[reg] = cand
        return fast, keys

    def _fast_itemised(
        self, lb: LineBlock, fast: npt.NDArray[np.bool_], layout: Layout
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Lines of AW1 records that the per-record path would take without a finding: they
        follow a clean AWB record (``fast``) of their own AWB, nothing but AW1 lines between,
        add up to its four other-charges totals, and a clean AWB record follows them (its
        arrival compares the sums); with each row's AWB key and minor units."""
        import numpy as np

        from opencass.codecs.hot.vector import integers, itemised_rows, totals

        assert self.checker is not None
        n, m = len(fast), lb.rows
        row_of = np.cumsum(lb.regular) - 1
        rid = np.zeros(n, dtype="S3")
        rid[lb.regular] = m[:, :3].copy().view("S3").ravel()
        aw1 = (rid == b"AW1") & (self.line + 1 + np.arange(n) <= self.max_records + 1)
        out = np.zeros(n, dtype=np.bool_)
        keys = np.zeros(n, dtype=np.int64)
        units = np.zeros(n, dtype=np.int64)
        lines = np.flatnonzero(aw1)
        if not len(lines):
            return out, keys, units
        parent = np.maximum.accumulate(np.where(aw1, -1, np.arange(n)))[lines]
        sub = m[row_of[lines]]
        ok, sums = itemised_rows(sub)
        prefix = self.checker.header.airline_prefix
        if prefix:
            pa, pb = columns(OTHER_CHARGES)["airline_prefix"]
            ok &= (sub[:, pa:pb] == np.frombuffer(prefix.encode(), np.uint8)).all(axis=1)
        has = parent >= 0
        ok &= has
        parent = np.where(has, parent, 0)
        ok &= fast[parent]
        cols, own = columns(layout), columns(OTHER_CHARGES)
        parent_rows = m[row_of[parent]]
        mine = integers(sub, own["airline_prefix"][0], own["awb_serial"][1])
        theirs = integers(parent_rows, *cols["airline_prefix"]) * 10**8 + integers(
            parent_rows, *cols["awb_serial"]
        )
        ok &= mine == theirs
        good = _groups_fit(ok, sums, parent, lines, fast, totals(parent_rows, layout))
        out[lines[good]] = True
        keys[lines] = mine
        ca, cb = cols["currency"]
        codes = parent_rows[:, ca:cb].copy().view("S3").ravel()
        for code in np.unique(codes[good]).tolist():
            units[lines[good & (codes == code)]] = currency_units(code.decode("ascii"))
        return out, keys, units

    def _fast_pairs(self, lb: LineBlock) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
        """Lines of correction pairs the per-record path would take without a finding: an
        original and its revision (CCO/CCR, DCO/DCR, either first) on adjacent lines, each
        clean by itself, of one AWB and reference, which neither the file so far nor another
        line of the block corrects; and each row's AWB key."""
        import numpy as np

        from opencass.codecs.hot.vector import Expect, clean_rows

        assert self.checker is not None
        n, m = len(lb.starts), lb.rows
        out, keys = np.zeros(n, dtype=np.bool_), np.zeros(len(m), dtype=np.int64)
        if not bool(lb.regular.all()) or n < 2:  # a trimmed line: the per-record way
            return out, keys
        rid = m[:, :3].copy().view("S3").ravel()
        ids = [r.encode() for r in ("CCO", "CCR", "DCO", "DCR") if r in self._decoders]
        idx = np.flatnonzero(np.isin(rid, np.array(ids, dtype="S3")))  # rows = lines here
        if len(idx) < 2:
            return out, keys
        sub = m[idx]
        header = self.checker.header
        ok, keys[idx] = clean_rows(sub, CORRECTION, Expect(header.airline_prefix, header.currency))
        ok &= self.line + 1 + idx <= self.max_records + 1
        # what pairs them: CC or DC, the AWB and the reference (every line of a paired type
        # counted, clean or not: each one is paired)
        cols = [0, 1, *range(*_CORRECTION_COLUMNS["airline_prefix"])]
        cols += [
            *range(*_CORRECTION_COLUMNS["awb_serial"]),
            *range(*_CORRECTION_COLUMNS["reference"]),
        ]
        code = np.ascontiguousarray(sub[:, cols]).view(f"S{len(cols)}").ravel()
        _, inverse, counts = np.unique(code, return_inverse=True, return_counts=True)
        twice = counts[inverse.ravel()] == 2  # this pair alone in the block
        j = np.flatnonzero((idx[1:] == idx[:-1] + 1) & ok[:-1] & ok[1:] & twice[:-1])
        j = j[(code[j] == code[j + 1]) & (sub[j, 2] != sub[j + 1, 2])]  # one O, one R
        if len(j):  # pairs may not overlap (O R O R...: take every other)
            j = j[np.concatenate(([True], np.diff(j) > 1))]
        checker = self.checker
        for k in j.tolist():
            i = int(idx[k])
            key = self._pair_key(rid[i], m[i])
            if (
                key in checker._originals
                or key in checker._revisions
                or (rid[i].decode(), key) in checker._paired
                or (rid[i + 1].decode(), key) in checker._paired
            ):
                continue
            out[i] = out[i + 1] = True
        return out, keys

    @staticmethod
    def _pair_key(rid: bytes, row: Any) -> tuple[str, str, str, str]:
        text = row.tobytes().decode("ascii")
        cols = _CORRECTION_COLUMNS
        kind = "CCA" if rid[:1] == b"C" else "DCM"
        return (
            kind,
            text[slice(*cols["airline_prefix"])],
            text[slice(*cols["awb_serial"])],
            text[slice(*cols["reference"])].rstrip(),
        )

    def _take(self, batch: CleanRows) -> None:
        """The checker's counts, AWBs seen and hash after the clean records of ``batch``."""
        import numpy as np

        checker = self.checker
        assert checker is not None
        ids, counts = np.unique(batch.rows[:, :3].copy().view("S3").ravel(), return_counts=True)
        for rid, count in zip(ids.tolist(), counts.tolist(), strict=True):
            checker.counts[rid.decode()] += count
        keys = batch.keys
        if batch.layout is CORRECTION:  # pairs, each half paired with the other
            for rid, row in zip(batch.record_ids(), batch.rows, strict=True):
                checker._paired.add((rid, self._pair_key(rid[:1].encode(), row)))
        elif not batch.itemised:  # an AWB billed; itemised charges only add to the hash
            checker._awbs.update(keys.tolist())
        checker.serial_sum += int((keys % 100_000_000).sum())

    def _split(self, block: bytes) -> list[str | bytes]:
        """The lines of ``block`` (which ends with a newline) as text.

        A block of printable ASCII (the normal case) is decoded and split in two C calls;
        otherwise each line is screened and a bad one is given as its bytes, for ``feed`` to
        report in line order.
        """
        if not block.translate(None, _TEXT_BYTES):
            text = block.decode("ascii")
            if "\r" in text:
                text = text.replace("\r\n", "\n")
            if "\r" not in text:
                return text.split("\n")[:-1]  # type: ignore[return-value]
        out: list[str | bytes] = []
        for raw in block.split(b"\n")[:-1]:
            raw = raw.removesuffix(b"\r")
            text = raw.decode("ascii") if raw.isascii() else ""
            out.append(text if (text and text.isprintable()) or not raw else raw)
        return out

    def close(self, *, end_of_file: bool = True) -> Iterator[tuple[int, Any]]:
        """Yield the last line (if unterminated) and run the end-of-file checks.

        With ``end_of_file=False`` the input was one slice of a larger file (parallel
        validation): pending itemised charges are compared, the file-level checks are left to
        whoever merges the slices (``finish_checks``).
        """
        if self._closed:
            return
        self._closed = True
        if self._rest:
            rest, self._rest = self._rest, b""
            yield from self.feed(rest + b"\n")
        if end_of_file:
            self.finish_checks()
        elif self.checker is not None:
            self._extend(self._locate(self.checker.flush()))

    def _locate(self, found: list[Finding]) -> list[Finding]:
        """Fill in columns from the layout of each finding's own record type."""
        out = []
        for f in found:
            entry = self._decoders.get(f.record_type or "")
            out.extend(locate([f], entry[2]) if entry else [f])
        return out

    # -- per line -----------------------------------------------------------------------------

    def _bad_line(self, raw: bytes, line: int) -> None:
        if not raw:
            self._add(finding("LINE_BLANK", "empty line skipped", line=line))
            return
        if len(raw) > RECORD_LENGTH:
            self._add(
                finding(
                    "LINE_TOO_LONG",
                    f"line has {len(raw)} characters, at most {RECORD_LENGTH} allowed",
                    line=line,
                    columns=(RECORD_LENGTH + 1, len(raw)),
                )
            )
        for col, byte in enumerate(raw, 1):
            if byte >= 0x80:
                code, what = "ENCODING_NON_ASCII", f"byte 0x{byte:02X} is not ASCII"
            elif byte < 0x20 or byte == 0x7F:
                code, what = "ENCODING_CONTROL_CHAR", f"control character 0x{byte:02X}"
            else:
                continue
            self._add(finding(code, f"{what} at column {col}", line=line, columns=(col, col)))
            break  # one encoding finding per line is enough to locate it

    def _record(self, text: str, line: int) -> Any:
        rid = text[:3]
        if not self._started:
            return self._header(text, line)
        if self.trailer is not None:
            if rid == "TTT":
                self._add(finding("TRAILER_DUPLICATE", "a second trailer record", line=line))
            elif not self._after_trailer_reported:
                self._after_trailer_reported = True
                self._add(finding("RECORD_AFTER_TRAILER", "records follow the trailer", line=line))
            return None
        if rid == "TTT":
            self._in_body = False
            return self._trailer(text, line)
        if rid in _HEADER_IDS:
            self._add(finding("HEADER_DUPLICATE", "a second header record", line=line))
            return None
        return self._detail(text, rid, line)

    def _header(self, text: str, line: int) -> Any:
        rid = text[:3]
        if rid not in _HEADER_IDS:
            self._add(
                finding(
                    "HEADER_MISSING",
                    f"the first record must be a header (AAA, ALS, or AA2/AA3 for CASS Import), "
                    f"found {rid!r}",
                    line=line,
                    record_type=rid,
                    columns=(1, 3),
                )
            )
            # Read on with a hand-off layout so the rest still gets its findings.
            self._start(Dialect.HANDOFF, None)
            return self._detail(text, rid, line) if rid != "TTT" else self._trailer(text, line)
        dialect = detect_dialect(text)
        layout = DIALECTS[dialect].header
        try:
            header: BillingHeader = decoder_for(layout)(text, 2)
        except Malformed:
            self._extend(check_fields(layout, text, line, Scope.FILE))
            self._start(dialect, None)
            return None
        if header.period_end < header.period_start:
            self._add(
                finding(
                    "PERIOD_INVALID",
                    f"billing period ends {header.period_end} before it starts "
                    f"{header.period_start}",
                    line=line,
                    record_type=rid,
                    field="period_end",
                    columns=next(f.columns for f in layout.fields if f.name == "period_end"),
                )
            )
        self._start(dialect, header)
        return header

    def _start(self, dialect: Dialect, header: BillingHeader | None) -> None:
        self.dialect = dialect
        self._layouts = DIALECTS[dialect]
        self.header = header
        self._started = True
        self._in_body = True
        self.checker = FileChecker(header or _NO_HEADER)
        self._check = self.checker.record
        if header is not None and header.currency:
            self._mu = currency_units(header.currency)
        for rid, layout in self._layouts.details.items():
            cols = {f.name: f.columns for f in layout.fields}
            self._decoders[rid] = (layout, decoder_for(layout), cols)

    def _detail(self, text: str, rid: str, line: int) -> DetailRecord | None:
        checker = self.checker
        assert checker is not None
        found = self._decoders.get(rid)
        if self.line - 2 >= self.max_records and not self._too_many:
            self._too_many = True
            self._add(
                finding(
                    "TOO_MANY_RECORDS",
                    f"more than {self.max_records} records; the rest is not read",
                    line=line,
                )
            )
        if self._too_many:
            self._in_body = False
            return None
        if found is None:
            self._add(
                finding(
                    "RECORD_TYPE_UNKNOWN",
                    f"record type {rid!r} is not known in the {self.dialect} dialect",
                    line=line,
                    record_type=rid,
                    columns=(1, 3),
                )
            )
            return None
        layout, decode, _ = found
        try:
            rec = decode(text, self._mu)
        except Malformed:
            return self._malformed(layout, text, line)
        if isinstance(rec, AwbRecord | CorrectionRecord | ImportRecord):
            self._mu = currency_units(rec.currency)
        issues = checker.record(rec, line)
        if issues:
            self._extend(self._locate(issues))
        return rec  # type: ignore[no-any-return]

    def _malformed(self, layout: Layout, text: str, line: int) -> RawRecord | None:
        """A line the fast path refused: itemised records are kept, others get diagnostics.

        The record still counts for the trailer: its fault is its own, not the file's.
        """
        if layout is OTHER_CHARGES:
            return self._unparsed(text, text[:3], line)
        assert self.checker is not None
        self.checker.counts[text[:3]] += 1
        self._extend(check_fields(layout, text, line))
        return None

    def _unparsed(self, text: str, rid: str, line: int) -> RawRecord:
        assert self.checker is not None
        self.checker.counts[rid] += 1
        self._add(
            finding(
                "OTHER_CHARGES_UNPARSED",
                f"{rid} does not fit the provisional itemised layout; kept verbatim",
                line=line,
                record_type=rid,
            )
        )
        return RawRecord(rid, text)

    def _trailer(self, text: str, line: int) -> BillingTrailer | None:
        assert self._layouts is not None
        layout = self._layouts.trailer
        try:
            trailer: BillingTrailer = decoder_for(layout)(text, 2)
        except Malformed:
            self._extend(check_fields(layout, text, line, Scope.FILE))
            self.trailer = BillingTrailer("", "", 0, 0, 0, 0)
            return None
        self.trailer = trailer
        self._trailer_line = line
        return trailer

    # -- end of file ---------------------------------------------------------------------------

    def finish_checks(self) -> None:
        """End-of-file checks: correction pairs, the trailer's counts and hash total."""
        if not self._started:
            self._add(finding("FILE_EMPTY", "the file holds no records"))
            return
        assert self.checker is not None
        self._extend(self._locate(self.checker.finish()))
        if self.trailer is None:
            self._add(finding("TRAILER_MISSING", "the file ends without a trailer (TTT) record"))
            return
        if self.trailer.country:  # decoded: compare its counts
            self._check_trailer(self.trailer, self.checker)

    def _check_trailer(self, t: BillingTrailer, checker: FileChecker) -> None:
        n = checker.counts
        line = self._trailer_line
        awb, cca, dcm = group_counts(n)
        actual = {"awb_count": awb, "cca_count": cca, "dcm_count": dcm}
        actual["total_count"] = sum(actual.values())
        declared = {k: getattr(t, k) for k in actual}
        for rid, count in t.type_counts:
            if count is not None:
                actual[f"count_{rid}"], declared[f"count_{rid}"] = n[rid], count
        for name, value in declared.items():
            if value != actual[name]:
                self._add(
                    finding(
                        "TRAILER_COUNT_MISMATCH",
                        f"trailer {name} is {value}, the file has {actual[name]}",
                        line=line,
                        record_type="TTT",
                        field=name,
                        columns=self._columns(name),
                    )
                )
        if t.total_count != t.awb_count + t.cca_count + t.dcm_count:
            self._add(
                finding(
                    "TRAILER_TOTAL_INCONSISTENT",
                    f"trailer total {t.total_count} is not "
                    f"{t.awb_count} + {t.cca_count} + {t.dcm_count}",
                    line=line,
                    record_type="TTT",
                    field="total_count",
                    columns=self._columns("total_count"),
                )
            )
        if t.hash_total:  # zero or blank: not given
            expected = hash_total(checker.serial_sum)
            if t.hash_total != expected:
                self._add(
                    finding(
                        "HASH_TOTAL_MISMATCH",
                        f"hash total {t.hash_total} differs from opencass's {expected} "
                        "(Σ AWB serials mod 10^12)",
                        line=line,
                        record_type="TTT",
                        field="hash_total",
                        columns=self._columns("hash_total"),
                    )
                )

    def _columns(self, name: str) -> tuple[int, int] | None:
        assert self._layouts is not None
        return next((f.columns for f in self._layouts.trailer.fields if f.name == name), None)


def _groups_fit(
    ok: npt.NDArray[np.bool_],
    sums: npt.NDArray[np.int64],
    parent: npt.NDArray[np.int64],
    lines: npt.NDArray[np.int64],
    fast: npt.NDArray[np.bool_],
    totals: npt.NDArray[np.int64],
) -> npt.NDArray[np.bool_]:
    """AW1 lines whose group is clean: every AW1 of their parent fine, the group's sums equal
    to the parent's ``totals``, a clean AWB record right after the group."""
    import numpy as np

    n = len(fast)
    bad = np.zeros(n, dtype=np.int64)
    np.add.at(bad, parent, ~ok)
    total = np.zeros((n, 4), dtype=np.int64)
    np.add.at(total, parent, sums)
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, parent, lines)
    after = last[parent] + 1
    follows = np.zeros(len(lines), dtype=np.bool_)
    inside = after < n
    follows[inside] = fast[after[inside]]
    match = (total[parent] == totals).all(axis=1)
    good: npt.NDArray[np.bool_] = ok & (bad[parent] == 0) & match & follows
    return good


def _by_line(lb: LineBlock, per_row: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Values given per regular row, by line (0 on the other lines)."""
    import numpy as np

    out = np.zeros(len(lb.regular), dtype=np.int64)
    out[lb.regular] = per_row
    return out


_CORRECTION_COLUMNS = columns(CORRECTION)


def _odd_keys(block: bytes, lb: LineBlock, layout: Layout) -> set[int]:
    """The AWB keys that the block's lines of other lengths (trimmed lines) may bill."""
    import numpy as np

    (pa, pb), (sa, sb) = columns(layout)["airline_prefix"], columns(layout)["awb_serial"]
    out = set()
    for i in np.flatnonzero(~lb.regular).tolist():
        start = int(lb.starts[i])
        line = block[start : start + int(lb.lengths[i])].ljust(RECORD_LENGTH)
        awb = line[pa:pb] + line[sa:sb]
        if awb.isdigit():
            out.add(int(awb))
    return out
