"""``opencass store copy``: an installation's SQLite store moved to PostgreSQL (and back), every
row checked; the copy continues where the source stopped."""

from __future__ import annotations

import argparse
import contextlib
import io
import sqlite3
from pathlib import Path

import pytest

from opencass.billing.closing import run_close
from opencass.cli.store import cmd_store
from opencass.config.model import Config
from opencass.events import Event, EventType
from opencass.gateway.assess import assess
from opencass.store import open_store
from opencass.store.connect import PgUrl, connect_sync
from opencass.store.copy import store_digest
from tests.kit.gateway import PERIOD_CODE, demo_config, job, sample_bytes, spooled
from tests.kit.pg import pg_server


@pytest.fixture
async def installation(tmp_path: Path) -> Config:
    """A SQLite installation with a booked file, audit events and a final close."""
    config = demo_config(tmp_path, backend="sqlite")
    store = await open_store(config.gateway.database)
    path = await spooled(store, config, sample_bytes())
    assert assess(job(config, path)).outcome == "accepted"
    await store.audit("login_ok", company="demoair", user="demoair")
    await store.record_events(
        [Event(EventType.FILE_ACCEPTED, f"k{n}", "accepted", company="demoair") for n in range(3)]
    )
    await store.close()
    period = next(p for p in config.calendars["DE"] if p.code == PERIOD_CODE)
    run_close(config, "DE", PERIOD_CODE, period.billing_available)
    return config


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    command, *rest = argv
    values = {"config": "unused", "store_command": command, "source": None, "target": None}
    for flag, value in zip(rest[::2], rest[1::2], strict=True):
        values[{"--from": "source", "--to": "target"}[flag]] = value
    return cmd_store(argparse.Namespace(**values), out, err), out.getvalue(), err.getvalue()


def _digest(database: Path | PgUrl) -> object:
    with contextlib.closing(connect_sync(database)) as conn:
        return store_digest(conn)


def test_copy_to_postgresql_and_back_keeps_every_row(installation: Config, tmp_path: Path) -> None:
    source = installation.gateway.database
    assert isinstance(source, Path)
    target = pg_server().new_database(empty=True)
    code, out, err = _run("copy", "--from", f"sqlite://{source}", "--to", target)
    assert code == 0, err
    before = _digest(source)
    assert before.rows["ledger"] > 0 and before.rows["events"] > 0 and before.rows["audit"] > 0
    assert f"ledger DE {PERIOD_CODE}: {before.ledger[('DE', PERIOD_CODE)][0]} rows" in out
    assert _digest(PgUrl(target)) == before
    # a second copy into it is refused: it is not empty
    code, _, err = _run("copy", "--from", str(source), "--to", target)
    assert code == 1 and "not empty" in err
    # back to a new SQLite file: the same rows again
    back = tmp_path / "back.db"
    assert _run("copy", "--from", target, "--to", f"sqlite://{back}")[0] == 0
    assert _digest(back) == before


def test_the_copy_continues_the_numbering_and_stays_append_only(
    installation: Config,
) -> None:
    source = installation.gateway.database
    target = pg_server().new_database(empty=True)
    assert _run("copy", "--from", str(source), "--to", target)[0] == 0
    with contextlib.closing(connect_sync(PgUrl(target))) as conn:
        last = conn.execute("SELECT MAX(seq) FROM audit").fetchone()[0]
        cur = conn.execute("INSERT INTO audit (at, event) VALUES ('2026-11-19T00:00:00Z', 'x')")
        assert cur.lastrowid == last + 1
        last_event = conn.execute("SELECT MAX(id) FROM events").fetchone()[0]
        cur = conn.execute(
            "INSERT INTO events (key, at, type, summary) VALUES ('k-new', 'now', 't', 's')"
        )
        assert cur.lastrowid == last_event + 1
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit")


def test_a_differing_row_is_seen_by_the_check(installation: Config) -> None:
    source = installation.gateway.database
    target = pg_server().new_database(empty=True)
    assert _run("copy", "--from", str(source), "--to", target)[0] == 0
    with contextlib.closing(connect_sync(PgUrl(target))) as conn:
        conn.execute("UPDATE ledger SET payload = payload || ' ' WHERE id = 1")
    after = _digest(PgUrl(target))
    assert after != _digest(source)
    assert after.rows == _digest(source).rows  # same counts: the digest tells them apart


def test_postgresql_refuses_an_awb_booked_twice(installation: Config) -> None:
    """The database's own guarantee behind AWB_ALREADY_BILLED: a second original of an AWB
    not withdrawn is refused (a copy of such a store too); withdrawn, it may be billed again."""
    source = installation.gateway.database
    target = pg_server().new_database(empty=True)
    assert _run("copy", "--from", str(source), "--to", target)[0] == 0
    twice = (
        "INSERT INTO ledger (file_id, line, record_type, country, period, airline_prefix,"
        " awb_serial, payload_format, payload) SELECT file_id, line, record_type, country,"
        " period, airline_prefix, awb_serial, payload_format, payload FROM ledger"
        " WHERE record_type = 'AWM' AND withdrawn = 0 LIMIT 1"
    )
    with contextlib.closing(connect_sync(PgUrl(target))) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="ledger_billed_once"):
            conn.execute(twice)
        conn.execute("UPDATE ledger SET withdrawn = 1 WHERE id = 1")
        assert conn.execute(twice.replace("withdrawn = 0", "id = 1")).rowcount == 1
    # a SQLite store holding such a pair is not copied: the target stays empty
    with contextlib.closing(connect_sync(source)) as conn:
        conn.execute(twice)
    again = pg_server().new_database(empty=True)
    code, _, err = _run("copy", "--from", str(source), "--to", again)
    assert code == 1 and "ledger_billed_once" in err, err
    with contextlib.closing(connect_sync(PgUrl(again))) as conn:
        assert conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0] == 0
