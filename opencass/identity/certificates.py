"""Central identity through OpenSSH user certificates: the operator's CA keys, the revocation
list, and the checks a certificate passes before it logs anyone in.

The operator signs a user's own public key with its CA (``ssh-keygen -s ca -I id -n user -V
+52w -z serial user.pub``); the gateway trusts the CA keys in ``[gateway.certificates]
ca_keys`` and accepts the certificate when: it is a user certificate signed by a trusted CA;
it names principals and the login name is one of them (a certificate without principals is
refused, as OpenSSH's sshd does); the injected clock is inside its validity; it is not revoked;
the login name is an active user.  Plain public keys keep working beside certificates.

The revocation list (``revoked_keys``) is the text ``ssh-keygen -k`` reads, one entry a line:
``serial: N`` or ``serial: N-M``, ``id: KEY-ID``, ``key:``, ``sha1:`` or ``sha256:`` followed by
a public key line, ``hash: SHA256:<base64 fingerprint>`` (as ``ssh-keygen -l`` prints it); a bare
public key line revokes that key; ``#`` starts a comment.
Serials and ids apply to certificates of every trusted CA; keys and fingerprints to the
certified key, the certificate itself and plain keys alike.  Both files are read at start and
on every reload (SIGHUP).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from opencass.config.model import CertificateSettings
from opencass.errors import ConfigurationError

__all__ = ["CertFacts", "Revocations", "Trust", "TrustError", "load_trust", "parse_revocations"]


class TrustError(ConfigurationError):
    """A CA key file or revocation list that cannot be read."""

    code = "CERTIFICATE_TRUST_INVALID"


@dataclass(frozen=True, slots=True)
class CertFacts:
    """What a presented certificate says (read by the SFTP endpoint from the SSH library)."""

    user_cert: bool
    serial: int
    key_id: str
    principals: tuple[str, ...]
    valid_after: int  # seconds since the epoch
    valid_before: int
    key_blob: bytes  # the certified public key's wire form
    ca_blob: bytes  # the signing CA's public key


def _fingerprint(blob: bytes) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class Revocations:
    """A parsed revocation list."""

    serials: tuple[tuple[int, int], ...] = ()  # inclusive ranges
    key_ids: frozenset[str] = frozenset()
    keys: frozenset[bytes] = frozenset()  # key wire forms
    fingerprints: frozenset[str] = frozenset()  # SHA256:...

    def revoked_key(self, blob: bytes) -> bool:
        """True when the plain key ``blob`` is revoked."""
        return blob in self.keys or _fingerprint(blob) in self.fingerprints

    def reason(self, cert: CertFacts) -> str | None:
        """Why ``cert`` is revoked, or None."""
        if any(lo <= cert.serial <= hi for lo, hi in self.serials):
            return f"serial {cert.serial} is revoked"
        if cert.key_id in self.key_ids:
            return f"key id {cert.key_id!r} is revoked"
        if self.revoked_key(cert.key_blob):
            return "the certified key is revoked"
        return None


def _key_blob(text: str) -> bytes:
    parts = text.split()
    if len(parts) < 2:
        raise ValueError("expected 'type base64'")
    return base64.b64decode(parts[1], validate=True)


def _serials(value: str) -> tuple[int, int]:
    lo, sep, hi = value.partition("-")
    low, high = int(lo), int(hi) if sep else int(lo)
    if low < 0 or high < low:
        raise ValueError(f"bad serial range {value!r}")
    return low, high


def parse_revocations(text: str) -> Revocations:
    """A revocation list from its text (module docstring); ValueError with the line number."""
    serials: list[tuple[int, int]] = []
    ids: set[str] = set()
    keys: set[bytes] = set()
    prints: set[str] = set()
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        kind, sep, value = line.partition(":")
        kind, value = kind.strip().lower(), value.strip()
        try:
            if sep and kind == "serial":
                serials.append(_serials(value))
            elif sep and kind == "id":
                ids.add(value)
            elif sep and kind in ("key", "sha1", "sha256"):
                keys.add(_key_blob(value))
            elif sep and kind == "hash":
                if not value.startswith("SHA256:"):
                    raise ValueError("only SHA256:... fingerprints are read")
                prints.add(value)
            else:
                keys.add(_key_blob(line))
        except ValueError as e:
            raise ValueError(f"line {n}: {e}") from None
    return Revocations(tuple(serials), frozenset(ids), frozenset(keys), frozenset(prints))


@dataclass(frozen=True, slots=True)
class Trust:
    """The CA keys trusted for user certificates and the revocation list."""

    ca_keys: frozenset[bytes] = frozenset()
    revoked: Revocations = field(default_factory=Revocations)

    def refusal(self, cert: CertFacts, login: str, now: datetime) -> str | None:
        """Why ``cert`` may not log in as ``login`` at ``now``, or None when it may."""
        if cert.ca_blob not in self.ca_keys:
            return "the certificate's CA is not trusted"
        if not cert.user_cert:
            return "not a user certificate"
        if not cert.principals:
            return "the certificate names no principal"
        if login not in cert.principals:
            return f"the certificate is not for {login!r} (principals {list(cert.principals)})"
        stamp = now.timestamp()
        if stamp < cert.valid_after:
            return "the certificate is not valid yet"
        if stamp >= cert.valid_before:
            return "the certificate has expired"
        if self.revoked.revoked_key(cert.ca_blob):
            return "the certificate's CA key is revoked"
        return self.revoked.reason(cert)


def load_trust(settings: CertificateSettings) -> Trust:
    """The trust of ``[gateway.certificates]`` (blocking: reads two small files)."""
    if not settings.ca_keys:
        return Trust()
    try:
        lines = Path(settings.ca_keys).read_text().splitlines()
        cas = frozenset(_key_blob(s) for s in lines if s.strip() and not s.startswith("#"))
        revoked = Revocations()
        if settings.revoked_keys:
            data = Path(settings.revoked_keys).read_bytes()
            if data.startswith(b"SSHKRL\n\0"):
                raise ValueError("a binary KRL: give the text list ssh-keygen -k reads instead")
            revoked = parse_revocations(data.decode("utf-8"))
    except (OSError, ValueError) as e:
        raise TrustError(f"[gateway.certificates]: {e}") from None
    return Trust(cas, revoked)
