"""The close's ledger snapshot: the booked rows of a period as of one instant, whatever is
booked or withdrawn after it (a real store, real bookings, a real withdrawal)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from opencass.config.model import Config
from opencass.gateway.assess import assess
from opencass.store import SqliteStore
from opencass.store.connect import connect_sync
from opencass.store.ledger import (
    LedgerRows,
    PeriodCounts,
    _as_of,
    airline_rows_sql,
    booked_rows,
    period_counts,
    rows_of_agents,
    rows_of_airline,
    take_snapshot,
)
from opencass.store.tx import transaction
from opencass.store.withdrawals import withdraw_file
from tests.kit.db import add_request_file
from tests.kit.gateway import PERIOD_CODE, job, sample_bytes, spooled


async def _book(store: SqliteStore, config: Config, file_id: str, name: str) -> None:
    path = await spooled(store, config, sample_bytes(), file_id=file_id, name=name)
    summary = assess(job(config, path, file_id))
    assert summary.outcome == "accepted", summary


def _withdraw(config: Config, file_id: str) -> None:
    with contextlib.closing(connect_sync(config.gateway.database)) as conn, transaction(conn):
        add_request_file(conn, "W1", "demoair")
        withdraw_file(
            conn, file_id=file_id, request_id="W1", company="demoair", user="demoair",
            at="2026-11-18T10:00:00Z", country="DE", period=PERIOD_CODE, reason="",
        )  # fmt: skip


async def test_a_snapshot_keeps_the_rows_it_saw(config: Config, store: SqliteStore) -> None:
    db = config.gateway.database
    await _book(store, config, "F1", "first.hot")
    before = list(booked_rows(db, "DE", PERIOD_CODE))
    snapshot = take_snapshot(db, "DE", PERIOD_CODE)
    # After the snapshot: the file is withdrawn, and the same bytes booked afresh.
    _withdraw(config, "F1")
    await _book(store, config, "F2", "again.hot")
    now = list(booked_rows(db, "DE", PERIOD_CODE))
    assert len(now) == len(before) and {r.id for r in now}.isdisjoint({r.id for r in before})
    # As of the snapshot: exactly the rows booked then, in every read.
    assert list(booked_rows(db, "DE", PERIOD_CODE, snapshot)) == before
    source = LedgerRows(db, "DE", PERIOD_CODE, snapshot)
    agent = before[0].agent_code
    prefix = before[0].airline_prefix
    assert {r.id for r in source.rows_of_agent(agent)} == {
        r.id for r in before if r.agent_code == agent
    }
    assert {r.id for r in source.rows_of_airline(prefix)} == {r.id for r in before}
    source.close()
    assert rows_of_agents(db, "DE", PERIOD_CODE, [agent], snapshot)[agent] == [
        r for r in before if r.agent_code == agent
    ]
    assert rows_of_airline(db, "DE", [PERIOD_CODE], prefix, snapshot)[PERIOD_CODE] == before
    assert period_counts(db, "DE", PERIOD_CODE, snapshot).records == len(before)
    assert period_counts(db, "DE", PERIOD_CODE).files == 1  # now: F2 only


async def test_without_a_snapshot_the_reads_are_of_now(config: Config, store: SqliteStore) -> None:
    db = config.gateway.database
    await _book(store, config, "F1", "first.hot")
    snapshot = take_snapshot(db, "DE", PERIOD_CODE)
    _withdraw(config, "F1")
    assert list(booked_rows(db, "DE", PERIOD_CODE)) == []
    assert len(list(booked_rows(db, "DE", PERIOD_CODE, snapshot))) > 0
    # the counts follow the same rule: nothing now (an empty period counts 0, not None),
    # the file's rows as of the snapshot
    assert period_counts(db, "DE", PERIOD_CODE) == PeriodCounts(0, 0)
    counted = period_counts(db, "DE", PERIOD_CODE, snapshot)
    assert counted == PeriodCounts(len(list(booked_rows(db, "DE", PERIOD_CODE, snapshot))), 1)
    assert period_counts(db, "DE", "20991201M") == PeriodCounts(0, 0)


async def test_an_airlines_rows_are_read_through_its_own_index(
    config: Config, store: SqliteStore
) -> None:
    """Defect: SQLite read every row of the periods for one airline's report (0.44 s for
    12,000 rows of a 1.2M-row period, 100 airlines); the query now searches the airline's
    rows by ``ledger_by_awb``, and gives the same rows."""
    db = config.gateway.database
    await _book(store, config, "F1", "first.hot")
    rows = list(booked_rows(db, "DE", PERIOD_CODE))
    prefix = rows[0].airline_prefix
    if isinstance(db, Path):  # SQLite's plan (PostgreSQL's planner chooses by statistics)
        with sqlite3.connect(db) as conn:
            args = (*_as_of(None), "DE", prefix, PERIOD_CODE)
            plan = " ".join(
                r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + airline_rows_sql(1), args)
            )
        assert "USING INDEX ledger_by_awb (country=? AND airline_prefix=?)" in plan, plan
        assert "ledger_by_period" not in plan
    got = rows_of_airline(db, "DE", [PERIOD_CODE, "209912"], prefix)
    assert got == {PERIOD_CODE: [r for r in rows if r.airline_prefix == prefix], "209912": []}
