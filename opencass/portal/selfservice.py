"""The Settings page's work (blocking: the portal runs it in a thread): a company's rules in
force and where they come from, its administrators' changes to its own rules and push server
(``opencass.config.selfservice``), and the key pair the gateway pushes to that server with."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import asyncssh

from opencass.config.model import Company, Config
from opencass.config.selfservice import (
    PUSH_SETTINGS,
    CompanySettings,
    push_key_path,
    read_push_settings,
)
from opencass.config.subscriptions import read_rule
from opencass.errors import InputError
from opencass.store.connect import connect_migrated, connect_read_only
from opencass.store.settings import company_settings, put_company_settings
from opencass.store.tx import transaction

__all__ = [
    "CHANGES",
    "MAX_OWN_RULES",
    "SettingsRefusedError",
    "apply_change",
    "changed",
    "check_push",
    "push_public_key",
    "rule_from_form",
    "settings_of",
]

MAX_OWN_RULES = 50


class SettingsRefusedError(InputError):
    """A change the page refuses, with what is wrong ("key: reason" lines)."""

    code = "SETTINGS_REFUSED"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def settings_of(config: Config, company: str) -> CompanySettings | None:
    """The company's own settings, if it has set any."""
    if not config.gateway.database.exists():
        return None
    conn = connect_read_only(config.gateway.database)
    try:
        return company_settings(conn).get(company)
    finally:
        conn.close()


def _problems(company: Company, data: Mapping[str, Any]) -> list[str]:
    return read_rule(data, company.kind, company.countries, company.airline_prefixes,
                     company.agent_codes)[1]  # fmt: skip


def _listed(form: Mapping[str, Any], name: str) -> list[str]:
    getall = getattr(form, "getall", None)
    values = getall(name, []) if getall else form.get(name, [])
    return [str(v).strip() for v in values if str(v).strip()]


def rule_from_form(form: Mapping[str, Any], company: Company, has_push: bool) -> dict[str, Any]:
    """A rule from the page's form, checked as a participant file's rule is; SettingsRefused
    with what is wrong."""
    data: dict[str, Any] = {"events": _listed(form, "events"), "formats": _listed(form, "formats")}
    kinds = [k.strip() for k in str(form.get("document_kinds", "")).split(",") if k.strip()]
    for name, values in (("document_kinds", kinds), ("countries", _listed(form, "countries"))):
        if values:
            data[name] = values
    if _listed(form, "push"):
        data["channels"] = ["push"]
    description = str(form.get("description", "")).strip()[:200]
    if description:
        data["description"] = description
    problems = _problems(company, data)
    if "channels" in data and not has_push:
        problems.append("channels: a push rule needs a push server (set one below)")
    if not data["formats"]:
        problems.append("formats: choose at least one")
    if problems:
        raise SettingsRefusedError(problems)
    return data


def push_public_key(config: Config, company: str) -> str:
    """The public key of the gateway's key pair for pushing to the company's own server (made
    the first time it is asked for; the private key stays on the data directory, mode 0600)."""
    path = push_key_path(config.gateway.data_dir, company)
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = asyncssh.generate_private_key("ssh-ed25519", comment=f"opencass-push-{company}")
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_bytes(key.export_private_key())
        temporary.chmod(0o600)
        os.replace(temporary, path)
    public = asyncssh.read_private_key(path).export_public_key().decode().strip()
    return str(public)


def check_push(config: Config, company: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A push server from the page's form (the key pair made if need be); SettingsRefused."""
    push_public_key(config, company)
    server: dict[str, Any] = {
        k: str(data[k]).strip() for k in PUSH_SETTINGS if str(data.get(k, "")).strip()
    }
    if "port" in server:
        try:
            server["port"] = int(server["port"])
        except ValueError:
            raise SettingsRefusedError([f"push.port: {server['port']!r} is not a number"]) from None
    _, problems = read_push_settings(server, push_key_path(config.gateway.data_dir, company))
    if problems:
        raise SettingsRefusedError(problems)
    return server


def changed(own: CompanySettings | None, company: str, **values: Any) -> CompanySettings:
    """The company's settings with ``values`` changed (new ones when it had none)."""
    return dataclasses.replace(own or CompanySettings(company), **values)


CHANGES = ("defaults", "add-rule", "remove-rule", "push", "remove-push", "make-key")


def apply_change(
    config: Config, company_id: str, user: str, kind: str, form: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """One change from the Settings page, kept (in force at the outbox's next fan-out, within
    seconds); what the audit records of it.  The settings are read and written in one write
    transaction, so two administrators' changes at once both count.  SettingsRefusedError
    with what is wrong."""
    if kind == "make-key":
        return {"public_key": push_public_key(config, company_id)}
    conn = connect_migrated(config.gateway.database)
    try:
        with transaction(conn):
            own = company_settings(conn).get(company_id)
            values, detail = _change(config, config.companies[company_id], own, kind, form)
            stamp = {"changed_at": now.astimezone(UTC).isoformat(), "changed_by": user}
            new = changed(own, company_id, **values, **stamp)
            if len(new.rules) > MAX_OWN_RULES:
                raise SettingsRefusedError([f"subscriptions: at most {MAX_OWN_RULES} rules"])
            put_company_settings(conn, new)
    finally:
        conn.close()
    return detail


def _change(
    config: Config, company: Company, own: CompanySettings | None, kind: str,
    form: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    """The settings' new values and what the audit records of the change."""
    rules = tuple(own.rules) if own else ()
    if kind == "defaults":
        return {"use_defaults": bool(form.get("use_defaults"))}, {}
    if kind == "add-rule":
        has_push = (own.push if own and own.push is not None else company.push) is not None
        rule = rule_from_form(form, company, has_push)
        return {"rules": (*rules, rule)}, {"rule": rule}
    if kind == "remove-rule":
        index = _index(form.get("index"), len(rules))
        return {"rules": rules[:index] + rules[index + 1 :]}, {"rule": rules[index]}
    if kind == "push":
        server = check_push(config, company.id, form)
        return {"push": server}, {"push": server}
    return {"push": None}, {}  # remove-push: the participant file's [push] is in force again


def _index(value: Any, count: int) -> int:
    try:
        index = int(str(value))
    except ValueError:
        index = -1
    if not 0 <= index < count:
        raise SettingsRefusedError([f"index: no rule of your own numbered {value!r}"])
    return index
