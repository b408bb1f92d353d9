"""What changed between two configurations: for the reload log and calendar-change notices."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from opencass.config.model import Company, Config, Period, User

T = TypeVar("T")

# said to have changed, never shown (a store URL may hold a password)
SECRET_FIELDS = ("password_hash", "totp_secret", "store.url")


def _show(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, frozenset | set):
        return "[" + ", ".join(sorted(_show(v) for v in value)) + "]"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def field_changes(old: Any, new: Any, prefix: str = "") -> list[str]:
    """``name old → new`` for each field that differs between two dataclass instances."""
    out = []
    for f in dataclasses.fields(old):
        a, b = getattr(old, f.name), getattr(new, f.name)
        if a == b:
            continue
        if dataclasses.is_dataclass(a):
            out += field_changes(a, b, f"{prefix}{f.name}.")
        elif f.name == "public_keys":
            out.append(f"{prefix}public keys changed ({len(a)} → {len(b)})")
        elif f.name in SECRET_FIELDS or f"{prefix}{f.name}" in SECRET_FIELDS:
            out.append(f"{prefix}{f.name} changed")
        else:
            out.append(f"{prefix}{f.name} {_show(a)} → {_show(b)}")
    return out


def _diff_map(
    what: str,
    old: Mapping[str, T],
    new: Mapping[str, T],
    describe: Callable[[T], str] = lambda _: "",
) -> list[str]:
    out = [f"{what} added: {k}{describe(new[k])}" for k in sorted(new.keys() - old.keys())]
    out += [f"{what} removed: {k}{describe(old[k])}" for k in sorted(old.keys() - new.keys())]
    for k in sorted(old.keys() & new.keys()):
        if changes := field_changes(old[k], new[k]):
            out.append(f"{what} changed: {k}: {'; '.join(changes)}")
    return out


def _periods(config: Config, country: str) -> dict[str, Period]:
    return {p.code: p for p in config.calendars.get(country, ())}


def _company(c: Company) -> str:
    return f" ({c.kind.value}, {c.legal_name})"


def _user(u: User) -> str:
    return f" (company {u.company}, roles {_show(u.roles)})"


# Settings read once at start (sockets bound, keys loaded, files opened, logging set up): a
# reload that changes one of them is refused whole, the configuration in force kept.
RESTART_ONLY = (
    "listen_host", "listen_port", "host_key", "signing_key", "data_dir", "log_level",
    "metrics_listen",
)  # fmt: skip


def _store_url(url: str) -> str:
    """A store URL to show: its password, if it holds one, hidden."""
    parts = urlsplit(url)
    if parts.password is None:
        return url or "(SQLite in data_dir)"
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def restart_only_changes(old: Config, new: Config) -> list[str]:
    """``gateway.<name> old → new`` for each changed setting that only a restart applies (and
    ``store.url``: the daemon and the work it starts must use one store)."""
    out = [
        f"gateway.{name} {_show(getattr(old.gateway, name))} → {_show(getattr(new.gateway, name))}"
        for name in RESTART_ONLY
        if getattr(old.gateway, name) != getattr(new.gateway, name)
    ]
    before, after = old.gateway.store.url, new.gateway.store.url
    if before != after:
        out.append(f"store.url {_store_url(before)} → {_store_url(after)}")
    for name in ("listen", "tls_certificate", "tls_key"):  # the portal's socket
        was, now = getattr(old.gateway.portal, name), getattr(new.gateway.portal, name)
        if was != now:
            out.append(f"portal.{name} {was or '(off)'} → {now or '(off)'}")
    return out


def diff_configs(old: Config, new: Config) -> list[str]:
    """One human-readable line per change from ``old`` to ``new``; empty when nothing changed."""
    lines = [f"gateway changed: {c}" for c in field_changes(old.gateway, new.gateway)]
    lines += _diff_map("country", old.countries, new.countries)
    lines += _diff_map("company", old.companies, new.companies, _company)
    lines += _diff_map("user", old.users, new.users, _user)
    for country in sorted(old.calendars.keys() | new.calendars.keys()):
        olds, news = _periods(old, country), _periods(new, country)
        lines += _diff_map(f"calendar {country}: period", olds, news)
    return lines


def calendar_changes(old: Config, new: Config) -> dict[str, list[str]]:
    """By country, the codes of the periods added, removed or with changed milestones."""
    out = {}
    for country in sorted(old.calendars.keys() | new.calendars.keys()):
        olds, news = _periods(old, country), _periods(new, country)
        codes = sorted(c for c in olds.keys() | news.keys() if olds.get(c) != news.get(c))
        if codes:
            out[country] = codes
    return out
