"""``opencass users …`` and ``opencass countries status``: the operator's view of users and
go-live waves, the legacy migration, and the operator's own user changes.

Exit codes: 0 ok, 1 the input was refused (a migration export that cannot be read, a change the
rules refuse), 2 usage or configuration error, 3 internal failure.  A running gateway applies
the changes these commands make within ``users_poll_seconds``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sqlite3
import sys
from collections.abc import Sequence
from contextlib import closing
from datetime import date, datetime
from pathlib import Path
from typing import Any

from opencass import files
from opencass.cli.common import load, run
from opencass.codecs.onerecord.users import UserChangeRequest
from opencass.config.model import CompanyKind, Config
from opencass.errors import EXIT_INPUT, EXIT_OK, ConfigurationError
from opencass.identity.changes import Actor, plan_changes
from opencass.identity.directory import Directory, Member, build_directory
from opencass.identity.handler import write_plan
from opencass.identity.migration import Outcome, apply_migration, plan_migration, read_export
from opencass.store.connect import connect_migrated, read_only
from opencass.store.rows import utc_stamp
from opencass.store.tx import transaction
from opencass.store.users import (
    UserChange,
    UsersState,
    delete_user,
    last_logins,
    record_change,
    user_changes,
    users_state,
)

__all__ = ["cmd_check_config", "cmd_countries", "cmd_users"]

OPERATOR = "operator"


class UserCommandError(ConfigurationError):
    """A user command that cannot run as asked (an unknown user, a company, a country)."""

    code = "USER_COMMAND_INVALID"


def _directory(config: Config) -> tuple[Directory, dict[str, str]]:
    """The effective users and last logins (the files' alone before the gateway's first run)."""
    empty: tuple[UsersState, dict[str, str]] = (UsersState(0, (), ()), {})
    state, logins = read_only(
        config.gateway.database, lambda conn: (users_state(conn), last_logins(conn)), empty
    )
    return build_directory(config.users, config.companies, state), logins


def _connect(config: Config) -> sqlite3.Connection:
    """The store for a change (made, with its data directory, when the gateway never ran)."""
    return connect_migrated(config.gateway.database)


def _record(m: Member, logins: dict[str, str], full: bool) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "user": m.name,
        "company": m.company,
        "roles": sorted(r.value for r in m.user.roles),
        "status": m.status,
        "source": m.source,
        "access": {c: sorted(r.value for r in roles) for c, roles in sorted(m.access.items())},
        "keys": len(m.user.public_keys),
        "last_login": logins.get(m.name, ""),
    }
    if full:
        rec |= {"name": m.full_name, "email": m.email, "legacy_id": m.legacy_id or "",
                "public_keys": list(m.user.public_keys)}  # fmt: skip
    return rec


def _emit(records: Sequence[dict[str, Any]], fmt: str, out: Any) -> None:
    if fmt == "json":
        print(json.dumps(list(records), indent=2, ensure_ascii=False), file=out)
        return
    if fmt == "csv":
        buf = io.StringIO()
        fields = list(records[0]) if records else ["user"]
        writer = csv.DictWriter(buf, fields, lineterminator="\n")
        writer.writeheader()
        for r in records:
            writer.writerow({k: _flat(v) for k, v in r.items()})
        out.write(buf.getvalue())
        return
    for r in records:
        access = " ".join(f"{c}:{'+'.join(v)}" for c, v in r["access"].items())
        print(f"{r['user']:<20} {r['company']:<12} {'+'.join(r['roles']):<18} {r['status']:<9}"
              f" {r['source']:<12} last login {r['last_login'] or 'never'}"
              f"{'  access ' + access if access else ''}", file=out)  # fmt: skip


def _flat(value: object) -> object:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return " ".join(f"{k}:{'+'.join(v)}" for k, v in value.items())
    return value


def _members(args: argparse.Namespace, directory: Directory) -> list[Member]:
    company = getattr(args, "company", None)
    if company is not None:
        return directory.of_company(company)
    return sorted(directory.members.values(), key=lambda m: m.name)


def _list(args: argparse.Namespace, config: Config, full: bool) -> int:
    if args.company is not None and args.company not in config.companies:
        raise UserCommandError(f"no company {args.company!r}")
    directory, logins = _directory(config)
    _emit([_record(m, logins, full) for m in _members(args, directory)], args.format, sys.stdout)
    return EXIT_OK


def _show(args: argparse.Namespace, config: Config) -> int:
    directory, logins = _directory(config)
    m = directory.members.get(args.user)
    if m is None:
        raise UserCommandError(f"no user {args.user!r}")
    none: list[UserChange] = []
    history = read_only(config.gateway.database, lambda c: user_changes(c, args.user), none)
    rec = _record(m, logins, True) | {
        "changes": [
            {
                "at": c.at,
                "by": f"{c.actor_company}/{c.actor}",
                "via": c.via,
                "action": c.action,
                "detail": c.detail,
            }
            for c in history
        ]
    }
    if args.format == "json":
        print(json.dumps(rec, indent=2, ensure_ascii=False))
        return EXIT_OK
    for key, value in rec.items():
        if key != "changes":
            print(f"{key + ':':<12} {_flat(value) if value not in ('', [], {}) else '-'}")
    print("changes:")
    for c in rec["changes"]:
        print(f"  {c['at']}  {c['by']}  {c['action']}  via {c['via']}  {json.dumps(c['detail'])}")
    return EXIT_OK


def _reset(args: argparse.Namespace, config: Config, now: datetime) -> int:
    if args.user not in config.users:
        raise UserCommandError(f"{args.user} is not in the participant files: nothing to reset to")
    at = utc_stamp(now)
    with closing(_connect(config)) as conn, transaction(conn):
        if not delete_user(conn, args.user):
            print(f"{args.user} is not managed in the store: the files apply already")
            return EXIT_OK
        change = UserChange(0, at, OPERATOR, "", "cli", "reset-to-file", args.user,
                            config.users[args.user].company, {})  # fmt: skip
        record_change(conn, change)
    print(f"{args.user}: the participant files apply again")
    return EXIT_OK


def _operator_change(args: argparse.Namespace, config: Config, now: datetime) -> int:
    """``users grant|revoke``: the operator agrees for both companies at once."""
    roles = tuple(r for r in (args.roles or "").split(",") if r)
    kind = "grant-access" if args.users_command == "grant" else "revoke-access"
    change = UserChangeRequest(kind, args.user, access_company=args.company, roles=roles)
    operator = next((c.id for c in config.companies.values() if c.kind is CompanyKind.OPERATOR),
                    None)  # fmt: skip
    if operator is None:
        raise UserCommandError("no operator company is configured")
    at = utc_stamp(now)
    with closing(_connect(config)) as conn, transaction(conn) as tx:
        state = users_state(conn)
        admin = next(iter(build_directory(config.users, config.companies, state).admins(operator)),
                     OPERATOR)  # fmt: skip
        actor = Actor(admin, operator, "cli")
        plan = plan_changes((change,), actor, state, config.users, config.companies, at)
        if plan.refused:
            tx.abandon()
            for f in plan.findings:
                print(f"opencass: {f.code}: {f.message}", file=sys.stderr)
            return EXIT_INPUT
        write_plan(conn, plan, Actor(OPERATOR, operator, "cli"), at)
    print(f"{kind} {args.user} {args.company}: done")
    return EXIT_OK


def _rows(outcomes: Sequence[Outcome]) -> list[list[str]]:
    return [
        [o.company or "", o.legacy.company_code, o.legacy.user_id, o.login or "", o.legacy.name,
         o.legacy.email, o.legacy.last_login.isoformat() if o.legacy.last_login else "",
         str(len(o.legacy.rights)), o.status, "+".join(o.roles), o.reason]
        for o in outcomes
    ]  # fmt: skip


def _summary(outcomes: Sequence[Outcome], title: str) -> list[str]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return [title, ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no users"]


def _write_reports(config: Config, outcomes: list[Outcome], stem: str, now: datetime) -> int:
    from opencass.documents.user_reports import migration_csv, migration_pdf

    by_company: dict[str, list[Outcome]] = {}
    for o in outcomes:
        if o.company:
            by_company.setdefault(o.company, []).append(o)
    operators = [c.id for c in config.companies.values() if c.kind is CompanyKind.OPERATOR]
    for c in operators:
        by_company[c] = outcomes
    written = 0
    for company, mine in sorted(by_company.items()):
        outbox = config.gateway.mailboxes_dir / company / files.OUTBOX
        files.mailbox_dirs(config.gateway.mailboxes_dir, company)
        rows = _rows(mine)
        title = f"User migration {stem}: {company}"
        files.write_atomic(outbox / f"{stem}.csv", migration_csv(rows))
        files.write_atomic(outbox / f"{stem}.pdf",
                           migration_pdf(title, _summary(mine, title), rows, now))  # fmt: skip
        written += 2
    return written


def _migrate(args: argparse.Namespace, config: Config, now: datetime) -> int:
    if args.country not in config.countries:
        raise UserCommandError(f"unknown CASS country {args.country!r}")
    cutoff = date.fromisoformat(args.cutoff)
    legacy = read_export(Path(args.export).read_text(encoding="utf-8"))
    at, via = utc_stamp(now), f"migration:{Path(args.export).name}"
    with closing(_connect(config)) as conn, transaction(conn) as tx:
        state = users_state(conn)
        directory = build_directory(config.users, config.companies, state)
        previous = {c.user: c.detail for c in user_changes(conn) if c.action == "migrate-user"}
        outcomes = plan_migration(legacy, config, args.country, cutoff, directory, previous)
        created = 0 if args.dry_run else apply_migration(conn, outcomes, via, at)
        if args.dry_run:
            tx.abandon()
    stem = f"user-migration-{args.country}-{cutoff.isoformat()}"
    written = 0 if args.dry_run else _write_reports(config, outcomes, stem, now)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(_rows(outcomes))
    sys.stdout.write(out.getvalue())
    counts = _summary(outcomes, "")[1]
    if args.dry_run:
        created = sum(o.migrated and not o.existing for o in outcomes)
    verb = "would create" if args.dry_run else "created"
    print(f"{len(outcomes)} rows: {counts}; {verb} {created} users;"
          f" {written} report files written", file=sys.stderr)  # fmt: skip
    return EXIT_OK


def cmd_users(args: argparse.Namespace, now: datetime) -> int:
    """``opencass users list|show|export|migrate|reset|grant|revoke``."""

    def body() -> int:
        config = load(args)
        sub = args.users_command
        if sub in ("list", "export"):
            return _list(args, config, full=sub == "export")
        if sub == "show":
            return _show(args, config)
        if sub == "reset":
            return _reset(args, config, now)
        if sub == "migrate":
            return _migrate(args, config, now)
        return _operator_change(args, config, now)

    return run(body, args)


def cmd_countries(args: argparse.Namespace, now: datetime) -> int:
    """``opencass countries status``: each country's go-live state now and its go-live."""

    def body() -> int:
        config = load(args)
        rows = []
        for code, c in sorted(config.countries.items()):
            rows.append({
                "country": code, "name": c.name, "state": c.state_at(now).value,
                "configured_state": c.state.value,
                "go_live": c.go_live.isoformat() if c.go_live else "",
                "timezone": c.timezone,
                "companies": sorted(k for k, v in config.companies.items() if code in v.countries),
            })  # fmt: skip
        if args.format == "json":
            print(json.dumps(rows, indent=2))
            return EXIT_OK
        for r in rows:
            go = f"  live from {r['go_live']}" if r["go_live"] and r["state"] != "live" else ""
            print(f"{r['country']}  {r['state']:<8}{go}  {len(r['companies'])} companies"
                  f"  ({r['name']}, {r['timezone']})")  # fmt: skip
        return EXIT_OK

    return run(body, args)


def cmd_check_config(args: argparse.Namespace) -> int:
    """``opencass check-config``, and the conflicts between the files and the store's users."""
    from opencass.config.commands import cmd_check_config as check

    code = check(args)
    if code != EXIT_OK:
        return code
    config = load(args)
    if not config.gateway.database.exists():
        return code
    directory, _ = _directory(config)
    for conflict in directory.conflicts:
        print(f"conflict: {conflict}", file=sys.stderr)
    return code
