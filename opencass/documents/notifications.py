"""The notification files of an event: the ONE Record notification XML and the one-line text
summary.  ``render`` is a pure function of the event and the subscriber, so a delivery repeated
after a crash writes the same bytes under the same name (``opencass.outbox.notify`` plans who
gets which).

ONE Record event types (``api:hasEventType``): a new document is ``LOGISTICS_OBJECT_CREATED``; a
file's outcome, a withdrawal or a calendar change update an object (``LOGISTICS_OBJECT_UPDATED``);
a dispute follows its request (``CHANGE_REQUEST_PENDING`` when opened or escalated,
``_ACCEPTED``/``_REJECTED`` when answered, ``_REVOKED``; the ``VERIFICATION_REQUEST_*`` members
for a verification request, ``ACKNOWLEDGED`` for accepted); what happens *to* an object without
changing it (a period closed, payments, a default, a reminder) is ``LOGISTICS_EVENT_RECEIVED``.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from opencass.codecs.onerecord.mapping import Iris
from opencass.codecs.onerecord.messages import submission_iri
from opencass.codecs.onerecord.notification import NotificationDoc, encode_notification
from opencass.events import Event, EventType
from opencass.store.events import StoredEvent

__all__ = ["event_type", "notification_doc", "render"]

_CARGO = "https://onerecord.iata.org/ns/cargo#"
_IRI = re.compile(r"(https?://|urn:)[^\s<>\"{}|\\^`]+")
_PREFIX, _SERIAL = re.compile("[0-9]{3}"), re.compile("[0-9]{8}")
_EXTERNAL_REFERENCE, _WAYBILL = _CARGO + "ExternalReference", _CARGO + "Waybill"
_CREATED, _UPDATED = "LOGISTICS_OBJECT_CREATED", "LOGISTICS_OBJECT_UPDATED"
_HAPPENED = "LOGISTICS_EVENT_RECEIVED"
_ONE_RECORD = {
    EventType.FILE_ACCEPTED: _UPDATED,
    EventType.FILE_PARTIALLY_ACCEPTED: _UPDATED,
    EventType.FILE_REJECTED: _UPDATED,
    EventType.FILE_DUPLICATE: _UPDATED,
    EventType.DOCUMENT_AVAILABLE: _CREATED,
    EventType.WITHDRAWAL_DONE: _UPDATED,
    EventType.CALENDAR_CHANGED: _UPDATED,
    EventType.DISPUTE_OPENED: "CHANGE_REQUEST_PENDING",
    EventType.DISPUTE_ESCALATED: "CHANGE_REQUEST_PENDING",
    EventType.DISPUTE_REVOKED: "CHANGE_REQUEST_REVOKED",
}
_DISPUTES = frozenset(
    {
        EventType.DISPUTE_OPENED,
        EventType.DISPUTE_ANSWERED,
        EventType.DISPUTE_ESCALATED,
        EventType.DISPUTE_REVOKED,
    }
)
_ANSWERS = {"accepted": "ACCEPTED", "rejected": "REJECTED", "failed": "FAILED"}


def event_type(event: Event) -> str:
    """The ``api:NotificationEventType`` member of an event (see the module docstring)."""
    if event.type in _DISPUTES:
        found = _ONE_RECORD.get(event.type)
        if found is None:  # answered
            status = str(event.data.get("status", "")).lower()
            found = "CHANGE_REQUEST_" + _ANSWERS.get(status, "FAILED")
        if "verification" in str(event.data.get("kind", "")).lower():
            found = found.replace("CHANGE_REQUEST", "VERIFICATION_REQUEST")
            found = found.replace("_ACCEPTED", "_ACKNOWLEDGED")
        return found
    return _ONE_RECORD.get(event.type, _HAPPENED)


def _logistics_object(event: Event, base: str) -> tuple[str | None, str | None, str | None]:
    """(object IRI, its class IRI, triggering request IRI) of an event, where known."""
    data = event.data
    found = [data.get(k) for k in ("request_iri", "request")]
    request = next((r for r in found if isinstance(r, str) and _IRI.fullmatch(r)), None)
    awb = str(data.get("awb_serial") or data.get("awb") or "")  # "62144154" or "160-62144154"
    prefix, _, serial = awb.rpartition("-")
    prefix = prefix or event.airline_prefix or ""
    if event.type in _DISPUTES and _PREFIX.fullmatch(prefix) and _SERIAL.fullmatch(serial):
        return Iris(base).waybill(prefix, serial), _WAYBILL, request
    if event.object_kind == "file" and event.object_ref:
        return submission_iri(base, event.object_ref), _EXTERNAL_REFERENCE, request
    if event.document and event.company:
        doc = f"{quote(event.company, safe='')}/{quote(event.document, safe='')}"
        return f"{base.rstrip('/')}/documents/{doc}", _EXTERNAL_REFERENCE, request
    return None, None, request


def notification_doc(stored: StoredEvent, subscriber: str, base_iri: str) -> NotificationDoc:
    """What the notification of ``stored`` to ``subscriber`` says."""
    e = stored.event
    lo, lo_type, request = _logistics_object(e, base_iri)
    return NotificationDoc(
        event_id=stored.id,
        business_event=str(e.type),
        event_type=event_type(e),
        summary=e.summary,
        issued_at=stored.at,
        company=subscriber,
        logistics_object=lo,
        logistics_object_type=lo_type,
        triggered_by=request,
        country=e.country,
        period=e.period,
        document=e.document,
    )


def render(stored: StoredEvent, subscriber: str, kind: str, base_iri: str) -> bytes:
    """The bytes of a notification file: ``notification`` (XML) or ``summary`` (one line)."""
    if kind == "summary":
        e = stored.event
        line = " ".join(f"{stored.at} {e.type}: {e.summary}".split())
        return (line + "\n").encode("utf-8")
    return encode_notification(notification_doc(stored, subscriber, base_iri), base_iri=base_iri)
