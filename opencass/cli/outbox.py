"""``opencass outbox status|retry``: what the outbox has delivered, what waits, what is dead.

Works on the store file while the gateway runs (SQLite WAL: readers do not block it; ``retry``
is one short write transaction the gateway's next pass picks up).  Exit codes: 0 ok, 1 the
delivery to retry is not a dead letter, 2 usage or configuration error (no store yet, unknown
company), 3 internal failure.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from opencass.clock import system_clock
from opencass.errors import EXIT_CONFIG, EXIT_INPUT, EXIT_INTERNAL, EXIT_OK
from opencass.store import queue as q

__all__ = ["cmd_outbox", "status_text"]


def _counts_line(counts: dict[str, dict[str, int]]) -> list[str]:
    lines = []
    for channel in sorted(counts):
        by = counts[channel]
        parts = ", ".join(f"{by.get(s, 0)} {s}" for s in (q.PENDING, q.DELIVERED, q.DEAD))
        lines.append(f"  {channel + ':':9}{parts}")
    return lines or ["  no deliveries"]


def status_text(data: dict[str, Any]) -> str:
    """The status as text (``data`` from ``_status``)."""
    if "company" not in data:
        lines = [f"Outbox: events fanned out up to #{data['cursor']} (latest #{data['latest']})"]
        lines += _counts_line(data["counts"])
        dead = data["dead"]
        lines.append(f"Dead letters: {len(dead)}" + (" (opencass outbox retry ID)" if dead else ""))
        lines += [
            f"  #{d['id']} {d['company']} {d['channel']} {d['name']} after {d['attempts']}"
            f" attempts: {d['last_error']}"
            for d in dead
        ]
        return "\n".join(lines) + "\n"
    lines = [f"Outbox of {data['company']}"]
    lines += _counts_line(data["counts"])
    lines.append("Deliveries (pending and dead first):")
    for d in data["deliveries"]:
        when = d["delivered_at"] or f"next {d['next_at']}"
        error = f" ({d['last_error']})" if d["last_error"] and d["state"] != q.DELIVERED else ""
        lines.append(
            f"  #{d['id']} {d['state']:9} {d['channel']:7} {d['name']} [{d['type']}] {when}{error}"
        )
    lines.append("Documents (collected = first download):")
    for doc in data["documents"]:
        got = (
            f"collected {doc['collected_at']} by {doc['collected_by']}"
            if doc["collected_at"]
            else "NOT collected"
        )
        lines.append(f"  {doc['name']}: available {doc['available_at']}, {got}")
    return "\n".join(lines) + "\n"


def _status(conn: sqlite3.Connection, company: str | None) -> dict[str, Any]:
    if company:
        return q.company_status(conn, company)
    return {
        "cursor": q.cursor(conn),
        "latest": q.latest_event(conn),
        "counts": q.counts(conn),
        "dead": q.dead_letters(conn),
    }


def _database(args: argparse.Namespace) -> tuple[Path, set[str]]:
    from opencass.config.loader import load_config

    config = load_config(Path(args.config))
    return config.gateway.database, set(config.companies)


def cmd_outbox(
    args: argparse.Namespace,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    *,
    now: datetime | None = None,
) -> int:
    """Run ``opencass outbox status|retry``."""
    from opencass.config.reader import ConfigError
    from opencass.store.connect import connect_sync

    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        database, companies = _database(args)
    except ConfigError as e:
        err.write(f"configuration error:\n{e}\n")
        return EXIT_CONFIG
    if not database.exists():
        err.write(f"no store at {database}: the gateway has not run yet\n")
        return EXIT_CONFIG
    company = getattr(args, "company", None)
    if company and company not in companies:
        err.write(f"unknown company {company!r}\n")
        return EXIT_CONFIG
    try:
        with closing(connect_sync(database)) as conn:
            conn.row_factory = None
            if args.outbox_command == "retry":
                if not q.retry(conn, args.id, now or system_clock()):
                    err.write(f"delivery #{args.id} is not a dead letter\n")
                    return EXIT_INPUT
                out.write(f"delivery #{args.id} queued again\n")
                return EXIT_OK
            data = _status(conn, company)
    except sqlite3.Error as e:
        err.write(f"store error: {e}\n")
        return EXIT_INTERNAL
    if args.format == "json":
        out.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    else:
        out.write(status_text(data))
    return EXIT_OK
