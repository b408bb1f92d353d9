"""``opencass dispute list|show``: the operator's view of disputes and their history.

Read-only.  Exit codes: 0 ok, 2 usage or configuration error (an unknown dispute, a
configuration that does not load, no ledger yet), 3 internal failure.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from contextlib import closing
from typing import TextIO

from opencass.cli.common import fail, load
from opencass.cli.parsers import DISPUTE_STATUSES
from opencass.config.model import Config
from opencass.errors import EXIT_OK, ConfigurationError
from opencass.store.connect import connect_read_only
from opencass.store.disputes import DisputeRow, dispute_by_id, dispute_by_iri, disputes_for, history

__all__ = ["cmd_dispute"]


class _Missing(ConfigurationError):  # noqa: N818 - a verdict
    code = "NOT_FOUND"

    pass


def _line(d: DisputeRow) -> str:
    flag = " escalated" if d.escalated else ""
    return (
        f"{d.id}  {d.country} {d.period}  {d.airline_prefix}-{d.awb_serial}  agent "
        f"{d.agent_code}  {d.status.removeprefix('REQUEST_').lower()}{flag}  disputed "
        f"{d.disputed_amount} {d.currency}"
    )


def _show(conn: sqlite3.Connection, key: str) -> str:
    d = dispute_by_id(conn, key) or dispute_by_iri(conn, key)
    if d is None:
        raise _Missing(f"no dispute {key!r}")
    rows = [
        _line(d),
        f"  request:   {d.request_iri} ({d.kind})",
        f"  parties:   agent company {d.agent_company}, airline company {d.airline_company}",
        f"  billed:    {d.billed_amount} {d.currency}; claimed {d.claimed_amount}; "
        f"corrected {d.corrected_amount}",
        f"  reason:    {d.reason}",
    ]
    if d.comment:
        rows.append(f"  comment:   {d.comment}")
    if d.adjust_period:
        rows.append(f"  adjusts:   the final billing of {d.adjust_period}")
    rows.append("  history:")
    for h in history(conn, d.id):
        rows.append(
            f"    {h.seq}. {h.at}  {h.company}{'/' + h.user if h.user else ''}  {h.action}"
            f"  {h.from_status or '-'} -> {h.to_status}{'  file ' + h.file_id if h.file_id else ''}"
            f"{'  why: ' + h.why if h.why else ''}"
        )
    return "\n".join(rows) + "\n"


def cmd_dispute(
    args: argparse.Namespace, *, config: Config | None = None, out: TextIO | None = None
) -> int:
    """``opencass dispute list|show``; ``config`` is for tests and callers."""
    stdout = out or sys.stdout
    try:
        config = config or load(args)
        db = config.gateway.database
        if not db.exists():
            raise _Missing(f"no ledger at {db} yet")
        with closing(connect_read_only(db)) as conn:
            if args.dispute_command == "show":
                stdout.write(_show(conn, args.dispute))
                return EXIT_OK
            status = getattr(args, "status", None)
            rows = disputes_for(
                conn, getattr(args, "country", None), getattr(args, "period", None),
                None if status is None else (DISPUTE_STATUSES[status],),
            )  # fmt: skip
            stdout.write("".join(_line(d) + "\n" for d in rows) or "no disputes\n")
            return EXIT_OK
    except Exception as e:
        return fail(e)
