"""Is this an SSH key? The checks the configuration makes of users' public keys, a push
server's host key and a push client key, without loading an SSH stack for every command.

``cryptography`` (imported in ~25 ms) reads the usual kinds: OpenSSH public key lines (Ed25519,
ECDSA, RSA) and OpenSSH or PEM private keys.  What it cannot read (certificates, security-key
types, a passphrase-protected key) is asked of ``asyncssh``, the SSH stack the gateway runs on
(~150 ms to import), so the verdict, and its message, stay the gateway's own.
"""

from __future__ import annotations

from functools import partial

from opencass.config.remembered import problem

__all__ = ["private_key_error", "public_key_error"]


def public_key_error(line: str) -> str | None:
    """Why ``line`` is not an OpenSSH public key line as the gateway reads it, or None; a
    key found good is remembered (``remembered``)."""
    return problem("public-key", line, partial(_public_key_error, line))


def private_key_error(data: bytes) -> str | None:
    """Why ``data`` is not an unencrypted private key the gateway can use, or None; a key
    found good is remembered by the SHA-256 of its bytes."""
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    return problem("private-key-sha256", digest, partial(_private_key_error, data))


def _public_key_error(line: str) -> str | None:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    try:
        load_ssh_public_key(line.strip().encode("utf-8"))
    except (ValueError, UnsupportedAlgorithm, UnicodeError):
        pass
    else:
        return None
    import asyncssh

    try:
        asyncssh.import_public_key(line)
    except (asyncssh.KeyImportError, ValueError) as e:
        return str(e)
    return None


def _private_key_error(data: bytes) -> str | None:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import (
        load_pem_private_key,
        load_ssh_private_key,
    )

    # the kinds the gateway signs with (others, DSA included, are asked of asyncssh)
    ssh_kinds = (
        ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey, ec.EllipticCurvePrivateKey,
        rsa.RSAPrivateKey,
    )  # fmt: skip
    load = load_ssh_private_key if b"OPENSSH PRIVATE KEY" in data else load_pem_private_key
    try:
        key = load(data, None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        pass
    else:
        if isinstance(key, ssh_kinds):
            return None
    import asyncssh

    try:
        asyncssh.import_private_key(data)
    except asyncssh.KeyImportError as e:
        return str(e)
    return None
