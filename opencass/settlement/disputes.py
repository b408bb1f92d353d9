"""Disputes: the state machine, the deadlines and the money of an agent's dispute of a billed item.

Theory of operation
-------------------
An agent disputes one billed AWB of one CASS country and period (ONE Record ``api:ChangeRequest``
with the amount it believes correct, or ``api:VerificationRequest`` with a reason).  A dispute
is a request with a status from ONE Record's ``api:RequestStatus``:

    REQUEST_PENDING --airline accepts--> REQUEST_ACCEPTED    (terminal)
                    --airline rejects--> REQUEST_REJECTED    (terminal)
                    --agent revokes----> REQUEST_REVOKED     (terminal)

Escalation is a flag on a pending dispute, not a status: the operator is alerted and the dispute
stays open for the airline.  A step from a terminal status is refused (``DISPUTE_ALREADY_
ANSWERED``), as is a status the protocol never moves to (``DISPUTE_STATUS_INVALID``).

Deadlines (the period's milestones, aware datetimes): an agent may open a dispute up to and
including the Agent Correction Cut-Off; the airline may answer up to and including the Airline
Correction Response Cut-Off; a pending dispute is escalated ``escalation_days`` after that.

Money, in the period currency, whole minor units:

- ``billed`` is what the period bills for the AWB (its AWB item plus its correction items);
- ``claimed`` is what the agent believes correct (a change request), unknown for a verification;
- ``disputed`` = ``billed − claimed``: the part of the bill the agent contests (what it may
  withhold where the country allows it).  A change request that states both must agree;
- an accepted dispute carries the airline's ``corrected`` amount (for a change request, the
  agent's claim unless the airline says otherwise) and becomes an ``Adjustment`` of
  ``corrected − billed`` between the agent and the airline.

Where the adjustment lands: in the final billing of the disputed period when accepted before its
Billing Availability and before its final close started; otherwise in the next period of the
country whose final close has not started.  So a close that has begun never gains an item.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from opencass.errors import InputError
from opencass.model import quantize
from opencass.settlement.netting import Adjustment

__all__ = [
    "DisputeRefused",
    "Milestones",
    "Status",
    "adjustment",
    "adjustment_period",
    "check_amount",
    "check_answer_time",
    "check_open_time",
    "disputed_amount",
    "escalation_due",
    "next_status",
]


class Status(enum.StrEnum):
    """ONE Record ``api:RequestStatus`` members a dispute takes."""

    PENDING = "REQUEST_PENDING"
    ACCEPTED = "REQUEST_ACCEPTED"
    REJECTED = "REQUEST_REJECTED"
    REVOKED = "REQUEST_REVOKED"

    @property
    def short(self) -> str:
        """``accepted`` for REQUEST_ACCEPTED (event data, reports)."""
        return self.value.removeprefix("REQUEST_").lower()


class DisputeRefused(InputError):  # noqa: N818 - a verdict, answered with its finding code
    """A dispute step the rules refuse; ``code`` is a finding code of the catalogue."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Milestones:
    """The deadlines of the disputed period (aware datetimes)."""

    agent_cutoff: datetime
    airline_cutoff: datetime
    billing_available: datetime


_MOVES = {
    (Status.PENDING, Status.ACCEPTED),
    (Status.PENDING, Status.REJECTED),
    (Status.PENDING, Status.REVOKED),
}


def next_status(current: Status, wanted: Status) -> Status:
    """``wanted`` when the step from ``current`` is allowed; DisputeRefused otherwise."""
    if wanted is Status.PENDING:
        raise DisputeRefused("DISPUTE_STATUS_INVALID", "a dispute cannot be set back to pending")
    if (current, wanted) not in _MOVES:
        raise DisputeRefused(
            "DISPUTE_ALREADY_ANSWERED", f"the dispute is {current.short}; it cannot become "
            f"{wanted.short}",
        )  # fmt: skip
    return wanted


def check_open_time(now: datetime, m: Milestones) -> None:
    """Refuse a new dispute after the Agent Correction Cut-Off."""
    if now > m.agent_cutoff:
        raise DisputeRefused(
            "DISPUTE_AFTER_CUTOFF",
            f"the Agent Correction Cut-Off was {m.agent_cutoff.isoformat()}",
        )


def check_answer_time(now: datetime, m: Milestones) -> None:
    """Refuse an airline's answer after the Airline Correction Response Cut-Off."""
    if now > m.airline_cutoff:
        raise DisputeRefused(
            "DISPUTE_ANSWER_AFTER_CUTOFF",
            f"the Airline Correction Response Cut-Off was {m.airline_cutoff.isoformat()}",
        )


def escalation_due(m: Milestones, escalation_days: int) -> datetime:
    """When an unanswered dispute of the period goes to the operator."""
    return m.airline_cutoff + timedelta(days=escalation_days)


def check_amount(amount: Decimal, currency: str, what: str) -> Decimal:
    """``amount`` when finite and in whole minor units of ``currency``; DisputeRefused else."""
    if not amount.is_finite() or quantize(amount, currency) != amount:
        raise DisputeRefused(
            "DISPUTE_AMOUNT_INVALID", f"{what} {amount} is not a whole number of {currency} units"
        )
    return amount


def disputed_amount(
    billed: Decimal, claimed: Decimal | None, stated: Decimal, currency: str
) -> Decimal:
    """The amount in dispute: ``stated`` (the message's ``cass:disputedAmount``), checked.

    It must be non-zero, and equal ``billed − claimed`` when the agent states a claim."""
    check_amount(stated, currency, "the disputed amount")
    if stated == 0:
        raise DisputeRefused("DISPUTE_AMOUNT_INVALID", "the disputed amount is zero")
    if claimed is not None:
        check_amount(claimed, currency, "the corrected amount")
        if billed - claimed != stated:
            raise DisputeRefused(
                "DISPUTE_AMOUNT_MISMATCH",
                f"billed {billed} − corrected {claimed} = {billed - claimed}, "
                f"but the disputed amount is {stated}",
            )
    return stated


def adjustment(
    airline_prefix: str, agent_code: str, billed: Decimal, corrected: Decimal, reference: str
) -> Adjustment:
    """The netting item of an accepted dispute: ``corrected − billed`` due airline."""
    return Adjustment(airline_prefix, agent_code, corrected - billed, reference)


def adjustment_period(
    accepted_at: datetime,
    period: str,
    m: Milestones,
    later_periods: Sequence[str],
    final_started: frozenset[str],
) -> str | None:
    """The period whose final billing carries an accepted dispute (see the module docstring).

    ``later_periods`` are the country's period codes after ``period``, in order;
    ``final_started`` the codes whose final close has begun.  None when no period is left."""
    if accepted_at < m.billing_available and period not in final_started:
        return period
    for code in later_periods:
        if code not in final_started:
            return code
    return None
