"""Agents' risk through the store and the commands: profiles after the final close, the report,
a failed review, the alerts raised once per level and period, the security's expiry."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from opencass.billing.risk import risk_check
from opencass.cli import main
from opencass.cli.samples import DEMO_AGENTS
from opencass.config.loader import load_config
from opencass.config.model import Config
from opencass.gateway.assess import assess
from opencass.store import open_store
from tests.kit.db import db_connect
from tests.kit.gateway import NOW, PERIOD_CODE, TODAY, demo_config, job, sample_bytes, spooled

AGENT1, AGENT2 = DEMO_AGENTS
D = Decimal


@pytest.fixture
async def closed(tmp_path: Path) -> AsyncIterator[Config]:
    config = demo_config(tmp_path)
    store = await open_store(config.gateway.database)
    path = await spooled(store, config, sample_bytes())
    assert assess(job(config, path)).outcome == "accepted"
    await store.close()
    args = [
        "period",
        "close",
        "--config",
        str(config.directory),
        "--country",
        "DE",
        "--period",
        PERIOD_CODE,
        "--final",
    ]
    assert main(args, clock=lambda: NOW) == 0
    yield config


def _report(config: Config, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, object]]:
    assert (
        main(
            ["risk", "report", "--config", str(config.directory), "--format", "json"],
            clock=lambda: NOW,
        )
        == 0
    )
    return {r["agent_code"]: r for r in json.loads(capsys.readouterr().out)}


def _expected(config: Config) -> dict[str, Decimal]:
    with db_connect(config.gateway.database) as conn:
        rows = conn.execute("SELECT agent_code, amount FROM remittance_expected").fetchall()
    return {a: D(x) for a, x in rows}


def _alerts(config: Config) -> list[tuple[str, str, str]]:
    with db_connect(config.gateway.database) as conn:
        return conn.execute(
            "SELECT company, json_extract(data, '$.level'), agent_code FROM events"
            " WHERE type = 'risk.alert' ORDER BY agent_code, json_extract(data, '$.level'), company"
        ).fetchall()


async def test_profiles_and_the_report_after_the_final_close(
    closed: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    owed = _expected(closed)
    profile = (
        closed.gateway.mailboxes_dir / "agent1" / "outbox" / f"DE_{PERIOD_CODE}_risk_{AGENT1}.txt"
    )
    text = profile.read_text()
    assert "Status:            A" in text and f"Exposure:          {owed[AGENT1]}" in text
    rows = _report(closed, capsys)
    assert set(rows) == {AGENT1, AGENT2}
    a1 = rows[AGENT1]
    assert a1["status"] == "A" and D(str(a1["exposure"])) == owed[AGENT1]
    # one period of history: its daily billing x (billing + remittance days) x 2
    period = next(p for p in closed.calendars["DE"] if p.code == PERIOD_CODE)
    days = (period.billing_to - period.billing_from).days + 1
    holding = (period.remittance_day - period.billing_from).days + 1
    assert D(str(a1["capacity"])) == (owed[AGENT1] / days * holding * 2).quantize(D("0.01"))
    assert (
        main(
            [
                "risk",
                "report",
                "--config",
                str(closed.directory),
                "--format",
                "pdf",
                "-o",
                str(closed.directory / "risk.pdf"),
            ],
            clock=lambda: NOW,
        )
        == 0
    )
    pdf = subprocess.run(
        ["pdftotext", "-layout", str(closed.directory / "risk.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert AGENT1 in pdf and AGENT2 in pdf


async def test_a_failed_review_makes_status_c_and_the_security_the_capacity(
    closed: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "risk",
                "review",
                "--config",
                str(closed.directory),
                "--country",
                "DE",
                "--agent",
                AGENT2,
                "--result",
                "fail",
            ],
            clock=lambda: NOW,
        )
        == 0
    )
    capsys.readouterr()
    row = _report(closed, capsys)[AGENT2]
    assert row["status"] == "C" and row["capacity"] == "5000.00"  # the demo's deposit


async def test_alerts_are_raised_once_per_level(closed: Config) -> None:
    owed = _expected(closed)[AGENT2]  # 847.75 unpaid
    participant = closed.directory / "participants" / "agent2.toml"
    # a deposit of 1000 and a failed review: 847.75 is 84.8 % of the capacity
    participant.write_text(
        participant.read_text().replace('amount = "5000.00"', 'amount = "1000.00"')
    )
    config = load_config(closed.directory)
    main(
        [
            "risk",
            "review",
            "--config",
            str(config.directory),
            "--country",
            "DE",
            "--agent",
            AGENT2,
            "--result",
            "fail",
        ],
        clock=lambda: NOW,
    )
    before = len(_alerts(config))
    assert risk_check(config, "DE", NOW) > 0
    mine = [a for a in _alerts(config) if a[2] == AGENT2]
    assert sorted({a[1] for a in mine}) == ["50", "75"] and owed * 100 / 1000 > 75
    # to the agent, the airline it owes and the operator
    assert {a[0] for a in mine} == {"agent2", "demoair", "cassops"}
    count = len(_alerts(config))
    for _ in range(3):  # checked again and again (every file, every hour): nothing new
        risk_check(config, "DE", NOW + timedelta(hours=1))
    assert len(_alerts(config)) == count and count > before


async def test_a_security_near_its_expiry_is_alerted_once(closed: Config) -> None:
    participant = closed.directory / "participants" / "agent1.toml"
    expiry = TODAY + timedelta(days=20)
    participant.write_text(
        participant.read_text().replace(
            'currency = "EUR"', f'currency = "EUR"\nexpires = {expiry.isoformat()}'
        )
    )
    config = load_config(closed.directory)
    risk_check(config, "DE", NOW)
    risk_check(config, "DE", NOW + timedelta(days=1))
    security = [a for a in _alerts(config) if a[1] == "security"]
    assert {a[0] for a in security} >= {"agent1", "cassops"} and len(
        {a[0] for a in security}
    ) == len(security)


async def test_the_operator_records_a_security(
    closed: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--config", str(closed.directory), "--country", "DE", "--agent", AGENT2]
    assert main(["risk", "review", *base, "--result", "fail"], clock=lambda: NOW) == 0
    assert (
        main(
            [
                "risk",
                "security",
                *base,
                "--kind",
                "guarantee",
                "--amount",
                "3000",
                "--expires",
                "2027-12-31",
            ],
            clock=lambda: NOW,
        )
        == 0
    )
    capsys.readouterr()
    row = _report(closed, capsys)[AGENT2]
    assert (
        row["capacity"] == "3000.00" and row["security"] == "guarantee 3000.00 EUR until 2027-12-31"
    )
    assert main(["risk", "security", *base, "--kind", "none"], clock=lambda: NOW) == 0
    capsys.readouterr()
    row = _report(closed, capsys)[AGENT2]
    assert row["capacity"] == "0.00" and row["security"] == ""
    assert (
        main(["risk", "security", *base, "--kind", "deposit", "--amount", "-5"], clock=lambda: NOW)
        == 2
    )
