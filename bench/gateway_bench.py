"""Gateway benchmarks: the real daemon on 127.0.0.1, driven by real SFTP clients.

``python -m bench.gateway_bench [--quick]`` prints:

1. upload closed → report visible in the outbox for 1-record files (p50/p95 over 200 uploads);
2. a 1,000,000-record HOT file: upload closed → report, and the gateway's peak RSS;
3. 100 concurrent SFTP sessions × 10 files each: answered, errors, p50/p99;
4. a 512 MB upload to opencass and to OpenSSH's ``sftp-server`` (sshd on another loopback port,
   same client, same machine, same run): throughput and ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import asyncssh

from bench.generate import Spec, agent_codes, header, records
from opencass.clock import system_clock
from opencass.codecs.hot.writer import HotWriter
from opencass.config import init_demo
from opencass.model import AwbRecord, Dialect

PREFIX = "997"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup(root: Path, agents: int, store: str = "sqlite") -> tuple[Path, Spec]:
    """A demo configuration plus an agent company holding ``agents`` agent codes; the files
    bill the demo calendar's period of today (never a period closed already).  ``store``
    "postgresql": the store in a new database of a private PostgreSQL server (fsync on)."""
    config = root / "config"
    today = system_clock().date()
    init_demo(config, today=today, sftp_port=free_port())
    start = today.replace(day=1)
    end = start.replace(day=calendar.monthrange(start.year, start.month)[1])
    spec = Spec(agents=agents)
    codes = agent_codes(spec)
    spec = Spec(agent_list=tuple(codes), period_start=start, period_end=end)
    # every client of the benchmark comes from 127.0.0.1: the per-address cap on connections
    # not logged in yet (16, against floods) would refuse most of 100 sessions opened at once
    gateway = config / "gateway.toml"
    text = gateway.read_text().replace("max_unauthenticated_per_address = 16",
                                       "max_unauthenticated_per_address = 256")  # fmt: skip
    text = text.replace("max_unauthenticated = 64", "max_unauthenticated = 256")
    if store == "postgresql":
        from tests.kit.pg import pg_server

        text = text.replace(
            '[store]\nurl = ""', f'[store]\nurl = "{pg_server(durable=True).new_database()}"'
        )
    gateway.write_text(text)
    (config / "participants" / "bigagent.toml").write_text(
        '[company]\nid = "bigagent"\nkind = "agent"\nlegal_name = "Bench Forwarding"\n'
        'countries = ["DE"]\n[company.agent_codes]\nDE = ['
        + ", ".join(f'"{c}"' for c in codes)
        + "]\n"
    )
    return config, spec


def hot_bytes(spec: Spec, count: int, first_serial: int, awm_only: bool = False) -> bytes:
    """A billing file of the demo airline."""
    w = HotWriter(header(spec, PREFIX, Dialect.HANDOFF), Dialect.HANDOFF)
    recs = records(spec, PREFIX, count, first_serial)
    parts = [w.header_line()]
    parts += [w.line(r) for r in recs if not awm_only or isinstance(r, AwbRecord)]
    parts.append(w.trailer_line(office="FRA"))
    return "".join(parts).encode("ascii")


class Daemon:
    """``opencass serve`` in a subprocess."""

    def __init__(self, config: Path, node: str = "") -> None:
        self.config = config
        extra = ["--node", node, "--port", str(free_port())] if node else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "opencass.cli", "serve", "--config", str(config), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if '"gateway_ready"' in line:
                self.port = json.loads(line)["port"]
                break
        else:
            raise RuntimeError("gateway did not start")
        self.log: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()  # keep the pipe from filling
        self.outbox = config / "data" / "mailboxes" / "demoair" / "outbox"

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log.append(line)
            del self.log[:-200]

    def rss_mb(self) -> tuple[float, float]:
        """(main process RSS, main + workers RSS) in MB, now."""
        pids = [self.proc.pid, *_children(self.proc.pid)]
        sizes = [_rss_kb(p) for p in pids]
        return sizes[0] / 1024, sum(sizes) / 1024

    def pss_mb(self) -> float:
        """Main + workers PSS in MB, now: each shared page (the fork server's preloaded
        modules, the libraries) counted once across the processes, where a sum of RSS counts
        it in every process that maps it."""
        return sum(_pss_kb(p) for p in [self.proc.pid, *_children(self.proc.pid)]) / 1024

    def stop(self) -> None:
        """SIGTERM and wait."""
        self.proc.terminate()
        self.proc.communicate(timeout=120)


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text() if (task / "children").exists() else ""
        for child in map(int, text.split()):
            out += [child, *_children(child)]
    return out


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _client(port: int, key: Path, user: str) -> asyncssh.connection._ConnectionContextManager:  # type: ignore[name-defined]
    return asyncssh.connect(
        "127.0.0.1",
        port,
        username=user,
        client_keys=[str(key)],
        known_hosts=None,
        agent_path=None,
    )


async def _wait_reports(outbox: Path, count: int, timeout: float = 120) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if len(list(outbox.glob("*_validation_*.xml"))) >= count:
            return time.perf_counter()
        await asyncio.sleep(0.002)
    raise TimeoutError(f"{count} reports not seen in {timeout}s")


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench_latency(d: Daemon, spec: Spec, n: int) -> None:
    """1-record files, one after another."""
    key = d.config / "keys" / "demoair"
    lat: list[float] = []
    async with _client(d.port, key, "demoair") as conn, conn.start_sftp_client() as sftp:
        for i in range(n):
            data = hot_bytes(spec, 1, 9_000_000 + i, awm_only=True)
            before = len(list(d.outbox.glob("*_validation_*.xml")))
            async with sftp.open(f"/inbox/one-{i}.hot", "wb") as f:
                await f.write(data)
            closed = time.perf_counter()
            lat.append(await _wait_reports(d.outbox, before + 1) - closed)
    print(
        f"1-record file, upload closed → report ({n} uploads): p50 {pct(lat, 0.5) * 1000:.0f} ms,"
        f" p95 {pct(lat, 0.95) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms"
    )


async def bench_big(d: Daemon, spec: Spec, records_wanted: int, work: Path) -> None:
    """One large file: latency after upload and the gateway's peak memory."""
    path = work / "big.hot"
    w = HotWriter(header(spec, PREFIX, Dialect.HANDOFF), Dialect.HANDOFF)
    n = 2
    with path.open("w", encoding="ascii") as out:
        out.write(w.header_line())
        for r in records(spec, PREFIX, round(records_wanted / 1.21), 1):
            out.write(w.line(r))
            n += 1
        out.write(w.trailer_line(office="FRA"))
    key = d.config / "keys" / "demoair"
    before = len(list(d.outbox.glob("*_validation_*.xml")))
    peak = [0.0, 0.0, 0.0]
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            main, total = d.rss_mb()
            peak[0], peak[1] = max(peak[0], main), max(peak[1], total)
            peak[2] = max(peak[2], d.pss_mb())
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    async with _client(d.port, key, "demoair") as conn, conn.start_sftp_client() as sftp:
        t = time.perf_counter()
        await sftp.put(str(path), "/inbox/big.hot")
        closed = time.perf_counter()
    answered = await _wait_reports(d.outbox, before + 1, timeout=600)
    done.set()
    await sampler
    report = sorted(d.outbox.glob("*_validation_*.txt"))[-1].read_text()
    outcome = next(line for line in report.splitlines() if line.startswith("Outcome"))
    counts = next(line for line in report.splitlines() if line.startswith("Counts"))
    booked = next(c for c in counts.split(":", 1)[1].split(",") if "booked" in c).strip()
    verdict = f"{outcome.split(':')[1].strip()}, {booked}"
    # the baseline: validating the same file with 2 processes (parsing, no booking), now that
    # the gateway is idle
    from opencass.gateway.validate import validate_hot_file

    started = time.perf_counter()
    await asyncio.to_thread(validate_hot_file, path, workers=2)
    base = time.perf_counter() - started
    print(
        f"{n:,}-record HOT file ({path.stat().st_size / 2**20:,.0f} MiB): upload "
        f"{closed - t:.1f} s, upload closed → report {answered - closed:.1f} s ({verdict});"
        f" peak RSS gateway {peak[0]:,.0f} MB, gateway + workers {peak[1]:,.0f} MB"
        f" (PSS, shared pages once: {peak[2]:,.0f} MB);"
        f" baseline `validate` of the file, 2 processes, {base:.1f} s:"
        f" ratio {(answered - closed) / base:.1f}"
    )


async def bench_concurrent(nodes: list[Daemon], spec: Spec, sessions: int, files: int) -> None:
    """Many sessions at once, each uploading several 1-record files (the sessions spread
    round-robin over the gateway ``nodes``, which share one store and data directory)."""
    d = nodes[0]
    key = d.config / "keys" / "demoair"
    lat: list[float] = []
    errors = 0
    before = len(list(d.outbox.glob("*_validation_*.xml")))

    async def one(s: int) -> None:
        nonlocal errors
        try:
            port = nodes[s % len(nodes)].port
            async with _client(port, key, "demoair") as conn, conn.start_sftp_client() as sftp:
                for i in range(files):
                    serial = 8_000_000 + s * files + i
                    async with sftp.open(f"/inbox/c-{s}-{i}.hot", "wb") as f:
                        await f.write(hot_bytes(spec, 1, serial, awm_only=True))
                    lat.append(time.perf_counter())
        except (OSError, asyncssh.Error):
            errors += 1

    t = time.perf_counter()
    await asyncio.gather(*(one(s) for s in range(sessions)))
    end = await _wait_reports(d.outbox, before + len(lat), timeout=600)
    closes = sorted(lat)
    # Reports are matched to uploads in order of arrival: the n-th report answers the n-th close.
    answered = sorted(p.stat().st_mtime for p in d.outbox.glob("*_validation_*.xml"))[before:]
    offset = time.time() - time.perf_counter()
    waits = [a - (c + offset) for a, c in zip(answered, closes, strict=False)]
    where = f"{len(nodes)} nodes, " if len(nodes) > 1 else ""
    print(
        f"{where}{sessions} sessions × {files} files: {len(closes)} uploaded, {errors} errors,"
        f" all answered in {end - t:.1f} s ({len(closes) / (end - t):.1f} files/s); upload"
        f" closed → report p50 {pct(waits, 0.5) * 1000:.0f} ms, p95"
        f" {pct(waits, 0.95) * 1000:.0f} ms, p99 {pct(waits, 0.99) * 1000:.0f} ms"
    )


def _sshd(work: Path, user_pub: Path) -> tuple[subprocess.Popen[bytes], int] | None:
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    server = Path("/usr/lib/openssh/sftp-server")
    if not Path(sshd).exists() or not server.exists():
        return None
    port = free_port()
    host_key = work / "sshd_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    auth = work / "authorized_keys"
    auth.write_text(user_pub.read_text())
    auth.chmod(0o600)
    cfg = work / "sshd_config"
    cfg.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nAuthorizedKeysFile {auth}\n"
        f"PasswordAuthentication no\nPermitRootLogin prohibit-password\nStrictModes no\n"
        f"Subsystem sftp {server}\nPidFile {work / 'sshd.pid'}\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(cfg)], stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc, port


async def _put_seconds(port: int, key: Path, user: str, src: Path, dst: str) -> float:
    async with _client(port, key, user) as conn, conn.start_sftp_client() as sftp:
        t = time.perf_counter()
        await sftp.put(str(src), dst)
        return time.perf_counter() - t


async def bench_throughput(d: Daemon, work: Path, size_mb: int) -> None:
    """A large upload to opencass and to OpenSSH's sftp-server."""
    src = work / "blob.bin"
    with src.open("wb") as f:
        block = os.urandom(1 << 20)
        for _ in range(size_mb):
            f.write(block)
    key = d.config / "keys" / "demoair"
    ours = await _put_seconds(d.port, key, "demoair", src, "/inbox/.blob.part")
    line = f"{size_mb} MB upload: opencass {size_mb / ours:,.0f} MB/s"
    started = _sshd(work, key.with_suffix(".pub"))
    if started is None:
        print(line + "; OpenSSH sftp-server not installed (apt-get install openssh-server)")
        return
    proc, port = started
    try:
        user = os.environ.get("USER") or "root"
        theirs = await _put_seconds(port, key, user, src, str(work / "blob.copy"))
    finally:
        proc.terminate()
    print(
        f"{line}, OpenSSH sftp-server {size_mb / theirs:,.0f} MB/s, ratio "
        f"{theirs / ours:.2f} (same client: asyncssh)"
    )


def seed_ledger(config: Path, ledger: Path) -> int:
    """The demo's store replaced by a copy of ``ledger`` (``bench.status_bench``'s: months of
    1M AWBs of DE billed by other airlines than the benchmark's), every close of its periods
    marked done so that the daemon does not start them; the ledger's rows."""
    from opencass.config import load_config

    database = load_config(config).gateway.database
    database.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ledger, database)
    now = system_clock().isoformat()
    with sqlite3.connect(database) as conn:
        periods = [r[0] for r in conn.execute("SELECT DISTINCT period FROM files")]
        conn.executemany(
            "INSERT OR IGNORE INTO closes (country, period, kind, reference, started_at,"
            " completed_at, documents) VALUES ('DE', ?, ?, 'bench', ?, ?, 0)",
            [(p, kind, now, now) for p in periods
             for kind in ("preliminary", "dispute-escalation", "final")],
        )  # fmt: skip
        rows: int = conn.execute("SELECT MAX(id) FROM ledger").fetchone()[0] or 0
    return rows


async def main_async(a: argparse.Namespace) -> None:
    """Run every benchmark against one daemon."""
    with tempfile.TemporaryDirectory(prefix="opencass-bench-", dir=a.tmp) as tmp:
        work = Path(tmp)
        config, spec = setup(work, a.agents, a.store)
        print(f"store: {a.store}")
        if a.ledger is not None:
            rows = seed_ledger(config, a.ledger)
            print(f"the store holds a ledger of {rows:,} rows ({a.ledger})")
        if a.nodes > 1 and a.store != "postgresql":
            raise SystemExit("several nodes share a PostgreSQL store: --store postgresql")
        nodes = [Daemon(config, f"n{i}") for i in range(a.nodes)] if a.nodes > 1 else []
        d = nodes[0] if nodes else Daemon(config)
        wanted = set(a.only.split(","))
        try:
            if "latency" in wanted:
                await bench_latency(d, spec, a.uploads)
            if "concurrent" in wanted:
                await bench_concurrent(nodes or [d], spec, a.sessions, a.files)
            if "big" in wanted:
                await bench_big(d, spec, a.records, work)
            if "throughput" in wanted:
                await bench_throughput(d, work, a.mb)
        except BaseException:
            print("".join(d.log[-30:]), file=sys.stderr)
            raise
        finally:
            for daemon in nodes or [d]:
                daemon.stop()


def main() -> None:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description="opencass gateway benchmarks")
    p.add_argument("--uploads", type=int, default=200)
    p.add_argument("--sessions", type=int, default=100)
    p.add_argument("--files", type=int, default=10)
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--agents", type=int, default=5000)
    p.add_argument("--mb", type=int, default=512)
    p.add_argument("--only", default="latency,concurrent,big,throughput", help="comma list")
    p.add_argument(
        "--ledger", type=Path, default=None,
        help="start from a copy of this store (e.g. bench.status_bench --months 12's)",
    )  # fmt: skip
    p.add_argument("--tmp", default=None, help="where the benchmark's directory is made")
    p.add_argument(
        "--store", choices=("sqlite", "postgresql"), default="sqlite",
        help="the store: SQLite, or a private PostgreSQL server started for the run",
    )  # fmt: skip
    p.add_argument(
        "--nodes", type=int, default=1,
        help="gateway nodes on one store (PostgreSQL); the concurrent sessions spread over them",
    )  # fmt: skip
    a = p.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; wall-clock figures")
    asyncio.run(main_async(a))


if __name__ == "__main__":
    main()
