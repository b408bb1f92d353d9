"""Withdrawal of a whole billing file: the ``cass:WithdrawalRequest`` message handler.

An airline puts a withdrawal request (``opencass.codecs.onerecord.withdrawal``) into its inbox;
the intake dispatches it here by its root element (``opencass.gateway.messages``) and answers it
like any file, with a validation report and a signed receipt.

The request names the file by id, SHA-256 or both.  By SHA-256 the gateway looks among the
requester's own live files and takes the latest one that is still booked (the same bytes may
have been submitted again after an earlier withdrawal).  The rules (``check_withdrawal``): the
file must exist, be the requester's, not be withdrawn already, have records booked (a live file
accepted or partially accepted), and its period must still be open for uploads at the time the
request is processed (before the Airline Input Upload Cut-Off, and no preliminary or final close
started).  Each refusal is one file-level finding (``WITHDRAWAL_*``) and changes nothing.

When the request passes, in the message's transaction: every ledger row of the file is marked
``withdrawn`` (closes and the AWB-once rule skip such rows), the withdrawal is recorded in the
``withdrawals`` table (file, request, who, when, how many records, reason) and a
``withdrawal.done`` event is recorded for the airline.  The file's bytes may then be submitted
again and are assessed afresh (``SqliteStore.find_original`` skips withdrawn files).

In the sandbox inbox a request is a dry run against the airline's live files: judged exactly as
in live, answered, nothing changed and no event (the message machinery rolls it back).
"""

from __future__ import annotations

import sqlite3

from opencass.billing.messages import MessageContext, MessageHandler, MessageOutcome
from opencass.codecs.onerecord.jsonld import XmlRejectedError
from opencass.codecs.onerecord.withdrawal import (
    WITHDRAWAL_TAG,
    WithdrawalRequest,
    decode_withdrawal,
)
from opencass.config.model import Config
from opencass.events import Event, EventType, event
from opencass.findings import finding
from opencass.settlement.rules import PeriodWindow, SubmittedFile, check_withdrawal
from opencass.store.rows import utc_stamp
from opencass.store.withdrawals import (
    Withdrawn,
    close_started,
    file_exists,
    file_facts,
    file_sha256,
    files_with_sha256,
    withdraw_file,
)

__all__ = ["withdraw"]

#: Closes after which a period's billing is frozen even before its cut-off (an early close).
FREEZING_CLOSES = ("preliminary", "final")


def _submitted(conn: sqlite3.Connection, file_id: str) -> SubmittedFile | None:
    facts = file_facts(conn, file_id)
    if facts is None:
        return None
    return SubmittedFile(
        file_id=facts.file_id,
        company=facts.company,
        sandbox=facts.sandbox,
        booked=facts.booked,
        withdrawn=facts.withdrawn,
        country=facts.country,
        period=facts.period,
    )


def find_target(
    conn: sqlite3.Connection, request: WithdrawalRequest, company: str
) -> SubmittedFile | None:
    """The file a request names (None when there is none, or id and SHA-256 disagree)."""
    if request.file_id is not None:
        found = file_sha256(conn, request.file_id)
        if found is None or (request.sha256 is not None and found != request.sha256):
            return None
        return _submitted(conn, request.file_id)
    candidates = [
        _submitted(conn, f) for f in files_with_sha256(conn, company, request.sha256 or "")
    ]
    files = [c for c in candidates if c is not None]
    booked = [f for f in files if f.booked and not f.withdrawn]
    chosen = booked or files
    return chosen[0] if chosen else None


def _exists(conn: sqlite3.Connection, file_id: str | None) -> bool:
    return file_id is not None and file_exists(conn, file_id)


def _window(config: Config, target: SubmittedFile) -> PeriodWindow | None:
    for p in config.calendars.get(target.country or "", ()):
        if p.code == target.period:
            return PeriodWindow(p.code, p.billing_from, p.billing_to, p.upload_cutoff)
    return None


def _closed(conn: sqlite3.Connection, target: SubmittedFile) -> bool:
    return close_started(conn, target.country or "", target.period or "", FREEZING_CLOSES)


def withdraw(ctx: MessageContext) -> MessageOutcome:
    """Judge a withdrawal request and, when it passes, withdraw the file (module docstring)."""
    try:
        request = decode_withdrawal(ctx.data, max_bytes=ctx.config.gateway.limits.max_xml_bytes)
    except XmlRejectedError as e:
        return MessageOutcome("rejected", list(e.findings))
    conn = ctx.conn
    target = find_target(conn, request, ctx.company)
    if target is None and request.sha256 is not None and _exists(conn, request.file_id):
        mismatch = f"file {request.file_id} does not have SHA-256 {request.sha256}"
        return MessageOutcome("rejected", [finding("WITHDRAWAL_UNKNOWN_FILE", mismatch)])
    window = _window(ctx.config, target) if target is not None else None
    closed = target is not None and _closed(conn, target)
    refusal = check_withdrawal(target, ctx.company, request.named(), ctx.now, window, closed)
    mine = target is not None and target.company == ctx.company
    country = target.country if mine and target is not None else None
    period = target.period if mine and target is not None else None
    if refusal is not None or target is None:
        return MessageOutcome(
            "rejected", [refusal] if refusal else [], country=country, period=period
        )
    done = withdraw_file(
        conn,
        file_id=target.file_id,
        request_id=ctx.file_id,
        company=ctx.company,
        user=ctx.user,
        at=utc_stamp(ctx.now),
        country=target.country,
        period=target.period,
        reason=request.reason,
    )
    withdrawn = _withdrawn(ctx, request, target, done)
    return MessageOutcome(
        "accepted",
        events=[withdrawn],
        counts={"withdrawn_records": done.records},
        country=country,
        period=period,
    )


def _withdrawn(
    ctx: MessageContext, request: WithdrawalRequest, target: SubmittedFile, done: Withdrawn
) -> Event:
    """``withdrawal.done``, for the airline."""
    return event(
        EventType.WITHDRAWAL_DONE,
        target.file_id,
        summary=(
            f"file {target.file_id} withdrawn from {target.country} period {target.period}: "
            f"{done.records} records left the period (request {ctx.file_id})"
        ),
        company=ctx.company,
        country=target.country,
        period=target.period,
        airline_prefix=done.airline_prefix,
        object_kind="file",
        object_ref=target.file_id,
        data={
            "request": ctx.file_id,
            "request_iri": request.about,
            "records": done.records,
            "reason": request.reason,
            "user": ctx.user,
        },
    )


def withdrawal_handlers() -> tuple[MessageHandler, ...]:
    """The withdrawal request."""
    return (MessageHandler(WITHDRAWAL_TAG, "withdrawal", withdraw),)
