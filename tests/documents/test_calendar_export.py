"""``opencass calendar export``: CSV in the portal's columns, ICS read back by two parsers, PDF in
six languages, filters and exit codes."""

from __future__ import annotations

import argparse
import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

import icalendar
import pytest
import vobject

from opencass.billing.calendar_publish import publish_sync
from opencass.cli import main
from opencass.cli.calendar import cmd_calendar
from opencass.config.model import Config
from opencass.documents.calendar import (
    AGENT_COLUMNS,
    AIRLINE_COLUMNS,
    LANGUAGES,
    MILESTONES,
    CalendarError,
    render_csv,
    select,
)
from opencass.documents.i18n import translator
from opencass.store.connect import connect_sync, migrate_sync
from tests.kit.calendar import calendar_config, edit_period, load, pdf_text

NOW = datetime(2026, 6, 2, 10, 0, tzinfo=UTC)
AGENT_KEYS = [m.key for m in MILESTONES if m.agents]


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return calendar_config(tmp_path)


@pytest.fixture
def config(config_dir: Path) -> Config:
    return load(config_dir)


def _args(**kw: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "config": "unused",
        "calendar_command": "export",
        "country": None,
        "kind": "cass",
        "frequency": None,
        "currency": None,
        "audience": "airline",
        "format": "csv",
        "output": None,
        "year": None,
        "language": None,
    }
    values.update(kw)
    return argparse.Namespace(**values)


def _export(config: Config, **kw: object) -> tuple[int, bytes]:
    out = io.BytesIO()
    code = cmd_calendar(_args(**kw), config=config, now=NOW, out=out)
    return code, out.getvalue()


def _rows(data: bytes) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    return rows[0], rows[1:]


# --- CSV -------------------------------------------------------------------------------------


def test_csv_airline_columns_and_values_match_the_calendar(config: Config) -> None:
    code, data = _export(config, country=["DE"], year=2026)
    assert code == 0
    header, rows = _rows(data)
    assert tuple(header) == AIRLINE_COLUMNS
    periods = config.calendars["DE"][:12]
    assert [r[0] for r in rows] == [p.code for p in periods]
    for row, p in zip(rows, periods, strict=True):
        cell = dict(zip(header, row, strict=True))
        assert cell["Billing From"] == p.billing_from.isoformat()
        assert cell["Billing To"] == p.billing_to.isoformat()
        assert cell["Operation Currency"] == "EUR"
        assert cell["Airline Input Upload Cut-Off"] == p.upload_cutoff.strftime("%Y-%m-%d %H:%M")
        assert cell["Airline Correction Response Cut-Off"] == (
            p.airline_response_cutoff.strftime("%Y-%m-%d %H:%M")
        )
        assert cell["Remittance Day"] == p.remittance_day.isoformat()
        assert cell["Settlement Day"] == p.settlement_day.isoformat()
    assert data.endswith(b"\r\n") and b"\r\n20260101M," in data


def test_csv_agent_columns(config: Config) -> None:
    code, data = _export(config, country=["DE"], audience="agent", year=2027)
    assert code == 0
    header, rows = _rows(data)
    assert tuple(header) == AGENT_COLUMNS
    assert "Settlement Day" not in header and "Operation Currency" not in header
    assert len(rows) == 12 and all(r[0].startswith("2027") for r in rows)
    p = config.calendars["DE"][12]
    assert rows[0] == [
        p.code,
        p.billing_from.isoformat(),
        p.billing_to.isoformat(),
        *(getattr(p, k).strftime("%Y-%m-%d %H:%M") for k in AGENT_KEYS[2:-1]),
        p.remittance_day.isoformat(),
    ]


def test_csv_times_are_the_countrys_local_time(config: Config) -> None:
    _, data = _export(config, country=["US"])
    _, rows = _rows(data)
    first = config.calendars["US"][0]
    assert first.upload_cutoff.utcoffset() is not None
    assert rows[0][4] == "2026-01-18 23:59"  # New York time as configured, not UTC


def test_csv_of_several_countries_is_refused(
    config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    code, data = _export(config)
    assert code == 2 and data == b""
    assert "--country" in capsys.readouterr().err


# --- filters ---------------------------------------------------------------------------------


def _codes(config: Config, **kw: object) -> set[str]:
    return {p.code for s in select(config, **kw) for p in s.periods}  # type: ignore[arg-type]


def test_filters_select_periods(config: Config) -> None:
    us = {p.code for p in config.calendars["US"]}
    de = {p.code for p in config.calendars["DE"]}
    assert _codes(config) == us | de
    assert _codes(config, countries=["us"]) == us
    assert len(select(config, countries=["DE", "de"], year=2026)) == 1  # no duplicate events
    assert _codes(config, frequency="F") == us
    assert _codes(config, frequency="fortnightly") == us
    assert _codes(config, frequency="monthly") == de
    assert _codes(config, currency="EUR") == de
    assert _codes(config, currency="usd") == us
    assert _codes(config, year=2027) == {c for c in de if c.startswith("2027")}
    assert _codes(config, countries=["DE"], year=2026, frequency="M") == {
        c for c in de if c.startswith("2026")
    }


@pytest.mark.parametrize(
    "kw",
    [
        {"kind": "bsp"},
        {"kind": "other"},
        {"countries": ["XX"]},
        {"frequency": "hourly"},
        {"frequency": "W"},  # nothing weekly
        {"currency": "JPY"},
        {"year": 2030},
        {"countries": ["DE"], "frequency": "F"},
    ],
)
def test_filters_that_select_nothing_are_usage_errors(config: Config, kw: dict[str, object]):
    with pytest.raises(CalendarError):
        select(config, **kw)  # type: ignore[arg-type]


def test_currency_filter_in_the_csv(config: Config) -> None:
    code, data = _export(config, currency="USD", audience="agent")
    assert code == 0
    _, rows = _rows(data)
    assert [r[0] for r in rows] == ["20260101F", "20260102F", "20260201F", "20260202F"]


# --- iCalendar -------------------------------------------------------------------------------


def _ics(config: Config, **kw: object) -> bytes:
    code, data = _export(config, format="ics", **kw)
    assert code == 0
    return data


def _events(data: bytes) -> dict[str, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(data)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def test_ics_has_one_event_per_dated_milestone(config: Config) -> None:
    data = _ics(config, country=["DE"], year=2026)
    cal = icalendar.Calendar.from_ical(data)
    assert str(cal["VERSION"]) == "2.0" and "opencass" in str(cal["PRODID"])
    assert "DE" in str(cal["X-WR-CALNAME"])
    assert [str(z["TZID"]) for z in cal.walk("VTIMEZONE")] == ["Europe/Berlin"]
    events = _events(data)
    assert len(events) == 12 * len(MILESTONES)
    p = config.calendars["DE"][10]  # 20261101M
    remit = events[f"DE-{p.code}-remittance-day@opencass.invalid"]
    assert remit.decoded("DTSTART") == p.remittance_day  # an all-day event
    assert remit.decoded("DTEND") == date(p.remittance_day.year, 12, 21)
    cutoff = events[f"DE-{p.code}-upload-cutoff@opencass.invalid"]
    start = cutoff.decoded("DTSTART")
    assert start == p.upload_cutoff and start.utcoffset() == p.upload_cutoff.utcoffset()
    assert cutoff["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert "DTEND" not in cutoff
    # nothing published yet: every event is stamped with the export's time
    assert all(e.decoded("DTSTAMP") == NOW for e in events.values())
    assert all(int(e["SEQUENCE"]) == 0 for e in events.values())


def test_ics_agent_audience_leaves_out_airline_milestones(config: Config) -> None:
    events = _events(_ics(config, country=["US"], audience="agent"))
    assert len(events) == 4 * len(AGENT_KEYS)
    assert not [u for u in events if "settlement-day" in u or "response-cutoff" in u]


def test_ics_read_back_by_a_second_parser(config: Config) -> None:
    data = _ics(config)  # both countries, two time zones
    parsed = vobject.readOne(data.decode("utf-8"))
    events = {e.uid.value: e for e in parsed.vevent_list}
    mine = _events(data)
    assert events.keys() == mine.keys()
    assert len(events) == (24 + 4) * len(MILESTONES)
    zones = sorted(tz.tzid.value for tz in parsed.vtimezone_list)
    assert zones == ["America/New_York", "Europe/Berlin"]
    us = config.calendars["US"][0]
    start = events[f"US-{us.code}-billing-available@opencass.invalid"].dtstart.value
    assert start == us.billing_available  # the same instant, through vobject's VTIMEZONE
    assert start.utcoffset() == us.billing_available.utcoffset()
    day = events[f"US-{us.code}-settlement-day@opencass.invalid"].dtstart.value
    assert day == us.settlement_day and not isinstance(day, datetime)


def test_ics_is_the_same_bytes_and_uids_on_every_export(config: Config) -> None:
    first, second = _ics(config, country=["DE"]), _ics(config, country=["DE"])
    assert first == second
    french = _ics(config, country=["DE"], language="fr")
    assert french != first and _events(french).keys() == _events(first).keys()
    assert "Jour de versement" in french.decode("utf-8")


def test_changed_milestone_keeps_its_uid_and_bumps_sequence(
    config_dir: Path, config: Config
) -> None:
    config.gateway.data_dir.mkdir(parents=True, exist_ok=True)
    conn = connect_sync(config.gateway.database)
    migrate_sync(conn)
    conn.close()
    first = datetime(2026, 5, 20, 9, 30, tzinfo=UTC)
    publish_sync(config, config.gateway.database, first)  # the published state, version 0
    uid = "DE-20261101M-remittance-day@opencass.invalid"
    before = _events(_ics(config, country=["DE"]))
    # the first version is stamped with its publication, not a constant
    assert {e.decoded("DTSTAMP") for e in before.values()} == {first}
    edit_period(config_dir, "20261101M", remittance_day="2026-12-21")
    changed = load(config_dir)
    after_data = _ics(changed, country=["DE"])
    after = _events(after_data)
    assert after.keys() == before.keys()
    assert int(before[uid]["SEQUENCE"]) == 0 and int(after[uid]["SEQUENCE"]) == 1
    assert after[uid].decoded("DTSTART") == date(2026, 12, 21)
    assert after[uid].decoded("DTSTAMP") == NOW  # not yet published: stamped at export time
    assert after[next(u for u in after if u != uid)].decoded("DTSTAMP") == first
    others = [u for u in after if u != uid]
    assert all(int(after[u]["SEQUENCE"]) == 0 for u in others)
    later = datetime(2026, 6, 3, tzinfo=UTC)
    publish_sync(changed, changed.gateway.database, later)  # now the store knows version 1
    published = _events(_ics(changed, country=["DE"]))
    assert int(published[uid]["SEQUENCE"]) == 1
    assert published[uid].decoded("DTSTAMP") == later
    assert _ics(changed, country=["DE"]) == _ics(changed, country=["DE"])


# --- PDF -------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_pdf_shows_the_translated_labels(config: Config, lang: str, tmp_path: Path) -> None:
    code, data = _export(config, country=["DE"], year=2026, format="pdf", language=lang)
    assert code == 0 and data.startswith(b"%PDF")
    text = "".join(pdf_text(data, tmp_path).split())
    _ = translator(lang, "calendar").gettext
    wanted = [
        _("Remittance Day"),
        _("Settlement Day"),
        _("For airlines"),
        _("Settlement Day: the airlines are paid."),
    ]
    if lang != "en":
        assert _("Remittance Day") != "Remittance Day"  # really translated
    for s in wanted:
        assert "".join(s.split()) in text, s
    assert "20261101M" in text


def test_pdf_agent_edition_and_language_default(config: Config, tmp_path: Path) -> None:
    code, data = _export(config, country=["DE"], year=2027, format="pdf", audience="agent")
    assert code == 0
    text = "".join(pdf_text(data, tmp_path).split())
    assert "FürAgenten" in text  # DE's document language is German
    assert "Auszahlungstag:" not in text  # no Settlement Day for agents


# --- the command -----------------------------------------------------------------------------


def test_command_writes_the_output_file(config_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "de.csv"
    argv = ["calendar", "export", "--config", str(config_dir), "--format", "csv"]
    assert main([*argv, "--country", "DE", "--audience", "agent", "-o", str(out)]) == 0
    header, rows = _rows(out.read_bytes())
    assert tuple(header) == AGENT_COLUMNS and len(rows) == 24
    ics = tmp_path / "all.ics"
    assert main([*argv[:-1], "ics", "--frequency", "F", "-o", str(ics)]) == 0
    assert all(u.startswith("US-") for u in _events(ics.read_bytes()))


def test_command_writes_to_standard_output(
    config_dir: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    argv = ["calendar", "export", "--config", str(config_dir), "--format", "csv"]
    assert main([*argv, "--currency", "USD"]) == 0
    header, rows = _rows(capsysbinary.readouterr().out)
    assert tuple(header) == AIRLINE_COLUMNS and len(rows) == 4


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse refuses before the command runs
        return int(e.code or 0)


@pytest.mark.parametrize(
    "extra",
    [
        ["--kind", "bsp", "--format", "csv"],
        ["--country", "XX", "--format", "ics"],
        ["--frequency", "W", "--format", "pdf"],
        ["--format", "csv"],  # two countries in one CSV
        ["--format", "xlsx"],
        ["--audience", "operator", "--format", "csv"],
        ["--language", "it", "--format", "pdf"],
        ["--year", "soon", "--format", "csv"],
        ["--country", "DE", "--format", "csv", "-o", "/nonexistent/dir/x.csv"],
    ],
)
def test_command_usage_errors_exit_2(config_dir: Path, extra: list[str]) -> None:
    assert _run(["calendar", "export", "--config", str(config_dir), *extra]) == 2


def test_command_bad_configuration_exits_2(tmp_path: Path) -> None:
    assert _run(["calendar", "export", "--config", str(tmp_path / "none"), "--format", "csv"]) == 2


def test_render_csv_is_pure(config: Config) -> None:
    selections = select(config, countries=["US"])
    assert render_csv(selections, "airline") == render_csv(selections, "airline")
