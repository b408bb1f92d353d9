"""Push delivery: copy a file to a participant's own SFTP server, exactly once, safely.

``Pusher.push(target, name, source)`` writes ``<remote_dir>/.<name>.<random>.part``, checks its
size, renames it to ``<remote_dir>/<name>`` (the OpenSSH ``posix-rename`` extension when the
server has it, which replaces atomically; otherwise a plain rename, removing an older file of the
same name first) and checks the size again.

Idempotent: when ``<name>`` already exists with the same size *and* the same SHA-256 (read back
from the server; this costs a download, but only happens when a delivery is repeated, e.g.
after a crash between the rename and the queue's commit) the push succeeds without uploading;
when it cannot be read back (a write-only drop box) it is sent again.
A file of the same name with other content is replaced.  Either way exactly one file of that
name is left, and only complete files ever carry it.

One SSH connection per target, opened on first use and reopened after a failure; at most
``target.max_connections`` transfers run on it at once, and pushes of the same name to the same
target are serialized.  The host key is pinned (``target.host_key``), only public-key
authentication is tried, ``~/.ssh/config``, ``known_hosts`` and agents are ignored.

Failures raise ``PushError`` with a ``code`` and whether a retry can help (``retryable``):

==================  =========  =======================================================
code                retryable  when
==================  =========  =======================================================
REFUSED             yes        connection refused, reset or closed before login
HOST_KEY_MISMATCH   no         the server's host key is not the pinned one
AUTH_FAILED         no         the server refused the key (or the key file is unusable)
TIMEOUT             yes        connecting, or one SFTP request, took longer than allowed
DISCONNECTED        yes        the connection broke after login (e.g. mid-transfer)
REMOTE_ERROR        depends    an SFTP error status: permission denied, no such directory,
                               unsupported → no; no space, quota, generic failure → yes
==================  =========  =======================================================

A temporary file left by a broken transfer is removed when the connection is reopened; ones
left by a crashed process are removed by the first connection that finds them older than
``STALE_PART_SECONDS``.  Local files are read in chunks in a worker thread: the event loop
never blocks on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import logging
import posixpath
import re
import secrets
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

import asyncssh

from opencass.config.push import PushTarget
from opencass.errors import InternalError, PeerError

__all__ = ["PushCode", "PushError", "PushResult", "PushTarget", "Pusher", "SourceError"]

log = logging.getLogger(__name__)
T = TypeVar("T")

CHUNK = 256 << 10  # bytes read locally at a time, and the largest SFTP write request
SAFE_WRITE = 16 << 10  # the write size every server takes (when it states no limit)
DEPTH = 16  # SFTP write requests in flight per transfer
STALE_PART_SECONDS = 3600.0
PART = re.compile(r"\..+\.[0-9a-f]{16}\.part")
CLOSE_SECONDS = 2.0
# AES-GCM first: far cheaper per packet in asyncssh than its default chacha20-poly1305
CIPHERS = [
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
]


class PushCode(enum.StrEnum):
    REFUSED = "REFUSED"
    HOST_KEY_MISMATCH = "HOST_KEY_MISMATCH"
    AUTH_FAILED = "AUTH_FAILED"
    TIMEOUT = "TIMEOUT"
    DISCONNECTED = "DISCONNECTED"
    REMOTE_ERROR = "REMOTE_ERROR"


RETRYABLE = {
    PushCode.REFUSED: True,
    PushCode.HOST_KEY_MISMATCH: False,
    PushCode.AUTH_FAILED: False,
    PushCode.TIMEOUT: True,
    PushCode.DISCONNECTED: True,
    PushCode.REMOTE_ERROR: True,
}

# SFTP status codes after which trying again cannot help without someone changing something
FINAL_STATUS = {
    asyncssh.FX_NO_SUCH_FILE,
    asyncssh.FX_PERMISSION_DENIED,
    asyncssh.FX_OP_UNSUPPORTED,
    asyncssh.FX_BAD_MESSAGE,
    asyncssh.FX_NO_SUCH_PATH,
    asyncssh.FX_WRITE_PROTECT,
    asyncssh.FX_NOT_A_DIRECTORY,
    asyncssh.FX_INVALID_FILENAME,
    asyncssh.FX_FILE_IS_A_DIRECTORY,
    asyncssh.FX_INVALID_PARAMETER,
}
LOST_STATUS = {asyncssh.FX_NO_CONNECTION, asyncssh.FX_CONNECTION_LOST}


class PushError(PeerError):
    """A push failed: ``code`` says how, ``retryable`` whether trying again later can help."""

    def __init__(self, code: PushCode, message: str, *, retryable: bool | None = None) -> None:
        self.code = code
        self.retryable = RETRYABLE[code] if retryable is None else retryable
        self.message = message
        super().__init__(f"{code}: {message}")


class SourceError(InternalError):
    """The local file to push could not be read (nothing to do with the remote side)."""

    code = "PUSH_SOURCE_CHANGED"


@dataclass(frozen=True, slots=True)
class PushResult:
    """A file now at the destination: where, how big, its SHA-256, and whether it was sent."""

    path: str  # remote path, <remote_dir>/<name>
    size: int
    sha256: str  # hex
    uploaded: bool  # False: an identical file was already there
    replaced: bool = False  # a different file of that name was there and has been replaced
    seconds: float = 0.0


def check_name(name: str) -> None:
    """A push names one plain file: no directories, not hidden, no control characters."""
    if (
        not name
        or name.startswith(".")
        or "/" in name
        or "\\" in name
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
        or len(name.encode()) > 200
    ):
        raise ValueError(f"{name!r} is not a plain file name to push")


# --- the source: bytes or a local file, read in chunks off the loop ----------------------------


class _Source:
    def __init__(self, source: Path | bytes) -> None:
        self.source = source
        self.size = len(source) if isinstance(source, bytes) else -1
        self.digest: str | None = None

    async def open(self) -> None:
        if isinstance(self.source, Path):
            try:
                self.size = (await asyncio.to_thread(self.source.stat)).st_size
            except OSError as e:
                raise SourceError(f"cannot read {self.source}: {e.strerror}") from e

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The bytes in chunks; sets ``digest`` (SHA-256 hex) once all were read."""
        h = hashlib.sha256()
        if isinstance(self.source, bytes):
            view = memoryview(self.source)
            for at in range(0, len(view), CHUNK):
                chunk = bytes(view[at : at + CHUNK])
                h.update(chunk)
                yield chunk
        else:
            try:
                f: BinaryIO = await asyncio.to_thread(self.source.open, "rb")
            except OSError as e:
                raise SourceError(f"cannot read {self.source}: {e.strerror}") from e
            try:
                while chunk := await asyncio.to_thread(_read_hashed, f, h):
                    yield chunk
            except OSError as e:
                raise SourceError(f"cannot read {self.source}: {e.strerror}") from e
            finally:
                await asyncio.to_thread(f.close)
        self.digest = h.hexdigest()

    async def sha256(self) -> str:
        if self.digest is None:
            async with contextlib.aclosing(self.chunks()) as chunks:
                async for _ in chunks:
                    pass
        assert self.digest is not None
        return self.digest


def _read_hashed(f: BinaryIO, h: Any) -> bytes:
    chunk = f.read(CHUNK)
    h.update(chunk)
    return chunk


# --- one target: its connection and limits ------------------------------------------------------


@dataclass(eq=False)
class _Link:
    target: PushTarget
    slots: asyncio.Semaphore
    connecting: asyncio.Lock = field(default_factory=asyncio.Lock)
    conn: asyncssh.SSHClientConnection | None = None
    sftp: asyncssh.SFTPClient | None = None
    key: asyncssh.SSHKey | None = None
    posix_rename: bool = True
    stale: set[str] = field(default_factory=set)  # temp files of broken transfers
    names: dict[str, list[Any]] = field(default_factory=dict)  # name -> [lock, users]

    def alive(self) -> asyncssh.SFTPClient | None:
        if self.conn is None or self.sftp is None or self.conn.is_closed():
            return None
        return self.sftp


def _classify_connect(e: BaseException, t: PushTarget) -> PushError:
    where = f"{t.username}@{t.host}:{t.port}"
    if isinstance(e, asyncssh.HostKeyNotVerifiable | asyncssh.KeyExchangeFailed):
        return PushError(
            PushCode.HOST_KEY_MISMATCH, f"{where}: host key is not the pinned one ({e})"
        )
    if isinstance(e, asyncssh.PermissionDenied):
        return PushError(PushCode.AUTH_FAILED, f"{where}: the server refused the key ({e})")
    if isinstance(e, TimeoutError):
        return PushError(PushCode.TIMEOUT, f"{where}: no SSH session within {t.connect_timeout} s")
    return PushError(PushCode.REFUSED, f"{where}: {type(e).__name__}: {e}")


def _classify(e: BaseException, t: PushTarget, step: str) -> PushError:
    """The ``PushError`` for ``e`` raised after login, while doing ``step``."""
    where = f"{t.username}@{t.host}:{t.port}"
    if isinstance(e, PushError):
        return e
    if isinstance(e, TimeoutError):
        return PushError(PushCode.TIMEOUT, f"{where}: {step} stalled beyond {t.io_timeout} s")
    if isinstance(e, asyncssh.SFTPError):
        if e.code in LOST_STATUS:
            return PushError(PushCode.DISCONNECTED, f"{where}: connection lost while {step}")
        return PushError(
            PushCode.REMOTE_ERROR,
            f"{where}: {step}: {e.reason} (SFTP status {e.code})",
            retryable=e.code not in FINAL_STATUS,
        )
    if isinstance(e, asyncssh.Error | OSError | EOFError | asyncssh.ChannelOpenError):
        return PushError(PushCode.DISCONNECTED, f"{where}: {step}: {type(e).__name__}: {e}")
    return PushError(PushCode.DISCONNECTED, f"{where}: {step}: unexpected {e!r}")


class Pusher:
    """Pushes files to participants' SFTP servers; one connection per target, reused."""

    def __init__(self, *, use_posix_rename: bool = True) -> None:
        self._links: dict[PushTarget, _Link] = {}
        self._use_posix_rename = use_posix_rename
        self._closed = False

    async def __aenter__(self) -> Pusher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _link(self, target: PushTarget) -> _Link:
        link = self._links.get(target)
        if link is None:
            link = self._links[target] = _Link(target, asyncio.Semaphore(target.max_connections))
            link.posix_rename = self._use_posix_rename
            # the same server with other settings (a reloaded config): close the idle old link
            # (two targets on one server differing only in their directory are both live)
            for old in [x for x in self._links.values() if x is not link and not x.names]:
                same = _server(old.target) == _server(target)
                same = same and old.target.remote_dir == target.remote_dir
                if same and self._links.pop(old.target, None) is old:
                    await _drop(old)
        return link

    # connections

    async def _session(self, link: _Link) -> tuple[asyncssh.SFTPClient, bool]:
        """The link's SFTP session, and whether it was opened just now."""
        async with link.connecting:
            if (sftp := link.alive()) is not None:
                return sftp, False
            await _drop(link)
            t = link.target
            if link.key is None:
                try:
                    link.key = await asyncio.to_thread(asyncssh.read_private_key, t.client_key)
                except (OSError, asyncssh.KeyImportError) as e:
                    raise PushError(
                        PushCode.AUTH_FAILED, f"cannot use client key {t.client_key}: {e}"
                    ) from None
            try:
                host_key = asyncssh.import_public_key(t.host_key)
            except (asyncssh.KeyImportError, ValueError) as e:
                raise PushError(
                    PushCode.HOST_KEY_MISMATCH, f"pinned host key unusable: {e}"
                ) from None
            try:
                async with asyncio.timeout(t.connect_timeout):
                    conn = await asyncssh.connect(
                        t.host,
                        t.port,
                        username=t.username,
                        client_keys=[link.key],
                        known_hosts=([host_key], [], []),
                        preferred_auth="publickey",
                        agent_path=None,
                        password=None,
                        kbdint_auth=False,
                        gss_host=None,
                        config=None,
                        connect_timeout=t.connect_timeout,
                        encryption_algs=CIPHERS,
                        keepalive_interval=max(t.io_timeout, 15.0),
                        keepalive_count_max=3,
                    )
            except (OSError, asyncssh.Error, TimeoutError, EOFError) as e:
                error = _classify_connect(e, t)
                if error.code is PushCode.AUTH_FAILED:
                    link.key = None  # read the key file again next time: it may be replaced
                raise error from None
            try:
                async with asyncio.timeout(t.io_timeout):
                    sftp = await conn.start_sftp_client()
            except BaseException as e:
                conn.abort()
                if isinstance(e, asyncio.CancelledError):
                    raise
                raise _classify(e, t, "starting SFTP") from None
            link.conn, link.sftp = conn, sftp
            await self._sweep(link, sftp)
            return sftp, True

    async def _sweep(self, link: _Link, sftp: asyncssh.SFTPClient) -> None:
        """Remove temp files of broken transfers: ours, and old ones from before a crash."""
        t = link.target
        try:
            async with asyncio.timeout(t.io_timeout):
                for path in sorted(link.stale):
                    with contextlib.suppress(asyncssh.SFTPError):
                        await sftp.remove(path)
                    link.stale.discard(path)
                now = time.time()
                for entry in await sftp.readdir(t.remote_dir):
                    name = str(entry.filename)
                    mtime = entry.attrs.mtime
                    if PART.fullmatch(name) and mtime and now - mtime > STALE_PART_SECONDS:
                        with contextlib.suppress(asyncssh.SFTPError):
                            await sftp.remove(posixpath.join(t.remote_dir, name))
        except (asyncssh.Error, OSError, TimeoutError) as e:
            log.info("push: cleaning %s on %s failed: %s", t.remote_dir, t.host, e)

    async def close(self) -> None:
        """Close every connection (transfers still running fail with DISCONNECTED)."""
        self._closed = True
        links, self._links = list(self._links.values()), {}
        await asyncio.gather(*(_drop(link) for link in links))

    # pushing

    async def push(self, target: PushTarget, name: str, source: Path | bytes) -> PushResult:
        """Deliver ``source`` as ``<remote_dir>/<name>`` on the target's server (see module doc).

        Raises ``PushError`` (``code``, ``retryable``); ``SourceError`` when the local file
        cannot be read; ``ValueError`` for a bad ``name``.
        """
        check_name(name)
        if self._closed:
            raise PushError(PushCode.DISCONNECTED, "the pusher is closed")
        link = await self._link(target)
        entry = link.names.setdefault(name, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0], link.slots:
                started = time.perf_counter()
                result = await self._push(link, name, _Source(source))
                return _timed(result, time.perf_counter() - started)
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del link.names[name]

    async def _push(self, link: _Link, name: str, source: _Source) -> PushResult:
        t = link.target
        await source.open()
        dest = posixpath.normpath(posixpath.join(t.remote_dir, name))
        tmp = posixpath.normpath(
            posixpath.join(t.remote_dir, f".{name}.{secrets.token_hex(8)}.part")
        )

        def io(aw: Awaitable[T]) -> Awaitable[T]:
            return asyncio.wait_for(aw, t.io_timeout)

        sftp, conn, before = await self._look(link, dest, io)
        step = [f"checking {dest}"]  # what is being done, for the error's message
        try:
            same = before == source.size and await self._same(
                sftp, dest, source, step, t.io_timeout
            )
            if same:
                assert source.digest is not None
                return PushResult(dest, source.size, source.digest, uploaded=False)
            written = await self._send(link, sftp, name, source, tmp, dest, io, step)
        except asyncio.CancelledError:
            await self._broken(link, conn)
            raise
        except Exception as e:
            failure = None if isinstance(e, SourceError) else _classify(e, t, step[0])
            if failure and failure.code in (PushCode.TIMEOUT, PushCode.DISCONNECTED):
                await self._broken(link, conn)
            elif tmp in link.stale and link.alive() is sftp:
                with contextlib.suppress(Exception):
                    await io(sftp.remove(tmp))
                    link.stale.discard(tmp)
            if failure is None:
                raise
            raise failure from None
        assert source.digest is not None
        return PushResult(dest, written, source.digest, uploaded=True, replaced=before is not None)

    async def _look(
        self, link: _Link, dest: str, io: Callable[[Awaitable[Any]], Awaitable[Any]]
    ) -> tuple[asyncssh.SFTPClient, Any, int | None]:
        """(session, its connection, the size of ``dest`` or None): a reused connection found
        dead on its first request is reopened once."""
        t = link.target
        while True:
            sftp, fresh = await self._session(link)
            conn = link.conn
            try:
                return sftp, conn, await _size(sftp, dest, io)
            except Exception as e:
                error = _classify(e, t, f"checking {dest}")
                if error.code in (PushCode.TIMEOUT, PushCode.DISCONNECTED):
                    await self._broken(link, conn)
                if fresh or error.code is not PushCode.DISCONNECTED:
                    raise error from None
                log.info("push: connection to %s was gone, reconnecting", t.host)

    async def _same(
        self, sftp: asyncssh.SFTPClient, dest: str, source: _Source, step: list[str], timeout: float
    ) -> bool:
        """Whether ``dest``, of the source's size, has its bytes too."""
        step[0] = f"comparing {dest}"
        digest = await source.sha256()
        try:
            return await _remote_sha256(sftp, dest, timeout) == digest
        except asyncssh.SFTPError as e:  # e.g. a drop box that cannot be read back
            if e.code in LOST_STATUS:
                raise
            return False  # send it again: replacing it with itself is harmless

    async def _send(
        self,
        link: _Link,
        sftp: asyncssh.SFTPClient,
        name: str,
        source: _Source,
        tmp: str,
        dest: str,
        io: Callable[[Awaitable[Any]], Awaitable[Any]],
        step: list[str],
    ) -> int:
        """Write the source under ``tmp``, check it, rename it to ``dest``, check again."""
        step[0] = f"writing {tmp}"
        link.stale.add(tmp)
        written = await self._upload(sftp, tmp, source, link.target.io_timeout)
        if written != source.size:
            raise SourceError(f"{name}: the local file changed while being sent")
        step[0] = f"checking {tmp}"
        if (size := await _size(sftp, tmp, io)) != written:
            raise PushError(PushCode.REMOTE_ERROR, f"{tmp} has {size} bytes, sent {written}")
        step[0] = f"renaming {tmp} to {dest}"
        await self._rename(link, sftp, tmp, dest, io)
        link.stale.discard(tmp)
        step[0] = f"checking {dest}"
        if (size := await _size(sftp, dest, io)) != written:
            raise PushError(PushCode.REMOTE_ERROR, f"{dest} has {size} bytes, sent {written}")
        return written

    async def _upload(
        self, sftp: asyncssh.SFTPClient, tmp: str, source: _Source, timeout: float
    ) -> int:
        """Write ``source`` to ``tmp``: up to ``DEPTH`` write requests in flight, each a task
        of ours, so that none is left behind when the transfer fails or is cancelled."""
        block = min(CHUNK, sftp.limits.max_write_len or SAFE_WRITE)
        written = 0
        pending: set[asyncio.Task[int]] = set()
        # block_size=0: one SFTP request per write() call (asyncssh's own parallel writer
        # leaves its tasks running when it is cancelled)
        f = await asyncio.wait_for(sftp.open(tmp, "wb", encoding=None, block_size=0), timeout)
        try:
            async with contextlib.aclosing(source.chunks()) as chunks:
                async for chunk in chunks:
                    for at in range(0, len(chunk), block):
                        while len(pending) >= DEPTH:
                            await _progress(pending, timeout)
                        piece = chunk[at : at + block]
                        pending.add(asyncio.ensure_future(f.write(piece, written)))
                        written += len(piece)
            while pending:
                await _progress(pending, timeout)
            with contextlib.suppress(asyncssh.SFTPOpUnsupported):
                await asyncio.wait_for(f.fsync(), timeout)
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(f.close(), timeout)
        return written

    async def _rename(
        self,
        link: _Link,
        sftp: asyncssh.SFTPClient,
        tmp: str,
        dest: str,
        io: Any,
    ) -> None:
        if link.posix_rename:
            try:
                await io(sftp.posix_rename(tmp, dest))
                return
            except asyncssh.SFTPOpUnsupported:
                link.posix_rename = False
        try:
            await io(sftp.rename(tmp, dest))
        except (asyncssh.SFTPFailure, asyncssh.SFTPFileAlreadyExists):
            # SFTPv3 rename never replaces: remove the older file, then rename (not atomic:
            # a crash in between leaves no file of that name, and the retry sends it again)
            if await _size(sftp, dest, io) is None:
                raise
            await io(sftp.remove(dest))
            await io(sftp.rename(tmp, dest))

    async def _broken(self, link: _Link, conn: asyncssh.SSHClientConnection | None) -> None:
        """Forget the connection ``conn`` (if still the link's): the next push reconnects."""
        if conn is not None and link.conn is conn:
            await _drop(link)


def _server(t: PushTarget) -> tuple[str, int, str]:
    return t.host, t.port, t.username


def _timed(result: PushResult, seconds: float) -> PushResult:
    return PushResult(
        result.path, result.size, result.sha256, result.uploaded, result.replaced, seconds
    )


async def _drop(link: _Link) -> None:
    conn, link.conn, link.sftp = link.conn, None, None
    if conn is None:
        return
    conn.abort()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(conn.wait_closed(), CLOSE_SECONDS)


async def _progress(pending: set[asyncio.Task[int]], timeout: float) -> None:
    """Wait until at least one request of ``pending`` is answered; raise its error if any, and
    ``TimeoutError`` when none is answered within ``timeout``."""
    done, _ = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if not done:
        raise TimeoutError
    pending.difference_update(done)
    errors = [e for t in done if not t.cancelled() and (e := t.exception())]  # all retrieved
    if errors:
        raise errors[0]


async def _size(sftp: asyncssh.SFTPClient, path: str, io: Any) -> int | None:
    """The size of ``path``, None when there is no such file."""
    try:
        attrs = await io(sftp.stat(path))
    except asyncssh.SFTPNoSuchFile:
        return None
    return int(attrs.size) if attrs.size is not None else -1


async def _remote_sha256(sftp: asyncssh.SFTPClient, path: str, timeout: float) -> str:
    h = hashlib.sha256()
    async with await asyncio.wait_for(sftp.open(path, "rb", encoding=None), timeout) as f:
        while chunk := await asyncio.wait_for(f.read(CHUNK), timeout):
            h.update(cast(bytes, chunk))
    return h.hexdigest()
