"""The gateway keeps working when parts of it fail: a dead worker process, oversized messages.

Defects found: kill -9 of one pool worker made every later file fail with INTERNAL_ERROR
until a restart, while the systemd watchdog was still fed; message files were read whole and
parsed while holding the store's write lock (a 50 MB body took 1.7 GB).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from opencass.billing.messages import SMALL_MESSAGE_BYTES
from opencass.billing.registry import message_handlers
from opencass.codecs.onerecord.withdrawal import WITHDRAWAL_TAG
from opencass.gateway import app as app_module
from opencass.gateway.app import Gateway
from opencass.gateway.messages import assess_message
from opencass.store import open_store
from tests.kit.daemon import Running
from tests.kit.gateway import (
    NOW,
    TODAY,
    demo_config,
    init_demo_store,
    sample_bytes,
    spooled,
    steady_clock,
    with_lines,
)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    config_dir = tmp_path / "config"
    init_demo_store(config_dir, today=TODAY)
    gw = Gateway(config_dir, port=0, workers=1, clock=steady_clock())
    await gw.startup()
    task = asyncio.create_task(gw.serve())
    yield gw
    gw.stop.set()
    await task
    await gw.shutdown()


async def _upload(gw: Gateway, name: str, data: bytes) -> str:
    key = gw.config_dir / "keys" / "demoair"
    async with (
        asyncssh.connect("127.0.0.1", gw.port, username="demoair", client_keys=[str(key)],
                         known_hosts=None, agent_path=None) as conn,
        conn.start_sftp_client() as sftp,
        sftp.open(f"/inbox/{name}", "wb") as f,
    ):  # fmt: skip
        await f.write(data)
    outbox = gw.current_config().gateway.mailboxes_dir / "demoair" / "outbox"
    for _ in range(600):
        for report in outbox.glob("*_validation_*.txt"):
            text = report.read_text()
            if text.startswith(f"opencass validation report for {name}\n"):
                return text
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} was not answered")


def _variant(n: int) -> bytes:
    return sample_bytes().replace(b"01EUR", f"{n:02d}EUR".encode(), 1)


async def test_a_killed_worker_is_replaced_and_intake_goes_on(gateway: Gateway) -> None:
    assert "Outcome:      accepted" in await _upload(gateway, "before.hot", _variant(31))
    assert gateway.pool is not None
    loop = asyncio.get_running_loop()
    worker = await loop.run_in_executor(gateway.pool, os.getpid)
    os.kill(worker, signal.SIGKILL)  # as the out-of-memory killer would
    for n in range(3):
        text = await _upload(gateway, f"after-{n}.hot", _variant(32 + n))
        # judged like any file (its AWBs were billed by the first one), not INTERNAL_ERROR
        assert "AWB_ALREADY_BILLED" in text and "INTERNAL_ERROR" not in text
    assert gateway.pool.rebuilds == 1 and gateway.healthy()
    assert await loop.run_in_executor(gateway.pool, os.getpid) != worker


async def test_a_broken_pool_stops_the_watchdog_until_rebuilt(gateway: Gateway) -> None:
    assert gateway.pool is not None
    loop = asyncio.get_running_loop()
    worker = await loop.run_in_executor(gateway.pool, os.getpid)
    os.kill(worker, signal.SIGKILL)
    with pytest.raises(Exception, match=r"terminated abruptly|broken"):
        await loop.run_in_executor(gateway.pool, _sleep, 5.0)
    assert not gateway.healthy()  # the daemon would not feed systemd's watchdog now
    assert await loop.run_in_executor(gateway.pool, sum, [1, 2]) == 3  # rebuilt on demand
    assert gateway.healthy()


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


async def test_messages_are_size_capped_per_kind_before_reading(tmp_path: Path) -> None:
    config = demo_config(tmp_path)
    store = await open_store(config.gateway.database)
    body = b"<x/>" * ((50 << 20) // 4)  # 50 MB under a withdrawal's root
    ns, _, local = WITHDRAWAL_TAG[1:].partition("}")
    data = f'<?xml version="1.0"?><{local} xmlns="{ns}">'.encode() + body + f"</{local}>".encode()
    path = await spooled(store, config, data, file_id="F1", name="w.xml")
    summary = assess_message(
        str(config.gateway.database),
        "F1",
        str(path),
        "demoair",
        "demoair",
        False,
        NOW,
        config,
        message_handlers(),
    )
    assert (summary.outcome, summary.kind) == ("rejected", "withdrawal")
    rows = [f for f in await store.findings("F1")]
    assert [f.code for f in rows] == ["FILE_TOO_LARGE"]
    assert str(SMALL_MESSAGE_BYTES) in rows[0].message
    await store.close()


async def test_a_full_disk_never_loses_an_audit_row_and_pauses_intake(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: audit rows were silently lost when the disk was full. Now the failure is loud,
    the rows stay queued, intake pauses (nothing is processed without its audit trail) and
    the watchdog is not fed, until the trail can be written again."""
    monkeypatch.setattr(app_module, "AUDIT_RETRY_SECONDS", 0.2)
    store = gateway.store
    assert store is not None
    real = store._db.executemany
    full = True

    async def executemany(sql: str, rows: object) -> object:
        if full and "INSERT INTO audit" in sql:
            raise sqlite3.OperationalError("database or disk is full")
        return await real(sql, rows)

    monkeypatch.setattr(store._db, "executemany", executemany)
    before = len(await _audit_rows(gateway))
    key = gateway.config_dir / "keys" / "demoair"
    async with (
        asyncssh.connect("127.0.0.1", gateway.port, username="demoair", client_keys=[str(key)],
                         known_hosts=None, agent_path=None) as conn,
        conn.start_sftp_client() as sftp,
    ):  # fmt: skip
        assert gateway.intake is not None
        for _ in range(100):  # the store reports the failure, then intake pauses (a callback)
            if not gateway.healthy() and not gateway.intake.accepting:
                break
            await asyncio.sleep(0.02)
        assert not gateway.healthy()
        assert not gateway.intake.accepting
        async with sftp.open("/inbox/while-full.hot", "wb") as f:
            await f.write(_variant(41))
        await asyncio.sleep(0.5)
        inbox = gateway.current_config().gateway.mailboxes_dir / "demoair" / "inbox"
        assert (inbox / "while-full.hot").exists()  # not processed without its audit trail
        full = False
        for _ in range(200):
            if gateway.healthy() and not (inbox / "while-full.hot").exists():
                break
            await asyncio.sleep(0.05)
    assert gateway.healthy() and gateway.intake.accepting
    events = [r["event"] for r in await _audit_rows(gateway)][before:]
    assert "login_ok" in events and "upload" in events  # written late, none lost


async def _audit_rows(gateway: Gateway) -> list[dict[str, object]]:
    assert gateway.store is not None
    return await gateway.store.audit_events()


async def test_two_uploads_drawing_the_same_file_id_are_both_answered(
    gw: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The id is the second and 24 random bits: under load two files can draw the same one
    (seen in the 100-session benchmark). The second gets a new id instead of being lost."""
    from opencass.gateway import intake

    drawn: list[str] = []
    real = intake.new_file_id

    def same_then_real(now: object) -> str:  # fault injection: the first two draws collide
        drawn.append("F20261118100000AAAAAA" if len(drawn) < 2 else real(now))  # type: ignore[arg-type]
        return drawn[-1]

    monkeypatch.setattr(intake, "new_file_id", same_then_real)
    first = with_lines(sample_bytes(), {})
    await gw.upload("demoair", "one.hot", first)
    await gw.outbox("demoair", "*_validation_*.txt")
    await gw.upload("demoair", "two.hot", b"not a billing file\n")
    reports = await gw.outbox("demoair", "*_validation_*.txt", count=2)
    texts = [p.read_text() for p in reports]
    assert any("one.hot" in t for t in texts) and any("two.hot" in t for t in texts)
    assert drawn[0] == drawn[1] == "F20261118100000AAAAAA" and len(drawn) == 3
    spool = gw.gateway.current_config().gateway.spool_dir
    for _ in range(100):  # the answered file is archived just after its report is written
        left = [p for p in spool.rglob("*") if p.is_file()]
        if not left:
            break
        await asyncio.sleep(0.05)
    assert not left  # nothing left behind
