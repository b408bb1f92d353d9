"""Logins: keys, passwords, no user enumeration, brute-force bans, session cap, timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from opencass.config.model import BanPolicy
from opencass.gateway.sftp import BanList, hash_password, verify_password
from tests.kit.sftp import PASSWORD, FakeClock, Kit, eventually, start_kit, write_key


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
    assert [b["target"] for b in kit.events.events("banned")] == ["ip:127.0.0.1"]
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
    assert not bans.banned(ip="10.0.0.1")


async def test_a_user_is_never_banned_only_slowed_from_failing_addresses() -> None:
    """Defect: five wrong keys for demoair from anywhere banned demoair everywhere for 15
    minutes, so anyone could lock an airline out before its cut-off."""
    clock = FakeClock()
    bans = BanList(clock=clock)
    policy = BanPolicy(max_failures=2, window_seconds=60, ban_seconds=100)
    assert bans.failure(policy, ip="10.0.0.1", user="victim") == []
    assert bans.failure(policy, ip="10.0.0.2", user="victim") == []
    assert bans.failure(policy, ip="10.0.0.2", user="victim") == ["ip:10.0.0.2"]
    assert bans.banned(ip="10.0.0.2") and not bans.banned(ip="10.0.0.1")
    assert not bans.banned(ip="10.0.0.3")  # the user's own office: never banned
    assert bans.delay(policy, ip="10.0.0.3", user="victim") == 0  # nor slowed
    assert bans.delay(policy, ip="10.0.0.1", user="victim") == 2  # an address that failed
    clock.now += 61
    assert bans.delay(policy, ip="10.0.0.1", user="victim") == 0


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


# -- floods and lockouts, from several client addresses on the loopback -------------------------


async def _connect_from(kit: Kit, source: str, user: str, **kw: object) -> float:
    """Seconds a login from ``source`` (a 127.0.0.x address) takes, through to an SFTP listing."""
    started = time.monotonic()
    conn = await asyncssh.connect(
        "127.0.0.1", kit.port, username=user, known_hosts=None, agent_path=None, config=[],
        client_keys=[str(kit.keys[user])], local_addr=(source, 0), **kw,
    )  # fmt: skip
    async with conn, conn.start_sftp_client() as sftp:
        await sftp.listdir("/outbox")
    return time.monotonic() - started


async def test_wrong_keys_for_a_user_never_lock_its_own_office_out(kit: Kit) -> None:
    stranger = kit.tmp / "stranger"
    write_key(stranger)
    for _ in range(5):  # an attacker at 127.0.0.66 tries air_in with wrong keys
        with pytest.raises((asyncssh.PermissionDenied, asyncssh.DisconnectError, ConnectionError)):
            await asyncssh.connect(
                "127.0.0.1", kit.port, username="air_in", known_hosts=None, agent_path=None,
                config=[], client_keys=[str(stranger)], local_addr=("127.0.0.66", 0),
            )  # fmt: skip
        await kit.idle()
    assert [b["target"] for b in kit.events.events("banned")] == ["ip:127.0.0.66"]
    assert await _connect_from(kit, "127.0.0.1", "air_in") < 1.0  # the airline logs in


async def test_a_flood_of_silent_connections_locks_nobody_out(tmp_path: Path) -> None:
    """Defect: 520 silent TCP connections (each held for the login grace time) filled
    max_sessions and locked every user out. Here 300 against 50 sessions."""
    kit = await start_kit(tmp_path, limits={"max_sessions": 50})
    limits = kit.config.gateway.limits
    per_address, total = limits.max_unauthenticated_per_address, limits.max_unauthenticated
    sockets = []
    try:
        for n in range(300):  # one address, then many: over both caps
            source = "127.0.0.77" if n < 100 else f"127.0.{1 + n // 200}.{n % 200 + 2}"
            s = socket.socket()
            s.setblocking(False)
            s.bind((source, 0))
            with contextlib.suppress(BlockingIOError):
                s.connect(("127.0.0.1", kit.port))
            sockets.append(s)
            if n % 20 == 0:
                await asyncio.sleep(0)
        await eventually(lambda: kit.endpoint.unauthenticated_count() >= min(total, 200), 10)
        assert kit.endpoint.unauthenticated_count() <= total
        assert kit.endpoint.unauthenticated_from("127.0.0.77") <= per_address
        assert await _connect_from(kit, "127.0.0.1", "air_in") < 1.0
        reasons = {e["reason"] for e in kit.events.events("login_refused")}
        assert any("this address" in r for r in reasons)
        assert any("newer connection" in r for r in reasons)
    finally:
        for s in sockets:
            s.close()
        kit.endpoint.close()
        await kit.endpoint.wait_closed()
