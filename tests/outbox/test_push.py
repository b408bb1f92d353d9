"""Push delivery against real SFTP servers on 127.0.0.1: asyncssh (with faults) and OpenSSH sshd."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import pytest

from opencass.config.push import PushTarget, read_push
from opencass.config.reader import Problem, Table
from opencass.outbox import push as push_module
from opencass.outbox.push import PushCode, Pusher, PushError, SourceError
from opencass.outbox.push_server import PushServer, PushSFTPServer
from tests.kit.tools import needs_tool

BIG = 4 << 20  # a "large" file: many SFTP writes


@dataclass
class Keys:
    host: asyncssh.SSHKey
    client: Path  # private key file; its public key is authorized
    stranger: Path  # a private key nobody authorized
    other_host: asyncssh.SSHKey


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    base = tmp_path_factory.mktemp("keys")
    files = {}
    for name in ("client", "stranger"):
        key = asyncssh.generate_private_key("ssh-ed25519")
        key.write_private_key(base / name)
        key.write_public_key(base / f"{name}.pub")
        files[name] = base / name
    return Keys(
        asyncssh.generate_private_key("ssh-ed25519"),
        files["client"],
        files["stranger"],
        asyncssh.generate_private_key("ssh-ed25519"),
    )


@dataclass
class Faults:
    """What the test server does wrong; tests flip these between pushes."""

    deny_writes: bool = False  # opening a file for writing: permission denied
    deny_reads: bool = False  # opening a file for reading: permission denied (a drop box)
    no_space: bool = False  # every write: no space left
    stall_writes: bool = False  # a write never answers (until ``release`` is set)
    hang_up_after: int | None = None  # the server drops the connection after this many bytes
    written: int = 0
    open_now: int = 0
    open_max: int = 0
    opened: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)


class FaultySFTP(PushSFTPServer):
    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], root: Path, faults: Faults) -> None:
        super().__init__(chan, chroot=os.fsencode(root))
        self.faults = faults

    async def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        f = self.faults
        if f.deny_reads and not pflags & asyncssh.FXF_WRITE:
            raise asyncssh.SFTPPermissionDenied("write only")
        if pflags & asyncssh.FXF_WRITE:
            if f.deny_writes:
                raise asyncssh.SFTPPermissionDenied("not allowed here")
            f.opened += 1
            f.open_now += 1
            f.open_max = max(f.open_max, f.open_now)
            await asyncio.sleep(0.01)  # let concurrent transfers overlap
        return super().open(path, pflags, attrs)

    def close(self, file_obj: object) -> None:
        if getattr(file_obj, "mode", "") in ("r+b", "w+b", "wb", "ab", "a+b", "x+b"):
            self.faults.open_now -= 1
        super().close(file_obj)

    async def write(self, file_obj: object, offset: int, data: bytes) -> int:
        f = self.faults
        if f.no_space:
            raise asyncssh.SFTPNoSpaceOnFilesystem("disk full")
        if f.stall_writes:
            await f.release.wait()
        if f.hang_up_after is not None and f.written + len(data) > f.hang_up_after:
            self.channel.get_connection().abort()
            raise asyncssh.SFTPFailure("gone")
        f.written += len(data)
        return super().write(file_obj, offset, data)  # type: ignore[return-value]


@dataclass
class Remote:
    server: PushServer
    root: Path
    faults: Faults
    keys: Keys

    def target(self, **changes: object) -> PushTarget:
        base = PushTarget(
            host="127.0.0.1",
            port=self.server.port,
            username="agency",
            client_key=self.keys.client,
            host_key=self.server.host_key_line,
            remote_dir=".",
            connect_timeout=2.0,
            io_timeout=1.0,
            max_connections=2,
        )
        return dataclasses.replace(base, **changes)  # type: ignore[arg-type]

    def files(self, sub: str = ".") -> list[str]:
        return sorted(p.name for p in (self.root / sub).iterdir())


@pytest.fixture
async def remote(keys: Keys, tmp_path: Path) -> AsyncIterator[Remote]:
    root = tmp_path / "remote"
    root.mkdir()
    faults = Faults()
    server = PushServer(
        root,
        keys.host,
        keys.client.with_suffix(".pub"),
        username="agency",
        sftp_factory=lambda chan: FaultySFTP(chan, root, faults),
    )
    async with server:
        yield Remote(server, root, faults, keys)
        faults.release.set()


@pytest.fixture(autouse=True)
def no_task_left_behind(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No request task of a failed transfer is left with an exception nobody looked at."""
    yield
    gc.collect()
    lost = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert not [m for m in lost if "never retrieved" in m or "destroyed but" in m]


@pytest.fixture
async def pusher() -> AsyncIterator[Pusher]:
    async with Pusher() as p:
        yield p


def payload(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


async def expect(code: PushCode, aw: object, *, retryable: bool) -> PushError:
    with pytest.raises(PushError) as info:
        await aw  # type: ignore[misc]
    assert info.value.code is code, info.value
    assert info.value.retryable is retryable
    return info.value


# --- normal pushes ------------------------------------------------------------------------------


async def test_push_bytes(remote: Remote, pusher: Pusher) -> None:
    data = payload(100_000)
    result = await pusher.push(remote.target(), "statement.xml", data)
    assert remote.files() == ["statement.xml"]
    assert (remote.root / "statement.xml").read_bytes() == data
    assert (result.path, result.size, result.uploaded, result.replaced) == (
        "statement.xml",
        len(data),
        True,
        False,
    )
    assert result.sha256 == hashlib.sha256(data).hexdigest()


async def test_push_large_file_from_disk_into_subdirectory(
    remote: Remote, pusher: Pusher, tmp_path: Path
) -> None:
    (remote.root / "in" / "cass").mkdir(parents=True)
    src = tmp_path / "big.bin"
    src.write_bytes(payload(BIG + 123))
    target = remote.target(remote_dir="in/cass")
    result = await pusher.push(target, "big.bin", src)
    assert remote.files("in/cass") == ["big.bin"]
    assert (remote.root / "in/cass/big.bin").read_bytes() == src.read_bytes()
    assert result.path == "in/cass/big.bin" and result.size == BIG + 123


async def test_empty_file(remote: Remote, pusher: Pusher) -> None:
    await pusher.push(remote.target(), "empty.txt", b"")
    assert (remote.root / "empty.txt").read_bytes() == b""
    assert (await pusher.push(remote.target(), "empty.txt", b"")).uploaded is False


async def test_repeated_push_is_idempotent(remote: Remote, pusher: Pusher) -> None:
    data = payload(300_000, seed=1)
    first = await pusher.push(remote.target(), "a.xml", data)
    stamp = (remote.root / "a.xml").stat().st_mtime_ns
    opened = remote.faults.opened
    again = await Pusher().push(remote.target(), "a.xml", data)  # e.g. after a crash
    repeat = await pusher.push(remote.target(), "a.xml", data)
    assert first.uploaded and not again.uploaded and not repeat.uploaded
    assert again.sha256 == first.sha256
    assert remote.faults.opened == opened  # nothing written again
    assert (remote.root / "a.xml").stat().st_mtime_ns == stamp
    assert remote.files() == ["a.xml"]


async def test_repeat_into_a_write_only_drop_box_sends_again(
    remote: Remote, pusher: Pusher
) -> None:
    remote.faults.deny_reads = True
    await pusher.push(remote.target(), "c.xml", b"content")
    again = await pusher.push(remote.target(), "c.xml", b"content")
    assert again.uploaded and again.replaced
    assert remote.files() == ["c.xml"]
    assert (remote.root / "c.xml").read_bytes() == b"content"


@pytest.mark.parametrize("posix_rename", [True, False])
async def test_other_content_under_the_same_name_is_replaced(
    remote: Remote, posix_rename: bool
) -> None:
    async with Pusher(use_posix_rename=posix_rename) as pusher:
        await pusher.push(remote.target(), "b.xml", payload(5000, seed=1))
        same_size = await pusher.push(remote.target(), "b.xml", payload(5000, seed=2))
        assert same_size.uploaded and same_size.replaced
        assert (remote.root / "b.xml").read_bytes() == payload(5000, seed=2)
        other_size = await pusher.push(remote.target(), "b.xml", b"short")
        assert other_size.replaced
    assert (remote.root / "b.xml").read_bytes() == b"short"
    assert remote.files() == ["b.xml"]


async def test_concurrent_pushes_share_one_connection_within_the_limit(
    remote: Remote, pusher: Pusher
) -> None:
    target = remote.target(max_connections=2)
    names = [f"f{i}.csv" for i in range(8)]
    results = await asyncio.gather(
        *(pusher.push(target, n, payload(200_000, seed=i)) for i, n in enumerate(names)),
        pusher.push(target, "f0.csv", payload(200_000, seed=0)),  # same name at once
    )
    assert all(r.size == 200_000 for r in results)
    assert remote.files() == names
    assert remote.faults.open_max == 2
    assert len(remote.server.connections) == 1


async def test_reconnects_after_the_server_hung_up_between_pushes(
    remote: Remote, pusher: Pusher
) -> None:
    await pusher.push(remote.target(), "one", b"1")
    remote.server.drop_connections()  # the client may not have noticed yet: one silent retry
    await pusher.push(remote.target(), "two", b"2")
    remote.server.drop_connections()
    await asyncio.sleep(0.05)
    await pusher.push(remote.target(), "three", b"3")
    assert remote.files() == ["one", "three", "two"]


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "../x", "x\ny"])
async def test_bad_names_refused(remote: Remote, pusher: Pusher, name: str) -> None:
    with pytest.raises(ValueError, match="not a plain file name"):
        await pusher.push(remote.target(), name, b"x")


# --- refusals -----------------------------------------------------------------------------------


async def test_host_key_mismatch(remote: Remote, pusher: Pusher) -> None:
    wrong = remote.keys.other_host.export_public_key().decode()
    error = await expect(
        PushCode.HOST_KEY_MISMATCH,
        pusher.push(remote.target(host_key=wrong), "x", b"x"),
        retryable=False,
    )
    assert "agency@127.0.0.1" in str(error)
    assert remote.files() == []


async def test_host_key_of_another_type_is_a_mismatch(remote: Remote, pusher: Pusher) -> None:
    ecdsa = asyncssh.generate_private_key("ecdsa-sha2-nistp256").export_public_key().decode()
    await expect(
        PushCode.HOST_KEY_MISMATCH,
        pusher.push(remote.target(host_key=ecdsa), "x", b"x"),
        retryable=False,
    )


async def test_auth_failed(remote: Remote, pusher: Pusher) -> None:
    stranger = remote.target(client_key=remote.keys.stranger)
    await expect(PushCode.AUTH_FAILED, pusher.push(stranger, "x", b"x"), retryable=False)
    other_user = remote.target(username="root")
    await expect(PushCode.AUTH_FAILED, pusher.push(other_user, "x", b"x"), retryable=False)
    missing_key = remote.target(client_key=remote.root / "nope")
    await expect(PushCode.AUTH_FAILED, pusher.push(missing_key, "x", b"x"), retryable=False)
    assert remote.files() == []


async def test_connection_refused(remote: Remote, pusher: Pusher) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens there once closed
    await expect(PushCode.REFUSED, pusher.push(remote.target(port=port), "x", b"x"), retryable=True)


async def test_remote_permission_denied(remote: Remote, pusher: Pusher) -> None:
    remote.faults.deny_writes = True
    error = await expect(
        PushCode.REMOTE_ERROR, pusher.push(remote.target(), "x.xml", b"x"), retryable=False
    )
    assert "not allowed here" in str(error)
    assert remote.files() == []


async def test_missing_remote_directory_is_final(remote: Remote, pusher: Pusher) -> None:
    target = remote.target(remote_dir="no/such/dir")
    await expect(PushCode.REMOTE_ERROR, pusher.push(target, "x.xml", b"x"), retryable=False)


async def test_no_space_is_retryable_and_leaves_no_temp_file(
    remote: Remote, pusher: Pusher
) -> None:
    remote.faults.no_space = True
    await expect(
        PushCode.REMOTE_ERROR, pusher.push(remote.target(), "x.xml", b"data"), retryable=True
    )
    assert remote.files() == []
    remote.faults.no_space = False
    await pusher.push(remote.target(), "x.xml", b"data")
    assert remote.files() == ["x.xml"]


# --- stalls and hang-ups ------------------------------------------------------------------------


async def test_server_accepting_tcp_but_never_answering(pusher: Pusher, remote: Remote) -> None:
    quiet = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await quiet.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        await expect(
            PushCode.TIMEOUT,
            pusher.push(remote.target(port=port, connect_timeout=0.5), "x", b"x"),
            retryable=True,
        )
        assert 0.4 < time.monotonic() - started < 2.5
    finally:
        quiet.set()
        server.close()
        await server.wait_closed()


async def test_stalled_write_times_out_then_a_retry_succeeds(
    remote: Remote, pusher: Pusher
) -> None:
    remote.faults.stall_writes = True
    target = remote.target(io_timeout=0.5)
    started = time.monotonic()
    await expect(PushCode.TIMEOUT, pusher.push(target, "slow.bin", payload(BIG)), retryable=True)
    assert time.monotonic() - started < 2.5
    assert len([n for n in remote.files() if n.endswith(".part")]) == 1  # left by the stall
    remote.faults.stall_writes = False
    remote.faults.release.set()
    await pusher.push(target, "slow.bin", payload(BIG))
    await asyncio.sleep(0.05)
    assert remote.files() == ["slow.bin"]  # the stale temp file went on reconnecting


async def test_server_disappearing_mid_transfer(remote: Remote, pusher: Pusher) -> None:
    data = payload(BIG, seed=3)
    remote.faults.hang_up_after = 1 << 20
    await expect(
        PushCode.DISCONNECTED, pusher.push(remote.target(), "big.xml", data), retryable=True
    )
    left = remote.files()
    assert "big.xml" not in left and len(left) == 1 and left[0].startswith(".big.xml.")
    assert (remote.root / left[0]).stat().st_size < len(data)
    remote.faults.hang_up_after = None
    result = await pusher.push(remote.target(), "big.xml", data)
    assert result.uploaded
    assert remote.files() == ["big.xml"]
    assert (remote.root / "big.xml").read_bytes() == data


async def test_crash_leftovers_are_swept_when_old(remote: Remote, pusher: Pusher) -> None:
    old, fresh, foreign = ".x.xml.0123456789abcdef.part", ".y.xml.fedcba9876543210.part", ".z"
    for name in (old, fresh, foreign):
        (remote.root / name).write_bytes(b"partial")
    long_ago = time.time() - push_module.STALE_PART_SECONDS - 60
    os.utime(remote.root / old, (long_ago, long_ago))
    await pusher.push(remote.target(), "x.xml", b"whole")
    assert remote.files() == [fresh, foreign, "x.xml"]


async def test_closed_pusher(remote: Remote) -> None:
    p = Pusher()
    await p.push(remote.target(), "x", b"x")
    await p.close()
    await expect(PushCode.DISCONNECTED, p.push(remote.target(), "y", b"y"), retryable=True)


# --- OpenSSH sshd -------------------------------------------------------------------------------

SSHD = Path("/usr/sbin/sshd")
SFTP_SERVER = Path("/usr/lib/openssh/sftp-server")


@pytest.fixture
def sshd(keys: Keys, tmp_path: Path) -> Iterator[tuple[int, str, str]]:
    """OpenSSH sshd on a free loopback port: (port, host key line, user)."""
    if os.geteuid() != 0:
        pytest.skip("sshd in a test needs root (privilege separation)")
    work = tmp_path / "sshd"
    work.mkdir()
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    host_key.write_private_key(work / "host_key")
    (work / "host_key").chmod(0o600)
    auth = work / "authorized_keys"
    shutil.copy(keys.client.with_suffix(".pub"), auth)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (work / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {work / 'host_key'}\n"
        f"AuthorizedKeysFile {auth}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        f"Subsystem sftp {SFTP_SERVER}\nPidFile {work / 'sshd.pid'}\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(work / "sshd_config")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("sshd did not start")
                time.sleep(0.02)
        line = host_key.export_public_key().decode().strip()
        yield port, line, os.environ.get("USER") or "root"
    finally:
        proc.terminate()
        proc.wait(5)


@needs_tool(str(SSHD), "OpenSSH is the reference SFTP server")
@needs_tool(str(SFTP_SERVER), "OpenSSH is the reference SFTP server")
async def test_openssh_sshd(sshd: tuple[int, str, str], keys: Keys, tmp_path: Path) -> None:
    port, host_line, user = sshd
    dest = tmp_path / "landing"
    dest.mkdir()
    target = PushTarget(
        host="127.0.0.1",
        port=port,
        username=user,
        client_key=keys.client,
        host_key=host_line,
        remote_dir=str(dest),
        connect_timeout=3.0,
        io_timeout=3.0,
    )
    data = payload(BIG, seed=7)
    async with Pusher() as pusher:
        assert (await pusher.push(target, "statement.xml", data)).uploaded
        assert not (await pusher.push(target, "statement.xml", data)).uploaded
        assert (await pusher.push(target, "statement.xml", b"new")).replaced
    async with Pusher(use_posix_rename=False) as plain:  # OpenSSH's rename never replaces
        assert (await plain.push(target, "statement.xml", b"newer")).replaced
        wrong = keys.other_host.export_public_key().decode()
        await expect(
            PushCode.HOST_KEY_MISMATCH,
            plain.push(dataclasses.replace(target, host_key=wrong), "x", b"x"),
            retryable=False,
        )
    assert sorted(p.name for p in dest.iterdir()) == ["statement.xml"]
    assert (dest / "statement.xml").read_bytes() == b"newer"


# --- opencass demo push-server ------------------------------------------------------------------


async def test_demo_push_server_command(keys: Keys, tmp_path: Path) -> None:
    host_key = tmp_path / "hk" / "push_host_key"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "opencass.cli",
        "demo",
        "push-server",
        "--dir",
        str(tmp_path / "landing"),
        "--port",
        "0",
        "--authorized-key",
        str(keys.client.with_suffix(".pub")),
        "--host-key",
        str(host_key),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert first.startswith("push server on 127.0.0.1:")
        lines = [(await asyncio.wait_for(proc.stdout.readline(), 5)).decode() for _ in range(7)]
        assert lines[0] == "# for the participant file:\n"
        problems: list[Problem] = []
        table = Table(problems, "participants/agent1.toml", tomllib.loads("".join(lines)), "")
        target = read_push(table)
        table.close()
        assert problems == [] and target is not None
        assert target.client_key == keys.client  # found next to the .pub given
        assert target.host_key == host_key.with_name("push_host_key.pub").read_text().strip()
        target = dataclasses.replace(target, connect_timeout=5.0, io_timeout=5.0)
        async with Pusher() as pusher:
            await pusher.push(target, "statement.xml", b"<statement/>")
        assert (tmp_path / "landing" / "statement.xml").read_bytes() == b"<statement/>"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0


async def test_changed_target_replaces_the_idle_old_connection(
    remote: Remote, pusher: Pusher
) -> None:
    await pusher.push(remote.target(), "one", b"1")
    await pusher.push(remote.target(io_timeout=2.0), "two", b"2")  # a reload changed a setting
    await asyncio.sleep(0.05)
    assert len(remote.server.connections) == 1


async def test_unreadable_source_is_not_a_remote_failure(
    remote: Remote, pusher: Pusher, tmp_path: Path
) -> None:
    with pytest.raises(SourceError, match="cannot read"):
        await pusher.push(remote.target(), "gone.xml", tmp_path / "gone.xml")
    folder = tmp_path / "a-directory"
    folder.mkdir()
    with pytest.raises(SourceError, match="cannot read"):
        await pusher.push(remote.target(), "dir.xml", folder)
    assert remote.files() == []
    await pusher.push(remote.target(), "ok.xml", b"fine")  # the connection is still good
