"""The ``cass:UserAdministration`` message handler: a company administrator's user changes,
judged by ``identity.changes`` and written in the message's transaction (all or nothing).

The daemon notices the new change number within ``users_poll_seconds`` and applies the users
without a reload (``gateway.app``).  In the sandbox inbox the message is a dry run: judged and
answered, nothing kept.
"""

from __future__ import annotations

import sqlite3

from opencass.billing.messages import MessageContext, MessageHandler, MessageOutcome
from opencass.codecs.onerecord.jsonld import XmlRejectedError
from opencass.codecs.onerecord.users import USER_ADMINISTRATION_TAG, decode_user_administration
from opencass.identity.changes import Actor, Plan, plan_changes
from opencass.store.rows import utc_stamp
from opencass.store.users import (
    UserChange,
    delete_access,
    put_access,
    put_user,
    record_change,
    users_state,
)

__all__ = ["administer", "user_handlers", "write_plan"]


def write_plan(conn: sqlite3.Connection, plan: Plan, actor: Actor, at: str) -> int:
    """Write an accepted plan: users, access, and one change record each; their number."""

    for user in plan.users.values():
        put_user(conn, user)
    for (user_name, company), access in plan.access.items():
        if access is None:
            delete_access(conn, user_name, company)
        else:
            put_access(conn, access)
    for action, user_name, company, detail in plan.records:
        change = UserChange(0, at, actor.user, actor.company, actor.via, action, user_name,
                            company, dict(detail))  # fmt: skip
        record_change(conn, change)
    return len(plan.records)


def administer(ctx: MessageContext) -> MessageOutcome:
    """Judge a user administration message and apply it when every change passes."""
    try:
        message = decode_user_administration(
            ctx.data, max_bytes=ctx.config.gateway.limits.max_xml_bytes
        )
    except XmlRejectedError as e:
        return MessageOutcome("rejected", list(e.findings))
    actor = Actor(ctx.user, ctx.company, ctx.file_id)
    at = utc_stamp(ctx.now)
    plan = plan_changes(
        message.changes, actor, users_state(ctx.conn), ctx.config.users, ctx.config.companies, at
    )
    if plan.refused:
        return MessageOutcome("rejected", plan.findings, counts={"changes": 0})
    written = write_plan(ctx.conn, plan, actor, at)
    return MessageOutcome("accepted", [], counts={"changes": written})


def user_handlers() -> tuple[MessageHandler, ...]:
    """The identity messages the daemon dispatches."""
    return (MessageHandler(USER_ADMINISTRATION_TAG, "user-administration", administer),)
