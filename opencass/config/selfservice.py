"""What a company's administrators set for themselves (the portal's Settings page): their own
subscription rules and push server, kept in the store over the participant file's.

The participant file stays the CASS office's and stays in force: its rules apply as written; the
company's own rules are added to them; the company's choice of the default rules replaces the
file's ``subscription_defaults``; and the company's push server, once set, replaces the file's
``[push]``.  A rule or push server the company sets is read exactly as the same table in a
participant file is (``read_rule``, ``read_push``), so the same checks judge it.

The gateway pushes to a server set this way with a key pair of its own for the company
(``push_key_path``, below the data directory); the Settings page shows its public key, for the
company to authorise on its server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opencass.config.model import Company, Config
from opencass.config.push import PushTarget, read_push
from opencass.config.reader import Problem, Table
from opencass.config.subscriptions import Subscription, default_rules, read_rule

__all__ = [
    "PUSH_KEYS",
    "PUSH_SETTINGS",
    "CompanySettings",
    "RulesInForce",
    "apply_settings",
    "push_key_path",
    "read_push_settings",
    "rules_in_force",
]

PUSH_KEYS = "push-keys"  # below the data directory: the gateway's push keys, one per company
PUSH_SETTINGS = ("host", "port", "username", "host_key", "remote_dir")


@dataclass(frozen=True, slots=True)
class CompanySettings:
    """A company's own settings as the store keeps them."""

    company: str
    use_defaults: bool = True
    rules: tuple[Mapping[str, Any], ...] = ()  # each as a [[subscriptions]] table
    push: Mapping[str, Any] | None = None  # as a [push] table, without client_key
    changed_at: str = ""
    changed_by: str = ""


def push_key_path(data_dir: Path, company: str) -> Path:
    """The private key the gateway pushes with to the company's own server (set by it)."""
    return data_dir / PUSH_KEYS / f"{company}_ed25519"


def read_push_settings(data: Mapping[str, Any], key: Path) -> tuple[PushTarget | None, list[str]]:
    """A push server as the company set it, read as a ``[push]`` table with ``key`` as its
    client key: the target, or None and what is wrong ("key: reason")."""
    problems: list[Problem] = []
    table = {k: v for k, v in data.items() if k in PUSH_SETTINGS}
    root = Table(problems, "", {"push": {**table, "client_key": str(key)}}, "")
    target = read_push(root)
    root.close()
    unknown = sorted(set(data) - set(PUSH_SETTINGS))
    problems += [Problem("", f"push.{k}", "unknown key") for k in unknown]
    return (None if problems else target), [f"{p.key}: {p.reason}" for p in problems]


@dataclass(frozen=True, slots=True)
class RulesInForce:
    """A company's rules in force, by where each comes from."""

    defaults: tuple[Subscription, ...]  # its kind's defaults, if it uses them
    office: tuple[Subscription, ...]  # the participant file's own rules
    own: tuple[tuple[int, Subscription], ...]  # the company's own, with their stored index

    @property
    def all(self) -> tuple[Subscription, ...]:
        return self.defaults + self.office + tuple(r for _, r in self.own)


def rules_in_force(company: Company, settings: CompanySettings | None) -> RulesInForce:
    """The defaults (as the company chose, else as its file says), the participant file's own
    rules, then the company's own (a stored rule no longer valid, say for a country the
    company left, is skipped)."""
    office = tuple(r for r in company.subscriptions if not r.default)
    if settings is None:
        return RulesInForce(tuple(r for r in company.subscriptions if r.default), office, ())
    own = []
    for i, data in enumerate(settings.rules):
        rule, problems = read_rule(data, company.kind, company.countries,
                                   company.airline_prefixes, company.agent_codes)  # fmt: skip
        if not problems:
            own.append((i, rule))
    defaults = default_rules(company.kind) if settings.use_defaults else ()
    return RulesInForce(defaults, office, tuple(own))


def _company(company: Company, settings: CompanySettings, data_dir: Path) -> Company:
    push = company.push
    if settings.push is not None:
        push, _ = read_push_settings(settings.push, push_key_path(data_dir, company.id))
    return dataclasses.replace(
        company, push=push, subscriptions=rules_in_force(company, settings).all
    )


def apply_settings(config: Config, settings: Mapping[str, CompanySettings]) -> Config:
    """The configuration with every company's own settings applied (unchanged without any)."""
    found = {c: s for c, s in settings.items() if c in config.companies}
    if not found:
        return config
    data_dir = config.gateway.data_dir
    companies = dict(config.companies)
    for company, s in found.items():
        companies[company] = _company(companies[company], s, data_dir)
    return dataclasses.replace(config, companies=companies)
