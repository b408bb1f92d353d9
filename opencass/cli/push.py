"""``opencass demo push-server``: a participant's own SFTP server receiving pushed files.

Kept apart from ``push_server`` so that building the command line does not import asyncssh.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opencass.outbox.push_server import PushServer


def cmd_push_server(args: argparse.Namespace) -> int:
    """``opencass demo push-server``: serve until SIGINT/SIGTERM; exit 2 on bad arguments."""
    import asyncssh

    from opencass.outbox.push_server import PushServer

    try:
        if not args.host_key.exists():
            args.host_key.parent.mkdir(parents=True, exist_ok=True)
            key = asyncssh.generate_private_key("ssh-ed25519")
            key.write_private_key(args.host_key)
            args.host_key.chmod(0o600)
            key.write_public_key(args.host_key.with_name(args.host_key.name + ".pub"))
        server = PushServer(
            args.dir,
            args.host_key,
            args.authorized_key,
            host=args.host,
            port=args.port,
            username=args.username,
        )
    except (OSError, asyncssh.KeyImportError, ValueError) as e:
        print(f"opencass: push-server: {e}", file=sys.stderr)
        return 2
    private = args.authorized_key.with_suffix("")  # keys/x.pub -> keys/x, if that is there
    client_key = private if args.authorized_key.suffix == ".pub" and private.is_file() else None
    return asyncio.run(_serve(server, client_key))


def _push_table(server: PushServer, client_key: Path | None) -> str:
    """The ``[push]`` table a participant file needs to push to ``server``."""
    key = str(client_key.resolve()) if client_key else "<the private key of --authorized-key>"
    return (
        f'[push]\nhost = "{server.host}"\nport = {server.port}\n'
        f'username = "{server.username or "cass"}"\nclient_key = "{key}"\n'
        f'host_key = "{server.host_key_line}"'
    )


async def _serve(server: PushServer, client_key: Path | None = None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
    except OSError as e:
        print(
            f"opencass: push-server: cannot listen on {server.host}:{server.port}: {e}",
            file=sys.stderr,
        )
        return 2
    print(f"push server on {server.host}:{server.port}, files land in {server.root}", flush=True)
    print("# for the participant file:", flush=True)
    print(_push_table(server, client_key), flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()
    return 0
