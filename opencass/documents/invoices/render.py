"""The invoice as a PDF in the recipient's language (shared fonts and layout: ``outbox.pdf``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Paragraph, Spacer, Table

from opencass.documents.i18n import Translator
from opencass.documents.invoices.model import CREDIT_NOTE, Invoice, Party
from opencass.documents.invoices.texts import category_name, line_name, tr
from opencass.documents.pdf import font_for, render_pdf, styles, table_style
from opencass.model import minor_units

I18N_DOMAIN = "invoices"

__all__ = ["invoice_pdf", "title_of"]


def title_of(t: Translator, inv: Invoice) -> str:
    """ "Invoice DE-2026-000001" / "Credit note DE-2026-000002", translated."""
    _ = t.gettext
    kind = _("Credit note") if inv.kind == CREDIT_NOTE else _("Invoice")
    return f"{kind} {inv.number}"


def _party(t: Translator, p: Party, heading: str, extra: list[str]) -> list[str]:
    _ = t.gettext
    out = [f"<b>{escape(heading)}</b>", f"<b>{escape(p.legal_name)}</b>"]
    if p.address:
        out.append(escape(p.address))
    if p.tax_id:
        out.append(escape(_("VAT ID: {tax_id}").format(tax_id=p.tax_id)))
    if p.registration:
        out.append(escape(_("Registration: {registration}").format(registration=p.registration)))
    return out + [escape(x) for x in extra]


def invoice_pdf(inv: Invoice) -> bytes:
    """The PDF of ``inv``: parties, dates, lines, airline subtotals, VAT breakdown, totals,
    payment terms and mandatory mentions."""
    t = tr(inv.language)
    _ = t.gettext
    st = styles(inv.language)
    data, sign, cur = inv.data, inv.sign, inv.data.currency
    places = minor_units(cur)

    def num(value: Decimal) -> str:
        v = value * sign
        return t.number(v.copy_abs() if v.is_zero() else v, places)

    def money(value: Decimal) -> str:
        v = value * sign
        return t.money(v.copy_abs() if v.is_zero() else v, cur)

    def p(text: str, style: str = "cell") -> Paragraph:
        return Paragraph(text, st[style])

    regular = font_for(inv.language)[0]

    def cell(text: str, width: float) -> str | Paragraph:
        """Plain text when it fits the column (fast), else a wrapping paragraph."""
        if stringWidth(text, regular, 7) <= width - 5:
            return text
        return p(escape(text))

    title = title_of(t, inv)
    story: list[Any] = [p(escape(title), "title")]
    issuer = _party(t, inv.issuer, _("Issuer"), [])
    agent = _("CASS agent code: {code}").format(code=data.agent_code)
    recipient = _party(t, inv.recipient, _("Recipient"), [agent])
    parties = Table(
        [[p("<br/>".join(issuer), "body"), p("<br/>".join(recipient), "body")]],
        colWidths=[90 * mm, 90 * mm],
    )
    parties.setStyle(table_style(inv.language, header_rows=0))
    story += [parties, Spacer(1, 4 * mm)]

    facts = [
        (_("Number"), inv.number),
        (_("Issue date"), t.date(inv.issue_date)),
        (_("Supply period"), f"{t.date(inv.supply_from)} – {t.date(inv.supply_to)}"),
        (_("Due date (Remittance Day)"), t.date(inv.due_date)),
        (_("CASS country and period"), f"{data.country} {data.period}"),
        (_("Currency"), cur),
    ]
    info = Table([[p(escape(k), "cell_b"), p(escape(v))] for k, v in facts],
                 colWidths=[55 * mm, 125 * mm])  # fmt: skip
    info.setStyle(table_style(inv.language, header_rows=0))
    story.append(info)

    # Plain strings (not Paragraphs) in the number cells: a long invoice renders much faster.
    story.append(p(escape(_("Lines")), "h1"))
    rows: list[list[Any]] = [
        [_("No."), _("Description"), _("VAT"), _("Net amount"), _("VAT amount"), _("Amount")]
    ]
    for line in data.lines:
        rows.append([
            line.id, cell(line_name(t, line, inv.airline(line.airline_prefix)), 75 * mm),
            f"{category_name(t, line.category)} {t.number(line.rate)} %", num(line.base),
            num(line.tax), num(line.base + line.tax),
        ])  # fmt: skip
    lines = Table(rows, colWidths=[10 * mm, 75 * mm, 31 * mm, 22 * mm, 20 * mm, 22 * mm],
                  repeatRows=1)  # fmt: skip
    lines.setStyle(table_style(inv.language, numeric_from=3))
    story.append(lines)

    story.append(p(escape(_("Per airline")), "h1"))
    rows = [[_("Airline"), _("Items"), _("Amount")]]
    for a in data.airlines:
        name = f"{inv.airline(a.airline_prefix)} ({a.airline_prefix})"
        rows.append([cell(name, 120 * mm), t.number(a.items), num(a.amount)])
    airlines = Table(rows, colWidths=[120 * mm, 25 * mm, 35 * mm], repeatRows=1)
    airlines.setStyle(table_style(inv.language, numeric_from=1))
    story.append(airlines)

    story.append(p(escape(_("VAT breakdown")), "h1"))
    rows = [[_("VAT category"), _("Rate"), _("Taxable amount"), _("VAT amount")]]
    for sub in data.taxes:
        rows.append([
            f"{category_name(t, sub.category)} ({sub.category})", f"{t.number(sub.rate)} %",
            num(sub.base), num(sub.tax),
        ])  # fmt: skip
    taxes = Table(rows, colWidths=[80 * mm, 30 * mm, 35 * mm, 35 * mm], repeatRows=1)
    taxes.setStyle(table_style(inv.language, numeric_from=1))
    story.append(taxes)

    due = _("Total credited to you") if inv.kind == CREDIT_NOTE else _("Total amount due")
    totals = Table(
        [
            [p(escape(_("Total net amount")), "cell_b"), p(money(data.net), "cell_r")],
            [p(escape(_("Total VAT")), "cell_b"), p(money(data.tax), "cell_r")],
            [p(escape(due), "cell_b"), p(money(data.total), "cell_br")],
        ],
        colWidths=[145 * mm, 35 * mm],
    )
    totals.setStyle(table_style(inv.language, header_rows=0))
    story += [Spacer(1, 4 * mm), totals, Spacer(1, 4 * mm)]
    if inv.payment_terms:
        story.append(p(escape(inv.payment_terms), "body"))
    if data.reverse_charge:
        story.append(p(escape(_("Reverse charge: the recipient accounts for the VAT.")), "body"))
    for mention in inv.mentions:
        story.append(p(escape(mention), "small"))
    footer = f"{inv.issuer.legal_name} · {inv.number}"
    created = datetime.fromisoformat(inv.issued_at)
    return render_pdf(
        story, lang=inv.language, title=title, subject=title, footer=footer, created=created
    )
