"""Kill -9 between every two intake steps, restart: every file processed exactly once."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opencass.config import load_config
from opencass.config.database import Database
from tests.kit.db import db_connect
from tests.kit.gateway import CLOCK_ENV, TODAY, free_port, init_demo_store, sample_bytes

STEPS = ["claimed", "recorded", "assessed", "answered", "answered-recorded", "archived"]
SLICED = "sliced"  # between the parallel slices of a large file and their merge


def _serve(config: Path, crash_at: str | None, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in CLOCK_ENV.items() if k != "OPENCASS_TEST_CRASH_AT"}
    if crash_at:
        env["OPENCASS_TEST_CRASH_AT"] = crash_at
    with log.open("ab") as out:  # a file, not a pipe: nothing can block on reading it
        return subprocess.Popen(
            [sys.executable, "-m", "opencass.cli", "serve", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


def _wait_archived(db: Database, timeout: float = 60) -> list[tuple[str, str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            conn = db_connect(db)
            try:
                rows = conn.execute("SELECT id, state FROM files").fetchall()
            except sqlite3.OperationalError:  # not made yet
                rows = []
            finally:
                conn.close()
            if rows and all(state == "archived" for _, state in rows):
                return rows
        time.sleep(0.1)
    raise AssertionError(f"files not archived in {timeout}s")


@pytest.mark.parametrize("step", [*STEPS, SLICED])
def test_kill_at_each_step_then_restart(tmp_path: Path, step: str) -> None:
    config = tmp_path / "config"
    init_demo_store(config, sftp_port=free_port(), today=TODAY)  # on the tests' backend
    database = load_config(config).gateway.database
    if step == SLICED:  # make the small sample a "large" file, read in two slices
        toml = config / "gateway.toml"
        text = re.sub(r"(?m)^parallel_min_bytes = .*$", "parallel_min_bytes = 1", toml.read_text())
        toml.write_text(text)
    data_dir = config / "data"
    inbox = data_dir / "mailboxes" / "demoair" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / ".drop.part").write_bytes(sample_bytes())
    (inbox / ".drop.part").rename(inbox / "november.hot")

    logfile = tmp_path / "gateway.log"
    crashed = _serve(config, step, logfile)
    crashed.wait(timeout=90)
    assert crashed.returncode == -signal.SIGKILL, logfile.read_text()  # it died at that step

    survivor = _serve(config, None, logfile)
    try:
        rows = _wait_archived(database)
    finally:
        survivor.send_signal(signal.SIGTERM)
        survivor.wait(timeout=60)
    log = logfile.read_text()
    assert survivor.returncode == 0, log
    assert len(rows) == 1  # one file, recorded once
    outbox = data_dir / "mailboxes" / "demoair" / "outbox"
    assert len(list(outbox.glob("*_validation_*.xml"))) == 1
    assert len(list(outbox.glob("*_validation_*.txt"))) == 1
    assert len(list(outbox.glob("*_receipt_*.xml.sig"))) == 1
    assert not list(outbox.glob(".*"))  # no temp files left behind
    conn = db_connect(database)
    try:
        assert tuple(conn.execute("SELECT COUNT(*) FROM ledger").fetchone()) == (6,)
        assert tuple(conn.execute("SELECT outcome FROM files").fetchone()) == ("accepted",)
    finally:
        conn.close()
    assert list(inbox.iterdir()) == []
    assert not list((data_dir / "spool").rglob("F*"))
    assert any(
        json.loads(line).get("event") == "gateway_ready"
        for line in log.splitlines()
        if line.startswith("{")
    )
