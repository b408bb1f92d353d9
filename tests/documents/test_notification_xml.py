"""The notification (``api:Notification``): XSD-valid, ONE Record terms, lossless round trip."""

from __future__ import annotations

import dataclasses

import pytest
from lxml import etree
from rdflib import OWL, RDF, Graph, URIRef
from rdflib.collection import Collection

from opencass.codecs.onerecord import XmlRejectedError, load_schema, load_terms
from opencass.codecs.onerecord.notification import (
    NOTIFICATION_EVENT_TYPES,
    NotificationDoc,
    decode_notification,
    encode_notification,
)
from opencass.documents.notifications import event_type, notification_doc, render
from opencass.events import Event, EventType
from opencass.store.events import StoredEvent
from tests.kit import REPO

API = "https://onerecord.iata.org/ns/api#"
CASS = "https://w3id.org/opencass/ns/billing#"
BASE = "https://gw.example"
ONTOLOGY = REPO.parent / "shared/reference/onerecord/ONE-Record-API-Ontology.ttl"

FULL = NotificationDoc(
    event_id=42,
    business_event="dispute.answered",
    event_type="CHANGE_REQUEST_ACCEPTED",
    summary="dispute D1 on 160-62144154 accepted: 12.50 EUR <credit> & more",
    issued_at="2026-11-22T00:36:10.123456+00:00",
    company="agent1",
    logistics_object=f"{BASE}/logistics-objects/waybill-160-62144154",
    logistics_object_type="https://onerecord.iata.org/ns/cargo#Waybill",
    triggered_by=f"{BASE}/requests/d1",
    country="DE",
    period="20261101M",
    document="20261122T003610Z_dispute_D1.xml",
)
MINIMAL = NotificationDoc(
    7, "period.closed", "LOGISTICS_EVENT_RECEIVED", "closed", FULL.issued_at, "x"
)


@pytest.mark.parametrize("doc", [FULL, MINIMAL], ids=["full", "minimal"])
def test_round_trip_and_schema(doc: NotificationDoc) -> None:
    data = encode_notification(doc, base_iri=BASE)
    assert load_schema()(etree.fromstring(data))
    assert decode_notification(data) == doc
    assert encode_notification(doc, base_iri=BASE) == data  # deterministic


def test_the_rdf_uses_one_record_api_terms_and_declared_cass_terms() -> None:
    graph = Graph().parse(data=encode_notification(FULL, base_iri=BASE), format="xml")
    node = URIRef(f"{BASE}/notifications/42-agent1")
    assert (node, RDF.type, URIRef(API + "Notification")) in graph
    assert (node, URIRef(API + "hasEventType"), URIRef(API + "CHANGE_REQUEST_ACCEPTED")) in graph
    terms = load_terms()["api"]
    used = {str(p) for p in graph.predicates() if str(p).startswith(API)}
    assert used == {API + p for p in ("hasEventType", "hasLogisticsObject",
                                      "hasLogisticsObjectType", "isTriggeredBy")}  # fmt: skip
    assert used <= set(terms["properties"])  # type: ignore[arg-type]
    assert API + "Notification" in terms["classes"]  # type: ignore[operator]
    assert {API + t for t in NOTIFICATION_EVENT_TYPES} <= set(terms["individuals"])  # type: ignore[arg-type]
    cass = {str(p) for p in graph.predicates() if str(p).startswith(CASS)}
    assert CASS + "summary" in cass and CASS + "businessEvent" in cass


@pytest.mark.skipif(not ONTOLOGY.is_file(), reason="ONE Record ontologies not next to the repo")
def test_the_event_types_are_exactly_the_ontologys_notification_event_types() -> None:
    graph = Graph().parse(ONTOLOGY, format="turtle")
    cls = URIRef(API + "NotificationEventType")
    (equivalent,) = graph.objects(cls, OWL.equivalentClass)
    members = Collection(graph, graph.value(equivalent, OWL.oneOf))
    assert {str(m)[len(API) :] for m in members} == set(NOTIFICATION_EVENT_TYPES)
    typed = {str(s)[len(API) :] for s in graph.subjects(RDF.type, cls)}
    assert set(NOTIFICATION_EVENT_TYPES) <= typed


def test_invalid_values_are_refused_both_ways() -> None:
    with pytest.raises(ValueError, match="NotificationEventType"):
        encode_notification(
            NotificationDoc(1, "a.b", "STATEMENT_READY", "s", FULL.issued_at, "x"), base_iri=BASE
        )
    with pytest.raises(ValueError, match="positive"):
        encode_notification(dataclasses.replace(MINIMAL, event_id=0), base_iri=BASE)
    data = encode_notification(MINIMAL, base_iri=BASE)
    bad = data.replace(b"LOGISTICS_EVENT_RECEIVED", b"SOMETHING_ELSE")
    with pytest.raises(XmlRejectedError) as caught:
        decode_notification(bad)
    assert [f.code for f in caught.value.findings] == ["XML_SCHEMA_INVALID"]
    with pytest.raises(XmlRejectedError):
        decode_notification(data.replace(b"<cass:summary>", b"<cass:summary><x/>"))


@pytest.mark.parametrize(
    ("type_", "data", "expected"),
    [
        (EventType.DOCUMENT_AVAILABLE, {}, "LOGISTICS_OBJECT_CREATED"),
        (EventType.FILE_REJECTED, {}, "LOGISTICS_OBJECT_UPDATED"),
        (EventType.DISPUTE_OPENED, {}, "CHANGE_REQUEST_PENDING"),
        (EventType.DISPUTE_ANSWERED, {"status": "accepted"}, "CHANGE_REQUEST_ACCEPTED"),
        (EventType.DISPUTE_ANSWERED, {"status": "rejected"}, "CHANGE_REQUEST_REJECTED"),
        (
            EventType.DISPUTE_ANSWERED,
            {"status": "accepted", "kind": "verification"},
            "VERIFICATION_REQUEST_ACKNOWLEDGED",
        ),
        (EventType.DISPUTE_REVOKED, {}, "CHANGE_REQUEST_REVOKED"),
        (EventType.PAYMENT_OVERDUE, {}, "LOGISTICS_EVENT_RECEIVED"),
        (EventType.PERIOD_CLOSED, {}, "LOGISTICS_EVENT_RECEIVED"),
    ],
)
def test_events_map_to_one_record_event_types(
    type_: EventType, data: dict[str, str], expected: str
) -> None:
    assert event_type(Event(type_, "k", "s", data=data)) == expected
    assert expected in NOTIFICATION_EVENT_TYPES


def test_a_document_event_renders_a_valid_notification_and_a_summary_line() -> None:
    stored = StoredEvent(
        9,
        "2026-11-22T00:36:10.000001+00:00",
        Event(
            EventType.DOCUMENT_AVAILABLE,
            "document:agent1:s.xml",
            "final statement (xml)\nfor 23470068510",
            company="agent1",
            country="DE",
            period="20261101M",
            object_kind="statement",
            document="s.xml",
        ),
    )
    doc = decode_notification(render(stored, "agent1", "notification", BASE))
    assert doc == notification_doc(stored, "agent1", BASE)
    assert doc.logistics_object == f"{BASE}/documents/agent1/s.xml"
    assert doc.event_type == "LOGISTICS_OBJECT_CREATED" and doc.document == "s.xml"
    line = render(stored, "agent1", "summary", BASE).decode()
    assert line.count("\n") == 1 and "document.available: final statement (xml) for" in line


def test_a_dispute_answer_points_at_the_waybill_and_the_change_request() -> None:
    stored = StoredEvent(
        11,
        "2026-11-22T00:36:10+00:00",
        Event(
            EventType.DISPUTE_ANSWERED,
            "dispute.answered:DSP-F1",
            "airline 160 accepted the dispute of AWB 160-62144154",
            company="agent1",
            country="DE",
            period="20261101M",
            airline_prefix="160",
            agent_code="23470068510",
            object_kind="dispute",
            object_ref="DSP-F1",
            data={"request": f"{BASE}/requests/r1", "awb": "160-62144154", "status": "accepted"},
        ),
    )
    doc = decode_notification(render(stored, "agent1", "notification", BASE))
    assert doc.event_type == "CHANGE_REQUEST_ACCEPTED"
    assert doc.logistics_object == f"{BASE}/logistics-objects/waybill-160-62144154"
    assert doc.logistics_object_type == "https://onerecord.iata.org/ns/cargo#Waybill"
    assert doc.triggered_by == f"{BASE}/requests/r1"
    request = {"request": "F2", "request_iri": "urn:uuid:1"}
    withdrawal = Event(EventType.WITHDRAWAL_DONE, "w", "s", company="air", object_kind="file",
                       object_ref="F1", data=request)  # fmt: skip
    doc = notification_doc(StoredEvent(12, stored.at, withdrawal), "air", BASE)
    assert doc.logistics_object == f"{BASE}/submissions/F1" and doc.triggered_by == "urn:uuid:1"
