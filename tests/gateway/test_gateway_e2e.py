"""The whole daemon on 127.0.0.1 in a tmp dir, driven by real SFTP clients."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import asyncssh
import pytest

from opencass.gateway.answers import verify
from opencass.gateway.app import Gateway
from tests.kit.daemon import Running
from tests.kit.gateway import NOW, TODAY, init_demo_store, sample_bytes, steady_clock, with_lines


async def test_upload_is_answered_with_report_and_signed_receipt(gw: Running) -> None:
    await gw.upload("demoair", "november.hot", sample_bytes())
    report = (await gw.outbox("demoair", "*_validation_*.txt"))[0]
    text = report.read_text()
    assert "november.hot" in text and "Outcome:      accepted" in text
    receipt = (await gw.outbox("demoair", "*_receipt_*.xml"))[0]
    sig = (await gw.outbox("demoair", "*_receipt_*.xml.sig"))[0]
    public = (gw.mailboxes / "demoair" / "gateway-signing-key.pub").read_bytes()
    assert verify(public, receipt.read_bytes(), sig.read_bytes())
    signed = receipt.read_bytes()
    tampered = signed.replace(signed[200:201], b"X" if signed[200:201] != b"X" else b"Y", 1)
    assert not verify(public, tampered, sig.read_bytes())
    store = gw.gateway.store
    assert store is not None and await store.ledger_count() == 6
    assert list((gw.mailboxes / "demoair" / "inbox").iterdir()) == []


async def test_same_bytes_again_is_a_duplicate_never_booked_twice(gw: Running) -> None:
    await gw.upload("demoair", "a.hot", sample_bytes())
    await gw.outbox("demoair", "*_validation_*.txt")
    await gw.upload("demoair", "b.hot", sample_bytes())
    reports = await gw.outbox("demoair", "*_validation_*.txt", count=2)
    texts = [p.read_text() for p in reports]
    assert sum("duplicate" in t for t in texts) == 1
    assert any("DUPLICATE_FILE" in t for t in texts)
    store = gw.gateway.store
    assert store is not None and await store.ledger_count() == 6


async def test_sandbox_is_judged_and_answered_but_books_nothing(gw: Running) -> None:
    data = sample_bytes()
    line = data.decode().splitlines()[1]
    await gw.upload(
        "demoair",
        "try.hot",
        with_lines(data, {1: line[:8] + "62144155" + line[16:]}),
        box="sandbox/inbox",
    )
    report = (await gw.outbox("demoair", "*_validation_*.txt", box="sandbox/outbox"))[0]
    text = report.read_text()
    assert "AWB_CHECK_DIGIT" in text and "line 2" in text and "sandbox: nothing booked" in text
    store = gw.gateway.store
    assert store is not None and await store.ledger_count() == 0
    assert not list((gw.mailboxes / "demoair" / "outbox").glob("*_validation_*"))


async def test_openssh_sftp_command_uploads_and_downloads(gw: Running, tmp_path: Path) -> None:
    local = tmp_path / "upload.hot"
    local.write_bytes(sample_bytes())
    base = [
        "sftp",
        "-b",
        "-",
        "-i",
        str(gw.key("demoair")),
        "-P",
        str(gw.port),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "IdentitiesOnly=yes",
        "demoair@127.0.0.1",
    ]
    put = await asyncio.to_thread(
        subprocess.run,
        base,
        input=f"put {local} /inbox/upload.hot\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert put.returncode == 0, put.stderr
    report = (await gw.outbox("demoair", "*_validation_*.txt"))[0]
    got = tmp_path / "report.txt"
    get = await asyncio.to_thread(
        subprocess.run,
        base,
        input=f"get /outbox/{report.name} {got}\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert get.returncode == 0, get.stderr
    assert got.read_text() == report.read_text()


async def test_an_agent_cannot_see_the_airlines_mailbox(gw: Running) -> None:
    async with gw.connect("agent1") as conn, conn.start_sftp_client() as sftp:
        assert sorted(await sftp.listdir("/")) == sorted(
            [".", "..", "inbox", "outbox", "sandbox", "gateway-signing-key.pub", "my-profile.json"]
        )
        for path in ("/../demoair/outbox", "../../demoair"):
            with pytest.raises(asyncssh.SFTPError):
                names = await sftp.listdir(path)
                assert "demoair" not in str(names)


async def test_sighup_reload_keeps_sessions_and_adds_a_user(gw: Running) -> None:
    participants = gw.config_dir / "participants" / "agent2.toml"
    async with gw.connect("agent2") as conn, conn.start_sftp_client() as sftp:
        participants.write_text(participants.read_text() + "\nthis is = not toml [\n")
        assert not await gw.gateway.reload()  # bad config: the old one stays
        assert await sftp.listdir("/outbox") is not None
        participants.write_text(participants.read_text().split("\nthis is")[0])
        assert await gw.gateway.reload()
        assert await sftp.listdir("/outbox") is not None  # the session survived both


async def test_a_reload_that_moves_the_data_is_refused_whole(gw: Running) -> None:
    """Defect: a SIGHUP changing data_dir moved new sessions to an empty tree while the store
    stayed on the old database. Such settings are refused at reload, the old config kept."""
    toml = gw.config_dir / "gateway.toml"
    before = toml.read_text()
    moved = before.replace('data_dir = "data"', 'data_dir = "elsewhere"')
    assert moved != before
    toml.write_text(moved.replace("idle_timeout_seconds = 600.0", "idle_timeout_seconds = 60.0"))
    old = gw.gateway.current_config()
    assert not await gw.gateway.reload()
    assert gw.gateway.current_config() is old  # nothing of the new file applied
    store = gw.gateway.store
    assert store is not None
    (refused,) = await store.audit_events("config_reload_refused")
    assert any(s.startswith("gateway.data_dir") for s in refused["data"]["settings"])
    toml.write_text(before.replace("idle_timeout_seconds = 600.0", "idle_timeout_seconds = 60.0"))
    assert await gw.gateway.reload()  # what may change at runtime still does
    assert gw.gateway.current_config().gateway.idle_timeout_seconds == 60.0


async def test_a_file_that_keeps_failing_is_answered_not_left_waiting(tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    init_demo_store(config_dir, today=TODAY)
    toml = config_dir / "gateway.toml"
    toml.write_text(toml.read_text().replace("rescan_seconds = 30.0", "rescan_seconds = 0.2"))

    def fault(step: str) -> None:
        if step == "assessing":
            raise RuntimeError("injected: the assessment worker is broken")

    gateway = Gateway(config_dir, port=0, workers=1, fault=fault, clock=steady_clock())
    await gateway.startup()
    task = asyncio.create_task(gateway.serve())
    run = Running(gateway, config_dir, task)
    try:
        await run.upload("demoair", "doomed.hot", sample_bytes())
        report = (await run.outbox("demoair", "*_validation_*.txt"))[0].read_text()
        assert "INTERNAL_ERROR" in report and "Outcome:      rejected" in report
        store = gateway.store
        assert store is not None and await store.ledger_count() == 0
        failed = await store.audit_events("file_failed")
        assert len(failed) == 1
        file_id = failed[0]["file_id"]
        for _ in range(100):  # the answer is out; archiving follows it
            row = await store.get_file(file_id)
            if row is not None and row.state == "archived":
                break
            await asyncio.sleep(0.05)
        events = await store.file_events(file_id)
        assert ("received", "failed") in events and events[-1] == ("answered", "archived")
    finally:
        gateway.stop.set()
        await task
        await gateway.shutdown()


async def test_calendar_closes_start_from_the_first_start(gw: Running) -> None:
    store, closes = gw.gateway.store, gw.gateway.closes
    assert store is not None and closes is not None
    assert await store.closes() == []  # periods already due before the first start: operator's
    config = gw.gateway.current_config()
    future = [p for p in config.calendars["DE"] if p.billing_available > NOW]
    jobs = {j: t for j, t in closes.jobs().items() if j.endswith(":final")}  # + milestone jobs
    assert jobs and len(jobs) == len(future)  # every later period is scheduled for its close
