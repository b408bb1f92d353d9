"""Portal sessions in a signed cookie: who signed in, the company and country being looked at,
the language, the CSRF token, and when the session was last used (an idle session ends).

The cookie is ``base64url(JSON) "." base64url(HMAC-SHA256)``, signed with a key kept in the
data directory (every node of one installation shares it).  A session signed with another key,
altered, or idle for longer than allowed is simply not a session.  Signing in always makes a
new session id (``fresh``): a session planted before sign-in is never taken over.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass, replace
from pathlib import Path

__all__ = ["AWAITING_CODE", "SIGNED_IN", "Session", "SessionCodec", "load_key"]

AWAITING_CODE = "second-factor"  # the password was right; the code is still asked for
SIGNED_IN = "full"


@dataclass(frozen=True, slots=True)
class Session:
    """One browser's session."""

    sid: str  # random; new at every sign-in
    user: str
    stage: str  # AWAITING_CODE or SIGNED_IN
    csrf: str  # the token every form of this session carries
    seen: float  # when last used (seconds since the epoch, the gateway's clock)
    company: str = ""  # the company being looked at (one the user may act for)
    country: str = ""  # the CASS country being looked at
    lang: str = ""  # the language chosen ("" = the company's)

    @staticmethod
    def fresh(user: str, stage: str, now: float) -> Session:
        """A new session of ``user`` (new id and CSRF token)."""
        return Session(secrets.token_urlsafe(16), user, stage, secrets.token_urlsafe(24), now)

    def touched(self, now: float) -> Session:
        """The session used again at ``now``."""
        return replace(self, seen=now)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    """Signs sessions into cookie values and reads them back."""

    def __init__(self, key: bytes, idle_seconds: float) -> None:
        self._key = key
        self.idle_seconds = idle_seconds

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())

    def seal(self, data: dict[str, str | float]) -> str:
        """``data`` signed into a cookie value (the sign-in's short-lived state)."""
        body = _b64(json.dumps(data, separators=(",", ":")).encode("utf-8"))
        return f"{body}.{self._mac(body)}"

    def unseal(self, value: str | None, now: float, max_age: float) -> dict[str, str | float]:
        """What ``seal`` signed, if the value is ours and at most ``max_age`` seconds old (its
        ``t``); {} otherwise."""
        if not value or value.count(".") != 1:
            return {}
        body, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            return {}
        try:
            data = json.loads(_unb64(body))
            made = float(data["t"])
        except (ValueError, TypeError, KeyError):
            return {}
        return dict(data) if made <= now < made + max_age else {}

    def dump(self, session: Session) -> str:
        """The cookie value of ``session``."""
        body = _b64(json.dumps(asdict(session), separators=(",", ":")).encode("utf-8"))
        return f"{body}.{self._mac(body)}"

    def load(self, value: str | None, now: float) -> Session | None:
        """The session in a cookie value, or None (absent, forged, malformed, or idle too
        long; a pre-second-factor session lives five minutes at most)."""
        if not value or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            data = json.loads(_unb64(body))
            session = Session(**data)
        except (ValueError, TypeError):
            return None
        limit = self.idle_seconds if session.stage == SIGNED_IN else min(300.0, self.idle_seconds)
        if not session.seen <= now < session.seen + limit:
            return None
        return session


def load_key(path: Path) -> bytes:
    """The signing key at ``path``, made (32 random bytes, mode 0600) when absent.  Two nodes
    starting together make it once: the first link wins, the other reads it."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_bytes(32))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes()
