"""``/my-profile.json``: what a logged-in user may read of itself — who it is, its company,
its roles in every mailbox it reaches, its keys' fingerprints, where it came from."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable

from opencass.config.model import Config
from opencass.identity.directory import Member, View

__all__ = ["PROFILE_NAME", "profile_json"]

PROFILE_NAME = "my-profile.json"


def _fingerprint(line: str) -> str:
    parts = line.split()
    try:
        digest = hashlib.sha256(base64.b64decode(parts[1])).digest()
    except (IndexError, ValueError):
        return "?"
    return f"{parts[0]} SHA256:{base64.b64encode(digest).decode().rstrip('=')}"


def profile_json(member: Member, views: Iterable[View], config: Config) -> bytes:
    """The profile of ``member`` as it is now (UTF-8 JSON, keys sorted)."""
    companies = member.companies()
    mailboxes = [
        {
            "directory": "/" + v.name if v.name else "/",
            "company": v.company,
            "legal_name": config.companies[v.company].legal_name
            if v.company in config.companies
            else "",
            "roles": sorted(r.value for r in companies.get(v.company, ())),
            "sandbox_only": v.sandbox_only,
        }
        for v in views
    ]
    data = {
        "user": member.name,
        "company": member.company,
        "roles": sorted(r.value for r in member.user.roles),
        "status": member.status,
        "source": member.source,
        "name": member.full_name,
        "email": member.email,
        "keys": [_fingerprint(k) for k in member.user.public_keys],
        "password": member.user.password_hash is not None,
        "mailboxes": mailboxes,
    }
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
