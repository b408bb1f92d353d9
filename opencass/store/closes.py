"""Period closes run outside the daemon (``opencass period close``) recorded in the ``closes``
table, as the daemon's scheduler records its own (``SqliteStore.claim_close``)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from opencass.config.database import Database
from opencass.store.connect import connect_sync
from opencass.store.tx import transaction

__all__ = ["Claim", "claim_close", "finish_close"]


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of a claim: ``created`` when this call recorded the close; ``completed_at``
    and ``reference`` of an earlier completed run that was left as it is (claim refused)."""

    created: bool
    completed_at: str | None = None
    reference: str | None = None


def claim_close(
    database: Database,
    country: str,
    period: str,
    stage: str,
    reference: str,
    started_at: str,
    *,
    force: bool,
) -> Claim:
    """Record the close as started (restarting an open or, with ``force``, a completed one); a
    completed close without ``force`` is left alone and reported in the claim."""
    with contextlib.closing(connect_sync(database)) as conn, transaction(conn) as tx:
        row = conn.execute(
            "SELECT completed_at, reference FROM closes WHERE country = ? AND period = ?"
            " AND kind = ?",
            (country, period, stage),
        ).fetchone()
        if row is not None and row[0] is not None and not force:
            tx.abandon()
            return Claim(False, str(row[0]), str(row[1]))
        conn.execute(
            "INSERT INTO closes (country, period, kind, reference, started_at) VALUES"
            " (?, ?, ?, ?, ?) ON CONFLICT (country, period, kind) DO UPDATE SET"
            " reference = excluded.reference, started_at = excluded.started_at,"
            " completed_at = NULL, documents = NULL",
            (country, period, stage, reference, started_at),
        )
        return Claim(row is None)


def finish_close(
    database: Database, country: str, period: str, stage: str, documents: int | None, at: str
) -> None:
    """Mark a claimed close completed with its document count; ``None`` withdraws a claim
    that is not completed (the close failed before writing anything)."""
    with contextlib.closing(connect_sync(database)) as conn, transaction(conn):
        if documents is None:
            conn.execute(
                "DELETE FROM closes WHERE country = ? AND period = ? AND kind = ?"
                " AND completed_at IS NULL",
                (country, period, stage),
            )
        else:
            conn.execute(
                "UPDATE closes SET completed_at = ?, documents = ? WHERE country = ?"
                " AND period = ? AND kind = ?",
                (at, documents, country, period, stage),
            )
