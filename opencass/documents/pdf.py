"""PDF rendering shared by the reports, invoices and calendar exports (reportlab).

Fonts are TrueType files embedded (subset) in every PDF, registered once per process:

* Latin languages (en, fr, es, de): DejaVu Sans (Debian ``fonts-dejavu-core``); reportlab's own
  Bitstream Vera is the fallback when DejaVu is absent.
* Chinese (zh): WenQuanYi Micro Hei (Debian ``fonts-wqy-microhei``, a TrueType collection,
  sub-font 0); Japanese (ja): IPAGothic (Debian ``fonts-ipafont-gothic``, TrueType), so kanji
  take their Japanese shapes. Each falls back to the other. ``make fonts`` installs them.
  (Noto CJK is CFF-flavoured OpenType, which reportlab cannot embed.)

``OPENCASS_FONT_DIRS`` (``os.pathsep``-separated) adds directories to search first.

:func:`render_pdf` lays a story out on A4 with a header (title) and a footer (footer text and
"Page X of Y") and returns the bytes; the output is deterministic (reportlab's ``invariant``
mode: fixed dates and document id), so the same story gives the same bytes.
"""

from __future__ import annotations

import bisect
import io
import os
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.pagesizes import landscape as _landscape
from reportlab.lib.rl_accel import fp_str
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as _canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, TableStyle

from opencass.documents.i18n import negotiate, translator
from opencass.errors import ConfigurationError

I18N_DOMAIN = "reports"

__all__ = [
    "FontMissingError",
    "GridTable",
    "font_for",
    "register_fonts",
    "render_pdf",
    "styles",
    "table_style",
    "wrapped",
]


class FontMissingError(ConfigurationError, RuntimeError):
    """No usable TrueType font for a script: run ``make fonts`` (installs the Debian packages)."""

    code = "FONT_MISSING"


_SYSTEM_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts")

# Family name -> candidates (file name, sub-font index) for (regular, bold).
_FAMILIES: dict[str, tuple[tuple[str, int], tuple[str, int]]] = {
    "DejaVuSans": (("DejaVuSans.ttf", 0), ("DejaVuSans-Bold.ttf", 0)),
    "WQYMicroHei": (("wqy-microhei.ttc", 0), ("wqy-microhei.ttc", 0)),
    "IPAGothic": (("ipag.ttf", 0), ("ipag.ttf", 0)),
}
# Preference order per script.
_SCRIPT_FAMILIES = {
    "latin": ("DejaVuSans", "Vera"),
    "zh": ("WQYMicroHei", "IPAGothic"),
    "ja": ("IPAGothic", "WQYMicroHei"),
}

_lock = threading.Lock()
_registered: dict[str, tuple[str, str] | None] = {}  # family -> (regular, bold) names or None
_file_index: dict[str, Path] | None = None


def _font_files() -> dict[str, Path]:
    global _file_index
    if _file_index is None:
        index: dict[str, Path] = {}
        extra = [d for d in os.environ.get("OPENCASS_FONT_DIRS", "").split(os.pathsep) if d]
        for base in [*extra, *_SYSTEM_DIRS]:
            root = Path(base)
            if not root.is_dir():
                continue
            for path in sorted(root.rglob("*.tt[fc]")):
                index.setdefault(path.name, path)
        _file_index = index
    return _file_index


def _register_family(family: str) -> tuple[str, str] | None:
    if family in _registered:
        return _registered[family]
    names: tuple[str, str] | None = None
    if family == "Vera":  # shipped inside reportlab
        pdfmetrics.registerFont(TTFont("Vera", "Vera.ttf"))
        pdfmetrics.registerFont(TTFont("VeraBd", "VeraBd.ttf"))
        names = ("Vera", "VeraBd")
    else:
        files = _font_files()
        (reg_file, reg_idx), (bold_file, bold_idx) = _FAMILIES[family]
        if reg_file in files:
            regular = family
            pdfmetrics.registerFont(TTFont(regular, files[reg_file], subfontIndex=reg_idx))
            bold = family + "-Bold"
            if bold_file in files and (bold_file, bold_idx) != (reg_file, reg_idx):
                pdfmetrics.registerFont(TTFont(bold, files[bold_file], subfontIndex=bold_idx))
            else:
                bold = regular  # the CJK fonts have no bold face
            names = (regular, bold)
    if names is not None:
        pdfmetrics.registerFontFamily(
            names[0], normal=names[0], bold=names[1], italic=names[0], boldItalic=names[1]
        )
    _registered[family] = names
    return names


def _script(lang: str) -> str:
    lang = negotiate(lang)
    return lang if lang in ("zh", "ja") else "latin"


def font_for(lang: str) -> tuple[str, str]:
    """The registered (regular, bold) font names that draw ``lang``; registers them once."""
    script = _script(lang)
    with _lock:
        for family in _SCRIPT_FAMILIES[script]:
            names = _register_family(family)
            if names is not None:
                return names
    raise FontMissingError(
        f"no TrueType font for {script!r} text: install fonts-wqy-microhei and "
        "fonts-ipafont-gothic (make fonts) or set OPENCASS_FONT_DIRS"
    )


def register_fonts() -> None:
    """Register every font now (e.g. in a worker process's initializer)."""
    for lang in ("en", "zh", "ja"):
        font_for(lang)


_styles_cache: dict[str, dict[str, ParagraphStyle]] = {}


def styles(lang: str) -> dict[str, ParagraphStyle]:
    """Paragraph styles for ``lang``: title, h1, h2, body, small, cell, cell_r, cell_b,
    cell_br (bold right), footer. CJK styles wrap between any two characters."""
    script = _script(lang)
    if script in _styles_cache:
        return _styles_cache[script]
    regular, bold = font_for(lang)
    wrap = "CJK" if script != "latin" else None

    def style(name: str, font: str, size: float, **kw: Any) -> ParagraphStyle:
        return ParagraphStyle(
            name, fontName=font, fontSize=size, leading=kw.pop("leading", size * 1.25),
            wordWrap=wrap, **kw,
        )  # fmt: skip

    result = {
        "title": style("title", bold, 15, spaceAfter=3 * mm),
        "h1": style("h1", bold, 12, spaceBefore=4 * mm, spaceAfter=2 * mm),
        "h2": style("h2", bold, 10, spaceBefore=3 * mm, spaceAfter=1.5 * mm),
        "body": style("body", regular, 9),
        "small": style("small", regular, 7.5),
        "cell": style("cell", regular, 7, alignment=TA_LEFT),
        "cell_r": style("cell_r", regular, 7, alignment=TA_RIGHT),
        "cell_b": style("cell_b", bold, 7, alignment=TA_LEFT),
        "cell_br": style("cell_br", bold, 7, alignment=TA_RIGHT),
        "footer": style("footer", regular, 7, textColor=colors.grey),
    }
    _styles_cache[script] = result
    return result


def table_style(lang: str, *, header_rows: int = 1, numeric_from: int | None = None) -> TableStyle:
    """A plain grid table style: bold shaded header rows, right-aligned numeric columns."""
    regular, bold = font_for(lang)
    cmds: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (-1, -1), regular, 7),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2),
    ]
    if header_rows:
        cmds += [
            ("FONT", (0, 0), (-1, header_rows - 1), bold, 7),
            ("BACKGROUND", (0, 0), (-1, header_rows - 1), colors.Color(0.9, 0.92, 0.95)),
        ]
    if numeric_from is not None:
        cmds.append(("ALIGN", (numeric_from, 0), (-1, -1), "RIGHT"))
    return TableStyle(cmds)


_HEAD_BG = colors.Color(0.9, 0.92, 0.95)
# Laid-out header paragraphs by (lang, size, texts, widths): drawn again in every table piece.
_HEADERS: dict[tuple[Any, ...], tuple[list[Paragraph], float]] = {}


MIN_HEADER_SIZE = 5.0  # points: a header word is set smaller, down to this, rather than broken


def _fitting(text: str, style: ParagraphStyle, width: float, lang: str) -> ParagraphStyle:
    """``style``, or a smaller copy of it, so that the longest word of ``text`` fits ``width``
    (a header wraps between words, never inside one; Chinese and Japanese break anywhere)."""
    if lang in ("zh", "ja") or not text.strip():
        return style
    widest = max(pdfmetrics.stringWidth(w, style.fontName, style.fontSize) for w in text.split())
    if widest <= width:
        return style
    size = max(MIN_HEADER_SIZE, style.fontSize * width / widest)
    return ParagraphStyle(
        f"{style.name}-{size:.2f}", parent=style, fontSize=size, leading=size * 1.2
    )


def wrapped(text: str, font: str, size: float, width: float, lang: str) -> list[str]:
    """``text`` broken into lines no wider than ``width`` (points) in ``font`` at ``size``:
    between words, or between any two characters in Chinese and Japanese (or inside a word
    longer than the line)."""
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return [text]
    lines: list[str] = []
    line = ""
    units = list(text) if lang in ("zh", "ja") else text.split(" ")
    glue = "" if lang in ("zh", "ja") else " "
    for unit in units:
        trial = f"{line}{glue}{unit}" if line else unit
        if pdfmetrics.stringWidth(trial, font, size) <= width:
            line = trial
            continue
        if line:
            lines.append(line)
        line = ""
        for char in unit:  # a word longer than the line is broken where it must be
            if line and pdfmetrics.stringWidth(line + char, font, size) > width:
                lines.append(line)
                line = ""
            line += char
    if line:
        lines.append(line)
    return lines


class GridTable(Flowable):  # type: ignore[misc]
    """A plain grid table of one-line text cells, drawn straight onto the canvas.

    Much faster than platypus ``Table`` for long lists (one text object per piece, no cell
    objects): header cells wrap (bold paragraphs); body cells are single lines, clipped with
    "…" when wider than their column, except in the ``wrap`` columns, whose text runs on to
    as many lines as it needs (between words; anywhere in Chinese and Japanese); ``align``
    gives "L" or "R" per column.  Splits between rows across pages, repeating the header;
    the ``total`` row (bold, ruled above) ends the last piece.
    """

    def __init__(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        widths: Sequence[float],
        *,
        lang: str,
        align: str | None = None,
        total: Sequence[str] | None = None,
        font_size: float = 7,
        wrap: Sequence[int] = (),
        _head: list[Paragraph] | None = None,
        _starts: list[int] | None = None,
    ) -> None:
        super().__init__()
        self.header = list(header)
        self.rows = rows  # not copied: a split slices the list (pointers), never the rows
        self.widths = [float(w) for w in widths]
        # where each row begins among the lines drawn (None: a line per row)
        self._starts = _starts
        self.lang = lang
        self.align = align or "L" * len(self.widths)
        self.total = list(total) if total is not None else None
        self.size = font_size
        self.row_h = font_size * 1.45
        self.regular, self.bold = font_for(lang)
        if wrap:
            self.rows, self._starts = self._run_on(rows, wrap)
        self._head_h = 0.0
        key = self._key = (lang, font_size, tuple(self.header), tuple(self.widths))
        if _head is None:  # the same header (a table per airline...) is laid out once
            cached = _HEADERS.get(key)
            if cached is None:
                st = styles(lang)["cell_b"]
                self._head = [
                    Paragraph(h, _fitting(h, st, w - 4, lang))
                    for h, w in zip(self.header, self.widths, strict=True)
                ]
                cached = _HEADERS[key] = (self._head, self._measure_head())
                if len(_HEADERS) > 512:
                    _HEADERS.pop(next(iter(_HEADERS)))
            _head, self._head_h = cached
        self._head = _head
        self.hAlign = "LEFT"

    def _measure_head(self) -> float:
        if not self._head_h:
            pad = 2 * 1.5
            self._head_h = (
                max(p.wrap(w - 4, 1000)[1] for p, w in zip(self._head, self.widths, strict=True))
                + pad
            )
        return self._head_h

    def _body_rows(self) -> int:
        return len(self.rows) + (1 if self.total is not None else 0)

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        self.width = sum(self.widths)
        self.height = self._measure_head() + self._body_rows() * self.row_h
        return self.width, self.height

    def _run_on(
        self, rows: Sequence[Sequence[str]], columns: Sequence[int]
    ) -> tuple[Sequence[Sequence[str]], list[int] | None]:
        """``rows`` as the lines drawn, the text of the ``columns`` too wide for them run on
        to the lines below; and where each row begins (None: every row is one line)."""
        lines: list[Sequence[str]] = []
        starts: list[int] = []
        for row in rows:
            starts.append(len(lines))
            broken = {
                i: wrapped(str(row[i]), self.regular, self.size, self.widths[i] - 4, self.lang)
                for i in columns
                if row[i]
            }
            depth = max((len(v) for v in broken.values()), default=1)
            if depth == 1:
                lines.append(row)
                continue
            lines.append([broken[i][0] if i in broken else v for i, v in enumerate(row)])
            for k in range(1, depth):
                lines.append(
                    [broken[i][k] if i in broken and k < len(broken[i]) else "" for i in
                     range(len(row))]
                )  # fmt: skip
        if len(lines) == len(starts):
            return rows, None
        return lines, starts

    def _cut(self, fit: int) -> int:
        """The most lines, up to ``fit``, that end a row."""
        if self._starts is None or fit >= len(self.rows) or fit <= 0:
            return fit
        return self._starts[bisect.bisect_right(self._starts, fit) - 1]

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:  # noqa: N803
        fit = self._cut(int((availHeight - self._measure_head()) // self.row_h))
        if fit < 2 or fit >= self._body_rows():
            return []
        starts = self._starts
        first = GridTable(
            self.header, self.rows[:fit], self.widths, lang=self.lang, align=self.align,
            font_size=self.size, _head=self._head,
            _starts=None if starts is None else [i for i in starts if i < fit],
        )  # fmt: skip
        rest = GridTable(
            self.header, self.rows[fit:], self.widths, lang=self.lang, align=self.align,
            total=self.total, font_size=self.size, _head=self._head,
            _starts=None if starts is None else [i - fit for i in starts if i >= fit],
        )  # fmt: skip
        return [first, rest]

    def _fit(self, text: str, font: str, width: float) -> tuple[str, float]:
        w = pdfmetrics.stringWidth(text, font, self.size)
        if w <= width:
            return text, w
        while text and w > width:
            text = text[:-1]
            w = pdfmetrics.stringWidth(text + "…", font, self.size)
        return text + "…", w

    def _show(self, tx: Any, cache: dict[Any, Any], font: str, text: str) -> None:
        """``tx.textOut(text)`` without moving the cursor, memoised: the PDF operators of a
        text depend only on the font, its current subset and the text within one document."""
        key = (font, self.size, tx._curSubset, text)
        hit = cache.get(key)
        if hit is None:
            hit = (tx._formatText(text), tx._curSubset)
            cache[key] = hit
        else:
            tx._curSubset = hit[1]
        tx._code.append(hit[0])

    def draw(self) -> None:
        c = self.canv
        head_h = self._measure_head()
        total_w = sum(self.widths)
        xs = [0.0]
        for w in self.widths:
            xs.append(xs[-1] + w)
        top = self.height
        c.saveState()
        c.translate(0, top - head_h)
        c.doForm(self._header_form(xs, head_h, total_w))
        c.translate(0, head_h - top)
        body = [(r, self.regular) for r in self.rows]
        if self.total is not None:
            body.append((self.total, self.bold))
        self._draw_text(body, xs, top - head_h)
        self._draw_rules(len(body), xs, top, head_h, total_w)
        c.restoreState()

    def _header_form(self, xs: list[float], head_h: float, total_w: float) -> str:
        """The name of a form XObject holding the header (shaded, its words laid out), drawn
        once per document and referenced by every piece of every table with that header."""
        c = self.canv
        forms: dict[Any, str] = c.__dict__.setdefault("_opencass_header_forms", {})
        name = forms.get(self._key)
        if name is None:
            name = forms[self._key] = f"GridHead{len(forms)}"
            c.beginForm(name, 0, 0, total_w, head_h)
            c.setFillColor(_HEAD_BG)
            c.rect(0, 0, total_w, head_h, stroke=0, fill=1)
            c.setFillColor(colors.black)
            for p, x in zip(self._head, xs, strict=False):
                p.drawOn(c, x + 2, head_h - 1.5 - p.height)
            c.endForm()
        return name

    def _draw_text(self, body: list[tuple[Any, str]], xs: list[float], y: float) -> None:
        """The cells' texts, row by row from ``y`` down, in one text object (its operators
        written here: ``setTextOrigin`` per cell is a fifth of a long report's time)."""
        c = self.canv
        tx = c.beginText()
        code = tx._code
        # Per document (the canvas): subset assignments are the document's.
        cache: dict[Any, Any] = c.__dict__.setdefault("_opencass_text_cache", {})
        widths: dict[Any, Any] = c.__dict__.setdefault("_opencass_width_cache", {})
        descent = self.row_h - (self.row_h - self.size) / 2 - self.size * 0.8
        lefts = [fp_str(x + 2) for x in xs]
        right = [a == "R" for a in self.align]
        font = ""
        for row, f in body:
            if f != font:
                tx.setFont(f, self.size)
                font = f
            base = fp_str(y - self.row_h + descent)
            last = len(row) - 1
            for i, text in enumerate(row):
                if not text:
                    continue
                room = self.widths[i] - 4
                if f == self.bold and not right[i]:  # a total's label may run on
                    j = i
                    while j < last and not row[j + 1]:
                        j += 1
                        room += self.widths[j]
                fitted = widths.get((f, room, text))
                if fitted is None:
                    fitted = widths[(f, room, text)] = self._fit(str(text), f, room)
                text, w = fitted
                x = fp_str(xs[i] + 2 + room - w) if right[i] else lefts[i]
                code.append(f"1 0 0 1 {x} {base} Tm")
                self._show(tx, cache, f, text)
            y -= self.row_h
        c.drawText(tx)

    def _draw_rules(
        self, rows: int, xs: list[float], top: float, head_h: float, total_w: float
    ) -> None:
        """The grid's lines, and the rule above the total row."""
        c = self.canv
        c.setStrokeColor(colors.grey)
        c.setLineWidth(0.25)
        bottom = self.row_h if self.total is not None else 0.0
        lines: list[tuple[float, float, float, float]] = [(x, bottom, x, top) for x in xs]
        if self.total is not None:  # the total row: boundaries of its filled cells only
            edges = {0, len(xs) - 1} | {i for i, v in enumerate(self.total) if v and i}
            edges |= {i + 1 for i, v in enumerate(self.total) if v and self.align[i] == "R"}
            lines += [(xs[i], 0.0, xs[i], bottom) for i in sorted(edges) if i < len(xs)]
        lines.append((0.0, top, total_w, top))
        y = top - head_h
        ruled = range(rows + 1) if self._starts is None else [*self._starts, *range(
            len(self.rows), rows + 1)]  # fmt: skip
        lines += [(0.0, y - i * self.row_h, total_w, y - i * self.row_h) for i in ruled]
        c.lines(lines)
        if self.total is not None:
            c.setStrokeColor(colors.black)
            c.setLineWidth(0.8)
            c.line(0, self.row_h, total_w, self.row_h)


def pdf_date(at: datetime) -> str:
    """``at`` as a PDF date string (ISO 32000 7.9.4), with its UTC offset."""
    offset = at.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"D:{at:%Y%m%d%H%M%S}{sign}{hours:02d}'{mins:02d}'"


def _numbered_canvas(lang: str, title: str, footer: str, created: datetime) -> type[_canvas.Canvas]:
    regular, bold = font_for(lang)
    _ = translator(lang, "reports").gettext
    page_of = _("Page {page} of {pages}")

    class NumberedCanvas(_canvas.Canvas):  # type: ignore[misc]
        """Defers each page until the page count is known, then draws header and footer."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []
            stamp = pdf_date(created)
            self.setDateFormatter(lambda *_ignored: stamp)  # not reportlab's fixed 2000-01-01

        def showPage(self) -> None:  # noqa: N802 - reportlab's API
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._decorate(total)
                super().showPage()
            super().save()

        def _decorate(self, total: int) -> None:
            width, height = self._pagesize
            self.saveState()
            self.setStrokeColor(colors.grey)
            self.setLineWidth(0.4)
            self.setFont(bold, 8)
            self.drawString(15 * mm, height - 10 * mm, title)
            self.line(15 * mm, height - 11.5 * mm, width - 15 * mm, height - 11.5 * mm)
            self.line(15 * mm, 11.5 * mm, width - 15 * mm, 11.5 * mm)
            self.setFont(regular, 7)
            self.setFillColor(colors.grey)
            if footer:
                self.drawString(15 * mm, 8 * mm, footer)
            self.drawRightString(
                width - 15 * mm, 8 * mm, page_of.format(page=self._pageNumber, pages=total)
            )
            self.restoreState()

    return NumberedCanvas


def render_pdf(
    story: Sequence[Any],
    *,
    lang: str,
    title: str,
    subject: str = "",
    footer: str = "",
    landscape: bool = False,
    created: datetime,
) -> bytes:
    """Lay ``story`` (reportlab flowables) out on A4 (``landscape`` turns it) and return the PDF.

    Header: ``title``; footer: ``footer`` and "Page X of Y" in ``lang``. The creation date is
    ``created`` (the time the document's content is of: a close's reference, an invoice's issue,
    a calendar's version), so the same input gives the same bytes.
    """
    regular, _bold = font_for(lang)
    buf = io.BytesIO()
    pagesize = _landscape(A4) if landscape else A4
    doc = SimpleDocTemplate(
        buf,
        pagesize=pagesize,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=title,
        subject=subject,
        author="opencass",
        creator="opencass",
        producer="opencass",
        lang=negotiate(lang),
        invariant=1,
        initialFontName=regular,  # else each page references an unembedded Helvetica
    )
    doc.build(list(story), canvasmaker=_numbered_canvas(lang, title, footer, created))
    return buf.getvalue()
