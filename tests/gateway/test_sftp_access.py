"""What each role may do in its mailbox, and that nobody leaves it (chroot, symlinks, links)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncssh
import pytest

from opencass.config.model import Role
from opencass.files import mailbox_dirs
from tests.kit.sftp import SIGNING_KEY, Kit, start_kit


@pytest.fixture
async def kit(tmp_path: Path) -> AsyncIterator[Kit]:
    k = await start_kit(tmp_path)
    air = k.tree("air")
    (air / "outbox" / "report.xml").write_text("<report/>")
    (air / "sandbox" / "outbox" / "preview.xml").write_text("<preview/>")
    (air / "inbox" / "pending.hot").write_text("BFH01")
    (k.tree("agent") / "inbox" / "secret.hot").write_text("agent data")
    yield k
    k.endpoint.close()
    await k.endpoint.wait_closed()


REFUSED = (asyncssh.SFTPNoSuchFile, asyncssh.SFTPPermissionDenied)
Op = Callable[[asyncssh.SFTPClient], Awaitable[object]]


async def _put(sftp: asyncssh.SFTPClient, path: str) -> None:
    async with sftp.open(path, "wb") as f:
        await f.write(b"new")


async def _get(sftp: asyncssh.SFTPClient, path: str) -> bytes:
    async with sftp.open(path, "rb") as f:
        return await f.read()


OPS: dict[str, Op] = {
    "list outbox": lambda s: s.listdir("/outbox"),
    "list sandbox outbox": lambda s: s.listdir("/sandbox/outbox"),
    "read outbox": lambda s: _get(s, "/outbox/report.xml"),
    "read signing key": lambda s: _get(s, "/gateway-signing-key.pub"),
    "list root": lambda s: s.listdir("/"),
    "list inbox": lambda s: s.listdir("/inbox"),
    "stat inbox file": lambda s: s.stat("/inbox/pending.hot"),
    "write inbox": lambda s: _put(s, "/inbox/new.hot"),
    "write sandbox inbox": lambda s: _put(s, "/sandbox/inbox/new.hot"),
    "read inbox": lambda s: _get(s, "/inbox/pending.hot"),
    "delete inbox file": lambda s: s.remove("/inbox/pending.hot"),
    "rename inbox file": lambda s: s.rename("/inbox/pending.hot", "/inbox/other.hot"),
    "write outbox": lambda s: _put(s, "/outbox/forged.xml"),
    "write root": lambda s: _put(s, "/forged.hot"),
    "overwrite signing key": lambda s: _put(s, "/gateway-signing-key.pub"),
    "rename in outbox": lambda s: s.rename("/outbox/report.xml", "/outbox/r.xml"),
    "mkdir inbox/sub": lambda s: s.mkdir("/inbox/sub"),
    "mkdir outbox/sub": lambda s: s.mkdir("/outbox/sub"),
    "mkdir root": lambda s: s.mkdir("/extra"),
    "rmdir inbox": lambda s: s.rmdir("/sandbox/inbox"),
    "chmod outbox file": lambda s: s.chmod("/outbox/report.xml", 0o777),
    "truncate outbox file": lambda s: s.truncate("/outbox/report.xml", 0),
    "set times": lambda s: s.utime("/outbox/report.xml", (1, 2)),
    "delete outbox file": lambda s: s.remove("/outbox/report.xml"),
}
EVERYONE = {"air_admin", "air_in", "air_out", "air_ro"}
ALLOWED = {
    "list outbox": EVERYONE,
    "list sandbox outbox": EVERYONE,
    "read outbox": EVERYONE,
    "read signing key": EVERYONE,
    "list root": EVERYONE,
    "set times": EVERYONE,  # accepted and ignored
    "chmod outbox file": EVERYONE,  # accepted and ignored too (OpenSSH put -p, WinSCP)
    "list inbox": {"air_admin", "air_in"},
    "stat inbox file": {"air_admin", "air_in"},
    "write inbox": {"air_admin", "air_in"},
    "write sandbox inbox": {"air_admin", "air_in"},
    "read inbox": {"air_admin"},
    "delete outbox file": {"air_admin", "air_out"},
}


@pytest.mark.parametrize("user", sorted(EVERYONE))
async def test_roles(kit: Kit, user: str) -> None:
    outcome: dict[str, bool] = {}
    async with kit.sftp(user) as sftp:
        for name, op in OPS.items():  # the destructive ones come last
            try:
                await op(sftp)
                outcome[name] = True
            except asyncssh.SFTPPermissionDenied:
                outcome[name] = False
    expected = {name: user in ALLOWED.get(name, set()) for name in OPS}
    assert outcome == expected
    denied = [f["op"] for f in kit.events.events("denied")]
    assert len(denied) == list(expected.values()).count(False)
    assert (kit.tree("air") / "inbox" / "pending.hot").exists()  # nobody deletes inbox files
    assert (kit.tree("air") / "gateway-signing-key.pub").read_bytes() == SIGNING_KEY


async def test_outbox_delete_is_audited(kit: Kit) -> None:
    async with kit.sftp("air_out") as sftp:
        await sftp.remove("/outbox/report.xml")
    assert not (kit.tree("air") / "outbox" / "report.xml").exists()
    assert kit.events.events("delete")[0]["path"] == "/outbox/report.xml"


async def test_a_reload_changes_roles_of_open_sessions(kit: Kit) -> None:
    async with kit.sftp("air_in") as sftp:
        await _put(sftp, "/inbox/before.hot")
        user = dataclasses.replace(kit.config.users["air_in"], roles=frozenset({Role.READONLY}))
        kit.config = dataclasses.replace(kit.config, users=kit.config.users | {"air_in": user})
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await _put(sftp, "/inbox/after.hot")


async def test_root_is_the_company_tree(kit: Kit) -> None:
    async with kit.sftp("air_admin") as sftp:
        assert await sftp.realpath(".") == "/"
        assert await sftp.realpath("/../../..") == "/"
        assert await sftp.realpath("inbox/../outbox/./x") == "/outbox/x"
        assert sorted(await sftp.listdir("/..")) == [
            ".", "..", "gateway-signing-key.pub", "inbox", "my-profile.json", "outbox", "sandbox",
        ]  # fmt: skip
        assert sorted(await sftp.listdir("/../..")) == sorted(await sftp.listdir("/"))


@pytest.mark.parametrize(
    "path",
    [
        "/../../etc/passwd",
        "../../../../etc/passwd",
        "/etc/passwd",
        "/../agent/inbox/secret.hot",
        "/inbox/../../agent/inbox/secret.hot",
    ],
)
async def test_escapes_find_nothing(kit: Kit, path: str) -> None:
    async with kit.sftp("air_admin") as sftp:
        with pytest.raises(REFUSED):
            await _get(sftp, path)


async def test_host_paths_are_taken_as_virtual(kit: Kit) -> None:
    host_inbox = str(kit.tree("agent") / "inbox")
    async with kit.sftp("air_admin") as sftp:
        with pytest.raises(asyncssh.SFTPNoSuchFile):
            await sftp.listdir(host_inbox)
        with pytest.raises(REFUSED):
            await _get(sftp, host_inbox + "/secret.hot")


async def test_planted_symlinks_are_not_followed(kit: Kit) -> None:
    outbox = kit.tree("air") / "outbox"
    os.symlink("/etc/passwd", outbox / "passwd")
    os.symlink(kit.tree("agent") / "inbox", outbox / "agent-inbox")
    os.symlink("../../agent", kit.tree("air") / "inbox" / "up")
    async with kit.sftp("air_admin") as sftp:
        for path in (
            "/outbox/passwd",
            "/outbox/agent-inbox/secret.hot",
            "/inbox/up/inbox/secret.hot",
        ):
            with pytest.raises(asyncssh.SFTPPermissionDenied):
                await _get(sftp, path)
        for path in ("/outbox/agent-inbox", "/inbox/up"):
            with pytest.raises(asyncssh.SFTPPermissionDenied):
                await sftp.listdir(path)
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await sftp.stat("/outbox/passwd")
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await _put(sftp, "/inbox/up/inbox/planted.hot")
    assert not (kit.tree("agent") / "inbox" / "planted.hot").exists()


async def test_links_cannot_be_made_or_read(kit: Kit) -> None:
    os.symlink("report.xml", kit.tree("air") / "outbox" / "link")
    async with kit.sftp("air_admin") as sftp:
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await sftp.symlink("/etc/passwd", "/inbox/pw")
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await sftp.symlink("pending.hot", "/inbox/pw")
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await sftp.link("/inbox/pending.hot", "/inbox/hard.hot")
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await sftp.readlink("/outbox/link")
    assert sorted(os.listdir(kit.tree("air") / "inbox")) == ["pending.hot"]


async def test_other_company_is_out_of_sight(kit: Kit) -> None:
    async with kit.sftp("agent_in") as sftp:
        assert sorted(await sftp.listdir("/inbox")) == [".", "..", "secret.hot"]
        with pytest.raises(asyncssh.SFTPNoSuchFile):
            await _get(sftp, "/outbox/report.xml")
        with pytest.raises(asyncssh.SFTPNoSuchFile):
            await sftp.listdir("/air")


async def test_openssh_client_stays_inside(kit: Kit, tmp_path: Path) -> None:
    script = f"cd ..\ncd ..\npwd\nls\n-get /../../etc/passwd {tmp_path / 'pw'}\n"
    rc, out = await kit.openssh("air_ro", script)
    assert rc == 0, out
    assert "Remote working directory: /" in out
    assert "gateway-signing-key.pub" in out and "outbox" in out
    assert not (tmp_path / "pw").exists()


async def test_mailbox_layout_and_signing_key(kit: Kit) -> None:
    for company in ("air", "agent"):
        tree = kit.tree(company)
        for box in ("inbox", "outbox", "sandbox/inbox", "sandbox/outbox"):
            assert (tree / box).is_dir()
        key = tree / "gateway-signing-key.pub"
        assert key.read_bytes() == SIGNING_KEY
        assert key.stat().st_mode & 0o777 == 0o444
    dirs = mailbox_dirs(kit.tmp / "elsewhere", "newco")
    assert sorted(dirs) == ["inbox", "outbox", "sandbox/inbox", "sandbox/outbox"]
    assert dirs["sandbox/inbox"] == kit.tmp / "elsewhere" / "newco" / "sandbox" / "inbox"
    assert all(d.is_dir() for d in dirs.values())


async def test_company_added_by_reload_gets_its_mailbox_at_login(kit: Kit) -> None:
    newco = dataclasses.replace(kit.config.companies["agent"], id="newco")
    user = dataclasses.replace(kit.config.users["agent_in"], name="new_in", company="newco")
    kit.config = dataclasses.replace(
        kit.config,
        companies=kit.config.companies | {"newco": newco},
        users=kit.config.users | {"new_in": user},
    )
    kit.keys["new_in"] = kit.keys["agent_in"]
    assert not kit.tree("newco").exists()
    async with kit.sftp("new_in") as sftp:
        assert sorted(await sftp.listdir("/")) == [
            ".", "..", "gateway-signing-key.pub", "inbox", "my-profile.json", "outbox", "sandbox",
        ]  # fmt: skip
        async with sftp.open("/inbox/first.hot", "wb") as f:
            await f.write(b"hello")
    assert kit.events.uploads[0][:2] == ("newco", "new_in")
    assert (kit.tree("newco") / "gateway-signing-key.pub").read_bytes() == SIGNING_KEY
