"""Gap-free invoice numbers in a real store (SQLite, PostgreSQL): concurrency, re-runs, years."""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import sqlite3
import threading

import pytest

from opencass.store.connect import Database, connect_sync, database_at, migrate_sync
from opencass.store.invoices import (
    NumberRequest,
    allocate,
    format_number,
)

WORKERS, EACH = 4, 25


def _store(db: Database) -> Database:
    path = db
    conn = connect_sync(path)
    migrate_sync(conn)
    conn.close()
    return path


def _request(agent: str, *, year: int = 2026, period: str = "20261101M", digest: str = "h",
             issuer: str = "cassops", country: str = "DE") -> NumberRequest:  # fmt: skip
    return NumberRequest(
        issuer=issuer, country=country, year=year, period=period, agent_code=agent,
        company="agent", kind="invoice", issued_at=f"{year}-12-15T08:00:00+01:00",
        currency="EUR", total="1.00", data_hash=digest,
    )  # fmt: skip


def _numbers(path: Database) -> list[tuple[str, int]]:
    with contextlib.closing(connect_sync(path)) as conn:
        return [tuple(r) for r in conn.execute("SELECT number, seq FROM invoices ORDER BY seq")]


def _allocate_many(path: str, worker: int) -> list[str]:
    """One transaction per invoice, so the workers interleave."""
    conn = connect_sync(database_at(path))
    try:
        return [
            allocate(conn, [_request(f"{worker:02d}{i:09d}")])[0][0].number for i in range(EACH)
        ]
    finally:
        conn.close()


def test_number_format() -> None:
    assert format_number("DE", 2026, 1) == "DE-2026-000001"
    assert format_number("FR", 2027, 1234567) == "FR-2027-1234567"


def test_processes_allocating_at_once_get_1_to_n(db: Database) -> None:
    path = _store(db)
    method = "fork" if threading.active_count() == 1 else "forkserver"
    with multiprocessing.get_context(method).Pool(WORKERS) as pool:
        got = pool.starmap(_allocate_many, [(str(path), w) for w in range(WORKERS)])
    numbers = [n for part in got for n in part]
    expected = [format_number("DE", 2026, s) for s in range(1, WORKERS * EACH + 1)]
    assert sorted(numbers) == expected  # no gap, no duplicate
    assert _numbers(path) == [(n, i) for i, n in enumerate(expected, 1)]


def test_threads_allocating_at_once_get_1_to_n(db: Database) -> None:
    path = _store(db)
    results: list[list[str]] = [[] for _ in range(WORKERS)]

    def run(w: int) -> None:
        results[w] = _allocate_many(str(path), w)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    numbers = sorted(n for part in results for n in part)
    assert numbers == [format_number("DE", 2026, s) for s in range(1, WORKERS * EACH + 1)]


def test_rerun_reuses_numbers_and_issue_time(db: Database) -> None:
    conn = connect_sync(_store(db))
    first = [i for (i,) in allocate(conn, [_request("a"), _request("b")])]
    later = _request("a")
    again = [i for (i,) in allocate(conn, [_request("b"), later, _request("c")])]
    assert [i.number for i in first] == ["DE-2026-000001", "DE-2026-000002"]
    assert [(i.number, i.fresh) for i in again] == [
        ("DE-2026-000002", False),
        ("DE-2026-000001", False),
        ("DE-2026-000003", True),
    ]
    assert again[1].issued_at == first[0].issued_at


def test_sequences_are_per_issuer_country_and_year(db: Database) -> None:
    conn = connect_sync(_store(db))
    got = [i for (i,) in allocate(
        conn,
        [
            _request("a"),
            _request("a", year=2027, period="20270101M"),
            _request("a", country="FR"),
            _request("a", issuer="other"),
            _request("b", year=2027, period="20270101M"),
        ],
    )]  # fmt: skip
    assert [(i.number, i.seq) for i in got] == [
        ("DE-2026-000001", 1),
        ("DE-2027-000001", 1),
        ("FR-2026-000001", 1),
        ("DE-2026-000001", 1),
        ("DE-2027-000002", 2),
    ]


def test_a_failed_batch_takes_no_number(db: Database) -> None:
    """A batch that fails half-way (here: a row the store refuses) rolls back whole: no gap."""
    path = _store(db)
    conn = connect_sync(path)
    allocate(conn, [_request("a")])
    broken = dataclasses.replace(_request("x"), company=None)  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        allocate(conn, [_request("b"), broken])
    assert allocate(conn, [_request("c")])[0][0].number == "DE-2026-000002"
    assert [n for n, _ in _numbers(path)] == ["DE-2026-000001", "DE-2026-000002"]


def test_other_money_is_a_correction_never_a_change(db: Database) -> None:
    """The standing invoice is cancelled by a credit note and issued anew, both referring to
    it, in the same sequence; the cancelled one's money comes back for the credit note; a
    second correction cancels the first correction's invoice."""
    path = _store(db)
    conn = connect_sync(path)
    ((first,),) = allocate(conn, [dataclasses.replace(_request("a"), content="{v1}")])
    corrected = dataclasses.replace(
        _request("a", digest="other money"), total="2.50", content="{v2}",
        corrected_at="2027-01-10T09:00:00+01:00",
    )  # fmt: skip
    ((cancel, issue),) = allocate(conn, [corrected])
    assert (cancel.number, cancel.kind, cancel.role, cancel.total, cancel.content) == (
        "DE-2027-000001", "credit_note", "cancel", "-1.00", "{v1}",
    )  # fmt: skip
    assert (issue.number, issue.kind, issue.role, issue.total, issue.revision) == (
        "DE-2027-000002", "invoice", "issue", "2.50", 1,
    )  # fmt: skip
    assert cancel.corrects == issue.corrects == first.number == "DE-2026-000001"
    assert cancel.corrects_date == first.issued_at
    assert allocate(conn, [corrected]) == [[
        dataclasses.replace(cancel, fresh=False), dataclasses.replace(issue, fresh=False),
    ]]  # fmt: skip
    third = dataclasses.replace(corrected, data_hash="third", total="-0.50", kind="credit_note")
    ((cancel2, issue2),) = allocate(conn, [third])
    assert (cancel2.corrects, cancel2.total, cancel2.content, issue2.revision) == (
        "DE-2027-000002", "-2.50", "{v2}", 2,
    )  # fmt: skip


def test_issued_invoices_are_append_only(db: Database) -> None:
    path = _store(db)
    conn = connect_sync(path)
    allocate(conn, [_request("a")])
    with pytest.raises(sqlite3.IntegrityError, match="never changes"):
        conn.execute("UPDATE invoices SET total = '0'")
    with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
        conn.execute("DELETE FROM invoices")
