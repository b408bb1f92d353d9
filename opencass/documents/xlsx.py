"""A small SpreadsheetML (xlsx, ECMA-376 / ISO/IEC 29500) writer for the reports.

The reports need little of the format: sheets of typed cells (text, numbers, dates), a bold
shaded header row frozen at the top, column widths, a few number formats and the document's
title and date.  A general library spends ~14 µs of Python per cell on what these need
(checks, a cell object, an XML writer call per element); this module writes each row as one
string, ~1 µs per cell, so a 5,000-agent period's workbooks take seconds, not minutes.

Output is deterministic: the same cells give the same bytes (fixed entry order and stamps).
Strings go to the shared-strings part, as spreadsheet programs write them.  Text that XML
cannot carry (control characters) is escaped as the format provides (``_xHHHH_``).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from xml.sax.saxutils import escape, quoteattr

__all__ = ["Sheet", "Style", "XlsxBook", "column_width"]

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_EPOCH = date(1899, 12, 30)  # day 0 of the 1900 date system as spreadsheets count it
MAX_TEXT = 32_767  # characters in one cell
_STAMP = (1980, 1, 1, 0, 0, 0)  # every zip entry's time: the bytes do not depend on the clock

# Characters XML 1.0 cannot hold, and a literal "_xHHHH_" (escaped so it reads back as itself).
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")


def _unsafe(m: re.Match[str]) -> str:
    return f"_x{ord(m.group()):04X}_"


def _text(value: str) -> str:
    value = value[:MAX_TEXT]
    if _UNSAFE.search(value):
        value = _UNSAFE.sub(_unsafe, value)
    return escape(value)


def column_width(width: float) -> float:
    """The stored width of a column ``width`` characters wide (a character of the default font
    is 7 pixels; a column adds 5 pixels of padding; stored in 1/256ths)."""
    if width <= 0:
        return 0.0
    pixels = int(width * 7 + 0.5) + 5 if width >= 1 else int(width * 12 + 0.5)
    return int(pixels / 7 * 256) / 256


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


@dataclass(frozen=True, slots=True)
class Style:
    """A cell format: bold, a solid fill colour ("RRGGBB"), wrapped text, a number format."""

    bold: bool = False
    fill: str = ""
    wrap: bool = False
    number_format: str = ""


@dataclass(slots=True)
class Sheet:
    """One worksheet: its name, column widths, rows as written XML, the frozen header rows."""

    name: str
    widths: list[float] = field(default_factory=list)
    rows: list[str] = field(default_factory=list)
    frozen: int = 0
    last_row: int = -1
    last_column: int = -1


class XlsxBook:
    """A workbook being written: add styles and sheets, write rows, then ``close()``."""

    def __init__(self, *, title: str, author: str, company: str, created: datetime) -> None:
        self.title, self.author, self.company, self.created = title, author, company, created
        self.sheets: list[Sheet] = []
        self._styles: list[Style] = [Style()]
        self._strings: dict[str, int] = {}
        self._columns: list[str] = []

    def style(self, style: Style) -> int:
        """The index of ``style`` (added once)."""
        if style not in self._styles:
            self._styles.append(style)
        return self._styles.index(style)

    def sheet(self, name: str, widths: Sequence[float] = (), frozen_rows: int = 0) -> Sheet:
        """A new sheet (``name`` must already be a valid, unique sheet name)."""
        sheet = Sheet(name, list(widths), frozen=frozen_rows)
        self.sheets.append(sheet)
        return sheet

    def row(
        self, sheet: Sheet, row: int, cells: Sequence[tuple[int, str | float | int | date, int]]
    ) -> None:
        """Write row ``row`` (0-based, rows in ascending order): (column, value, style) each;
        a str is text, an int or float a number, a date (or datetime) a date serial."""
        if row <= sheet.last_row:
            raise ValueError(f"row {row} written after row {sheet.last_row}")
        if not cells:
            return
        r = row + 1
        refs = self._columns
        widest = max(column for column, _, _ in cells)
        while len(refs) <= widest:
            refs.append(_column(len(refs)))
        strings = self._strings
        out = [f'<row r="{r}">']
        add = out.append
        for column, value, style in cells:
            head = f'<c r="{refs[column]}{r}" s="{style}"' if style else f'<c r="{refs[column]}{r}"'
            if isinstance(value, str):
                found = strings.get(value)
                if found is None:
                    found = strings[value] = len(strings)
                add(f'{head} t="s"><v>{found}</v></c>')
            elif isinstance(value, date):
                day = value.date() if isinstance(value, datetime) else value
                add(f"{head}><v>{(day - _EPOCH).days}</v></c>")
            elif type(value) is float or type(value) is int:
                add(f"{head}><v>{value!r}</v></c>")
            else:  # a subclass of int or float (a bool, an enum): its number
                add(f"{head}><v>{float(value)!r}</v></c>")
        add("</row>")
        sheet.rows.append("".join(out))
        sheet.last_row = row
        sheet.last_column = max(sheet.last_column, widest)

    def close(self) -> bytes:
        """The workbook's bytes (an xlsx zip package)."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, text in self._parts():
                info = zipfile.ZipInfo(name, _STAMP)
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, text.encode("utf-8"))
        return buf.getvalue()

    # -- the package's parts ----------------------------------------------------------------------

    def _parts(self) -> list[tuple[str, str]]:
        n = len(self.sheets)
        parts = [
            ("[Content_Types].xml", self._content_types()),
            ("_rels/.rels", _rels([
                ("officeDocument", "xl/workbook.xml"),
                ("metadata/core-properties", "docProps/core.xml"),
                ("extended-properties", "docProps/app.xml"),
            ], package_core=True)),
            ("docProps/app.xml", self._app()),
            ("docProps/core.xml", self._core()),
            ("xl/workbook.xml", self._workbook()),
            ("xl/_rels/workbook.xml.rels", _rels(
                [("worksheet", f"worksheets/sheet{i}.xml") for i in range(1, n + 1)]
                + [("styles", "styles.xml"), ("sharedStrings", "sharedStrings.xml")]
            )),
            ("xl/styles.xml", self._styles_xml()),
            ("xl/sharedStrings.xml", self._shared_strings()),
        ]  # fmt: skip
        for i, sheet in enumerate(self.sheets, 1):
            parts.append((f"xl/worksheets/sheet{i}.xml", _sheet_xml(sheet)))
        return parts

    def _content_types(self) -> str:
        sheets = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_CT}.worksheet+xml"/>'
            for i in range(1, len(self.sheets) + 1)
        )
        return (
            f'{_DECL}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels"'
            ' ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
            f"{sheets}"
            f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.styles+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_CT}.sharedStrings+xml"/>'
            '<Override PartName="/docProps/core.xml"'
            ' ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
            '<Override PartName="/docProps/app.xml" ContentType='
            '"application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
            "</Types>"
        )

    def _app(self) -> str:
        return (
            f"{_DECL}<Properties xmlns="
            '"http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
            f"<Application>opencass</Application><Company>{_text(self.company)}</Company>"
            "</Properties>"
        )

    def _core(self) -> str:
        stamp = self.created.replace(tzinfo=None, microsecond=0).isoformat() + "Z"
        return (
            f"{_DECL}<cp:coreProperties xmlns:cp="
            '"http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
            ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
            ' xmlns:dcterms="http://purl.org/dc/terms/"'
            ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<dc:title>{_text(self.title)}</dc:title>"
            f"<dc:creator>{_text(self.author)}</dc:creator>"
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified>'
            "</cp:coreProperties>"
        )

    def _workbook(self) -> str:
        sheets = "".join(
            f'<sheet name={quoteattr(s.name)} sheetId="{i}" r:id="rId{i}"/>'
            for i, s in enumerate(self.sheets, 1)
        )
        return (
            f'{_DECL}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
            f"<bookViews><workbookView/></bookViews><sheets>{sheets}</sheets></workbook>"
        )

    def _styles_xml(self) -> str:
        formats: dict[str, int] = {}
        for st in self._styles:
            if st.number_format and st.number_format not in formats:
                formats[st.number_format] = 164 + len(formats)  # 0-163 are built in
        fills = [f for f in dict.fromkeys(st.fill for st in self._styles) if f]
        num_fmts = "".join(
            f'<numFmt numFmtId="{n}" formatCode={quoteattr(code)}/>' for code, n in formats.items()
        )
        fill_xml = "".join(
            f'<fill><patternFill patternType="solid"><fgColor rgb="FF{f}"/>'
            '<bgColor indexed="64"/></patternFill></fill>'
            for f in fills
        )
        xfs = []
        for st in self._styles:
            fmt = formats.get(st.number_format, 0)
            fill = fills.index(st.fill) + 2 if st.fill else 0
            attrs = f'numFmtId="{fmt}" fontId="{int(st.bold)}" fillId="{fill}" borderId="0"'
            attrs += ' xfId="0"' + (' applyNumberFormat="1"' if fmt else "")
            attrs += (' applyFont="1"' if st.bold else "") + (' applyFill="1"' if fill else "")
            if st.wrap:
                xfs.append(f'<xf {attrs} applyAlignment="1"><alignment wrapText="1"/></xf>')
            else:
                xfs.append(f"<xf {attrs}/>")
        font = '<sz val="11"/><color theme="1"/><name val="Calibri"/><family val="2"/>'
        return (
            f'{_DECL}<styleSheet xmlns="{_MAIN}">'
            + (f'<numFmts count="{len(formats)}">{num_fmts}</numFmts>' if formats else "")
            + f'<fonts count="2"><font>{font}</font><font><b/>{font}</font></fonts>'
            f'<fills count="{2 + len(fills)}"><fill><patternFill patternType="none"/></fill>'
            f'<fill><patternFill patternType="gray125"/></fill>{fill_xml}</fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
            "</borders>"
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
            f'</cellStyleXfs><cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
            "</cellStyles></styleSheet>"
        )

    def _shared_strings(self) -> str:
        items = "".join(
            f'<si><t xml:space="preserve">{_text(s)}</t></si>'
            if s[:1].isspace() or s[-1:].isspace()
            else f"<si><t>{_text(s)}</t></si>"
            for s in self._strings
        )
        n = len(self._strings)
        return f'{_DECL}<sst xmlns="{_MAIN}" count="{n}" uniqueCount="{n}">{items}</sst>'


def _rels(targets: list[tuple[str, str]], *, package_core: bool = False) -> str:
    """A relationships part: (type, target) each, ids rId1, rId2, ..."""
    rels = []
    for i, (kind, target) in enumerate(targets, 1):
        if package_core and kind.startswith("metadata/"):
            base = "http://schemas.openxmlformats.org/package/2006/relationships"
        else:
            base = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
        rels.append(f'<Relationship Id="rId{i}" Type="{base}/{kind}" Target="{target}"/>')
    return f'{_DECL}<Relationships xmlns="{_PKG_REL}">{"".join(rels)}</Relationships>'


def _sheet_xml(sheet: Sheet) -> str:
    if sheet.last_row >= 0 and sheet.last_column >= 0:
        dimension = f"A1:{_column(sheet.last_column)}{sheet.last_row + 1}"
    else:
        dimension = "A1"
    if sheet.frozen:
        top = f"A{sheet.frozen + 1}"
        view = (
            f'<sheetView workbookViewId="0"><pane ySplit="{sheet.frozen}"'
            f' topLeftCell="{top}" activePane="bottomLeft" state="frozen"/>'
            f'<selection pane="bottomLeft" activeCell="{top}" sqref="{top}"/></sheetView>'
        )
    else:
        view = '<sheetView workbookViewId="0"/>'
    cols = "".join(
        f'<col min="{i}" max="{i}" width="{column_width(w)}" customWidth="1"/>'
        for i, w in enumerate(sheet.widths, 1)
    )
    return (
        f'{_DECL}<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">'
        f'<dimension ref="{dimension}"/><sheetViews>{view}</sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
        + (f"<cols>{cols}</cols>" if cols else "")
        + f"<sheetData>{''.join(sheet.rows)}</sheetData>"
        '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
        "</worksheet>"
    )
