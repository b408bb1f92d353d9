"""``opencass cluster status``: the gateway nodes sharing the configured store, their last
heartbeat, the configuration each runs, and the leases and close locks they hold.

A node is *alive* while it beat within ``[store] lease_seconds``, *stopped* after an orderly
stop, *lost* otherwise (killed, or cut off from the store: what it held is taken over by the
other nodes).  Live nodes running different configurations are reported (a changed
configuration is applied by a SIGHUP to every node).  Exit codes: 0 shown, 2 configuration
error, 3 the store cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import closing
from datetime import UTC, datetime
from typing import Any, TextIO

from opencass.clock import lease_time
from opencass.errors import EXIT_OK

__all__ = ["cluster_status", "cmd_cluster"]


def _at(t: float | None) -> str:
    if t is None:
        return "-"
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def cluster_status(database: Any, lease_seconds: float, now: float) -> dict[str, Any]:
    """The nodes and leases of the store ``database`` as plain data (``--format json``)."""
    from opencass.store import cluster
    from opencass.store.connect import connect_migrated, is_pg

    with closing(connect_migrated(database)) as conn:
        nodes, leases = cluster.nodes(conn), cluster.leases(conn)
        locks = [x.name for x in leases if x.expires >= cluster.LOCKED]
        held = cluster.held_locks(conn, locks) if is_pg(conn) else set()
    out_nodes = []
    for n in nodes:
        state = "stopped" if n.stopped_at is not None else "alive"
        if state == "alive" and n.heartbeat_at + lease_seconds < now:
            state = "lost"
        out_nodes.append({
            "node": n.node, "state": state, "host": n.host, "pid": n.pid, "listen": n.listen,
            "version": n.version, "config": n.config, "started_at": _at(n.started_at),
            "heartbeat_at": _at(n.heartbeat_at), "heartbeat_age": round(now - n.heartbeat_at, 1),
        })  # fmt: skip
    out_leases = []
    for x in leases:
        lock = x.expires >= cluster.LOCKED
        if lock and x.name not in held:
            continue  # its holder ended without removing the row: nothing is held
        out_leases.append({
            "name": x.name, "node": x.node, "kind": "lock" if lock else "lease",
            "taken_at": _at(x.taken_at), "expires_in": None if lock else round(x.expires - now, 1),
            "holder": json.loads(x.holder) if x.holder else {},
        })  # fmt: skip
    configs = {n["config"] for n in out_nodes if n["state"] == "alive"}
    return {
        "store": str(database).split("@")[-1],
        "lease_seconds": lease_seconds,
        "now": _at(now),
        "nodes": out_nodes,
        "leases": out_leases,
        "same_config": len(configs) <= 1,
    }


def _text(status: dict[str, Any], out: TextIO) -> None:
    out.write(f"Nodes of store {status['store']} (lease {status['lease_seconds']:g} s)\n")
    if not status["nodes"]:
        out.write("  no node has started on this store\n")
    for n in status["nodes"]:
        out.write(
            f"  {n['node']:<16} {n['state']:<8} {n['host']} pid {n['pid']} sftp {n['listen']}"
            f"  opencass {n['version']}  config {n['config']}\n"
            f"  {'':<16} started {n['started_at']}, last heartbeat {n['heartbeat_at']}"
            f" ({n['heartbeat_age']:g} s ago)\n"
        )
    if not status["same_config"]:
        out.write(
            "  WARNING: the live nodes run different configurations: after changing it,"
            " send SIGHUP to every node\n"
        )
    out.write(f"Leases and locks ({len(status['leases'])})\n")
    for x in status["leases"]:
        if x["kind"] == "lock":
            by = x["holder"].get("by", "")
            out.write(f"  {x['name']:<40} {x['node']:<16} lock since {x['taken_at']} {by}\n")
        else:
            left = x["expires_in"]
            state = f"expires in {left:g} s" if left >= 0 else f"lapsed {-left:g} s ago"
            out.write(f"  {x['name']:<40} {x['node']:<16} since {x['taken_at']}, {state}\n")


def cmd_cluster(
    args: argparse.Namespace, stdout: TextIO | None = None, now: float | None = None
) -> int:
    """Run ``opencass cluster status``."""
    from opencass.cli.common import load

    out = stdout or sys.stdout
    config = load(args)
    status = cluster_status(
        config.gateway.database,
        config.gateway.store.lease_seconds,
        lease_time() if now is None else now,
    )
    if getattr(args, "format", "text") == "json":
        out.write(json.dumps(status, indent=2) + "\n")
    else:
        _text(status, out)
    return EXIT_OK
