"""A final close killed (SIGKILL) at an arbitrary moment and run again gives exactly what a close
that was never interrupted gives: the same documents, byte for byte, the same invoice numbers,
no temporary file published, the close recorded complete once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from calendar import monthrange
from contextlib import closing
from pathlib import Path

import pytest

from bench.generate import Spec, header, records
from opencass.billing.closelock import lock_path
from opencass.cli.samples import DEMO_AGENTS
from opencass.codecs.hot.writer import HotWriter
from opencass.config import load_config
from opencass.config.database import PgUrl
from opencass.model import AwbRecord, CorrectionRecord, Dialect, OtherChargesRecord
from opencass.store.connect import connect_sync, migrate_sync
from tests.kit.db import db_connect
from tests.kit.gateway import CLOCK_ENV, PERIOD_CODE, PERIOD_START, TODAY, init_demo_store

PERIOD_END = PERIOD_START.replace(day=monthrange(PERIOD_START.year, PERIOD_START.month)[1])
SPEC = Spec(
    awbs=4000, agent_list=tuple(DEMO_AGENTS), period_start=PERIOD_START, period_end=PERIOD_END
)


def _demo(root: Path) -> Path:
    """The demo configuration with a generated billing file of Demo Air booked (the store on
    the tests' backend)."""
    config_dir = root / "config"
    init_demo_store(config_dir, today=TODAY)
    config = load_config(config_dir)
    config.gateway.data_dir.mkdir(parents=True, exist_ok=True)
    conn = connect_sync(config.gateway.database)
    migrate_sync(conn)
    now = "2026-01-01T00:00:00+00:00"
    conn.execute(
        "INSERT INTO files (id, company, name, sandbox, sha256, size, received_at, spool_path,"
        " state, country, period, updated_at) VALUES ('F1', 'demoair', 'b.hot', 0, 'h', 0, ?,"
        " '', 'archived', 'DE', ?, ?)",
        (now, PERIOD_CODE, now),
    )
    w = HotWriter(header(SPEC, "997", Dialect.HANDOFF), Dialect.HANDOFF)
    rows = []
    for n, rec in enumerate(records(SPEC, "997", SPEC.awbs, 1), start=2):
        agent = currency = reference = ""
        if isinstance(rec, AwbRecord | CorrectionRecord):
            agent, currency = rec.agent_code, rec.currency
        if isinstance(rec, CorrectionRecord | OtherChargesRecord):
            reference = rec.reference
        rows.append(
            ("F1", n, rec.record_id, "DE", PERIOD_CODE, rec.airline_prefix, rec.awb_serial,
             agent, reference, currency, 0, "hot-handoff", w.line(rec).rstrip("\n"))
        )  # fmt: skip
    conn.executemany(
        "INSERT INTO ledger (file_id, line, record_type, country, period, airline_prefix,"
        " awb_serial, agent_code, reference, currency, late, payload_format, payload)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.close()
    return config_dir


def _close(config_dir: Path, *, quiet: bool = False) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "opencass.cli", "period", "close", "--config", str(config_dir)]
    argv += ["--country", "DE", "--period", PERIOD_CODE, "--final"]
    err = subprocess.DEVNULL if quiet else subprocess.PIPE
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=CLOCK_ENV)


def _finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err.decode(errors="replace")


def _renderers() -> int:
    """Processes of fork servers and their pool workers on this machine."""
    count = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            count += b"multiprocessing.forkserver" in cmdline.read_bytes()
        except OSError:
            continue
    return count


def _outputs(config_dir: Path) -> dict[str, bytes]:
    root = load_config(config_dir).gateway.mailboxes_dir
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "_calendar_" not in p.name  # (dot-files count: none may be left)
    }


def _closes(config_dir: Path) -> list[tuple[str, str | None]]:
    database = load_config(config_dir).gateway.database
    with closing(db_connect(database)) as conn:
        return conn.execute("SELECT kind, completed_at FROM closes").fetchall()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """The close run once without interruption (the same for every kill point): its
    configuration and every file it wrote."""
    clean = _demo(tmp_path_factory.mktemp("clean"))
    code, err = _finish(_close(clean))
    assert code == 0, err
    expected = _outputs(clean)
    assert any("_invoice_" in name for name in expected)
    assert any("_handoff_" in name for name in expected)
    return clean, expected


@pytest.mark.parametrize("kill_after", [0.3, 1.0, 1.6, 2.2])
def test_close_killed_and_run_again_equals_an_uninterrupted_close(
    tmp_path: Path, kill_after: float, uninterrupted: tuple[Path, dict[str, bytes]]
) -> None:
    clean, expected = uninterrupted
    crashed = _demo(tmp_path / "crashed")
    for key in ("pdf_signing_cert.pem", "pdf_signing_key.pem"):  # signed with the same key
        shutil.copyfile(clean / "keys" / key, crashed / "keys" / key)
    before = _renderers()
    victim = _close(crashed, quiet=True)
    time.sleep(kill_after)
    if victim.poll() is None:
        os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=60)
    # no builder or renderer of the killed close lives on (they would still write files)
    deadline = time.monotonic() + 10
    while _renderers() > before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _renderers() <= before
    code, err = _finish(_close(crashed))
    assert code == 0, err
    assert _outputs(crashed) == expected  # hidden temporaries of the killed run included
    (kind, completed), *more = _closes(crashed)
    assert kind == "final" and completed is not None and not more


def _wait_until_holding(proc: subprocess.Popen[bytes], config_dir: Path) -> None:
    """Until ``proc`` holds the final close's lock (its pid in the lock file, read without
    locking it: a test taking the lock to look would race the close; on PostgreSQL the
    session lock's holder row)."""
    config = load_config(config_dir)
    path = lock_path(config.gateway.data_dir, "DE", PERIOD_CODE, "final")
    for _ in range(3000):
        if _holder_pid(config.gateway.database, path) == proc.pid:
            return
        assert proc.poll() is None, "the first close ended before taking its lock"
        time.sleep(0.02)
    raise AssertionError("the first close never took its lock")


def _holder_pid(database: object, path: Path) -> object:
    if isinstance(database, PgUrl):
        from opencass.store.cluster import lock_holder

        return lock_holder(database, f"close:DE:{PERIOD_CODE}:final").get("pid")
    try:
        return json.loads(path.read_text() or "{}").get("pid")
    except (FileNotFoundError, ValueError):
        return None


def test_two_closes_at_once_one_runs_the_other_is_refused(tmp_path: Path) -> None:
    """Defect: two final closes 0.2 s apart deleted each other's temporaries and lost the
    ``closes`` row. Now the second is refused (exit 2, naming the first), the first writes
    everything, and the record of the issued close survives."""
    config_dir = _demo(tmp_path)
    outboxes = load_config(config_dir).gateway.mailboxes_dir
    first = _close(config_dir)
    _wait_until_holding(first, config_dir)  # not a fixed delay: a loaded machine may be slow
    second = _close(config_dir)
    seen_hidden: set[str] = set()
    while first.poll() is None or second.poll() is None:  # what participants could list
        seen_hidden |= {p.name for p in outboxes.rglob(".*")}
        time.sleep(0.02)
    (code1, err1), (code2, err2) = _finish(first), _finish(second)
    assert code1 == 0, err1
    assert code2 == 2, err2
    assert "is running" in err2 and "opencass period close" in err2 and str(first.pid) in err2
    assert seen_hidden == set()  # temporaries are staged outside the mailboxes
    assert _closes(config_dir) == [("final", _closes(config_dir)[0][1])]
    assert _closes(config_dir)[0][1] is not None
    third = _close(config_dir)  # the issued close is on record: a plain re-run is refused
    code3, err3 = _finish(third)
    assert code3 == 2 and "was completed" in err3
    staging = load_config(config_dir).gateway.data_dir / "staging"
    assert not staging.exists() or list(staging.iterdir()) == []
