"""Several gateway nodes on one PostgreSQL store and one data directory, as real ``opencass
serve`` processes: files spread over the nodes are each answered and booked once; a node
killed mid-intake leaves its file to another node once its lease lapses; ``cluster status``
shows the nodes and what they hold."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import asyncssh
import pytest

from tests.kit.gateway import CLOCK_ENV, big_billing_file
from tests.kit.nodes import Cluster

FILES = 500
RECORDS_PER_COPY = 6  # the demo file's records (AWBs, a correction, other charges)


@pytest.fixture
def cluster(tmp_path: Path):  # type: ignore[no-untyped-def]
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.stop_all()


async def _upload_many(cluster: Cluster, ports: list[int], files: list[tuple[str, bytes]]) -> None:
    """Upload ``files`` over 20 sessions spread round-robin over ``ports``."""
    key = str(cluster.config / "keys" / "demoair")
    sessions = 20

    async def session(i: int) -> None:
        async with (
            asyncssh.connect(
                "127.0.0.1", ports[i % len(ports)], username="demoair", client_keys=[key],
                known_hosts=None, agent_path=None,
            ) as conn,
            conn.start_sftp_client() as sftp,
        ):  # fmt: skip
            for name, data in files[i::sessions]:
                async with sftp.open(f"/inbox/{name}", "wb") as f:
                    await f.write(data)

    await asyncio.gather(*(session(i) for i in range(sessions)))


def _status(cluster: Cluster) -> dict:  # type: ignore[type-arg]
    out = subprocess.run(
        [sys.executable, "-m", "opencass.cli", "cluster", "status", "--config",
         str(cluster.config), "--format", "json"],
        capture_output=True, text=True, env=CLOCK_ENV, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout))


def test_files_spread_over_two_nodes_are_each_answered_and_booked_once(cluster: Cluster) -> None:
    a, b = cluster.start("a"), cluster.start("b")
    status = _status(cluster)
    assert [(n["node"], n["state"]) for n in status["nodes"]] == [("a", "alive"), ("b", "alive")]
    assert status["same_config"]
    assert {n["listen"] for n in status["nodes"]} == {
        f"127.0.0.1:{a.port}",
        f"127.0.0.1:{b.port}",
    }
    files = [(f"f{i:03d}.hot", big_billing_file(1, first=i)) for i in range(FILES)]
    asyncio.run(_upload_many(cluster, [a.port, b.port], files))

    def archived() -> bool:
        rows = cluster.rows("SELECT COUNT(*) FROM files WHERE state = 'archived'")
        return rows[0][0] >= FILES

    cluster.wait(archived, 240, f"{FILES} files archived")
    rows = cluster.rows('SELECT name, outcome, state, "user" FROM files ORDER BY name')
    assert len(rows) == FILES  # each recorded once
    assert {r[0] for r in rows} == {name for name, _ in files}
    assert {(r[1], r[2]) for r in rows} == {("accepted", "archived")}
    assert {r[3] for r in rows} == {"demoair"}  # the uploading node claimed each: its user kept
    [(booked,)] = cluster.rows("SELECT COUNT(*) FROM ledger")
    assert booked == FILES * RECORDS_PER_COPY
    answers = cluster.rows(
        "SELECT file_id, COUNT(*) FROM audit WHERE event = 'file_answered' GROUP BY file_id"
    )
    assert len(answers) == FILES and {n for _, n in answers} == {1}  # each answered once
    outbox = cluster.data / "mailboxes" / "demoair" / "outbox"
    assert len(list(outbox.glob("*_validation_*.xml"))) == FILES
    assert len(list(outbox.glob("*_receipt_*.xml.sig"))) == FILES
    assert not list((cluster.data / "mailboxes" / "demoair" / "inbox").iterdir())
    # both nodes did part of the work, and neither did a file the other finished
    done = {name: len(node.events("file_done")) for name, node in cluster.nodes.items()}
    assert all(n > 0 for n in done.values()), done
    assert sum(done.values()) == FILES, done
    # the outbox is delivered by one node, the other stands by
    leased = {n: [e["active"] for e in p.events("outbox_lease")] for n, p in cluster.nodes.items()}
    assert sorted(leased.values()) == [[], [True]], leased
    leases = _status(cluster)["leases"]
    assert [x["name"] for x in leases] == ["outbox"]  # no file is held any more


def test_a_node_killed_mid_intake_leaves_its_file_to_the_other(cluster: Cluster) -> None:
    copies = 30_000  # 180,000 records: a few seconds of booking
    data = big_billing_file(copies)
    cluster.start("a")
    inbox = cluster.data / "mailboxes" / "demoair" / "inbox"
    (inbox / ".big.part").write_bytes(data)
    (inbox / ".big.part").rename(inbox / "big.hot")

    def held_by_a() -> list[tuple[str, str]]:
        return [
            (f, s)
            for f, s in cluster.rows(
                "SELECT f.id, f.state FROM files f JOIN leases l ON l.name = 'file:' || f.id"
                " WHERE l.node = 'a'"
            )
            if s == "received"
        ]

    [(file_id, _)] = cluster.wait(held_by_a, 60, "the file claimed by node a")

    def staging() -> list[tuple[str]]:  # a's workers are staging its records for booking
        like = f"staging_{file_id.lower()}%"
        return cluster.rows("SELECT relname FROM pg_class WHERE relname LIKE ?", (like,))

    cluster.wait(staging, 60, "node a staging the file")
    cluster.kill("a")
    assert cluster.rows("SELECT state FROM files") == [("received",)]  # nothing booked yet
    [(booked,)] = cluster.rows("SELECT COUNT(*) FROM ledger")
    assert booked == 0
    b = cluster.start("b")

    def answered() -> bool:
        return cluster.rows("SELECT state FROM files") == [("archived",)]

    cluster.wait(answered, 180, "the file finished by node b")
    [(outcome,)] = cluster.rows("SELECT outcome FROM files")
    assert outcome == "accepted"
    [(booked,)] = cluster.rows("SELECT COUNT(*) FROM ledger")
    assert booked == copies * RECORDS_PER_COPY
    outbox = cluster.data / "mailboxes" / "demoair" / "outbox"
    assert len(list(outbox.glob("*_validation_*.xml"))) == 1
    assert [e["file_id"] for e in b.events("file_done")] == [file_id]
    status = _status(cluster)
    states = {n["node"]: n["state"] for n in status["nodes"]}
    assert states == {"a": "lost", "b": "alive"}
