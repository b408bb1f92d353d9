"""Company mailbox trees on disk: layout, chroot path rules, role policy, quotas, uploads; and
the login checks behind them (password hashes, the brute-force ban list).

Nothing here knows SSH: the SFTP endpoint (``gateway/sftp.py``) is the adapter; it maps these
errors to SFTP status codes and decides *when* an upload is published.  Functions documented
as blocking touch the disk synchronously and are meant to run in a worker thread.

A company's tree is ``<mailboxes_dir>/<company id>/`` holding ``inbox/``, ``outbox/``,
``sandbox/inbox/``, ``sandbox/outbox/`` and, when the gateway signs receipts, a read-only
``gateway-signing-key.pub``.  Users see that directory as ``/``.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import stat
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from secrets import token_hex

from opencass.config.model import BanPolicy, Role, User
from opencass.config.passwords import dummy_hash as dummy_hash  # (the endpoint's names)
from opencass.config.passwords import hash_password as hash_password
from opencass.config.passwords import verify_password as verify_password
from opencass.errors import InputError
from opencass.files import (
    INBOX,
    OUTBOX,
    SANDBOX,
    fsync_dir,
    mailbox_dirs,
    plain_name,
    write_atomic,
)

SIGNING_KEY_NAME = "gateway-signing-key.pub"

# Names a client (or another channel) uses while a file is still being written; never reported.
_IGNORED_SUFFIXES = (".part", ".tmp", ".filepart")
# The endpoint's own temp files: ".<name>.<random>.upload"; hidden from and closed to clients.
_TEMP_SUFFIX = ".upload"
_FILE_MODE = 0o640
# Longest upload name: the spool keeps "<file id>__<name>" and a file name holds 255 bytes.
MAX_NAME_BYTES = 200
# Staged files (temp names a client renames when done) left this long are abandoned.
STAGED_MAX_AGE_SECONDS = 7 * 86400


class MailboxError(InputError):
    """A request the mailbox will not carry out; the message is shown to the client."""


class DeniedError(MailboxError):
    """Not allowed for this user or anywhere (maps to permission denied)."""

    code = "ACCESS_DENIED"


class NotFoundError(MailboxError):
    """No such file or directory."""

    code = "NOT_FOUND"


class FailedError(MailboxError):
    """Allowed, but cannot be done: the file exists, a limit or the quota is exceeded."""

    code = "OPERATION_FAILED"


def prepare_mailbox(root: Path, company: str, signing_key: bytes | None) -> Path:
    """Create a company's tree and its signing-key file; return the tree (blocking)."""
    mailbox_dirs(root, company)
    tree = root / company
    if signing_key is not None:
        _write_signing_key(tree / SIGNING_KEY_NAME, signing_key)
    return tree


def _write_signing_key(path: Path, key: bytes) -> None:
    try:
        if path.read_bytes() == key:
            return
    except FileNotFoundError:
        pass
    write_atomic(path, key, mode=0o444)


def is_ignored_name(name: str) -> bool:
    """True for names that mean "still being written": dot-files, ``*.part``, ``*.tmp``, ..."""
    return name.startswith(".") or name.lower().endswith(_IGNORED_SUFFIXES)


def is_reserved_name(name: str) -> bool:
    """True for the endpoint's own temp-file names, which clients can neither see nor use."""
    return name.startswith(".") and name.endswith(_TEMP_SUFFIX)


# -- passwords: opencass.config.passwords (the format participant files hold) ---------------

# -- bans ----------------------------------------------------------------------------------


class BanList:
    """Failed logins scored per client IP and per user name in a sliding window.

    Only addresses are banned.  A user name under attack is not locked (that would let anyone
    lock an airline out before its cut-off): ``delay`` slows its logins from addresses that
    have failed, and never those from an address that has not."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._until: dict[tuple[str, str], float] = {}
        self._next_prune = 0.0

    @staticmethod
    def _keys(ip: str | None, user: str | None) -> list[tuple[str, str]]:
        keys = [("ip", ip)] if ip is not None else []
        return [*keys, ("user", user)] if user is not None else keys

    def banned(self, *, ip: str | None = None) -> bool:
        """True while ``ip`` is banned."""
        return ip is not None and self._until.get(("ip", ip), 0.0) > self._clock()

    def delay(self, policy: BanPolicy, *, ip: str, user: str) -> float:
        """Seconds to wait before judging a login of ``user`` from ``ip``: none unless the user
        has failed ``max_failures`` times in the window and ``ip`` has failed too; then one
        more second per failure beyond, at most ten."""
        now = self._clock()
        fails = [
            t for t in self._failures.get(("user", user), ()) if t > now - policy.window_seconds
        ]
        from_here = self._failures.get(("ip", ip)) or self._until.get(("ip", ip), 0.0) > now
        if not from_here or len(fails) < policy.max_failures:
            return 0.0
        return float(min(10, 1 + len(fails) - policy.max_failures))

    def failure(self, policy: BanPolicy, *, ip: str, user: str | None) -> list[str]:
        """Score one failure; return what became banned just now (``ip:...``)."""
        now = self._clock()
        self._prune(now, policy.window_seconds)
        newly: list[str] = []
        for key in self._keys(ip, user):
            if self._until.get(key, 0.0) > now:
                continue
            times = self._failures.setdefault(key, deque())
            times.append(now)
            while times[0] <= now - policy.window_seconds:
                times.popleft()
            if key[0] == "ip" and len(times) >= policy.max_failures:
                self._until[key] = now + policy.ban_seconds
                del self._failures[key]
                newly.append(f"{key[0]}:{key[1]}")
        return newly

    def _prune(self, now: float, window: float) -> None:
        if now < self._next_prune:
            return
        self._next_prune = now + 60.0
        self._failures = {k: t for k, t in self._failures.items() if t[-1] > now - window}
        self._until = {k: u for k, u in self._until.items() if u > now}


# -- paths ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    """A client path resolved inside one company tree."""

    parts: tuple[str, ...]  # virtual path components below "/"
    host: Path  # the real path on disk

    @property
    def vpath(self) -> str:
        """The path as the client sees it."""
        return "/" + "/".join(self.parts)

    @property
    def name(self) -> str:
        """The last component ("" for the root)."""
        return self.parts[-1] if self.parts else ""

    @property
    def sandbox(self) -> bool:
        """True below ``/sandbox/inbox`` or ``/sandbox/outbox``."""
        return self.box is not None and self.parts[0] == SANDBOX

    @property
    def box(self) -> str | None:
        """``inbox`` or ``outbox`` when the path is one of them or below one."""
        if self.parts[:1] in ((INBOX,), (OUTBOX,)):
            return self.parts[0]
        if len(self.parts) >= 2 and self.parts[0] == SANDBOX and self.parts[1] in (INBOX, OUTBOX):
            return self.parts[1]
        return None

    @property
    def depth(self) -> int:
        """How far below its box directory the path is (0 = the box itself)."""
        return len(self.parts) - (2 if self.sandbox else 1)

    @property
    def parent(self) -> Place:
        """The containing directory (the root is its own parent)."""
        return Place(self.parts[:-1], self.host.parent) if self.parts else self

    @property
    def is_signing_key(self) -> bool:
        """True for ``/gateway-signing-key.pub``."""
        return self.parts == (SIGNING_KEY_NAME,)


def virtual_parts(path: str) -> tuple[str, ...]:
    """Normalise a client path: relative to "/", ``.`` dropped, ``..`` clamped at the root."""
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return tuple(parts)


def client_parts(raw: bytes) -> tuple[str, ...]:
    """A client path's components below "/"; reserved names and non-UTF-8 refused."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotFoundError("file names must be UTF-8") from None
    if "\x00" in text:
        raise NotFoundError("invalid file name")
    parts = virtual_parts(text)
    if any(is_reserved_name(p) for p in parts):
        raise DeniedError("reserved file name")
    return parts


def resolve(tree: Path, raw: bytes) -> Place:
    """Map a client path into ``tree`` (a real path); symlinks and reserved names are refused."""
    return resolve_parts(tree, client_parts(raw))


def resolve_parts(tree: Path, parts: tuple[str, ...]) -> Place:
    """Map path components into ``tree`` (a real path); symbolic links are refused."""
    host = tree.joinpath(*parts)
    if os.path.realpath(host) != str(host):
        raise DeniedError("symbolic links are not followed")
    return Place(parts, host)


# -- roles ---------------------------------------------------------------------------------


class Op(enum.StrEnum):
    """What a request does to a path."""

    LIST = "list"
    STAT = "stat"
    READ = "read"
    WRITE = "write"
    DELETE = "delete"
    RENAME = "rename"
    MKDIR = "mkdir"
    RMDIR = "rmdir"


_OUTBOX_READERS = (Role.INPUT, Role.OUTPUT, Role.READONLY)


def check(user: User, op: Op, place: Place) -> None:
    """Raise ``DeniedError`` unless ``user`` may do ``op`` on ``place`` (ARCHITECTURE.md roles)."""
    reason = _refusal(user, op, place)
    if reason is not None:
        raise DeniedError(reason)


def _refusal(user: User, op: Op, place: Place) -> str | None:
    if place.box == INBOX:
        return _inbox_refusal(user, op, place)
    if place.box == OUTBOX:
        if op in (Op.LIST, Op.STAT, Op.READ):
            return None if user.can(*_OUTBOX_READERS) else "no role may read the outbox"
        if op is Op.DELETE and place.depth > 0:
            return None if user.can(Role.OUTPUT) else "deleting needs the 'output' role"
        return "the outbox is written by the gateway only"
    if op in (Op.LIST, Op.STAT) or (op is Op.READ and place.is_signing_key):
        return None
    return "only the inboxes accept files"


def _inbox_refusal(user: User, op: Op, place: Place) -> str | None:
    if op in (Op.MKDIR, Op.RMDIR):
        # a file in a subdirectory would never be claimed: uploads go into the box itself
        return "directories are managed by the gateway: upload into the inbox itself"
    if op is Op.READ:
        return None if user.can() else "inbox files cannot be downloaded"
    if not user.can(Role.INPUT):
        return "the inbox needs the 'input' role"
    if op is Op.WRITE and place.depth > 1:
        return "upload into the inbox itself, not into a subdirectory"
    if op is Op.WRITE and len(place.name.encode()) > MAX_NAME_BYTES:
        return f"file name too long: at most {MAX_NAME_BYTES} bytes (UTF-8)"
    if op in (Op.DELETE, Op.RENAME) and (place.depth == 0 or not is_ignored_name(place.name)):
        return "uploaded files belong to processing"
    return None


# -- quota ---------------------------------------------------------------------------------


class UsageBook:
    """Bytes used per company tree: recomputed from disk when stale, kept current in between."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_age: float = 30.0):
        self._clock = clock
        self._max_age = max_age
        self._used: dict[str, int] = {}
        self._counted_at: dict[str, float] = {}

    def used(self, company: str) -> int:
        """The running total for ``company``."""
        return self._used.get(company, 0)

    def stale(self, company: str) -> bool:
        """True when the total should be recounted (other writers: intake, outbox)."""
        counted = self._counted_at.get(company)
        return counted is None or self._clock() - counted > self._max_age

    def counted(self, company: str, total: int) -> None:
        """Record a fresh count from disk."""
        self._used[company] = total
        self._counted_at[company] = self._clock()

    def add(self, company: str, delta: int) -> None:
        """Account for bytes written (positive) or removed (negative)."""
        self._used[company] = max(0, self.used(company) + delta)


def tree_usage(tree: Path) -> int:
    """Total size of the regular files below ``tree``, symlinks not followed (blocking)."""
    total = 0
    for top, _dirs, files in os.walk(tree):
        for name in files:
            try:
                st = os.lstat(os.path.join(top, name))
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


# -- files ---------------------------------------------------------------------------------


class _Handle:
    fd: int

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """lseek on the descriptor (asyncssh asks for sparse ranges this way)."""
        return os.lseek(self.fd, offset, whence)


class Download(_Handle):
    """A file opened for reading."""

    def __init__(self, place: Place):
        self.place = place
        self.fd = os.open(place.host, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        st = os.fstat(self.fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(self.fd)
            raise DeniedError("not a regular file")
        self.size = st.st_size

    def read_at(self, offset: int, size: int) -> bytes:
        """Read up to ``size`` bytes at ``offset`` (blocking)."""
        return os.pread(self.fd, size, offset)

    def close(self) -> None:
        """Release the descriptor."""
        os.close(self.fd)


class Writing(_Handle):
    """What every upload does: check each write against the limits, and write."""

    size: int
    failure: str | None
    keeps_data = False  # True: a broken transfer leaves the data (for a resume)

    def reserve(self, offset: int, length: int, *, max_bytes: int, room: int) -> int:
        """Check a write against the size limit and the quota room; return the growth."""
        if self.failure:
            raise FailedError(self.failure)
        end = offset + length
        if end > max_bytes:
            raise FailedError(f"file too large: the upload limit is {max_bytes} bytes")
        growth = max(0, end - self.size)
        if growth > room:
            raise FailedError("quota exceeded: the company mailbox is full")
        self.size = max(self.size, end)
        return growth

    def sync_and_close(self) -> None:
        """Make what was written durable and close the file (blocking); ``done`` from here."""
        self.done = True
        try:
            os.fsync(self.fd)
        finally:
            os.close(self.fd)

    def write_at(self, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` (blocking)."""
        view = memoryview(data)
        while view:
            written = os.pwrite(self.fd, view, offset)
            view, offset = view[written:], offset + written


class Upload(Writing):
    """A file being uploaded: written under a hidden temp name beside its final name."""

    def __init__(self, place: Place):
        self.place = place
        self.temp = place.host.with_name(f".{place.name}.{token_hex(6)}{_TEMP_SUFFIX}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        self.fd = os.open(self.temp, flags, _FILE_MODE)
        self.size = 0
        self.failure: str | None = None  # set once a write failed; the upload is then dead
        self.done = False

    def publish(self) -> None:
        """fsync, then link the temp file to its final name (never overwriting) (blocking)."""
        self.sync_and_close()
        try:
            rename_noreplace(self.temp, self.place.host)
        except BaseException:
            _unlink_quietly(self.temp)
            raise
        fsync_dir(self.place.host.parent)

    def discard(self) -> None:
        """Close and delete the temp file; safe to call twice (blocking)."""
        if not self.done:
            self.done = True
            os.close(self.fd)
        _unlink_quietly(self.temp)


class StagedUpload(Writing):
    """A file written under a temporary name the client chose (``*.filepart``, ``*.part``,
    ``*.tmp``, a dot-name), in place: it may be appended to and resumed until the client
    renames it to its final name, and a broken transfer keeps what was written."""

    keeps_data = True

    def __init__(self, place: Place, *, append: bool, truncate: bool):
        self.place = place
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        flags |= (os.O_APPEND if append else 0) | (os.O_TRUNC if truncate else 0)
        self.fd = os.open(place.host, flags, _FILE_MODE)
        st = os.fstat(self.fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(self.fd)
            raise DeniedError("not a regular file")
        self.append = append
        self.size = st.st_size
        self.failure: str | None = None
        self.done = False

    def reserve(self, offset: int, length: int, *, max_bytes: int, room: int) -> int:
        """As for any upload; a write to a file opened to append lands at its end."""
        at = self.size if self.append else offset
        return super().reserve(at, length, max_bytes=max_bytes, room=room)

    def write_at(self, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset``, or at the end when opened to append (blocking)."""
        if not self.append:
            super().write_at(offset, data)
            return
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def publish(self) -> None:
        """fsync and close: the file stays under its temporary name (blocking)."""
        self.sync_and_close()
        fsync_dir(self.place.host.parent)

    def discard(self) -> None:
        """Close; what was written stays for a resume (blocking)."""
        if not self.done:
            self.done = True
            os.close(self.fd)


def remove_dead_uploads(tree: Path, busy_for: float = 0.0) -> list[str]:
    """At start, before any client connects: remove the hidden temp files of uploads a dead
    gateway left, and staged files untouched for ``STAGED_MAX_AGE_SECONDS``; the removed
    paths, relative to ``tree`` (blocking).  ``busy_for``: beside other running gateway nodes
    (whose sessions write temp files in the same inboxes), a temp file is only dead once
    untouched for that many seconds."""
    removed: list[str] = []
    now = time.time()  # file ages are judged on the clock that stamped them
    for box in (INBOX, f"{SANDBOX}/{INBOX}"):
        folder = tree / box
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            if not entry.is_file(follow_symlinks=False):
                continue
            age = now - entry.stat(follow_symlinks=False).st_mtime
            old = age > STAGED_MAX_AGE_SECONDS
            if (is_reserved_name(entry.name) and age > busy_for) or (
                is_ignored_name(entry.name) and old
            ):
                _unlink_quietly(Path(entry.path))
                removed.append(f"{box}/{entry.name}")
    return removed


# The user who uploaded a file, kept on the file itself (an extended attribute): whichever
# gateway node claims it -- not always the one whose session received it -- records its user.
UPLOADER_ATTRIBUTE = "user.opencass.uploader"


def mark_uploader(target: int | Path, user: str) -> None:
    """Mark the file (a path or an open descriptor) as uploaded by ``user`` (blocking).  A file
    system without user extended attributes keeps no mark: the claiming node then knows the
    user only if its own session received the file."""
    if user:
        with contextlib.suppress(OSError):
            os.setxattr(target, UPLOADER_ATTRIBUTE, user.encode("utf-8"))


def uploader_of(path: Path) -> str:
    """The user ``mark_uploader`` recorded on a file, or "" (blocking)."""
    try:
        return os.getxattr(path, UPLOADER_ATTRIBUTE).decode("utf-8", "replace")
    except OSError:
        return ""


def rename_noreplace(src: Path, dst: Path) -> None:
    """Atomically give ``src`` the name ``dst``; ``FailedError`` if ``dst`` exists (blocking)."""
    try:
        os.link(src, dst)
    except FileExistsError:
        raise FailedError("file exists: each upload must be a new file") from None
    except OSError as exc:  # no hard links on this file system: check, then rename
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if os.path.lexists(dst):
            raise FailedError("file exists: each upload must be a new file") from None
        os.rename(src, dst)
        return
    os.unlink(src)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def list_dir(place: Place) -> list[tuple[str, os.stat_result]]:
    """Names and ``lstat`` results in a directory, the endpoint's temp files left out (blocking)."""
    entries: list[tuple[str, os.stat_result]] = []
    with os.scandir(place.host) as it:
        for entry in it:
            if is_reserved_name(entry.name):
                continue
            try:
                entries.append((entry.name, entry.stat(follow_symlinks=False)))
            except FileNotFoundError:
                continue
    return sorted(entries)


def deliver_upload(inbox: Path, name: str, data: bytes, user: str) -> Path:
    """Put ``data`` into ``inbox`` as the new file ``name`` uploaded by ``user``, as an SFTP
    upload ends (blocking): written under a hidden temporary name the watcher ignores,
    flushed, marked with its uploader, then given its name -- never over an existing file
    (``FailedError``).  The portal's uploads and messages come in this way."""
    if not plain_name(name):
        raise FailedError(f"{name!r} is not a plain file name")
    inbox.mkdir(parents=True, exist_ok=True)
    tmp = inbox / f".{name}.{token_hex(8)}{_TEMP_SUFFIX}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            mark_uploader(fd, user)
        finally:
            os.close(fd)
        target = inbox / name
        rename_noreplace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(inbox)
    return target
