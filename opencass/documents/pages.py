"""Every PDF opencass makes (reports, invoices, calendars, the operator's table reports),
written straight as page streams: no platypus, no canvas objects.

A document is a list of blocks — :class:`Heading` (a line of text, wrapped when too wide),
:class:`Facts` (a two-column table of labels and values), :class:`Boxes` (a ruled table of
multi-line cells), :class:`Gap`, :class:`Grid` (a grid table of one-line cells, with a wrapped
bold header, run-on columns and a total row, split between rows across pages with its header
repeated) and :class:`NewPage` — that :func:`render_blocks` lays out on A4 pages with the page
header (the title) and footer (the footer text and "Page X of Y"), then writes as a PDF 1.4
file: one compressed content stream per page, a shared resource dictionary, and each font
embedded as TrueType subsets of up to 256 characters (simple fonts with their widths and a
``ToUnicode`` map, so text can be searched and extracted).  The fonts are those of
:mod:`opencass.documents.pdf` (registered once per process; reportlab reads the TrueType files
and cuts the subsets); the rest is written here.  Text is shown as given, never parsed.

Why: reportlab's platypus builds, lays out and serialises an object per paragraph, table,
page and PDF dictionary; a 5,000-agent period has 5,000 sales reports of ~90 small tables
each, and that machinery was most of their time (``docs/benchmarks.md``).

The output is deterministic: the same blocks, title and ``created`` give the same bytes.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics

from opencass.documents.i18n import negotiate, translator
from opencass.documents.pdf import MIN_HEADER_SIZE, font_for, pdf_date, wrapped

__all__ = ["Block", "Boxes", "Facts", "Gap", "Grid", "Heading", "Lines", "NewPage", "render_blocks"]

I18N_DOMAIN = "reports"


@dataclass(frozen=True, slots=True)
class Heading:
    """A line of plain text in a ``style`` (title, h1, h2, body, small); wrapped between
    words (anywhere in Chinese and Japanese) when wider than the page."""

    text: str
    style: str = "h1"


@dataclass(frozen=True, slots=True)
class Gap:
    """Vertical space, in points (dropped at the top of a page)."""

    height: float


@dataclass(frozen=True, slots=True)
class Facts:
    """A two-column ruled table: bold labels, plain values (both wrapped)."""

    rows: Sequence[tuple[str, str]]
    widths: tuple[float, float]


Lines = Sequence[tuple[str, bool]]  # a cell's lines of text: (text, bold)


@dataclass(frozen=True, slots=True)
class Boxes:
    """A ruled table without a header: each cell lines of text, bold or not, each wrapped to
    its column; ``align`` gives "L" or "R" per column; ``size`` the text's points."""

    rows: Sequence[Sequence[Lines]]
    widths: Sequence[float]
    align: str = ""
    size: float = 7.0


@dataclass(frozen=True, slots=True)
class Grid:
    """A grid table: ``align`` gives "L" or "R" per column; cells wider than their column are
    clipped with "…", but in the ``wrap`` columns, whose text runs on to more lines (and breaks
    where it has line breaks); the ``total`` row is bold and ruled above."""

    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    widths: Sequence[float]
    align: str
    total: Sequence[str] | None = None
    wrap: Sequence[int] = ()


@dataclass(frozen=True, slots=True)
class NewPage:
    """The next block starts a page."""


Block = Heading | Gap | Facts | Boxes | Grid | NewPage

# style -> (bold, size, leading, space before, space after): the reports' paragraph styles
_STYLES: dict[str, tuple[bool, float, float, float, float]] = {
    "title": (True, 15, 18.75, 0, 3 * mm),
    "h1": (True, 12, 15, 4 * mm, 2 * mm),
    "h2": (True, 10, 12.5, 3 * mm, 1.5 * mm),
    "body": (False, 9, 11.25, 0, 0),
    "small": (False, 7.5, 9.375, 0, 0),
}
CELL = 7.0  # points: the tables' text
ROW_H = CELL * 1.45
PAD_X, PAD_Y = 2.0, 1.5  # cell padding
GREY = "0.50196 0.50196 0.50196"  # the rules and the footer
HEAD_BG = "0.9 0.92 0.95"  # a grid's header row
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")  # what splitlines breaks at
_ESCAPES = {ord("\\"): "\\\\", ord("("): "\\(", ord(")"): "\\)", 10: "\\n", 13: "\\r"}


def _num(value: float) -> str:
    """A coordinate or size as the content stream writes it (two decimals)."""
    return f"{value:.2f}"


class _Font:
    """A TrueType font as one document uses it: each character it shows gets a code in a
    subset of 256 (``/F<n>_<k>`` in the resources), in the order first shown."""

    def __init__(self, name: str, number: int) -> None:
        self.name = name
        self.tt = pdfmetrics.getFont(name)
        self.number = number
        self.seen: set[str] = set()
        self.subset_of: dict[str, int] = {}
        self.subsets: list[list[int]] = []
        self.tables: list[dict[int, str]] = []  # per subset: str.translate to escaped codes
        self.widths: dict[tuple[str, float], float] = {}

    def width(self, text: str, size: float) -> float:
        """The width of ``text`` at ``size``, measured once per document (a run-on cell is
        measured to break it, then again to place it)."""
        key = (text, size)
        result = self.widths.get(key)
        if result is None:
            result = self.widths[key] = self.tt.stringWidth(text, size)
        return result

    def _assign(self, text: str) -> None:
        for ch in text:
            if ch in self.seen:
                continue
            self.seen.add(ch)
            if not self.subsets or len(self.subsets[-1]) == 256:
                self.subsets.append([])
                self.tables.append({})
            k = len(self.subsets) - 1
            code = len(self.subsets[k])
            self.subsets[k].append(ord(ch))
            self.tables[k][ord(ch)] = _ESCAPES.get(code, chr(code))
            self.subset_of[ch] = k

    def runs(self, text: str) -> list[tuple[str, str]]:
        """``text`` as (resource name, escaped string) runs, one per subset it crosses."""
        if not text:
            return []
        if not self.seen.issuperset(text):
            self._assign(text)
        if len(self.subsets) == 1:
            return [(f"F{self.number}_0", text.translate(self.tables[0]))]
        result: list[tuple[str, str]] = []
        start, k = 0, self.subset_of[text[0]]
        for i, ch in enumerate(text):
            if self.subset_of[ch] != k:
                result.append((f"F{self.number}_{k}", text[start:i].translate(self.tables[k])))
                start, k = i, self.subset_of[ch]
        result.append((f"F{self.number}_{k}", text[start:].translate(self.tables[k])))
        return result


class _Text:
    """Text operators of one text object (``BT`` … ``ET``): the font switched only when it
    changes, each string's encoding memoised for the document."""

    def __init__(self, doc: _Document, ops: list[str]) -> None:
        self.doc, self.ops, self.res, self.size = doc, ops, "", 0.0
        ops.append("BT")

    def show(self, font: _Font, size: float, x: float, y: float, text: str) -> None:
        """``text`` in ``font`` at ``size`` from (``x``, ``y``)."""
        key = (font.number, text)
        runs = self.doc.encoded.get(key)
        if runs is None:
            runs = self.doc.encoded[key] = font.runs(text)
        self.put(f"{x:.2f} {y:.2f}", runs, size)

    def put(self, xy: str, runs: Sequence[tuple[str, str]], size: float) -> None:
        """Text already encoded (``_Font.runs``) shown from ``xy``."""
        if len(runs) == 1 and runs[0][0] == self.res and size == self.size:
            self.ops.append(f"1 0 0 1 {xy} Tm ({runs[0][1]}) Tj")
            return
        self.ops.append(f"1 0 0 1 {xy} Tm")
        for res, chunk in runs:
            if res != self.res or size != self.size:
                self.ops.append(f"/{res} {_num(size)} Tf")
                self.res, self.size = res, size
            self.ops.append(f"({chunk}) Tj")

    def end(self) -> None:
        self.ops.append("ET")


class _Document:
    """The pages being laid out: the current page's operators and where the next block goes."""

    def __init__(self, lang: str, pagesize: tuple[float, float]) -> None:
        self.lang = lang
        self.width, self.height = pagesize
        self.left = 15 * mm + 6
        self.frame_w = self.width - 30 * mm - 12
        self.top, self.bottom = self.height - 16 * mm - 6, 16 * mm + 6
        regular, bold = font_for(lang)
        self.regular = _Font(regular, 1)
        self.bold = _Font(bold, 2) if bold != regular else self.regular  # CJK: no bold face
        self.encoded: dict[tuple[int, str], list[tuple[str, str]]] = {}
        # a cell's text as drawn: its width and encoding, by (bold, room, text)
        self.cells: dict[tuple[bool, float, str], tuple[float, Sequence[tuple[str, str]]]] = {}
        self.headers: dict[tuple[tuple[str, ...], tuple[float, ...]], _Header] = {}
        self.rule_ops: dict[tuple[object, ...], str] = {}
        self.pages: list[list[str]] = []
        self.ops: list[str] = []
        self.y, self.after = self.top, 0.0
        self.new_page()

    def fonts(self) -> list[_Font]:
        return [self.regular] if self.bold is self.regular else [self.regular, self.bold]

    def new_page(self) -> None:
        self.ops = []
        self.pages.append(self.ops)
        self.y, self.after = self.top, 0.0

    @property
    def at_top(self) -> bool:
        return self.y >= self.top

    def place(self, before: float, needed: float) -> None:
        """Move down by the space between the last block and the next (the larger of the
        two), or to a new page when ``needed`` points do not fit below it."""
        gap = 0.0 if self.at_top else max(self.after, before)
        if not self.at_top and self.y - gap - needed < self.bottom:
            self.new_page()
            gap = 0.0
        self.y -= gap

    def text(self) -> _Text:
        return _Text(self, self.ops)

    def rules(self, lines: Sequence[tuple[float, float, float, float]], width: float) -> None:
        """Grey lines (``x1, y1, x2, y2``) of ``width`` points."""
        path = " ".join(f"{a:.2f} {b:.2f} m {c:.2f} {d:.2f} l" for a, b, c, d in lines)
        self.ops.append(f"q {GREY} RG {_num(width)} w {path} S Q")


# --- blocks --------------------------------------------------------------------------------


def _lines(doc: _Document, text: str, font: _Font, size: float, width: float) -> list[str]:
    """``text`` broken into lines no wider than ``width`` (line breaks in it are spaces)."""
    text = " ".join(text.splitlines())
    return wrapped(text, font.name, size, width, doc.lang) if text else [""]


def _heading(doc: _Document, block: Heading, next_height: float) -> None:
    bold, size, leading, before, after = _STYLES[block.style]
    font = doc.bold if bold else doc.regular
    lines = _lines(doc, block.text, font, size, doc.frame_w)
    # a heading is kept with the start of what follows it
    doc.place(before, leading * len(lines) + (next_height if block.style != "body" else 0))
    tx = doc.text()
    for line in lines:
        tx.show(font, size, doc.left, doc.y - size, line)
        doc.y -= leading
    tx.end()
    doc.after = after


def _edges(left: float, widths: Sequence[float]) -> list[float]:
    """The x of each column's left edge, and of the last one's right edge."""
    xs = [left]
    for w in widths:
        xs.append(xs[-1] + w)
    return xs


def _cell_lines(doc: _Document, lines: Lines, size: float, width: float) -> list[tuple[str, _Font]]:
    return [
        (piece, font)
        for text, bold in lines
        for font in (doc.bold if bold else doc.regular,)
        for piece in _lines(doc, text, font, size, width)
    ]


def _boxes(doc: _Document, block: Boxes) -> None:
    """Row by row (a row never split across pages), each cell's lines from its top."""
    size, widths = block.size, block.widths
    leading = size * 1.25
    align = block.align or "L" * len(widths)
    for row in block.rows:
        cells = [_cell_lines(doc, c, size, w - 2 * PAD_X) for c, w in zip(row, widths, strict=True)]
        height = max((len(c) for c in cells), default=1) * leading + 2 * PAD_Y
        doc.place(0, height)
        top, x = doc.y, doc.left
        tx = doc.text()
        for lines, w, a in zip(cells, widths, align, strict=True):
            y = top - PAD_Y - size
            for text, font in lines:
                at = x + w - PAD_X - font.width(text, size) if a == "R" else x + PAD_X
                tx.show(font, size, at, y, text)
                y -= leading
            x += w
        tx.end()
        xs = _edges(doc.left, widths)
        bottom = top - height
        rules = [(xs[0], top, xs[-1], top), (xs[0], bottom, xs[-1], bottom)]
        doc.rules(rules + [(x, bottom, x, top) for x in xs], 0.25)
        doc.y = bottom
        doc.after = 0.0


@dataclass(slots=True)
class _Header:
    """A grid's header as drawn: its operators relative to the header's top left, its height."""

    ops: str
    height: float


def _grid_header(doc: _Document, grid: Grid, xs: list[float]) -> _Header:
    """The header row: shaded, each label wrapped between words in bold (set smaller, down to
    ``MIN_HEADER_SIZE``, when its longest word is wider than the column)."""
    font = doc.bold
    cells = []
    for text, w in zip(grid.header, grid.widths, strict=True):
        room, size = w - 2 * PAD_X, CELL
        if doc.lang not in ("zh", "ja") and text.strip():
            widest = max(font.width(word, CELL) for word in text.split())
            if widest > room:
                size = max(MIN_HEADER_SIZE, CELL * room / widest * 0.99)  # not broken by rounding
        leading = CELL * 1.25 if size == CELL else size * 1.2
        cells.append((_lines(doc, text, font, size, room), size, leading))
    height = max(len(lines) * leading for lines, _, leading in cells) + 2 * PAD_Y
    total_w = xs[-1] - xs[0]
    ops: list[str] = [f"q {HEAD_BG} rg 0 {_num(-height)} {_num(total_w)} {_num(height)} re f Q"]
    tx = _Text(doc, ops)
    for (lines, size, leading), x in zip(cells, xs, strict=False):
        y = -PAD_Y - size
        for line in lines:
            tx.show(font, size, x - xs[0] + PAD_X, y, line)
            y -= leading
    tx.end()
    return _Header(" ".join(ops), height)


def _run_on_cell(doc: _Document, text: str, width: float) -> list[str]:
    """A cell's text as the lines it runs on to: broken at its line breaks, then to fit."""
    room = width - 2 * PAD_X
    if not _LINE_BREAK.search(text) and doc.regular.width(text, CELL) <= room:
        return [text]  # most cells: one line as it is
    return [
        line for part in text.splitlines() for line in _lines(doc, part, doc.regular, CELL, room)
    ]


def _run_on(doc: _Document, grid: Grid) -> tuple[Sequence[Sequence[str]], list[int] | None]:
    """The grid's rows as the lines drawn, the text of its ``wrap`` columns too wide for them
    run on to the lines below; and where each row begins (None: every row is one line)."""
    if not grid.wrap:
        return grid.rows, None
    lines: list[Sequence[str]] = []
    starts: list[int] = []
    for row in grid.rows:
        starts.append(len(lines))
        broken = {i: _run_on_cell(doc, str(row[i]), grid.widths[i]) for i in grid.wrap if row[i]}
        depth = max((len(v) for v in broken.values()), default=1)
        if depth == 1:
            lines.append(row)
            continue
        for k in range(depth):
            lines.append(
                [broken[i][k] if i in broken and k < len(broken[i]) else ("" if k else v)
                 for i, v in enumerate(row)]
            )  # fmt: skip
    return (grid.rows, None) if len(lines) == len(starts) else (lines, starts)


def _fit(font: _Font, text: str, width: float) -> tuple[str, float]:
    """``text``, clipped with "…" when wider than ``width``, and its width."""
    w = font.width(text, CELL)
    if w <= width:
        return text, w
    while text and w > width:
        text = text[:-1]
        w = font.width(text + "…", CELL)
    return text + "…", w


@dataclass(slots=True)
class _Table:
    """A grid being laid out: its lines (the total last), geometry and header."""

    grid: Grid
    body: list[tuple[Sequence[str], bool]]  # (cells, bold)
    starts: list[int] | None
    xs: list[float]
    header: _Header
    shape: tuple[object, ...]  # what its rules depend on but the lines: widths, total cells


def _row_text(doc: _Document, t: _Table, piece: list[tuple[Sequence[str], bool]]) -> None:
    """The cells' texts of ``piece``, row by row below the header, in one text object; the
    positions relative to the piece's top left corner."""
    grid, xs = t.grid, t.xs
    right = [a == "R" for a in grid.align]
    starts = [x - xs[0] + PAD_X for x in xs]
    lefts = [f"{x:.2f}" for x in starts]
    rooms = [w - 2 * PAD_X for w in grid.widths]
    tx = doc.text()
    put, cells = tx.put, doc.cells
    drop = t.header.height + (ROW_H - CELL) / 2 + 0.8 * CELL  # the first row's baseline
    for r, (row, bold) in enumerate(piece):
        font = doc.bold if bold else doc.regular
        base = f"{-(drop + r * ROW_H):.2f}"
        last = len(row) - 1
        for i, text in enumerate(row):
            if not text:
                continue
            room = rooms[i]
            if bold and not right[i]:  # a total's label may run on into empty cells
                j = i
                while j < last and not row[j + 1]:
                    j += 1
                    room += grid.widths[j]
            cell = cells.get((bold, room, text))
            if cell is None:  # clipped to its room, measured, encoded: once per document
                shown, w = _fit(font, str(text), room)
                cell = cells[(bold, room, text)] = (w, tuple(font.runs(shown)))
            if right[i]:
                put(f"{starts[i] + room - cell[0]:.2f} {base}", cell[1], CELL)
            else:
                put(f"{lefts[i]} {base}", cell[1], CELL)
    tx.end()


def _piece_rules(t: _Table, lines: int, starts: tuple[int, ...], total: bool) -> str:
    """The grid lines of a piece of ``lines`` lines (the total among them when ``total``),
    rows ruled at ``starts``, and the rule above the total; relative to its top left."""
    xs, head = [x - t.xs[0] for x in t.xs], t.header.height
    bottom = -head - lines * ROW_H
    inner = bottom + (ROW_H if total else 0.0)
    rules = [(x, inner, x, 0.0) for x in xs]
    if total and t.grid.total is not None:  # the total row: edges of its filled cells only
        cells, align = t.grid.total, t.grid.align
        edges = {0, len(xs) - 1} | {i for i, v in enumerate(cells) if v and i}
        edges |= {i + 1 for i, v in enumerate(cells) if v and align[i] == "R"}
        rules += [(xs[i], bottom, xs[i], inner) for i in sorted(edges) if i < len(xs)]
    rules.append((0.0, 0.0, xs[-1], 0.0))
    rules += [(0.0, -head - k * ROW_H, xs[-1], -head - k * ROW_H) for k in starts]
    path = " ".join(f"{a:.2f} {b:.2f} m {c:.2f} {d:.2f} l" for a, b, c, d in rules)
    ops = f"q {GREY} RG 0.25 w {path} S Q"
    if total:
        ops += f" q 0 G 0.8 w 0 {inner:.2f} m {xs[-1]:.2f} {inner:.2f} l S Q"
    return ops


def _cut(t: _Table, start: int, fit: int) -> int:
    """Where a piece from line ``start`` that has room for ``fit`` lines ends: at the start
    of a row (or at ``start`` when not even one row fits)."""
    end = min(start + fit, len(t.body))
    if t.starts is None or end >= len(t.body):
        return end
    rows_after = [s for s in t.starts if start < s <= end]
    return rows_after[-1] if rows_after else start


def _draw_piece(doc: _Document, t: _Table, start: int, end: int) -> None:
    """Lines ``start`` to ``end`` of the table (with the header) at the current position."""
    has_total = t.grid.total is not None and end == len(t.body)
    lines = end - start
    text_lines = lines - (1 if has_total else 0)
    if t.starts is None:
        ruled = tuple(range(lines + 1))
    else:
        ruled = (*(s - start for s in t.starts if start <= s < end), *range(text_lines, lines + 1))
    doc.ops.append(f"q 1 0 0 1 {t.xs[0]:.2f} {doc.y:.2f} cm {t.header.ops}")
    _row_text(doc, t, t.body[start:end])
    key = (t.shape, lines, ruled, has_total)
    rules = doc.rule_ops.get(key)
    if rules is None:
        rules = doc.rule_ops[key] = _piece_rules(t, lines, ruled, has_total)
    doc.ops.append(rules + " Q")
    doc.y -= t.header.height + lines * ROW_H


def _grid(doc: _Document, grid: Grid) -> None:
    lines, starts = _run_on(doc, grid)
    body = [(row, False) for row in lines]
    if grid.total is not None:
        body.append((grid.total, True))
    xs = _edges(doc.left, grid.widths)
    key = (tuple(grid.header), tuple(grid.widths))
    header = doc.headers.get(key)
    if header is None:
        header = doc.headers[key] = _grid_header(doc, grid, xs)
    total = tuple(bool(v) for v in grid.total or ())
    t = _Table(
        grid, body, starts, xs, header, (tuple(grid.widths), header.height, grid.align, total)
    )
    start = 0
    doc.place(0, header.height + min(2, len(body)) * ROW_H)
    while True:
        fit = int((doc.y - doc.bottom - header.height) // ROW_H)
        end = _cut(t, start, fit)
        left = len(body) - start
        if end - start < min(2, left) and not doc.at_top:
            doc.new_page()
            continue
        if end <= start and left:  # a row taller than a page: broken between its lines
            end = start + max(fit, 1)
        _draw_piece(doc, t, start, end)
        doc.after = 0.0
        start = end
        if start >= len(body):
            return
        doc.new_page()


def _first_height(blocks: Sequence[Block], i: int) -> float:
    """How much of what starts at ``blocks[i]`` must stand on the page of the heading before
    it: a grid's header and first rows, a line of text (and what a heading keeps with it)."""
    block = blocks[i] if i < len(blocks) else None
    if isinstance(block, Grid):
        return 60.0
    if isinstance(block, Heading):
        _bold, _size, leading, before, _after = _STYLES[block.style]
        return before + leading + (_first_height(blocks, i + 1) if block.style != "body" else 0)
    if isinstance(block, Facts | Boxes):
        return ROW_H
    return 0.0


def _lay_out(doc: _Document, blocks: Sequence[Block]) -> None:
    for i, block in enumerate(blocks):
        if isinstance(block, Heading):
            _heading(doc, block, _first_height(blocks, i + 1))
        elif isinstance(block, Grid):
            _grid(doc, block)
        elif isinstance(block, Facts):
            rows = [[[(label, True)], [(value, False)]] for label, value in block.rows]
            _boxes(doc, Boxes(rows, block.widths))
        elif isinstance(block, Boxes):
            _boxes(doc, block)
        elif isinstance(block, Gap):
            if not doc.at_top:
                doc.y -= block.height
        elif isinstance(block, NewPage) and not doc.at_top:
            doc.new_page()


# --- the file ------------------------------------------------------------------------------


def _decorate(doc: _Document, title: str, footer: str) -> None:
    """Each page's header (the title, ruled) and footer (its text, "Page X of Y")."""
    page_of = translator(doc.lang, "reports").gettext("Page {page} of {pages}")
    left, right = 15 * mm, doc.width - 15 * mm
    total = len(doc.pages)
    for number, ops in enumerate(doc.pages, 1):
        doc.ops = ops
        tx = doc.text()
        tx.show(doc.bold, 8, left, doc.height - 10 * mm, title)
        ops.append(f"{GREY} rg")
        if footer:
            tx.show(doc.regular, 7, left, 8 * mm, footer)
        label = page_of.format(page=number, pages=total)
        tx.show(doc.regular, 7, right - doc.regular.width(label, 7), 8 * mm, label)
        tx.end()
        ops.append("0 g")
        top, bottom = doc.height - 11.5 * mm, 11.5 * mm
        doc.rules([(left, top, right, top), (left, bottom, right, bottom)], 0.4)


def _pdf_string(text: str) -> str:
    """A PDF text string: literal when printable ASCII, else UTF-16BE in hex."""
    if text.isascii() and text.isprintable():
        return "(" + text.translate(_ESCAPES) + ")"
    return "<FEFF" + text.encode("utf-16-be").hex().upper() + ">"


def _stream(data: bytes, extra: str = "") -> bytes:
    packed = zlib.compress(data, 3)  # a tenth larger than at 6, a third less time
    head = f"<< /Length {len(packed)} /Filter /FlateDecode{extra} >>\nstream\n".encode()
    return head + packed + b"\nendstream"


def _subset_tag(font: int, subset: int) -> str:
    """Six capital letters naming a font subset, unique within the document."""
    n, letters = font * 1000 + subset, ""
    for _ in range(6):
        n, r = divmod(n, 26)
        letters = chr(65 + r) + letters
    return letters


def _to_unicode(name: str, subset: list[int]) -> bytes:
    """The subset's ``ToUnicode`` CMap (codes to Unicode), in blocks of at most 100."""
    parts = [
        "/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
        f"/CIDSystemInfo << /Registry ({name}) /Ordering ({name}) /Supplement 0 >> def",
        f"/CMapName /{name} def", "/CMapType 2 def", "1 begincodespacerange",
        f"<00> <{len(subset) - 1:02X}>", "endcodespacerange",
    ]  # fmt: skip
    for at in range(0, len(subset), 100):
        chunk = subset[at : at + 100]
        parts.append(f"{len(chunk)} beginbfchar")
        for i, cp in enumerate(chunk, at):
            utf16 = chr(cp).encode("utf-16-be").hex().upper()
            parts.append(f"<{i:02X}> <{utf16}>")
        parts.append("endbfchar")
    parts += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(parts).encode("ascii")


def _font_objects(font: _Font, k: int, first: int) -> tuple[str, list[bytes]]:
    """A subset's resource entry and its objects, numbered from ``first``: the font, its
    descriptor, the embedded TrueType subset and the ToUnicode map."""
    face, subset = font.tt.face, font.subsets[k]
    name = f"{_subset_tag(font.number, k)}+{(face.name + face.subfontNameX).decode('ascii')}"
    widths = " ".join(str(round(face.getCharWidth(cp), 3)) for cp in subset)
    program = face.makeSubset(subset)
    flags = (face.flags & ~32) | 4  # symbolic: the codes are the subset's own
    bbox = " ".join(_num(v) for v in face.bbox)
    font_dict = (
        f"<< /Type /Font /Subtype /TrueType /BaseFont /{name} /FirstChar 0"
        f" /LastChar {len(subset) - 1} /Widths [{widths}] /FontDescriptor {first + 1} 0 R"
        f" /ToUnicode {first + 3} 0 R >>"
    )
    descriptor = (
        f"<< /Type /FontDescriptor /FontName /{name} /Flags {flags} /FontBBox [{bbox}]"
        f" /ItalicAngle {_num(face.italicAngle)} /Ascent {_num(face.ascent)}"
        f" /Descent {_num(face.descent)} /CapHeight {_num(face.capHeight)}"
        f" /StemV {_num(face.stemV)} /MissingWidth {_num(face.defaultWidth)}"
        f" /FontFile2 {first + 2} 0 R >>"
    )
    objects = [
        font_dict.encode(),
        descriptor.encode(),
        _stream(program, f" /Length1 {len(program)}"),
        _stream(_to_unicode(name, subset)),
    ]
    return f"/F{font.number}_{k} {first} 0 R", objects


def _info(title: str, subject: str, created: datetime) -> bytes:
    stamp = _pdf_string(pdf_date(created))
    fields = [("Title", title), ("Subject", subject), ("Author", "opencass")]
    fields += [("Creator", "opencass"), ("Producer", "opencass")]
    entries = " ".join(f"/{k} {_pdf_string(v)}" for k, v in fields if v)
    return f"<< {entries} /CreationDate {stamp} /ModDate {stamp} >>".encode()


def _serialise(doc: _Document, objects: list[bytes]) -> bytes:
    """The file: header, numbered objects, cross-reference table and trailer."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % at for at in offsets)
    digest = hashlib.md5(bytes(out), usedforsecurity=False).hexdigest().upper()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 3 0 R"
        f" /ID [<{digest}> <{digest}>] >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


def _objects(doc: _Document, info: bytes) -> list[bytes]:
    """Catalog (1), page tree (2), info (3), shared resources (4), then each page and its
    content, then the fonts."""
    n_pages = len(doc.pages)
    kids = " ".join(f"{5 + 2 * i} 0 R" for i in range(n_pages))
    size = f"[0 0 {_num(doc.width)} {_num(doc.height)}]"
    objects = [
        f"<< /Type /Catalog /Pages 2 0 R /Lang {_pdf_string(negotiate(doc.lang))} >>".encode(),
        f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode(),
        info,
        b"",  # the resources, once the fonts are numbered
    ]
    for i, ops in enumerate(doc.pages):
        page = f"<< /Type /Page /Parent 2 0 R /MediaBox {size} /Resources 4 0 R"
        objects.append(f"{page} /Contents {6 + 2 * i} 0 R >>".encode())
        objects.append(_stream("\n".join(ops).encode("latin-1")))
    entries = []
    for font in doc.fonts():
        for k in range(len(font.subsets)):
            entry, objs = _font_objects(font, k, len(objects) + 1)
            entries.append(entry)
            objects += objs
    objects[3] = f"<< /ProcSet [/PDF /Text] /Font << {' '.join(entries)} >> >>".encode()
    return objects


def render_blocks(
    blocks: Sequence[Block],
    *,
    lang: str,
    title: str,
    subject: str = "",
    footer: str = "",
    landscape: bool = False,
    created: datetime,
) -> bytes:
    """Lay ``blocks`` out on A4 (``landscape`` turns it) and return the PDF: the header shows
    ``title``, the footer ``footer`` and "Page X of Y" in ``lang``; ``created`` is the date
    the document's content is of, so the same input gives the same bytes."""
    width, height = A4
    doc = _Document(lang, (height, width) if landscape else (width, height))
    _lay_out(doc, blocks)
    _decorate(doc, title, footer)
    return _serialise(doc, _objects(doc, _info(title, subject, created)))
