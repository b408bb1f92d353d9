"""The whole daemon with the outbox: a close's statement is pushed to an agent's own SFTP server
within seconds, and downloads through the gateway's SFTP endpoint are tracked."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from opencass.cli.outbox import cmd_outbox
from opencass.cli.period import cmd_period
from opencass.codecs.onerecord.notification import decode_notification
from opencass.config import init_demo
from opencass.gateway.app import Gateway
from opencass.outbox.push_server import PushServer
from tests.kit.gateway import PERIOD_CODE, TODAY, sample_bytes, steady_clock


async def wait_for(folder: Path, pattern: str, timeout: float = 30.0) -> list[Path]:
    for _ in range(int(timeout * 20)):
        found = sorted(folder.glob(pattern)) if folder.is_dir() else []
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {pattern} in {folder}")


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Gateway, Path, Path]]:
    config_dir = tmp_path / "config"
    init_demo(config_dir, today=TODAY)
    client = asyncssh.generate_private_key("ssh-ed25519")
    client.write_private_key(tmp_path / "push_key")
    client.write_public_key(tmp_path / "push_key.pub")
    remote = tmp_path / "agent1-erp"
    server = PushServer(remote, asyncssh.generate_private_key("ssh-ed25519"),
                        tmp_path / "push_key.pub", username="cass")  # fmt: skip
    await server.start()
    participant = config_dir / "participants" / "agent1.toml"
    participant.write_text(
        participant.read_text()
        + f'\n[push]\nhost = "127.0.0.1"\nport = {server.port}\nusername = "cass"\n'
        f'client_key = "{tmp_path / "push_key"}"\nhost_key = "{server.host_key_line}"\n\n'
        '[[subscriptions]]\nevents = ["document.available"]\n'
        'document_kinds = ["statement", "prelim-statement"]\n'
        'formats = ["xml"]\nchannels = ["push"]\n'
    )
    gateway_toml = config_dir / "gateway.toml"
    gateway_toml.write_text(
        gateway_toml.read_text().replace("poll_seconds = 1.0", "poll_seconds = 0.2")
    )
    gateway = Gateway(config_dir, port=0, workers=1, clock=steady_clock())
    await gateway.startup()
    task = asyncio.create_task(gateway.serve())
    try:
        yield gateway, config_dir, remote
    finally:
        gateway.stop.set()
        await task
        await gateway.shutdown()
        await server.close()


def connect(
    config_dir: Path, port: int, user: str
) -> asyncssh.connection._ConnectionContextManager:  # type: ignore[name-defined]
    return asyncssh.connect("127.0.0.1", port, username=user, known_hosts=None, agent_path=None,
                            client_keys=[str(config_dir / "keys" / user)])  # fmt: skip


async def test_statement_is_pushed_after_the_close_and_downloads_are_tracked(
    running: tuple[Gateway, Path, Path],
) -> None:
    gateway, config_dir, remote = running
    config = gateway.current_config()
    mailboxes = config.gateway.mailboxes_dir
    async with (
        connect(config_dir, gateway.port, "demoair") as conn,
        conn.start_sftp_client() as sftp,
        sftp.open("/inbox/november.hot", "wb") as f,
    ):
        await f.write(sample_bytes())
    await wait_for(mailboxes / "demoair" / "outbox", "*_validation_*.xml")
    args = argparse.Namespace(
        config=str(config_dir), period_command="close", country="DE", period=PERIOD_CODE,
        final=False, force=True, dry_run=False, at=None,
    )  # fmt: skip
    out = io.StringIO()
    assert await asyncio.to_thread(cmd_period, args, config=config, out=out) == 0, out.getvalue()
    loop = asyncio.get_running_loop()
    closed = loop.time()
    (pushed,) = await wait_for(remote, "*statement_*.xml", timeout=10)
    assert loop.time() - closed < 10  # within seconds of the close
    local = mailboxes / "agent1" / "outbox" / pushed.name
    assert pushed.read_bytes() == local.read_bytes()
    (note,) = await wait_for(remote, "*_notification_*.xml")
    assert decode_notification(note.read_bytes()).document == pushed.name
    assert not list(remote.glob("*statement_*.csv"))  # formats = ["xml"] only

    # the agent downloads its statement through the gateway: tracked once per user and file
    async with (
        connect(config_dir, gateway.port, "agent1") as conn,
        conn.start_sftp_client() as sftp,
    ):
        for _ in range(2):
            async with sftp.open(f"/outbox/{pushed.name}", "rb") as f:
                assert await f.read() == local.read_bytes()
    store = gateway.store
    assert store is not None
    for _ in range(100):
        firsts = await store.audit_events("first_download")
        if firsts:
            break
        await asyncio.sleep(0.05)
    assert [(a["company"], a["user"], a["data"]["path"]) for a in firsts] == [
        ("agent1", "agent1", f"/outbox/{pushed.name}")
    ]
    status = io.StringIO()
    show = argparse.Namespace(config=str(config_dir), outbox_command="status", company="agent1",
                              format="json")  # fmt: skip
    assert cmd_outbox(show, status) == 0
    documents = {d["name"]: d for d in json.loads(status.getvalue())["documents"]}
    assert documents[pushed.name]["collected_by"] == "agent1"
    deliveries = json.loads(status.getvalue())["deliveries"]
    assert {d["state"] for d in deliveries} == {"delivered"}
    pushed_names = {d["name"] for d in deliveries if d["channel"] == "push"}
    assert pushed.name in pushed_names and note.name in pushed_names
