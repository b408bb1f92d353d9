"""Period reports after a real close over a real ledger: golden numbers, formats, languages.

The ledger is the demo's: the demo sample file booked through the real assessment into a real
SQLite store, closed by ``run_close``; the reports' figures are checked against the
settlement the close computed, read back from the PDF (pdftotext), the xlsx (openpyxl) and the
CSV.
"""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from opencass.billing.closing import run_close
from opencass.cli.samples import DEMO_AGENTS
from opencass.config.model import Config
from opencass.documents.i18n import LANGUAGES, translator
from opencass.documents.reports import (
    ReportDataError,
    plan_jobs,
    render_jobs,
    render_period_reports,
    year_periods,
)
from opencass.gateway.assess import assess
from opencass.settlement.close import CloseResult, Document
from opencass.store import open_store
from opencass.store.connect import has_table as store_has_table
from opencass.store.withdrawals import withdraw_file
from tests.kit.db import add_request_file, db_connect, moved_store
from tests.kit.gateway import PERIOD_CODE, demo_config, job, sample_bytes, spooled
from tests.kit.tools import needs_tool

AT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
STAMP = "20300102T030405Z"
AGENT1, AGENT2 = DEMO_AGENTS

needs_poppler = needs_tool("pdftotext", "poppler-utils reads the PDFs back")


async def _book(tmp: Path) -> Config:
    config = demo_config(tmp)
    store = await open_store(config.gateway.database)
    path = await spooled(store, config, sample_bytes())
    assert assess(job(config, path)).outcome == "accepted"
    await store.close()
    return config


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, CloseResult]:
    """The demo ledger, booked and closed (read-only for the tests)."""
    config = asyncio.run(_book(tmp_path_factory.mktemp("reports")))
    return config, run_close(config, "DE", PERIOD_CODE, AT)


@pytest.fixture(scope="module")
def docs(closed: tuple[Config, CloseResult]) -> dict[str, Document]:
    config, result = closed
    return {d.name: d for d in render_period_reports(config, "DE", PERIOD_CODE, AT, result)}


def _doc(docs: dict[str, Document], kind: str, code: str, ext: str) -> Document:
    return docs[f"{STAMP}_{kind}_{PERIOD_CODE}_{code}.{ext}"]


def _text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    # Grouping separators (narrow/no-break spaces) as plain spaces, for comparisons.
    return out.replace("\u202f", " ").replace("\xa0", " ")


def _norm(s: str) -> str:
    return s.replace("\u202f", " ").replace("\xa0", " ")


def _csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _with_language(config: Config, lang: str) -> Config:
    companies = {k: replace(c, languages=(lang,)) for k, c in config.companies.items()}
    return replace(config, companies=companies)


# --- what is produced, for whom ------------------------------------------------------------------


def test_every_participant_gets_its_documents(
    closed: tuple[Config, CloseResult], docs: dict[str, Document]
) -> None:
    by_company: dict[str, set[str]] = {}
    for d in docs.values():
        by_company.setdefault(d.company, set()).add(d.name.removeprefix(f"{STAMP}_"))
    p = PERIOD_CODE
    assert by_company == {
        "agent1": {f"salesreport_{p}_{AGENT1}.{e}" for e in ("pdf", "xlsx", "csv")},
        "agent2": {f"salesreport_{p}_{AGENT2}.{e}" for e in ("pdf", "xlsx", "csv")},
        "demoair": {f"billinganalysis_{p}_997.{e}" for e in ("pdf", "xlsx", "csv")}
        | {f"managementstats_{p}_997.pdf", f"notifications_{p}_997.pdf"},
        "cassops": {f"settlementsummary_{p}_DE.pdf", f"settlementsummary_{p}_DE.csv"},
    }
    assert all(d.data.startswith(b"%PDF-") for n, d in docs.items() if n.endswith(".pdf"))
    assert all(d.data.startswith(b"PK") for n, d in docs.items() if n.endswith(".xlsx"))


def test_pool_and_inline_give_the_same_bytes(
    closed: tuple[Config, CloseResult], docs: dict[str, Document]
) -> None:
    config, result = closed
    inline = render_jobs(plan_jobs(config, "DE", PERIOD_CODE, AT, result), workers=0)
    assert {d.name: d.data for d in inline} == {n: d.data for n, d in docs.items()}


# --- golden numbers: agent -----------------------------------------------------------------------


@needs_poppler
@pytest.mark.parametrize(("company", "code"), [("agent1", AGENT1), ("agent2", AGENT2)])
def test_sales_report_totals_are_the_statements(
    closed: tuple[Config, CloseResult],
    docs: dict[str, Document],
    company: str,
    code: str,
    tmp_path: Path,
) -> None:
    config, result = closed
    st = next(a for a in result.settlement.agents if a.agent_code == code)
    lang = config.companies[company].language
    t = translator(lang, "reports")

    rows = _csv(_doc(docs, "salesreport", code, "csv").data)
    assert Decimal(rows[-1]["amount"]) == st.total and rows[-1]["record"] == "TOTAL"
    items = [r for r in rows if r["record"] in ("AWB", "CCA", "DCM", "ADJ")]
    assert len(items) == len(st.items)
    assert sum(Decimal(r["amount"]) for r in items) == st.total
    subtotals = {
        r["airline_prefix"]: Decimal(r["amount"]) for r in rows if r["record"] == "SUBTOTAL"
    }
    assert subtotals == {line.airline_prefix: line.amount for line in st.lines}
    for r in rows:  # every AWB line's columns follow the netting formula
        if r["record"] == "AWB" and r["status"].startswith("R"):
            d = {k: Decimal(r[k]) for k in list(r)[10:18]}
            net = (
                d["weight_charge_prepaid"] + d["valuation"] + d["other_charges_carrier"]
                - d["other_charges_agent"] + d["tax"] - d["commission"] + d["discount"]
            )  # fmt: skip
            assert net == Decimal(r["amount"])

    text = _text(_doc(docs, "salesreport", code, "pdf").data, tmp_path)
    assert t("Cargo Sales Report") in text and t("Payment Summary") in text
    assert t("Additional Adjustments & Charges (BTA)") in text
    assert "Notification" not in text and "Sales Statistic" not in text
    due = _norm(t.money(abs(st.total), "EUR"))
    label = (
        "Amount to be credited to you: {amount}" if st.is_credit else "Amount to remit: {amount}"
    )
    assert _norm(t(label).format(amount=due)) in text
    for it in st.items:
        assert it.awb in text
        assert _norm(t.number(it.amount, 2)) in text
    assert _norm(t.date(_period(config).remittance_day)) in text

    wb = openpyxl.load_workbook(io.BytesIO(_doc(docs, "salesreport", code, "xlsx").data))
    assert len(wb.sheetnames) == 6  # with the VAT breakdown of the demo's German rules
    awb_sheet = wb.worksheets[0]
    net_col = [c.value for c in awb_sheet[1]].index(t("Net due"))
    awb_rows = list(awb_sheet.iter_rows(min_row=2, values_only=True))
    assert len(awb_rows) == sum(1 for it in st.items if it.kind == "AWB")
    summary = wb.worksheets[4]
    values = list(summary.iter_rows(min_row=2, values_only=True))
    total_row = next(v for v in values if v[0] == t("Total"))
    assert Decimal(str(total_row[5])) == st.total
    awb_sum = sum(Decimal(str(r[net_col])) for r in awb_rows)
    assert awb_sum == sum(it.amount for it in st.items if it.kind == "AWB")


def _period(config: Config):
    return next(p for p in config.calendars["DE"] if p.code == PERIOD_CODE)


@needs_poppler
def test_correction_shows_original_and_revised(
    closed: tuple[Config, CloseResult], docs: dict[str, Document], tmp_path: Path
) -> None:
    config, result = closed
    st = next(a for a in result.settlement.agents if a.agent_code == AGENT2)
    cca = next(it for it in st.items if it.kind == "CCA")
    rows = [r for r in _csv(_doc(docs, "salesreport", AGENT2, "csv").data) if r["record"] == "CCA"]
    assert len(rows) == 1
    original, revised = Decimal(rows[0]["original_due"]), Decimal(rows[0]["revised_due"])
    assert (original, revised) == (Decimal("800.00"), Decimal("845.00"))
    assert revised - original == cca.amount == Decimal(rows[0]["amount"])
    text = _text(_doc(docs, "salesreport", AGENT2, "pdf").data, tmp_path)
    t = translator(config.companies["agent2"].language, "reports")
    assert t("Corrections (CCA/DCM)") in text and "RATE CORRECTED" in text


# --- golden numbers: airline and operator --------------------------------------------------------


@needs_poppler
def test_billing_analysis_is_the_airline_settlement(
    closed: tuple[Config, CloseResult], docs: dict[str, Document], tmp_path: Path
) -> None:
    config, result = closed
    se = next(a for a in result.settlement.airlines if a.airline_prefix == "997")
    rows = _csv(_doc(docs, "billinganalysis", "997", "csv").data)
    lines = {r["agent_code"]: Decimal(r["net_due"]) for r in rows if r["agent_code"] != "TOTAL"}
    assert lines == {line.agent_code: line.amount for line in se.lines}
    assert Decimal(rows[-1]["net_due"]) == se.total
    for r in rows[:-1]:
        parts = Decimal(r["awb_due"]) + Decimal(r["correction_due"]) + Decimal(r["adjustment_due"])
        assert parts == Decimal(r["net_due"])
    t = translator(config.companies["demoair"].language, "reports")
    text = _text(_doc(docs, "billinganalysis", "997", "pdf").data, tmp_path)
    assert t("Billing Analysis") in text
    assert _norm(t("Amount to receive: {amount}").format(amount=t.money(se.total, "EUR"))) in text
    wb = openpyxl.load_workbook(io.BytesIO(_doc(docs, "billinganalysis", "997", "xlsx").data))
    values = list(wb.worksheets[0].iter_rows(min_row=2, values_only=True))
    assert Decimal(str(values[-1][-1])) == se.total
    assert [v[0] for v in values[:-1]] == [line.agent_code for line in se.lines]


@needs_poppler
def test_management_statistics_tonnage_revenue_yield(
    closed: tuple[Config, CloseResult], docs: dict[str, Document], tmp_path: Path
) -> None:
    from opencass.cli.samples import sample_billing_file

    config, _result = closed
    sample = sample_billing_file(_period(config).billing_from)
    revenue_awbs = [a for a in sample.awbs if a.use_indicator == "R"]
    kg = sum(a.gross_weight for a in revenue_awbs)
    revenue = sum(
        a.weight_charge_prepaid + a.weight_charge_collect + a.valuation_charge_prepaid
        + a.valuation_charge_collect
        for a in revenue_awbs
    ) + sum(
        c.revised.weight_charge - c.original.weight_charge for c in sample.corrections
    )  # fmt: skip
    t = translator(config.companies["demoair"].language, "reports")
    text = _text(_doc(docs, "managementstats", "997", "pdf").data, tmp_path)
    assert t("Management Statistics") in text and t("By origin and destination") in text
    total_line = next(line for line in text.splitlines() if line.strip().startswith(t("Total")))
    assert _norm(t.number(kg, 1)) in total_line
    assert _norm(t.number(revenue, 2)) in total_line
    assert _norm(t.number((revenue / kg).quantize(Decimal("0.0001")), 4)) in total_line
    assert "FRA-JFK" in text and "FRA-HKG" in text
    notes = _text(_doc(docs, "notifications", "997", "pdf").data, tmp_path)
    for heading in ("Notification Period", "Notification Year", "Courier Notification"):
        assert t(heading) in notes
    assert t("Notification Period") not in text  # a separate package


def test_operator_summary_checks_conservation(
    closed: tuple[Config, CloseResult], docs: dict[str, Document]
) -> None:
    _config, result = closed
    s = result.settlement.summary
    rows = list(csv.reader(io.StringIO(_doc(docs, "settlementsummary", "DE", "csv").data.decode())))
    checks = {r[1]: r[3] for r in rows if r[0] == "CHECK"}
    assert Decimal(checks["agents_total"]) == s.agents_total == Decimal(checks["airlines_total"])
    assert Decimal(checks["items_total"]) == s.agents_total
    assert Decimal(checks["difference"]) == 0 and checks["balanced"] == "yes"
    counts = {r[1]: int(r[2]) for r in rows if r[0] == "COUNT"}
    assert counts["awbs"] == s.awbs and counts["corrections"] == s.corrections
    agents = {r[1]: Decimal(r[3]) for r in rows if r[0] == "AGENT"}
    assert agents == {a.agent_code: a.total for a in result.settlement.agents}


# --- languages -----------------------------------------------------------------------------------

EXPECTED = {
    "en": ("Cargo Sales Report", "Payment Summary", "Page 1 of 1"),
    "fr": ("Rapport des ventes fret", "Récapitulatif des paiements", "Page 1 sur 1"),
    "es": ("Informe de ventas de carga", "Resumen de pagos", "Página 1 de 1"),
    "de": ("Frachtverkaufsbericht", "Zahlungsübersicht", "Seite 1 von 1"),
    "zh": ("货运销售报告", "付款汇总", "第 1 页，共 1 页"),
    "ja": ("貨物販売報告書", "支払サマリー", "1 / 1 ページ"),
}


@needs_poppler
@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_language_renders_translated_and_formatted(
    closed: tuple[Config, CloseResult], lang: str, tmp_path: Path
) -> None:
    config, result = closed
    config = _with_language(config, lang)
    jobs = [j for j in plan_jobs(config, "DE", PERIOD_CODE, AT, result)]
    docs = {d.name: d for d in render_jobs(jobs, workers=0)}
    st = next(a for a in result.settlement.agents if a.agent_code == AGENT1)
    t = translator(lang, "reports")
    text = _text(_doc(docs, "salesreport", AGENT1, "pdf").data, tmp_path)
    for expected in EXPECTED[lang]:
        assert expected in text, (lang, expected)
    assert _norm(t.money(st.total, "EUR")) in text
    assert _norm(t.date(_period(config).remittance_day)) in text
    wb = openpyxl.load_workbook(io.BytesIO(_doc(docs, "salesreport", AGENT1, "xlsx").data))
    assert wb.worksheets[4].title == t("Payment Summary")[:31]
    for kind, first in (
        ("managementstats", "Management Statistics"),
        ("notifications", "Notifications"),
    ):
        assert t(first) in _text(_doc(docs, kind, "997", "pdf").data, tmp_path)


# --- safety --------------------------------------------------------------------------------------


def _moved(config: Config, tmp_path: Path) -> Config:
    """The closed demo's store, copied: free to change."""
    return moved_store(config, tmp_path)


def _withdraw_agent1_file(config: Config) -> None:
    """Withdraw, as the withdrawal handler does, the file holding AGENT1's AWBs."""
    with db_connect(config.gateway.database) as conn:
        (file_id,) = conn.execute(
            "SELECT file_id FROM ledger WHERE agent_code = ? LIMIT 1", (AGENT1,)
        ).fetchone()
        add_request_file(conn, "W1", "demoair")
        withdraw_file(
            conn, file_id=file_id, request_id="W1", company="demoair", user="demoair",
            at="2030-01-02T03:04:05Z", country="DE", period=PERIOD_CODE, reason="test",
        )  # fmt: skip


@pytest.mark.parametrize("workers", [0, 2])
def test_reports_read_the_ledger_as_the_close_read_it(
    closed: tuple[Config, CloseResult], docs: dict[str, Document], tmp_path: Path, workers: int
) -> None:
    """A withdrawal recorded after the close's snapshot changes none of its reports; without
    the snapshot the same reports are refused (the records no longer give the statement)."""
    config, result = closed
    assert result.snapshot is not None
    moved = _moved(config, tmp_path)
    _withdraw_agent1_file(moved)
    again = render_period_reports(moved, "DE", PERIOD_CODE, AT, result, workers=workers)
    assert {d.name: d.data for d in again} == {name: d.data for name, d in docs.items()}
    with pytest.raises(ReportDataError, match="do not give the settlement's items"):
        unsnapped = replace(result, snapshot=None)
        render_period_reports(moved, "DE", PERIOD_CODE, AT, unsnapped, workers=workers)


def test_a_tampered_ledger_is_refused(closed: tuple[Config, CloseResult], tmp_path: Path) -> None:
    """Rows flagged withdrawn without a withdrawal (no way opencass changes its ledger) leave
    the snapshot too: the reports do not show what the statements do not."""
    config, result = closed
    moved = _moved(config, tmp_path)
    with db_connect(moved.gateway.database) as conn:
        conn.execute(
            "UPDATE ledger SET withdrawn = 1 WHERE record_type IN ('AWM', 'AWB')"
            " AND agent_code = ?",
            (AGENT1,),
        )
    with pytest.raises(ReportDataError):
        render_period_reports(moved, "DE", PERIOD_CODE, AT, result)


def test_year_to_date_periods_come_from_the_calendar(closed: tuple[Config, CloseResult]) -> None:
    config, _ = closed
    period = _period(config)
    ytd = year_periods(config, "DE", period)
    assert ytd[-1] == PERIOD_CODE
    assert all(code[:4] == PERIOD_CODE[:4] and code <= PERIOD_CODE for code in ytd)
    earlier = [p.code for p in config.calendars["DE"] if p.code[:4] == PERIOD_CODE[:4]]
    assert set(ytd) == {c for c in earlier if c <= PERIOD_CODE}


def test_disputes_in_the_store_reach_the_agent_report(
    closed: tuple[Config, CloseResult], tmp_path: Path
) -> None:
    config, result = closed
    moved = moved_store(config, tmp_path)
    with db_connect(moved.gateway.database) as conn:
        has_table = store_has_table(conn, "disputes")
        if not has_table:
            pytest.skip("the store has no disputes table yet")
        values = {
            "id": "DSP-0001", "request_iri": "urn:x:1", "kind": "change", "file_id": "F9",
            "country": "DE", "period": PERIOD_CODE, "airline_prefix": "997",
            "awb_serial": "62144154", "agent_code": AGENT1, "agent_company": "agent1",
            "airline_company": "demoair", "currency": "EUR", "billed_amount": "3350.64",
            "claimed_amount": "3200.64", "disputed_amount": "150.00", "corrected_amount": None,
            "reason": "WRONG RATE", "status": "REQUEST_PENDING", "opened_at": AT.isoformat(),
            "updated_at": AT.isoformat(),
        }  # fmt: skip
        names = ", ".join(values)
        marks = ", ".join("?" * len(values))
        conn.execute(f"INSERT INTO disputes ({names}) VALUES ({marks})", list(values.values()))
    docs = {
        d.name: d for d in render_jobs(plan_jobs(moved, "DE", PERIOD_CODE, AT, result), workers=0)
    }
    rows = _csv(_doc(docs, "salesreport", AGENT1, "csv").data)
    (dispute,) = [r for r in rows if r["record"] == "DISPUTE"]
    assert dispute["reference"] == "DSP-0001" and Decimal(dispute["amount"]) == Decimal("150.00")
    assert dispute["status"] == "REQUEST_PENDING"
    other = _csv(_doc(docs, "salesreport", AGENT2, "csv").data)
    assert not [r for r in other if r["record"] == "DISPUTE"]


AWB_HEADERS = [
    "AWB", "Date", "Orig.", "Dest.", "Weight", "Weight charge P", "Weight charge C", "Valuation",
    "Other charges due carrier", "Other charges due agent", "Tax", "Commission", "Discount",
    "Net due",
]  # fmt: skip


@needs_poppler
@pytest.mark.parametrize("lang", ["en", "fr", "es", "de"])
def test_table_headers_break_between_words_only(
    closed: tuple[Config, CloseResult], lang: str, tmp_path: Path
) -> None:
    """Defect: the German sales report printed "Frachtkoste|n frei". Every word of every AWB
    table header now comes out whole (a long word is set smaller instead)."""
    config, result = closed
    config = _with_language(config, lang)
    jobs = [j for j in plan_jobs(config, "DE", PERIOD_CODE, AT, result)]
    docs = {d.name: d for d in render_jobs(jobs, workers=0)}
    words = set(_text(_doc(docs, "salesreport", AGENT1, "pdf").data, tmp_path).split())
    t = translator(lang, "reports")
    missing = [w for h in AWB_HEADERS for w in t(h).split() if w not in words]
    assert missing == []


SHEETS = [
    "Air waybills", "Corrections (CCA/DCM)", "Adjustments (BTA)", "Disputes", "Payment Summary",
    "VAT breakdown",
]  # fmt: skip


@pytest.mark.parametrize("lang", LANGUAGES)
def test_workbooks_read_right_in_every_language(
    closed: tuple[Config, CloseResult], lang: str
) -> None:
    """Defects: a German sheet name cut to "Zusätzliche Anpassungen und Geb", two billing
    analysis columns both headed "Corrections" (訂正), the corrections' date written as text."""
    config, result = closed
    config = _with_language(config, lang)
    jobs = [j for j in plan_jobs(config, "DE", PERIOD_CODE, AT, result)]
    docs = {d.name: d for d in render_jobs(jobs, workers=0)}
    t = translator(lang, "reports")
    sales = openpyxl.load_workbook(io.BytesIO(_doc(docs, "salesreport", AGENT2, "xlsx").data))
    # whole names ("/" may not stand in one)
    assert [ws.title for ws in sales.worksheets] == [t(s).replace("/", "-") for s in SHEETS]
    analysis = openpyxl.load_workbook(io.BytesIO(_doc(docs, "billinganalysis", "997", "xlsx").data))
    for ws in [*sales.worksheets, *analysis.worksheets]:
        header = [c.value for c in ws[1]]
        assert len(header) == len(set(header)), (ws.title, header)
    corrections = sales.worksheets[1]
    dates = [row[4].value for row in corrections.iter_rows(min_row=2) if row[4].value]
    assert dates and all(isinstance(d, datetime) for d in dates)
