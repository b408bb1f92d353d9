"""Companies' own settings (``opencass.config.selfservice``): their subscription rules and push
server as their administrators set them in the portal."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from opencass.config.selfservice import CompanySettings

__all__ = ["company_settings", "put_company_settings"]


def company_settings(conn: sqlite3.Connection) -> dict[str, CompanySettings]:
    """Every company's own settings, by company."""
    out = {}
    for company, defaults, rules, push, at, by in conn.execute(
        "SELECT company, use_defaults, subscriptions, push, changed_at, changed_by"
        " FROM company_settings"
    ):
        out[str(company)] = CompanySettings(
            str(company), bool(defaults), tuple(json.loads(rules)),
            json.loads(push) if push else None, str(at), str(by),
        )  # fmt: skip
    return out


def put_company_settings(conn: sqlite3.Connection, s: CompanySettings) -> None:
    """Keep a company's settings (replacing its earlier ones)."""
    push: Any = json.dumps(dict(s.push), sort_keys=True) if s.push is not None else None
    conn.execute(
        "INSERT INTO company_settings (company, use_defaults, subscriptions, push, changed_at,"
        " changed_by) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (company) DO UPDATE SET"
        " use_defaults = excluded.use_defaults, subscriptions = excluded.subscriptions,"
        " push = excluded.push, changed_at = excluded.changed_at,"
        " changed_by = excluded.changed_by",
        (s.company, int(s.use_defaults), json.dumps([dict(r) for r in s.rules], sort_keys=True),
         push, s.changed_at, s.changed_by),
    )  # fmt: skip
