"""Assessing spooled files: findings, participant rules, booking exactly once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from gatewaykit import demo_config, job, sample_bytes, spooled, with_lines

from opencass.config.model import Config
from opencass.gateway.assess import assess
from opencass.store import SqliteStore, open_store


@pytest.fixture
async def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    config = demo_config(tmp_path)
    store = await open_store(config.gateway.database)
    yield config, store
    await store.close()


async def _codes(store: SqliteStore, file_id: str = "F1") -> list[str]:
    return [f.code for f in await store.findings(file_id)]


async def test_valid_file_is_booked_whole(env: tuple[Config, SqliteStore]) -> None:
    config, store = env
    path = await spooled(store, config, sample_bytes())
    summary = assess(job(config, path))
    assert (summary.outcome, summary.format, summary.dialect) == ("accepted", "hot", "handoff")
    assert (summary.country, summary.period) == ("DE", "20261101M")
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
    config, store = env
    path = await spooled(store, config, sample_bytes())
    import sqlite3

    conn = sqlite3.connect(config.gateway.database)
    conn.execute("CREATE TABLE staging_F1 AS SELECT * FROM staging WHERE 0")
    conn.execute(
        "INSERT INTO staging_F1 VALUES ('F1', 99, 'AWM', 'DE', NULL, '997', '00000000', '', '',"
        " 'EUR', 0, 'json', '{}')"
    )
    conn.commit()
    assess(job(config, path))
    assert await store.ledger_count("F1") == 6  # the stale row was not booked
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "staging_F1" not in tables
    conn.close()


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
    cutoff = next(p for p in config.calendars["DE"] if p.code == "20261101M").upload_cutoff
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
