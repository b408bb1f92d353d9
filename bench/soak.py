"""``make soak``: the gateway under a long mixed load, with faults, from start to a clean end.

For ``--minutes`` (30 by default) a real daemon (``opencass serve``, its own process) takes:
50 SFTP sessions uploading billing files in a loop (mostly valid ones with AWBs of their own,
some broken, some sent twice, some into the sandbox), a worker process killed with SIGKILL
every ``--kill-every`` seconds, and a flood of silent TCP connections from many loopback
addresses.  Then the uploads stop and the run waits for every file to be answered.

It passes (exit 0) when every upload was answered, nothing was left in another state, and the
ledger holds exactly the records of the valid live files sent.  It prints its figures: uploads,
bytes, outcomes, ledger rows expected and found, kills and pool rebuilds, flood connections,
intake latency from the metrics endpoint, the daemon's peak memory.  Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import asyncssh

from bench.generate import Spec, header, records
from opencass.cli.samples import DEMO_AGENTS
from opencass.codecs.hot.writer import HotWriter
from opencass.model import Dialect

SESSIONS = 50
RECORDS_PER_FILE = 20


@dataclass
class Tally:
    uploads: int = 0
    bytes: int = 0
    expected_ledger: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    kills: int = 0
    flood_opened: int = 0
    next_serial: int = 100_000

    def serials(self) -> int:
        first = self.next_serial
        self.next_serial += RECORDS_PER_FILE
        return first


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def billing_file(spec: Spec, first_serial: int, number: int) -> tuple[bytes, int]:
    """A valid billing file of its own AWBs; its bytes and its number of detail records."""
    w = HotWriter(header(spec, "997", Dialect.HANDOFF, file_number=number % 100), Dialect.HANDOFF)
    detail = [w.line(r) for r in records(spec, "997", RECORDS_PER_FILE, first_serial)]
    text = w.header_line() + "".join(detail) + w.trailer_line(office="FRA")
    return text.encode("ascii"), len(detail)


async def session(n: int, port: int, keys: Path, spec: Spec, tally: Tally, until: float) -> None:
    rng = random.Random(n)
    last = b""
    conn = None
    await asyncio.sleep(n * 0.2)  # the office's clients do not all log in at the same instant
    while time.monotonic() < until:
        try:
            if conn is None:
                conn = await asyncssh.connect(
                    "127.0.0.1", port, username="demoair", client_keys=[str(keys / "demoair")],
                    known_hosts=None, agent_path=None, config=[],
                )  # fmt: skip
            roll = rng.random()
            box, kind = "inbox", "valid"
            if roll < 0.10:
                kind = "broken"
                whole = billing_file(spec, tally.serials(), n)[0]
                data = whole[: whole.rindex(b"TTT")]  # cut before its trailer: rejected whole
            elif roll < 0.15 and last:
                kind, data = "duplicate", last
            elif roll < 0.20:
                box, kind = "sandbox/inbox", "sandbox"
                data = billing_file(spec, tally.serials(), n)[0]
            else:
                data, count = billing_file(spec, tally.serials(), n)
                tally.expected_ledger += count
                last = data
            name = f"s{n:02d}-{tally.uploads:06d}.hot"
            async with conn.start_sftp_client() as sftp, sftp.open(f"/{box}/{name}", "wb") as f:
                await f.write(data)
            tally.uploads += 1
            tally.bytes += len(data)
            tally.kinds[kind] = tally.kinds.get(kind, 0) + 1
        except (OSError, asyncssh.Error) as e:
            tally.errors.append(f"session {n}: {type(e).__name__}: {e}")
            if conn is not None:
                conn.close()
            conn = None
        await asyncio.sleep(rng.uniform(2.0, 6.0))
    if conn is not None:
        conn.close()


def pool_workers(daemon: int) -> list[int]:
    """Processes below the daemon's fork server (its pool workers)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parts = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(parts[1])
    servers = [p for p, pp in parents.items() if pp == daemon]
    return [p for p, pp in parents.items() if pp in servers]


async def killer(daemon: int, every: float, tally: Tally, until: float) -> None:
    while time.monotonic() + every < until:
        await asyncio.sleep(every)
        workers = pool_workers(daemon)
        if workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(random.choice(workers), signal.SIGKILL)
                tally.kills += 1


async def flood(port: int, tally: Tally, until: float) -> None:
    """About 20 silent connections a second, each held 30 s, from many loopback addresses."""
    held: list[tuple[float, socket.socket]] = []
    rng = random.Random(7)
    while time.monotonic() < until:
        now = time.monotonic()
        for s in [s for t, s in held if t < now]:
            s.close()
        held = [(t, s) for t, s in held if t >= now]
        for _ in range(2):
            s = socket.socket()
            s.setblocking(False)
            with contextlib.suppress(OSError):
                s.bind((f"127.0.{rng.randint(1, 40)}.{rng.randint(2, 250)}", 0))
                with contextlib.suppress(BlockingIOError):
                    s.connect(("127.0.0.1", port))
                held.append((now + 30, s))
                tally.flood_opened += 1
        await asyncio.sleep(0.1)
    for _, s in held:
        s.close()


def _metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def _quantile(m: dict[str, float], q: float) -> float:
    buckets = sorted(
        (float(k.split('le="')[1].rstrip('"}')), v)
        for k, v in m.items()
        if k.startswith("opencass_intake_seconds_bucket")
    )
    total = buckets[-1][1] if buckets else 0
    for le, count in buckets:
        if count >= q * total:
            return le
    return float("inf")


def _states(db: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as c:
        return dict(c.execute("SELECT state, COUNT(*) FROM files GROUP BY state").fetchall())


def _ledger(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as c:
        return int(c.execute("SELECT COUNT(*) FROM ledger WHERE withdrawn = 0").fetchone()[0])


def _peak_rss(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0


async def run(minutes: float, kill_every: float, work: Path) -> int:
    sftp_port, metrics_port = _free_port(), _free_port()
    config = work / "config"
    subprocess.run([sys.executable, "-m", "opencass.cli", "demo", "init", str(config),
                    "--sftp-port", str(sftp_port)], check=True, capture_output=True)  # fmt: skip
    toml = config / "gateway.toml"
    toml.write_text(toml.read_text().replace(
        'metrics_listen = ""', f'metrics_listen = "127.0.0.1:{metrics_port}"'
    ).replace('log_level = "info"', 'log_level = "warning"'))  # fmt: skip
    log = (work / "gateway.log").open("wb")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "opencass.cli", "serve", "--config", str(config)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    db = config / "data" / "opencass.db"
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                _metrics(metrics_port)
                break
            await asyncio.sleep(0.1)
        start = date.today().replace(day=1)  # the demo bills this month (the real clock)
        spec = Spec(agent_list=DEMO_AGENTS, period_start=start, period_end=_month_end(start))
        tally = Tally()
        began = time.monotonic()
        until = began + minutes * 60
        await asyncio.gather(
            *(session(n, sftp_port, config / "keys", spec, tally, until) for n in range(SESSIONS)),
            killer(daemon.pid, kill_every, tally, until),
            flood(sftp_port, tally, until),
        )
        loaded = time.monotonic() - began
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            states = _states(db)
            if sum(states.values()) >= tally.uploads and set(states) <= {"archived"}:
                break
            await asyncio.sleep(1)
        drained = time.monotonic() - began - loaded
        states, ledger, m = _states(db), _ledger(db), _metrics(metrics_port)
        figures = {
            "minutes": round(loaded / 60, 1),
            "uploads": tally.uploads,
            "megabytes": round(tally.bytes / 1e6, 1),
            "kinds": tally.kinds,
            "upload_errors": len(tally.errors),
            "first_errors": tally.errors[:5],
            "file_states": states,
            "answered": sum(states.values()),
            "ledger_expected": tally.expected_ledger,
            "ledger_found": ledger,
            "worker_kills": tally.kills,
            "pool_rebuilds": m.get("opencass_worker_pool_rebuilds_total", 0),
            "flood_connections": tally.flood_opened,
            "logins_refused": m.get('opencass_logins_total{outcome="refused"}', 0),
            "intake_p50_s": _quantile(m, 0.5),
            "intake_p95_s": _quantile(m, 0.95),
            "intake_p99_s": _quantile(m, 0.99),
            "drain_seconds": round(drained, 1),
            "daemon_peak_rss_mb": _peak_rss(daemon.pid),
        }
        print(json.dumps(figures, indent=2))
        ok = (
            sum(states.values()) == tally.uploads
            and set(states) <= {"archived"}
            and ledger == tally.expected_ledger
            and not tally.errors
        )
        print("soak:", "PASSED" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        daemon.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.wait(60)
        if daemon.poll() is None:
            daemon.kill()
        log.close()


def _month_end(start: date) -> date:
    nxt = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--kill-every", type=float, default=60.0, help="seconds between kills")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="opencass-soak-") as work:
        return asyncio.run(run(args.minutes, args.kill_every, Path(work)))


if __name__ == "__main__":
    sys.exit(main())
