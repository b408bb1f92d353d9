"""The self-service rules: which user changes an administrator may make, and their result.

``plan_changes`` judges the changes of one message against the effective users (the files and
the store, as of the message's transaction) and returns what to write: every change passes, or
the plan carries the refusals and nothing is written.  The rules:

- the sender is an active administrator of the company whose inbox received the message (the
  operator's administrators may manage the users of every company);
- a change names a user of that company (``USER_NOT_IN_COMPANY``); a new user's name is valid
  and unique gateway-wide, never a removed user's (history keeps user ids);
- roles are admin, input, output, readonly (at least one);
- keys are OpenSSH public keys of accepted types (``identity.keys``), never another user's;
- a company never loses its last administrator (set-roles, suspend-user, remove-user);
- access to another company is granted by both companies' administrators (either side first;
  effective when both agreed), or by the operator alone; either side may revoke it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from opencass.codecs.onerecord.users import UserChangeRequest
from opencass.config.model import Company, CompanyKind, Role, User
from opencass.errors import InputError
from opencass.findings import Finding, Scope, finding
from opencass.identity.directory import (
    ACTIVE,
    REMOVED,
    SUSPENDED,
    Directory,
    Member,
    build_directory,
    file_sha,
)
from opencass.identity.keys import KeyRefusedError, checked_key, key_blob
from opencass.store.users import StoredAccess, StoredUser, UsersState

__all__ = ["USER_NAME", "Actor", "Plan", "Refused", "plan_changes"]

USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class Refused(InputError):  # noqa: N818 - a verdict, carried as a finding
    """One change refused: a findings code and a message."""

    code = "USER_CHANGE_REFUSED"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Actor:
    """Who sends the changes, for which company's inbox, and through what."""

    user: str
    company: str
    via: str  # the message's file id, "cli", "migration:<file>"


@dataclass(slots=True)
class Plan:
    """What a message changes: users and access to write, records to append, or refusals."""

    users: dict[str, StoredUser] = field(default_factory=dict)
    access: dict[tuple[str, str], StoredAccess | None] = field(default_factory=dict)  # None: drop
    records: list[tuple[str, str, str, dict[str, object]]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        """True when a change was refused: nothing is to be written."""
        return bool(self.findings)


class _Work:
    """The effective users while a message's changes are applied one after the other."""

    def __init__(
        self, state: UsersState, file_users: Mapping[str, User], companies: Mapping[str, Company],
        actor: Actor, now: str,
    ) -> None:  # fmt: skip
        self.state, self.file_users, self.companies = state, file_users, companies
        self.actor, self.now = actor, now
        self.stored = {u.name: u for u in state.users}
        self.access = {(a.user, a.company): a for a in state.access}
        self.plan = Plan()

    def directory(self) -> Directory:
        """The effective users with the changes so far."""
        state = UsersState(
            self.state.version, tuple(self.stored.values()),
            tuple(a for a in self.access.values()),
        )  # fmt: skip
        return build_directory(self.file_users, self.companies, state)

    def operator(self) -> bool:
        company = self.companies.get(self.actor.company)
        return company is not None and company.kind is CompanyKind.OPERATOR

    def store_user(self, m: Member, action: str, detail: dict[str, object], **changes: object
                   ) -> None:  # fmt: skip
        """Write ``m`` with ``changes`` as the store's user (taking a file user over)."""
        old = self.stored.get(m.name)
        base = old or StoredUser(
            m.name, m.company, tuple(sorted(r.value for r in m.user.roles)), m.user.public_keys,
            ACTIVE, "self-service", m.full_name, m.email, file_sha(m.user),
        )  # fmt: skip
        new = replace(base, **changes, changed_at=self.now, changed_by=self.actor.user)  # type: ignore[arg-type]
        self.stored[m.name] = self.plan.users[m.name] = new
        self.plan.records.append((action, m.name, m.company, detail))

    def set_access(self, key: tuple[str, str], value: StoredAccess | None, action: str,
                   detail: dict[str, object]) -> None:  # fmt: skip
        if value is None:
            self.access.pop(key, None)
        else:
            self.access[key] = value
        self.plan.access[key] = value
        owner = self.directory().members[key[0]]
        self.plan.records.append((action, key[0], owner.company, {"company": key[1], **detail}))


def _roles(names: tuple[str, ...]) -> tuple[str, ...]:
    bad = [n for n in names if n not in Role._value2member_map_]
    if bad or not names:
        raise Refused(
            "USER_ROLE_INVALID", f"roles {bad or 'none'}: use admin, input, output, readonly"
        )
    return tuple(sorted(set(names)))


def _keys(work: _Work, names: tuple[str, ...], user: str) -> tuple[str, ...]:
    owners = work.directory().key_owners()
    out = []
    for line in names:
        try:
            key = checked_key(line)
        except KeyRefusedError as e:
            raise Refused(e.code, str(e)) from None
        owner = owners.get(key_blob(key))
        if owner is not None and owner != user:
            raise Refused("USER_KEY_IN_USE", "this public key belongs to another user")
        out.append(key)
    return tuple(out)


def _target(work: _Work, c: UserChangeRequest) -> Member:
    """The user a change is about, in the sender's company (any company for the operator)."""
    m = work.directory().members.get(c.user)
    if m is None:
        raise Refused("USER_UNKNOWN", f"no user {c.user!r}")
    if m.company != work.actor.company and not work.operator():
        raise Refused(
            "USER_NOT_IN_COMPANY", f"user {c.user} is not of company {work.actor.company}"
        )
    return m


def _keeps_an_admin(work: _Work, company: str, user: str, after: Member | None) -> None:
    admins = work.directory().admins(company)
    remaining = [a for a in admins if a != user]
    if after is not None and after.is_admin_of(company) and after.company == company:
        remaining.append(user)
    if admins and not remaining:
        raise Refused("USER_LAST_ADMIN", f"{user} is the last administrator of {company}")


def _add(work: _Work, c: UserChangeRequest) -> None:
    if not USER_NAME.fullmatch(c.user):
        raise Refused("USER_NAME_INVALID", f"{c.user!r}: 1-64 of a-z 0-9 . _ -")
    if c.user in work.directory().members or c.user in work.file_users:
        raise Refused("USER_NAME_TAKEN", f"the user name {c.user!r} is taken (or was used)")
    company = c.company or work.actor.company
    if company != work.actor.company and not work.operator():
        raise Refused("USER_NOT_IN_COMPANY", "a new user belongs to the sender's company")
    if company not in work.companies:
        raise Refused("ACCESS_COMPANY_UNKNOWN", f"no company {company!r}")
    roles, keys = _roles(c.roles), _keys(work, c.keys, c.user)
    source = "operator" if work.operator() else "self-service"
    new = StoredUser(c.user, company, roles, keys, ACTIVE, source, c.full_name, c.email,
                     changed_at=work.now, changed_by=work.actor.user)  # fmt: skip
    work.stored[c.user] = work.plan.users[c.user] = new
    detail = {"roles": list(roles), "keys": len(keys), "name": c.full_name, "email": c.email}
    work.plan.records.append(("add-user", c.user, company, detail))


def _set_roles(work: _Work, c: UserChangeRequest) -> None:
    m, roles = _target(work, c), _roles(c.roles)
    after = replace(m, user=replace(m.user, roles=frozenset(Role(r) for r in roles)))
    _keeps_an_admin(work, m.company, m.name, after)
    old = sorted(r.value for r in m.user.roles)
    work.store_user(m, "set-roles", {"from": old, "to": list(roles)}, roles=roles)


def _add_key(work: _Work, c: UserChangeRequest) -> None:
    m = _target(work, c)
    keys = _keys(work, c.keys, m.name)
    if not keys:
        raise Refused("USER_KEY_INVALID", "add-key needs a cass:publicKey")
    have = {key_blob(k) for k in m.user.public_keys}
    added = tuple(k for k in keys if key_blob(k) not in have)
    work.store_user(m, "add-key", {"keys": [key_blob(k)[-16:] for k in added]},
                    keys=m.user.public_keys + added)  # fmt: skip


def _remove_key(work: _Work, c: UserChangeRequest) -> None:
    m = _target(work, c)
    drop = {key_blob(k) for k in c.keys}
    if not drop or not drop <= {key_blob(k) for k in m.user.public_keys}:
        raise Refused("USER_KEY_UNKNOWN", f"user {m.name} has no such key")
    kept = tuple(k for k in m.user.public_keys if key_blob(k) not in drop)
    work.store_user(m, "remove-key", {"keys": [b[-16:] for b in sorted(drop)]}, keys=kept)


def _status(work: _Work, c: UserChangeRequest) -> None:
    m = _target(work, c)
    wanted = {"suspend-user": SUSPENDED, "reactivate-user": ACTIVE, "remove-user": REMOVED}[c.kind]
    allowed = {SUSPENDED: (ACTIVE,), ACTIVE: (SUSPENDED,), REMOVED: (ACTIVE, SUSPENDED)}[wanted]
    if m.status not in allowed:
        raise Refused("USER_STATE", f"user {m.name} is {m.status}: cannot {c.kind}")
    if wanted != ACTIVE:
        _keeps_an_admin(work, m.company, m.name, None)
    keys = () if wanted == REMOVED else m.user.public_keys  # a removed user's keys are freed
    work.store_user(m, c.kind, {"from": m.status, "to": wanted}, status=wanted, keys=keys)
    if wanted == REMOVED:
        for key in [k for k in work.access if k[0] == m.name]:
            work.set_access(key, None, "revoke-access", {"reason": "user removed"})


def _access(work: _Work, c: UserChangeRequest) -> None:
    m = work.directory().members.get(c.user)
    other = c.access_company
    if m is None or m.status == REMOVED:
        raise Refused("USER_UNKNOWN", f"no user {c.user!r}")
    if not other or other not in work.companies or other == m.company:
        raise Refused("ACCESS_COMPANY_UNKNOWN", f"{other!r} is not another configured company")
    me, key = work.actor.company, (m.name, other)
    host, home = me == other, me == m.company
    if not (host or home or work.operator()):
        raise Refused("USER_NOT_IN_COMPANY", f"neither {m.name} nor {other} is of company {me}")
    found = work.access.get(key)
    if c.kind == "revoke-access":
        if found is None:
            raise Refused("ACCESS_UNKNOWN", f"{m.name} has no access to {other}")
        work.set_access(key, None, "revoke-access", {})
        return
    who = work.actor.user
    grant = found or StoredAccess(m.name, other, ())
    if host or work.operator():
        grant = replace(grant, roles=_roles(c.roles), host_by=who)
    if home or work.operator():
        grant = replace(grant, home_by=who)
    grant = replace(grant, changed_at=work.now)
    agreed = bool(grant.host_by and grant.home_by)
    work.set_access(key, grant, "grant-access", {"roles": list(grant.roles), "agreed": agreed})


_RULES = {
    "add-user": _add, "set-roles": _set_roles, "add-key": _add_key, "remove-key": _remove_key,
    "suspend-user": _status, "reactivate-user": _status, "remove-user": _status,
    "grant-access": _access, "revoke-access": _access,
}  # fmt: skip


def plan_changes(
    changes: tuple[UserChangeRequest, ...],
    actor: Actor,
    state: UsersState,
    file_users: Mapping[str, User],
    companies: Mapping[str, Company],
    now: str,
) -> Plan:
    """Judge ``changes`` in order (each sees the ones before it); a plan to write, or refusals."""
    work = _Work(state, file_users, companies, actor, now)
    sender = work.directory().active(actor.user)
    if sender is None or not (sender.is_admin_of(actor.company) or _operator_admin(work, sender)):
        msg = f"{actor.user} is not an administrator of company {actor.company}"
        work.plan.findings.append(finding("USER_ADMIN_REQUIRED", msg, scope=Scope.FILE))
        return work.plan
    for c in changes:
        try:
            _RULES[c.kind](work, c)
        except Refused as e:
            work.plan.findings.append(
                finding(e.code, f"{c.kind} {c.user}: {e}", line=c.line, scope=Scope.RECORD)
            )
    return work.plan


def _operator_admin(work: _Work, sender: Member) -> bool:
    return work.operator() and sender.is_admin_of(work.actor.company)
