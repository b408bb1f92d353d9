"""``[push]`` in a participant file: the company's own SFTP server the gateway pushes files to.

::

    [push]
    host = "sftp.example-agency.test"
    port = 22                                   # optional
    username = "cass"
    client_key = "keys/push_example_ed25519"    # private key, relative to the config dir
    host_key = "ssh-ed25519 AAAAC3Nza..."       # the server's public host key, pinned
    remote_dir = "incoming/cass"                # optional, "." (the login directory) by default
    connect_timeout = 10.0                      # optional, seconds
    io_timeout = 30.0                           # optional, seconds one SFTP request may stall
    max_connections = 2                         # optional, parallel transfers to this server

``read_push`` reads the table strictly with the loader's ``Table`` API: every problem is recorded
(file, dotted key, reason), unknown keys are reported by the caller's ``close()``.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from opencass.config.keys import private_key_error, public_key_error
from opencass.config.reader import Table

MAX_KEY_BYTES = 64 << 10
MAX_CONNECTIONS = 16
HOST = re.compile(r"[A-Za-z0-9._:\[\]-]+")  # a DNS name, IPv4 or IPv6 address


@dataclass(frozen=True, slots=True, kw_only=True)
class PushTarget:
    """Where and how to push a company's files: one SFTP server, key auth, host key pinned."""

    host: str
    port: int = 22
    username: str
    client_key: Path  # private key file; absolute once read with a config_dir
    host_key: str  # the server's public host key line, "ssh-ed25519 AAAA..."
    remote_dir: str = "."
    connect_timeout: float = 10.0
    io_timeout: float = 30.0
    max_connections: int = 2


def host_key_problem(line: str) -> str | None:
    """Why ``line`` is not one OpenSSH public key line, or None."""
    if "PRIVATE KEY" in line:
        return "this is a private key: give the server's public host key"
    if not line.strip():
        return "must not be empty"
    if "\n" in line.strip():
        return "one public key line"
    if (error := public_key_error(line.strip())) is not None:
        return f'not an OpenSSH public key line like "ssh-ed25519 AAAA..." ({error})'
    return None


def client_key_problem(path: Path) -> str | None:
    """Why ``path`` is not a readable, unencrypted private key file, or None."""
    try:
        if not path.is_file():
            return f"no such file: {path}"
        if (size := path.stat().st_size) > MAX_KEY_BYTES:
            return f"{path}: {size} bytes, too large for a key"
        data = path.read_bytes()
    except OSError as e:
        return f"cannot read {path}: {e.strerror}"
    if (error := private_key_error(data)) is not None:
        if b"PRIVATE KEY" not in data:
            return f"{path} is not a private key (give the private key, not the .pub file)"
        why = f"{error}; passphrase-protected keys are refused"
        return f"{path}: cannot use this private key ({why})"
    return None


def read_push(t: Table, config_dir: Path | None = None) -> PushTarget | None:
    """The ``[push]`` table of a participant file, or None when there is none (or it is bad).

    ``t`` is the participant file's root table.  ``config_dir`` resolves a relative
    ``client_key`` (the loader passes its directory); without it a relative path is kept as
    written and only an absolute one is checked.
    """
    if "push" not in t.data:
        return None
    if not isinstance(t.data["push"], dict):
        t.raw("push", dict, required=True)  # records "must be a table"
        return None
    p = t.table("push")
    before = len(t.problems)
    host = p.text("host") or ""
    if host and not HOST.fullmatch(host.strip()):
        p.problem("host", f"{host!r} is not a host name or IP address")
    port = p.opt("port", int, 22)
    if not 1 <= port <= 65535:
        p.problem("port", f"{port} is not a TCP port (1 to 65535)")
    username = p.text("username") or ""
    if username and (username != username.strip() or "\0" in username):
        p.problem("username", f"{username!r}: no surrounding blanks or NUL")
    key_text = p.text("client_key")
    client_key = Path(key_text or "")
    if key_text and key_text.strip():
        if config_dir is not None:
            client_key = Path(os.path.normpath(config_dir / client_key))
        if client_key.is_absolute() and (reason := client_key_problem(client_key)):
            p.problem("client_key", reason)
    host_key = p.req("host_key", str)
    if host_key is not None and (reason := host_key_problem(host_key)):
        p.problem("host_key", reason)
    remote_dir = p.opt("remote_dir", str, ".")
    if not remote_dir.strip() or "\0" in remote_dir:
        p.problem("remote_dir", 'must name a directory ("." is the login directory)')
    timeouts = {}
    for name in ("connect_timeout", "io_timeout"):
        value = p.opt(name, float, 30.0 if name == "io_timeout" else 10.0)
        if not (math.isfinite(value) and value > 0):
            p.problem(name, f"must be a positive number of seconds, found {value}")
        timeouts[name] = value
    connections = p.opt("max_connections", int, 2)
    if not 1 <= connections <= MAX_CONNECTIONS:
        p.problem("max_connections", f"must be 1 to {MAX_CONNECTIONS}, found {connections}")
    if len(t.problems) > before:
        return None
    return PushTarget(
        host=host.strip(),
        username=username,
        client_key=client_key,
        host_key=(host_key or "").strip(),
        port=port,
        remote_dir=remote_dir,
        max_connections=connections,
        **timeouts,
    )
