"""Persistence: the ledger of files, findings, booked records and the audit trail.

The gateway and settlement code talk to ``Store`` (a narrow async interface); the default
implementation is SQLite in WAL mode (``SqliteStore``).  Bulk booking of a large file runs in a
worker process through ``opencass.store.bulk`` on its own connection, in one transaction.  A
PostgreSQL backend would implement the same interface and its own bulk module.
"""

from __future__ import annotations

from typing import Any, Protocol

from opencass.findings import Finding
from opencass.store.rows import FileRow, NewFile, StaleState
from opencass.store.sqlite import AuditWriteError, SqliteStore, open_store

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
