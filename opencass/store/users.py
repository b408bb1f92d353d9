"""Users in the store: the current state of every user the store manages, access to other
companies' mailboxes, and the append-only record of every change (``opencass.identity`` decides;
this module only reads and writes)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

__all__ = [
    "StoredAccess",
    "StoredUser",
    "UserChange",
    "UsersState",
    "changes_version",
    "delete_access",
    "delete_user",
    "last_logins",
    "put_access",
    "put_user",
    "record_change",
    "user_changes",
    "users_state",
]


@dataclass(frozen=True, slots=True)
class StoredUser:
    """A user as the store keeps it (``status``: active, suspended, removed)."""

    name: str
    company: str
    roles: tuple[str, ...]
    keys: tuple[str, ...]
    status: str
    source: str  # self-service, migration, operator
    full_name: str = ""
    email: str = ""
    file_sha: str | None = None  # the participant file's entry when the store took it over
    legacy_id: str | None = None
    changed_at: str = ""
    changed_by: str = ""


@dataclass(frozen=True, slots=True)
class StoredAccess:
    """Access of ``user`` to ``company``'s mailbox with ``roles``; effective when both the host
    company (``host_by``) and the user's own company (``home_by``) agreed."""

    user: str
    company: str
    roles: tuple[str, ...]
    host_by: str = ""
    home_by: str = ""
    changed_at: str = ""


@dataclass(frozen=True, slots=True)
class UsersState:
    """Everything the store holds of users, read in one transaction."""

    version: int  # the last change's number: a new one means something changed
    users: tuple[StoredUser, ...]
    access: tuple[StoredAccess, ...]


@dataclass(frozen=True, slots=True)
class UserChange:
    """One recorded change."""

    seq: int
    at: str
    actor: str
    actor_company: str
    via: str
    action: str
    user: str
    company: str
    detail: dict[str, Any]


_USER_COLUMNS = (
    "name, company, roles, keys, status, source, full_name, email, file_sha, legacy_id,"
    " changed_at, changed_by"
)


def _user(row: tuple[Any, ...]) -> StoredUser:
    values = list(row)
    values[2], values[3] = tuple(json.loads(values[2])), tuple(json.loads(values[3]))
    return StoredUser(*values)


def users_state(conn: sqlite3.Connection) -> UsersState:
    """Every stored user and access grant, with the change number they are as of."""
    version = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM user_changes").fetchone()[0]
    users = conn.execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name").fetchall()
    access = conn.execute(
        "SELECT user, company, roles, host_by, home_by, changed_at FROM user_access"
        " ORDER BY user, company"
    ).fetchall()
    return UsersState(
        int(version),
        tuple(_user(r) for r in users),
        tuple(StoredAccess(r[0], r[1], tuple(json.loads(r[2])), *r[3:]) for r in access),
    )


def changes_version(conn: sqlite3.Connection) -> int:
    """The number of the last user change (0: none yet): cheap, polled by the daemon."""
    return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM user_changes").fetchone()[0])


def put_user(conn: sqlite3.Connection, user: StoredUser) -> None:
    """Insert or replace a user's state."""
    values = list(_fields(user))
    values[2], values[3] = json.dumps(list(user.roles)), json.dumps(list(user.keys))
    conn.execute(
        f"INSERT OR REPLACE INTO users ({_USER_COLUMNS}) VALUES ({', '.join('?' * 12)})", values
    )


def _fields(user: StoredUser) -> tuple[Any, ...]:
    return tuple(getattr(user, f) for f in StoredUser.__slots__)


def delete_user(conn: sqlite3.Connection, name: str) -> bool:
    """Forget a user's stored state (the participant file's entry applies again)."""
    return conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount > 0


def put_access(conn: sqlite3.Connection, access: StoredAccess) -> None:
    """Insert or replace an access grant."""
    conn.execute(
        "INSERT OR REPLACE INTO user_access (user, company, roles, host_by, home_by, changed_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (access.user, access.company, json.dumps(list(access.roles)), access.host_by,
         access.home_by, access.changed_at),
    )  # fmt: skip


def delete_access(conn: sqlite3.Connection, user: str, company: str) -> bool:
    """Withdraw an access grant."""
    sql = "DELETE FROM user_access WHERE user = ? AND company = ?"
    return conn.execute(sql, (user, company)).rowcount > 0


def record_change(conn: sqlite3.Connection, change: UserChange) -> int:
    """Append a change (its ``seq`` is assigned) and its audit entry; the change's number."""
    detail = json.dumps(change.detail, sort_keys=True, default=str)
    cur = conn.execute(
        "INSERT INTO user_changes (at, actor, actor_company, via, action, user, company, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (change.at, change.actor, change.actor_company, change.via, change.action, change.user,
         change.company, detail),
    )  # fmt: skip
    audit = {"action": change.action, "target": change.user, "target_company": change.company,
             "via": change.via, "detail": change.detail}  # fmt: skip
    conn.execute(
        "INSERT INTO audit (at, event, company, user, data) VALUES (?, 'user_change', ?, ?, ?)",
        (change.at, change.actor_company, change.actor, json.dumps(audit, default=str)),
    )
    return int(cur.lastrowid or 0)


def user_changes(conn: sqlite3.Connection, user: str | None = None) -> list[UserChange]:
    """Recorded changes, oldest first (of one user when ``user`` is given)."""
    sql = "SELECT seq, at, actor, actor_company, via, action, user, company, detail"
    sql += " FROM user_changes" + (" WHERE user = ?" if user else "") + " ORDER BY seq"
    rows = conn.execute(sql, (user,) if user else ()).fetchall()
    return [
        UserChange(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8]))
        for r in rows
    ]


def last_logins(conn: sqlite3.Connection) -> dict[str, str]:
    """When each user last logged in (the audit's ``login_ok`` events)."""
    rows = conn.execute(
        "SELECT user, MAX(at) FROM audit WHERE event = 'login_ok' AND user IS NOT NULL"
        " GROUP BY user"
    ).fetchall()
    return {str(u): str(at) for u, at in rows}
