"""The PDFs' fonts and pages: embedded fonts per script, page numbering, deterministic bytes,
text broken into lines that fit."""

from __future__ import annotations

import multiprocessing
import subprocess
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reportlab.pdfbase import pdfmetrics

from opencass.documents.pages import Block, Heading, render_blocks
from opencass.documents.pdf import font_for, wrapped
from tests.kit.tools import needs_tool

MADE = datetime(2026, 12, 15, 8, 0, tzinfo=ZoneInfo("Europe/Berlin"))
needs_poppler = needs_tool("pdftotext", "poppler-utils reads the PDFs back")

SAMPLES = {
    "en": "Cargo Sales Report – 1,234.56 €",
    "fr": "Rapport des ventes fret – 1 234,56 €",
    "de": "Frachtverkaufsbericht – Zahlungsübersicht",
    "es": "Informe de ventas de carga – Año",
    "zh": "货运销售报告 付款汇总",
    "ja": "貨物売上報告書 支払サマリー",
}


def _story(lang: str, paragraphs: int = 120) -> list[Block]:
    text = SAMPLES[lang]
    return [Heading(text, "title")] + [Heading(f"{i} {text}", "body") for i in range(paragraphs)]


def _render(lang: str) -> bytes:
    story = _story(lang)
    return render_blocks(
        story, lang=lang, title=SAMPLES[lang], footer="agent1 / 20261101M", created=MADE
    )


def test_fonts_per_script() -> None:
    assert font_for("en") == ("DejaVuSans", "DejaVuSans-Bold")
    assert font_for("de") == font_for("fr")
    assert font_for("zh")[0] == "WQYMicroHei"
    assert font_for("ja")[0] == "IPAGothic"


def test_same_input_same_bytes_even_in_another_process() -> None:
    first = _render("zh")
    assert first.startswith(b"%PDF-") and first == _render("zh")
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx) as pool:
        assert pool.submit(_render, "zh").result() == first


@needs_poppler
@pytest.mark.parametrize("lang", list(SAMPLES))
def test_text_extracts_with_page_numbers_and_fonts_are_embedded(lang: str, tmp_path: Path) -> None:
    pdf = tmp_path / f"{lang}.pdf"
    pdf.write_bytes(_render(lang))
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert SAMPLES[lang].split()[0] in text
    pages = text.count("\f")
    assert pages >= 2
    page_of = {
        "en": "Page {} of {}",
        "fr": "Page {} sur {}",
        "es": "Página {} de {}",
        "de": "Seite {} von {}",
        "zh": "第 {} 页，共 {} 页",
        "ja": "{} / {} ページ",
    }[lang]
    for page in range(1, pages + 1):
        assert page_of.format(page, pages) in text
    fonts = subprocess.run(
        ["pdffonts", str(pdf)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    assert fonts and all(" yes " in line for line in fonts), fonts  # emb column


@needs_tool("pdfinfo", "poppler-utils reads the PDF's information dictionary")
def test_creation_date_is_the_documents_own_time_and_stable(tmp_path: Path) -> None:
    """Defect: every PDF said it was made on 2000-01-01. Now it carries the time its content
    is of (here a close's reference), read back by poppler, and re-rendering is byte-stable."""
    data = _render("de")
    assert data == _render("de")
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    info = subprocess.run(
        ["pdfinfo", "-isodates", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert "CreationDate:    2026-12-15T08:00:00+01" in info
    assert "2000" not in info


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
