"""A real SFTP endpoint on 127.0.0.1 in a tmp dir, with clients: asyncssh and OpenSSH ``sftp``.

Two companies: ``air`` (an airline) with one user per role, and ``agent`` with an input user
and a password-only user.  Keys are generated into the tmp dir.  The ban list runs on a fake
clock; ``kit.config`` can be replaced to simulate a reload.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from opencass.config.model import (
    BanPolicy,
    Company,
    CompanyKind,
    Config,
    GatewaySettings,
    Limits,
    Role,
    User,
)
from opencass.gateway.sftp import BanList, SftpEndpoint, hash_password, start_sftp_server

SIGNING_KEY = b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestGatewayKey opencass-gateway\n"
DEFAULT_LIMITS = {"max_upload_bytes": 1 << 20, "company_quota_bytes": 8 << 20}
PASSWORD = "correct horse battery staple"
USERS = {  # name: (company, role)
    "air_admin": ("air", Role.ADMIN),
    "air_in": ("air", Role.INPUT),
    "air_out": ("air", Role.OUTPUT),
    "air_ro": ("air", Role.READONLY),
    "agent_in": ("agent", Role.INPUT),
    "agent_pw": ("agent", Role.INPUT),  # password only, no key
}


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Recorder:
    """``MailboxEvents`` that remembers what it was told."""

    uploads: list[tuple[str, str, Path, int, bool]] = field(default_factory=list)
    audits: list[tuple[str, dict[str, object]]] = field(default_factory=list)

    def uploaded(self, company: str, user: str, path: Path, size: int, sandbox: bool) -> None:
        self.uploads.append((company, user, path, size, sandbox))

    def audit(self, event: str, **fields: object) -> None:
        self.audits.append((event, fields))

    def events(self, name: str) -> list[dict[str, object]]:
        return [f for e, f in self.audits if e == name]


def make_config(
    tmp: Path, keys: dict[str, str], limits: dict[str, int] | None = None, **gateway: object
) -> Config:
    users = {
        name: User(
            name=name,
            company=company,
            roles=frozenset({role}),
            public_keys=(keys[name],) if name in keys else (),
            password_hash=password_hash() if name == "agent_pw" else None,
        )
        for name, (company, role) in USERS.items()
    }
    companies = {
        "air": Company(id="air", kind=CompanyKind.AIRLINE, legal_name="Air Test"),
        "agent": Company(id="agent", kind=CompanyKind.AGENT, legal_name="Agent Test"),
    }
    settings = GatewaySettings(
        data_dir=tmp / "data",
        login_grace_seconds=10.0,
        limits=Limits(**(DEFAULT_LIMITS | (limits or {}))),
        ban=BanPolicy(max_failures=3, window_seconds=60.0, ban_seconds=120.0),
    )
    return Config(
        directory=tmp,
        gateway=dataclasses.replace(settings, **gateway),  # type: ignore[arg-type]
        countries={},
        companies=companies,
        users=users,
        calendars={},
    )


@dataclass
class Kit:
    tmp: Path
    config: Config
    endpoint: SftpEndpoint
    events: Recorder
    clock: FakeClock
    keys: dict[str, Path]  # user -> private key file

    @property
    def port(self) -> int:
        return self.endpoint.port

    def tree(self, company: str) -> Path:
        return self.config.gateway.mailboxes_dir / company

    async def connect(self, user: str, **kw: object) -> asyncssh.SSHClientConnection:
        options: dict[str, object] = {
            "username": user,
            "known_hosts": None,
            "agent_path": None,
            "config": [],
            "client_keys": [str(self.keys[user])] if user in self.keys else [],
            "password": None,
        }
        options.update(kw)
        return await asyncssh.connect("127.0.0.1", self.port, **options)

    @asynccontextmanager
    async def sftp(self, user: str, **kw: object) -> AsyncIterator[asyncssh.SFTPClient]:
        async with await self.connect(user, **kw) as conn, conn.start_sftp_client() as sftp:
            yield sftp

    async def openssh(self, user: str, script: str, key: Path | None = None) -> tuple[int, str]:
        """Run ``script`` through the OpenSSH ``sftp`` command in batch mode."""
        proc = await asyncio.create_subprocess_exec(
            *openssh_args(self.port, key or self.keys[user], user),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(script.encode()), 30)
        return proc.returncode or 0, out.decode()

    async def idle(self) -> None:
        """Wait until the server has seen every connection end."""
        await eventually(lambda: self.endpoint.connections == 0)


def openssh_args(port: int, key: Path, user: str, *extra: str) -> list[str]:
    return [
        "sftp", "-b", "-", "-i", str(key), "-P", str(port), "-F", "/dev/null",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
        *extra, f"{user}@127.0.0.1",
    ]  # fmt: skip


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition the server reaches asynchronously (connection teardown)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


def write_key(path: Path) -> str:
    """Generate an Ed25519 key pair; return the OpenSSH public line."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment=path.name)
    key.write_private_key(str(path))
    path.chmod(0o600)
    return key.export_public_key().decode().strip()


async def start_kit(tmp: Path, limits: dict[str, int] | None = None, **gateway: object) -> Kit:
    keydir = tmp / "keys"
    keydir.mkdir()
    host_key = keydir / "host"
    write_key(host_key)
    paths = {u: keydir / u for u in USERS if u != "agent_pw"}
    public = {u: write_key(p) for u, p in paths.items()}
    config = make_config(tmp, public, limits, **gateway)
    events, clock = Recorder(), FakeClock()
    holder: list[Kit] = []
    endpoint = await start_sftp_server(
        lambda: holder[0].config if holder else config,
        events,
        host="127.0.0.1",
        port=0,
        server_host_keys=[host_key],
        gateway_public_key=SIGNING_KEY,
        bans=BanList(clock=clock),
    )
    holder.append(Kit(tmp, config, endpoint, events, clock, paths))
    return holder[0]


class RawSftp:
    """SFTP v3 spoken by hand on a session channel, to misbehave on purpose."""

    def __init__(self, writer: asyncssh.SSHWriter[bytes], reader: asyncssh.SSHReader[bytes]):
        self.writer, self.reader, self._id = writer, reader, 0

    @classmethod
    async def start(cls, conn: asyncssh.SSHClientConnection) -> RawSftp:
        writer, reader, _ = await conn.open_session(subsystem="sftp", encoding=None)
        raw = cls(writer, reader)
        raw.send(1, _u32(3))  # INIT, version 3
        kind, _ = await raw.receive()
        assert kind == 2  # VERSION
        return raw

    def send(self, kind: int, *fields: bytes) -> None:
        body = bytes([kind]) + b"".join(fields)
        self.writer.write(_u32(len(body)) + body)

    async def receive(self) -> tuple[int, bytes]:
        size = int.from_bytes(await self.reader.readexactly(4), "big")
        body = await self.reader.readexactly(size)
        return body[0], body[1:]

    async def request(self, kind: int, *fields: bytes) -> tuple[int, bytes]:
        self._id += 1
        self.send(kind, _u32(self._id), *fields)
        reply, body = await self.receive()
        assert body[:4] == _u32(self._id)
        return reply, body[4:]

    async def open_for_write(self, path: str) -> bytes:
        flags = asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_TRUNC
        reply, body = await self.request(3, _str(path.encode()), _u32(flags), _u32(0))
        assert reply == 102, body  # HANDLE
        return body[4 : 4 + int.from_bytes(body[:4], "big")]

    async def write(self, handle: bytes, offset: int, data: bytes) -> None:
        reply, body = await self.request(6, _str(handle), offset.to_bytes(8, "big"), _str(data))
        assert reply == 101 and body[:4] == _u32(0), body  # STATUS OK


def _u32(n: int) -> bytes:
    return n.to_bytes(4, "big")


def _str(b: bytes) -> bytes:
    return _u32(len(b)) + b
