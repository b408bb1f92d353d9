"""Push delivery through the queue to a real SFTP server on loopback: documents and
notifications arrive, a refusing server is retried and dead-lettered, a recovered one is
delivered to."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncssh
import pytest

from opencass.codecs.onerecord.notification import decode_notification
from opencass.config import init_demo, load_config
from opencass.config.model import Config
from opencass.events import Event, EventType
from opencass.outbox.push_server import PushServer
from opencass.outbox.service import OutboxService
from opencass.store import queue as q
from opencass.store.connect import connect_sync, migrate_sync
from opencass.store.events import record_events
from tests.kit.gateway import TODAY

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
STATEMENT = "20261122T100000Z_statement_20261101M_23470068510.xml"


@dataclass
class Faults:
    deny_writes: bool = False
    stall: bool = False  # writes never answer until ``release`` is set
    hang_up: bool = False  # the server drops the connection in the middle of a write
    stalled: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


class Refusing(asyncssh.SFTPServer):
    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], root: Path, faults: Faults) -> None:
        super().__init__(chan, chroot=os.fsencode(root))
        self.faults = faults

    async def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        if pflags & asyncssh.FXF_WRITE and self.faults.deny_writes:
            raise asyncssh.SFTPPermissionDenied("not allowed here")
        return super().open(path, pflags, attrs)

    async def write(self, file_obj: object, offset: int, data: bytes) -> int:
        if self.faults.stall:
            self.faults.stalled.set()
            await self.faults.release.wait()
        if self.faults.hang_up:
            self.faults.hang_up = False
            self.channel.get_connection().abort()
            raise asyncssh.SFTPConnectionLost("gone")
        return super().write(file_obj, offset, data)  # type: ignore[return-value]


@dataclass
class Env:
    config: Config
    conn: sqlite3.Connection
    server: PushServer
    remote: Path
    faults: Faults
    now: list[datetime] = field(default_factory=lambda: [T0])

    def service(self) -> OutboxService:
        return OutboxService(lambda: self.config, clock=lambda: self.now[0])

    def states(self, channel: str) -> list[tuple[str, str, int]]:
        sql = (
            "SELECT name, state, attempts FROM deliveries WHERE company = 'agent1'"
            " AND channel = ? ORDER BY id"
        )
        return [tuple(r) for r in self.conn.execute(sql, (channel,))]  # type: ignore[misc]

    def statement(self) -> Event:
        outbox = self.config.gateway.mailboxes_dir / "agent1" / "outbox"
        outbox.mkdir(parents=True, exist_ok=True)
        (outbox / STATEMENT).write_bytes(b"<statement/>" * 1000)
        return Event(
            EventType.DOCUMENT_AVAILABLE,
            f"document:agent1:{STATEMENT}",
            "final statement (xml) for 23470068510",
            company="agent1",
            country="DE",
            period="20261101M",
            agent_code="23470068510",
            object_kind="statement",
            document=STATEMENT,
            data={"format": "xml"},
        )


def write_participant(config_dir: Path, server: PushServer, client_key: Path) -> None:
    path = config_dir / "participants" / "agent1.toml"
    path.write_text(
        path.read_text()
        + f'\n[push]\nhost = "127.0.0.1"\nport = {server.port}\nusername = "agency"\n'
        f'client_key = "{client_key}"\nhost_key = "{server.host_key_line}"\n'
        "connect_timeout = 2.0\nio_timeout = 1.0\n\n"
        '[[subscriptions]]\nevents = ["document.available"]\ndocument_kinds = ["statement"]\n'
        'formats = ["xml", "text"]\nchannels = ["push"]\n'
    )


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    client = asyncssh.generate_private_key("ssh-ed25519")
    client.write_private_key(tmp_path / "client")
    client.write_public_key(tmp_path / "client.pub")
    remote, faults = tmp_path / "remote", Faults()
    server = PushServer(
        remote,
        asyncssh.generate_private_key("ssh-ed25519"),
        tmp_path / "client.pub",
        username="agency",
        sftp_factory=lambda chan: Refusing(chan, remote, faults),
    )
    await server.start()
    init_demo(tmp_path / "config", today=TODAY)
    write_participant(tmp_path / "config", server, tmp_path / "client")
    config = load_config(tmp_path / "config")
    config.gateway.database.parent.mkdir(parents=True, exist_ok=True)
    conn = connect_sync(config.gateway.database)
    migrate_sync(conn)
    conn.row_factory = None
    yield Env(config, conn, server, remote, faults)
    faults.release.set()
    conn.close()
    await server.close()


def record(env: Env, *events: Event) -> None:
    with env.conn:
        record_events(env.conn, events, at=T0.isoformat())


async def test_a_statement_and_its_notification_are_pushed(env: Env) -> None:
    record(env, env.statement())
    svc = env.service()
    await svc.open()
    try:
        assert await svc.run_once() == 5  # mailbox: xml + txt; push: xml + txt + statement
    finally:
        await svc.close()
    names = sorted(p.name for p in env.remote.iterdir())
    assert names == [
        "20261122T100000Z_notification_1.txt",
        "20261122T100000Z_notification_1.xml",
        STATEMENT,
    ]
    assert (env.remote / STATEMENT).read_bytes() == b"<statement/>" * 1000
    doc = decode_notification((env.remote / names[1]).read_bytes())
    assert doc.document == STATEMENT and doc.event_type == "LOGISTICS_OBJECT_CREATED"
    mailbox = env.config.gateway.mailboxes_dir / "agent1" / "outbox"
    assert (mailbox / names[1]).read_bytes() == (env.remote / names[1]).read_bytes()
    assert all(s == "delivered" for _, s, _ in env.states("push"))


async def test_a_server_that_is_down_is_retried_and_a_refusal_is_a_dead_letter(
    env: Env,
) -> None:
    port = env.server.port
    await env.server.close()  # the participant's server is down: connection refused
    record(env, env.statement())
    svc = env.service()
    await svc.open()
    try:
        await svc.run_once()
        push = env.states("push")
        assert push[0][1:] == ("pending", 1) and all(a == 0 for _, _, a in push[1:])
        assert all(s == "delivered" for _, s, _ in env.states("mailbox"))  # not held up
        env.server.port = port
        await env.server.start()  # back, but refusing to write
        env.faults.deny_writes = True
        env.now[0] += timedelta(seconds=10)
        await svc.run_once()  # permission denied cannot be cured by waiting: dead letters
        assert [s for _, s, _ in env.states("push")] == ["dead"] * 3
        dead = q.dead_letters(env.conn, "agent1")
        assert "REMOTE_ERROR" in dead[0]["last_error"]
        env.faults.deny_writes = False  # the participant mends its server
        for d in dead:
            assert q.retry(env.conn, d["id"], env.now[0])
        await svc.run_once()
    finally:
        await svc.close()
    assert [s for _, s, _ in env.states("push")] == ["delivered"] * 3
    assert len([p for p in env.remote.iterdir() if not p.name.startswith(".")]) == 3


async def test_push_after_a_crash_leaves_one_file(env: Env) -> None:
    record(env, env.statement())

    def crash(step: str) -> None:
        raise RuntimeError(step)

    first = OutboxService(lambda: env.config, clock=lambda: env.now[0], fault=crash)
    await first.open()
    with pytest.raises(RuntimeError):
        await first.run_once()
    await first.close()
    svc = env.service()
    await svc.open()
    try:
        await svc.run_once()
        await asyncio.sleep(0)
    finally:
        await svc.close()
    names = sorted(p.name for p in env.remote.iterdir())
    assert len(names) == 3 and not any(n.startswith(".") for n in names)
    assert all(s == "delivered" for _, s, _ in env.states("push"))


async def test_a_stalling_then_vanishing_server_is_retried_until_it_works(env: Env) -> None:
    env.faults.stall = True
    record(env, env.statement())
    svc = env.service()
    await svc.open()
    try:
        await svc.run_once()  # the first push stalls past io_timeout
        assert env.faults.stalled.is_set()
        assert env.states("push")[0][1:] == ("pending", 1)
        assert "TIMEOUT" in env.conn.execute("SELECT last_error FROM deliveries"
                                             " WHERE channel = 'push'").fetchone()[0]  # fmt: skip
        env.faults.stall = False
        env.faults.release.set()  # the stalled write of the dropped connection ends
        await asyncio.sleep(0.2)
        env.faults.hang_up = True
        env.now[0] += timedelta(seconds=10)
        await svc.run_once()  # the server hangs up mid-transfer
        assert env.states("push")[0][1:] == ("pending", 2)
        env.now[0] += timedelta(seconds=30)
        await svc.run_once()
    finally:
        await svc.close()
    assert [s for _, s, _ in env.states("push")] == ["delivered"] * 3
    names = sorted(p.name for p in env.remote.iterdir())
    assert len(names) == 3 and not any(n.startswith(".") for n in names)


async def test_shutdown_does_not_wait_for_a_stalled_push_beyond_the_grace(env: Env) -> None:
    env.faults.stall = True
    svc = env.service()
    await svc.start()
    record(env, env.statement())
    svc.wake()
    await asyncio.wait_for(env.faults.stalled.wait(), timeout=10)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await svc.drain(grace=0.2) is False  # the stalled push is left for later
    assert loop.time() - started < 6
    assert all(s == "delivered" for _, s, _ in env.states("mailbox"))
    assert env.states("push")[0][1] == "pending"
    env.faults.stall = False
    env.faults.release.set()
    env.now[0] += timedelta(minutes=5)
    again = env.service()
    await again.open()
    try:
        await again.run_once()  # resumed at the next start
    finally:
        await again.close()
    assert [s for _, s, _ in env.states("push")] == ["delivered"] * 3
