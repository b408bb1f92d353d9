"""A notification to a subscriber as ONE Record XML (``api:Notification``): encode and decode.

The gateway tells a subscriber that something happened (a statement is available, a dispute was
answered, a payment is overdue) with one ``api:Notification`` per event and subscriber, IRI
``<base>/notifications/<event id>-<subscriber>``.  The ONE Record part: ``api:hasEventType``
(one member of ``api:NotificationEventType``, e.g. ``LOGISTICS_OBJECT_CREATED`` for a new
statement, ``CHANGE_REQUEST_ACCEPTED`` for an accepted dispute), ``api:hasLogisticsObject`` (the
object concerned, when there is one), ``api:hasLogisticsObjectType`` (its class IRI, an
``xsd:anyURI`` literal) and ``api:isTriggeredBy`` (the action request behind a dispute event).
Then opencass's own event as ``cass:`` terms: ``cass:businessEvent`` (the catalogue name, e.g.
``document.available``), ``cass:eventId`` (the event's number: events are numbered in order),
``cass:issuedAt``, ``cass:companyId`` (the subscriber), ``cass:cassCountry``,
``cass:periodCode``, ``cass:outboxFile`` (the file announced, in the outbox of the company the
event concerns) and ``cass:summary`` (one line of English).

Output is a pure function of the inputs, so a notification written again after a crash has the
same bytes.  Texts are escaped; characters XML 1.0 cannot carry become U+FFFD.  Values the
schema restricts raise ValueError when they do not fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from opencass.codecs.onerecord import rdfxml as rx
from opencass.codecs.onerecord.messages import (
    _COUNTRY,
    _INSTANT,
    _children,
    _escape,
    _iri,
    _optional,
    _parse,
    _rejected,
    _text,
)
from opencass.codecs.onerecord.safe import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH
from opencass.codecs.onerecord.vocab import API, RDF

__all__ = [
    "NOTIFICATION_EVENT_TYPES",
    "NotificationDoc",
    "decode_notification",
    "encode_notification",
    "notification_iri",
]

#: The members of ``api:NotificationEventType`` (ONE Record API 2.3), local names.
NOTIFICATION_EVENT_TYPES = tuple(
    f"{what}_{outcome}"
    for what, outcomes in (
        ("ACCESS_DELEGATION_REQUEST", ("ACCEPTED", "FAILED", "PENDING", "REJECTED", "REVOKED")),
        ("CHANGE_REQUEST", ("ACCEPTED", "FAILED", "PENDING", "REJECTED", "REVOKED")),
        ("LOGISTICS_EVENT", ("RECEIVED",)),
        ("LOGISTICS_OBJECT", ("CREATED", "UPDATED")),
        ("SUBSCRIPTION_REQUEST", ("ACCEPTED", "FAILED", "PENDING", "REJECTED", "REVOKED")),
        ("VERIFICATION_REQUEST", ("ACKNOWLEDGED", "FAILED", "PENDING", "REJECTED", "REVOKED")),
    )
    for outcome in outcomes
)

NOTIFICATION = "api:Notification"
_PREFIXES = ("rdf", "api", "cass")
_RES = "{" + RDF + "}resource"
_ANY_URI = ' rdf:datatype="http://www.w3.org/2001/XMLSchema#anyURI"'
_EVENT_NAME = re.compile("[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+")
_MAX_ID = 10**18


@dataclass(frozen=True, slots=True)
class NotificationDoc:
    """One event told to one subscriber."""

    event_id: int  # the gateway's event number (positive)
    business_event: str  # opencass catalogue name, e.g. "document.available"
    event_type: str  # api:NotificationEventType member, e.g. "LOGISTICS_OBJECT_CREATED"
    summary: str
    issued_at: str  # ISO 8601 with offset
    company: str  # the subscriber's company id
    logistics_object: str | None = None  # IRI of the object concerned
    logistics_object_type: str | None = None  # its class IRI, e.g. cargo#ExternalReference
    triggered_by: str | None = None  # IRI of the action request (a dispute)
    country: str | None = None
    period: str | None = None
    document: str | None = None  # the file announced


def notification_iri(base_iri: str, event_id: int, company: str) -> str:
    """The IRI of a notification: ``<base>/notifications/<event id>-<subscriber>``."""
    base = _iri(base_iri, "base IRI").rstrip("/")
    return f"{base}/notifications/{event_id}-{quote(company, safe='')}"


def _check(doc: NotificationDoc) -> None:
    if not isinstance(doc.event_id, int) or not 0 < doc.event_id < _MAX_ID:
        raise ValueError(f"event id {doc.event_id!r} is not a positive integer")
    if doc.event_type not in NOTIFICATION_EVENT_TYPES:
        raise ValueError(f"{doc.event_type!r} is not an api:NotificationEventType member")
    if not _EVENT_NAME.fullmatch(doc.business_event):
        raise ValueError(f"business event {doc.business_event!r} is not a catalogue name")
    if not _INSTANT.fullmatch(doc.issued_at):
        raise ValueError(f"issued-at {doc.issued_at!r} is not a date-time with offset")
    datetime.fromisoformat(doc.issued_at)
    if doc.country is not None and not _COUNTRY.fullmatch(doc.country):
        raise ValueError(f"CASS country {doc.country!r} does not fit the schema")
    for iri, what in (
        (doc.logistics_object, "logistics object"),
        (doc.logistics_object_type, "logistics object type"),
        (doc.triggered_by, "triggering request"),
    ):
        if iri is not None:
            _iri(iri, what)


def encode_notification(doc: NotificationDoc, *, base_iri: str) -> bytes:
    """The ``api:Notification`` (UTF-8 RDF/XML), deterministic and valid against the XSD."""
    _check(doc)
    out = [rx.link("api:hasEventType", API + doc.event_type)]
    if doc.logistics_object is not None:
        out.append(rx.link("api:hasLogisticsObject", doc.logistics_object))
    if doc.logistics_object_type is not None:
        typ = rx.escape_text(doc.logistics_object_type)
        out.append(f"<api:hasLogisticsObjectType{_ANY_URI}>{typ}</api:hasLogisticsObjectType>")
    if doc.triggered_by is not None:
        out.append(rx.link("api:isTriggeredBy", doc.triggered_by))
    out += [
        f"<cass:businessEvent>{doc.business_event}</cass:businessEvent>",
        rx.integer("cass:eventId", doc.event_id),
        f"<cass:issuedAt{rx.DT_DATETIME}>{doc.issued_at}</cass:issuedAt>",
        f"<cass:companyId>{_escape(doc.company)}</cass:companyId>",
    ]
    if doc.country is not None:
        out.append(f"<cass:cassCountry>{_escape(doc.country)}</cass:cassCountry>")
    if doc.period is not None:
        out.append(f"<cass:periodCode>{_escape(doc.period)}</cass:periodCode>")
    if doc.document is not None:
        out.append(f"<cass:outboxFile>{_escape(doc.document)}</cass:outboxFile>")
    out.append(f"<cass:summary>{_escape(doc.summary)}</cass:summary>")
    about = notification_iri(base_iri, doc.event_id, doc.company)
    text = rx.root_start(NOTIFICATION, about, _PREFIXES) + "\n".join(out) + "\n"
    return (text + rx.root_end(NOTIFICATION)).encode("utf-8")


def _link(props: dict[str, Any], name: str) -> str | None:
    el = props.get(name)
    return None if el is None else str(el.get(_RES))


def decode_notification(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> NotificationDoc:
    """The notification of an ``api:Notification``; XmlRejectedError when invalid."""
    root = _parse(data, NOTIFICATION, max_bytes, max_depth)
    p = _children(root)
    event_type = str(p["hasEventType"].get(_RES))[len(API) :]
    business = _text(p["businessEvent"])
    if not _EVENT_NAME.fullmatch(business):
        raise _rejected(
            "XML_VALUE_INVALID", f"{business!r} is not an event name", p["businessEvent"].sourceline
        )
    return NotificationDoc(
        event_id=int(_text(p["eventId"])),
        business_event=business,
        event_type=event_type,
        summary=_text(p["summary"]),
        issued_at=_text(p["issuedAt"]),
        company=_text(p["companyId"]),
        logistics_object=_link(p, "hasLogisticsObject"),
        logistics_object_type=_optional(p, "hasLogisticsObjectType"),
        triggered_by=_link(p, "isTriggeredBy"),
        country=_optional(p, "cassCountry"),
        period=_optional(p, "periodCode"),
        document=_optional(p, "outboxFile"),
    )
