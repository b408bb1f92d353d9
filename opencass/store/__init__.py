"""Persistence: every SQL statement of opencass lives in this package.

The daemon talks to ``Store`` (a narrow async interface: files, findings, closes, events, the
audit trail); the default implementation is SQLite in WAL mode (``SqliteStore``).  Work done in
worker processes and by commands uses the synchronous repository modules on a connection of
its own (``connect``): ``booking`` (staging and booking a file in one transaction),
``ledger`` (the booked rule and the close's snapshot), ``closes``, ``disputes``,
``withdrawals``, ``remittance``, ``invoices``, ``calendars``, ``events`` and ``queue``; ``tx``
holds the transaction helpers.
On PostgreSQL (``[store] url``) the same functions run on ``pg.PgConnection``, which takes
their SQL as written for SQLite and runs it in PostgreSQL's terms (``pg_schema``: its own
migrations); ``copy`` moves an installation between the two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from opencass.findings import Finding
from opencass.store.rows import FileRow, NewFile, StaleState

if TYPE_CHECKING:
    from opencass.store.sqlite import AuditWriteError, SqliteStore, open_store

_ASYNC = ("AuditWriteError", "SqliteStore", "open_store")


def __getattr__(name: str) -> Any:
    """The asyncio store (``SqliteStore``, ``open_store``) is imported when first asked for:
    a command that only reads through ``ledger`` or ``connect`` does not load asyncio."""
    if name in _ASYNC:
        from opencass.store import sqlite

        return getattr(sqlite, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AuditWriteError",
    "FileRow",
    "NewFile",
    "SqliteStore",
    "StaleState",
    "Store",
    "open_store",
]


class Store(Protocol):
    """What the gateway and settlement code may ask of the store; a backend implements it."""

    async def create_file(self, new: NewFile) -> bool: ...
    async def get_file(self, file_id: str) -> FileRow | None: ...
    async def find_original(self, row: FileRow) -> FileRow | None: ...
    async def files_in_states(self, states: Any) -> list[FileRow]: ...
    async def transition(
        self, file_id: str, from_state: str, to_state: str, detail: Any = None, **updates: Any
    ) -> None: ...
    async def file_events(self, file_id: str) -> list[tuple[str | None, str]]: ...
    async def findings(self, file_id: str) -> list[Finding]: ...
    async def ledger_count(self, file_id: str | None = None) -> int: ...
    async def record_events(self, events: Any) -> int: ...
    async def audit(self, event: str, **fields: Any) -> None: ...
    async def audit_events(self, event: str | None = None) -> list[dict[str, Any]]: ...
    async def close(self) -> None: ...
