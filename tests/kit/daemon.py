"""A running demo gateway on 127.0.0.1 for end-to-end tests (fixture ``gw`` in conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncssh

from opencass.clock import SteadyClock
from opencass.gateway.app import Gateway
from tests.kit.gateway import TODAY, init_demo_store, steady_clock

__all__ = ["Phase", "Running", "running", "running_demo"]


@contextlib.asynccontextmanager
async def running_demo(tmp_path: Path, workers: int = 1) -> AsyncIterator[Running]:
    """The demo configuration in ``tmp_path/config``, its gateway serving on a free port."""
    config_dir = tmp_path / "config"
    init_demo_store(config_dir, today=TODAY)
    gateway = Gateway(config_dir, port=0, workers=workers, clock=steady_clock())
    await gateway.startup()
    task = asyncio.create_task(gateway.serve())
    try:
        yield Running(gateway, config_dir, task)
    finally:
        gateway.stop.set()
        await task
        await gateway.shutdown()


@dataclass
class Running:
    gateway: Gateway
    config_dir: Path
    task: asyncio.Task[None]

    @property
    def port(self) -> int:
        return self.gateway.port

    @property
    def mailboxes(self) -> Path:
        return self.gateway.current_config().gateway.mailboxes_dir

    def key(self, user: str) -> Path:
        return self.config_dir / "keys" / user

    def connect(self, user: str) -> asyncssh.connection._ConnectionContextManager:  # type: ignore[name-defined]
        return asyncssh.connect(
            "127.0.0.1",
            self.port,
            username=user,
            client_keys=[str(self.key(user))],
            known_hosts=None,
            agent_path=None,
        )

    async def upload(self, user: str, name: str, data: bytes, box: str = "inbox") -> None:
        async with (
            self.connect(user) as conn,
            conn.start_sftp_client() as sftp,
            sftp.open(f"/{box}/{name}", "wb") as f,
        ):
            await f.write(data)

    async def outbox(
        self, company: str, pattern: str, count: int = 1, box: str = "outbox", timeout: float = 30
    ) -> list[Path]:
        folder = self.mailboxes / company / box
        for _ in range(int(timeout * 20)):
            found = sorted(folder.glob(pattern))
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {pattern} in {folder}: {sorted(folder.iterdir())}")


class Phase:
    """The gateway running on a clock started at one instant (``running``): a phase of a
    period's life, between which the daemon is stopped as an operator's machine would be."""

    def __init__(self, config_dir: Path, gateway: Gateway) -> None:
        self.config_dir = config_dir
        self.gateway = gateway
        self.mailboxes = gateway.current_config().gateway.mailboxes_dir

    async def upload(self, user: str, name: str, data: bytes) -> None:
        async with (
            asyncssh.connect(
                "127.0.0.1", self.gateway.port, username=user, known_hosts=None,
                client_keys=[str(self.config_dir / "keys" / user)], agent_path=None,
            ) as conn,
            conn.start_sftp_client() as sftp,
            sftp.open(f"/inbox/{name}", "wb") as f,
        ):  # fmt: skip
            await f.write(data)

    async def answer(self, company: str, name: str) -> str:
        """The text validation report of the file ``name`` (waits for it)."""
        folder = self.mailboxes / company / "outbox"
        for _ in range(600):
            for p in folder.glob("*_validation_*.txt"):
                text = p.read_text()
                if text.startswith(f"opencass validation report for {name}\n"):
                    return text
            await asyncio.sleep(0.05)
        raise AssertionError(f"no answer to {name} in {sorted(folder.iterdir())}")


@contextlib.asynccontextmanager
async def running(config_dir: Path, at: datetime) -> AsyncIterator[Phase]:
    """The gateway of ``config_dir`` serving from ``at`` (its calendar jobs due by then run at
    the start); on leaving, the closes it started finish before it stops."""
    gateway = Gateway(config_dir, port=0, workers=1, clock=SteadyClock(at))
    await gateway.startup()
    task = asyncio.create_task(gateway.serve())
    try:
        yield Phase(config_dir, gateway)
    finally:
        assert gateway.closes is not None
        await gateway.closes.idle()
        gateway.stop.set()
        await task
        await gateway.shutdown()
