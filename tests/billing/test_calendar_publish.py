"""Calendar publication: each participant's outbox holds its countries' calendars (real files,
real SQLite store); a calendar change re-publishes them and records events, nothing else does."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest

from opencass.billing.calendar_publish import publish_calendars, publish_sync
from opencass.config.model import Config
from opencass.documents.calendar import AGENT_COLUMNS, AIRLINE_COLUMNS
from opencass.gateway.app import Gateway
from opencass.store import open_store
from opencass.store.connect import connect_sync, migrate_sync
from tests.kit.calendar import calendar_config, edit_period, load, pdf_text
from tests.kit.db import db_connect
from tests.kit.gateway import steady_clock

T1 = datetime(2026, 6, 2, 10, 0, tzinfo=UTC)
T2 = datetime(2026, 6, 2, 11, 0, tzinfo=UTC)
T3 = datetime(2026, 6, 3, 9, 30, tzinfo=UTC)
S1, S3 = "20260602T100000Z", "20260603T093000Z"
DE_COMPANIES = ("agent1", "agent2", "cassops", "demoair")


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = calendar_config(tmp_path)
    config = load(directory)
    config.gateway.data_dir.mkdir(parents=True, exist_ok=True)
    with connect_sync(config.gateway.database) as conn:
        migrate_sync(conn)
    return directory


def _publish(directory: Path, at: datetime) -> tuple[Config, int]:
    config = load(directory)
    return config, publish_sync(config, config.gateway.database, at)


def _outbox(config: Config, company: str) -> list[str]:
    return sorted(p.name for p in (config.gateway.mailboxes_dir / company / "outbox").iterdir())


def _file(config: Config, company: str, name: str) -> bytes:
    return (config.gateway.mailboxes_dir / company / "outbox" / name).read_bytes()


def _events(config: Config) -> list[dict[str, object]]:
    with db_connect(config.gateway.database) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM events ORDER BY id").fetchall()
    return [{**dict(r), "data": json.loads(r["data"])} for r in rows]


def _names(stamp: str, country: str, year: int) -> list[str]:
    return [f"{stamp}_calendar_{country}_{year}.{ext}" for ext in ("csv", "ics", "pdf")]


def test_first_publication_fills_every_outbox(config_dir: Path, tmp_path: Path) -> None:
    config, count = _publish(config_dir, T1)
    assert count == 4 * 2 + 1  # four DE companies x two years, usair x one US year
    for company in DE_COMPANIES:
        assert _outbox(config, company) == _names(S1, "DE", 2026) + _names(S1, "DE", 2027)
    assert _outbox(config, "usair") == _names(S1, "US", 2026)
    header = {
        c: next(csv.reader(io.StringIO(_file(config, c, f"{S1}_calendar_DE_2026.csv").decode())))
        for c in DE_COMPANIES
    }
    assert tuple(header["agent1"]) == tuple(header["agent2"]) == AGENT_COLUMNS
    assert tuple(header["demoair"]) == tuple(header["cassops"]) == AIRLINE_COLUMNS  # operator too
    # each in its language: agent1 German, agent2 English, usair Japanese
    texts = {
        c: "".join(pdf_text(_file(config, c, f"{S1}_calendar_{cc}_2026.pdf"), tmp_path).split())
        for c, cc in (("agent1", "DE"), ("agent2", "DE"), ("usair", "US"))
    }
    assert "FürAgenten" in texts["agent1"] and "Zahlungstag" in texts["agent1"]
    assert "Foragents" in texts["agent2"]
    assert "航空会社向け" in texts["usair"] and "精算日" in texts["usair"]
    agent_ics = icalendar.Calendar.from_ical(_file(config, "agent1", f"{S1}_calendar_DE_2026.ics"))
    uids = [str(e["UID"]) for e in agent_ics.walk("VEVENT")]
    assert len(uids) == 12 * 7 and not [u for u in uids if "settlement" in u]
    events = _events(config)
    assert [e["type"] for e in events] == ["document.available"] * 9
    assert {(e["company"], e["object_ref"]) for e in events} == {
        *((c, f"DE:{y}") for c in DE_COMPANIES for y in (2026, 2027)),
        ("usair", "US:2026"),
    }
    assert all(str(e["document"]).endswith(".pdf") for e in events)


def test_nothing_changed_publishes_nothing(config_dir: Path) -> None:
    config, _ = _publish(config_dir, T1)
    before = {c: _outbox(config, c) for c in (*DE_COMPANIES, "usair")}
    config, count = _publish(config_dir, T2)
    assert count == 0
    assert {c: _outbox(config, c) for c in before} == before
    assert len(_events(config)) == 9
    # a participant may delete what it downloaded: not written again while nothing changes
    for name in _outbox(config, "agent2"):
        (config.gateway.mailboxes_dir / "agent2" / "outbox" / name).unlink()
    assert _publish(config_dir, T3)[1] == 0
    assert _outbox(config, "agent2") == []


def test_changed_milestones_republish_and_notify(config_dir: Path) -> None:
    _publish(config_dir, T1)
    edit_period(config_dir, "20261101M", remittance_day="2026-12-21", settlement_day="2026-12-23")
    config, count = _publish(config_dir, T3)
    assert count == 4  # the DE companies' 2026 calendars; 2027 and US unchanged
    for company in DE_COMPANIES:
        assert _outbox(config, company) == sorted(_names(S3, "DE", 2026) + _names(S1, "DE", 2027))
    assert _outbox(config, "usair") == _names(S1, "US", 2026)
    changed = [e for e in _events(config) if e["type"] == "calendar.changed"]
    assert sorted(str(e["company"]) for e in changed) == sorted(DE_COMPANIES)
    by_company = {e["company"]: e for e in changed}
    airline = by_company["demoair"]["data"]
    assert isinstance(airline, dict)
    assert airline["changes"] == [
        {
            "period": "20261101M",
            "milestone": "remittance_day",
            "label": "Remittance Day",
            "old": "2026-12-20",
            "new": "2026-12-21",
        },
        {
            "period": "20261101M",
            "milestone": "settlement_day",
            "label": "Settlement Day",
            "old": "2026-12-22",
            "new": "2026-12-23",
        },
    ]
    agent = by_company["agent1"]["data"]
    assert isinstance(agent, dict)
    assert [c["milestone"] for c in agent["changes"]] == ["remittance_day"]  # what agents see
    assert by_company["agent1"]["period"] == "20261101M"
    assert by_company["agent1"]["document"] == f"{S3}_calendar_DE_2026.pdf"
    ics = icalendar.Calendar.from_ical(_file(config, "demoair", f"{S3}_calendar_DE_2026.ics"))
    events = {str(e["UID"]): e for e in ics.walk("VEVENT")}
    remit = events["DE-20261101M-remittance-day@opencass.invalid"]
    assert int(remit["SEQUENCE"]) == 1 and remit.decoded("DTSTAMP") == T3
    assert str(remit.decoded("DTSTART")) == "2026-12-21"
    assert int(events["DE-20261001M-remittance-day@opencass.invalid"]["SEQUENCE"]) == 0
    # and once published, publishing again is quiet
    total = len(_events(config))
    assert _publish(config_dir, T3.replace(hour=12))[1] == 0
    assert len(_events(config)) == total


def test_a_change_agents_do_not_see_does_not_reach_them(config_dir: Path) -> None:
    _publish(config_dir, T1)
    edit_period(config_dir, "20260601M", airline_response_cutoff="2026-07-14T23:59:00")
    config, count = _publish(config_dir, T3)
    assert count == 2
    changed = [e for e in _events(config) if e["type"] == "calendar.changed"]
    assert sorted(str(e["company"]) for e in changed) == ["cassops", "demoair"]
    assert _outbox(config, "agent1") == _names(S1, "DE", 2026) + _names(S1, "DE", 2027)


def test_a_removed_period_is_a_change(config_dir: Path) -> None:
    _publish(config_dir, T1)
    path = config_dir / "calendars" / "US-2026.toml"
    text = path.read_text()
    path.write_text(text[: text.index('[[periods]]\ncode = "20260202F"')])
    config, count = _publish(config_dir, T3)
    assert count == 1
    (event,) = [e for e in _events(config) if e["type"] == "calendar.changed"]
    data = event["data"]
    assert isinstance(data, dict) and event["company"] == "usair"
    assert {c["period"] for c in data["changes"]} == {"20260202F"}
    assert all(c["new"] == "" for c in data["changes"]) and len(data["changes"]) == 9
    ics = _file(config, "usair", f"{S3}_calendar_US_2026.ics").decode()
    assert "20260202F" not in ics and "20260201F" in ics


def test_a_new_language_republishes_without_a_change_notice(config_dir: Path) -> None:
    _publish(config_dir, T1)
    path = config_dir / "participants" / "agent2.toml"
    path.write_text(path.read_text().replace('languages = ["en"]', 'languages = ["fr"]'))
    config, count = _publish(config_dir, T3)
    assert count == 2
    assert _outbox(config, "agent2") == _names(S3, "DE", 2026) + _names(S3, "DE", 2027)
    assert "Jour de versement" in _file(config, "agent2", f"{S3}_calendar_DE_2026.ics").decode()
    assert [e for e in _events(config) if e["type"] == "calendar.changed"] == []


def test_superseded_and_stray_calendar_files_are_removed(config_dir: Path) -> None:
    config = load(config_dir)
    outbox = config.gateway.mailboxes_dir / "agent1" / "outbox"
    outbox.mkdir(parents=True)
    stray = ["20200101T000000Z_calendar_DE_2026.pdf", "20200101T000000Z_calendar_DE_2019.csv"]
    other = "20261121T233000Z_validation_F000123.xml"
    for name in [*stray, other]:
        (outbox / name).write_bytes(b"old")
    _publish(config_dir, T1)
    assert _outbox(config, "agent1") == sorted(
        [other, *_names(S1, "DE", 2026), *_names(S1, "DE", 2027)]
    )
    # a year that leaves the configuration leaves the outboxes
    (config_dir / "calendars" / "DE-2027.toml").unlink()
    config, count = _publish(config_dir, T3)
    assert count == 0
    assert _outbox(config, "agent1") == sorted([other, *_names(S1, "DE", 2026)])
    with db_connect(config.gateway.database) as conn:
        years = conn.execute("SELECT DISTINCT year FROM calendar_publications WHERE country='DE'")
        assert [y for (y,) in years] == [2026]


async def test_publish_calendars_runs_off_the_event_loop(config_dir: Path) -> None:
    config = load(config_dir)
    store = await open_store(config.gateway.database)
    try:
        assert await publish_calendars(config, store, now=T1) == 9
        assert await publish_calendars(config, store, now=T2) == 0
    finally:
        await store.close()


async def test_gateway_publishes_at_start_and_after_a_reload(tmp_path: Path) -> None:
    config_dir = calendar_config(tmp_path)
    gateway = Gateway(config_dir, port=0, workers=1, clock=steady_clock())
    await gateway.startup()
    try:
        config = gateway.current_config()
        names = _outbox(config, "agent1")
        assert len([n for n in names if "_calendar_DE_" in n]) == 6
        before = {n: _file(config, "agent1", n) for n in names if "_calendar_DE_" in n}
        edit_period(config_dir, "20261101M", remittance_day="2026-12-21")
        assert await gateway.reload()
        changed = [e for e in _events(config) if e["type"] == "calendar.changed"]
        assert sorted(str(e["company"]) for e in changed) == sorted(DE_COMPANIES)
        # (the names may repeat when the reload falls in the same second: compare contents)
        after = {n: _file(config, "agent1", n) for n in _outbox(config, "agent1")}
        assert {n: b for n, b in after.items() if "_calendar_DE_" in n} != before
    finally:
        await gateway.shutdown()
