"""Legacy migration: the old system's user export in, the users to create and a report out.

The export is CSV (UTF-8, comma-separated, a header row) with these columns, in any order:

============== ==============================================================================
column         meaning
============== ==============================================================================
company_code   the company in the old system: an airline's 3-digit prefix or an agent's
               11-digit CASS code in the country migrated, or an opencass company id
user_id        the old system's user id; becomes the login name (lower-cased, characters other
               than a-z 0-9 . _ - turned into -)
name           the person's name
email          the person's e-mail address
profile        ``admin`` (or ``administrator``) for a company administrator; anything else is
               an ordinary user
rights         the rights the user held, separated by ``;`` (their number ranks users)
last_login     the last login, ``YYYY-MM-DD`` or an ISO date and time; empty: never
============== ==============================================================================

The rule, per row: a user whose last login is before the cut-off day (or who never logged in)
is not migrated; a login on the cut-off day counts.  Administrators are migrated as ``admin``;
ordinary users get the basic profile of their company's kind (airline ``input``, agent
``output``, the CASS office ``readonly``).  A company left with no administrator (none migrated
and none already in opencass) gets its three migrated users with the most rights as
administrators; ties go to the later last login, then to the user id in alphabetical order.
Rows that cannot be migrated say why: an unknown company, a user id that cannot be a login name,
a login name taken by another user, a user id listed twice.

Migrated users have no SSH key: their administrators add one (``add-key``), or the operator
issues them a certificate.  Running the migration again changes nothing already migrated: such
users keep whatever their administrators changed since, and the report shows the first run's
decision for them.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime

from opencass.config.model import Company, CompanyKind, Config
from opencass.errors import InputError
from opencass.identity.changes import USER_NAME
from opencass.identity.directory import ACTIVE, Directory
from opencass.store.users import StoredUser, UserChange, put_user, record_change

__all__ = [
    "COLUMNS",
    "LegacyUser",
    "Outcome",
    "apply_migration",
    "plan_migration",
    "read_export",
]

COLUMNS = ("company_code", "user_id", "name", "email", "profile", "rights", "last_login")
BASIC_ROLE = {CompanyKind.AIRLINE: "input", CompanyKind.AGENT: "output",
              CompanyKind.OPERATOR: "readonly"}  # fmt: skip
PROMOTED = 3  # administrators given to a company that has none


class ExportError(InputError):
    """The export cannot be read at all (no header, a missing column)."""

    code = "MIGRATION_EXPORT_INVALID"


@dataclass(frozen=True, slots=True)
class LegacyUser:
    """One row of the export."""

    line: int
    company_code: str
    user_id: str
    name: str
    email: str
    admin: bool
    rights: tuple[str, ...]
    last_login: date | None
    problem: str = ""  # why the row cannot be read


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the migration decided for one row."""

    legacy: LegacyUser
    company: str | None
    login: str | None
    migrated: bool
    roles: tuple[str, ...] = ()
    promoted: bool = False
    reason: str = ""
    existing: bool = False  # migrated by an earlier run: left as it is

    @property
    def status(self) -> str:
        """migrated, promoted to admin, or not migrated (a user migrated by an earlier run shows
        that run's decision)."""
        if not self.migrated:
            return "not migrated"
        return "promoted to admin" if self.promoted else "migrated"


def _day(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    return datetime.fromisoformat(text).date() if len(text) > 10 else date.fromisoformat(text)


def _row(line: int, row: Mapping[str, str]) -> LegacyUser:
    values = {c: (row.get(c) or "").strip() for c in COLUMNS}
    rights = tuple(r.strip() for r in values["rights"].split(";") if r.strip())
    admin = values["profile"].lower() in ("admin", "administrator")
    problem, last = "", None
    try:
        last = _day(values["last_login"])
    except ValueError:
        problem = f"last_login {values['last_login']!r} is not a date"
    if not values["user_id"] or not values["company_code"]:
        problem = "company_code and user_id are required"
    return LegacyUser(line, values["company_code"], values["user_id"], values["name"],
                      values["email"], admin, rights, last, problem)  # fmt: skip


def read_export(text: str) -> list[LegacyUser]:
    """The rows of an export; ExportError when its header lacks a column."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise ExportError(f"the export's header lacks {', '.join(missing)}")
    return [_row(reader.line_num, row) for row in reader]


def _company_index(config: Config, country: str) -> dict[str, Company]:
    index: dict[str, Company] = {}
    for c in config.companies.values():
        index[c.id] = c
        for code in (*c.airline_prefixes.get(country, ()), *c.agent_codes.get(country, ())):
            index[code] = c
    return index


def login_of(user_id: str) -> str:
    """The login name of a legacy user id."""
    return re.sub(r"[^a-z0-9._-]", "-", user_id.strip().lower())


def _judge(u: LegacyUser, ctx: _Context) -> Outcome:
    company = ctx.companies.get(u.company_code)
    login = login_of(u.user_id)
    if u.problem:
        return Outcome(u, None, None, False, reason=u.problem)
    if company is None:
        return Outcome(u, None, None, False, reason=f"company {u.company_code} is not a "
                       f"participant of {ctx.country}")  # fmt: skip
    if login in ctx.seen:
        return Outcome(
            u, company.id, login, False, reason=f"user id listed twice (line {ctx.seen[login]})"
        )
    ctx.seen[login] = u.line
    before = ctx.previous.get(login)
    member = ctx.directory.members.get(login)
    if member is not None and before is not None and member.legacy_id == u.user_id:
        recorded = before.get("roles")
        roles = tuple(str(r) for r in recorded) if isinstance(recorded, list) else ()
        return Outcome(u, company.id, login, True, roles, bool(before.get("promoted")),
                       existing=True)  # fmt: skip
    if u.last_login is None or u.last_login < ctx.cutoff:
        when = u.last_login.isoformat() if u.last_login else "never"
        return Outcome(
            u, company.id, login, False, reason=f"no login since the cut-off (last: {when})"
        )
    if not USER_NAME.fullmatch(login):
        return Outcome(u, company.id, None, False, reason=f"{u.user_id!r} cannot be a login name")
    if member is not None:
        return Outcome(
            u,
            company.id,
            login,
            False,
            reason=f"login {login} is taken by a user of {member.company}",
        )
    role = "admin" if u.admin else BASIC_ROLE[company.kind]
    return Outcome(u, company.id, login, True, (role,))


@dataclass(slots=True)
class _Context:
    country: str
    cutoff: date
    companies: dict[str, Company]
    directory: Directory
    previous: Mapping[str, Mapping[str, object]]
    seen: dict[str, int]


def _promote(outcomes: list[Outcome], directory: Directory) -> list[Outcome]:
    by_company: dict[str, list[int]] = {}
    for i, o in enumerate(outcomes):
        if o.migrated and o.company:
            by_company.setdefault(o.company, []).append(i)
    for company, idx in by_company.items():
        new_admins = [i for i in idx if "admin" in outcomes[i].roles]
        existing = [
            a for a in directory.admins(company) if a not in {outcomes[i].login for i in idx}
        ]
        if new_admins or existing:
            continue

        def rank(i: int) -> tuple[int, int, str]:
            u = outcomes[i].legacy
            return (-len(u.rights), -(u.last_login or date.min).toordinal(), u.user_id)

        for i in sorted(idx, key=rank)[:PROMOTED]:
            outcomes[i] = replace(outcomes[i], roles=("admin",), promoted=True)
    return outcomes


def plan_migration(
    users: list[LegacyUser],
    config: Config,
    country: str,
    cutoff: date,
    directory: Directory,
    previous: Mapping[str, Mapping[str, object]],
) -> list[Outcome]:
    """The outcome of every row (module docstring); ``previous`` is what earlier runs recorded
    for each login they migrated (``promoted``)."""
    ctx = _Context(country, cutoff, _company_index(config, country), directory, previous, {})
    outcomes = [_judge(u, ctx) for u in users]
    return _promote(outcomes, directory)


def apply_migration(conn: sqlite3.Connection, outcomes: list[Outcome], via: str, at: str) -> int:
    """Create the users the migration decided on (never those an earlier run made); one
    ``migrate-user`` change each.  How many were created."""
    created = 0
    for o in outcomes:
        if not o.migrated or o.existing or o.login is None or o.company is None:
            continue
        u = o.legacy
        put_user(conn, StoredUser(o.login, o.company, o.roles, (), ACTIVE, "migration", u.name,
                                  u.email, None, u.user_id, at, "migration"))  # fmt: skip
        detail = {"legacy_id": u.user_id, "roles": list(o.roles), "promoted": o.promoted,
                  "last_login": u.last_login.isoformat() if u.last_login else None}  # fmt: skip
        record_change(conn, UserChange(0, at, "operator", "", via, "migrate-user", o.login,
                                       o.company, detail))  # fmt: skip
        created += 1
    return created
