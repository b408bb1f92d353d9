"""Files on disk, the ways every part of opencass writes them: the one atomic writer, directory
and file-system flushes, and the layout of a company's mailbox.

Readers (participants over SFTP, the watcher, a later run) see a whole file or none: a file is
written under a temporary name beside its target, then renamed over it.  Durability is the
caller's choice: one fsync per file (``fsync=True``, the default), or one flush of the directory
(``fsync_dir``) or of the file system (``sync_filesystem``) for a batch.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from pathlib import Path
from typing import Any

__all__ = [
    "BOX_DIRS",
    "INBOX",
    "OUTBOX",
    "SANDBOX",
    "fsync_dir",
    "mailbox_dirs",
    "plain_name",
    "sync_filesystem",
    "temporary_name",
    "write_atomic",
]

INBOX = "inbox"
OUTBOX = "outbox"
SANDBOX = "sandbox"
BOX_DIRS = (INBOX, OUTBOX, f"{SANDBOX}/{INBOX}", f"{SANDBOX}/{OUTBOX}")


def plain_name(name: str) -> bool:
    """A file name a client may give (an upload, a document asked for): not empty, not hidden
    (the temporaries), no directory part, no quote or control character."""
    return (
        bool(name)
        and not name.startswith(".")
        and name.isprintable()
        and not any(c in name for c in '/\\"')
    )


def temporary_name(path: Path) -> Path:
    """The fixed temporary name beside ``path`` (hidden, so no reader lists it; fixed, so a
    write repeated after a crash reuses it)."""
    return path.with_name(f".{path.name}.tmp")


def write_atomic(
    path: Path,
    data: bytes,
    *,
    fsync: bool = True,
    sync_dir: bool = False,
    mode: int | None = None,
) -> None:
    """Write ``data`` as ``path`` by temporary file and rename (blocking: call from a thread).

    ``fsync``: flush the file before the rename (off when the caller flushes a whole batch);
    ``sync_dir``: also flush the directory entry; ``mode``: the file's permissions. A failure
    leaves no temporary file behind."""
    tmp = temporary_name(path)
    try:
        with tmp.open("wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        if mode is not None:
            tmp.chmod(mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if sync_dir:
        fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a directory's entries durable (blocking)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _libc() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


def sync_filesystem(path: Path) -> None:
    """Flush the file system holding the directory ``path`` (syncfs(2); sync(2) where it is
    missing): one flush for a batch of small files costs about what one fsync costs (blocking)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if _LIBC is None or _LIBC.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def mailbox_dirs(root: Path, company: str) -> dict[str, Path]:
    """Create (if needed) and return a company's box directories, keyed like ``sandbox/inbox``."""
    dirs = {name: root / company / name for name in BOX_DIRS}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    return dirs
