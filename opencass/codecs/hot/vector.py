"""The common case of a large HOT file in array operations (numpy).

Theory of operation
-------------------
A large billing file is almost entirely AWB records that pass every check.  ``clean_rows``
takes a block of complete lines and answers, for every line at once, "would the per-record
path (``decoder_for`` → ``FileChecker.record``) accept this AWB record without a single
finding?"  The answer is built from the same layout tables as the per-record decoder, field
kind by field kind (digits, dates, indicators, rates, currencies, required text), plus the
checks ``FileChecker`` runs on a clean AWB (check digits, the header's prefix and currency,
revenue use, a first appearance of the AWB).  It may say "no" to a line that would pass — such
a line simply goes the per-record way — but it never says "yes" to one that would not: the
property test ``tests/codecs/test_hot_vector.py`` runs both paths on mutated files and compares
them finding for finding.

The lines it accepts come back as ``CleanRows``: the raw 250-byte rows as a matrix and the
columns a caller needs (booking columns, dates), extracted as arrays, never as one Python object
per record.  ``HotReader.scan`` interleaves those batches with the per-record path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from opencass.codecs.hot.layouts import (
    OC_SLOT,
    OC_SLOTS,
    OTHER_CHARGES,
    RECORD_LENGTH,
    Kind,
    Layout,
    columns,
)
from opencass.codecs.hot.records import Malformed, currency_units, decoder_for

__all__ = [
    "GROUPS",
    "CleanRows",
    "Expect",
    "LineBlock",
    "clean_rows",
    "columns",
    "date_number",
    "integers",
    "itemised_rows",
    "runs",
    "split_lines",
    "totals",
    "well_formed",
    "ymd",
]

Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
Bytes = npt.NDArray[np.uint8]

_ZERO, _NINE, _SPACE, _POINT, _CR, _LF = 48, 57, 32, 46, 13, 10
_DIGIT_KINDS = (Kind.NUM, Kind.INT, Kind.AMOUNT, Kind.DEC1, Kind.DEC2, Kind.DATE)
_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


@dataclass(frozen=True, slots=True)
class LineBlock:
    """A block of complete lines: where each starts, its length without the line end, and
    the rows of exactly 250 characters as a matrix (``regular`` marks them)."""

    starts: Ints
    lengths: Ints
    ends: Ints  # one past each line's last byte, line end included
    regular: Bools
    rows: Bytes  # len(regular.nonzero()) x 250


def split_lines(block: bytes) -> LineBlock:
    """The lines of ``block`` (complete lines, printable ASCII and line ends only)."""
    arr = np.frombuffer(block, dtype=np.uint8)
    nl = np.flatnonzero(arr == _LF).astype(np.int64)
    starts = np.empty_like(nl)
    starts[:1] = 0
    starts[1:] = nl[:-1] + 1
    cr = np.zeros(len(nl), dtype=np.bool_)
    has = nl > starts
    cr[has] = arr[nl[has] - 1] == _CR
    lengths = nl - starts - cr
    regular = lengths == RECORD_LENGTH
    n = len(nl)
    stride = RECORD_LENGTH + 1 + int(cr[0]) if n else 0
    if n and bool(regular.all()) and len(arr) == n * stride and bool((cr == cr[0]).all()):
        rows = arr.reshape(n, stride)[:, :RECORD_LENGTH]  # no copy: one stride throughout
    else:
        picked = starts[regular]
        rows = arr[picked[:, None] + np.arange(RECORD_LENGTH, dtype=np.int64)]
    return LineBlock(starts, lengths, nl + 1, regular, rows)


# --- one layout's fast-path conditions as array operations ----------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    digits: Ints  # 0-based columns that must hold digits
    required: tuple[tuple[int, int], ...]  # [start, end) not all blank
    optional_digits: tuple[tuple[int, int], ...]  # blank or digits
    indicators: tuple[tuple[int, bytes], ...]  # column, allowed bytes
    signs: tuple[int, ...]
    rates: tuple[tuple[int, int], ...]  # start, width
    dates: tuple[int, ...]
    optional_dates: tuple[int, ...]
    currency: int | None


@cache
def _plan(layout: Layout) -> _Plan:
    digits: list[int] = []
    required, optional, indicators, signs, rates, dates, odates = [], [], [], [], [], [], []
    currency = None
    for f in layout.fields:
        a, b, k = f.start - 1, f.end, f.kind
        if k in _DIGIT_KINDS:
            digits.extend(range(a, b))
        if k is Kind.REQ:
            required.append((a, b))
        elif k in (Kind.NUMOPT, Kind.INTOPT):
            optional.append((a, b))
        elif k is Kind.IND:
            if f.width != 1:  # pragma: no cover - every indicator of the tables is one byte
                raise AssertionError(f"{f.name}: a vector check needs a one-byte indicator")
            indicators.append((a, f.allowed.encode("ascii")))
        elif k is Kind.SIGN:
            signs.append(a)
        elif k is Kind.RATE:
            rates.append((a, f.width))
        elif k is Kind.DATE:
            dates.append(a)
        elif k is Kind.DATEOPT:
            odates.append(a)
        elif k is Kind.CUR:
            currency = a
        elif k is Kind.OCSLOTS:  # pragma: no cover - itemised records go the per-record way
            raise AssertionError("itemised charges are not checked as arrays")
    return _Plan(
        np.array(digits, dtype=np.int64),
        tuple(required),
        tuple(optional),
        tuple(indicators),
        tuple(signs),
        tuple(rates),
        tuple(dates),
        tuple(odates),
        currency,
    )


def integers(m: Bytes, a: int, b: int) -> Ints:
    """The digits m[:, a:b] as integers (only meaningful where they are digits)."""
    out = np.zeros(len(m), dtype=np.int64)
    for col in range(a, b):
        out = out * 10 + (m[:, col].astype(np.int64) - _ZERO)
    return out


def _all_digits(m: Bytes, a: int, b: int) -> Bools:
    part = m[:, a:b]
    return _every((part >= _ZERO) & (part <= _NINE))


def ymd(m: Bytes, a: int) -> tuple[Bools, Ints]:
    """Whether the six digits at ``a`` are a valid YYMMDD date, and the date as YYYYMMDD."""
    yy, mm, dd = integers(m, a, a + 2), integers(m, a + 2, a + 4), integers(m, a + 4, a + 6)
    year = np.where(yy < 80, 2000 + yy, 1900 + yy)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month = np.clip(mm, 0, 12)
    days = _DAYS[month] + ((month == 2) & leap)
    ok = (mm >= 1) & (mm <= 12) & (dd >= 1) & (dd <= days)
    return ok, year * 10_000 + mm * 100 + dd


def _every(m: Bools) -> Bools:
    """Rows of ``m`` that hold in every column."""
    return np.asarray(m.all(axis=1), dtype=np.bool_)


def _blank(m: Bytes, a: int, b: int) -> Bools:
    return _every(m[:, a:b] == _SPACE)


def well_formed(m: Bytes, layout: Layout) -> Bools:
    """Rows of ``m`` that the layout's fast decoder decodes without ``Malformed``."""
    p = _plan(layout)
    digits = m[:, p.digits]
    ok = _every((digits >= _ZERO) & (digits <= _NINE))
    for a, b in p.required:
        ok &= ~_blank(m, a, b)
    for a, b in p.optional_digits:
        ok &= _blank(m, a, b) | _all_digits(m, a, b)
    for col, allowed in p.indicators:
        ok &= np.isin(m[:, col], np.frombuffer(allowed, dtype=np.uint8))
    for col in p.signs:
        ok &= (m[:, col] == _SPACE) | (m[:, col] == ord("-"))
    for a, width in p.rates:
        point = a + width - 6
        ok &= m[:, point] == _POINT
        ok &= _all_digits(m, a, point) & _all_digits(m, point + 1, a + width)
    for a in p.dates:
        ok &= ymd(m, a)[0]
    for a in p.optional_dates:
        ok &= _blank(m, a, a + 6) | (_all_digits(m, a, a + 6) & ymd(m, a)[0])
    if p.currency is not None:
        ok &= _known_currency(m[:, p.currency : p.currency + 3])
    return ok


def _known_currency(codes: Bytes) -> Bools:
    """Rows whose three bytes are a currency the per-record decoder knows."""
    keys = codes.astype(np.int64) @ np.array([1 << 16, 1 << 8, 1], dtype=np.int64)
    found, inverse = np.unique(keys, return_inverse=True)
    known = np.zeros(len(found), dtype=np.bool_)
    for i, key in enumerate(found.tolist()):
        code = bytes(((key >> 16) & 255, (key >> 8) & 255, key & 255)).decode("ascii")
        try:
            currency_units(code)
        except Malformed:
            continue
        known[i] = True
    return known[inverse.ravel()]


# --- the rows a caller books without a record object -------------------------------------------


@dataclass(slots=True)
class CleanRows:
    """A block's clean records of one layout — AWBs, correction pairs or itemised charges —
    as arrays.

    ``lines`` are the file's line numbers (ascending, not always consecutive), ``rows`` the
    250-byte lines.  Columns come out as
    arrays (``column``), texts as one list (``texts``); ``record(i)`` decodes one row the
    per-record way, for a caller whose own rules find fault with it.
    """

    layout: Layout
    lines: Ints
    rows: Bytes
    keys: Ints  # prefix and serial as one integer (PPPSSSSSSSS)
    units: Ints | None = None  # itemised rows: the minor units of the record they itemise

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def itemised(self) -> bool:
        """A batch of itemised other charges (AW1) rather than of AWB records."""
        return self.layout is OTHER_CHARGES

    def column(self, name: str) -> list[str]:
        """A text column, right blanks kept (as fixed-width fields are)."""
        a, b = self._columns()[name]
        part = np.ascontiguousarray(self.rows[:, a:b])
        return part.view(f"S{b - a}").ravel().astype(f"U{b - a}").tolist()

    def record_ids(self) -> list[str]:
        """Each row's record id."""
        return self.column("record_id")

    def dates(self, name: str) -> Ints:
        """A date column as YYYYMMDD integers."""
        return ymd(self.rows, self._columns()[name][0])[1]

    def nonzero(self, name: str) -> Bools:
        """Rows whose digit field ``name`` is not all zeros."""
        a, b = self._columns()[name]
        return ~_every(self.rows[:, a:b] == _ZERO)

    def texts(self) -> list[str]:
        """The rows as 250-character strings."""
        flat = np.ascontiguousarray(self.rows).view(f"S{RECORD_LENGTH}").ravel()
        return flat.astype(f"U{RECORD_LENGTH}").tolist()

    def text(self, i: int) -> str:
        """Row ``i`` as a 250-character string."""
        text: str = self.rows[i].tobytes().decode("ascii")
        return text

    def record(self, i: int) -> Any:
        """Row ``i`` decoded by the per-record decoder (it is well formed)."""
        units = 2 if self.units is None else int(self.units[i])
        return decoder_for(self.layout)(self.text(i), units)

    def _columns(self) -> dict[str, tuple[int, int]]:
        return columns(self.layout)


def date_number(day: date) -> int:
    """A date as the YYYYMMDD integer of ``CleanRows.dates``."""
    return day.year * 10_000 + day.month * 100 + day.day


@dataclass(frozen=True, slots=True)
class Expect:
    """What a clean AWB record must agree with: the file header's prefix and currency."""

    prefix: str
    currency: str


def clean_rows(m: Bytes, layout: Layout, expect: Expect) -> tuple[Bools, Ints]:
    """Rows of ``m`` (all of ``layout``'s record type) that decode and pass every check
    ``FileChecker`` runs on a clean AWB (or correction) record by itself, not those across
    records (duplicates, pairs: the caller's); and each row's AWB key (prefix and serial as
    one integer)."""
    ok = well_formed(m, layout)
    cols = columns(layout)
    (pa, pb), (sa, sb), (aa, ab) = cols["airline_prefix"], cols["awb_serial"], cols["agent_code"]
    serial = integers(m, sa, sb)
    keys = integers(m, pa, pb) * 100_000_000 + serial
    ok &= serial // 10 % 7 == serial % 10
    agent = integers(m, aa, ab)
    ok &= agent // 10 % 7 == agent % 10
    if expect.prefix:
        ok &= (m[:, pa:pb] == np.frombuffer(expect.prefix.encode("ascii"), np.uint8)).all(axis=1)
    if expect.currency:
        ca, cb = cols["currency"]
        same = (m[:, ca:cb] == np.frombuffer(expect.currency.encode("ascii"), np.uint8)).all(axis=1)
        ra, rb = cols["rate_of_exchange"]
        rate = m[:, ra:rb]
        ok &= same | ((rate != _ZERO) & (rate != _POINT)).any(axis=1)
    if "use_indicator" in cols:  # an AWB: revenue (a correction has no use)
        ok &= m[:, cols["use_indicator"][0]] == ord("R")
    return ok, keys


#: The itemised other-charge groups, in the order ``totals`` gives the record's own totals.
GROUPS = (
    ("C", "P", "other_charges_carrier_prepaid"),
    ("A", "P", "other_charges_agent_prepaid"),
    ("C", "C", "other_charges_carrier_collect"),
    ("A", "C", "other_charges_agent_collect"),
)


def itemised_rows(m: Bytes) -> tuple[Bools, Ints]:
    """AW1 rows whose prefix, serial and slots the per-record decoder accepts (slots used up
    to the first blank one, each a letter-or-digit code, A/C, P/C and 12 digits), and each
    row's itemised amounts added up per group of ``GROUPS`` (in minor units)."""
    cols = columns(OTHER_CHARGES)
    ok = _all_digits(m, *cols["airline_prefix"]) & _all_digits(m, *cols["awb_serial"])
    a, b = cols["charges"]
    slots = m[:, a:b].reshape(len(m), OC_SLOTS, OC_SLOT)
    blank = (slots == _SPACE).all(axis=2)
    ok &= ~(~blank & np.logical_or.accumulate(blank, axis=1)).any(axis=1)
    code = slots[:, :, :2]
    alnum = ((code >= _ZERO) & (code <= _NINE)) | ((code | 0x20) >= ord("a")) & (
        (code | 0x20) <= ord("z")
    )
    ent, pc = slots[:, :, 2], slots[:, :, 3]
    digits = slots[:, :, 4:]
    fine = (
        alnum.all(axis=2)
        & ((ent == ord("A")) | (ent == ord("C")))
        & ((pc == ord("P")) | (pc == ord("C")))
        & ((digits >= _ZERO) & (digits <= _NINE)).all(axis=2)
    )
    ok &= (fine | blank).all(axis=1)
    amount = np.zeros((len(m), OC_SLOTS), dtype=np.int64)
    for col in range(4, OC_SLOT):
        amount = amount * 10 + (slots[:, :, col].astype(np.int64) - _ZERO)
    amount[blank] = 0
    sums = np.stack(
        [np.where((ent == ord(e)) & (pc == ord(p)), amount, 0).sum(axis=1) for e, p, _ in GROUPS],
        axis=1,
    )
    return ok, sums


def totals(m: Bytes, layout: Layout) -> Ints:
    """The four other-charges totals of AWB rows (minor units), in the order of ``GROUPS``."""
    cols = columns(layout)
    return np.stack([integers(m, *cols[name]) for _, _, name in GROUPS], axis=1)


def runs(mask: Bools) -> Iterator[tuple[int, int, bool]]:
    """(start, end, value) of each maximal run of equal values in ``mask``."""
    if not len(mask):
        return
    edges = np.flatnonzero(mask[1:] != mask[:-1]) + 1
    bounds = [0, *edges.tolist(), len(mask)]
    first = bool(mask[0])
    for i in range(len(bounds) - 1):
        yield bounds[i], bounds[i + 1], first if i % 2 == 0 else not first
