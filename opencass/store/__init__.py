"""Persistence: the ledger of files, findings, booked records and the audit trail.

The gateway and settlement code talk to ``Store`` (a narrow async interface); the default
implementation is SQLite in WAL mode (``SqliteStore``).  Bulk booking of a large file runs in a
worker process through ``opencass.store.bulk`` on its own connection, in one transaction.  A
PostgreSQL backend would implement the same interface and its own bulk module.
"""

from __future__ import annotations

from opencass.store.rows import FileRow, NewFile, StaleState
from opencass.store.sqlite import SqliteStore, open_store

__all__ = ["FileRow", "NewFile", "SqliteStore", "StaleState", "open_store"]
