"""One close at a time: an exclusive claim per (country, period, stage), held by the process.

On PostgreSQL (several nodes, and commands run on any machine) the claim is a session lock in
the database (``opencass.store.cluster.try_session_lock``): held by a connection of its own,
released by the server when the holder's connection ends, however the holder ends.  On SQLite
(one machine) it is a file lock:

A close -- the ``period close`` command or the gateway's scheduler -- holds an advisory
``flock`` on ``<data_dir>/locks/close_<country>_<period>_<stage>.lock`` for its whole run.  The
kernel releases it when the holder exits, however it exits (kill -9 included), so a crashed
close never blocks the next one and a running one is never mistaken for a dead one.  The lock
file names its holder (process, what it is, since when) for the refusal message.

Writing uses the same mechanism for its staging directories: each run holds a lock inside its
own, and only a staging directory whose lock can be taken -- its writer is gone -- is removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Protocol

from opencass.clock import lease_time
from opencass.config.database import Database, PgUrl
from opencass.errors import ConfigurationError

__all__ = [
    "CloseBusy",
    "Held",
    "close_lock",
    "held_by_nobody",
    "lock_path",
    "take",
    "take_close",
]


class CloseBusy(ConfigurationError):  # noqa: N818 - a verdict: another close runs
    """Another run holds the close (the command refuses, exit 2; the scheduler waits)."""

    code = "CLOSE_BUSY"


def lock_path(data_dir: Path, country: str, period: str, stage: str) -> Path:
    """The lock file of one close (its holder written in it as JSON: pid, by, since)."""
    return data_dir / "locks" / f"close_{country}_{period}_{stage}.lock"


def take(path: Path, holder: dict[str, object]) -> int | None:
    """Take the lock at ``path`` without waiting: its descriptor (close it to release), or
    None when another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode(), 0)
    return fd


def held_by_nobody(path: Path) -> bool:
    """True when no process holds the lock at ``path`` (or it does not exist)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another process"
    return _describe(info if isinstance(info, dict) else {})


class Held(Protocol):
    """A claimed close: ``release()`` gives it up."""

    def release(self) -> None: ...


class _FileLock:
    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd

    def release(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)


def _describe(info: dict[str, object]) -> str:
    if not info:
        return "another process"
    where = f"{info.get('host')}, " if info.get("host") else ""
    return (
        f"{info.get('by', 'a close')} ({where}process {info.get('pid', '?')},"
        f" since {info.get('since')})"
    )


def take_close(
    database: Database,
    data_dir: Path,
    country: str,
    period: str,
    stage: str,
    *,
    by: str,
    since: datetime,
    node: str = "",
) -> Held:
    """Claim the ``stage`` close of ``country`` ``period`` for this process (blocking: a
    database call on PostgreSQL): the held claim, or ``CloseBusy`` naming the run that holds
    it.  ``node``: the gateway node claiming it (for ``cluster status``)."""
    what = f"the {stage} close of {country} {period} is running"
    holder: dict[str, object] = {
        "pid": os.getpid(),
        "by": by,
        "since": since.isoformat(timespec="seconds"),
    }
    if isinstance(database, PgUrl):
        from opencass.store.cluster import lock_holder, try_session_lock

        name = f"close:{country}:{period}:{stage}"
        host = socket.gethostname()
        holder["host"] = host
        by_node = node or f"{host}:{os.getpid()}"
        lock = try_session_lock(database, name, by_node, holder, lease_time())
        if lock is None:
            raise CloseBusy(f"{what}: {_describe(lock_holder(database, name))}")
        return lock
    path = lock_path(data_dir, country, period, stage)
    fd = take(path, holder)
    if fd is None:
        raise CloseBusy(f"{what}: {_holder(path)}")
    return _FileLock(fd)


@contextlib.contextmanager
def close_lock(
    database: Database,
    data_dir: Path,
    country: str,
    period: str,
    stage: str,
    *,
    by: str,
    since: datetime,
) -> Iterator[None]:
    """``take_close`` for the duration of a ``with`` block."""
    held = take_close(database, data_dir, country, period, stage, by=by, since=since)
    try:
        yield
    finally:
        held.release()
