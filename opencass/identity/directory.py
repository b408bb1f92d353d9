"""The effective users: the participant files' users merged with the store's.

Which wins: a user the store manages (a row in ``users``: created by self-service, migration or
the operator, or a file user its company's administrators changed) is as the store says; a user
only in the files is as the files say.  When an administrator first changes a user of the files,
the store takes it over and remembers the file entry it started from (``file_sha``).  A later
edit of that entry in the files is then *not* applied; it is reported as a conflict (``opencass
check-config``, the daemon's log) until the operator gives the user back to the files with
``opencass users reset NAME`` (which forgets the store's state, recorded as a change).  Password
hashes and second-factor secrets always come from the files.

Access to other companies' mailboxes is effective once both companies agreed (or the operator).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from opencass.config.model import Company, CompanyKind, Config, CountryState, Role, User
from opencass.store.users import StoredAccess, StoredUser, UsersState, users_state

__all__ = ["ACTIVE", "Directory", "Member", "build_directory", "file_sha", "roles_of"]

ACTIVE, SUSPENDED, REMOVED = "active", "suspended", "removed"


def file_sha(user: User) -> str:
    """A fingerprint of a user's entry in the participant files."""
    data = [user.company, sorted(r.value for r in user.roles), list(user.public_keys),
            user.password_hash or ""]  # fmt: skip
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:16]


def roles_of(names: Iterable[str]) -> frozenset[Role]:
    """Roles from their names (unknown names dropped: the store only keeps checked ones)."""
    return frozenset(Role(n) for n in names if n in Role._value2member_map_)


@dataclass(frozen=True, slots=True)
class Member:
    """An effective user: its own company and roles, where it came from, its state, and the
    other companies it may act for."""

    user: User  # its own company, its roles there, its keys
    source: str = "file"  # file, self-service, migration, operator
    status: str = ACTIVE
    full_name: str = ""
    email: str = ""
    legacy_id: str | None = None
    access: dict[str, frozenset[Role]] = field(default_factory=dict)  # other company -> roles

    @property
    def name(self) -> str:
        """The login name."""
        return self.user.name

    @property
    def company(self) -> str:
        """The user's own company."""
        return self.user.company

    def companies(self) -> dict[str, frozenset[Role]]:
        """Every company the user acts for, with its roles there; its own first."""
        return {self.user.company: self.user.roles, **self.access}

    def as_user(self, company: str) -> User | None:
        """The user as seen in ``company``'s mailbox (its roles there), None without access."""
        roles = self.companies().get(company)
        return None if roles is None else replace(self.user, company=company, roles=roles)

    def is_admin_of(self, company: str) -> bool:
        """True when the user is active and an administrator of ``company``."""
        return self.status == ACTIVE and Role.ADMIN in self.companies().get(company, frozenset())


@dataclass(frozen=True, slots=True)
class Directory:
    """Every user, by login name (suspended and removed ones too); ``version`` is the store's
    change number it reflects; ``conflicts`` what the files say and the store overrides."""

    members: dict[str, Member]
    version: int = 0
    conflicts: tuple[str, ...] = ()
    stored: frozenset[str] = frozenset()  # names the store manages

    def active(self, name: str) -> Member | None:
        """The user ``name`` when it exists and may log in."""
        m = self.members.get(name)
        return m if m is not None and m.status == ACTIVE else None

    def key_owners(self) -> dict[str, str]:
        """Key data (base64) -> the user holding it, over every user not removed."""
        owners: dict[str, str] = {}
        for m in self.members.values():
            if m.status != REMOVED:
                for line in m.user.public_keys:
                    parts = line.split()
                    if len(parts) >= 2:
                        owners.setdefault(parts[1], m.name)
        return owners

    def admins(self, company: str) -> list[str]:
        """The active administrators of ``company`` (its own users)."""
        return sorted(
            m.name for m in self.members.values()
            if m.company == company and m.status == ACTIVE and Role.ADMIN in m.user.roles
        )  # fmt: skip

    def of_company(self, company: str) -> list[Member]:
        """The company's own users and those with access to it, by name."""
        return sorted(
            (m for m in self.members.values() if company in m.companies()), key=lambda m: m.name
        )


def _stored_member(s: StoredUser, file_user: User | None) -> Member:
    same = file_user is not None and file_user.company == s.company
    password = file_user.password_hash if file_user and same else None
    totp = file_user.totp_secret if file_user and same else None
    user = User(s.name, s.company, roles_of(s.roles), tuple(s.keys), password, totp)
    return Member(user, s.source, s.status, s.full_name, s.email, s.legacy_id)


def _conflict(s: StoredUser, file_user: User | None, files: Mapping[str, str]) -> str | None:
    where = files.get(s.name, "the participant files")
    if file_user is None:
        if s.file_sha is None:
            return None
        return (
            f"user {s.name} was removed from the participant files but its company's"
            f" administrators manage it (status {s.status}): the store's state applies"
        )
    if s.file_sha is None:
        return (f"user {s.name} is defined in {where} and was also created by {s.source}:"
                " the store's user applies")  # fmt: skip
    if s.file_sha != file_sha(file_user):
        return (f"user {s.name} changed in {where} after its company's administrators took it"
                f" over: the store's state applies (`opencass users reset {s.name}` gives it"
                " back to the file)")  # fmt: skip
    return None


def build_directory(
    file_users: Mapping[str, User],
    companies: Mapping[str, Company],
    state: UsersState,
    files: Mapping[str, str] | None = None,
) -> Directory:
    """The effective users from the files' users and the store's state (module docstring);
    ``files`` names the file of each file user, for conflict messages."""
    members = {name: Member(u) for name, u in file_users.items()}
    conflicts: list[str] = []
    for s in state.users:
        if s.company not in companies:
            conflicts.append(f"user {s.name} belongs to company {s.company}, not configured")
            continue
        if (c := _conflict(s, file_users.get(s.name), files or {})) is not None:
            conflicts.append(c)
        members[s.name] = _stored_member(s, file_users.get(s.name))
    _grant(members, companies, state.access)
    stored = frozenset(s.name for s in state.users)
    return Directory(members, state.version, tuple(conflicts), stored)


def _grant(
    members: dict[str, Member], companies: Mapping[str, Company], access: Iterable[StoredAccess]
) -> None:
    for a in access:
        m = members.get(a.user)
        if m is None or a.company not in companies or a.company == m.company:
            continue
        if a.host_by and a.home_by and a.roles:
            members[a.user] = replace(m, access={**m.access, a.company: roles_of(a.roles)})


def read_directory(config: Config) -> Directory:
    """The effective users of ``config`` and its store (blocking; the store migrated)."""
    from opencass.store.connect import read_only

    state = read_only(config.gateway.database, users_state, UsersState(0, (), ()))
    return build_directory(config.users, config.companies, state)


def company_state(config: Config, company: str, now: datetime) -> CountryState:
    """A company's go-live state: the most advanced of its countries' (live for none, and
    for the CASS office, which works in every country before its go-live)."""
    c = config.companies.get(company)
    if c is not None and c.kind is CompanyKind.OPERATOR:
        return CountryState.LIVE
    states = [config.countries[cc].state_at(now) for cc in (c.countries if c else ())
              if cc in config.countries]  # fmt: skip
    order = (CountryState.PLANNED, CountryState.SANDBOX, CountryState.LIVE)
    return max(states, key=order.index) if states else CountryState.LIVE


@dataclass(frozen=True, slots=True)
class View:
    """One company's mailbox as a user sees it: ``name`` is its directory in a user's root
    when the user acts for several companies ("" when it is the root itself)."""

    name: str
    company: str
    sandbox_only: bool


def view_name(config: Config, company: str) -> str:
    """A company's directory name in a multi-company root: ``<company>.<countries>``."""
    c = config.companies.get(company)
    countries = "-".join(c.countries) if c and c.countries else ""
    return f"{company}.{countries}" if countries else company


def views(member: Member, config: Config, now: datetime) -> list[View]:
    """The mailboxes ``member`` reaches at ``now``: none in a planned country, only the
    sandbox in a country in its sandbox wave; one directory each when there are several."""
    out = []
    for company in member.companies():
        state = company_state(config, company, now)
        if company in config.companies and state is not CountryState.PLANNED:
            out.append(View(view_name(config, company), company, state is CountryState.SANDBOX))
    if len(out) == 1:
        out = [replace(out[0], name="")]
    return out


_FILE_ONLY: dict[int, tuple[Config, Directory]] = {}


def file_directory(config: Config) -> Directory:
    """The users of the participant files alone (no store): a gateway run without one."""
    found = _FILE_ONLY.get(id(config))
    if found is None or found[0] is not config:
        found = (config, build_directory(config.users, config.companies, UsersState(0, (), ())))
        _FILE_ONLY.clear()
        _FILE_ONLY[id(config)] = found
    return found[1]
