"""The agent's Cargo Sales Report: PDF, xlsx and CSV of the same data (``AgentReport``).

PDF sections, per airline: air waybills, corrections (CCA/DCM, original and revised), disputes;
then "Additional Adjustments & Charges (BTA)" and the "Payment Summary" (total per airline, the
total to remit or to be credited, the remittance date).  As in the new CASSLink, there is no
"Notification" and no "Sales Statistic" section.

The CSV is for machines: English column names, one row per AWB, correction, adjustment and
dispute, then a ``SUBTOTAL`` row per airline and a ``TOTAL`` row; amounts with a decimal point.
The xlsx holds the same rows on labelled sheets in the recipient's language, amounts as numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reportlab.lib.units import mm

from opencass.documents.pages import Gap, Heading, render_blocks
from opencass.documents.reports.common import (
    Context,
    Workbook,
    amount,
    csv_bytes,
    heading_block,
    money,
    opt_amount,
    pdf_table,
    plain,
)
from opencass.documents.reports.data import AgentReport, AirlineSection

I18N_DOMAIN = "reports"

__all__ = ["sales_report_csv", "sales_report_pdf", "sales_report_xlsx"]


def _status(ctx: Context, status: str) -> str:
    _ = ctx.t.gettext
    return {
        "REQUEST_PENDING": _("pending"),
        "REQUEST_ACCEPTED": _("accepted"),
        "REQUEST_REJECTED": _("rejected"),
        "REQUEST_REVOKED": _("revoked"),
    }.get(status, status)


def _weight(ctx: Context, value: Any, unit: str) -> str:
    return f"{ctx.t.number(value, 1)} {unit.lower() and ('kg' if unit == 'K' else 'lb')}"


def _airline_label(s: AirlineSection) -> str:
    return f"{s.airline_prefix} {s.airline_name}".strip()


def _awb_table(ctx: Context, s: AirlineSection) -> list[Any]:
    _ = ctx.t.gettext
    t = ctx.t
    header = [
        _("AWB"), _("Date"), _("Orig."), _("Dest."), _("Weight"), _("Weight charge P"),
        _("Weight charge C"), _("Valuation"), _("Other charges due carrier"),
        _("Other charges due agent"), _("Tax"), _("Commission"), _("Discount"), _("Net due"),
    ]  # fmt: skip
    rows = []
    for a in s.awbs:
        mark = "" if a.use_indicator == "R" else f" ({a.use_indicator})"
        mark += " L" if a.late else ""
        rows.append(
            [
                a.awb + mark, t.date(a.execution_date), a.origin, a.destination,
                _weight(ctx, a.weight, a.weight_unit), amount(ctx, a.weight_charge_prepaid),
                amount(ctx, a.weight_charge_collect), amount(ctx, a.valuation),
                amount(ctx, a.other_carrier), amount(ctx, a.other_agent), amount(ctx, a.tax),
                amount(ctx, a.commission), amount(ctx, a.discount), amount(ctx, a.net_due),
            ]
        )  # fmt: skip
    total = [_("Total air waybills"), *[""] * 12, amount(ctx, s.awb_total)]
    widths = [26, 21, 10, 10, 18, 19, 19, 19, 20, 20, 18, 19, 19, 21]
    return pdf_table(ctx, header, rows, [w * mm for w in widths], numeric_from=4, total=total)


def _correction_table(ctx: Context, s: AirlineSection) -> list[Any]:
    _ = ctx.t.gettext
    t = ctx.t
    header = [
        _("Type"), _("Reference"), _("AWB"), _("Date"), _("Reason"), _("Original weight"),
        _("Revised weight"), _("Original amount"), _("Revised amount"), _("Net due"),
    ]  # fmt: skip
    rows = [
        [
            c.kind, c.reference, c.awb, t.date(c.execution_date), c.reason,
            _weight(ctx, c.original_weight, c.weight_unit),
            _weight(ctx, c.revised_weight, c.weight_unit), amount(ctx, c.original_due),
            amount(ctx, c.revised_due), amount(ctx, c.net_due),
        ]
        for c in s.corrections
    ]  # fmt: skip
    total = [_("Total corrections"), *[""] * 8, amount(ctx, s.correction_total)]
    widths = [14, 26, 26, 21, 54, 24, 24, 26, 26, 25]
    return pdf_table(
        ctx, header, rows, [w * mm for w in widths], numeric_from=5, total=total, wrap=(4,)
    )


def _dispute_table(ctx: Context, s: AirlineSection) -> list[Any]:
    _ = ctx.t.gettext
    header = [
        _("Dispute"), _("AWB"), _("Status"), _("Reason"), _("Billed"), _("Claimed"),
        _("Disputed"), _("Corrected"),
    ]  # fmt: skip
    rows = [
        [
            d.dispute_id, d.awb, _status(ctx, d.status), d.reason, amount(ctx, d.billed),
            opt_amount(ctx, d.claimed), amount(ctx, d.disputed), opt_amount(ctx, d.corrected),
        ]
        for d in s.disputes
    ]  # fmt: skip
    widths = [40, 26, 22, 70, 25, 25, 25, 25]
    return pdf_table(ctx, header, rows, [w * mm for w in widths], numeric_from=4, wrap=(0, 3))


def _bta_block(ctx: Context, report: AgentReport) -> list[Any]:
    """The report's "Additional Adjustments & Charges (BTA)" section."""
    _ = ctx.t.gettext
    adj = [
        [_airline_label(s), a.reference, amount(ctx, a.amount)]
        for s in report.sections
        for a in s.adjustments
    ]
    adj_total = sum((s.adjustment_total for s in report.sections), report.total * 0)
    story: list[Any] = [Heading(_("Additional Adjustments & Charges (BTA)"), "h1")]
    story += pdf_table(
        ctx, [_("Airline"), _("Reference"), _("Amount")], adj, [70 * mm, 80 * mm, 35 * mm],
        numeric_from=2, total=[_("Total adjustments"), "", amount(ctx, adj_total)],
    )  # fmt: skip
    return story


def _summary_block(ctx: Context, report: AgentReport) -> list[Any]:
    """The report's "Payment Summary": per airline, the total, and what to remit by when."""
    t, _ = ctx.t, ctx.t.gettext
    story: list[Any] = [Heading(_("Payment Summary"), "h1")]
    header = [
        _("Airline"), _("AWBs"), _("Air waybills"), _("Corrections"), _("Adjustments"),
        _("Total"),
    ]  # fmt: skip
    rows = [
        [
            _airline_label(s), t.number(len(s.awbs)), amount(ctx, s.awb_total),
            amount(ctx, s.correction_total), amount(ctx, s.adjustment_total), amount(ctx, s.total),
        ]
        for s in report.sections
    ]  # fmt: skip
    total_row = [_("Total"), "", "", "", "", amount(ctx, report.total)]
    story += pdf_table(
        ctx, header, rows, [70 * mm, 20 * mm, 35 * mm, 35 * mm, 35 * mm, 35 * mm],
        numeric_from=1, total=total_row,
    )  # fmt: skip
    story.append(Gap(3 * mm))
    due = money(ctx, abs(report.total))
    if report.is_credit:
        line = _("Amount to be credited to you: {amount}").format(amount=due)
    else:
        line = _("Amount to remit: {amount}").format(amount=due)
    story.append(Heading(line, "h2"))
    story.append(
        Heading(_("Remittance date: {date}").format(date=t.date(ctx.remittance_day)), "body")
    )
    return story + _vat_block(ctx, report)


def _vat_block(ctx: Context, report: AgentReport) -> list[Any]:
    """The VAT breakdown per category and rate, as on the invoice (countries with tax rules)."""
    if not report.vat:
        return []
    t, _ = ctx.t, ctx.t.gettext
    header = [_("VAT category"), _("VAT rate"), _("Net amount"), _("VAT amount")]
    rows = [[cat, f"{t.number(rate)} %", amount(ctx, base), amount(ctx, tax)]
            for cat, rate, base, tax in report.vat]  # fmt: skip
    return [
        Gap(3 * mm), Heading(_("VAT breakdown"), "h2"),
        *pdf_table(ctx, header, rows, [40 * mm, 30 * mm, 40 * mm, 40 * mm], numeric_from=1),
    ]  # fmt: skip


def sales_report_pdf(ctx: Context, report: AgentReport) -> bytes:
    """The Cargo Sales Report PDF (A4 landscape)."""
    t = ctx.t
    _ = t.gettext
    title = _("Cargo Sales Report")
    party = f"{report.agent_code} {report.agent_name}".strip()
    story: list[Any] = heading_block(ctx, title, party)
    for s in report.sections:
        story.append(Heading(f"{_('Airline')} {_airline_label(s)}", "h1"))
        story.append(Heading(_("Air waybills"), "h2"))
        story += _awb_table(ctx, s)
        if s.corrections:
            story.append(Heading(_("Corrections (CCA/DCM)"), "h2"))
            story += _correction_table(ctx, s)
        if s.disputes:
            story.append(Heading(_("Disputes"), "h2"))
            story += _dispute_table(ctx, s)
    if not report.sections:
        story.append(Heading(_("Nothing was billed to you in this period."), "body"))

    story += _bta_block(ctx, report)
    story += _summary_block(ctx, report)
    footer = f"{ctx.company_name} · {report.agent_code} · {ctx.country} {ctx.period}"
    return render_blocks(
        story, lang=ctx.lang, title=f"{title} {ctx.period}", subject=party, footer=footer,
        landscape=True, created=ctx.issued)  # fmt: skip


# --- CSV and xlsx -----------------------------------------------------------------------------

CSV_COLUMNS = [
    "record", "airline_prefix", "awb", "reference", "status", "execution_date", "origin",
    "destination", "weight", "weight_unit", "weight_charge_prepaid", "weight_charge_collect",
    "valuation", "other_charges_carrier", "other_charges_agent", "tax", "commission",
    "discount", "original_due", "revised_due", "amount", "currency",
]  # fmt: skip


def sales_report_csv(ctx: Context, report: AgentReport) -> bytes:
    """The report's rows for machines (see the module docstring)."""
    cur = ctx.currency
    rows: list[list[str]] = [CSV_COLUMNS]

    def m(v: Any) -> str:
        return plain(v, cur)

    for s in report.sections:
        p = s.airline_prefix
        for a in s.awbs:
            rows.append(
                [
                    "AWB", p, a.awb, "", a.use_indicator + ("L" if a.late else ""),
                    a.execution_date.isoformat(), a.origin, a.destination, str(a.weight),
                    a.weight_unit, m(a.weight_charge_prepaid), m(a.weight_charge_collect),
                    m(a.valuation), m(a.other_carrier), m(a.other_agent), m(a.tax),
                    m(a.commission), m(a.discount), "", "", m(a.net_due), cur,
                ]
            )  # fmt: skip
        for c in s.corrections:
            rows.append(
                [
                    c.kind, p, c.awb, c.reference, "", c.execution_date.isoformat(), "", "",
                    str(c.revised_weight), c.weight_unit, *[""] * 8, m(c.original_due),
                    m(c.revised_due), m(c.net_due), cur,
                ]
            )  # fmt: skip
        for j in s.adjustments:
            rows.append(["ADJ", p, "", j.reference, *[""] * 16, m(j.amount), cur])
        for d in s.disputes:
            rows.append(
                [
                    "DISPUTE", p, d.awb, d.dispute_id, d.status, *[""] * 13, m(d.billed),
                    m(d.corrected), m(d.disputed), cur,
                ]
            )  # fmt: skip
        rows.append(["SUBTOTAL", p, *[""] * 18, m(s.total), cur])
    for cat, rate, base, tax in report.vat:  # the VAT breakdown, as on the invoice
        label = f"{cat} {rate.normalize():f}%"
        rows.append(["VAT_BASE", "", "", label, *[""] * 16, m(base), cur])
        rows.append(["VAT", "", "", label, *[""] * 16, m(tax), cur])
    rows.append(["TOTAL", *[""] * 19, m(report.total), cur])
    return csv_bytes(rows)


def sales_report_xlsx(ctx: Context, report: AgentReport) -> bytes:
    """The report's data as a workbook: air waybills, corrections, BTA, disputes, summary."""
    _ = ctx.t.gettext
    wb = Workbook(ctx, f"{_('Cargo Sales Report')} {ctx.period} {report.agent_code}")
    for sheet in (_awb_sheet, _correction_sheet, _adjustment_sheet, _dispute_sheet):
        sheet(ctx, wb, report)
    _summary_sheet(ctx, wb, report)
    if report.vat:
        ws = wb.sheet(
            _("VAT breakdown"),
            [_("VAT category"), _("VAT rate"), _("Net amount"), _("VAT amount")],
            [14, 10, 16, 16],
        )
        rows = ([c, f"{r.normalize():f} %", b, t] for c, r, b, t in report.vat)
        _fill(wb, ws, rows, "ssmm")
    return wb.close()


def _fill(wb: Workbook, ws: Any, rows: Iterable[list[Any]], formats: str) -> int:
    """Write ``rows`` below a sheet's header; the next free row."""
    row = 1
    for values in rows:
        wb.write_row(ws, row, values, formats)
        row += 1
    return row


def _awb_sheet(ctx: Context, wb: Workbook, report: AgentReport) -> None:
    _ = ctx.t.gettext
    ws = wb.sheet(
        _("Air waybills"),
        [
            _("Airline"), _("AWB"), _("Date"), _("Orig."), _("Dest."), _("Weight"), _("Unit"),
            _("Weight charge P"), _("Weight charge C"), _("Valuation"),
            _("Other charges due carrier"), _("Other charges due agent"), _("Tax"),
            _("Commission"), _("Discount"), _("Net due"),
        ],
        [8, 14, 11, 6, 6, 10, 5, 12, 12, 12, 12, 12, 12, 12, 12, 14],
    )  # fmt: skip
    rows = (
        [
            s.airline_prefix, a.awb, a.execution_date, a.origin, a.destination,
            a.weight, a.weight_unit, a.weight_charge_prepaid, a.weight_charge_collect,
            a.valuation, a.other_carrier, a.other_agent, a.tax, a.commission,
            a.discount, a.net_due,
        ]
        for s in report.sections
        for a in s.awbs
    )  # fmt: skip
    _fill(wb, ws, rows, "ssdsswsmmmmmmmmm")


def _correction_sheet(ctx: Context, wb: Workbook, report: AgentReport) -> None:
    _ = ctx.t.gettext
    ws = wb.sheet(
        _("Corrections (CCA/DCM)"),
        [
            _("Airline"), _("Type"), _("Reference"), _("AWB"), _("Date"), _("Reason"),
            _("Original weight"), _("Revised weight"), _("Original amount"),
            _("Revised amount"), _("Net due"),
        ],
        [8, 6, 14, 14, 11, 30, 10, 10, 14, 14, 14],
    )  # fmt: skip
    rows = (
        [
            s.airline_prefix, c.kind, c.reference, c.awb, c.execution_date, c.reason,
            c.original_weight, c.revised_weight, c.original_due, c.revised_due, c.net_due,
        ]
        for s in report.sections
        for c in s.corrections
    )  # fmt: skip
    _fill(wb, ws, rows, "ssssdswwmmm")


def _adjustment_sheet(ctx: Context, wb: Workbook, report: AgentReport) -> None:
    _ = ctx.t.gettext
    ws = wb.sheet(
        _("Adjustments (BTA)"),  # a sheet name holds 31 characters at most
        [_("Airline"), _("Reference"), _("Amount")],
        [8, 30, 14],
    )
    rows = (
        [s.airline_prefix, j.reference, j.amount] for s in report.sections for j in s.adjustments
    )
    _fill(wb, ws, rows, "ssm")


def _dispute_sheet(ctx: Context, wb: Workbook, report: AgentReport) -> None:
    _ = ctx.t.gettext
    ws = wb.sheet(
        _("Disputes"),
        [
            _("Airline"), _("Dispute"), _("AWB"), _("Status"), _("Reason"), _("Billed"),
            _("Claimed"), _("Disputed"), _("Corrected"),
        ],
        [8, 24, 14, 12, 30, 14, 14, 14, 14],
    )  # fmt: skip
    rows = (
        [
            s.airline_prefix, d.dispute_id, d.awb, _status(ctx, d.status), d.reason,
            d.billed, d.claimed, d.disputed, d.corrected,
        ]
        for s in report.sections
        for d in s.disputes
    )  # fmt: skip
    _fill(wb, ws, rows, "sssssmmmm")


def _summary_sheet(ctx: Context, wb: Workbook, report: AgentReport) -> None:
    _ = ctx.t.gettext
    ws = wb.sheet(
        _("Payment Summary"),
        [
            _("Airline"), _("AWBs"), _("Air waybills"), _("Corrections"), _("Adjustments"),
            _("Total"),
        ],
        [30, 8, 14, 14, 14, 14],
    )  # fmt: skip
    rows = (
        [
            _airline_label(s), len(s.awbs), s.awb_total, s.correction_total,
            s.adjustment_total, s.total,
        ]
        for s in report.sections
    )  # fmt: skip
    row = _fill(wb, ws, rows, "simmmm")
    wb.write_row(ws, row, [_("Total"), "", "", "", "", report.total], "bimmmM")
    label = _("Amount to be credited to you") if report.is_credit else _("Amount to remit")
    wb.write_row(ws, row + 2, [label, abs(report.total)], "bM")
    wb.write_row(ws, row + 3, [_("Remittance date"), ctx.remittance_day], "bd")
