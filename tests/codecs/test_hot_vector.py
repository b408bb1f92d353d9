"""The vector path of the HOT reader (``HotReader.scan``) against the per-record path (``feed``).

Both read the same bytes; the records they give (a ``CleanRows`` batch expanded row by row), the
findings (in order), the counts, the AWBs seen, the hash and the line numbers must be equal — on
valid files of both dialects, with CRLF, and on hypothesis-generated mutations aimed at the
fields of AWB records (a digit, a date, an indicator, a currency, a duplicate, a trimmed line).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencass.codecs.hot.layouts import Kind
from opencass.codecs.hot.reader import HotReader
from opencass.codecs.hot.vector import CleanRows, split_lines
from tests.kit.hot import HANDOFF, PARTICIPANT, awb_layout, bulk_records, file_lines, join

SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
BASES = {
    "handoff": file_lines(bulk_records(HANDOFF)),
    "participant": file_lines(bulk_records(PARTICIPANT), PARTICIPANT),
}
BYTES = st.sampled_from(list(b"0123456789 -.AKLPCRSVYNUEDW\x00\xe9"))
FIELDS = {d: awb_layout(d).fields for d in (HANDOFF, PARTICIPANT)}
CHARS = "0123456789 .-ABKLPRSVUEYN"
FIELD_OPS = {
    "field": FIELDS,
    "flag": {d: [f for f in fs if f.width == 1] for d, fs in FIELDS.items()},
    "date": {d: [f for f in fs if f.kind in (Kind.DATE, Kind.DATEOPT)] for d, fs in FIELDS.items()},
    "currency": {d: [f for f in fs if f.kind is Kind.CUR] for d, fs in FIELDS.items()},
}
OPS = ["field", "field", "flag", "date", "currency", "slot", "byte", "dup", "trim", "blank", "drop"]
SLOTS = st.sampled_from(
    ["MYCP000000000700", "MYCP000000000699", "SCAC000000000001", "  CP000000000700",
     "MYXP000000000700", "MYCP00000000070A", "#YCP000000000700", "mycc000000000007", " " * 16]
)  # fmt: skip


def _value(op: str, width: int) -> st.SearchStrategy[str]:
    if op == "flag":
        return st.sampled_from("RSVLYNKPC -X.")
    if op == "date":  # the edges: month 0/13, day 0/29-32, leap years, the century window
        dates = st.builds(
            "{:02d}{:02d}{:02d}".format,
            st.sampled_from([0, 23, 24, 79, 80, 99]),
            st.sampled_from([0, 1, 2, 4, 12, 13]),
            st.sampled_from([0, 1, 28, 29, 30, 31, 32]),
        )
        return dates | dates.map(lambda d: " " + d[1:]) | st.just("      ")
    if op == "currency":
        return st.sampled_from(["EUR", "USD", "JPY", "KWD", "XYZ", "eur", "EU ", "   ", "1AB"])
    how = st.sampled_from(["0123456789", " ", CHARS])
    return how.flatmap(lambda a: st.text(a, min_size=width, max_size=width))


def _read(data: bytes, chunk: int, *, vector: bool, max_records: int) -> tuple[Any, list[Any]]:
    reader = HotReader(max_records=max_records, vector_min_bytes=0)
    events: list[Any] = []

    def take(items: Any) -> None:
        for item in items:
            if isinstance(item, CleanRows):
                events.extend((int(line), item.record(i)) for i, line in enumerate(item.lines))
            else:
                events.append(item)

    for i in range(0, len(data), chunk):
        part = data[i : i + chunk]
        take(reader.scan(part) if vector else reader.feed(part))
    take(reader.close())
    return reader, events


def _state(reader: HotReader) -> dict[str, Any]:
    checker = reader.checker
    return {
        "findings": reader.findings,
        "errors": (reader.errors, reader.warnings, reader.file_errors),
        "rejected": reader.rejected_lines,
        "line": reader.line,
        "dialect": reader.dialect,
        "header": reader.header,
        "trailer": reader.trailer,
        "counts": dict(checker.counts) if checker else None,
        "serial_sum": checker.serial_sum if checker else None,
        "awbs": checker._awbs if checker else None,
    }


def assert_same(data: bytes, chunk: int = 1 << 20, max_records: int = 5_000_000) -> int:
    """Both paths agree on ``data``; returns how many records the vector path batched."""
    slow, slow_events = _read(data, chunk, vector=False, max_records=max_records)
    fast, fast_events = _read(data, chunk, vector=True, max_records=max_records)
    # a block's clean records come as one batch after its other lines: compare in line order
    assert sorted(fast_events, key=lambda e: e[0]) == slow_events
    assert _state(fast) == _state(slow)
    batched = 0
    reader = HotReader(max_records=max_records, vector_min_bytes=0)
    for i in range(0, len(data), chunk):
        batched += sum(len(x) for x in reader.scan(data[i : i + chunk]) if isinstance(x, CleanRows))
    return batched


def test_valid_files_go_the_vector_way_and_agree() -> None:
    for name, lines in BASES.items():
        for ending in ("\n", "\r\n"):
            data = join(lines, ending)
            batched = assert_same(data)
            # all but the uncommon records (itemised, foreign currency, void, CCA) and their
            # neighbours, and the block's last line
            assert batched > len(lines) * 0.6, (name, ending, batched)


def test_split_lines_finds_regular_rows_and_odd_ones() -> None:
    lines = BASES["handoff"][:5]
    data = join(lines) + b"AWM short\n" + b"\n" + join(lines[1:3], "\r\n")
    lb = split_lines(data)
    assert lb.lengths.tolist() == [250] * 5 + [9, 0, 250, 250]
    assert lb.regular.tolist() == [True] * 5 + [False, False, True, True]
    assert [bytes(r).decode() for r in lb.rows] == lines + lines[1:3]
    assert np.array_equal(lb.starts[1:], lb.ends[:-1])


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, int, int]:
    name = draw(st.sampled_from(sorted(BASES)))
    lines = list(BASES[name])
    for _ in range(draw(st.integers(1, 24))):
        i = draw(st.integers(1, len(lines) - 2))
        op = draw(st.sampled_from(OPS))
        if op in FIELD_OPS:  # a field of the AWB layout given another value
            f = draw(st.sampled_from(FIELD_OPS[op][HANDOFF if name == "handoff" else PARTICIPANT]))
            value = draw(_value(op, f.width))
            lines[i] = lines[i][: f.start - 1] + value + lines[i][f.end :]
        elif op == "slot":  # an itemised charge of an AW1 line changed, added or blanked
            aw1 = [k for k, line in enumerate(lines) if line.startswith("AW1")]
            i, k = draw(st.sampled_from(aw1 or [i])), draw(st.integers(-1, 3))
            if k < 0:  # another AWB's number (prefix and serial), or one off
                key = draw(st.sampled_from([f"{int(lines[i][5:16]) + 1:011d}", "16010000373"]))
                lines[i] = lines[i][:5] + key + lines[i][16:]
            else:
                lines[i] = lines[i][: 24 + 16 * k] + draw(SLOTS) + lines[i][40 + 16 * k :]
        elif op == "byte":
            col = draw(st.integers(0, 249))
            c = chr(draw(BYTES))
            lines[i] = lines[i][:col] + c + lines[i][col + 1 :]
        elif op == "dup":
            lines.insert(draw(st.integers(1, len(lines) - 1)), lines[i])
        elif op == "trim":
            lines[i] = lines[i][: draw(st.integers(1, 251))].rstrip() or lines[i]
        elif op == "blank":
            lines.insert(i, "")
        else:
            del lines[i]
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    data = "".join(line + ending for line in lines).encode("latin-1")
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]  # cut anywhere, even mid-line
    chunk = draw(st.sampled_from([600, 4096, 1 << 20]))
    max_records = draw(st.sampled_from([5_000_000, 40]))
    return data, chunk, max_records


@SETTINGS
@given(case=mutated())
def test_mutated_files_agree(case: tuple[bytes, int, int]) -> None:
    data, chunk, max_records = case
    assert_same(data, chunk, max_records)


def test_a_duplicate_across_blocks_and_a_late_itemisation_agree() -> None:
    lines = BASES["handoff"]
    data = join([*lines[:30], lines[3], *lines[30:]])
    for chunk in (251 * 7, 251 * 10 + 3, 1 << 20):
        assert_same(data, chunk)


def test_participant_dialect_is_read_by_ids_of_its_own() -> None:
    lines = BASES["participant"]
    assert {line[:3] for line in lines} >= {"AWB", "AWM"}
    batched = assert_same(join(lines))
    assert batched > len(lines) * 0.6  # AWB and AWM records both batched


def test_correction_halves_seen_before_or_twice_agree() -> None:
    """A pair whose original the file already holds pending (an earlier block), an original
    given twice in a row, a revision first: the per-record way reports them; so must scan."""
    lines = list(BASES["handoff"])
    cco = next(
        i for i, line in enumerate(lines) if line.startswith("CCO") and lines[i + 1][:3] == "CCR"
    )
    early = [*lines[:2], lines[cco], *lines[2:]]  # the original, long before its pair
    assert_same(join(early), 251 * 8)
    twice = [*lines[: cco + 1], lines[cco], *lines[cco + 1 :]]  # CCO CCO CCR
    assert_same(join(twice), 251 * 8)
    assert_same(join(twice))
    originals = [*lines[: cco + 1], lines[cco], *lines[cco + 2 :]]  # CCO CCO, no CCR
    assert_same(join(originals))
    swapped = [*lines[:cco], lines[cco + 1], lines[cco], *lines[cco + 2 :]]  # CCR CCO
    assert assert_same(join(swapped)) > 0


def test_a_small_file_is_read_per_record_and_numpy_is_never_imported() -> None:
    """Below ``VECTOR_MIN_BYTES`` a block goes the per-record way: a command reading a small
    file (the demo's, an XML message) does not pay numpy's import; a large block is batched."""
    import subprocess
    import sys

    from opencass.codecs.hot.reader import VECTOR_MIN_BYTES

    small = join(BASES["handoff"])
    assert len(small) < VECTOR_MIN_BYTES
    code = (
        "import sys; from opencass.codecs import hot; "
        f"r = hot.decode({small!r}, keep_records=False); "
        "print(r.valid, r.counts['records'], 'numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", str(len(BASES["handoff"])), "False"]
    assert not any(isinstance(x, CleanRows) for x in HotReader().scan(small))
    big = join(file_lines(bulk_records(HANDOFF, 400)))
    assert len(big) >= VECTOR_MIN_BYTES
    assert any(isinstance(x, CleanRows) for x in HotReader().scan(big))
