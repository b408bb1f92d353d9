"""The calendar as a PDF: one landscape table per country and year, in the reader's language.

Labels come from the ``calendar`` catalog, dates are formatted per locale, moments show their
local time (24 h) under the date; the page layout, fonts (CJK included) and deterministic
output are the shared renderer's (``opencass.documents.pdf``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Paragraph, Spacer, Table

from opencass.documents.calendar import (
    CURRENCY_LABEL,
    PERIOD_CODE_LABEL,
    Selection,
    calendar_name,
    milestone_value,
    milestones_for,
)
from opencass.documents.i18n import Translator, translator
from opencass.documents.pdf import render_pdf, styles, table_style

I18N_DOMAIN = "calendar"

__all__ = ["render_calendar_pdf"]

_WIDTH = 267 * mm - 12  # A4 landscape less the margins and the frame padding


def country_name(t: Translator, code: str, fallback: str) -> str:
    """The country's name in the reader's language (the configured name when Babel has none)."""
    return escape(str(t.locale.territories.get(code, fallback)))


def _cell(t: Translator, value: date | datetime) -> str:
    if isinstance(value, datetime):
        return f"{t.date(value.date())}<br/>{value:%H:%M}"
    return t.date(value)


def _table(s: Selection, audience: str, t: Translator, lang: str) -> Table:
    st = styles(lang)
    milestones = milestones_for(audience)
    head = [t.gettext(PERIOD_CODE_LABEL)]
    for m in milestones:
        head.append(t.gettext(m.label))
        if m.key == "billing_to" and audience == "airline":
            head.append(t.gettext(CURRENCY_LABEL))
    rows: list[list[Any]] = [[Paragraph(h, st["cell_b"]) for h in head]]
    for p in s.periods:
        row = [Paragraph(p.code, st["cell"])]
        for m in milestones:
            row.append(Paragraph(_cell(t, milestone_value(p, m.key)), st["cell"]))
            if m.key == "billing_to" and audience == "airline":
                row.append(Paragraph(s.country.currency, st["cell"]))
        rows.append(row)
    first = 24 * mm
    rest = (_WIDTH - first) / (len(head) - 1)
    table = Table(rows, colWidths=[first] + [rest] * (len(head) - 1), repeatRows=1)
    table.setStyle(table_style(lang))
    return table


def _section(s: Selection, audience: str, t: Translator, lang: str) -> list[Any]:
    st = styles(lang)
    gettext = t.gettext
    name = country_name(t, s.country.code, s.country.name)
    title = gettext("CASS calendar: {country} ({code}), {year}")
    who = gettext("For airlines") if audience == "airline" else gettext("For agents")
    note = gettext("Currency {currency}; times are local to {country} ({timezone}).")
    out: list[Any] = [
        Paragraph(title.format(country=name, code=s.country.code, year=s.year), st["h1"]),
        Paragraph(who, st["body"]),
        Paragraph(
            note.format(currency=s.country.currency, country=name, timezone=s.country.timezone),
            st["body"],
        ),
        Spacer(1, 2 * mm),
        _table(s, audience, t, lang),
        Spacer(1, 2 * mm),
        Paragraph(
            gettext("Remittance Day: the agents' single payment is due (value date)."), st["small"]
        ),
    ]
    if audience == "airline":
        out.append(Paragraph(gettext("Settlement Day: the airlines are paid."), st["small"]))
    return out


def render_calendar_pdf(
    selections: Sequence[Selection], audience: str, language: str, created: datetime
) -> bytes:
    """The PDF of the selections for ``audience`` in ``language``, dated ``created``."""
    t = translator(language, "calendar")
    story: list[Any] = []
    for i, s in enumerate(selections):
        if i:
            story.append(PageBreak())
        story += _section(s, audience, t, t.lang)
    title = calendar_name(selections, audience, t.gettext)
    return render_pdf(story, lang=t.lang, title=title, landscape=True, created=created)
