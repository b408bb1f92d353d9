"""OpenSSH public keys a user may log in with: ed25519, ecdsa, and rsa of 3072 bits or more
(security-key variants of the first two included); DSA, short RSA and certificates refused."""

from __future__ import annotations

from opencass.errors import InputError

__all__ = ["MIN_RSA_BITS", "KeyRefusedError", "checked_key", "key_blob"]

MIN_RSA_BITS = 3072
_ACCEPTED = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",
)


class KeyRefusedError(InputError):
    """Why a key line is refused: ``code`` is a findings code."""

    code = "USER_KEY_INVALID"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def key_blob(line: str) -> str:
    """The base64 key data of an OpenSSH public key line: what identifies the key."""
    parts = line.split()
    return parts[1] if len(parts) >= 2 else ""


def checked_key(line: str) -> str:
    """The key line, normalised to ``type base64 [comment]``; KeyRefusedError when refused."""
    import asyncssh  # the SSH library is needed here only

    text = " ".join(line.split())
    parts = text.split(" ", 2)
    if len(parts) < 2:
        raise KeyRefusedError("USER_KEY_INVALID", "expected 'type base64-data [comment]'")
    try:
        key = asyncssh.import_public_key(text)
    except (asyncssh.KeyImportError, ValueError) as e:
        raise KeyRefusedError("USER_KEY_INVALID", f"not an OpenSSH public key: {e}") from None
    algorithm = key.get_algorithm()
    if parts[0] != algorithm or algorithm not in _ACCEPTED:
        raise KeyRefusedError("USER_KEY_WEAK", f"key type {parts[0]} is not accepted")
    bits = getattr(getattr(key, "pyca_key", None), "key_size", None)
    if algorithm == "ssh-rsa" and (bits is None or bits < MIN_RSA_BITS):
        raise KeyRefusedError(
            "USER_KEY_WEAK", f"an RSA key needs {MIN_RSA_BITS} bits, this has {bits}"
        )
    return text
