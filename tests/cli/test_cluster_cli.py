"""``opencass cluster status``: the nodes' states, the configurations they run, their leases."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path

from opencass.cli.cluster import cmd_cluster
from opencass.gateway.cluster import Node
from opencass.store import cluster
from opencass.store.connect import connect_migrated
from tests.kit.gateway import demo_config

T0 = 1_800_000_000.0


def _status(config_dir: Path, now: float, fmt: str = "text") -> str:
    out = io.StringIO()
    args = argparse.Namespace(config=str(config_dir), format=fmt)
    assert cmd_cluster(args, stdout=out, now=now) == 0
    return out.getvalue()


def test_status_shows_alive_lost_and_stopped_nodes_and_their_leases(tmp_path: Path) -> None:
    config = demo_config(tmp_path)
    with contextlib.closing(connect_migrated(config.gateway.database)) as conn:
        for name, config_digest in (("n1", "aaa"), ("n2", "aaa"), ("n3", "bbb")):
            info = cluster.NodeInfo(name, "gw", 7, "0.0.0.0:2222", "0.1.0", config_digest)
            cluster.register(conn, info, T0)
        cluster.heartbeat(conn, "n1", T0 + 40, 30, "aaa", "0.0.0.0:2222")
        cluster.stop_node(conn, "n3", T0 + 5)
        assert cluster.take_lease(conn, "outbox", "n1", T0 + 40, 30)
        assert cluster.take_lease(conn, "file:F1", "n2", T0, 30)
    text = _status(tmp_path / "config", T0 + 45)
    assert "n1               alive" in text
    assert "n2               lost" in text  # its last beat was 45 s ago, past the 30 s lease
    assert "n3               stopped" in text
    assert "file:F1" in text and "lapsed 15 s ago" in text
    assert "outbox" in text and "expires in 25 s" in text
    assert "WARNING" not in text  # n3 runs another configuration, but it is stopped
    data = json.loads(_status(tmp_path / "config", T0 + 45, "json"))
    assert [(n["node"], n["state"]) for n in data["nodes"]] == [
        ("n1", "alive"),
        ("n2", "lost"),
        ("n3", "stopped"),
    ]
    assert data["same_config"]
    with contextlib.closing(connect_migrated(config.gateway.database)) as conn:
        cluster.heartbeat(conn, "n2", T0 + 44, 30, "ccc", "0.0.0.0:2222")
    text = _status(tmp_path / "config", T0 + 45)
    assert "WARNING: the live nodes run different configurations" in text


async def test_a_node_beats_and_hands_its_leases_back_on_stop(tmp_path: Path) -> None:
    """``gateway.cluster.Node`` on a SQLite store: start registers, beats renew, a second node
    of the same name (another live process) is refused, stop releases."""
    config = demo_config(tmp_path)
    now = [T0]
    node = Node(
        config.gateway.database, "solo", lease_seconds=lambda: 30.0, listen="127.0.0.1:1",
        version="0.1.0", config_digest=lambda: "d1", wall=lambda: now[0],
    )  # fmt: skip
    await node.start()
    try:
        assert await node.take("outbox") and await node.take("file:F9")
        now[0] = T0 + 20
        await node.beat()
        assert await node.alone()
        with contextlib.closing(connect_migrated(config.gateway.database)) as conn:
            expires = {x.name: x.expires for x in cluster.leases(conn)}
            assert expires == {"file:F9": T0 + 50, "outbox": T0 + 50}
            # another process beating under another name: not alone any more
            other = cluster.NodeInfo("other", "elsewhere", 1, "x", "0.1.0", "d1")
            cluster.register(conn, other, T0 + 20)
        assert not await node.alone()
        assert await node.held_elsewhere("file:") == set()
        await node.release("file:F9")
    finally:
        await node.stop()
    with contextlib.closing(connect_migrated(config.gateway.database)) as conn:
        assert cluster.leases(conn) == []
        assert cluster.running_as(conn, "solo", T0 + 21, 30) is None  # stopped
