"""The reports' xlsx writer (``opencass.documents.xlsx``), judged by others' code: openpyxl reads
every workbook back, and the same workbook written by xlsxwriter (a general library) reads back
the same — values, types, number formats, fonts, fills, widths, frozen panes, properties."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from typing import Any

import openpyxl
import pytest
import xlsxwriter
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from opencass.documents.xlsx import MAX_TEXT, Style, XlsxBook, column_width

CREATED = datetime(2026, 12, 1, 9, 30)
MONEY = "#,##0.00"
HEAD = Style(bold=True, fill="E6EBF2", wrap=True)
CELLS: list[list[tuple[int, Any, str]]] = [
    [(0, "AWB", "b"), (1, 1234.5, "m"), (2, 7, "i"), (3, date(2026, 11, 3), "d")],
    [(0, "  padded  ", "s"), (2, -0.05, "m"), (4, 12.3456, "y")],
    [(1, "Ünïcödé € 中文 & <tags> \"q\" 'a'", "s"), (3, datetime(2026, 2, 28, 13, 5), "d")],
    [(0, "ctl\x01\x1fchars", "s"), (1, "_x0041_ stays", "s"), (5, 1e-05, "w")],
]
KIND = {"s": Style(), "b": Style(bold=True), "i": Style(), "m": Style(number_format=MONEY),
        "d": Style(number_format="yyyy-mm-dd"), "y": Style(number_format="#,##0.0000"),
        "w": Style(number_format="#,##0.0")}  # fmt: skip


def _ours(rows: list[list[tuple[int, Any, str]]] = CELLS) -> bytes:
    book = XlsxBook(title="Sales & report", author="opencass", company="ACME", created=CREATED)
    head = book.style(HEAD)
    for name in ("First", "Zweite Seite"):
        ws = book.sheet(name, [12, 30.5, 8, 0.5, 14, 9], frozen_rows=1)
        book.row(ws, 0, [(i, f"head {i}", head) for i in range(6)])
        for r, cells in enumerate(rows, 1):
            book.row(ws, r, [(c, v, book.style(KIND[k])) for c, v, k in cells])
    return book.close()


def _theirs(rows: list[list[tuple[int, Any, str]]] = CELLS) -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False})
    wb.set_properties({"title": "Sales & report", "author": "opencass", "company": "ACME",
                       "created": CREATED})  # fmt: skip
    head = wb.add_format({"bold": True, "bg_color": "#E6EBF2", "text_wrap": True})
    fmt = {k: wb.add_format({**({"bold": True} if s.bold else {}),
                             **({"num_format": s.number_format} if s.number_format else {})})
           for k, s in KIND.items()}  # fmt: skip
    for name in ("First", "Zweite Seite"):
        ws = wb.add_worksheet(name)
        for i, w in enumerate([12, 30.5, 8, 0.5, 14, 9]):
            ws.set_column(i, i, w)
            ws.write_string(0, i, f"head {i}", head)
        ws.freeze_panes(1, 0)
        for r, cells in enumerate(rows, 1):
            for c, v, k in cells:
                if isinstance(v, str):
                    ws.write_string(r, c, v, fmt[k])
                elif isinstance(v, date):
                    day = v.date() if isinstance(v, datetime) else v
                    ws.write_datetime(r, c, datetime(day.year, day.month, day.day), fmt[k])
                else:
                    ws.write_number(r, c, v, fmt[k])
    wb.close()
    return buf.getvalue()


def _read(data: bytes) -> dict[str, Any]:
    """What a reader sees: every cell's value, type and look; widths, panes, properties."""
    wb = openpyxl.load_workbook(io.BytesIO(data))
    sheets = {}
    for ws in wb.worksheets:
        cells = {
            c.coordinate: (c.value, c.data_type, c.number_format, bool(c.font.b),
                           c.fill.fgColor.rgb if c.fill.fill_type == "solid" else None,
                           bool(c.alignment.wrap_text))
            for row in ws.iter_rows() for c in row if c.value is not None
        }  # fmt: skip
        widths = {k: round(d.width, 4) for k, d in ws.column_dimensions.items() if d.width}
        sheets[ws.title] = (cells, widths, ws.freeze_panes, ws.dimensions)
    p = wb.properties
    return {"sheets": sheets, "props": (p.title, p.creator, p.created)}


def test_a_reader_sees_what_a_general_library_would_have_written() -> None:
    ours, theirs = _read(_ours()), _read(_theirs())
    assert ours == theirs
    first = ours["sheets"]["First"][0]
    assert first["B2"][:3] == (1234.5, "n", MONEY)
    assert first["D2"][0] == datetime(2026, 11, 3)  # a date cell reads back as a date
    assert first["A3"][0] == "  padded  "
    # Text XML cannot hold is escaped as the format says (Excel shows "ctl\x01\x1fchars"; openpyxl
    # leaves the escapes, for both writers alike), and so is text that looks like an escape.
    with zipfile.ZipFile(io.BytesIO(_ours())) as z:
        strings = z.read("xl/sharedStrings.xml").decode()
    assert "<t>ctl_x0001__x001F_chars</t>" in strings and "<t>_x005F_x0041_ stays</t>" in strings
    assert first["A1"][3:] == (True, "FFE6EBF2", True)  # the header: bold, shaded, wrapped
    assert ours["sheets"]["First"][2] == "A2"  # frozen below the header


def test_every_part_is_well_formed_and_the_bytes_do_not_depend_on_the_clock() -> None:
    data = _ours()
    assert data == _ours()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        names = z.namelist()
        assert names[0] == "[Content_Types].xml" and "xl/sharedStrings.xml" in names
        for name in names:
            etree.fromstring(z.read(name))  # raises on malformed XML
            assert z.getinfo(name).date_time == (1980, 1, 1, 0, 0, 0)


def test_rows_go_in_order_and_long_text_is_cut_to_what_a_cell_holds() -> None:
    book = XlsxBook(title="t", author="a", company="c", created=CREATED)
    ws = book.sheet("S")
    book.row(ws, 1, [(0, "x" * (MAX_TEXT + 10), 0)])
    with pytest.raises(ValueError, match="after row 1"):
        book.row(ws, 1, [(0, "again", 0)])
    cell = openpyxl.load_workbook(io.BytesIO(book.close())).worksheets[0]["A2"]
    assert cell.value == "x" * MAX_TEXT


@pytest.mark.parametrize("width", [0.5, 1, 8, 8.43, 12, 30.5, 100])
def test_column_widths_are_stored_as_spreadsheets_store_them(width: float) -> None:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    wb.add_worksheet().set_column(0, 0, width)
    wb.close()
    theirs = openpyxl.load_workbook(buf).worksheets[0].column_dimensions["A"].width
    assert column_width(width) == pytest.approx(theirs, abs=1e-9)


# any text a cell can show (control characters are escaped: the test above)
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn")), max_size=40)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(_text, st.integers(-(10**12), 10**12),
                          st.floats(allow_nan=False, allow_infinity=False, width=64),
                          st.dates(date(1901, 1, 1), date(9999, 12, 31))),
                min_size=1, max_size=12))  # fmt: skip
def test_any_value_reads_back_as_written(values: list[Any]) -> None:
    kinds = ["d" if isinstance(v, date) else "s" if isinstance(v, str) else "m" for v in values]
    rows = [[(i, v, k) for i, (v, k) in enumerate(zip(values, kinds, strict=True))]]
    sheet = _read(_ours(rows))["sheets"]["First"][0]
    for i, v in enumerate(values):
        got = sheet.get(f"{chr(65 + i)}2", (None,))[0] if i < 26 else None
        if isinstance(v, str):
            assert got == v
        elif isinstance(v, date):
            assert got == datetime(v.year, v.month, v.day)
        else:
            assert got == v
