"""The airline's reports: billing analysis per agent (PDF, xlsx, CSV), Management Statistics
(PDF) and, as a separate package, the notifications (PDF).

Management Statistics: tonnage, revenue and yield (revenue per kg) for the period and the year
to date, in total, by agent and by route (origin-destination); definitions in
``opencass.documents.reports.data``.

The notification package (``notifications`` document) holds the three parts the new CASSLink
moved out of the statistics:

* **Notification Period**: the period's milestones (billing from/to, remittance and settlement
  days), then what needs the airline's attention: AWBs booked late into the period, correction
  halves without their partner (not billed), pending disputes and non-revenue (void, service)
  AWBs;
* **Notification Year**: one line per period of the year so far (AWBs, corrections, tonnage,
  revenue, net amount due to the airline), with the year's total;
* **Courier Notification**: the tonnage and revenue of the agents the country configures as
  couriers (``courier_agents``; none configured gives an explicit "no courier agents" line).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from reportlab.lib.units import mm

from opencass.documents.i18n import N_
from opencass.documents.pages import Heading, NewPage, render_blocks
from opencass.documents.reports.common import (
    Context,
    Workbook,
    amount,
    csv_bytes,
    heading_block,
    money,
    pdf_table,
    plain,
)
from opencass.documents.reports.data import AirlineAnalysis, ManagementStats, StatLine

I18N_DOMAIN = "reports"

__all__ = [
    "analysis_csv",
    "analysis_pdf",
    "analysis_xlsx",
    "management_stats_pdf",
    "notifications_pdf",
]


def _party(code: str, name: str) -> str:
    return f"{code} {name}".strip()


# --- billing analysis -------------------------------------------------------------------------


def _analysis_header(ctx: Context) -> list[str]:
    _ = ctx.t.gettext
    return [
        _("Agent"), _("AWBs"), _("Corrections"), _("Weight (kg)"), _("Weight charges"),
        _("Valuation"), _("Other charges due carrier"), _("Other charges due agent"), _("Tax"),
        _("Commission"), _("Discount"), _("AWB amounts"), _("Correction amounts"),
        _("Adjustments"), _("Net due"),
    ]  # fmt: skip


def analysis_pdf(ctx: Context, a: AirlineAnalysis) -> bytes:
    """The billing analysis per agent (A4 landscape)."""
    t = ctx.t
    _ = t.gettext
    title = _("Billing Analysis")
    party = _party(a.airline_prefix, a.airline_name)
    story: list[Any] = heading_block(ctx, title, party)
    rows = [
        [
            _party(x.agent_code, x.agent_name), t.number(x.awbs), t.number(x.corrections),
            t.number(x.weight_kg, 1), amount(ctx, x.weight_charges), amount(ctx, x.valuation),
            amount(ctx, x.other_carrier), amount(ctx, x.other_agent), amount(ctx, x.tax),
            amount(ctx, x.commission), amount(ctx, x.discount), amount(ctx, x.awb_due),
            amount(ctx, x.correction_due), amount(ctx, x.adjustment_due), amount(ctx, x.net_due),
        ]
        for x in a.lines
    ]  # fmt: skip
    total = [
        _("Total"), t.number(sum(x.awbs for x in a.lines)),
        t.number(sum(x.corrections for x in a.lines)),
        t.number(sum((x.weight_kg for x in a.lines), Decimal(0)), 1), *[""] * 10,
        amount(ctx, a.total),
    ]  # fmt: skip
    widths = [36, 11, 13, 17, 18, 16, 17, 17, 16, 17, 16, 18, 18, 18, 19]
    story += pdf_table(
        ctx, _analysis_header(ctx), rows, [w * mm for w in widths], numeric_from=1, total=total,
        wrap=(0,),
    )  # fmt: skip
    story.append(Heading(_("Amount to receive: {amount}").format(amount=money(ctx, a.total)), "h2"))
    story.append(
        Heading(_("Settlement date: {date}").format(date=t.date(ctx.settlement_day)), "body")
    )
    footer = f"{ctx.company_name} · {a.airline_prefix} · {ctx.country} {ctx.period}"
    return render_blocks(
        story, lang=ctx.lang, title=f"{title} {ctx.period}", subject=party, footer=footer,
        landscape=True, created=ctx.issued)  # fmt: skip


ANALYSIS_CSV_COLUMNS = [
    "agent_code", "awbs", "corrections", "weight_kg", "weight_charges", "valuation",
    "other_charges_carrier", "other_charges_agent", "tax", "commission", "discount", "awb_due",
    "correction_due", "adjustment_due", "net_due", "currency",
]  # fmt: skip


def analysis_csv(ctx: Context, a: AirlineAnalysis) -> bytes:
    """One row per agent, then ``TOTAL`` (English column names, plain decimals)."""
    cur = ctx.currency
    rows = [ANALYSIS_CSV_COLUMNS]
    for x in a.lines:
        rows.append(
            [
                x.agent_code, str(x.awbs), str(x.corrections), str(x.weight_kg),
                *(plain(v, cur) for v in (
                    x.weight_charges, x.valuation, x.other_carrier, x.other_agent, x.tax,
                    x.commission, x.discount, x.awb_due, x.correction_due, x.adjustment_due,
                    x.net_due,
                )),
                cur,
            ]
        )  # fmt: skip
    rows.append(["TOTAL", *[""] * 13, plain(a.total, cur), cur])
    return csv_bytes(rows)


def analysis_xlsx(ctx: Context, a: AirlineAnalysis) -> bytes:
    """The billing analysis as a workbook (one sheet)."""
    _ = ctx.t.gettext
    wb = Workbook(ctx, f"{_('Billing Analysis')} {ctx.period} {a.airline_prefix}")
    header = _analysis_header(ctx)
    header[0:1] = [_("Agent"), _("Name")]
    ws = wb.sheet(_("Billing Analysis"), header, [14, 30, 8, 8, 12, *[13] * 11])
    row = 1
    for x in a.lines:
        wb.write_row(
            ws, row,
            [
                x.agent_code, x.agent_name, x.awbs, x.corrections, x.weight_kg, x.weight_charges,
                x.valuation, x.other_carrier, x.other_agent, x.tax, x.commission, x.discount,
                x.awb_due, x.correction_due, x.adjustment_due, x.net_due,
            ],
            "ssiiwmmmmmmmmmmm",
        )  # fmt: skip
        row += 1
    wb.write_row(ws, row, [_("Total"), *[""] * 14, a.total], "bsiiwmmmmmmmmmmM")
    return wb.close()


# --- management statistics --------------------------------------------------------------------


def _stat_rows(ctx: Context, lines: Sequence[StatLine]) -> list[list[str]]:
    t = ctx.t

    def y(v: Decimal | None) -> str:
        return "–" if v is None else t.number(v, 4)

    return [
        [
            _party(s.key, s.name), t.number(s.awbs), t.number(s.weight_kg, 1),
            amount(ctx, s.revenue), y(s.period_yield), t.number(s.ytd_awbs),
            t.number(s.ytd_weight_kg, 1), amount(ctx, s.ytd_revenue), y(s.ytd_yield),
        ]
        for s in lines
    ]  # fmt: skip


def _stat_table(ctx: Context, first: str, lines: Sequence[StatLine], total: StatLine) -> list[Any]:
    _ = ctx.t.gettext
    header = [
        first, _("AWBs"), _("Tonnage (kg)"), _("Revenue"), _("Yield per kg"),
        _("AWBs YTD"), _("Tonnage YTD (kg)"), _("Revenue YTD"), _("Yield YTD"),
    ]  # fmt: skip
    total_row = _stat_rows(ctx, [total])[0]
    total_row[0] = _("Total")
    widths = [48, 16, 24, 26, 18, 18, 26, 28, 18]
    return pdf_table(
        ctx, header, _stat_rows(ctx, lines), [w * mm for w in widths], numeric_from=1,
        total=total_row, wrap=(0,),
    )  # fmt: skip


def management_stats_pdf(ctx: Context, m: ManagementStats) -> bytes:
    """Management Statistics: period and year to date, in total, by agent, by route."""
    _ = ctx.t.gettext
    title = _("Management Statistics")
    party = _party(m.airline_prefix, m.airline_name)
    story: list[Any] = heading_block(ctx, title, party)
    story.append(
        Heading(
            _("Year to date {year}: periods {first} to {last}").format(
                year=m.year, first=m.periods_in_ytd[0], last=m.periods_in_ytd[-1]
            ),
            "body",
        )
    )
    story.append(Heading(_("By agent"), "h1"))
    story += _stat_table(ctx, _("Agent"), m.by_agent, m.total)
    story.append(Heading(_("By origin and destination"), "h1"))
    story += _stat_table(ctx, _("Route"), m.by_route, m.total)
    footer = f"{ctx.company_name} · {m.airline_prefix} · {ctx.country} {ctx.period}"
    return render_blocks(
        story, lang=ctx.lang, title=f"{title} {ctx.period}", subject=party, footer=footer,
        landscape=True, created=ctx.issued)  # fmt: skip


NOTICE_KINDS = {
    "late": N_("AWB booked late"),
    "unpaired": N_("Correction without its partner (not billed)"),
    "dispute": N_("Pending dispute"),
    "void": N_("Void AWB"),
    "service": N_("Service AWB"),
}


def _notification_period(ctx: Context, m: ManagementStats) -> list[Any]:
    """The period's milestones and the items needing attention."""
    t = ctx.t
    _ = t.gettext
    story: list[Any] = [Heading(_("Notification Period"), "h1")]
    milestones = [
        [_("Billing period"), f"{t.date(ctx.billing_from)} – {t.date(ctx.billing_to)}"],
        [_("Remittance date"), t.date(ctx.remittance_day)],
        [_("Settlement date"), t.date(ctx.settlement_day)],
    ]
    story += pdf_table(ctx, [_("Milestone"), _("Date")], milestones, [60 * mm, 60 * mm])
    rows = [
        [
            t.gettext(NOTICE_KINDS[n.kind]), n.agent_code, n.awb, n.reference,
            "" if n.amount is None else amount(ctx, n.amount),
        ]
        for n in m.notices
    ]  # fmt: skip
    story.append(Heading(_("Items needing attention"), "h2"))
    if rows:
        story += pdf_table(
            ctx, [_("Notice"), _("Agent"), _("AWB"), _("Reference"), _("Amount")], rows,
            [70 * mm, 30 * mm, 30 * mm, 40 * mm, 30 * mm], numeric_from=4, wrap=(0,),
        )  # fmt: skip
    else:
        story.append(Heading(_("Nothing to notify for this period."), "body"))
    return story


def _notification_year(ctx: Context, m: ManagementStats) -> list[Any]:
    """One line per period of the year so far, and the year's total."""
    t = ctx.t
    _ = t.gettext
    story: list[Any] = [Heading(_("Notification Year"), "h1")]
    header = [
        _("Period"), _("AWBs"), _("Corrections"), _("Tonnage (kg)"), _("Revenue"),
        _("Net due"),
    ]  # fmt: skip
    rows = [
        [
            p.period, t.number(p.awbs), t.number(p.corrections), t.number(p.weight_kg, 1),
            amount(ctx, p.revenue), amount(ctx, p.net_due),
        ]
        for p in m.year_periods
    ]  # fmt: skip
    zero = Decimal(0)
    total = [
        _("Total {year}").format(year=m.year), t.number(sum(p.awbs for p in m.year_periods)),
        t.number(sum(p.corrections for p in m.year_periods)),
        t.number(sum((p.weight_kg for p in m.year_periods), zero), 1),
        amount(ctx, sum((p.revenue for p in m.year_periods), zero)),
        amount(ctx, sum((p.net_due for p in m.year_periods), zero)),
    ]  # fmt: skip
    story += pdf_table(
        ctx, header, rows, [30 * mm, 20 * mm, 22 * mm, 28 * mm, 32 * mm, 32 * mm],
        numeric_from=1, total=total,
    )  # fmt: skip
    return story


def _courier_notification(ctx: Context, m: ManagementStats) -> list[Any]:
    """Tonnage and revenue of the agents the country lists as couriers."""
    _ = ctx.t.gettext
    story: list[Any] = [Heading(_("Courier Notification"), "h1")]
    if not m.courier_agents:
        story.append(Heading(_("No courier agents are configured for this country."), "body"))
    elif not m.courier:
        story.append(Heading(_("No courier shipments in this period."), "body"))
    else:
        story += _stat_table(ctx, _("Agent"), m.courier, _total_of(m.courier))
    return story


def notifications_pdf(ctx: Context, m: ManagementStats) -> bytes:
    """The notification package: Notification Period, Notification Year, Courier Notification."""
    title = ctx.t.gettext("Notifications")
    party = _party(m.airline_prefix, m.airline_name)
    story: list[Any] = heading_block(ctx, title, party)
    story += _notification_period(ctx, m)
    story.append(NewPage())
    story += _notification_year(ctx, m)
    story += _courier_notification(ctx, m)
    footer = f"{ctx.company_name} · {m.airline_prefix} · {ctx.country} {ctx.period}"
    return render_blocks(story, lang=ctx.lang, title=f"{title} {ctx.period}", subject=party,
                      footer=footer, created=ctx.issued)  # fmt: skip


def _total_of(lines: Sequence[StatLine]) -> StatLine:
    zero = Decimal(0)
    return StatLine(
        "", "", sum(s.awbs for s in lines), sum((s.weight_kg for s in lines), zero),
        sum((s.revenue for s in lines), zero), sum(s.ytd_awbs for s in lines),
        sum((s.ytd_weight_kg for s in lines), zero), sum((s.ytd_revenue for s in lines), zero),
    )  # fmt: skip
