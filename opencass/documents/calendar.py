"""Calendar exports: CSV in IATA's portal columns, a PDF table and iCalendar (RFC 5545).

Theory of operation
-------------------
A *selection* is one CASS country and one year of its calendar (the periods whose code starts
with that year), filtered by frequency.  Each renderer turns selections into bytes; none does
I/O, so callers run them in a thread (the gateway) or directly (the command).

Formats, decided once for every export:

* **CSV**: the columns of IATA's customer-portal export for the audience (``AIRLINE_COLUMNS``,
  ``AGENT_COLUMNS``), English labels, UTF-8, CRLF rows (RFC 4180).  Days are ISO dates
  (``2026-12-20``); moments are ``YYYY-MM-DD HH:MM`` in the country's local time (the calendar's
  own time zone, as the portal shows them).  One country per file: the portal format has no
  country column.
* **ICS**: one event per dated milestone of the audience.  Days (Billing From/To, Remittance
  Day, Settlement Day) are all-day events; moments carry ``TZID`` = the country's IANA zone with
  a ``VTIMEZONE`` for it and no ``DTEND`` (a moment, not a span).  The UID is
  ``<CC>-<period code>-<milestone>@<gateway host>`` so a re-import updates events instead of
  duplicating them.  The file is a subscription feed, not an iTIP message (no ``METHOD``), so
  ``DTSTAMP`` is the time the event's information last changed: ``SEQUENCE`` and ``DTSTAMP``
  come from a ``Version`` per milestone (the gateway keeps them in its store and bumps the
  sequence when a milestone's value changes, stamping the time of the change; its first
  version is stamped with the time it was first published), so the same calendar always gives
  the same bytes.  An export with nothing published yet stamps the export's own time.
* **PDF**: one table per country and year, labels and dates in the reader's language.

Only CASS calendars are held: asking for ``bsp`` is a usage error (``CalendarError``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from opencass.config.model import CompanyKind, Config, Country, Period
from opencass.documents.choices import AUDIENCES, LANGUAGES
from opencass.errors import ConfigurationError

if TYPE_CHECKING:
    import icalendar

__all__ = [
    "AGENT_COLUMNS",
    "AIRLINE_COLUMNS",
    "AUDIENCES",
    "FREQUENCIES",
    "LANGUAGES",
    "MILESTONES",
    "CalendarError",
    "Milestone",
    "Selection",
    "Version",
    "audience_of",
    "gateway_host",
    "latest_stamp",
    "milestone_uid",
    "milestone_value",
    "milestones_for",
    "render_csv",
    "render_ics",
    "render_pdf_calendar",
    "select",
]

I18N_DOMAIN = "calendar"
DOMAIN = "calendar"  # gettext domain
PRODID = "-//opencass//CASS calendar//EN"


def _(message: str) -> str:
    """Mark a string for the catalog; translated where it is shown."""
    return message


@dataclass(frozen=True, slots=True)
class Milestone:
    """A dated milestone of a period: its key, IATA label and whether it is a whole day."""

    key: str  # the Period attribute
    label: str  # IATA's column label (English; translated in the PDF and ICS)
    all_day: bool
    agents: bool  # in the agent audience's export

    @property
    def slug(self) -> str:
        """The milestone's part of an event UID, e.g. ``remittance-day``."""
        return self.key.replace("_", "-")


MILESTONES = (
    Milestone("billing_from", _("Billing From"), True, True),
    Milestone("billing_to", _("Billing To"), True, True),
    Milestone("upload_cutoff", _("Airline Input Upload Cut-Off"), False, True),
    Milestone("reports_available", _("CASS reports Availability"), False, True),
    Milestone("agent_correction_cutoff", _("Agent Correction Cut-Off"), False, True),
    Milestone("airline_response_cutoff", _("Airline Correction Response Cut-Off"), False, False),
    Milestone("billing_available", _("Billing Availability"), False, True),
    Milestone("remittance_day", _("Remittance Day"), True, True),
    Milestone("settlement_day", _("Settlement Day"), True, False),
)
PERIOD_CODE_LABEL = _("Period Code")
CURRENCY_LABEL = _("Operation Currency")

AIRLINE_COLUMNS = (
    "Period Code",
    "Billing From",
    "Billing To",
    "Operation Currency",
    "Airline Input Upload Cut-Off",
    "CASS reports Availability",
    "Agent Correction Cut-Off",
    "Airline Correction Response Cut-Off",
    "Billing Availability",
    "Remittance Day",
    "Settlement Day",
)
AGENT_COLUMNS = (
    "Period Code",
    "Billing From",
    "Billing To",
    "Airline Input Upload Cut-Off",
    "CASS reports Availability",
    "Agent Correction Cut-Off",
    "Billing Availability",
    "Remittance Day",
)
_COLUMNS = {"airline": AIRLINE_COLUMNS, "agent": AGENT_COLUMNS}

FREQUENCIES = {  # accepted --frequency words -> period code letter
    "monthly": "M",
    "fortnightly": "F",
    "twice-monthly": "F",
    "ten-day": "R",
    "four-times-monthly": "W",
    "weekly": "V",
    "daily": "D",
}


class CalendarError(ConfigurationError):
    """A request that cannot be answered from the configuration (a usage error)."""

    code = "CALENDAR_REQUEST_INVALID"


@dataclass(frozen=True, slots=True)
class Selection:
    """One country's calendar for one year (possibly filtered)."""

    country: Country
    year: int
    periods: tuple[Period, ...]


@dataclass(frozen=True, slots=True)
class Version:
    """The iCalendar version of one milestone: ``SEQUENCE`` and ``DTSTAMP``."""

    sequence: int
    stamp: datetime  # when the milestone took this value (published first, or changed)


Versions = Mapping[tuple[str, str, str], Version]  # by (country, period code, milestone key)
Gettext = Callable[[str], str]


# --- selection ---------------------------------------------------------------------------------


def audience_of(kind: CompanyKind) -> str:
    """The export audience of a company: agents get the agent columns, everyone else airline."""
    return "agent" if kind is CompanyKind.AGENT else "airline"


def milestones_for(audience: str) -> tuple[Milestone, ...]:
    """The milestones an audience's export shows, in calendar order."""
    return tuple(m for m in MILESTONES if audience == "airline" or m.agents)


def frequency_code(value: str) -> str:
    """The period-code letter of a ``--frequency`` value (a letter or a word)."""
    v = value.strip()
    if v.upper() in set(FREQUENCIES.values()):
        return v.upper()
    code = FREQUENCIES.get(v.lower())
    if code is None:
        words = ", ".join([*sorted(set(FREQUENCIES.values())), *FREQUENCIES])
        raise CalendarError(f"unknown frequency {value!r}: one of {words}")
    return code


def select(
    config: Config,
    *,
    countries: Sequence[str] | None = None,
    kind: str = "cass",
    frequency: str | None = None,
    currency: str | None = None,
    year: int | None = None,
) -> list[Selection]:
    """The calendars matching the filters, by country then year; CalendarError when none do."""
    if kind.lower() == "bsp":
        raise CalendarError("opencass holds CASS calendars only; there is no BSP calendar")
    if kind.lower() != "cass":
        raise CalendarError(f"unknown calendar kind {kind!r}: cass or bsp")
    wanted = (
        list(dict.fromkeys(c.upper() for c in countries)) if countries else sorted(config.countries)
    )
    for code in wanted:
        if code not in config.countries:
            raise CalendarError(f"unknown CASS country {code!r}")
    letter = frequency_code(frequency) if frequency else None
    out = []
    for code in wanted:
        country = config.countries[code]
        if currency and country.currency != currency.upper():
            continue
        periods = [p for p in config.calendars.get(code, ()) if not letter or p.frequency == letter]
        years = sorted({int(p.code[:4]) for p in periods})
        for y in years if year is None else [year]:
            mine = tuple(p for p in periods if int(p.code[:4]) == y)
            if mine:
                out.append(Selection(country, y, mine))
    if not out:
        raise CalendarError(f"no period matches: {_filters(wanted, frequency, currency, year)}")
    return out


def _filters(
    countries: list[str], frequency: str | None, currency: str | None, year: int | None
) -> str:
    parts = [f"countries {', '.join(countries) or '(none configured)'}"]
    parts += [f"frequency {frequency}"] if frequency else []
    parts += [f"currency {currency}"] if currency else []
    parts += [f"year {year}"] if year is not None else []
    return "; ".join(parts)


# --- values ------------------------------------------------------------------------------------


def milestone_value(period: Period, key: str) -> date | datetime:
    """The milestone ``key`` of ``period``: a date, or an aware local date-time."""
    value: date | datetime = getattr(period, key)
    return value


def canonical(value: date | datetime) -> str:
    """The value as stored and compared: ISO date, or ISO local date-time with its offset."""
    return value.isoformat()


def csv_value(value: date | datetime) -> str:
    """A CSV cell: ``2026-12-20`` or ``2026-12-03 23:59`` (local time)."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def gateway_host(public_url: str) -> str:
    """The host part of UIDs: the gateway's public host name."""
    return (urlsplit(public_url).hostname or "opencass.invalid").lower()


def milestone_uid(country: str, period: str, milestone: Milestone, host: str) -> str:
    """The stable event UID of one milestone of one period."""
    return f"{country}-{period}-{milestone.slug}@{host}"


# --- CSV ---------------------------------------------------------------------------------------


def render_csv(selections: Iterable[Selection], audience: str) -> bytes:
    """The portal-format CSV of the selections (one country) for ``audience``."""
    columns = _COLUMNS[audience]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(columns)
    for s in selections:
        for p in s.periods:
            w.writerow(_csv_row(p, s.country, audience))
    return out.getvalue().encode("utf-8")


def _csv_row(p: Period, country: Country, audience: str) -> list[str]:
    row = [p.code]
    for m in milestones_for(audience):
        row.append(csv_value(milestone_value(p, m.key)))
        if m.key == "billing_to" and audience == "airline":
            row.append(country.currency)
    return row


# --- iCalendar ---------------------------------------------------------------------------------


def calendar_name(selections: Sequence[Selection], audience: str, gettext: Gettext) -> str:
    """The calendar's display name (X-WR-CALNAME)."""
    countries = ", ".join(dict.fromkeys(s.country.code for s in selections))
    years = sorted({s.year for s in selections})
    span = str(years[0]) if len(years) == 1 else f"{years[0]}–{years[-1]}"
    who = gettext("airlines") if audience == "airline" else gettext("agents")
    return gettext("CASS calendar {countries} {years} ({audience})").format(
        countries=countries, years=span, audience=who
    )


def render_ics(
    selections: Sequence[Selection],
    audience: str,
    *,
    host: str,
    versions: Versions,
    stamp: datetime,
    gettext: Gettext | None = None,
) -> bytes:
    """The iCalendar (RFC 5545) of the selections for ``audience``; a milestone without a
    version in ``versions`` (never published) is version 0 at ``stamp``."""
    import icalendar

    t = gettext or (lambda s: s)
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    name = calendar_name(selections, audience, t)
    cal.add("x-wr-calname", name)
    cal.add("name", name)
    zones = sorted({s.country.timezone for s in selections})
    if len(zones) == 1:
        cal.add("x-wr-timezone", zones[0])
    cal.add("refresh-interval", timedelta(hours=12), parameters={"VALUE": "DURATION"})
    for s in selections:
        for p in s.periods:
            for m in milestones_for(audience):
                uid = milestone_uid(s.country.code, p.code, m, host)
                version = versions.get((s.country.code, p.code, m.key)) or Version(0, stamp)
                cal.add_component(_event(s.country, p, m, uid, version, t))
    first = min(p.billing_from for s in selections for p in s.periods)
    last = max(p.settlement_day for s in selections for p in s.periods)
    cal.add_missing_timezones(first - timedelta(days=366), last + timedelta(days=366))
    data: bytes = cal.to_ical()
    return data


def _event(
    country: Country, p: Period, m: Milestone, uid: str, version: Version, t: Gettext
) -> icalendar.Event:
    import icalendar

    e = icalendar.Event()
    e.add("uid", uid)
    e.add("dtstamp", version.stamp.astimezone(UTC))
    e.add("sequence", version.sequence)
    if version.sequence:
        e.add("last-modified", version.stamp.astimezone(UTC))
    e.add("summary", f"{t(m.label)} · {country.code} {p.code}")
    value = milestone_value(p, m.key)
    if m.all_day:
        day = value.date() if isinstance(value, datetime) else value
        e.add("dtstart", day)
        e.add("dtend", day + timedelta(days=1))
    else:
        e.add("dtstart", value)
    e.add("transp", "TRANSPARENT")
    e.add("categories", ["CASS", country.code])
    e.add("description", _description(country, p, t))
    return e


def _description(country: Country, p: Period, gettext: Gettext) -> str:
    return gettext(
        "CASS {country} ({code}), period {period}: billing {start} to {end}, {currency}."
    ).format(
        country=country.name,
        code=country.code,
        period=p.code,
        start=p.billing_from.isoformat(),
        end=p.billing_to.isoformat(),
        currency=country.currency,
    )


# --- PDF ---------------------------------------------------------------------------------------


def render_pdf_calendar(
    selections: Sequence[Selection], audience: str, language: str, created: datetime
) -> bytes:
    """A readable PDF: one table per country and year, in ``language``; ``created`` is the
    time of the calendar's version (``latest_stamp``)."""
    from opencass.documents.calendar_pdf import render_calendar_pdf

    return render_calendar_pdf(selections, audience, language, created)


def latest_stamp(
    selections: Sequence[Selection], versions: Versions, default: datetime
) -> datetime:
    """When the newest milestone shown in ``selections`` took its value (a milestone never
    published counts as ``default``): the time of that calendar's version."""
    keys = [
        (s.country.code, p.code, m.key) for s in selections for p in s.periods for m in MILESTONES
    ]
    return max((versions[k].stamp if k in versions else default for k in keys), default=default)
