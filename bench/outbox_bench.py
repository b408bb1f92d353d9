"""Outbox benchmark: notifications fanned out to many subscribers, half also pushed by SFTP.

``python -m bench.outbox_bench [--events 10] [--subscribers 1000] [--push-share 0.5]``

``--events`` country-wide events (a calendar change concerns every participant of DE) are
recorded at once; every subscriber's default rule turns each into an ``api:Notification`` in
its mailbox (events × subscribers notifications: 10 × 1,000 = 10,000), and the subscribers with
a push rule (half) also receive each notification on their own directory of one loopback SFTP
server (``opencass.outbox.push_server``; one login name and SSH connection per subscriber, as
in production where every participant has its own server).  The real ``OutboxService`` runs on
a real SQLite store (WAL, synchronous=FULL) and real directories.  Reported: wall time from the
events being recorded to the last delivery, throughput, and p50/p99 event → delivered per
channel (from the store's timestamps).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import asyncssh

from opencass.clock import stamp, system_clock
from opencass.config.model import (
    Company,
    CompanyKind,
    Config,
    Country,
    GatewaySettings,
    OutboxSettings,
)
from opencass.config.push import PushTarget
from opencass.config.subscriptions import Channel, Subscription, default_rules
from opencass.events import Event, EventType
from opencass.outbox.push_server import PushServer
from opencass.outbox.service import OutboxService
from opencass.store.connect import connect_sync, migrate_sync
from opencass.store.events import record_events


class _RemoteServer:
    """The loopback push server in a child process (so its SSH work has a core of its own)."""

    def __init__(self, root: Path, host_key: asyncssh.SSHKey, port: int) -> None:
        self.root, self.port = root, port
        self.host_key_line = host_key.export_public_key().decode().strip()


async def _serve(root: Path, host_key: Path, authorized: Path) -> None:
    server = PushServer(root, host_key, authorized)
    await server.start()
    print(server.port, flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    await server.close()


def _config(root: Path, n: int, share: float, server: _RemoteServer, key: Path) -> Config:
    push_rule = Subscription(
        frozenset({EventType.CALENDAR_CHANGED}),
        channels=frozenset({Channel.MAILBOX, Channel.PUSH}),
        description="push",
    )
    companies = {}
    pushing = int(n * share)
    for i in range(n):
        cid = f"c{i:05d}"
        target = None
        if i < pushing:
            (server.root / cid).mkdir(parents=True, exist_ok=True)
            target = PushTarget(
                host="127.0.0.1", port=server.port, username=cid, client_key=key,
                host_key=server.host_key_line, remote_dir=cid, io_timeout=60.0,
                connect_timeout=60.0,
            )  # fmt: skip
        rules = default_rules("agent") + ((push_rule,) if target else ())
        companies[cid] = Company(
            cid, CompanyKind.AGENT, cid, countries=("DE",), subscriptions=rules, push=target
        )
    settings = GatewaySettings(
        data_dir=root / "data",
        public_url="https://bench.invalid",
        outbox=OutboxSettings(poll_seconds=0.05, concurrency=64),
    )
    country = Country("DE", "Germany", "EUR", "Europe/Berlin")
    return Config(root, settings, {"DE": country}, companies, {}, {})


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def run(events: int, subscribers: int, share: float) -> dict[str, object]:
    """Run the benchmark once; the figures."""
    with tempfile.TemporaryDirectory(prefix="outbox-bench-") as tmp:
        root = Path(tmp)
        client = asyncssh.generate_private_key("ssh-ed25519")
        client.write_private_key(root / "key")
        client.write_public_key(root / "key.pub")
        host = asyncssh.generate_private_key("ssh-ed25519")
        host.write_private_key(root / "host_key")
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.outbox_bench", "--serve-push", str(root / "remote"),
            str(root / "host_key"), str(root / "key.pub"),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert child.stdout is not None and child.stdin is not None
        port = int((await child.stdout.readline()).decode())
        server = _RemoteServer(root / "remote", host, port)
        config = _config(root, subscribers, share, server, root / "key")
        config.gateway.database.parent.mkdir(parents=True)
        with closing(connect_sync(config.gateway.database)) as conn:
            migrate_sync(conn)
        service = OutboxService(lambda: config)
        await service.start()
        expected = events * subscribers + events * int(subscribers * share)
        batch = [
            Event(EventType.CALENDAR_CHANGED, f"bench:{i}", f"calendar change {i}", country="DE")
            for i in range(events)
        ]
        started = time.perf_counter()
        with closing(connect_sync(config.gateway.database)) as conn, conn:
            record_events(conn, batch, stamp(system_clock))
        service.wake()
        while service.stats.delivered < expected:
            await asyncio.sleep(0.05)
            if time.perf_counter() - started > 600:
                break
        wall = time.perf_counter() - started
        await service.drain(5.0)
        child.stdin.close()
        await child.wait()
        with closing(connect_sync(config.gateway.database)) as conn:
            rows = conn.execute(
                "SELECT d.channel, d.delivered_at, e.at FROM deliveries d"
                " JOIN events e ON e.id = d.event_id WHERE d.state = 'delivered'"
            ).fetchall()
            dead = conn.execute("SELECT COUNT(*) FROM deliveries WHERE state != 'delivered'")
            undelivered = dead.fetchone()[0]
        latency: dict[str, list[float]] = {}
        for channel, done, at in rows:
            seconds = (datetime.fromisoformat(done) - datetime.fromisoformat(at)).total_seconds()
            latency.setdefault(channel, []).append(seconds)
        remote_files = sum(
            1 for p in (root / "remote").rglob("*_notification_*") if not p.name.startswith(".")
        )
    everything = [s for v in latency.values() for s in v]
    return {
        "events": events,
        "subscribers": subscribers,
        "push_subscribers": int(subscribers * share),
        "notifications_mailbox": len(latency.get("mailbox", [])),
        "deliveries_push": len(latency.get("push", [])),
        "files_on_push_server": remote_files,
        "not_delivered": undelivered,
        "failed_attempts": service.stats.failed,
        "wall_seconds": round(wall, 2),
        "deliveries_per_second": round(len(everything) / wall, 1) if wall else 0.0,
        "p50_seconds": {c: round(statistics.median(v), 3) for c, v in latency.items()},
        "p99_seconds": {c: round(_pct(v, 0.99), 3) for c, v in latency.items()},
        "p99_all_seconds": round(_pct(everything, 0.99), 3),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main() -> None:
    """Parse arguments, run, print the figures as JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=10)
    p.add_argument("--subscribers", type=int, default=1000)
    p.add_argument("--push-share", type=float, default=0.5)
    p.add_argument("--serve-push", nargs=3, metavar=("DIR", "HOST_KEY", "AUTHORIZED"),
                   help=argparse.SUPPRESS)  # fmt: skip
    a = p.parse_args()
    if a.serve_push:
        asyncio.run(_serve(*(Path(x) for x in a.serve_push)))
        return
    print(json.dumps(asyncio.run(run(a.events, a.subscribers, a.push_share)), indent=2))


if __name__ == "__main__":
    main()
