"""Dispute messages as ONE Record XML: an agent's request, and the status updates that answer
(airline) or revoke (agent) it.  Encode and decode.

A **request** is an ``api:ChangeRequest`` (kind ``change``: the agent states the amount it
believes correct as one ``api:Operation`` ``ADD`` of ``cargo:numericalValue`` on the waybill's
amount-due node ``<waybill IRI>#amount-due``, value typed ``xsd:double``) or an
``api:VerificationRequest`` (kind ``verification``: an ``api:Verification`` of the waybill, no
value).  Both carry ``api:hasRequestStatus`` ``REQUEST_PENDING``, ``api:isRequestedBy`` (the
agent as a ``cargo:Company``), ``api:isRequestedAt``, and the ``cass:`` terms CASS country,
period code, ``cass:forWaybill`` (prefix and number), ``cass:disputeReason`` and
``cass:disputedAmount`` (a ``cargo:CurrencyValue``).  The request's ``rdf:about`` is the
agent's own identifier of the dispute (any absolute IRI, e.g. ``urn:uuid:…``).

A **status update** has the same root element and ``rdf:about`` as the request it concerns and
only ``api:hasRequestStatus`` (``REQUEST_ACCEPTED``, ``REQUEST_REJECTED`` or
``REQUEST_REVOKED``), ``api:hasRequestStatusSince`` and optionally ``cass:correctedAmount``
(with an acceptance) and ``cass:answerComment``.

Output is a pure function of the input; amounts keep their exponent through a round trip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from opencass.codecs.onerecord import rdfxml as rx
from opencass.codecs.onerecord.jsonld import XmlRejectedError
from opencass.codecs.onerecord.mapping import Iris, company_code
from opencass.codecs.onerecord.messages import _INSTANT, _children, _iri, _parse, _rejected, _text
from opencass.codecs.onerecord.safe import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    load_schema,
    validate,
)
from opencass.codecs.onerecord.vocab import API, CARGO, CURRENCY, DOUBLE, RDF, tag

__all__ = [
    "DISPUTE_ROOTS",
    "KINDS",
    "STATUSES",
    "DisputeMessage",
    "DisputeRequest",
    "DisputeStatusUpdate",
    "decode_dispute",
    "decode_root",
    "encode_dispute",
]

KINDS = {"change": "api:ChangeRequest", "verification": "api:VerificationRequest"}
DISPUTE_ROOTS = tuple(tag(q) for q in KINDS.values())
STATUSES = ("REQUEST_PENDING", "REQUEST_ACCEPTED", "REQUEST_REJECTED", "REQUEST_REVOKED")
_KIND_OF = {tag(q): k for k, q in KINDS.items()}
_PREFIXES = ("rdf", "cargo", "api", "cass")
_RES = "{" + RDF + "}resource"
_AMOUNT_PROPERTY = CARGO + "numericalValue"
_ANY_URI = ' rdf:datatype="http://www.w3.org/2001/XMLSchema#anyURI"'
_POSITIVE = ' rdf:datatype="http://www.w3.org/2001/XMLSchema#positiveInteger"'

_PREFIX = re.compile("[0-9]{3}")
_SERIAL = re.compile("[0-9]{8}")
_AGENT = re.compile("[0-9]{7}([0-9]{4})?|[A-Z]{2}[0-9]{9}")  # IATA code, or a recipient code
_CURRENCY = re.compile("[A-Z]{3}")
_TEXT = re.compile("[!-~]([ -~]*[!-~])?")
_FIXED = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,9})?")


@dataclass(frozen=True, slots=True)
class DisputeRequest:
    """An agent's dispute of one billed waybill."""

    iri: str  # the agent's identifier of the request
    kind: str  # change | verification
    agent_code: str  # 7 or 11 digits; a recipient code (DE054000001) in CASS Import
    requested_at: str  # ISO 8601 with offset
    country: str
    period: str
    airline_prefix: str
    awb_serial: str
    reason: str
    currency: str
    disputed_amount: Decimal  # billed − what the agent believes correct
    claimed_amount: Decimal | None = None  # what it believes correct (a change request only)


@dataclass(frozen=True, slots=True)
class DisputeStatusUpdate:
    """An answer (accepted / rejected, by the airline) or a revocation (by the agent)."""

    iri: str  # the request's IRI
    kind: str  # change | verification
    status: str  # REQUEST_ACCEPTED | REQUEST_REJECTED | REQUEST_REVOKED
    at: str  # ISO 8601 with offset
    currency: str | None = None  # with corrected_amount
    corrected_amount: Decimal | None = None
    comment: str = ""


DisputeMessage = DisputeRequest | DisputeStatusUpdate


# -- encoding ----------------------------------------------------------------------------------


def _fits(pattern: re.Pattern[str], value: object, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"{what} {value!r} does not fit the schema")
    return value


def _money(value: Decimal, what: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{what} {value!r} is not a finite Decimal")
    if not _FIXED.fullmatch(f"{value:f}"):
        raise ValueError(f"{what} {value!r} does not fit the schema")
    return value


def _value(prop: str, about: str, currency: str, value: Decimal) -> str:
    return (
        rx.open_node(prop, "cargo:CurrencyValue", about)
        + rx.link("cargo:currencyUnit", CURRENCY + _fits(_CURRENCY, currency, "currency"))
        + rx.decimal_literal("cargo:numericalValue", _money(value, "amount"))
        + rx.close_node(prop, "cargo:CurrencyValue")
    )


def _instant(value: str, what: str) -> str:
    _fits(_INSTANT, value, what)
    datetime.fromisoformat(value)
    return value


def _subject(r: DisputeRequest, waybill: str) -> str:
    if r.kind == "verification":
        if r.claimed_amount is not None:
            raise ValueError("a verification request states no corrected amount")
        return (
            rx.open_node("api:hasVerification", "api:Verification", r.iri + "#verification")
            + rx.link("api:hasLogisticsObject", waybill)
            + rx.close_node("api:hasVerification", "api:Verification")
        )
    if r.claimed_amount is None:
        raise ValueError("a change request states the corrected amount")
    op = r.iri + "#operation-1"
    return (
        rx.open_node("api:hasChange", "api:Change", r.iri + "#change")
        + rx.link("api:hasLogisticsObject", waybill)
        + rx.open_node("api:hasOperation", "api:Operation", op)
        + rx.link("api:op", API + "ADD")
        + rx.literal("api:s", waybill + "#amount-due")
        + f"<api:p{_ANY_URI}>{_AMOUNT_PROPERTY}</api:p>"
        + rx.open_node("api:o", "api:OperationObject", op + "-value")
        + f"<api:hasDatatype{_ANY_URI}>{DOUBLE}</api:hasDatatype>"
        + rx.literal("api:hasValue", f"{_money(r.claimed_amount, 'corrected amount'):f}")
        + rx.close_node("api:o", "api:OperationObject")
        + rx.close_node("api:hasOperation", "api:Operation")
        + f"<api:hasRevision{_POSITIVE}>1</api:hasRevision>"
        + rx.boolean("api:notifyRequestStatusChange", True)
        + rx.close_node("api:hasChange", "api:Change")
    )


def _encode_request(r: DisputeRequest, base_iri: str) -> list[str]:
    _fits(_AGENT, r.agent_code, "agent code")
    _fits(_PREFIX, r.airline_prefix, "airline prefix")
    _fits(_SERIAL, r.awb_serial, "AWB serial")
    _fits(_TEXT, r.country, "CASS country")
    _fits(_TEXT, r.period, "period code")
    _fits(_TEXT, r.reason, "dispute reason")
    iris = Iris(base_iri)
    waybill = iris.waybill(r.airline_prefix, r.awb_serial)
    code = r.agent_code
    company = (
        rx.open_node("api:isRequestedBy", "cargo:Company", iris.company(code))
        + company_code(code)
        + rx.close_node("api:isRequestedBy", "cargo:Company")
    )
    return [
        _subject(r, waybill),
        rx.link("api:hasRequestStatus", API + "REQUEST_PENDING"),
        company,
        f"<api:isRequestedAt{rx.DT_DATETIME}>{_instant(r.requested_at, 'requested-at')}"
        "</api:isRequestedAt>",
        rx.literal("cass:cassCountry", r.country),
        rx.literal("cass:periodCode", r.period),
        rx.open_node("cass:forWaybill", "cargo:Waybill", waybill)
        + rx.literal("cargo:waybillPrefix", r.airline_prefix)
        + rx.literal("cargo:waybillNumber", r.awb_serial)
        + rx.close_node("cass:forWaybill", "cargo:Waybill"),
        rx.literal("cass:disputeReason", r.reason),
        _value("cass:disputedAmount", r.iri + "#disputed", r.currency, r.disputed_amount),
    ]


def _encode_update(u: DisputeStatusUpdate) -> list[str]:
    if u.status not in STATUSES[1:]:
        raise ValueError(f"status {u.status!r} does not answer or revoke a request")
    out = [
        rx.link("api:hasRequestStatus", API + u.status),
        f"<api:hasRequestStatusSince{rx.DT_DATETIME}>{_instant(u.at, 'status time')}"
        "</api:hasRequestStatusSince>",
    ]
    if u.corrected_amount is not None:
        out.append(
            _value(
                "cass:correctedAmount", u.iri + "#corrected", u.currency or "", u.corrected_amount
            )
        )
    if u.comment:
        out.append(rx.literal("cass:answerComment", _fits(_TEXT, u.comment, "comment")))
    return out


def encode_dispute(message: DisputeMessage, *, base_iri: str) -> bytes:
    """The message as UTF-8 RDF/XML, valid against the opencass XSD; ValueError if it cannot be."""
    if message.kind not in KINDS:
        raise ValueError(f"dispute kind {message.kind!r} is none of {', '.join(KINDS)}")
    root = KINDS[message.kind]
    _iri(message.iri, "request IRI")
    if isinstance(message, DisputeRequest):
        body = _encode_request(message, base_iri)
    else:
        body = _encode_update(message)
    text = rx.root_start(root, message.iri, _PREFIXES) + "\n".join(body) + "\n"
    return (text + rx.root_end(root)).encode("utf-8")


# -- decoding ----------------------------------------------------------------------------------


def _invalid(message: str, el: Any) -> Exception:
    return _rejected("XML_VALUE_INVALID", message, el.sourceline)


def _decimal(text: str, el: Any) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise _invalid(f"{text!r} is not a number", el) from None
    if not value.is_finite():
        raise _invalid(f"{text!r} is not a finite number", el)
    return value


def _currency_value(holder: Any) -> tuple[str, Decimal]:
    value = holder[0]
    props = _children(value)
    unit = props.get("currencyUnit")
    iri = "" if unit is None else str(unit.get(_RES))
    code = iri[len(CURRENCY) :]
    if not iri.startswith(CURRENCY) or not _CURRENCY.fullmatch(code):
        raise _invalid("an amount has no UN/CEFACT currency", value)
    return code, _decimal(_text(props["numericalValue"]), value)


def _status(top: dict[str, Any]) -> str:
    iri = str(top["hasRequestStatus"].get(_RES))
    return iri[len(API) :]


def _claim(change: Any) -> Decimal:
    props = _children(change)
    operation = _children(props["hasOperation"][0])
    if operation["op"].get(_RES) != API + "ADD" or _text(operation["p"]) != _AMOUNT_PROPERTY:
        raise _invalid("the change is not an ADD of cargo:numericalValue", change)
    value = _children(operation["o"][0])
    if _text(value["hasDatatype"]) != DOUBLE:
        raise _invalid("the corrected amount is not typed xsd:double", change)
    return _decimal(_text(value["hasValue"]), operation["o"][0])


def _decode_request(root: Any, kind: str, top: dict[str, Any]) -> DisputeRequest:
    if _status(top) != "REQUEST_PENDING":
        raise _invalid("a new dispute's status is REQUEST_PENDING", root)
    company = _children(top["isRequestedBy"][0])
    if "recipientCode" in company:  # a CASS Import agent
        agent = _text(company["recipientCode"])
    else:
        agent = _text(company["iataCargoAgentCode"]) + _text(
            company.get("iataCargoAgentLocationIdentifier")
        )
    waybill = _children(top["forWaybill"][0])
    currency, disputed = _currency_value(top["disputedAmount"])
    claimed = _claim(top["hasChange"][0]) if kind == "change" else None
    return DisputeRequest(
        iri=str(root.get("{" + RDF + "}about")),
        kind=kind,
        agent_code=agent,
        requested_at=_text(top["isRequestedAt"]),
        country=_text(top["cassCountry"]),
        period=_text(top["periodCode"]),
        airline_prefix=_text(waybill["waybillPrefix"]),
        awb_serial=_text(waybill["waybillNumber"]),
        reason=_text(top["disputeReason"]),
        currency=currency,
        disputed_amount=disputed,
        claimed_amount=claimed,
    )


def _decode_update(root: Any, kind: str, top: dict[str, Any]) -> DisputeStatusUpdate:
    status = _status(top)
    if status == "REQUEST_PENDING":
        raise _invalid("a status update cannot set REQUEST_PENDING", root)
    currency: str | None = None
    corrected: Decimal | None = None
    if "correctedAmount" in top:
        currency, corrected = _currency_value(top["correctedAmount"])
    return DisputeStatusUpdate(
        iri=str(root.get("{" + RDF + "}about")),
        kind=kind,
        status=status,
        at=_text(top["hasRequestStatusSince"]),
        currency=currency,
        corrected_amount=corrected,
        comment=_text(top.get("answerComment")),
    )


def decode_root(root: Any, *, max_depth: int = DEFAULT_MAX_DEPTH) -> DisputeMessage:
    """The message of a parsed root element (checked against the schema here)."""
    if root.tag not in _KIND_OF:
        raise _rejected("XML_ROOT_UNKNOWN", f"the root element is {root.tag}", 1)
    problem = validate(load_schema(), root, max_depth)
    if problem is not None:
        raise XmlRejectedError([problem])
    kind = _KIND_OF[root.tag]
    top = _children(root)
    if "hasChange" in top or "hasVerification" in top:
        return _decode_request(root, kind, top)
    return _decode_update(root, kind, top)


def decode_dispute(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> DisputeMessage:
    """The dispute message of a document; XmlRejectedError when unreadable or invalid."""
    try:
        root = _parse(data, KINDS["change"], max_bytes, max_depth)
    except XmlRejectedError as e:
        if [f.code for f in e.findings] != ["XML_ROOT_UNKNOWN"]:
            raise
        root = _parse(data, KINDS["verification"], max_bytes, max_depth)
    return decode_root(root, max_depth=max_depth)
