"""The store (SQLite, PostgreSQL): migrations, compare-and-set, duplicates, append-only audit."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from opencass.store import NewFile, StaleState, open_store
from opencass.store.connect import Database, connect_sync
from opencass.store.schema import LATEST


def _new(file_id: str, at: str, sha: str = "ab" * 32) -> NewFile:
    return NewFile(file_id, "demoair", "u", "f.hot", False, sha, 10, at, f"/spool/{file_id}")


async def test_migrations_apply_once_and_record_the_version(empty_db: Database) -> None:
    db = empty_db
    store = await open_store(db)
    await store.close()
    store = await open_store(db)  # second open: nothing to do, nothing breaks
    await store.close()
    conn = connect_sync(db)
    assert [tuple(r) for r in conn.execute("SELECT version FROM schema_version")] == [(LATEST,)]
    if isinstance(db, Path):
        assert tuple(conn.execute("PRAGMA journal_mode").fetchone()) == ("wal",)


async def test_create_is_idempotent_and_transitions_are_compare_and_set(db: Database) -> None:
    store = await open_store(db)
    assert await store.create_file(_new("F1", "2026-11-22T00:00:00"))
    assert not await store.create_file(_new("F1", "2026-11-22T00:00:00"))
    await store.transition("F1", "received", "assessed", outcome="accepted")
    with pytest.raises(StaleState):
        await store.transition("F1", "received", "assessed")
    row = await store.get_file("F1")
    assert row is not None and (row.state, row.outcome) == ("assessed", "accepted")
    assert await store.file_events("F1") == [(None, "received"), ("received", "assessed")]
    with pytest.raises(ValueError, match="not updatable"):
        await store.transition("F1", "assessed", "answered", sha256="x")
    await store.close()


async def test_original_is_the_earlier_non_duplicate_file(db: Database) -> None:
    store = await open_store(db)
    await store.create_file(_new("F2", "2026-11-22T00:00:02"))
    await store.create_file(_new("F1", "2026-11-22T00:00:01"))
    await store.create_file(_new("F3", "2026-11-22T00:00:03", sha="cd" * 32))
    f1, f2, f3 = [await store.get_file(i) for i in ("F1", "F2", "F3")]
    assert f1 and f2 and f3
    assert await store.find_original(f1) is None  # earliest: itself the original
    original = await store.find_original(f2)
    assert original is not None and original.id == "F1"
    assert await store.find_original(f3) is None  # other bytes
    await store.close()


async def test_audit_is_append_only(db: Database) -> None:
    store = await open_store(db)
    await store.audit("login_ok", company="demoair", user="demoair", peer="127.0.0.1")
    events = await store.audit_events("login_ok")
    assert events[0]["company"] == "demoair" and events[0]["data"] == {"peer": "127.0.0.1"}
    await store.close()
    conn = connect_sync(db)
    for sql in ("UPDATE audit SET event = 'x'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(sql)


async def test_audit_bursts_are_group_committed_and_none_is_lost(db: Database) -> None:
    import asyncio

    store = await open_store(db)
    await asyncio.gather(*(store.audit("upload", n=i) for i in range(300)))
    events = await store.audit_events("upload")
    assert sorted(e["data"]["n"] for e in events) == list(range(300))
    await store.close()
    conn = connect_sync(db)
    assert conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == 300
