"""Assessing spooled files: findings, participant rules, booking exactly once."""

from __future__ import annotations

import dataclasses
from contextlib import closing
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from opencass.config.model import Config, CountryState
from opencass.gateway.assess import assess
from opencass.store import SqliteStore
from tests.kit.db import db_connect
from tests.kit.gateway import (
    NOW,
    PERIOD_CODE,
    PERIOD_START,
    big_billing_file,
    job,
    sample_bytes,
    spooled,
    with_lines,
)


async def _codes(store: SqliteStore, file_id: str = "F1") -> list[str]:
    return [f.code for f in await store.findings(file_id)]


async def test_valid_file_is_booked_whole(env: tuple[Config, SqliteStore]) -> None:
    config, store = env
    path = await spooled(store, config, sample_bytes())
    summary = assess(job(config, path))
    assert (summary.outcome, summary.format, summary.dialect) == ("accepted", "hot", "handoff")
    assert (summary.country, summary.period) == ("DE", PERIOD_CODE)
    assert await store.ledger_count("F1") == 6  # 3 AWM, 1 AW1, CCO + CCR
    row = await store.get_file("F1")
    assert row is not None and row.state == "assessed" and row.counts["booked"] == 6
    assert await _codes(store) == []


async def test_assessing_twice_books_once(env: tuple[Config, SqliteStore]) -> None:
    config, store = env
    path = await spooled(store, config, sample_bytes())
    assert assess(job(config, path)).moved
    again = assess(job(config, path))
    assert not again.moved
    assert await store.ledger_count() == 6


async def test_staging_left_by_a_crashed_attempt_is_dropped(
    env: tuple[Config, SqliteStore],
) -> None:
    from opencass.store.booking import connect_for_booking, stage

    config, store = env
    path = await spooled(store, config, sample_bytes())
    stale = ("F1", 99, "AWM", "DE", None, "997", "00000000", "", "", "EUR", 0, "json", "{}")
    db = config.gateway.database
    with closing(connect_for_booking(db)) as conn:
        stage(conn, "F1", 0, [stale], temp=False)  # a slice's staging, left by a crash
        if isinstance(db, Path):  # and a staging table of the layout before staging files
            conn.execute("CREATE TABLE staging_F1_1 AS SELECT * FROM staging WHERE 0")
            staging = db.parent / "intake-staging"
            assert [p.name for p in staging.iterdir()] == ["F1_0.db"]
    assess(job(config, path))
    assert await store.ledger_count("F1") == 6  # the stale row was not booked
    if isinstance(db, Path):
        assert list(staging.iterdir()) == []  # nor is any staging file left after the commit
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        sql = "SELECT tablename FROM pg_tables"
    with closing(db_connect(db)) as conn:
        tables = {r[0].lower() for r in conn.execute(sql)}
    assert not any(t.startswith("staging_f1") for t in tables)


def test_staging_files_are_cleared_before_the_daemon_serves(tmp_path: Path) -> None:
    """A crash between a booking's commit and its cleanup leaves a staging file: the daemon
    deletes every one before it serves (``Intake.reconcile``)."""
    from opencass.store.booking import clear_staging, connect_for_booking, stage
    from opencass.store.connect import migrate_sync

    database = tmp_path / "data" / "opencass.db"
    database.parent.mkdir()
    with closing(connect_for_booking(database)) as conn:
        migrate_sync(conn)
        stage(conn, "F9", 0, [], temp=False)
        stage(conn, "F9", 1, [], temp=False)
    assert len(list((tmp_path / "data" / "intake-staging").iterdir())) == 2
    assert clear_staging(database) == 2
    assert list((tmp_path / "data" / "intake-staging").iterdir()) == []
    assert clear_staging(database) == 0


async def test_unknown_agent_rejects_only_its_record(env: tuple[Config, SqliteStore]) -> None:
    config, store = env
    data = sample_bytes()
    line = data.decode().splitlines()[3]  # AWM of agent2
    unknown = "1111111" + "000"
    unknown += str(int(unknown) % 7)
    path = await spooled(store, config, with_lines(data, {3: line[:21] + unknown + line[32:]}))
    summary = assess(job(config, path))
    assert summary.outcome == "partially_accepted"
    assert await _codes(store) == ["AGENT_UNKNOWN"]
    assert (await store.findings("F1"))[0].line == 4
    assert await store.ledger_count("F1") == 5


async def test_all_or_nothing_participant_gets_nothing_booked(
    env: tuple[Config, SqliteStore],
) -> None:
    config, store = env
    data = sample_bytes()
    line = data.decode().splitlines()[3]
    path = await spooled(store, config, with_lines(data, {3: line[:56] + "X" + line[57:]}))
    summary = assess(job(config, path, all_or_nothing=True))
    assert summary.outcome == "rejected"
    assert await store.ledger_count("F1") == 0
    assert "FIELD_NOT_NUMERIC" in await _codes(store)


@pytest.mark.parametrize(
    ("company", "code"),
    [("agent1", "SUBMITTER_NOT_AIRLINE"), ("cassops", "SUBMITTER_NOT_AIRLINE")],
)
async def test_only_airlines_submit(
    env: tuple[Config, SqliteStore], company: str, code: str
) -> None:
    config, store = env
    path = await spooled(store, config, sample_bytes(), company=company)
    summary = assess(job(config, path, company=company))
    assert summary.outcome == "rejected"
    assert code in await _codes(store)
    assert await store.ledger_count() == 0


async def test_prefix_country_currency_and_period_rules(env: tuple[Config, SqliteStore]) -> None:
    config, store = env
    data = sample_bytes()
    header = data.decode().splitlines()[0]
    # another airline's prefix, a foreign currency and a period not in the calendar
    bad = header[:5] + "998" + "300101" + "300131" + header[20:28] + "USD" + header[31:]
    path = await spooled(store, config, with_lines(data, {0: bad}))
    assess(job(config, path))
    codes = await _codes(store)
    assert {"PREFIX_NOT_OWNED", "CURRENCY_NOT_OPERATION", "PERIOD_UNKNOWN"} <= set(codes)
    assert await store.ledger_count() == 0


async def test_period_closed_after_upload_cutoff(env: tuple[Config, SqliteStore]) -> None:
    config, store = env
    path = await spooled(store, config, sample_bytes())
    cutoff = next(p for p in config.calendars["DE"] if p.code == PERIOD_CODE).upload_cutoff
    summary = assess(job(config, path, now=cutoff + timedelta(minutes=1)))
    assert summary.outcome == "rejected"
    assert await _codes(store) == ["PERIOD_CLOSED"]


async def test_sandbox_books_nothing_but_judges_the_same(env: tuple[Config, SqliteStore]) -> None:
    config, store = env
    path = await spooled(store, config, sample_bytes(), sandbox=True)
    summary = assess(job(config, path, sandbox=True))
    assert summary.outcome == "accepted"
    assert await store.ledger_count() == 0


async def test_garbage_is_rejected_with_a_finding(env: tuple[Config, SqliteStore]) -> None:
    config, store = env
    path = await spooled(store, config, bytes(range(256)) * 4)
    assert assess(job(config, path)).outcome == "rejected"
    assert await _codes(store) == ["FORMAT_UNKNOWN"]


async def _sliced(
    config: Config, store: SqliteStore, data: bytes, file_id: str
) -> tuple[str, list[tuple[str, int | None]], int]:
    from opencass.gateway.assess import assess_merge, assess_slice, plan_slices

    path = await spooled(store, config, data, file_id=file_id, name=f"{file_id}.hot")
    j = job(config, path, file_id)
    pieces = plan_slices(j, 2, min_bytes=0)
    assert len(pieces) == 2
    summary = assess_merge(j, pieces, [assess_slice(j, k, p) for k, p in enumerate(pieces)])
    found = [(f.code, f.line) for f in await store.findings(file_id)]
    return summary.outcome, found, await store.ledger_count(file_id)


async def _whole(
    config: Config, store: SqliteStore, data: bytes, file_id: str
) -> tuple[str, list[tuple[str, int | None]], int]:
    path = await spooled(store, config, data, file_id=file_id, name=f"{file_id}.hot")
    summary = assess(job(config, path, file_id))
    found = [(f.code, f.line) for f in await store.findings(file_id)]
    return summary.outcome, found, await store.ledger_count(file_id)


async def test_sliced_assessment_equals_whole(env: tuple[Config, SqliteStore]) -> None:
    config, store = env
    data = big_billing_file()
    lines = data.decode().splitlines()
    n = len(lines)
    # A duplicate across the slices, a correction pair split across them, a bad amount.
    cco = next(i for i, line in enumerate(lines) if line.startswith("CCO"))
    last_awm = max(i for i, line in enumerate(lines) if line.startswith("AWM"))
    lines[last_awm] = lines[1]  # the first AWM again near the end (the counts stay right)
    lines.insert(n - 3, lines.pop(cco + 1))  # its CCR far from its CCO
    lines[3] = lines[3][:56] + "X" + lines[3][57:]
    edited = ("\n".join(lines) + "\n").encode()
    whole = await _whole(config, store, edited, "W1")
    # the same AWBs are assessed again below: withdraw W1 first (an AWB is billed once)
    with closing(db_connect(config.gateway.database)) as conn, conn:
        conn.execute("UPDATE ledger SET withdrawn = 1 WHERE file_id = 'W1'")
    sliced = await _sliced(config, store, edited, "S1")
    assert whole == sliced
    outcome, found, booked = sliced
    codes = {code for code, _ in found}
    assert outcome == "partially_accepted" and {"AWB_DUPLICATE", "FIELD_NOT_NUMERIC"} <= codes
    assert "CORRECTION_ORIGINAL_MISSING" not in codes
    assert booked == len(lines) - 2 - 2  # all but header, trailer, the duplicate, the bad one


async def test_a_country_not_live_takes_sandbox_files_only(env: tuple[Config, SqliteStore]) -> None:
    config, store = env
    go_live = NOW + timedelta(days=1)
    de = dataclasses.replace(config.countries["DE"], state=CountryState.SANDBOX, go_live=go_live)
    waiting = dataclasses.replace(config, countries={"DE": de})
    path = await spooled(store, waiting, sample_bytes())
    summary = assess(job(waiting, path))
    assert summary.outcome == "rejected" and await _codes(store) == ["COUNTRY_NOT_LIVE"]
    assert await store.ledger_count() == 0
    sandboxed = await spooled(store, waiting, sample_bytes(), file_id="F2", sandbox=True)
    assert assess(job(waiting, sandboxed, "F2", sandbox=True)).outcome == "accepted"
    # once the go-live passes (the injected clock), the same file is booked
    later = await spooled(store, waiting, sample_bytes(), file_id="F3")
    assert assess(job(waiting, later, "F3", now=go_live)).outcome == "accepted"
    assert await store.ledger_count("F3") == 6


async def test_a_record_whose_tax_differs_from_the_rules_gets_a_warning(
    env: tuple[Config, SqliteStore],
) -> None:
    """The demo's German rules give 19 % on the domestic AWB's charges (669.52) and on the
    registered agent's commission (32.90); the file carries 600.00 and 32.90: one warning on
    the airline's side, with both amounts, and the record is still booked as billed."""
    from opencass.cli.samples import sample_billing_file
    from opencass.codecs import hot
    from opencass.model import AwbRecord

    config, store = env
    f = sample_billing_file(PERIOD_START)
    records = tuple(
        dataclasses.replace(
            r, vat_indicator="Y", tax_due_airline=Decimal("600.00"), tax_due_agent=Decimal("32.90")
        )
        if isinstance(r, AwbRecord) and r.awb_serial == "62144154"
        else r
        for r in f.records
    )
    path = await spooled(store, config, hot.encode(dataclasses.replace(f, records=records)))
    summary = assess(job(config, path))
    assert summary.outcome == "accepted"
    (found,) = await store.findings("F1")
    assert (found.code, found.severity, found.line, found.field) == (
        "TAX_MISMATCH", "warning", 2, "tax_due_airline",
    )  # fmt: skip
    assert "600.00" in found.message and "669.52" in found.message
    assert await store.ledger_count("F1") == 6
