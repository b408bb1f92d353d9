"""Helpers for the identity tests: keys and certificates made by OpenSSH's ``ssh-keygen``, user
administration messages, a daemon's reports, OpenSSH ``sftp`` runs."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path

from opencass.codecs.onerecord.users import (
    UserAdministration,
    UserChangeRequest,
    encode_user_administration,
)
from tests.kit.daemon import Running

__all__ = [
    "admin",
    "keygen",
    "openssh_sftp",
    "report_text",
    "sign_certificate",
]


def keygen(path: Path, kind: str = "ed25519", bits: int | None = None) -> str:
    """A key pair made by ``ssh-keygen``; the public key line."""
    args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", path.name, "-f", str(path)]
    if bits is not None:
        args[4:4] = ["-b", str(bits)]
    subprocess.run(args, check=True, capture_output=True)
    return Path(f"{path}.pub").read_text().strip()


def sign_certificate(
    ca: Path, user_key: Path, *, principals: str | None, serial: int, key_id: str,
    validity: str = "20200101:20991231",
) -> Path:  # fmt: skip
    """``ssh-keygen -s``: a user certificate for ``user_key`` (``<key>-cert.pub``)."""
    args = ["ssh-keygen", "-q", "-s", str(ca), "-I", key_id, "-z", str(serial), "-V", validity]
    if principals is not None:
        args += ["-n", principals]
    subprocess.run([*args, f"{user_key}.pub"], check=True, capture_output=True)
    return Path(f"{user_key}-cert.pub")


def admin(*changes: UserChangeRequest) -> bytes:
    """A ``cass:UserAdministration`` message with ``changes``."""
    return encode_user_administration(UserAdministration(f"urn:uuid:{uuid.uuid4()}", changes))


async def report_text(run: Running, company: str, name: str, box: str = "outbox") -> str:
    """The validation report of the upload ``name`` in a company's outbox, once it is there."""
    folder = run.mailboxes / company / box
    for _ in range(600):
        for path in sorted(folder.glob("*_validation_*.txt")):
            text = path.read_text()
            if text.startswith(f"opencass validation report for {name}\n"):
                return text
        await asyncio.sleep(0.05)
    raise AssertionError(f"no report for {name} in {folder}")


async def openssh_sftp(
    port: int, user: str, key: Path, script: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    """OpenSSH ``sftp`` in batch mode as ``user`` with ``key`` (and its certificate, if any)."""
    args = [
        "sftp", "-b", "-", "-i", str(key), "-P", str(port), "-F", "/dev/null",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
        *extra, f"{user}@127.0.0.1",
    ]  # fmt: skip
    return await asyncio.to_thread(
        subprocess.run, args, input=script, capture_output=True, text=True, timeout=60
    )
