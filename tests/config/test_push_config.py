"""``[push]`` of a participant file: strict reading into a ``PushTarget``."""

from __future__ import annotations

import re
import textwrap
import tomllib
from pathlib import Path

import asyncssh
import pytest

from opencass.config.push import PushTarget, read_push
from opencass.config.reader import Problem, Table
from tests.kit import REPO


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A config dir with a client key under keys/, and a host public key line."""
    base = tmp_path_factory.mktemp("cfg")
    (base / "keys").mkdir()
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(base / "keys" / "push_key")
    asyncssh.generate_private_key("ssh-ed25519").write_public_key(base / "keys" / "push_key.pub")
    host = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    return base, host


def read(text: str, config_dir: Path | None) -> tuple[PushTarget | None, list[Problem]]:
    problems: list[Problem] = []
    root = Table(problems, "participants/agency.toml", tomllib.loads(text), "")
    target = read_push(root, config_dir)
    root.close()
    return target, problems


def good(host_line: str, **extra: str) -> str:
    lines = {
        "host": '"127.0.0.1"',
        "username": '"cass"',
        "client_key": '"keys/push_key"',
        "host_key": f'"{host_line}"',
        **extra,
    }
    return "[push]\n" + "".join(f"{k} = {v}\n" for k, v in lines.items() if v)


def test_full_table(keys: tuple[Path, str]) -> None:
    base, host_key = keys
    text = good(
        host_key,
        port="2022",
        remote_dir='"in/cass"',
        connect_timeout="2",
        io_timeout="5.5",
        max_connections="4",
    )
    target, problems = read(text, base)
    assert problems == []
    assert target == PushTarget(
        host="127.0.0.1",
        port=2022,
        username="cass",
        client_key=base / "keys" / "push_key",
        host_key=host_key,
        remote_dir="in/cass",
        connect_timeout=2.0,
        io_timeout=5.5,
        max_connections=4,
    )


def test_defaults(keys: tuple[Path, str]) -> None:
    base, host_key = keys
    target, problems = read(good(host_key), base)
    assert problems == [] and target is not None
    assert (target.port, target.remote_dir, target.max_connections) == (22, ".", 2)
    assert (target.connect_timeout, target.io_timeout) == (10.0, 30.0)


def test_no_push_table_is_none() -> None:
    assert read('[company]\nid = "x"\n', None) == (
        None,
        [Problem("participants/agency.toml", "company", "unknown key")],
    )
    assert read("", None) == (None, [])


def test_relative_key_kept_without_config_dir(keys: tuple[Path, str]) -> None:
    target, problems = read(good(keys[1]), None)
    assert problems == [] and target is not None
    assert target.client_key == Path("keys/push_key")


def reasons(problems: list[Problem]) -> dict[str, str]:
    assert all(p.file == "participants/agency.toml" for p in problems)
    return {p.key: p.reason for p in problems}


def test_every_problem_named(keys: tuple[Path, str]) -> None:
    base, _ = keys
    text = """[push]
host = "bad host"
port = 70000
username = ""
client_key = "keys/nope"
host_key = "ssh-ed25519 not-base64"
remote_dir = ""
connect_timeout = 0
io_timeout = -1
max_connections = 0
hostkey = "typo"
"""
    target, problems = read(text, base)
    assert target is None
    found = reasons(problems)
    assert set(found) == {
        "push.host",
        "push.port",
        "push.username",
        "push.client_key",
        "push.host_key",
        "push.remote_dir",
        "push.connect_timeout",
        "push.io_timeout",
        "push.max_connections",
        "push.hostkey",
    }
    assert "no such file" in found["push.client_key"]
    assert "not an OpenSSH public key" in found["push.host_key"]
    assert found["push.hostkey"].startswith("unknown key (did you mean 'host_key'?)")


def test_missing_required_keys() -> None:
    target, problems = read("[push]\n", None)
    assert target is None
    assert reasons(problems) == {
        f"push.{k}": "missing" for k in ("host", "username", "client_key", "host_key")
    }


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("client_key", '"keys/push_key.pub"', "not a private key"),
        ("host_key", '"-----BEGIN OPENSSH PRIVATE KEY-----"', "private key"),
        ("port", '"22"', "must be an integer"),
        ("io_timeout", "true", "must be a number"),
    ],
)
def test_bad_values(keys: tuple[Path, str], key: str, value: str, reason: str) -> None:
    target, problems = read(good(keys[1], **{key: value}), keys[0])
    assert target is None
    assert reason in reasons(problems)[f"push.{key}"]


def test_encrypted_client_key_refused(keys: tuple[Path, str], tmp_path: Path) -> None:
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(
        tmp_path / "locked", format_name="pkcs8-pem", passphrase="secret"
    )
    target, problems = read(good(keys[1], client_key=f'"{tmp_path / "locked"}"'), keys[0])
    assert target is None
    assert "passphrase" in reasons(problems)["push.client_key"]


def test_push_must_be_a_table() -> None:
    target, problems = read('push = "sftp://x"\n', None)
    assert target is None
    assert reasons(problems) == {"push": "must be a table, found string 'sftp://x'"}


def test_documented_example_reads(tmp_path: Path) -> None:
    readme = (REPO / "docs" / "configuration.md").read_text("utf-8")
    block = re.search(r"```\n(\s*\[push\]\n.*?)```", readme, re.DOTALL)
    assert block is not None
    (tmp_path / "keys").mkdir()
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(tmp_path / "keys/push_agent1")
    target, problems = read(textwrap.dedent(block.group(1)), tmp_path)
    assert problems == []
    assert target is not None and target.remote_dir == "incoming/cass"
