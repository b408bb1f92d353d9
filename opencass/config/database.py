"""Where the store is: a ``Database`` is the SQLite file's ``Path`` or a ``PgUrl``
(``[store] url`` in gateway.toml).  A string form crosses process boundaries
(``database_at`` reads it back)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Database", "PgUrl", "database_at"]


@dataclass(frozen=True, slots=True)
class PgUrl:
    """A PostgreSQL store: ``postgresql://user@host:port/database`` (libpq's URI)."""

    url: str

    def exists(self) -> bool:
        """A server's database always "exists" for the callers that ask a file that."""
        return True

    def __str__(self) -> str:
        return self.url


Database = Path | PgUrl

_SCHEMES = ("postgresql://", "postgres://")


def database_at(value: str | Path | PgUrl) -> Database:
    """The store a string names (as passed to a worker process): a URL or a file path."""
    if isinstance(value, PgUrl | Path):
        return value
    return PgUrl(value) if value.startswith(_SCHEMES) else Path(value)
