"""Transactions on the store's synchronous connections (``connect_sync``: autocommit, so
``with conn`` begins nothing; these do)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

__all__ = ["Transaction", "savepoint", "transaction", "write_lock"]


class Transaction:
    """The handle of an open ``transaction``: ``abandon()`` rolls it back at its end."""

    __slots__ = ("abandoned",)

    def __init__(self) -> None:
        self.abandoned = False

    def abandon(self) -> None:
        """Roll back instead of committing when the block ends."""
        self.abandoned = True


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[Transaction]:
    """One write transaction: BEGIN IMMEDIATE (the write lock first, so reads inside it are
    current), then COMMIT, or ROLLBACK on any exception or when abandoned.  Inside the caller's
    transaction it is that one (and abandoning it is the caller's to do)."""
    tx = Transaction()
    if conn.in_transaction:
        yield tx
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield tx
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("ROLLBACK" if tx.abandoned else "COMMIT")


@contextlib.contextmanager
def savepoint(conn: sqlite3.Connection, *, keep: bool = True) -> Iterator[None]:
    """A savepoint inside the current transaction; ``keep=False`` rolls back to it at the end
    (a dry run: judged in full, nothing kept)."""
    conn.execute("SAVEPOINT work")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK TO work")
        conn.execute("RELEASE work")
        raise
    if not keep:
        conn.execute("ROLLBACK TO work")
    conn.execute("RELEASE work")


@contextlib.contextmanager
def write_lock(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE for a block that ends the transaction itself (a repository function that
    commits, or rolls back when it finds it should not write); on an exception a transaction
    still open is rolled back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
