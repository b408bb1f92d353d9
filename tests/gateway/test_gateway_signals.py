"""The daemon as systemd runs it: SIGHUP reloads (a bad config keeps the old), SIGTERM stops."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncssh

from tests.kit.gateway import CLOCK_ENV, TODAY, free_port, init_demo_store


def _events(log: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]


def _wait_for(log: Path, event: str, count: int = 1, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(e.get("event") == event for e in _events(log)) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{event} not logged: {log.read_text()[-2000:]}")


async def _login(port: int, key: Path, user: str) -> bool:
    try:
        async with (
            asyncssh.connect(
                "127.0.0.1",
                port,
                username=user,
                client_keys=[str(key)],
                known_hosts=None,
                agent_path=None,
            ) as conn,
            conn.start_sftp_client() as sftp,
        ):
            await sftp.listdir("/outbox")
        return True
    except (asyncssh.PermissionDenied, asyncssh.DisconnectError):
        return False


def test_sighup_reload_and_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "config"
    port = free_port()
    init_demo_store(config, sftp_port=port, today=TODAY)
    log = tmp_path / "gateway.log"
    env = {**CLOCK_ENV, "NOTIFY_SOCKET": ""}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "opencass.cli", "serve", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_for(log, "gateway_ready")
        participants = config / "participants" / "agent1.toml"
        original = participants.read_text()
        clerk_key = config / "keys" / "clerk"  # a key pair of the new user's own
        generated = asyncssh.generate_private_key("ssh-ed25519")
        generated.write_private_key(clerk_key)
        clerk_key.chmod(0o600)
        assert not asyncio.run(_login(port, clerk_key, "clerk"))

        participants.write_text(original + "\nnot valid toml [[[\n")
        proc.send_signal(signal.SIGHUP)
        _wait_for(log, "config_reload_failed")
        assert asyncio.run(_login(port, config / "keys" / "agent1", "agent1"))  # old config kept

        public = generated.export_public_key().decode().strip()
        clerk = f'[[users]]\nname = "clerk"\nroles = ["output"]\npublic_keys = ["{public}"]\n'
        participants.write_text(original + "\n" + clerk)
        proc.send_signal(signal.SIGHUP)
        _wait_for(log, "config_reloaded")
        assert asyncio.run(_login(port, clerk_key, "clerk"))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    assert any(e.get("event") == "gateway_stopped" for e in _events(log))
    changes = next(e for e in _events(log) if e.get("event") == "config_reloaded")["changes"]
    assert any("clerk" in str(c) for c in changes)  # type: ignore[union-attr]
