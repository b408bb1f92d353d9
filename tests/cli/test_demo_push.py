"""The demo's push rule: agent1's statements go to its own SFTP server, started as ``make run``
starts it (``opencass demo push-server`` with the keys ``demo init`` wrote)."""

from __future__ import annotations

from pathlib import Path

from opencass.config import init_demo, load_config
from opencass.config.demo import PUSH_CLIENT_KEY, PUSH_SERVER_DIR, PUSH_SERVER_HOST_KEY
from opencass.outbox.push import Pusher
from opencass.outbox.push_server import PushServer
from tests.kit.gateway import TODAY, free_port


def test_demo_without_push_has_no_push_rule(tmp_path: Path) -> None:
    info = init_demo(tmp_path / "demo", today=TODAY)
    assert info.push_port is None
    assert load_config(info.directory).companies["agent1"].push is None


async def test_demo_push_rule_reaches_the_demo_server(tmp_path: Path) -> None:
    port = free_port()
    info = init_demo(tmp_path / "demo", today=TODAY, push_port=port)
    config = load_config(info.directory)
    agent1 = config.companies["agent1"]
    assert agent1.push is not None and agent1.push.port == port
    rules = [r for r in agent1.subscriptions if "push" in r.channels]
    assert rules and "document.available" in rules[0].events
    command = info.push_server_command()
    assert f"--port {port}" in command and PUSH_SERVER_HOST_KEY in command

    d = info.directory
    server = PushServer(
        d / PUSH_SERVER_DIR,
        d / PUSH_SERVER_HOST_KEY,
        d / (PUSH_CLIENT_KEY + ".pub"),
        port=port,
        username="agent1",
    )
    await server.start()
    try:
        target = agent1.push
        assert target.client_key == d / PUSH_CLIENT_KEY  # resolved against the config dir
        async with Pusher() as pusher:
            result = await pusher.push(target, "statement.xml", b"<statement/>")
        assert result.uploaded
        assert (d / PUSH_SERVER_DIR / "statement.xml").read_bytes() == b"<statement/>"
        # the demo re-reads as an existing demo, push port included
        assert init_demo(d, today=TODAY).push_port == port
    finally:
        await server.close()
