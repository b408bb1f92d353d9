"""Logins: keys, passwords, no user enumeration, brute-force bans, session cap, timeouts."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest
from sftpkit import PASSWORD, FakeClock, Kit, eventually, start_kit, write_key

from opencass.config.model import BanPolicy
from opencass.gateway.sftp import BanList, hash_password, verify_password


@pytest.fixture
async def kit(tmp_path: Path) -> AsyncIterator[Kit]:
    k = await start_kit(tmp_path)
    yield k
    k.endpoint.close()
    await k.endpoint.wait_closed()


async def login_fails(kit: Kit, user: str, **kw: object) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        await kit.connect(user, **kw)


async def test_key_login(kit: Kit) -> None:
    async with kit.sftp("agent_in") as sftp:
        assert "inbox" in await sftp.listdir("/")
    assert kit.events.events("login_ok")[0] | {"session": None} == {
        "session": None, "peer": "127.0.0.1", "company": "agent", "user": "agent_in",
    }  # fmt: skip


async def test_wrong_key_and_unknown_user_fail_alike(kit: Kit) -> None:
    stranger = kit.tmp / "stranger"
    write_key(stranger)
    await login_fails(kit, "air_in", client_keys=[str(stranger)])
    await login_fails(kit, "nobody", client_keys=[str(kit.keys["air_in"])])
    await kit.idle()
    failed = kit.events.events("login_failed")
    assert [(f["user"], f["method"]) for f in failed] == [
        ("air_in", "publickey"), ("nobody", "publickey"),
    ]  # fmt: skip


async def test_password_login_only_where_configured(kit: Kit) -> None:
    async with kit.sftp("agent_pw", password=PASSWORD) as sftp:
        assert "outbox" in await sftp.listdir("/")
    await login_fails(kit, "agent_pw", password="wrong")
    await login_fails(kit, "air_in", client_keys=[], password=PASSWORD)  # has no password
    with pytest.raises(asyncssh.DisconnectError):  # the third failure bans and hangs up
        await kit.connect("nobody", password=PASSWORD)
    assert [f["user"] for f in kit.events.events("login_failed")] == [
        "agent_pw",
        "air_in",
        "nobody",
    ]
    assert kit.events.events("banned")


async def test_no_password_auth_offered_without_password_users(kit: Kit) -> None:
    users = {n: dataclasses.replace(u, password_hash=None) for n, u in kit.config.users.items()}
    kit.config = dataclasses.replace(kit.config, users=users)
    await login_fails(kit, "agent_pw", password=PASSWORD)
    assert kit.events.events("login_failed") == []  # nothing to score: the method was not offered


async def test_failed_logins_ban_the_ip_until_the_ban_expires(kit: Kit) -> None:
    stranger = kit.tmp / "stranger"
    write_key(stranger)
    for _ in range(3):  # policy: 3 failures in 60 s ban for 120 s
        await login_fails(kit, "air_in", client_keys=[str(stranger)])
        await kit.idle()
    assert [b["target"] for b in kit.events.events("banned")] == ["ip:127.0.0.1", "user:air_in"]
    with pytest.raises((asyncssh.DisconnectError, ConnectionError)):
        await kit.connect("air_ro")  # the right key, another user, same IP
    await kit.idle()
    assert kit.events.events("login_refused")[-1]["reason"] == "banned"
    kit.clock.now += 121
    async with kit.sftp("air_ro") as sftp:
        assert await sftp.listdir("/outbox") == [".", ".."]


async def test_failures_outside_the_window_do_not_ban() -> None:
    clock = FakeClock()
    bans = BanList(clock=clock)
    policy = BanPolicy(max_failures=3, window_seconds=60, ban_seconds=100)
    for _ in range(5):
        assert bans.failure(policy, ip="10.0.0.1", user="u") == []
        clock.now += 31
    assert not bans.banned(ip="10.0.0.1", user="u")


async def test_user_ban_spans_addresses() -> None:
    clock = FakeClock()
    bans = BanList(clock=clock)
    policy = BanPolicy(max_failures=2, window_seconds=60, ban_seconds=100)
    assert bans.failure(policy, ip="10.0.0.1", user="victim") == []
    assert bans.failure(policy, ip="10.0.0.2", user="victim") == ["user:victim"]
    assert bans.banned(ip="10.0.0.3", user="victim")
    assert not bans.banned(ip="10.0.0.1", user="other")
    clock.now += 101
    assert not bans.banned(user="victim")


def test_password_hashes() -> None:
    stored = hash_password("s3cret")
    assert stored.startswith("scrypt$16384$8$1$")
    assert verify_password("s3cret", stored)
    assert not verify_password("s3cret ", stored)
    assert hash_password("s3cret") != stored  # salted
    for bad in (
        "",
        "scrypt$1$2$3",
        "bcrypt$16384$8$1$AAAA$AAAA",
        "scrypt$x$8$1$AAAA$AAAA",
        f"scrypt${1 << 70}$8$1$AAAA$AAAA",
    ):
        assert not verify_password("s3cret", bad)


async def test_session_cap(tmp_path: Path) -> None:
    kit = await start_kit(tmp_path, limits={"max_sessions": 1})
    try:
        async with kit.sftp("air_in") as sftp:
            with pytest.raises((asyncssh.DisconnectError, ConnectionError)):
                await kit.connect("air_ro")
            assert await sftp.listdir("/outbox") == [".", ".."]  # the first one is unharmed
        await kit.idle()
        async with kit.sftp("air_ro") as sftp:
            assert await sftp.listdir("/outbox") == [".", ".."]
        assert kit.events.events("login_refused")[0]["reason"] == "too many sessions"
    finally:
        kit.endpoint.close()
        await kit.endpoint.wait_closed()


async def test_idle_sessions_are_closed(kit: Kit) -> None:
    kit.config = dataclasses.replace(
        kit.config, gateway=dataclasses.replace(kit.config.gateway, idle_timeout_seconds=0.3)
    )
    conn = await kit.connect("air_in")
    sftp = await conn.start_sftp_client()
    for _ in range(4):  # activity keeps it open
        await asyncio.sleep(0.1)
        await sftp.listdir("/")
    await asyncio.wait_for(conn.wait_closed(), 5)
    assert kit.events.events("idle_timeout")


async def test_login_grace_time(tmp_path: Path) -> None:
    kit = await start_kit(tmp_path, login_grace_seconds=0.3)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", kit.port)
        banner = await reader.readline()
        assert banner.startswith(b"SSH-2.0-")
        await asyncio.wait_for(reader.read(), 5)  # the server hangs up on a silent client
        writer.close()
        await eventually(lambda: kit.endpoint.connections == 0)
        assert kit.events.events("login_failed") == []
    finally:
        kit.endpoint.close()
        await kit.endpoint.wait_closed()


async def test_stop_accepting_keeps_open_sessions(kit: Kit) -> None:
    async with kit.sftp("air_in") as sftp:
        kit.endpoint.stop_accepting()
        with pytest.raises(OSError):
            await kit.connect("air_ro")
        async with sftp.open("/inbox/late.hot", "wb") as f:
            await f.write(b"still works")
    assert len(kit.events.uploads) == 1


async def test_sftp_only_no_shell_exec_or_forwarding(kit: Kit) -> None:
    async with await kit.connect("air_admin") as conn:
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.run("cat /etc/passwd", check=True)
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.open_connection("127.0.0.1", kit.port)
        async with conn.start_sftp_client() as sftp:  # the connection is still good
            assert "outbox" in await sftp.listdir("/")
