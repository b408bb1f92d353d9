"""The preliminary close (CASS reports Availability): by command and by the scheduler; a close
recorded by the command is not run again by the scheduler; a repeated close is refused."""

from __future__ import annotations

import argparse
import io
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opencass.billing.registry import milestone_jobs
from opencass.cli.period import cmd_period
from opencass.cli.samples import DEMO_AGENTS
from opencass.codecs.onerecord import decode_statement
from opencass.config.model import Config, Period
from opencass.gateway.assess import assess
from opencass.gateway.scheduler import CloseScheduler
from opencass.settlement.close import CloseResult, stamp_of
from opencass.store import SqliteStore, open_store
from tests.kit.db import db_connect
from tests.kit.gateway import PERIOD_CODE, demo_config, job, sample_bytes, spooled

AT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
STAMP = "20300102T030405Z"
AGENT1, AGENT2 = DEMO_AGENTS


@pytest.fixture
async def booked(tmp_path: Path) -> AsyncIterator[tuple[Config, SqliteStore]]:
    config = demo_config(tmp_path)
    store = await open_store(config.gateway.database)
    path = await spooled(store, config, sample_bytes())
    assert assess(job(config, path)).outcome == "accepted"
    yield config, store
    await store.close()


def _period(config: Config) -> Period:
    return next(p for p in config.calendars["DE"] if p.code == PERIOD_CODE)


def _close(config: Config, **kw: object) -> tuple[int, str]:
    values: dict[str, object] = {
        "config": "unused", "period_command": "close", "country": "DE", "period": PERIOD_CODE,
        "final": False, "force": False, "dry_run": False, "at": None,
    }  # fmt: skip
    values.update(kw)
    out = io.StringIO()
    code = cmd_period(argparse.Namespace(**values), config=config, now=AT, out=out)
    return code, out.getvalue()


def _names(config: Config, company: str) -> list[str]:
    outbox = config.gateway.mailboxes_dir / company / "outbox"
    return sorted(p.name for p in outbox.iterdir()) if outbox.exists() else []


def _db(config: Config) -> sqlite3.Connection:
    conn = db_connect(config.gateway.database)
    conn.row_factory = sqlite3.Row
    return conn


async def test_command_without_final_is_the_preliminary_close(
    booked: tuple[Config, SqliteStore],
) -> None:
    config, _ = booked
    code, text = _close(config)
    assert code == 0 and text.startswith("Preliminary close of DE")
    assert _names(config, "agent1") == [
        f"{STAMP}_prelim-statement_{PERIOD_CODE}_{AGENT1}.csv",
        f"{STAMP}_prelim-statement_{PERIOD_CODE}_{AGENT1}.xml",
    ]
    assert _names(config, "demoair") == [
        f"{STAMP}_prelim-settlement_{PERIOD_CODE}_997.csv",
        f"{STAMP}_prelim-statement_{PERIOD_CODE}_997.xml",
    ]  # no hand-off files before the final billing
    xml = config.gateway.mailboxes_dir / "agent1" / "outbox" / _names(config, "agent1")[1]
    assert decode_statement(xml.read_bytes()).total.to_eng_string() == "3902.26"
    with _db(config) as conn:
        (row,) = conn.execute("SELECT * FROM closes")
        assert (row["kind"], row["reference"], row["documents"]) == (
            "preliminary", AT.isoformat(), 6,
        )  # fmt: skip
        assert row["completed_at"]
        kinds = [r["type"] for r in conn.execute("SELECT type FROM events ORDER BY id")]
        closed = conn.execute("SELECT data FROM events WHERE type = 'period.closed'").fetchone()
    assert kinds.count("document.available") == 6 and kinds.count("period.closed") == 1
    assert '"stage": "preliminary"' in closed["data"]


async def test_repeated_close_is_refused_unless_forced(
    booked: tuple[Config, SqliteStore], capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = booked
    assert _close(config)[0] == 0
    assert _close(config)[0] == 2
    assert "preliminary close of DE" in capsys.readouterr().err
    assert _close(config, force=True)[0] == 0

    assert _close(config, final=True)[0] == 0
    final_stamp = stamp_of(_period(config).billing_available)
    first = {
        p.name: p.read_bytes()
        for p in (config.gateway.mailboxes_dir / "agent1" / "outbox").glob(f"{final_stamp}_*")
    }
    assert f"{final_stamp}_handoff_{PERIOD_CODE}_{AGENT1}.hot" in first
    code, _ = _close(config, final=True)
    assert code == 2 and "--force" in capsys.readouterr().err
    assert _close(config, final=True, force=True)[0] == 0  # same reference: same bytes
    again = {
        p.name: p.read_bytes()
        for p in (config.gateway.mailboxes_dir / "agent1" / "outbox").glob(f"{final_stamp}_*")
    }
    assert again == first
    with _db(config) as conn:
        kinds = {r["kind"]: r["completed_at"] for r in conn.execute("SELECT * FROM closes")}
    assert set(kinds) == {"preliminary", "final"} and all(kinds.values())


async def test_dry_run_records_no_close(booked: tuple[Config, SqliteStore]) -> None:
    config, _ = booked
    assert _close(config, dry_run=True)[0] == 0
    with _db(config) as conn:
        assert conn.execute("SELECT COUNT(*) FROM closes").fetchone()[0] == 0
    assert _names(config, "agent1") == []


class FakeFinal:
    def __init__(self) -> None:
        self.runs: list[str] = []

    def run(self, config: Config, country: str, period: str, reference: datetime) -> CloseResult:
        self.runs.append(period)
        return period  # type: ignore[return-value]

    def write(self, config: Config, result: CloseResult) -> list[Path]:
        return []


async def test_scheduler_runs_the_preliminary_close_once_at_reports_availability(
    booked: tuple[Config, SqliteStore],
) -> None:
    config, store = booked
    period = _period(config)
    now = period.reports_available + timedelta(minutes=5)
    fake = FakeFinal()
    sched = CloseScheduler(
        config, store, now=lambda: now, run=fake.run, write=fake.write, jobs=milestone_jobs()
    )
    await sched.start()
    await sched.idle()
    assert f"DE:{PERIOD_CODE}:final" in sched.jobs()  # the final one is still ahead
    assert f"DE:{PERIOD_CODE}:preliminary" not in sched.jobs()
    await sched.shutdown()
    stamp = stamp_of(period.reports_available)
    assert f"{stamp}_prelim-statement_{PERIOD_CODE}_{AGENT1}.xml" in _names(config, "agent1")
    rows = {(r["period"], r["kind"]): r for r in await store.closes()}
    assert rows[(PERIOD_CODE, "preliminary")]["completed_at"]
    assert rows[(PERIOD_CODE, "preliminary")]["documents"] == 6
    assert PERIOD_CODE not in fake.runs

    for p in (config.gateway.mailboxes_dir / "agent1" / "outbox").iterdir():
        p.unlink()
    sched = CloseScheduler(
        config, store, now=lambda: now, run=fake.run, write=fake.write, jobs=milestone_jobs()
    )
    await sched.start()
    await sched.idle()
    await sched.shutdown()
    assert _names(config, "agent1") == []  # completed: never again


async def test_scheduler_skips_a_preliminary_close_the_command_made(
    booked: tuple[Config, SqliteStore],
) -> None:
    config, store = booked
    assert _close(config)[0] == 0
    period = _period(config)
    now = period.reports_available + timedelta(minutes=5)
    fake = FakeFinal()
    sched = CloseScheduler(
        config, store, now=lambda: now, run=fake.run, write=fake.write, jobs=milestone_jobs()
    )
    await sched.start()
    await sched.idle()
    await sched.shutdown()
    stamp = stamp_of(period.reports_available)
    assert not any(n.startswith(stamp) for n in _names(config, "agent1"))
