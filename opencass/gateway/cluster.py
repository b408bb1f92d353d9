"""This gateway as one node of several on one store: its heartbeat and its leases.

Theory of operation
-------------------
``Node.start()`` registers the node (refused while a node of the same name beats elsewhere)
and starts beating every third of ``[store] lease_seconds``; each beat renews every lease the
node holds (``opencass.store.cluster``).  Intake leases each file it processes
(``file:<id>``), the outbox service leases ``outbox`` (one node delivers at a time, the others
stand by), closes take a session lock.  ``stop()`` releases the leases at once, so an orderly
stop hands work over without waiting for a lease to run out; a killed node's leases expire
``lease_seconds`` after its last beat and the others' rescans take its files over.

The node keeps a store connection of its own, used from one thread: a beat never waits behind
the gateway's other store work.  A beat that fails (the database restarting) is logged and
tried again at the next; the node's leases may then expire, and the transitions' checks keep
a file taken over meanwhile from being done twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import structlog

from opencass.clock import lease_time
from opencass.config.database import Database
from opencass.errors import ConfigurationError
from opencass.store import cluster
from opencass.store.connect import connect_migrated

__all__ = ["Node", "NodeRunning", "default_node_name"]

log = structlog.get_logger("opencass.gateway.cluster")
T = TypeVar("T")


class NodeRunning(ConfigurationError):  # noqa: N818 - a verdict: the name is taken
    """Another process runs a node of this name (each node needs its own ``--node``)."""

    code = "NODE_RUNNING"


def _alive_elsewhere(host: str, pid: int) -> bool:
    """Whether the node last seen as ``pid`` on ``host`` may still run: on another host,
    yes (its beat is recent); on this one, if that process exists and is not this one (a
    node restarted after a crash finds its old row: that process is gone)."""
    if host != socket.gethostname():
        return True
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def default_node_name() -> str:
    """``OPENCASS_NODE``, else the host name."""
    return os.environ.get("OPENCASS_NODE") or socket.gethostname()


class Node:
    """One gateway's membership of the cluster (also when it is the only node)."""

    def __init__(
        self,
        database: Database,
        name: str,
        *,
        lease_seconds: Callable[[], float],
        listen: str,
        version: str,
        config_digest: Callable[[], str],
        wall: Callable[[], float] = lease_time,
    ) -> None:
        self.database = database
        self.name = name
        self.lease_seconds = lease_seconds  # read at each use: a reload may change it
        self.listen = listen
        self.version = version
        self.config_digest = config_digest
        self.wall = wall  # lease time: the machine's clock, not the business clock
        self._exec = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opencass-node")
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self.beats = 0
        self.started = False  # registered: only then does ``stop`` touch the node's row
        self.others = 0  # other live nodes at the last beat

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        def run() -> T:
            if self._conn is None:
                self._conn = connect_migrated(self.database)
            return fn(self._conn, *args)

        return await asyncio.get_running_loop().run_in_executor(self._exec, run)

    async def _reset(self) -> None:
        """Close the node's connection (a new one is made at the next call)."""

        def run() -> None:
            conn, self._conn = self._conn, None
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()

        await asyncio.get_running_loop().run_in_executor(self._exec, run)

    # -- life ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Register and start beating; ``NodeRunning`` if the name is taken."""
        info = cluster.NodeInfo(
            node=self.name,
            host=socket.gethostname(),
            pid=os.getpid(),
            listen=self.listen,
            version=self.version,
            config=self.config_digest(),
        )
        other = await self._call(cluster.running_as, self.name, self.wall(), self.lease_seconds())
        if other is not None and _alive_elsewhere(*other):
            raise NodeRunning(
                f"node {self.name} is running on {other[0]} (process {other[1]}):"
                " give each node its own --node name"
            )
        await self._call(cluster.register, info, self.wall())
        self.started = True
        await self.beat()
        self._task = asyncio.get_running_loop().create_task(self._beat_forever())
        log.info("node_started", node=self.name, lease_seconds=self.lease_seconds())

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds() / 3)
            try:
                await self.beat()
            except Exception as e:  # the next beat tries again
                log.warning("node_heartbeat_failed", node=self.name, error=str(e))
                await self._reset()

    async def beat(self) -> None:
        """One heartbeat: alive now, every lease renewed."""
        now, lease = self.wall(), self.lease_seconds()
        await self._call(
            cluster.heartbeat, self.name, now, lease, self.config_digest(), self.listen
        )
        live = await self._call(cluster.live_nodes, now, lease)
        self.others = len(set(live) - {self.name})
        self.beats += 1

    async def stop(self) -> None:
        """Stop beating, release every lease, mark the node stopped, close."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
        if self.started:
            self.started = False
            try:
                await self._call(cluster.stop_node, self.name, self.wall())
            except Exception as e:
                log.warning("node_stop_unrecorded", node=self.name, error=str(e))
        await self._reset()
        self._exec.shutdown(wait=False)

    # -- leases ----------------------------------------------------------------------------------

    async def take(self, name: str) -> bool:
        """Lease ``name`` to this node (see ``cluster.take_lease``); False when another live
        node holds it, or when the store cannot be asked (the work waits for a rescan)."""
        try:
            return await self._call(
                cluster.take_lease, name, self.name, self.wall(), self.lease_seconds()
            )
        except Exception as e:
            log.warning("lease_not_taken", lease=name, error=str(e))
            await self._reset()
            return False

    async def release(self, name: str) -> None:
        """Give ``name`` up (an error is logged: the lease then runs out by itself)."""
        try:
            await self._call(cluster.release_lease, name, self.name)
        except Exception as e:
            log.warning("lease_not_released", lease=name, error=str(e))
            await self._reset()

    async def held_elsewhere(self, prefix: str) -> set[str]:
        """Lease names under ``prefix`` that other live nodes hold."""
        return await self._call(cluster.held_elsewhere, prefix, self.name, self.wall())

    async def alone(self) -> bool:
        """True when no other node beats."""
        live = await self._call(cluster.live_nodes, self.wall(), self.lease_seconds())
        return not (set(live) - {self.name})
