"""The grid table of the invoices (reportlab), read back by poppler and pypdf: text run on in
wrapping columns (never clipped, a row never split across pages), the header drawn once per
document as a form and shown on every page.  (The reports' tables: ``test_pages.py``.)"""

from __future__ import annotations

import io
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics

from opencass.documents.pdf import GridTable, font_for, render_pdf, wrapped
from tests.kit.tools import needs_tool

MADE = datetime(2026, 12, 15, 8, 0, tzinfo=ZoneInfo("Europe/Berlin"))
needs_poppler = needs_tool("pdftotext", "poppler-utils reads the PDFs back")

WORDS = [
    "pallet", "cooler", "damaged", "customs", "hold", "reweighed", "at", "destination", "by",
    "handler",
]  # fmt: skip


def _reason(i: int) -> str:
    """A reason of 3-30 words, starting and ending with the row's own markers."""
    body = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(3 + (i * 7) % 28))
    return f"B{i:03d}x {body} E{i:03d}x"


def _table(rows: int, *, wrap: tuple[int, ...], lang: str = "en") -> GridTable:
    header = ["Reference", "Reason", "Amount"]
    body = [[f"R{i:03d}", _reason(i), f"{i},00"] for i in range(rows)]
    return GridTable(
        header, body, [30 * mm, 50 * mm, 25 * mm], lang=lang, align="LLR",
        total=["Total", "", "99,00"], wrap=wrap,
    )  # fmt: skip


def _pdf(story: list[object], lang: str = "en") -> bytes:
    return render_pdf(story, lang=lang, title="Grid", footer="test", created=MADE)


def _pages(data: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "t.pdf"
    path.write_bytes(data)
    text = subprocess.run(
        ["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return text.split("\f")[:-1]


@needs_poppler
def test_wrapping_column_keeps_every_word_and_never_splits_a_row(tmp_path: Path) -> None:
    rows = 120
    pages = _pages(_pdf([_table(rows, wrap=(1,))]), tmp_path)
    assert len(pages) >= 3
    text = "\n".join(pages)
    assert "…" not in text
    words = text.split()
    for i in range(rows):
        # every word of the reason, in order, and both markers on the same page
        start, end = words.index(f"B{i:03d}x"), words.index(f"E{i:03d}x")
        reason = [w for w in words[start : end + 1] if w in WORDS or w[1:4] == f"{i:03d}"]
        assert reason == _reason(i).split(), i
        assert [f"B{i:03d}x" in p for p in pages] == [f"E{i:03d}x" in p for p in pages], i
    assert "99,00" in pages[-1] and "Total" in pages[-1]


@needs_poppler
def test_without_wrapping_long_text_is_clipped_on_one_line(tmp_path: Path) -> None:
    text = "\n".join(_pages(_pdf([_table(20, wrap=())]), tmp_path))
    assert "…" in text
    assert "E019x" not in text  # the end of a long reason is clipped away


@needs_poppler
def test_header_is_one_form_shown_on_every_page(tmp_path: Path) -> None:
    """The header of every table piece is a form XObject drawn once per document."""
    # thirty tables with the same header, as an invoice has per airline
    story: list[object] = [_table(6, wrap=(1,)) for _ in range(30)]
    data = _pdf(story)
    reader = PdfReader(io.BytesIO(data))
    forms: set[int] = set()
    for page in reader.pages:
        xobjects = page["/Resources"].get("/XObject", {})
        used = {name for name in xobjects if "GridHead" in str(name) or name.startswith("/Form")}
        assert used, "every page shows the header form"
        forms |= {xobjects.raw_get(name).idnum for name in used}
    assert len(forms) == 1
    pages = _pages(data, tmp_path)
    for page in pages:
        assert "Reference Reason Amount" in page


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=25),
        min_size=1,
        max_size=30,
    ),
    st.floats(min_value=20, max_value=200),
    st.sampled_from(["en", "zh"]),
)
def test_wrapped_lines_fit_and_lose_nothing(words: list[str], width: float, lang: str) -> None:
    font = font_for(lang)[0]
    text = ("" if lang == "zh" else " ").join(words)
    lines = wrapped(text, font, 7, width, lang)
    # nothing lost, nothing reordered: only the spaces where a line was broken are gone
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert all(line == line.strip() and line for line in lines)
    for line in lines:
        assert len(line) == 1 or pdfmetrics.stringWidth(line, font, 7) <= width
    if pdfmetrics.stringWidth(text, font, 7) <= width:
        assert lines == [text]


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_wrapped_chinese_and_japanese_break_between_characters(lang: str) -> None:
    font = font_for(lang)[0]
    text = "貨物売上報告書支払サマリー" * 4 if lang == "ja" else "a b " * 40
    lines = wrapped(text, font, 7, 60, lang)
    assert len(lines) > 1
    if lang == "ja":
        assert "".join(lines) == text
