"""The calendar as a PDF: one landscape table per country and year, in the reader's language.

Labels come from the ``calendar`` catalog, dates are formatted per locale, moments show their
local time (24 h) under the date; the page layout, fonts (CJK included) and deterministic
output are the shared page writer's (``opencass.documents.pages``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from reportlab.lib.units import mm

from opencass.documents.calendar import (
    CURRENCY_LABEL,
    PERIOD_CODE_LABEL,
    Selection,
    calendar_name,
    milestone_value,
    milestones_for,
)
from opencass.documents.i18n import Translator, translator
from opencass.documents.pages import Block, Gap, Grid, Heading, NewPage, render_blocks

I18N_DOMAIN = "calendar"

__all__ = ["render_calendar_pdf"]

_WIDTH = 267 * mm - 12  # A4 landscape less the margins and the frame padding


def country_name(t: Translator, code: str, fallback: str) -> str:
    """The country's name in the reader's language (the configured name when Babel has none)."""
    return str(t.locale.territories.get(code, fallback))


def _cell(t: Translator, value: date | datetime) -> str:
    if isinstance(value, datetime):
        return f"{t.date(value.date())}\n{value:%H:%M}"
    return t.date(value)


def _table(s: Selection, audience: str, t: Translator) -> Grid:
    milestones = milestones_for(audience)
    head = [t.gettext(PERIOD_CODE_LABEL)]
    for m in milestones:
        head.append(t.gettext(m.label))
        if m.key == "billing_to" and audience == "airline":
            head.append(t.gettext(CURRENCY_LABEL))
    rows: list[list[str]] = []
    for p in s.periods:
        row = [p.code]
        for m in milestones:
            row.append(_cell(t, milestone_value(p, m.key)))
            if m.key == "billing_to" and audience == "airline":
                row.append(s.country.currency)
        rows.append(row)
    first = 24 * mm
    rest = (_WIDTH - first) / (len(head) - 1)
    widths = [first] + [rest] * (len(head) - 1)
    return Grid(head, rows, widths, "L" * len(head), wrap=tuple(range(len(head))))


def _section(s: Selection, audience: str, t: Translator) -> list[Block]:
    gettext = t.gettext
    name = country_name(t, s.country.code, s.country.name)
    title = gettext("CASS calendar: {country} ({code}), {year}")
    who = gettext("For airlines") if audience == "airline" else gettext("For agents")
    note = gettext("Currency {currency}; times are local to {country} ({timezone}).")
    out: list[Block] = [
        Heading(title.format(country=name, code=s.country.code, year=s.year), "h1"),
        Heading(who, "body"),
        Heading(
            note.format(currency=s.country.currency, country=name, timezone=s.country.timezone),
            "body",
        ),
        Gap(2 * mm),
        _table(s, audience, t),
        Gap(2 * mm),
        Heading(
            gettext("Remittance Day: the agents' single payment is due (value date)."), "small"
        ),
    ]
    if audience == "airline":
        out.append(Heading(gettext("Settlement Day: the airlines are paid."), "small"))
    return out


def render_calendar_pdf(
    selections: Sequence[Selection], audience: str, language: str, created: datetime
) -> bytes:
    """The PDF of the selections for ``audience`` in ``language``, dated ``created``."""
    t = translator(language, "calendar")
    story: list[Block] = []
    for i, s in enumerate(selections):
        if i:
            story.append(NewPage())
        story += _section(s, audience, t)
    title = calendar_name(selections, audience, t.gettext)
    return render_blocks(story, lang=t.lang, title=title, landscape=True, created=created)
