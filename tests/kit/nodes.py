"""Several gateway nodes on one machine for end-to-end tests: one configuration, one
PostgreSQL store, one data directory (mailboxes, spool, archive), each node an ``opencass
serve`` process on its own SFTP port."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opencass.config import init_demo
from opencass.config.database import PgUrl
from opencass.store.connect import connect_sync
from tests.kit.gateway import CLOCK_ENV, TODAY, free_port, set_store_url
from tests.kit.pg import PgServer, pg_server

__all__ = ["Cluster", "NodeProcess"]


@dataclass
class NodeProcess:
    """One running node: its process, port and log file."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def ready(self) -> bool:
        return '"gateway_ready"' in self.log.read_text(errors="replace")

    def events(self, name: str) -> list[dict[str, Any]]:
        """The node's JSON log lines whose event is ``name``."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{") and f'"{name}"' in line:
                with contextlib.suppress(ValueError):
                    found = json.loads(line)
                    if found.get("event") == name:
                        out.append(found)
        return out


@dataclass
class Cluster:
    """The shared configuration directory and store; ``start`` adds a node."""

    root: Path
    lease_seconds: float = 3.0
    env: dict[str, str] = field(default_factory=lambda: dict(CLOCK_ENV))
    nodes: dict[str, NodeProcess] = field(default_factory=dict)
    server: PgServer | None = None  # the PostgreSQL server (default: the tests' shared one)

    def __post_init__(self) -> None:
        self.config = self.root / "config"
        init_demo(self.config, today=TODAY)
        self.server = self.server or pg_server()
        self.url = self.server.new_database()
        set_store_url(self.config, self.url)
        toml = self.config / "gateway.toml"
        text = toml.read_text("utf-8")
        text = re.sub(r"(?m)^lease_seconds = .*$", f"lease_seconds = {self.lease_seconds}", text)
        text = re.sub(r"(?m)^rescan_seconds = .*$", "rescan_seconds = 1.0", text)
        toml.write_text(text, "utf-8")
        self.data = self.config / "data"

    def copy(self, root: Path) -> Cluster:
        """Another installation in ``root`` holding the same: a copy of the configuration and
        data directory, and of the database (no node of this one may be running)."""
        shutil.copytree(self.config, root / "config", symlinks=True)
        other = Cluster.__new__(Cluster)
        other.root, other.lease_seconds, other.nodes = root, self.lease_seconds, {}
        other.env = dict(self.env)
        other.config, other.data = root / "config", root / "config" / "data"
        other.server = self.server or pg_server()
        other.url = other.server.clone(self.url)
        toml = other.config / "gateway.toml"
        toml.write_text(toml.read_text("utf-8").replace(self.url, other.url), "utf-8")
        return other

    def start(
        self, name: str, *, wait: bool = True, env: dict[str, str] | None = None
    ) -> NodeProcess:
        port = free_port()
        log = self.root / f"node-{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "opencass.cli", "serve", "--config", str(self.config),
                 "--port", str(port), "--node", name],
                stdout=out, stderr=subprocess.STDOUT, env={**self.env, **(env or {})},
            )  # fmt: skip
        node = self.nodes[name] = NodeProcess(name, port, process, log)
        if wait:
            self.wait(lambda: node.ready() or node.process.poll() is not None, 90, "ready")
            assert node.process.poll() is None, log.read_text()
        return node

    def kill(self, name: str) -> None:
        """kill -9 the node ``name`` (its worker processes die with it)."""
        node = self.nodes[name]
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(timeout=30)

    def stop_all(self) -> None:
        for node in self.nodes.values():
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes.values():
            try:
                node.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()

    @contextlib.contextmanager
    def db(self) -> Iterator[Any]:
        conn = connect_sync(PgUrl(self.url))
        try:
            yield conn
        finally:
            conn.close()

    def rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.db() as conn:
            return [tuple(r) for r in conn.execute(sql, args).fetchall()]

    @staticmethod
    def wait(check: Any, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"not {what} within {timeout} s")
