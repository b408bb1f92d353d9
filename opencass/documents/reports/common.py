"""What the report renderers share: the document context, tables for PDF, xlsx and CSV helpers."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from reportlab.lib.units import mm

from opencass.config.model import PdfSigningSettings
from opencass.documents.i18n import Translator, translator
from opencass.documents.pages import Facts, Gap, Grid, Heading
from opencass.documents.xlsx import Sheet, Style, XlsxBook
from opencass.model import minor_units
from opencass.settlement.close import format_amount

I18N_DOMAIN = "reports"


@dataclass(frozen=True, slots=True)
class Context:
    """Who a document is for and when: everything but the data (picklable)."""

    lang: str
    country: str
    country_name: str
    period: str
    billing_from: date
    billing_to: date
    remittance_day: date
    settlement_day: date
    currency: str
    issued: datetime  # the close's reference time (aware)
    company: str  # company id of the recipient
    company_name: str
    signing: PdfSigningSettings | None = None  # the office's certificate: PDFs are signed

    @property
    def t(self) -> Translator:
        """The recipient's translator (reports domain)."""
        return translator(self.lang, "reports")


def money(ctx: Context, amount: Decimal) -> str:
    """An amount in the period currency, per locale (with the currency symbol)."""
    return ctx.t.money(amount, ctx.currency)


def amount(ctx: Context, value: Decimal) -> str:
    """An amount in the period currency, per locale, without the symbol."""
    return ctx.t.number(value, minor_units(ctx.currency))


def opt_amount(ctx: Context, value: Decimal | None) -> str:
    """``amount`` or "–" when unknown."""
    return "–" if value is None else amount(ctx, value)


def heading_block(ctx: Context, title: str, party: str) -> list[Any]:
    """The document's title and its key facts (party, country, period, currency, issue date)."""
    t = ctx.t
    _ = t.gettext
    facts = [
        (_("Recipient"), party),
        (_("Country"), f"{ctx.country} {ctx.country_name}".strip()),
        (
            _("Period"),
            f"{ctx.period} ({t.date(ctx.billing_from)} – {t.date(ctx.billing_to)})",
        ),
        (_("Currency"), ctx.currency),
        (_("Issued"), t.date(ctx.issued.date())),
    ]
    return [Heading(title, "title"), Facts(facts, (35 * mm, 120 * mm)), Gap(3 * mm)]


def pdf_table(
    ctx: Context,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: Sequence[float],
    *,
    numeric_from: int | None = None,
    total: Sequence[str] | None = None,
    wrap: Sequence[int] = (),
) -> list[Any]:
    """A grid table (``Grid``: split between rows across pages, its header repeated); columns from
    ``numeric_from`` on are right-aligned; ``total`` is the bold last row.  Text wider than its
    column runs on to more lines in the ``wrap`` columns, and is clipped ("…") elsewhere."""
    n = len(header)
    align = "L" * n if numeric_from is None else "L" * numeric_from + "R" * (n - numeric_from)
    body = rows or [["–"] + [""] * (n - 1)]
    return [Grid(header, body, widths, align, total=total, wrap=tuple(wrap))]


def _fonts(lang: str) -> tuple[str, str]:
    from opencass.documents.pdf import font_for

    return font_for(lang)


# --- CSV ----------------------------------------------------------------------------------------


def csv_bytes(rows: Sequence[Sequence[str]]) -> bytes:
    """UTF-8 CSV, LF line ends (like the close's statement CSV)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


def plain(value: Decimal | None, currency: str) -> str:
    """A machine-readable amount: decimal point at the currency's minor units."""
    return "" if value is None else format_amount(value, currency)


# --- xlsx ---------------------------------------------------------------------------------------

_BAD_SHEET = re.compile(r"[\[\]:*?/\\]")


class Workbook:
    """An xlsx workbook in memory with a few formats; deterministic (fixed creation time)."""

    def __init__(self, ctx: Context, title: str) -> None:
        self.ctx = ctx
        created = ctx.issued.replace(tzinfo=None)
        self.book = XlsxBook(title=title, author="opencass", company="opencass", created=created)
        digits = minor_units(ctx.currency)
        money_fmt = "#,##0" + ("." + "0" * digits if digits else "")
        add = self.book.style
        self.f_head = add(Style(bold=True, fill="E6EBF2", wrap=True))
        # a cell kind of ``write_row`` → its style
        self._kinds = {
            "s": 0,
            "b": add(Style(bold=True)),
            "i": 0,
            "m": add(Style(number_format=money_fmt)),
            "M": add(Style(bold=True, number_format=money_fmt)),
            "w": add(Style(number_format="#,##0.0")),
            "y": add(Style(number_format="#,##0.0000")),
            "d": add(Style(number_format="yyyy-mm-dd")),
        }
        self._names: set[str] = set()

    def sheet(self, name: str, header: Sequence[str], widths: Sequence[float]) -> Sheet:
        """A new sheet with a bold header row, frozen below it."""
        clean = _BAD_SHEET.sub("-", name)[:31].strip() or "Sheet"
        n = 2
        base = clean
        while clean.lower() in self._names:
            clean = f"{base[:28]} {n}"
            n += 1
        self._names.add(clean.lower())
        if len(header) != len(widths):
            raise ValueError("a sheet needs one width per header")
        ws = self.book.sheet(clean, widths, frozen_rows=1)
        self.book.row(ws, 0, [(i, h, self.f_head) for i, h in enumerate(header)])
        return ws

    def write_row(self, ws: Sheet, row: int, values: Sequence[Any], kinds: str) -> None:
        """Write ``values`` typed by ``kinds``: s string, i int, m money, M bold money,
        w weight, y yield, d date, b bold string."""
        cells: list[tuple[int, str | float | int | date, int]] = []
        styles = self._kinds
        for col, (v, k) in enumerate(zip(values, kinds, strict=True)):
            if v is None or v == "":
                continue
            style = styles.get(k)
            if style is None:  # pragma: no cover - a programming error
                raise ValueError(f"unknown cell kind {k!r}")
            if k in "sb":
                cells.append((col, str(v), style))
            elif k == "i":
                cells.append((col, int(v), style))
            elif k == "d":
                cells.append((col, v, style))
            else:
                cells.append((col, float(v), style))
        self.book.row(ws, row, cells)

    def close(self) -> bytes:
        """The workbook's bytes."""
        return self.book.close()


Renderer = Callable[..., bytes]
