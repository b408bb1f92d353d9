"""Report data builders and renderers on records built in the test: disputes, adjustments (BTA),
credits, year-to-date statistics, long multi-page tables, CJK glyph coverage."""

from __future__ import annotations

import csv
import io
import subprocess
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from reportlab.pdfbase import pdfmetrics

from opencass.cli.samples import DEMO_AGENTS, sample_billing_file
from opencass.codecs.payload import to_json
from opencass.documents.i18n import LANGUAGES, LOCALE_DIR, translator
from opencass.documents.pdf import font_for
from opencass.documents.reports.agent import sales_report_csv, sales_report_pdf, sales_report_xlsx
from opencass.documents.reports.airline import notifications_pdf
from opencass.documents.reports.common import Context
from opencass.documents.reports.data import (
    DisputeLine,
    ReportDataError,
    agent_report,
    management_stats,
)
from opencass.model import AwbRecord, BookedRow
from opencass.settlement.netting import Adjustment, settle
from tests.kit.tools import needs_tool

needs_poppler = needs_tool("pdftotext", "poppler-utils reads the PDFs back")
AGENT1, AGENT2 = DEMO_AGENTS
START = date(2026, 11, 1)


def _rows(records: list[AwbRecord], period_shift: int = 0, late: bool = False) -> list[BookedRow]:
    return [
        BookedRow(i + 1 + period_shift, r.record_id, r.airline_prefix, r.awb_serial,
                  r.agent_code, "", r.currency, late, "json", to_json(r))
        for i, r in enumerate(records)
    ]  # fmt: skip


def _ctx(lang: str = "en") -> Context:
    return Context(
        lang=lang, country="DE", country_name="Germany", period="20261101M",
        billing_from=START, billing_to=date(2026, 11, 30), remittance_day=date(2026, 12, 20),
        settlement_day=date(2026, 12, 22), currency="EUR",
        issued=datetime(2026, 12, 15, 7, tzinfo=UTC), company="agent1", company_name="Agent One",
    )  # fmt: skip


def _text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "x.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def _many_awbs(n: int) -> list[AwbRecord]:
    base = sample_billing_file(START).awbs[0]
    return [
        replace(base, awb_serial=f"{i:07d}{i % 7}", weight_charge_prepaid=Decimal(100 + i))
        for i in range(1, n + 1)
    ]


def test_adjustments_and_disputes_reach_the_report() -> None:
    awbs = [a for a in sample_billing_file(START).awbs if a.agent_code == AGENT1]
    adj = Adjustment("997", AGENT1, Decimal("-150.00"), "DSP-1")
    s = settle([*awbs, adj], "EUR")
    st = s.agents[0]
    dispute = DisputeLine(
        "DSP-1", "997", awbs[0].awb_serial, AGENT1, "REQUEST_ACCEPTED", Decimal("3350.64"),
        Decimal("3200.64"), Decimal("150.00"), Decimal("3200.64"), "WRONG RATE",
    )  # fmt: skip
    report = agent_report(
        st, _rows(awbs), agent_code=AGENT1, agent_name="Agent One", currency="EUR",
        airline_names={"997": "Demo Air"}, disputes=[dispute],
    )  # fmt: skip
    (section,) = report.sections
    assert [a.reference for a in section.adjustments] == ["DSP-1"]
    assert section.adjustment_total == Decimal("-150.00")
    assert section.total == section.awb_total + section.adjustment_total == report.total
    assert section.disputes == (dispute,)
    rows = list(csv.DictReader(io.StringIO(sales_report_csv(_ctx(), report).decode())))
    assert [r["record"] for r in rows] == ["AWB", "AWB", "ADJ", "DISPUTE", "SUBTOTAL", "TOTAL"]
    assert Decimal(rows[-1]["amount"]) == st.total
    wb = openpyxl.load_workbook(io.BytesIO(sales_report_xlsx(_ctx(), report)))
    bta = list(wb.worksheets[2].iter_rows(min_row=2, values_only=True))
    assert bta == [("997", "DSP-1", -150.0)]
    disputes = list(wb.worksheets[3].iter_rows(min_row=2, values_only=True))
    assert disputes[0][3] == "accepted"


def test_records_that_do_not_give_the_statement_are_refused() -> None:
    awbs = [a for a in sample_billing_file(START).awbs if a.agent_code == AGENT1]
    st = settle(awbs, "EUR").agents[0]
    with pytest.raises(ReportDataError):
        agent_report(st, _rows(awbs[:1]), agent_code=AGENT1, agent_name="", currency="EUR")


@needs_poppler
def test_a_credit_and_a_long_report_over_several_pages(tmp_path: Path) -> None:
    awbs = [replace(a, agent_code=AGENT1) for a in _many_awbs(130)]
    credit = Adjustment("997", AGENT1, Decimal("-999999.00"), "BTA-7")
    st = settle([*awbs, credit], "EUR").agents[0]
    assert st.is_credit
    report = agent_report(st, _rows(awbs), agent_code=AGENT1, agent_name="", currency="EUR")
    text = _text(sales_report_pdf(_ctx(), report), tmp_path)
    pages = text.count("\f")
    assert pages >= 3
    assert f"Page {pages} of {pages}" in text
    for a in awbs:  # every line on some page, none lost at a page break
        assert a.awb in text
    assert text.count("Net due") >= 3  # the header repeats on each page of the table
    t = translator("en", "reports")
    assert (
        t("Amount to be credited to you: {amount}").format(amount=t.money(abs(st.total), "EUR"))
        in text
    )


def test_same_report_same_bytes() -> None:
    awbs = [a for a in sample_billing_file(START).awbs if a.agent_code == AGENT1]
    st = settle(awbs, "EUR").agents[0]
    report = agent_report(st, _rows(awbs), agent_code=AGENT1, agent_name="", currency="EUR")
    assert sales_report_pdf(_ctx("ja"), report) == sales_report_pdf(_ctx("ja"), report)
    assert sales_report_xlsx(_ctx("de"), report) == sales_report_xlsx(_ctx("de"), report)


@needs_poppler
def test_year_to_date_adds_the_earlier_periods(tmp_path: Path) -> None:
    f = sample_billing_file(START)
    awbs = list(f.awbs)
    s = settle(awbs, "EUR")
    earlier = [replace(a, awb_serial="5" + a.awb_serial[1:]) for a in awbs]
    rows = {"20261001M": _rows(earlier, 100, late=False), "20261101M": _rows(awbs, 0, late=True)}
    m = management_stats(
        rows, period="20261101M", airline_prefix="997", airline_name="Demo Air", currency="EUR",
        settlement=s.airlines[0], items=s.items, courier_agents=[AGENT2],
    )  # fmt: skip
    assert m.total.ytd_awbs == 2 * m.total.awbs == 2 * len(awbs)
    assert m.total.ytd_weight_kg == 2 * m.total.weight_kg
    assert m.total.ytd_revenue == 2 * m.total.revenue
    assert [p.period for p in m.year_periods] == ["20261001M", "20261101M"]
    assert m.year_periods[0].net_due == m.year_periods[1].net_due == s.airlines[0].total
    assert {n.kind for n in m.notices} == {"late"}  # every current AWB was booked late
    assert [c.key for c in m.courier] == [AGENT2]
    text = _text(notifications_pdf(_ctx(), m), tmp_path)
    assert "20261001M" in text and "Courier Notification" in text and "AWB booked late" in text


@pytest.mark.parametrize("lang", ["zh", "ja"])
def test_cjk_fonts_have_a_glyph_for_every_translated_character(lang: str) -> None:
    """No tofu: each character of the language's catalogs exists in the font that draws it."""
    from babel.messages.pofile import read_po

    regular, bold = font_for(lang)
    chars: set[str] = set()
    for po in (LOCALE_DIR / lang / "LC_MESSAGES").glob("*.po"):
        with po.open("rb") as fh:
            for msg in read_po(fh):
                strings = msg.string if isinstance(msg.string, tuple) else (msg.string,)
                for s in strings:
                    chars.update(s or "")
    t = translator(lang, "reports")
    chars.update(t.money(Decimal("-1234.5"), "EUR") + t.date(START) + t.money(Decimal(1), "JPY"))
    for name in {regular, bold}:
        face = pdfmetrics.getFont(name).face
        missing = sorted(c for c in chars if c.isprintable() and ord(c) not in face.charToGlyph)
        assert missing == [], f"{name} lacks {missing}"


@pytest.mark.parametrize("lang", [x for x in LANGUAGES if x not in ("zh", "ja")])
def test_latin_font_covers_latin_locales(lang: str) -> None:
    regular, _bold = font_for(lang)
    face = pdfmetrics.getFont(regular).face
    t = translator(lang, "reports")
    sample = t.money(Decimal("-1234567.5"), "EUR") + t.percent(Decimal("0.05")) + "–…·"
    assert all(ord(c) in face.charToGlyph for c in sample)
