"""The invoice as a PDF in the recipient's language (written by ``documents.pages``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from reportlab.lib.units import mm

from opencass.documents.i18n import Translator
from opencass.documents.invoices.model import CREDIT_NOTE, Invoice, Party
from opencass.documents.invoices.texts import category_name, line_name, tr
from opencass.documents.pages import Block, Boxes, Facts, Gap, Grid, Heading, Lines, render_blocks
from opencass.model import minor_units

I18N_DOMAIN = "invoices"

__all__ = ["invoice_pdf", "title_of"]


def title_of(t: Translator, inv: Invoice) -> str:
    """ "Invoice DE-2026-000001" / "Credit note DE-2026-000002", translated."""
    _ = t.gettext
    kind = _("Credit note") if inv.kind == CREDIT_NOTE else _("Invoice")
    return f"{kind} {inv.number}"


def _party(t: Translator, p: Party, heading: str, extra: list[str]) -> Lines:
    _ = t.gettext
    out = [(heading, True), (p.legal_name, True)]
    if p.address:
        out.append((p.address, False))
    if p.tax_id:
        out.append((_("VAT ID: {tax_id}").format(tax_id=p.tax_id), False))
    if p.registration:
        out.append((_("Registration: {registration}").format(registration=p.registration), False))
    return out + [(x, False) for x in extra]


def invoice_pdf(inv: Invoice) -> bytes:
    """The PDF of ``inv``: parties, dates, lines, airline subtotals, VAT breakdown, totals,
    payment terms and mandatory mentions."""
    page = _InvoicePage(inv)
    title = title_of(page.t, inv)
    story: list[Block] = [Heading(title, "title")]
    story += page.parties()
    story += page.facts()
    story += page.lines()
    story += page.airlines()
    story += page.taxes()
    story += page.totals()
    footer = f"{inv.issuer.legal_name} · {inv.number}"
    created = datetime.fromisoformat(inv.issued_at)
    return render_blocks(
        story, lang=inv.language, title=title, subject=title, footer=footer, created=created
    )


class _InvoicePage:
    """The parts of an invoice's PDF, in the recipient's language."""

    def __init__(self, inv: Invoice) -> None:
        self.inv = inv
        self.t = tr(inv.language)
        self.sign, self.cur = inv.sign, inv.data.currency
        self.places = minor_units(self.cur)

    def _(self, text: str) -> str:
        return self.t.gettext(text)

    def num(self, value: Decimal) -> str:
        v = value * self.sign
        return self.t.number(v.copy_abs() if v.is_zero() else v, self.places)

    def money(self, value: Decimal) -> str:
        v = value * self.sign
        return self.t.money(v.copy_abs() if v.is_zero() else v, self.cur)

    def parties(self) -> list[Block]:
        inv, _ = self.inv, self._
        issuer = _party(self.t, inv.issuer, _("Issuer"), [])
        agent = _("CASS agent code: {code}").format(code=inv.data.agent_code)
        recipient = _party(self.t, inv.recipient, _("Recipient"), [agent])
        return [Boxes([[issuer, recipient]], [90 * mm, 90 * mm], size=9), Gap(4 * mm)]

    def facts(self) -> list[Block]:
        inv, t, _ = self.inv, self.t, self._
        facts = [
            (_("Number"), inv.number),
            (_("Issue date"), t.date(inv.issue_date)),
            (_("Supply period"), f"{t.date(inv.supply_from)} – {t.date(inv.supply_to)}"),
            (_("Due date (Remittance Day)"), t.date(inv.due_date)),
            (_("CASS country and period"), f"{inv.data.country} {inv.data.period}"),
            (_("Currency"), self.cur),
        ]
        for ref in inv.references:
            label = _("Cancels invoice") if inv.role == "cancel" else _("Corrects invoice")
            facts.append((label, f"{ref.number} ({t.date(ref.issue_date)})"))
        return [Facts(facts, (55 * mm, 125 * mm))]

    def lines(self) -> list[Block]:
        inv, t, _, num = self.inv, self.t, self._, self.num
        header = [_("No."), _("Description"), _("VAT"), _("Net amount"), _("VAT amount"),
                  _("Amount")]  # fmt: skip
        rows = [
            [
                line.id, line_name(t, line, inv.airline(line.airline_prefix)),
                f"{category_name(t, line.category)} {t.number(line.rate)} %", num(line.base),
                num(line.tax), num(line.base + line.tax),
            ]
            for line in inv.data.lines
        ]  # fmt: skip
        widths = [10 * mm, 75 * mm, 31 * mm, 22 * mm, 20 * mm, 22 * mm]
        return [Heading(_("Lines"), "h1"), self._grid(header, rows, widths, "LLLRRR")]

    @staticmethod
    def _grid(header: list[str], rows: list[list[str]], widths: list[float], align: str) -> Grid:
        """A long table drawn as a grid; text wider than its column, in any column, runs on to
        more lines (an invoice's descriptions and amounts are never clipped)."""
        return Grid(header, rows, widths, align, wrap=tuple(range(len(header))))

    def airlines(self) -> list[Block]:
        inv, _ = self.inv, self._
        rows = [
            [f"{inv.airline(a.airline_prefix)} ({a.airline_prefix})", self.t.number(a.items),
             self.num(a.amount)]
            for a in inv.data.airlines
        ]  # fmt: skip
        widths = [120 * mm, 25 * mm, 35 * mm]
        header = [_("Airline"), _("Items"), _("Amount")]
        return [Heading(_("Per airline"), "h1"), self._grid(header, rows, widths, "LRR")]

    def taxes(self) -> list[Block]:
        t, _, num = self.t, self._, self.num
        header = [_("VAT category"), _("Rate"), _("Taxable amount"), _("VAT amount")]
        rows = [
            [
                f"{category_name(t, sub.category)} ({sub.category})", f"{t.number(sub.rate)} %",
                num(sub.base), num(sub.tax),
            ]
            for sub in self.inv.data.taxes
        ]  # fmt: skip
        widths = [80 * mm, 30 * mm, 35 * mm, 35 * mm]
        return [Heading(_("VAT breakdown"), "h1"), self._grid(header, rows, widths, "LRRR")]

    def totals(self) -> list[Block]:
        inv, _, money, data = self.inv, self._, self.money, self.inv.data
        due = _("Total credited to you") if inv.kind == CREDIT_NOTE else _("Total amount due")
        rows = [
            [[(_("Total net amount"), True)], [(money(data.net), False)]],
            [[(_("Total VAT"), True)], [(money(data.tax), False)]],
            [[(due, True)], [(money(data.total), True)]],
        ]
        story: list[Block] = [Gap(4 * mm), Boxes(rows, [145 * mm, 35 * mm], "LR"), Gap(4 * mm)]
        if inv.payment_terms:
            story.append(Heading(inv.payment_terms, "body"))
        if data.reverse_charge:
            story.append(Heading(_("Reverse charge: the recipient accounts for the VAT."), "body"))
        story += [Heading(mention, "small") for mention in inv.mentions]
        return story
