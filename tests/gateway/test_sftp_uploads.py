"""Uploads through the real SFTP endpoint: publish on clean close only, limits, renames."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from tests.kit.sftp import SIGNING_KEY, Kit, RawSftp, eventually, openssh_args, start_kit


@pytest.fixture
async def kit(tmp_path: Path) -> AsyncIterator[Kit]:
    k = await start_kit(tmp_path)
    yield k
    k.endpoint.close()
    await k.endpoint.wait_closed()


def names(directory: Path) -> list[str]:
    """Everything in a directory, hidden files included."""
    return sorted(os.listdir(directory))


async def test_upload_is_published_and_reported_once(kit: Kit) -> None:
    async with kit.sftp("air_in") as sftp, sftp.open("/inbox/billing.hot", "wb") as f:
        await f.write(b"x" * 100_000)
        assert names(kit.tree("air") / "inbox") != ["billing.hot"]  # hidden while open
    inbox = kit.tree("air") / "inbox"
    assert names(inbox) == ["billing.hot"]
    assert (inbox / "billing.hot").read_bytes() == b"x" * 100_000
    assert kit.events.uploads == [("air", "air_in", inbox / "billing.hot", 100_000, False)]
    assert kit.events.events("upload")[0]["path"] == "/inbox/billing.hot"


async def test_sandbox_upload_is_flagged(kit: Kit) -> None:
    async with kit.sftp("agent_in") as sftp, sftp.open("/sandbox/inbox/try.hot", "wb") as f:
        await f.write(b"data")
    path = kit.tree("agent") / "sandbox" / "inbox" / "try.hot"
    assert kit.events.uploads == [("agent", "agent_in", path, 4, True)]


async def test_openssh_sftp_upload_listing_and_download(kit: Kit, tmp_path: Path) -> None:
    local = tmp_path / "local.hot"
    local.write_bytes(b"BFH01" * 1000)
    (kit.tree("air") / "outbox" / "report.xml").write_text("<report/>")
    script = (
        f"put {local} /inbox/local.hot\nls /inbox\n"
        f"cd /outbox\nget report.xml {tmp_path / 'got.xml'}\n"
    )
    rc, out = await kit.openssh("air_in", script)
    assert rc == 0, out
    assert "local.hot" in out
    assert (kit.tree("air") / "inbox" / "local.hot").read_bytes() == local.read_bytes()
    assert (tmp_path / "got.xml").read_text() == "<report/>"
    assert [u[3] for u in kit.events.uploads] == [5000]
    assert kit.events.events("download")[0]["path"] == "/outbox/report.xml"


async def test_dropped_connection_mid_upload_leaves_nothing(kit: Kit) -> None:
    conn = await kit.connect("air_in")
    sftp = await conn.start_sftp_client()
    f = await sftp.open("/inbox/partial.hot", "wb")
    await f.write(b"y" * 50_000)
    inbox = kit.tree("air") / "inbox"
    assert len(names(inbox)) == 1  # the hidden temp file
    conn.abort()
    await kit.idle()
    assert names(inbox) == []
    assert kit.events.uploads == []
    assert kit.events.events("upload_aborted")[0]["path"] == "/inbox/partial.hot"
    assert kit.endpoint.usage.used("air") == len(SIGNING_KEY)


async def test_channel_eof_mid_upload_leaves_nothing(kit: Kit) -> None:
    """A killed ``sftp`` leaves ``ssh`` to send EOF with the file still open."""
    async with await kit.connect("air_in") as conn:
        raw = await RawSftp.start(conn)
        handle = await raw.open_for_write("/inbox/eof.hot")
        await raw.write(handle, 0, b"z" * 10_000)
        raw.writer.write_eof()
        assert await raw.reader.read() == b""  # the server ends the session
        await eventually(lambda: bool(kit.events.events("upload_aborted")))
        assert names(kit.tree("air") / "inbox") == []
    assert kit.events.uploads == []


async def test_killed_openssh_client_leaves_nothing(kit: Kit, tmp_path: Path) -> None:
    local = tmp_path / "big.hot"
    local.write_bytes(os.urandom(600_000))
    inbox = kit.tree("air") / "inbox"
    proc = await asyncio.create_subprocess_exec(
        *openssh_args(kit.port, kit.keys["air_in"], "air_in", "-l", "800"),  # ~100 kB/s
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    proc.stdin.write(f"put {local} /inbox/big.hot\n".encode())
    await eventually(lambda: any(os.stat(inbox / n).st_size > 0 for n in names(inbox)))
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    await kit.idle()
    assert names(inbox) == []
    assert kit.events.uploads == []
    assert kit.events.events("upload_aborted")[0]["path"] == "/inbox/big.hot"


async def test_shutdown_mid_upload_leaves_nothing(kit: Kit) -> None:
    conn = await kit.connect("air_in")
    sftp = await conn.start_sftp_client()
    await (await sftp.open("/inbox/late.hot", "wb")).write(b"w" * 1000)
    kit.endpoint.close()
    await asyncio.wait_for(kit.endpoint.wait_closed(), 5)
    assert names(kit.tree("air") / "inbox") == []
    assert kit.events.uploads == []


@pytest.mark.parametrize("temp", ["billing.hot.filepart", "billing.hot.part", ".billing.hot"])
async def test_upload_to_temp_name_then_rename(kit: Kit, temp: str) -> None:
    inbox = kit.tree("air") / "inbox"
    async with kit.sftp("air_in") as sftp:
        async with sftp.open(f"/inbox/{temp}", "wb") as f:
            await f.write(b"payload")
        assert names(inbox) == [temp]
        assert kit.events.uploads == []  # ignored names are never reported
        await sftp.rename(f"/inbox/{temp}", "/inbox/billing.hot")
    assert names(inbox) == ["billing.hot"]
    assert kit.events.uploads == [("air", "air_in", inbox / "billing.hot", 7, False)]


async def test_openssh_rename_after_temp_upload(kit: Kit, tmp_path: Path) -> None:
    local = tmp_path / "f.hot"
    local.write_bytes(b"abc")
    rc, out = await kit.openssh(
        "air_in", f"put {local} /inbox/f.hot.tmp\nrename /inbox/f.hot.tmp /inbox/f.hot\n"
    )
    assert rc == 0, out
    assert names(kit.tree("air") / "inbox") == ["f.hot"]
    assert len(kit.events.uploads) == 1


async def test_client_may_remove_its_own_temp_file(kit: Kit) -> None:
    async with kit.sftp("air_in") as sftp:
        async with sftp.open("/inbox/x.part", "wb") as f:
            await f.write(b"1")
        await sftp.remove("/inbox/x.part")
    assert names(kit.tree("air") / "inbox") == []


async def test_overwriting_an_inbox_file_is_refused(kit: Kit) -> None:
    inbox = kit.tree("air") / "inbox"
    async with kit.sftp("air_in") as sftp:
        async with sftp.open("/inbox/a.hot", "wb") as f:
            await f.write(b"first")
        with pytest.raises(asyncssh.SFTPFailure, match="file exists"):
            await sftp.open("/inbox/a.hot", "wb")
        async with sftp.open("/inbox/b.part", "wb") as f:
            await f.write(b"second")
        with pytest.raises(asyncssh.SFTPFailure, match="file exists"):
            await sftp.rename("/inbox/b.part", "/inbox/a.hot")
    assert (inbox / "a.hot").read_bytes() == b"first"
    assert len(kit.events.uploads) == 1


async def test_size_limit_fails_the_upload_and_removes_it(kit: Kit) -> None:
    async with kit.sftp("air_in") as sftp:
        f = await sftp.open("/inbox/huge.hot", "wb")
        await f.write(b"a" * 500_000)
        with pytest.raises(asyncssh.SFTPFailure, match="upload limit is 1048576 bytes"):
            await f.write(b"a" * 600_000, 500_000)
        with pytest.raises(asyncssh.SFTPFailure, match="upload failed"):
            await f.close()
    assert names(kit.tree("air") / "inbox") == []
    assert kit.events.uploads == []
    assert kit.endpoint.usage.used("air") == len(SIGNING_KEY)


async def test_quota_counts_the_whole_tree(tmp_path: Path) -> None:
    outbox = tmp_path / "data" / "mailboxes" / "air" / "outbox"
    outbox.mkdir(parents=True)
    (outbox / "old-report.xml").write_bytes(b"r" * 60_000)  # counted at start
    kit = await start_kit(tmp_path, limits={"company_quota_bytes": 100_000})
    try:
        assert kit.endpoint.usage.used("air") == 60_000 + len(SIGNING_KEY)
        async with kit.sftp("air_in") as sftp:
            async with sftp.open("/inbox/fits.hot", "wb") as f:
                await f.write(b"a" * 30_000)
            with pytest.raises(asyncssh.SFTPFailure, match="quota exceeded"):
                async with sftp.open("/inbox/too-much.hot", "wb") as f:
                    await f.write(b"b" * 20_000)
        assert names(kit.tree("air") / "inbox") == ["fits.hot"]
        assert [u[2].name for u in kit.events.uploads] == ["fits.hot"]
        assert kit.endpoint.usage.used("air") == 90_000 + len(SIGNING_KEY)
        async with kit.sftp("agent_in") as sftp, sftp.open("/inbox/other.hot", "wb") as f:
            await f.write(b"c" * 50_000)  # another company's quota is its own
    finally:
        kit.endpoint.close()
        await kit.endpoint.wait_closed()


async def test_misbehaving_sessions_do_not_disturb_others(kit: Kit) -> None:
    async with kit.sftp("agent_in") as good, good.open("/inbox/steady.hot", "wb") as f:
        await f.write(b"1" * 10_000)
        bad = await kit.connect("air_in")
        raw = await RawSftp.start(bad)
        raw.writer.write(b"\xff\xff\xff\xf0garbage")  # oversized packet: session killed
        assert await raw.reader.read() == b""
        dropper = await kit.connect("air_in")
        dsftp = await dropper.start_sftp_client()
        await (await dsftp.open("/inbox/dropped.hot", "wb")).write(b"2" * 1000)
        dropper.abort()
        await f.write(b"1" * 10_000, 10_000)
        bad.close()
    assert [u[2].name for u in kit.events.uploads] == ["steady.hot"]
    assert (kit.tree("agent") / "inbox" / "steady.hot").stat().st_size == 20_000
    assert "dropped.hot" not in names(kit.tree("air") / "inbox")
