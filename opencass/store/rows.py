"""Plain rows exchanged with the store."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from opencass.clock import utc_stamp as utc_stamp  # re-exported: how the store stamps rows
from opencass.errors import InternalError


class StaleState(InternalError):  # noqa: N818 - a condition, not a failure of the store
    """A transition found the file in another state than expected (someone else moved it)."""

    code = "STATE_STALE"


@dataclass(frozen=True, slots=True)
class NewFile:
    """A file just claimed into the spool."""

    id: str
    company: str
    user: str
    name: str
    sandbox: bool
    sha256: str
    size: int
    received_at: str
    spool_path: str


@dataclass(frozen=True, slots=True)
class FileRow:
    """A file as the ledger knows it."""

    id: str
    company: str
    user: str
    name: str
    sandbox: bool
    sha256: str
    size: int
    received_at: str
    spool_path: str
    state: str
    format: str | None = None
    dialect: str | None = None
    outcome: str | None = None
    duplicate_of: str | None = None
    country: str | None = None
    period: str | None = None
    counts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_sql(cls, row: Any) -> FileRow:
        """Build from a ``files`` row (sqlite3.Row)."""
        return cls(
            id=row["id"],
            company=row["company"],
            user=row["user"],
            name=row["name"],
            sandbox=bool(row["sandbox"]),
            sha256=row["sha256"],
            size=row["size"],
            received_at=row["received_at"],
            spool_path=row["spool_path"],
            state=row["state"],
            format=row["format"],
            dialect=row["dialect"],
            outcome=row["outcome"],
            duplicate_of=row["duplicate_of"],
            country=row["country"],
            period=row["period"],
            counts=json.loads(row["counts"] or "{}"),
        )
