"""Closing a period: from the booked ledger (real SQLite file) to documents in real outboxes."""

from __future__ import annotations

import argparse
import csv
import io
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from opencass.cli.period import cmd_period
from opencass.cli.samples import DEMO_AGENTS, sample_billing_file
from opencass.codecs import hot
from opencass.config.model import Config
from opencass.gateway.assess import assess
from opencass.model import AwbRecord, CorrectionRecord
from opencass.settlement import close as close_module
from opencass.settlement.netting import ConservationError, PeriodSettlement, settle
from opencass.settlement.tax import TaxEngine
from opencass.store import open_store
from tests.kit.db import db_connect
from tests.kit.gateway import (
    NOW,
    PERIOD_CODE,
    PERIOD_START,
    demo_config,
    job,
    sample_bytes,
    spooled,
)

AT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def _final_stamp() -> str:
    with tempfile.TemporaryDirectory() as d:
        period = next(p for p in demo_config(Path(d)).calendars["DE"] if p.code == PERIOD_CODE)
    return close_module.stamp_of(period.billing_available)


# These tests run the final close (hand-off files; dated at Billing Availability), again with
# --force where they close twice; the preliminary close is tests/test_preliminary_close.py's.
STAMP = _final_stamp()
AGENT1, AGENT2 = DEMO_AGENTS


@pytest.fixture
async def booked(tmp_path: Path) -> AsyncIterator[Config]:
    """The demo configuration with the demo sample booked for this month's period."""
    config = demo_config(tmp_path)
    store = await open_store(config.gateway.database)
    path = await spooled(store, config, sample_bytes())
    assert assess(job(config, path)).outcome == "accepted"
    await store.close()
    yield config


def _args(command: str, **kw: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "config": "unused",
        "period_command": command,
        "country": "DE",
        "period": PERIOD_CODE,
        "final": True,
        "force": True,
        "dry_run": False,
        "at": None,
    }
    values.update(kw)
    return argparse.Namespace(**values)


def _close(config: Config, **kw: object) -> tuple[int, str]:
    out = io.StringIO()
    code = cmd_period(_args("close", **kw), config=config, now=AT, out=out)
    return code, out.getvalue()


def _outbox(config: Config, company: str) -> Path:
    return config.gateway.mailboxes_dir / company / "outbox"


def _files(config: Config) -> dict[str, bytes]:
    root = config.gateway.mailboxes_dir
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "_" in p.name and ("handoff" in p.name or "ment_" in p.name)
    }


def _expected(config: Config) -> PeriodSettlement:
    """The netting core applied directly to the sample file's model (not via the ledger), with
    the tax the demo's German rules compute (19 % on the domestic AWB)."""
    f = sample_billing_file(PERIOD_START)
    tax = TaxEngine.for_config(config, config.countries["DE"], None)
    return settle([*(tax.apply(a) for a in f.awbs), *f.corrections], "EUR")


def _csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text("utf-8"))))


@pytest.mark.parametrize(("company", "code"), [("agent1", AGENT1), ("agent2", AGENT2)])
async def test_agent_gets_its_handoff_and_statement(
    booked: Config, company: str, code: str
) -> None:
    assert _close(booked)[0] == 0
    outbox = _outbox(booked, company)
    handoff = outbox / f"{STAMP}_handoff_{PERIOD_CODE}_{code}.hot"
    result = hot.decode(handoff.read_bytes())
    assert result.valid, [f.as_dict() for f in result.findings]
    assert result.file is not None
    header = result.file.header
    assert (header.country, header.airline_prefix, header.agent_code) == ("DE", "", code[:7])
    assert header.currency == "EUR" and header.period_start == PERIOD_START
    details = [r for r in result.file.records if isinstance(r, AwbRecord | CorrectionRecord)]
    assert details and len(details) == len(result.file.records)
    assert {r.agent_code for r in details} == {code}
    sample = sample_billing_file(PERIOD_START)
    theirs = sorted(
        r.awb_serial + r.record_id
        for r in sample.records
        if isinstance(r, AwbRecord | CorrectionRecord) and r.agent_code == code
    )
    assert sorted(r.awb_serial + r.record_id for r in details) == theirs

    statement = outbox / f"{STAMP}_statement_{PERIOD_CODE}_{code}.csv"
    rows = _csv_rows(statement)
    assert rows[0] == ["airline_prefix", "awb", "kind", "reference", "amount", "currency"]
    assert rows[-1][2] == "TOTAL"
    expected = next(a for a in _expected(booked).agents if a.agent_code == code)
    assert Decimal(rows[-1][4]) == expected.total
    items = [r for r in rows[1:] if r[2] not in ("SUBTOTAL", "VAT_BASE", "VAT", "TOTAL")]
    assert sum(Decimal(r[4]) for r in items) == expected.total
    assert len(items) == len(expected.items)


async def test_agent_hand_off_keeps_the_correction_pair(booked: Config) -> None:
    assert _close(booked)[0] == 0
    data = (_outbox(booked, "agent2") / f"{STAMP}_handoff_{PERIOD_CODE}_{AGENT2}.hot").read_bytes()
    result = hot.decode(data)
    assert result.file is not None
    assert [r.record_id for r in result.file.records] == ["AWM", "CCO", "CCR"]
    assert len(result.file.corrections) == 1
    assert result.file.trailer.awb_count == 1 and result.file.trailer.cca_count == 2


async def test_airline_settlement_is_the_sum_of_the_agents(booked: Config) -> None:
    assert _close(booked)[0] == 0
    outbox = _outbox(booked, "demoair")
    rows = _csv_rows(outbox / f"{STAMP}_settlement_{PERIOD_CODE}_997.csv")
    assert rows[0] == ["agent_code", "items", "amount", "currency"]
    assert rows[-1][0] == "TOTAL"
    expected = _expected(booked)
    agents_sum = sum((a.total for a in expected.agents), Decimal(0))
    assert Decimal(rows[-1][2]) == agents_sum == expected.airlines[0].total
    by_agent = {r[0]: Decimal(r[2]) for r in rows[1:-1] if r[0] not in ("VAT_BASE", "VAT")}
    assert by_agent == {a.agent_code: a.total for a in expected.agents}

    result = hot.decode((outbox / f"{STAMP}_handoff_{PERIOD_CODE}_997.hot").read_bytes())
    assert result.valid and result.file is not None
    assert result.file.header.airline_prefix == "997" and result.file.header.agent_code == ""
    assert result.file.trailer.total_count == 5  # 3 AWM + CCO + CCR


async def test_dry_run_writes_nothing(booked: Config) -> None:
    code, text = _close(booked, dry_run=True)
    assert code == 0
    assert "Conservation:" in text and "OK" in text and AGENT1 in text
    assert _files(booked) == {}


async def test_closing_twice_gives_identical_bytes(booked: Config) -> None:
    assert _close(booked)[0] == 0
    first = _files(booked)
    assert len(first) == 9  # hand-off, CSV and XML statement: per agent and for the airline
    for path in booked.gateway.mailboxes_dir.rglob(f"{STAMP}_*"):
        path.unlink()
    assert _close(booked)[0] == 0
    assert _files(booked) == first


async def test_final_close_is_dated_at_billing_availability(booked: Config) -> None:
    assert _close(booked, final=True)[0] == 0
    period = next(p for p in booked.calendars["DE"] if p.code == PERIOD_CODE)
    stamp = close_module.stamp_of(period.billing_available)
    path = _outbox(booked, "agent1") / f"{stamp}_handoff_{PERIOD_CODE}_{AGENT1}.hot"
    result = hot.decode(path.read_bytes())
    assert result.file is not None
    assert result.file.header.billing_date == period.billing_available.date()


async def test_withdrawn_records_leave_the_close(booked: Config) -> None:
    conn = db_connect(booked.gateway.database)
    conn.execute("UPDATE ledger SET withdrawn = 1 WHERE agent_code = ?", (AGENT2,))
    conn.commit()
    conn.close()
    assert _close(booked)[0] == 0
    rows = _csv_rows(_outbox(booked, "agent2") / f"{STAMP}_statement_{PERIOD_CODE}_{AGENT2}.csv")
    assert rows[1:] == [["", "", "TOTAL", "", "0.00", "EUR"]]
    expected = next(a for a in _expected(booked).agents if a.agent_code == AGENT1)
    airline = _csv_rows(_outbox(booked, "demoair") / f"{STAMP}_settlement_{PERIOD_CODE}_997.csv")
    assert Decimal(airline[-1][2]) == expected.total


async def test_broken_conservation_writes_nothing(
    booked: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(s: PeriodSettlement) -> None:
        raise ConservationError("forced")

    monkeypatch.setattr(close_module, "check_conservation", broken)
    assert _close(booked)[0] == 3
    assert _files(booked) == {}


async def test_unknown_period_or_country_exits_2(booked: Config) -> None:
    assert _close(booked, period="19990101M")[0] == 2
    assert _close(booked, country="XX")[0] == 2
    assert _files(booked) == {}


async def test_status_shows_milestones_and_bookings(booked: Config) -> None:
    out = io.StringIO()
    assert cmd_period(_args("status"), config=booked, out=out) == 0
    text = out.getvalue()
    assert PERIOD_CODE in text and "Billing Availability:" in text
    assert "Booked records:" in text and text.split("Booked records:")[1].split()[0] == "6"
    assert text.split("Files:")[1].split()[0] == "1"
    assert cmd_period(_args("status", period="19990101M"), config=booked, out=out) == 2


async def test_status_defaults_to_the_current_period(booked: Config) -> None:
    out = io.StringIO()
    assert cmd_period(_args("status", period=None), config=booked, out=out, now=NOW) == 0
    assert out.getvalue().startswith(f"Period {PERIOD_CODE} of DE (EUR)")
    out = io.StringIO()  # a month later, the next period is the current one
    later = NOW + timedelta(days=31)
    assert cmd_period(_args("status", period=None), config=booked, out=out, now=later) == 0
    assert not out.getvalue().startswith(f"Period {PERIOD_CODE} of DE (EUR)")


async def test_xml_statements_carry_the_same_totals(booked: Config) -> None:
    from opencass.codecs.onerecord import decode_statement

    assert _close(booked)[0] == 0
    expected = {s.agent_code: s.total for s in _expected(booked).agents}
    for company, code in (("agent1", DEMO_AGENTS[0]), ("agent2", DEMO_AGENTS[1])):
        (path,) = _outbox(booked, company).glob(f"{STAMP}_statement_{PERIOD_CODE}_{code}.xml")
        doc = decode_statement(path.read_bytes())
        assert (doc.party_kind, doc.party_code, doc.period) == ("agent", code, PERIOD_CODE)
        assert doc.total == expected[code] == sum(line.amount for line in doc.lines)
    (airline,) = _outbox(booked, "demoair").glob(f"{STAMP}_statement_{PERIOD_CODE}_997.xml")
    assert decode_statement(airline.read_bytes()).total == sum(expected.values())
