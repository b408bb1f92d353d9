"""End to end through the real gateway: an airline's billing file booked by the daemon, the final
close by the command, the bank's camt.053 dropped into the operator's inbox, the payment
recorded and matched by the daemon's intake, the events and the commands' exit codes."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

from opencass.cli.samples import DEMO_AGENTS
from opencass.config import load_config
from opencass.config.database import Database
from tests.kit.camt import Ntry, Tx, camt
from tests.kit.db import db_connect
from tests.kit.gateway import (
    CLOCK_ENV,
    PERIOD_CODE,
    TODAY,
    free_port,
    init_demo_store,
    sample_bytes,
)

AGENT1, AGENT2 = DEMO_AGENTS


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in CLOCK_ENV.items() if k != "OPENCASS_TEST_CRASH_AT"}
    return subprocess.run(
        [sys.executable, "-m", "opencass.cli", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _drop(inbox: Path, name: str, data: bytes) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / f".{name}.part").write_bytes(data)
    (inbox / f".{name}.part").rename(inbox / name)


def _wait_archived(db: Database, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = db_connect(db)
            try:
                rows = conn.execute("SELECT state FROM files").fetchall()
            finally:
                conn.close()
        except sqlite3.OperationalError:  # not created or not migrated yet
            rows = []
        if rows and len(rows) == count and all(r[0] == "archived" for r in rows):
            return
        time.sleep(0.1)
    raise AssertionError(f"{count} files not archived in {timeout}s")


def test_bank_statement_in_the_operator_inbox_pays_the_agent(tmp_path: Path) -> None:
    config = tmp_path / "config"
    init_demo_store(config, sftp_port=free_port(), today=TODAY)  # on the tests' backend
    data_dir = config / "data"
    db = load_config(config).gateway.database
    mailboxes = data_dir / "mailboxes"
    _drop(mailboxes / "demoair" / "inbox", "november.hot", sample_bytes())
    (mailboxes / "cassops" / "inbox").mkdir(parents=True)  # watched from the start
    log = tmp_path / "gateway.log"
    with log.open("ab") as out:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "opencass.cli", "serve", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=CLOCK_ENV,
        )
    try:
        _wait_archived(db, 1)
        closed = _cli(config, "period", "close", "--country", "DE", "--period", PERIOD_CODE,
                      "--final")  # fmt: skip
        assert closed.returncode == 0, closed.stderr
        with db_connect(db) as conn:
            expected = dict(
                conn.execute(
                    "SELECT agent_code, amount FROM remittance_expected WHERE period = ?",
                    (PERIOD_CODE,),
                ).fetchall()
            )
            due = conn.execute("SELECT DISTINCT due FROM remittance_expected").fetchone()[0]
        assert set(expected) == {AGENT1, AGENT2}
        owed = Decimal(expected[AGENT1])
        assert owed > 0
        statement = camt(
            "camt.053.001.08",
            [
                Ntry(
                    owed,
                    date.fromisoformat(due),
                    ref="BANK-1",
                    txs=(Tx(ustrd=(f"CASS DE {PERIOD_CODE} {AGENT1}",), ref="BANK-1-1"),),
                )
            ],
        )
        _drop(mailboxes / "cassops" / "inbox", "statement.xml", statement)
        _wait_archived(db, 2)
        with db_connect(db) as conn:
            file_row = conn.execute(
                "SELECT dialect, outcome FROM files WHERE company = 'cassops'"
            ).fetchone()
            payments = conn.execute(
                "SELECT agent_code, period, amount, source, matched_by FROM payments"
            ).fetchall()
            received = conn.execute(
                "SELECT company, agent_code FROM events WHERE type = 'payment.received'"
            ).fetchall()
        assert tuple(file_row) == ("camt.053", "accepted")
        assert payments == [(AGENT1, PERIOD_CODE, str(owed), "camt.053", "reference")]
        assert received == [("agent1", AGENT1)]
        assert list((mailboxes / "cassops" / "outbox").iterdir())  # the validation report

        status = _cli(config, "payment", "status", "--country", "DE", "--period", PERIOD_CODE)
        assert status.returncode == 0, status.stderr
        line = next(x for x in status.stdout.splitlines() if AGENT1 in x)
        assert "settled" in line and str(owed) in line
        # The command works while the daemon runs; bad input is exit 1, bad usage exit 2.
        bad = _cli(config, "payment", "record", "--country", "DE", "--agent", "99999999999",
                   "--amount", "1.00", "--date", due, "--period", PERIOD_CODE)  # fmt: skip
        assert bad.returncode == 1, bad.stderr
        usage = _cli(config, "payment", "record", "--country", "DE", "--agent", AGENT2)
        assert usage.returncode == 2
        ok = _cli(config, "payment", "record", "--country", "DE", "--agent", AGENT2,
                  "--amount", expected[AGENT2], "--date", due)  # fmt: skip
        assert ok.returncode == 0, ok.stderr
        assert "Recorded payment" in ok.stdout
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
