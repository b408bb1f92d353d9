"""The operator's settlement summary of a close (PDF and CSV), with the conservation check.

CSV (English keys, plain decimals): ``section,code,items,amount,currency`` rows: ``COUNT`` rows
(awbs, non_revenue_awbs, corrections, adjustments, agents, airlines), one ``AGENT`` row per
agent code and one ``AIRLINE`` row per prefix with its total, then ``CHECK`` rows
(agents_total, airlines_total, items_total, difference) and ``CHECK,balanced,,yes|no``.
"""

from __future__ import annotations

from typing import Any

from reportlab.lib.units import mm

from opencass.documents.pages import Heading, render_blocks
from opencass.documents.reports.common import (
    Context,
    amount,
    csv_bytes,
    heading_block,
    pdf_table,
    plain,
)
from opencass.documents.reports.data import OperatorReport

I18N_DOMAIN = "reports"

__all__ = ["summary_csv", "summary_pdf"]


def _checks(ctx: Context, r: OperatorReport) -> list[Any]:
    """The counts and the conservation check, with its verdict."""
    t = ctx.t
    _ = t.gettext
    s = r.settlement.summary
    counts = [
        [_("AWBs"), t.number(s.awbs)],
        [_("Void and service AWBs"), t.number(s.non_revenue_awbs)],
        [_("Corrections"), t.number(s.corrections)],
        [_("Adjustments"), t.number(s.adjustments)],
        [_("Agents"), t.number(s.agents)],
        [_("Airlines"), t.number(s.airlines)],
        [_("Unpaired corrections"), t.number(len(r.unpaired))],
    ]
    story = pdf_table(ctx, [_("Count"), _("Number")], counts, [70 * mm, 30 * mm], numeric_from=1)
    story.append(Heading(_("Conservation check"), "h1"))
    check = [
        [_("Total of the agents"), amount(ctx, s.agents_total)],
        [_("Total of the airlines"), amount(ctx, s.airlines_total)],
        [_("Total of the items"), amount(ctx, r.items_total)],
        [_("Difference"), amount(ctx, s.difference)],
    ]
    story += pdf_table(ctx, [_("Check"), _("Amount")], check, [70 * mm, 40 * mm], numeric_from=1)
    verdict = _("Balanced: yes") if r.balanced else _("Balanced: NO")
    story.append(Heading(verdict, "h2"))
    if r.unassigned_agents or r.unassigned_airlines:
        codes = ", ".join([*r.unassigned_agents, *r.unassigned_airlines])
        text = _("Codes with items but no company: {codes}").format(codes=codes)
        story.append(Heading(text, "body"))
    return story


def summary_pdf(ctx: Context, r: OperatorReport) -> bytes:
    """The settlement summary: counts, the conservation check, totals per airline and agent."""
    t = ctx.t
    _ = t.gettext
    s = r.settlement.summary
    title = _("Settlement Summary")
    story: list[Any] = heading_block(ctx, title, ctx.company_name)
    story += _checks(ctx, r)
    story.append(Heading(_("Totals per airline"), "h1"))
    rows = [
        [a.airline_prefix, t.number(len(a.lines)), amount(ctx, a.total)]
        for a in r.settlement.airlines
    ]
    story += pdf_table(
        ctx, [_("Airline"), _("Agents"), _("Amount to receive")], rows,
        [40 * mm, 25 * mm, 40 * mm], numeric_from=1,
        total=[_("Total"), "", amount(ctx, s.airlines_total)],
    )  # fmt: skip
    story.append(Heading(_("Totals per agent"), "h1"))
    rows = [
        [a.agent_code, t.number(len(a.lines)), amount(ctx, a.total)] for a in r.settlement.agents
    ]
    story += pdf_table(
        ctx, [_("Agent"), _("Airlines"), _("Amount to remit")], rows,
        [40 * mm, 25 * mm, 40 * mm], numeric_from=1,
        total=[_("Total"), "", amount(ctx, s.agents_total)],
    )  # fmt: skip
    if r.unpaired:
        story.append(Heading(_("Unpaired corrections"), "h1"))
        story += pdf_table(
            ctx, [_("Type"), _("AWB"), _("Reference"), _("Agent")], [list(u) for u in r.unpaired],
            [20 * mm, 35 * mm, 35 * mm, 35 * mm],
        )  # fmt: skip
    footer = f"{ctx.company_name} · {ctx.country} {ctx.period}"
    return render_blocks(
        story, lang=ctx.lang, title=f"{title} {ctx.period}", footer=footer, created=ctx.issued
    )


def summary_csv(ctx: Context, r: OperatorReport) -> bytes:
    """The summary for machines (see the module docstring)."""
    cur = ctx.currency
    s = r.settlement.summary
    rows: list[list[str]] = [["section", "code", "items", "amount", "currency"]]
    for key in ("awbs", "non_revenue_awbs", "corrections", "adjustments", "agents", "airlines"):
        rows.append(["COUNT", key, str(getattr(s, key)), "", ""])
    rows.append(["COUNT", "unpaired_corrections", str(len(r.unpaired)), "", ""])
    for ag in r.settlement.agents:
        rows.append(["AGENT", ag.agent_code, str(len(ag.items)), plain(ag.total, cur), cur])
    for al in r.settlement.airlines:
        items = sum(line.items for line in al.lines)
        rows.append(["AIRLINE", al.airline_prefix, str(items), plain(al.total, cur), cur])
    rows.append(["CHECK", "agents_total", "", plain(s.agents_total, cur), cur])
    rows.append(["CHECK", "airlines_total", "", plain(s.airlines_total, cur), cur])
    rows.append(["CHECK", "items_total", "", plain(r.items_total, cur), cur])
    rows.append(["CHECK", "difference", "", plain(s.difference, cur), cur])
    rows.append(["CHECK", "balanced", "", "yes" if r.balanced else "no", ""])
    return csv_bytes(rows)
