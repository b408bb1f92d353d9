"""The withdrawal request (``cass:WithdrawalRequest``): encode and decode.

An airline withdraws a whole billing file it submitted, until the period's Airline Input Upload
Cut-Off, by putting this message into its inbox.  The request names the file by the gateway's
file id (``cass:submissionId``, the receipt's ``cargo:documentIdentifier``), by its SHA-256
(``cass:submissionChecksum``, the receipt's ``cargo:checksum``) or by both, and may say why
(``cass:withdrawalReason``)::

    <cass:WithdrawalRequest xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
        xmlns:cass="https://w3id.org/opencass/ns/billing#"
        rdf:about="urn:uuid:5b0e8f0e-3c57-4b8e-9d0b-2f1f0c7d9a11">
      <cass:submissionId>F20261122003610A1B2C3</cass:submissionId>
      <cass:withdrawalReason>wrong billing period</cass:withdrawalReason>
    </cass:WithdrawalRequest>

``rdf:about`` identifies the request itself: give each request its own (a fresh ``urn:uuid``),
since the gateway answers a second file with the same bytes as a duplicate.  The checksum is
read case-insensitively and returned in lower case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opencass.codecs.onerecord import rdfxml as rx
from opencass.codecs.onerecord.jsonld import XmlRejectedError
from opencass.codecs.onerecord.safe import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    Rejected,
    load_schema,
    parse_document,
    validate,
)
from opencass.codecs.onerecord.vocab import tag
from opencass.findings import Scope, finding

__all__ = ["WITHDRAWAL_TAG", "WithdrawalRequest", "decode_withdrawal", "encode_withdrawal"]

ROOT = "cass:WithdrawalRequest"
#: The root element of a withdrawal request, in Clark notation (the message handler's key).
WITHDRAWAL_TAG = tag(ROOT)


@dataclass(frozen=True, slots=True)
class WithdrawalRequest:
    """One request: its IRI and how it names the file (at least one of id and SHA-256)."""

    about: str
    file_id: str | None = None
    sha256: str | None = None
    reason: str = ""

    def named(self) -> str:
        """How the request names the file, for messages."""
        parts = []
        if self.file_id is not None:
            parts.append(f"file id {self.file_id}")
        if self.sha256 is not None:
            parts.append(f"SHA-256 {self.sha256}")
        return " and ".join(parts)


def _text(prop: str, value: str) -> str:
    return f"<{prop}>{rx.escape_text(value)}</{prop}>"


def encode_withdrawal(request: WithdrawalRequest) -> bytes:
    """The request as UTF-8 RDF/XML, valid against the opencass XSD (deterministic).

    Raises ValueError when it names no file or a value does not fit the schema."""
    if request.file_id is None and request.sha256 is None:
        raise ValueError("a withdrawal request names the file by its id, its SHA-256 or both")
    lines = []
    if request.file_id is not None:
        lines.append(_text("cass:submissionId", request.file_id))
    if request.sha256 is not None:
        lines.append(_text("cass:submissionChecksum", request.sha256.lower()))
    if request.reason:
        lines.append(_text("cass:withdrawalReason", request.reason))
    text = (
        rx.root_start(ROOT, request.about, ("rdf", "cass"))
        + "\n".join(lines)
        + "\n"
        + rx.root_end(ROOT)
    )
    data = text.encode("utf-8")
    decode_withdrawal(data)  # the schema has the last word (ids, checksum, about)
    return data


def _rejected(code: str, message: str, line: int | None = None) -> XmlRejectedError:
    return XmlRejectedError([finding(code, message, line=line, scope=Scope.FILE)])


def decode_withdrawal(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> WithdrawalRequest:
    """The request in ``data``; XmlRejectedError (with its findings) when it is not a valid
    ``cass:WithdrawalRequest``."""
    try:
        doc = parse_document(data, max_bytes)
    except Rejected as exc:
        raise XmlRejectedError([exc.finding]) from exc
    return withdrawal_of(doc, max_depth=max_depth)


def withdrawal_of(root: Any, *, max_depth: int = DEFAULT_MAX_DEPTH) -> WithdrawalRequest:
    """The request of an already (safely) parsed root element; XmlRejectedError when invalid."""
    if root.tag != WITHDRAWAL_TAG:
        raise _rejected("XML_ROOT_UNKNOWN", f"the root element is {root.tag}, not {ROOT}", 1)
    problem = validate(load_schema(), root, max_depth)
    if problem is not None:
        raise XmlRejectedError([problem])
    values = {child.tag.rpartition("}")[2]: (child.text or "") for child in root}
    file_id = values.get("submissionId")
    sha256 = values.get("submissionChecksum")
    return WithdrawalRequest(
        about=str(root.get("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about")),
        file_id=file_id,
        sha256=sha256.lower() if sha256 is not None else None,
        reason=values.get("withdrawalReason", ""),
    )
