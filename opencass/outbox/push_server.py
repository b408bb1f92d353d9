"""A small SFTP server receiving pushed files: a participant's own server, for demos and tests.

``PushServer`` listens (on 127.0.0.1 by default) with an asyncssh SFTP server rooted in one
directory: public-key login only, for the given authorized keys (and, if given, one user name).
``opencass demo push-server`` (``opencass.cli.push``) runs one until interrupted.

Tests pass their own ``sftp_factory`` (an ``asyncssh.SFTPServer`` subclass that stalls,
refuses or hangs up) to see how the pusher copes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import asyncssh

SftpFactory = Callable[["asyncssh.SSHServerChannel[bytes]"], asyncssh.SFTPServer]


class _Auth(asyncssh.SSHServer):
    """Public keys only, from a fixed set; optionally one user name."""

    def __init__(self, owner: PushServer) -> None:
        self.owner = owner
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.owner.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.owner.connections.discard(self.conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        allowed = self.owner.username is None or username == self.owner.username
        return allowed and key.public_data in self.owner.authorized

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False


class PushSFTPServer(asyncssh.SFTPServer):
    """asyncssh's SFTP server, its ``fsync`` moved off the event loop."""

    async def fsync(self, file_obj: object) -> None:
        await asyncio.to_thread(os.fsync, file_obj.fileno())  # type: ignore[attr-defined]


def _public_keys(keys: Path | Sequence[str | asyncssh.SSHKey]) -> frozenset[bytes]:
    if isinstance(keys, Path):
        lines = [s.strip() for s in keys.read_text().splitlines()]
        keys = [s for s in lines if s and not s.startswith("#")]
    out = set()
    for key in keys:
        k = asyncssh.import_public_key(key) if isinstance(key, str) else key
        out.add(k.public_data)
    return frozenset(out)


class PushServer:
    """An SFTP server on loopback, rooted in ``root``; ``async with`` starts and stops it."""

    def __init__(
        self,
        root: Path,
        host_key: asyncssh.SSHKey | Path,
        authorized_keys: Path | Sequence[str | asyncssh.SSHKey],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str | None = None,
        sftp_factory: SftpFactory | None = None,
    ) -> None:
        self.root = Path(root)
        self.host_key = (
            host_key
            if isinstance(host_key, asyncssh.SSHKey)
            else asyncssh.read_private_key(host_key)
        )
        self.authorized = _public_keys(authorized_keys)
        self.host, self.port, self.username = host, port, username
        self.sftp_factory = sftp_factory or self.chrooted
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self._server: asyncssh.SSHAcceptor | None = None

    def chrooted(self, chan: asyncssh.SSHServerChannel[bytes]) -> asyncssh.SFTPServer:
        """The plain SFTP server: the client sees ``root`` as ``/``, its login directory."""
        return PushSFTPServer(chan, chroot=os.fsencode(self.root))

    @property
    def host_key_line(self) -> str:
        """The public host key, as a participant's ``[push] host_key`` pins it."""
        return self.host_key.export_public_key().decode().strip()

    async def start(self) -> PushServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self._server = await asyncssh.listen(
            self.host,
            self.port,
            server_factory=lambda: _Auth(self),
            server_host_keys=[self.host_key],
            sftp_factory=self.sftp_factory,
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
            login_timeout=10.0,
            config=None,
        )
        self.port = self._server.get_port()
        return self

    def drop_connections(self) -> None:
        """Hang up on every client at once, as a crashing server would."""
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.drop_connections()

    async def __aenter__(self) -> PushServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
