"""Business events: what happened, for whom; the outbox turns them into notifications.

Theory of operation
-------------------
Whatever changes the ledger or publishes a document records an ``Event`` in the store's
``events`` table, in the same transaction as the change where it can (a "transactional outbox"):
an event exists exactly when its cause does.  Each event has a ``key`` that names its cause
(``file.accepted:F20261122…``); recording the same key twice keeps the first, so a step repeated
after a crash never notifies twice.  The outbox (``opencass.outbox``) reads events in ``id``
order, applies each company's subscription rules and delivers notifications and documents.

Build events with ``event(type, *cause, summary=…)``: the key is the type and the parts of the
cause, joined by colons, the one convention every step follows.

``company`` is the addressee the event concerns first (the submitter of a file, the agent of a
statement, the airline of a dispute); subscription rules may widen that (an operator watching
every dispute).  Events without an addressee (a calendar change, a period closed) concern every
participant of ``country``.

Stdlib only: every layer may build events.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "EventType", "event"]


class EventType(enum.StrEnum):
    """The catalogue of event types (stable strings: they are stored and subscribed to)."""

    FILE_ACCEPTED = "file.accepted"
    FILE_PARTIALLY_ACCEPTED = "file.partially_accepted"
    FILE_REJECTED = "file.rejected"
    FILE_DUPLICATE = "file.duplicate"
    DOCUMENT_AVAILABLE = "document.available"  # data: kind (statement, handoff, invoice, ...)
    PERIOD_CLOSED = "period.closed"  # data: stage (preliminary | final)
    DISPUTE_OPENED = "dispute.opened"
    DISPUTE_ANSWERED = "dispute.answered"  # data: status (accepted | rejected)
    DISPUTE_ESCALATED = "dispute.escalated"
    DISPUTE_REVOKED = "dispute.revoked"
    WITHDRAWAL_DONE = "withdrawal.done"
    CALENDAR_CHANGED = "calendar.changed"
    PAYMENT_RECEIVED = "payment.received"
    PAYMENT_OVERDUE = "payment.overdue"
    PAYMENT_IRREGULARITY = "payment.irregularity"
    AGENT_DEFAULT = "agent.default"
    AGENT_REINSTATED = "agent.reinstated"  # a default lifted by the operator
    PAYMENT_RETURNED = "payment.returned"  # a collected or received payment came back
    RISK_ALERT = "risk.alert"  # data: level (50, 75, 100, security), exposure, capacity
    DOCUMENT_NOT_COLLECTED = "document.not_collected"


@dataclass(frozen=True, slots=True)
class Event:
    """One business event (see the module docstring)."""

    type: EventType
    key: str  # unique cause: recording the same key again is a no-op
    summary: str  # one line of English for people and logs
    company: str | None = None  # the addressee
    country: str | None = None
    period: str | None = None
    airline_prefix: str | None = None
    agent_code: str | None = None
    object_kind: str | None = None  # file, statement, handoff, invoice, dispute, payment, ...
    object_ref: str | None = None  # file id, dispute id, ... (an IRI is built from it)
    document: str | None = None  # a file name in ``company``'s outbox, when it is about one
    data: dict[str, Any] = field(default_factory=dict)

    def data_json(self) -> str:
        """``data`` as canonical JSON (sorted keys)."""
        return json.dumps(self.data, sort_keys=True, default=str)


# The key of a new document names it "document:…" (the first convention, kept: keys recorded in
# existing stores must keep matching their causes).
_KEY_PREFIX = {EventType.DOCUMENT_AVAILABLE: "document"}


def event(type: EventType, *cause: object, summary: str, **fields: Any) -> Event:
    """An event whose key is ``<type>:<cause>:<cause>…`` (see the module docstring)."""
    key = ":".join([_KEY_PREFIX.get(type, str(type)), *(str(c) for c in cause)])
    return Event(type=type, key=key, summary=summary, **fields)
