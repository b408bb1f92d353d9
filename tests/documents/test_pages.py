"""The reports' PDFs as ``opencass.documents.pages`` writes them, judged by readers nobody here
wrote: qpdf checks the file's structure, poppler (pdftotext, pdffonts) and pypdf read it back,
pyhanko signs and validates it.  Text is extracted exactly (escapes, several font subsets,
Chinese and Japanese), grid tables split between rows with their header on every page, nothing
is lost or repeated, and the same blocks give the same bytes."""

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

from opencass.config.model import PdfSigningSettings
from opencass.documents.pages import Block, Facts, Gap, Grid, Heading, NewPage, render_blocks
from opencass.documents.signing import sign_pdf, verify_pdf
from tests.kit.signing import write_certificate
from tests.kit.tools import needs_tool

MADE = datetime(2026, 12, 15, 8, 0, tzinfo=ZoneInfo("Europe/Berlin"))
needs_poppler = needs_tool("pdftotext", "poppler-utils reads the PDFs back")
needs_qpdf = needs_tool("qpdf", "qpdf checks the PDF's structure")

WORDS = [
    "pallet", "cooler", "damaged", "customs", "hold", "reweighed", "at", "destination", "by",
    "handler",
]  # fmt: skip


def _reason(i: int) -> str:
    """A reason of 3-30 words, starting and ending with the row's own markers."""
    body = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(3 + (i * 7) % 28))
    return f"B{i:03d}x {body} E{i:03d}x"


def _grid(rows: int, *, wrap: tuple[int, ...] = (1,)) -> Grid:
    body = [[f"R{i:03d}", _reason(i), f"{i},00"] for i in range(rows)]
    widths = [30 * mm, 50 * mm, 25 * mm]
    return Grid(
        ["Reference", "Reason", "Amount"], body, widths, "LLR", ["Total", "", "99,00"], wrap
    )


def _pdf(blocks: list[Block], lang: str = "en", **kw: object) -> bytes:
    args: dict[str, object] = {"title": "Grid report", "footer": "test footer", "created": MADE}
    return render_blocks(blocks, lang=lang, **{**args, **kw})  # type: ignore[arg-type]


def _run(args: list[str], data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "t.pdf"
    path.write_bytes(data)
    done = subprocess.run([*args, str(path), *(["-"] if args[0] == "pdftotext" else [])],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout


def _pages(data: bytes, tmp_path: Path) -> list[str]:
    return _run(["pdftotext", "-raw"], data, tmp_path).split("\f")[:-1]


@needs_qpdf
@needs_poppler
def test_the_file_is_well_formed_and_its_fonts_embedded_subsets(tmp_path: Path) -> None:
    blocks: list[Block] = [
        Heading("Cargo Sales Report", "title"),
        Facts([("Recipient", "2347006 Agent (One) & Co"), ("Period", "2026-11")], (99.0, 340.0)),
        Gap(3 * mm),
        Heading("Air waybills", "h2"),
        _grid(150),
    ]  # fmt: skip
    data = _pdf(blocks, subject="2347006 Agent")
    path = tmp_path / "checked.pdf"
    path.write_bytes(data)
    check = subprocess.run(["qpdf", "--check", str(path)], capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert b"No syntax or stream encoding errors" in check.stdout
    fonts = _run(["pdffonts"], data, tmp_path).splitlines()[2:]
    assert len(fonts) == 2  # DejaVu Sans and its bold, one subset each
    for line in fonts:
        name, kind, emb_sub_uni = line.split()[0], line.split()[1], line.split()[-5:-2]
        assert name[6] == "+" and name[:6].isupper() and kind == "TrueType"
        assert emb_sub_uni == ["yes", "yes", "yes"], line
    reader = PdfReader(io.BytesIO(data))
    meta = reader.metadata
    assert meta is not None
    assert (meta.title, meta.subject, meta.author) == ("Grid report", "2347006 Agent", "opencass")
    assert meta.creation_date is not None and meta.creation_date.isoformat()[:19] == (
        "2026-12-15T08:00:00"
    )
    assert reader.trailer["/Root"]["/Lang"] == "en"
    assert len(reader.pages) == len(_pages(data, tmp_path)) >= 3
    assert float(reader.pages[0].mediabox.width) == pytest.approx(595.28, abs=0.01)


@needs_poppler
def test_a_long_grid_splits_between_rows_with_its_header_on_every_page(tmp_path: Path) -> None:
    rows = 120
    pages = _pages(_pdf([Heading("Corrections", "h1"), _grid(rows)]), tmp_path)
    assert len(pages) >= 3
    text = "\n".join(pages)
    assert "…" not in text
    words = text.split()
    for i in range(rows):
        # every word of the reason, in order, once, and a row's lines on one page
        assert words.count(f"B{i:03d}x") == 1 and words.count(f"R{i:03d}") == 1
        start, end = words.index(f"B{i:03d}x"), words.index(f"E{i:03d}x")
        reason = [w for w in words[start : end + 1] if w in WORDS or w[1:4] == f"{i:03d}"]
        assert reason == _reason(i).split(), i
        assert [f"B{i:03d}x" in p for p in pages] == [f"E{i:03d}x" in p for p in pages], i
    for n, page in enumerate(pages, 1):
        assert "Reference Reason Amount" in page
        assert f"Page {n} of {len(pages)}" in page and "Grid report" in page
        assert "test footer" in page
    assert ["Total" in p for p in pages] == [False] * (len(pages) - 1) + [True]


@needs_poppler
def test_without_wrapping_long_text_is_clipped_on_one_line(tmp_path: Path) -> None:
    text = "\n".join(_pages(_pdf([_grid(20, wrap=())]), tmp_path))
    assert "…" in text
    assert "E019x" not in text  # the end of a long reason is clipped away
    assert all(f"R{i:03d}" in text for i in range(20))


@needs_poppler
def test_text_is_shown_as_given_never_parsed(tmp_path: Path) -> None:
    hostile = "Airline 29 & Co <b>(x) \\n \\ ) ( é€–…"
    rows = [[hostile, "a)b(c\\d", "1,00"]]
    grid = Grid(["Name", "Odd", "Amount"], rows, [80 * mm, 40 * mm, 30 * mm], "LLR")
    data = _pdf([Heading(hostile, "h1"), grid, Heading(hostile, "body")], title=hostile)
    text = _run(["pdftotext", "-layout"], data, tmp_path)
    assert text.count(hostile) == 4  # the heading, the cell, the body line, the page header
    assert "a)b(c\\d" in text
    meta = PdfReader(io.BytesIO(data)).metadata
    assert meta is not None and meta.title == hostile


@needs_poppler
def test_a_heading_wider_than_the_page_wraps_and_keeps_every_word(tmp_path: Path) -> None:
    long = " ".join(f"w{i}" for i in range(160))
    text = " ".join("\n".join(_pages(_pdf([Heading(long, "body")]), tmp_path)).split())
    assert long in text


@needs_poppler
def test_a_heading_is_kept_with_the_table_it_introduces(tmp_path: Path) -> None:
    """Headings at the foot of a page move to the next page with their table."""
    blocks: list[Block] = []
    for k in range(40):
        blocks += [Heading(f"Airline {k:03d}", "h1"), Heading("Air waybills", "h2"), _grid(3)]
    pages = _pages(_pdf(blocks), tmp_path)
    assert len(pages) > 5
    for k in range(40):
        (page,) = [p for p in pages if f"Airline {k:03d}" in p]
        after = page.split(f"Airline {k:03d}", 1)[1]
        assert "Reference Reason Amount" in after, k


@needs_poppler
@pytest.mark.parametrize("lang", ["zh", "ja"])
def test_more_characters_than_one_subset_holds_read_back_exactly(lang: str, tmp_path: Path) -> None:
    """600 distinct characters need three font subsets of 256; all extract as written."""
    chars = [chr(0x4E00 + i) for i in range(600)]
    lines = ["".join(chars[i : i + 40]) for i in range(0, 600, 40)]
    rows = [[line[:10], line[10:20], "1"] for line in lines]
    grid = Grid(["表", "列", "数"], rows, [40 * mm, 40 * mm, 20 * mm], "LLR")
    data = _pdf([*(Heading(line, "body") for line in lines), grid], lang=lang)
    text = "".join(_run(["pdftotext", "-raw"], data, tmp_path).split())
    for line in lines:
        assert line in text
    fonts = _run(["pdffonts"], data, tmp_path).splitlines()[2:]
    assert len(fonts) >= 3  # one font, three subsets (no bold face in these fonts)


def test_the_same_blocks_give_the_same_bytes() -> None:
    blocks: list[Block] = [Heading("Report", "title"), _grid(60), NewPage(), _grid(3)]
    first = _pdf(blocks)
    assert _pdf(blocks) == first
    assert _pdf(blocks, created=MADE.replace(day=16)) != first


@needs_poppler
def test_an_empty_grid_shows_its_header_and_a_new_page_starts_one(tmp_path: Path) -> None:
    empty = Grid(["Company", "Login"], [], [40 * mm, 40 * mm], "LL")
    pages = _pages(
        _pdf([Heading("Users", "h1"), empty, NewPage(), Heading("Next", "h1")]), tmp_path
    )
    assert len(pages) == 2
    assert "Company Login" in pages[0] and "Next" in pages[1]


def test_pyhanko_signs_and_validates_the_file(tmp_path: Path) -> None:
    cert, key = write_certificate(tmp_path, "office")
    data = _pdf([Heading("Cargo Sales Report", "title"), _grid(80)])
    signed = sign_pdf(data, PdfSigningSettings(str(cert), str(key)), MADE)
    (report,) = verify_pdf(signed, (cert,))
    assert report.ok, report
    assert signed.startswith(data)  # an incremental update: the report's bytes are kept


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs"))),
                 min_size=3, max_size=3),
        min_size=0, max_size=40,
    ),
)  # fmt: skip
def test_any_cells_make_a_file_pypdf_reads_page_by_page(rows: list[list[str]]) -> None:
    data = _pdf(
        [_grid(2), Grid(["A", "B", "C"], rows, [60 * mm, 40 * mm, 30 * mm], "LLR", wrap=(0,))]
    )
    reader = PdfReader(io.BytesIO(data), strict=True)
    assert len(reader.pages) >= 1
    for page in reader.pages:
        assert "Grid report" in page.extract_text()


@needs_poppler
def test_empty_texts_and_line_breaks_in_headings(tmp_path: Path) -> None:
    blocks: list[Block] = [
        Heading("", "body"),
        Facts([("", ""), ("Party", "")], (99.0, 340.0)),
        Heading("first line\nsecond line", "h1"),
        Grid(["", "B"], [["", ""], ["x", ""]], [40 * mm, 40 * mm], "LR", total=["", ""]),
    ]
    text = " ".join(_run(["pdftotext", "-raw"], _pdf(blocks), tmp_path).split())
    assert "Party first line second line B x" in text


@needs_poppler
def test_a_line_break_in_a_run_on_cell_starts_a_new_line(tmp_path: Path) -> None:
    rows = [["first\u2028second", "x"], ["short", "y\nz"], ["one line", "w"]]
    grid = Grid(["A", "B"], rows, [60 * mm, 30 * mm], "LL", wrap=(0, 1))
    text = _run(["pdftotext", "-layout"], _pdf([grid]), tmp_path)
    lines = [line.split() for line in text.splitlines() if line.strip()]
    for expected in (["first", "x"], ["second"], ["short", "y"], ["z"], ["one", "line", "w"]):
        assert expected in lines, (expected, lines)


@needs_poppler
def test_a_header_word_too_wide_for_its_column_is_set_smaller_never_broken(
    tmp_path: Path,
) -> None:
    from reportlab.pdfbase import pdfmetrics

    from opencass.documents.pdf import font_for

    words = ["Korrekturschluss", "Einreichungsschluss", "Fluggesellschaften", "Bereitstellung"]
    bold = font_for("de")[1]
    # each column as wide as its word at 6 points (and the cell's padding): 7 points do not fit;
    # and the width of a column of the calendar, where "Korrekturschluss" once broke in two
    widths = [pdfmetrics.stringWidth(w, bold, 6) + 4 for w in words[1:]]
    widths.insert(0, (267 * mm - 12 - 24 * mm) / 10)
    grid = Grid([f"{w} Agenten" for w in words], [["1", "2", "3", "4"]], widths, "LLLL")
    text = _run(["pdftotext", "-raw"], _pdf([grid], lang="de"), tmp_path)
    for word in words:
        assert word in text.split(), (word, text)
