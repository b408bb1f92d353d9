"""Dispute messages in the inbox: an agent opens or revokes a dispute, the airline answers it.

Theory of operation
-------------------
Both roots (``api:ChangeRequest``, ``api:VerificationRequest``) are handled here, in the worker
process, inside the file's transaction (``opencass.gateway.messages``).  The document is checked
against the XSD and decoded (``opencass.codecs.onerecord.dispute``); then either

- a **request** (it carries ``api:hasChange`` / ``api:hasVerification``) opens a dispute: the
  sender must be an agent company owning the requesting agent code in that country; the period
  must exist, its final close not begun and its Agent Correction Cut-Off not passed; the AWB must
  be booked in that period to one of the sender's codes; amounts in the period currency and
  consistent (``opencass.settlement.disputes``).  The billed amount is netted here from the
  AWB's booked rows (AWB plus corrections), as the close will net it;
- or a **status update** answers (the airline owning the prefix: accepted with the corrected
  amount, or rejected with a comment, until the Airline Correction Response Cut-Off) or revokes
  (the agent company that opened it) the dispute with that request IRI.

Deadlines are judged at the file's arrival time (``files.received_at``), not when a busy worker
gets to it.  Every refusal is one finding with its own code; every change is a row update, one
step of ``dispute_events`` (who, when, what, why) and one business event: ``DISPUTE_OPENED`` to
the airline, ``DISPUTE_ANSWERED`` to the agent, ``DISPUTE_REVOKED`` to the airline.  In the
sandbox the framework rolls the changes back: the sender gets the same verdict, nothing is kept.

Escalation (``escalate_period``) runs as a milestone job of the scheduler: pending disputes of a
period not answered ``DisputePolicy.escalation_days`` after the airline's cut-off are flagged
and each operator company gets ``DISPUTE_ESCALATED``.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from decimal import Decimal

from opencass.billing.messages import MessageContext, MessageHandler, MessageOutcome
from opencass.codecs.onerecord.dispute import (
    DISPUTE_ROOTS,
    DisputeRequest,
    DisputeStatusUpdate,
    decode_root,
)
from opencass.codecs.onerecord.jsonld import XmlRejectedError
from opencass.config.model import Company, CompanyKind, Config, Country, Period
from opencass.events import Event, EventType, event
from opencass.findings import finding
from opencass.settlement.close import collect_items
from opencass.settlement.disputes import (
    DisputeRefused,
    Milestones,
    Status,
    adjustment_period,
    check_amount,
    check_answer_time,
    check_open_time,
    disputed_amount,
    next_status,
)
from opencass.settlement.netting import netting_of
from opencass.settlement.tax import TaxEngine
from opencass.store.disputes import (
    DisputeRow,
    accepted_amounts,
    add_history,
    dispute_by_iri,
    disputes_for,
    final_started,
    insert_dispute,
    received_at,
    update_dispute,
)
from opencass.store.ledger import booked_rows_of_awb

__all__ = [
    "airline_company",
    "billed_amount",
    "handle_dispute",
    "milestones",
    "operator_companies",
]


def milestones(period: Period) -> Milestones:
    """The dispute deadlines of a period."""
    return Milestones(
        period.agent_correction_cutoff, period.airline_response_cutoff, period.billing_available
    )


def billed_amount(
    conn: sqlite3.Connection,
    country: Country,
    period: str,
    prefix: str,
    serial: str,
    tax: TaxEngine | None = None,
) -> tuple[Decimal, set[str]] | None:
    """(what the period bills for the AWB, the agent codes it is billed to), None if unbilled.

    What it bills is its AWB and correction items plus the adjustments of disputes of it
    accepted already, so that a second dispute of the same AWB adjusts from the amount the
    first one left, not from the original."""
    rows = booked_rows_of_awb(conn, country.code, period, prefix, serial)
    items, _written, _unpaired = collect_items(rows, tax)
    if not items:
        return None
    netting = netting_of(country)
    amounts = [netting.amount(i, country.currency) for i in items]
    total = sum((a.amount for a in amounts), Decimal(0))
    for billed, corrected in accepted_amounts(conn, country.code, period, prefix, serial):
        total += Decimal(corrected) - Decimal(billed)
    return total, {a.agent_code for a in amounts}


def airline_company(config: Config, country: str, prefix: str) -> str:
    """The airline company owning ``prefix`` in ``country``, or ""."""
    for cid, c in sorted(config.companies.items()):
        if c.kind is CompanyKind.AIRLINE and prefix in c.airline_prefixes.get(country, ()):
            return cid
    return ""


def operator_companies(config: Config) -> list[str]:
    """The operator companies (they hear of escalations)."""
    return sorted(cid for cid, c in config.companies.items() if c.kind is CompanyKind.OPERATOR)


def _owns_code(company: Company, country: str, code: str) -> bool:
    return any(c == code or c[:7] == code for c in company.agent_codes.get(country, ()))


def _received_at(ctx: MessageContext) -> datetime:
    received = received_at(ctx.conn, ctx.file_id)
    if received is None:
        return ctx.now
    at = datetime.fromisoformat(received)
    return at if at.tzinfo else at.replace(tzinfo=ctx.now.tzinfo)


_refuse = DisputeRefused  # a refusal is raised with its finding code and message


def _period(config: Config, country: str, code: str) -> tuple[Country, Period]:
    c = config.countries.get(country)
    for p in config.calendars.get(country, ()):
        if c is not None and p.code == code:
            return c, p
    raise _refuse("DISPUTE_UNKNOWN_PERIOD", f"no period {code!r} of CASS country {country!r}")


# -- opening ------------------------------------------------------------------------------------


def _billed_to_sender(
    ctx: MessageContext, r: DisputeRequest, country: Country, period: Period
) -> tuple[Decimal, str]:
    """(the AWB's billed amount, the sender's agent code it is billed to), or refused."""
    awb = f"{r.airline_prefix}-{r.awb_serial}"
    tax = TaxEngine.for_config(ctx.config, country, period)
    billed = billed_amount(ctx.conn, country, period.code, r.airline_prefix, r.awb_serial, tax)
    if billed is None:
        raise _refuse("DISPUTE_UNKNOWN_AWB", f"AWB {awb} is not billed in {period.code}")
    amount, agents = billed
    mine = sorted(a for a in agents if a == r.agent_code or a[:7] == r.agent_code)
    if not mine:
        raise _refuse("DISPUTE_NOT_YOUR_AWB", f"AWB {awb} is billed to another agent")
    return amount, mine[0]


def _check_request(
    ctx: MessageContext, r: DisputeRequest, at: datetime
) -> tuple[Country, Period, Decimal, str, Decimal]:
    """(country, period, billed amount, agent code, disputed amount) of an acceptable request;
    DisputeRefused with the first rule it breaks."""
    company = ctx.config.companies.get(ctx.company)
    if company is None or company.kind is not CompanyKind.AGENT:
        raise _refuse("DISPUTE_SENDER_NOT_AGENT", f"{ctx.company} is not an agent company")
    country, period = _period(ctx.config, r.country, r.period)
    if not _owns_code(company, country.code, r.agent_code):
        raise _refuse("DISPUTE_NOT_YOUR_CODE", f"agent code {r.agent_code} is not {ctx.company}'s")
    check_open_time(at, milestones(period))
    if period.code in final_started(ctx.conn, country.code):
        raise _refuse("DISPUTE_PERIOD_FINAL", f"the final billing of {period.code} is issued")
    amount, agent = _billed_to_sender(ctx, r, country, period)
    if r.currency != country.currency:
        raise _refuse("DISPUTE_CURRENCY", f"{r.currency} is not {country.currency}")
    disputed = disputed_amount(amount, r.claimed_amount, r.disputed_amount, country.currency)
    if dispute_by_iri(ctx.conn, r.iri) is not None:
        raise _refuse("DISPUTE_DUPLICATE_ID", f"a dispute {r.iri} exists already")
    key = (r.airline_prefix, r.awb_serial, agent)
    for d in disputes_for(ctx.conn, country.code, period.code, (Status.PENDING,)):
        if (d.airline_prefix, d.awb_serial, d.agent_code) == key:
            raise _refuse("DISPUTE_ALREADY_OPEN", f"dispute {d.request_iri} is open")
    return country, period, amount, agent, disputed


def _open(ctx: MessageContext, r: DisputeRequest, at: datetime) -> MessageOutcome:
    country, period, amount, agent, disputed = _check_request(ctx, r, at)
    airline = airline_company(ctx.config, country.code, r.airline_prefix)
    when = at.isoformat()
    row = DisputeRow(
        id=f"DSP-{ctx.file_id}", request_iri=r.iri, kind=r.kind, file_id=ctx.file_id,
        country=country.code, period=period.code, airline_prefix=r.airline_prefix,
        awb_serial=r.awb_serial, agent_code=agent, agent_company=ctx.company,
        airline_company=airline, currency=country.currency, billed_amount=amount,
        claimed_amount=r.claimed_amount, disputed_amount=disputed, reason=r.reason,
        status=Status.PENDING, opened_at=when, updated_at=when,
    )  # fmt: skip
    insert_dispute(ctx.conn, row)
    claimed = None if r.claimed_amount is None else str(r.claimed_amount)
    add_history(
        ctx.conn, row.id, at=when, company=ctx.company, user=ctx.user, file_id=ctx.file_id,
        action="opened", from_status=None, to_status=Status.PENDING, why=r.reason,
        detail={"billed": str(amount), "claimed": claimed, "disputed": str(disputed)},
    )  # fmt: skip
    opened = event(
        EventType.DISPUTE_OPENED,
        row.id,
        summary=f"agent {agent} disputes AWB {r.airline_prefix}-{r.awb_serial} "
        f"({country.code} {period.code}): {disputed} {country.currency} of {amount}; {r.reason}",
        company=airline or None,
        country=country.code,
        period=period.code,
        airline_prefix=r.airline_prefix,
        agent_code=agent,
        object_kind="dispute",
        object_ref=row.id,
        data=_data(row, kind=r.kind, reason=r.reason),
    )
    counts = {"disputes": 1}
    return MessageOutcome("accepted", [], [opened], counts, country.code, period.code)


def _data(row: DisputeRow, **more: object) -> dict[str, object]:
    return {
        "request": row.request_iri,
        "awb": f"{row.airline_prefix}-{row.awb_serial}",
        "billed": str(row.billed_amount),
        "disputed": str(row.disputed_amount),
        "currency": row.currency,
        **more,
    }


# -- answering and revoking ---------------------------------------------------------------------


def _check_sender(ctx: MessageContext, u: DisputeStatusUpdate) -> tuple[DisputeRow, Status]:
    """The dispute an update concerns and the status it asks for, when the sender may."""
    row = dispute_by_iri(ctx.conn, u.iri)
    if row is None:
        raise _refuse("DISPUTE_UNKNOWN", f"no dispute {u.iri}")
    if row.kind != u.kind:
        raise _refuse("DISPUTE_KIND_MISMATCH", f"dispute {u.iri} is a {row.kind} request")
    wanted = Status(u.status)
    if wanted is Status.REVOKED:
        owner, who = row.agent_company, "the agent revokes"
    else:
        owner = airline_company(ctx.config, row.country, row.airline_prefix)
        who = "the airline answers"
    if ctx.company != owner:
        raise _refuse("DISPUTE_NOT_YOUR_DISPUTE", f"only {who} dispute {u.iri}")
    next_status(Status(row.status), wanted)
    return row, wanted


def _acceptance(
    ctx: MessageContext, u: DisputeStatusUpdate, row: DisputeRow, period: Period, at: datetime
) -> tuple[Decimal, str]:
    """(the corrected amount, the period whose final billing carries the adjustment)."""
    corrected = u.corrected_amount if u.corrected_amount is not None else row.claimed_amount
    if corrected is None:
        raise _refuse("DISPUTE_ANSWER_INCOMPLETE", "an acceptance states the corrected amount")
    if u.corrected_amount is not None and u.currency != row.currency:
        raise _refuse("DISPUTE_CURRENCY", f"{u.currency} is not {row.currency}")
    check_amount(corrected, row.currency, "the corrected amount")
    periods = ctx.config.calendars[row.country]
    later = [p.code for p in periods if p.billing_from > period.billing_to]
    started = final_started(ctx.conn, row.country)
    target = adjustment_period(at, row.period, milestones(period), later, started)
    if target is None:
        raise _refuse("DISPUTE_NO_PERIOD", f"no period of {row.country} is left to carry it")
    return corrected, target


def _answer(ctx: MessageContext, u: DisputeStatusUpdate, at: datetime) -> MessageOutcome:
    row, wanted = _check_sender(ctx, u)
    country, period = _period(ctx.config, row.country, row.period)
    when = at.isoformat()
    changes: dict[str, object] = {"status": wanted.value, "answered_at": when}
    corrected: Decimal | None = None
    if wanted is not Status.REVOKED:
        check_answer_time(at, milestones(period))
    if wanted is Status.ACCEPTED:
        corrected, target = _acceptance(ctx, u, row, period, at)
        changes |= {"corrected_amount": corrected, "adjust_period": target}
    if wanted is Status.REJECTED and not u.comment:
        raise _refuse("DISPUTE_ANSWER_INCOMPLETE", "a rejection states a comment")
    changes["comment"] = u.comment
    if not update_dispute(ctx.conn, row.id, row.status, when, **changes):
        raise _refuse("DISPUTE_ALREADY_ANSWERED", f"dispute {u.iri} changed meanwhile")
    detail = {
        "corrected": None if corrected is None else str(corrected),
        "adjust_period": changes.get("adjust_period"),
    }
    add_history(
        ctx.conn, row.id, at=when, company=ctx.company, user=ctx.user, file_id=ctx.file_id,
        action=wanted.short, from_status=row.status, to_status=wanted, why=u.comment,
        detail=detail,
    )  # fmt: skip
    answered = _answer_event(row, wanted, corrected, changes, u.comment)
    counts = {"disputes": 1}
    return MessageOutcome("accepted", [], [answered], counts, country.code, period.code)


def _answer_event(
    row: DisputeRow,
    status: Status,
    corrected: Decimal | None,
    changes: dict[str, object],
    comment: str,
) -> Event:
    awb = f"{row.airline_prefix}-{row.awb_serial}"
    if status is Status.REVOKED:
        kind, company = EventType.DISPUTE_REVOKED, row.airline_company or None
        summary = f"agent {row.agent_code} revoked its dispute of AWB {awb}"
    else:
        kind, company = EventType.DISPUTE_ANSWERED, row.agent_company
        summary = f"airline {row.airline_prefix} {status.short} the dispute of AWB {awb}"
        if corrected is not None:
            summary += (
                f": corrected {corrected} {row.currency} (adjustment "
                f"{corrected - row.billed_amount}, period {changes.get('adjust_period')})"
            )
        elif comment:
            summary += f": {comment}"
    return event(
        kind,
        row.id,
        summary=summary,
        company=company,
        country=row.country,
        period=row.period,
        airline_prefix=row.airline_prefix,
        agent_code=row.agent_code,
        object_kind="dispute",
        object_ref=row.id,
        data=_data(
            row,
            status=status.short,
            corrected=None if corrected is None else str(corrected),
            adjustment=None if corrected is None else str(corrected - row.billed_amount),
            adjust_period=changes.get("adjust_period"),
            comment=comment,
        ),
    )


# -- the handler ---------------------------------------------------------------------------------


def handle_dispute(ctx: MessageContext) -> MessageOutcome:
    """Open, answer or revoke a dispute (see the module docstring)."""
    try:
        message = decode_root(ctx.root)
    except XmlRejectedError as e:
        return MessageOutcome("rejected", list(e.findings))
    at = _received_at(ctx)
    try:
        if isinstance(message, DisputeRequest):
            return _open(ctx, message, at)
        return _answer(ctx, message, at)
    except DisputeRefused as r:
        return MessageOutcome("rejected", [finding(r.code, r.message)])


def dispute_handlers() -> tuple[MessageHandler, ...]:
    """Dispute requests and their answers, one handler for every root element."""
    return tuple(MessageHandler(root, "dispute", handle_dispute) for root in DISPUTE_ROOTS)
