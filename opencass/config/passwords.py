"""Password hashes as participant files hold them (``password_hash``): scrypt, with the
parameters and salt in the string, so the SFTP endpoint, the portal and the commands that
write users agree on one format."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
from secrets import token_hex

__all__ = ["dummy_hash", "hash_password", "verify_password"]

_SCRYPT = (1 << 14, 8, 1)  # n, r, p
_SCRYPT_MAXMEM = 256 << 20


def hash_password(password: str) -> str:
    """A ``scrypt$n$r$p$salt$hash`` string (base64 parts) for a user's ``password_hash``."""
    n, r, p = _SCRYPT
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches a ``hash_password`` string; False for malformed ones."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(digest_b64, validate=True)
        if scheme != "scrypt" or not expected:
            return False
        actual = hashlib.scrypt(
            password.encode(), salt=salt, n=int(n), r=int(r), p=int(p),
            dklen=len(expected), maxmem=_SCRYPT_MAXMEM,
        )  # fmt: skip
    except (ValueError, TypeError, OverflowError, binascii.Error):
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def dummy_hash() -> str:
    """A valid hash of a random password, so unknown users cost as much as known ones."""
    return hash_password(token_hex(8))
