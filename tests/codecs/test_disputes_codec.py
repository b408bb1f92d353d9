"""The dispute messages as ONE Record XML: round trips, refusals, ontology conformance, the
examples of docs/formats.md; and the pure rules of ``opencass.settlement.disputes``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from rdflib import RDF, Graph, URIRef

from opencass.codecs.onerecord import XmlRejectedError, load_terms
from opencass.codecs.onerecord.dispute import (
    DisputeRequest,
    DisputeStatusUpdate,
    decode_dispute,
    encode_dispute,
)
from opencass.settlement.disputes import (
    DisputeRefused,
    Milestones,
    Status,
    adjustment,
    adjustment_period,
    check_answer_time,
    check_open_time,
    disputed_amount,
    escalation_due,
    next_status,
)
from tests.kit import REPO
from tests.kit.docs import dispute_examples

API = "https://onerecord.iata.org/ns/api#"
CARGO = "https://onerecord.iata.org/ns/cargo#"
CASS = "https://w3id.org/opencass/ns/billing#"
BASE = "https://gw.example"

CHANGE = DisputeRequest(
    iri="urn:uuid:00000000-0000-4000-8000-000000000001", kind="change", agent_code="23470068510",
    requested_at="2026-12-06T09:30:00.5+01:00", country="DE", period="20261101M",
    airline_prefix="997", awb_serial="62144154", reason="rate <wrong> & too high",
    currency="EUR", disputed_amount=Decimal("-0.50"), claimed_amount=Decimal("3351.140"),
)  # fmt: skip
VERIFICATION = DisputeRequest(
    iri="urn:x:v", kind="verification", agent_code="2347006", requested_at="2026-12-06T09:30:00Z",
    country="DE", period="20261101M", airline_prefix="997", awb_serial="10000023",
    reason="not ours", currency="JPY", disputed_amount=Decimal("100"),
)  # fmt: skip
UPDATES = [
    DisputeStatusUpdate("urn:x:v", "verification", "REQUEST_ACCEPTED", "2026-12-12T00:00:00Z",
                        "EUR", Decimal("12.30"), "ok"),
    DisputeStatusUpdate("urn:x:v", "change", "REQUEST_REJECTED", "2026-12-12T00:00:00Z",
                        comment="see contract"),
    DisputeStatusUpdate("urn:x:v", "change", "REQUEST_REVOKED", "2026-12-12T00:00:00Z"),
]  # fmt: skip
MESSAGES = [CHANGE, VERIFICATION, *UPDATES]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: f"{m.kind}-{type(m).__name__}")
def test_round_trip_is_exact_and_deterministic(
    message: DisputeRequest | DisputeStatusUpdate,
) -> None:
    data = encode_dispute(message, base_iri=BASE)
    assert decode_dispute(data) == message
    assert encode_dispute(message, base_iri=BASE) == data
    decoded = decode_dispute(data)
    amounts = [getattr(decoded, n, None) for n in ("disputed_amount", "claimed_amount")]
    originals = [getattr(message, n, None) for n in ("disputed_amount", "claimed_amount")]
    assert [str(a) for a in amounts] == [str(a) for a in originals]  # exponent kept


def test_encoder_refuses_what_the_schema_would() -> None:
    from dataclasses import replace

    with pytest.raises(ValueError, match="agent code"):
        encode_dispute(replace(CHANGE, agent_code="123"), base_iri=BASE)
    with pytest.raises(ValueError, match="corrected amount"):
        encode_dispute(replace(CHANGE, claimed_amount=None), base_iri=BASE)
    with pytest.raises(ValueError, match="no corrected amount"):
        encode_dispute(replace(VERIFICATION, claimed_amount=Decimal(1)), base_iri=BASE)
    with pytest.raises(ValueError, match="does not answer"):
        encode_dispute(replace(UPDATES[0], status="REQUEST_PENDING"), base_iri=BASE)
    with pytest.raises(ValueError, match="absolute IRI"):
        encode_dispute(replace(CHANGE, iri="not an iri"), base_iri=BASE)


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        ((b"api#REQUEST_PENDING", b"api#REQUEST_ACCEPTED"), "XML_VALUE_INVALID"),
        ((b"api#ADD", b"api#DELETE"), "XML_VALUE_INVALID"),
        ((b"api#REQUEST_PENDING", b"api#REQUEST_FAILED"), "XML_SCHEMA_INVALID"),
        ((b"<cass:disputeReason>", b"<cass:disputeReason> "), "XML_SCHEMA_INVALID"),
        ((b"CurrencyCodeList#EUR", b"CurrencyCodeList#eur"), "XML_VALUE_INVALID"),
        ((b"<api:hasValue>3351.140", b"<api:hasValue>lots"), "XML_VALUE_INVALID"),
        ((b"api:ChangeRequest", b"api:AccessDelegationRequest"), "XML_ROOT_UNKNOWN"),
    ],
)
def test_decoder_refuses_invalid_documents(edit: tuple[bytes, bytes], code: str) -> None:
    data = encode_dispute(CHANGE, base_iri=BASE).replace(*edit)
    with pytest.raises(XmlRejectedError) as caught:
        decode_dispute(data)
    assert [f.code for f in caught.value.findings] == [code]


def test_a_status_update_cannot_set_pending() -> None:
    data = encode_dispute(UPDATES[1], base_iri=BASE).replace(
        b"REQUEST_REJECTED", b"REQUEST_PENDING"
    )
    with pytest.raises(XmlRejectedError) as caught:
        decode_dispute(data)
    assert [f.code for f in caught.value.findings] == ["XML_VALUE_INVALID"]


def _terms(section: str, *kinds: str) -> set[str]:
    terms = load_terms()[section]
    return {str(i) for kind in kinds for i in terms[kind]}  # type: ignore[attr-defined]


def test_terms_are_one_record_terms_unchanged_or_declared_cass_terms() -> None:
    graph = Graph()
    for m in MESSAGES:
        graph.parse(data=encode_dispute(m, base_iri=BASE), format="xml")
    classes = {str(o) for o in graph.objects(None, RDF.type)}
    properties = {str(p) for p in graph.predicates()} - {str(RDF.type)}
    links = {str(o) for o in graph.objects() if isinstance(o, URIRef)}
    api_cargo = _terms("api", "classes", "properties") | _terms("cargo", "classes", "properties")
    assert {t for t in classes | properties if t.startswith((API, CARGO))} - api_cargo == set()
    assert {API + c for c in ("ChangeRequest", "VerificationRequest", "Change", "Operation",
                              "OperationObject", "Verification")} <= classes  # fmt: skip
    api_properties = ("hasChange", "hasOperation", "hasRequestStatus", "isRequestedBy")
    api_properties += ("hasRequestStatusSince", "hasVerification")
    assert {API + p for p in api_properties} <= properties
    statuses = {o for o in links if "REQUEST_" in o}
    assert statuses == {API + s for s in ("REQUEST_PENDING", "REQUEST_ACCEPTED",
                                          "REQUEST_REJECTED", "REQUEST_REVOKED")}  # fmt: skip
    assert statuses | {API + "ADD"} <= _terms("api", "individuals")
    cass_ttl = Graph().parse(REPO / "opencass/codecs/onerecord/schema/cass.ttl", format="turtle")
    declared = {str(s) for s in cass_ttl.subjects(RDF.type, None) if str(s).startswith(CASS)}
    used = {t for t in classes | properties if t.startswith(CASS)}
    new = {CASS + t for t in ("disputeReason", "disputedAmount", "correctedAmount",
                              "answerComment")}  # fmt: skip
    assert new <= used and used - declared == set()


def test_documented_examples_decode() -> None:
    examples = dispute_examples()
    decoded = [decode_dispute(e) for e in examples]
    kinds = [(type(d).__name__, d.kind, getattr(d, "status", "")) for d in decoded]
    assert kinds == [
        ("DisputeRequest", "change", ""),
        ("DisputeRequest", "verification", ""),
        ("DisputeStatusUpdate", "change", "REQUEST_ACCEPTED"),
        ("DisputeStatusUpdate", "verification", "REQUEST_REJECTED"),
        ("DisputeStatusUpdate", "change", "REQUEST_REVOKED"),
    ]


# -- the pure rules -----------------------------------------------------------------------------

T0 = datetime(2026, 12, 10, 23, 59, tzinfo=UTC)
M = Milestones(T0, T0 + timedelta(days=3), T0 + timedelta(days=4, hours=8))


def test_state_machine() -> None:
    for wanted in (Status.ACCEPTED, Status.REJECTED, Status.REVOKED):
        assert next_status(Status.PENDING, wanted) is wanted
        for done in (Status.ACCEPTED, Status.REJECTED, Status.REVOKED):
            with pytest.raises(DisputeRefused) as caught:
                next_status(done, wanted)
            assert caught.value.code == "DISPUTE_ALREADY_ANSWERED"
    with pytest.raises(DisputeRefused) as caught:
        next_status(Status.PENDING, Status.PENDING)
    assert caught.value.code == "DISPUTE_STATUS_INVALID"
    assert Status.ACCEPTED.short == "accepted"


def test_deadlines_are_inclusive() -> None:
    check_open_time(M.agent_cutoff, M)
    with pytest.raises(DisputeRefused, match="Agent Correction Cut-Off"):
        check_open_time(M.agent_cutoff + timedelta(microseconds=1), M)
    check_answer_time(M.airline_cutoff, M)
    with pytest.raises(DisputeRefused) as caught:
        check_answer_time(M.airline_cutoff + timedelta(seconds=1), M)
    assert caught.value.code == "DISPUTE_ANSWER_AFTER_CUTOFF"
    assert escalation_due(M, 2) == M.airline_cutoff + timedelta(days=2)


def test_amounts() -> None:
    assert disputed_amount(Decimal("100.00"), Decimal("80.00"), Decimal("20.00"), "EUR") == 20
    assert disputed_amount(Decimal("100.00"), None, Decimal("-5.00"), "EUR") == -5
    for claimed, stated, code in (
        (Decimal("80.00"), Decimal("25.00"), "DISPUTE_AMOUNT_MISMATCH"),
        (None, Decimal("0.00"), "DISPUTE_AMOUNT_INVALID"),
        (None, Decimal("1.001"), "DISPUTE_AMOUNT_INVALID"),
        (None, Decimal("NaN"), "DISPUTE_AMOUNT_INVALID"),
        (Decimal("99.999"), Decimal("0.001"), "DISPUTE_AMOUNT_INVALID"),
    ):
        with pytest.raises(DisputeRefused) as caught:
            disputed_amount(Decimal("100.00"), claimed, stated, "EUR")
        assert caught.value.code == code
    assert disputed_amount(Decimal("1000"), Decimal("900"), Decimal("100"), "JPY") == 100
    a = adjustment("997", "23470068510", Decimal("3350.64"), Decimal("3300.64"), "DSP-1")
    assert (a.amount, a.reference) == (Decimal("-50.00"), "DSP-1")


def test_adjustment_period() -> None:
    later = ("20261201M", "20270101M")
    before = M.billing_available - timedelta(seconds=1)
    assert adjustment_period(before, "20261101M", M, later, frozenset()) == "20261101M"
    # at or after Billing Availability: the next period
    at = M.billing_available
    assert adjustment_period(at, "20261101M", M, later, frozenset()) == "20261201M"
    # the final close began early: the next period whose final close has not begun
    started = frozenset({"20261101M", "20261201M"})
    assert adjustment_period(before, "20261101M", M, later, started) == "20270101M"
    assert adjustment_period(at, "20261101M", M, (), frozenset({"20261101M"})) is None
