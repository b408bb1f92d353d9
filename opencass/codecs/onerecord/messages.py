"""The gateway's answers to a file: validation report and receipt, encode and decode.

Both messages describe the file received as a ``cargo:ExternalReference`` (a logistics object, so
``api:hasLogisticsObject`` may point at it) with the IRI ``<base>/submissions/<file id>``: the
file id (``cargo:documentIdentifier``), its name (``cargo:documentName``), SHA-256
(``cargo:checksum``), format (``cargo:documentType``) and, as ``cass:`` terms, dialect, size,
arrival time, submitter, sandbox flag, CASS country, period code and the earlier file it
duplicates.  Then the gateway's statement: ``cass:issuedBy`` (the gateway's base IRI), the
ontology version, ``cass:outcome`` (a ``cass:SubmissionOutcome`` member IRI) and one
``cass:Count`` per count, sorted by name.

The validation report adds the findings.  They are grouped by line, each group one
``api:Verification`` in the order the groups first appear (findings without a line form the
group of the file as a whole): its ``api:hasLogisticsObject`` is the record's logistics object
where the caller knows it, else the file.  Each finding is one ``api:Error`` (title: the
catalogue summary of its code; severity ``api:ERROR``/``api:WARNING``) with one
``api:ErrorDetail``: ``api:hasCode``, ``api:hasMessage``, ``api:hasProperty`` (the ONE Record
property of a record field, see ``FIELD_PROPERTIES``) and ``cass:`` scope, line, record type,
field and columns, so that decoding gives back every value of the Finding.  Decoding returns the
findings in document order: the input order whenever the findings of one line are consecutive,
as the validators and the gateway's store deliver them.

Output is a pure function of the inputs (the gateway signs the receipt's bytes and may write an
answer again after a crash).  Texts may come from an attacker (the file name, messages quoting
the file): markup characters are escaped, a carriage return is written as a character reference,
and characters XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/U+FFFF) are
replaced by U+FFFD, the only change a round trip makes.  Values the schema restricts (outcome,
SHA-256, timestamps, counts, IRIs) raise ValueError when they do not fit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, unquote

from opencass.codecs.onerecord import nodes
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
from opencass.codecs.onerecord.vocab import API, CARGO, CASS, ONTOLOGY_VERSION, RDF, tag
from opencass.findings import CATALOGUE, Finding, Scope, Severity, finding

__all__ = [
    "FIELD_PROPERTIES",
    "OUTCOMES",
    "SubmissionInfo",
    "decode_receipt",
    "decode_validation_report",
    "encode_receipt",
    "encode_validation_report",
    "submission_iri",
]

OUTCOMES = ("accepted", "partially_accepted", "rejected", "duplicate")
_OUTCOME_IRI = {o: CASS + o.upper() for o in OUTCOMES}
_OUTCOME_OF = {iri: o for o, iri in _OUTCOME_IRI.items()}
_SEVERITY_IRI = {Severity.ERROR: API + "ERROR", Severity.WARNING: API + "WARNING"}
_SEVERITY_OF = {iri: s for s, iri in _SEVERITY_IRI.items()}
_SCOPES = {str(s): s for s in Scope}

REPORT, RECEIPT = "cass:ValidationReport", "cass:Receipt"
_PREFIXES = ("rdf", "cargo", "api", "cass")
_ANY_URI = ' rdf:datatype="http://www.w3.org/2001/XMLSchema#anyURI"'
_MAX_INT = 10**18  # the schema's nonNegativeInteger allows 18 digits


# -- the ONE Record property of a field ---------------------------------------------------------

# Fields the reader handles inside a nested node or renames (reader.py), not through a table.
_HANDLED_FIELDS = (
    ("weight_unit", "unit"),
    ("vat_on_charges", "taxDueAirline"),
    ("vat_on_commission", "taxDueAgent"),
)


def _field_properties() -> dict[str, str]:
    """Model field name → ``cargo:`` property IRI, from the reader's tables of waybill nodes."""
    found: dict[str, str] = {}
    for table in (nodes.WAYBILL, nodes.BILLING, nodes.ADJUSTMENT, nodes.OTHER_CHARGE):
        for clark, (_kind, name, _arg) in table.items():
            ns, _, local = clark[1:].partition("}")
            if ns == CARGO and name and not name.startswith("_"):
                found.setdefault(name, CARGO + local)
    for name, local in _HANDLED_FIELDS:
        found.setdefault(name, CARGO + local)
    return found


#: The ``cargo:`` property a record field is written to, by model (HOT layout) field name.
FIELD_PROPERTIES: Mapping[str, str] = MappingProxyType(_field_properties())


# -- the values --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubmissionInfo:
    """What the gateway knows of one received file: the subject of its report and receipt."""

    file_id: str
    file_name: str
    company: str
    user: str
    sha256: str
    size: int
    received_at: str  # ISO 8601 with offset, e.g. 2026-11-22T00:36:10.123456+00:00
    outcome: str  # accepted | partially_accepted | rejected | duplicate
    counts: dict[str, int]
    sandbox: bool = False
    format: str | None = None
    dialect: str | None = None
    country: str | None = None
    period: str | None = None
    duplicate_of: str | None = None


# -- text --------------------------------------------------------------------------------------

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SHA256 = re.compile("[0-9a-f]{64}")
_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_COUNTRY = re.compile("[ -~]?[!-~](?:-I)?")  # the schema's cass:cassCountry (operation)
# An absolute IRI without the characters that RFC 3987 excludes (spaces, quotes, controls).
_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\x00-\x20<>\"{}|\\^`\x7f-\x9f]*")


def _escape(text: str) -> str:
    """``text`` as element content: escaped, characters XML cannot carry replaced by U+FFFD."""
    text = _NOT_XML.sub("\ufffd", text)
    # str.replace runs in C; a translate table costs a dict lookup per character.
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _lit(prop: str, text: str) -> str:
    return f"<{prop}>{_escape(text)}</{prop}>"


def _count(value: int, what: str) -> int:
    if not isinstance(value, int) or not 0 <= value < _MAX_INT:
        raise ValueError(f"{what} {value!r} is not a count (an integer from 0)")
    return int(value)  # a bool is written as 0/1


def _iri(iri: str, what: str) -> str:
    if not _IRI.fullmatch(iri):
        raise ValueError(f"{what} {iri!r} is not an absolute IRI")
    return iri


def submission_iri(base_iri: str, file_id: str) -> str:
    """The IRI of a received file: ``<base>/submissions/<file id>``."""
    return f"{_iri(base_iri, 'base IRI').rstrip('/')}/submissions/{quote(file_id, safe='')}"


# -- encoding ----------------------------------------------------------------------------------


def _check(info: SubmissionInfo) -> None:
    """Raise ValueError for values the schema would refuse."""
    if info.outcome not in _OUTCOME_IRI:
        raise ValueError(f"outcome {info.outcome!r} is none of {', '.join(OUTCOMES)}")
    if not _SHA256.fullmatch(info.sha256):
        raise ValueError(f"SHA-256 {info.sha256!r} is not 64 lower-case hex digits")
    if not _INSTANT.fullmatch(info.received_at):
        raise ValueError(f"received-at {info.received_at!r} is not ISO 8601 with a UTC offset")
    datetime.fromisoformat(info.received_at)  # a real date and time
    if info.country is not None and not _COUNTRY.fullmatch(info.country):
        raise ValueError(f"CASS country {info.country!r} is not a two-letter code (or DE-I)")
    names = {_escape(name) for name in info.counts}
    if len(names) != len(info.counts) or "" in names:
        raise ValueError(f"count names {sorted(info.counts)!r} are not distinct, non-empty texts")


def _head(info: SubmissionInfo, base_iri: str, about: str) -> list[str]:
    """The file received and the gateway's statement: what report and receipt share."""
    _check(info)
    sub = submission_iri(base_iri, info.file_id)
    out = [
        rx.open_node("cass:forSubmission", "cargo:ExternalReference", sub),
        _lit("cargo:documentIdentifier", info.file_id),
        _lit("cargo:documentName", info.file_name),
        _lit("cargo:checksum", info.sha256),
    ]
    if info.format is not None:
        out.append(_lit("cargo:documentType", info.format))
    if info.dialect is not None:
        out.append(_lit("cass:dialect", info.dialect))
    out += [
        rx.integer("cass:byteSize", _count(info.size, "size")),
        f"<cass:receivedAt{rx.DT_DATETIME}>{info.received_at}</cass:receivedAt>",
        _lit("cass:companyId", info.company),
        _lit("cass:userName", info.user),
        rx.boolean("cass:sandbox", info.sandbox),
    ]
    if info.country is not None:
        out.append(_lit("cass:cassCountry", info.country))
    if info.period is not None:
        out.append(_lit("cass:periodCode", info.period))
    if info.duplicate_of is not None:
        out.append(rx.link("cass:duplicateOf", submission_iri(base_iri, info.duplicate_of)))
    out.append(rx.close_node("cass:forSubmission", "cargo:ExternalReference"))
    lines = ["".join(out), rx.link("cass:issuedBy", base_iri)]
    lines.append(rx.link("cass:ontologyVersion", ONTOLOGY_VERSION))
    lines.append(rx.link("cass:outcome", _OUTCOME_IRI[info.outcome]))
    for name in sorted(info.counts):
        count = f"{about}#count-{quote(name, safe='')}"
        lines.append(
            rx.open_node("cass:hasCount", "cass:Count", count)
            + _lit("cass:countName", name)
            + rx.integer("cass:countValue", _count(info.counts[name], f"count {name!r}"))
            + rx.close_node("cass:hasCount", "cass:Count")
        )
    return lines


def _error(about: str, f: Finding) -> str:
    """One finding as an ``api:Error`` with its ``api:ErrorDetail`` (``about`` escaped)."""
    entry = CATALOGUE.get(f.code)
    scope = str(f.scope)
    if scope not in _SCOPES:
        raise ValueError(f"finding scope {f.scope!r} is neither file nor record")
    title = _escape(entry.summary if entry is not None else f.code)
    out = [
        f'<api:hasError><api:Error rdf:about="{about}"><api:hasTitle>{title}</api:hasTitle>'
        f'<api:hasSeverity rdf:resource="{_SEVERITY_IRI[Severity(f.severity)]}"/>'
        f'<api:hasErrorDetail><api:ErrorDetail rdf:about="{about}-detail">'
        f"<api:hasCode>{_escape(f.code)}</api:hasCode>"
        f"<api:hasMessage>{_escape(f.message)}</api:hasMessage>"
    ]
    prop = FIELD_PROPERTIES.get(f.field) if f.field and scope == Scope.RECORD else None
    if prop is not None:
        out.append(f"<api:hasProperty{_ANY_URI}>{prop}</api:hasProperty>")
    out.append(f"<cass:findingScope>{scope}</cass:findingScope>")
    if f.line is not None:
        out.append(rx.integer("cass:line", _count(f.line, "line")))
    if f.record_type is not None:
        out.append(_lit("cass:lineRecordType", f.record_type))
    if f.field is not None:
        out.append(_lit("cass:fieldName", f.field))
    if f.columns is not None:
        first, last = f.columns
        out.append(rx.integer("cass:columnFrom", _count(first, "column")))
        out.append(rx.integer("cass:columnTo", _count(last, "column")))
    out.append("</api:ErrorDetail></api:hasErrorDetail></api:Error></api:hasError>")
    return "".join(out)


def _verifications(
    about: str, sub: str, findings: Sequence[Finding], objects: Mapping[int, str]
) -> Iterator[str]:
    """One ``api:Verification`` per line with findings (and one for the file), as text lines."""
    groups: dict[int | None, list[Finding]] = {}
    for f in findings:
        group = groups.get(f.line)
        if group is None:
            group = groups[f.line] = []
        group.append(f)
    escaped = rx.escape_attr(about)
    n = 0
    for line, group in groups.items():
        node = f"{about}#file" if line is None else f"{about}#line-{_count(line, 'line')}"
        target = sub if line is None else _iri(objects.get(line, sub), f"object of line {line}")
        yield (
            rx.open_node("cass:hasVerification", "api:Verification", node)
            + rx.link("api:hasLogisticsObject", target)
        )
        for f in group:
            n += 1
            yield _error(f"{escaped}#finding-{n}", f)
        yield rx.close_node("cass:hasVerification", "api:Verification")


def _document(root: str, about: str, lines: list[str]) -> bytes:
    text = rx.root_start(root, about, _PREFIXES) + "\n".join(lines) + "\n" + rx.root_end(root)
    return text.encode("utf-8")


def encode_validation_report(
    info: SubmissionInfo,
    findings: Sequence[Finding],
    *,
    base_iri: str,
    objects: Mapping[int, str] | None = None,
) -> bytes:
    """The ``cass:ValidationReport`` of a file (UTF-8 RDF/XML), deterministic.

    ``objects`` maps a line to the logistics object of its record (a waybill IRI) where the
    caller knows it; findings of other lines point at the file received.
    """
    about = submission_iri(base_iri, info.file_id) + "/validation-report"
    sub = submission_iri(base_iri, info.file_id)
    lines = _head(info, base_iri, about)
    lines += _verifications(about, sub, findings, objects or {})
    return _document(REPORT, about, lines)


def encode_receipt(info: SubmissionInfo, *, base_iri: str) -> bytes:
    """The ``cass:Receipt`` of a file (UTF-8 RDF/XML): the bytes the gateway signs."""
    about = submission_iri(base_iri, info.file_id) + "/receipt"
    return _document(RECEIPT, about, _head(info, base_iri, about))


# -- decoding ----------------------------------------------------------------------------------

_RES = "{" + RDF + "}resource"
_HAS_COUNT, _HAS_VERIFICATION = tag("cass:hasCount"), tag("cass:hasVerification")
_HAS_ERROR = tag("api:hasError")


def _rejected(code: str, message: str, line: int | None = None) -> XmlRejectedError:
    return XmlRejectedError([finding(code, message, line=line, scope=Scope.FILE)])


def _parse(data: bytes, root: str, max_bytes: int, max_depth: int) -> Any:
    """The document's root element, hardened-parsed and valid against the schema."""
    try:
        doc = parse_document(data, max_bytes)
    except Rejected as exc:
        raise XmlRejectedError([exc.finding]) from exc
    if doc.getroottree().docinfo.doctype:  # defence in depth: check_prolog refuses them first
        raise _rejected("XML_DOCTYPE_FORBIDDEN", "the document has a DOCTYPE", 1)
    if doc.tag != tag(root):
        raise _rejected("XML_ROOT_UNKNOWN", f"the root element is {doc.tag}, not {root}", 1)
    problem = validate(load_schema(), doc, max_depth)
    if problem is not None:
        raise XmlRejectedError([problem])
    return doc


def _children(node: Any) -> dict[str, Any]:
    """A node's property elements by local name (the schema allows each at most once)."""
    return {c.tag.rpartition("}")[2]: c for c in node}


def _text(el: Any) -> str:
    return "" if el is None or el.text is None else str(el.text)


def _optional(props: dict[str, Any], name: str) -> str | None:
    el = props.get(name)
    return None if el is None else _text(el)


def _file_id(iri: str, line: int | None) -> str:
    """The file id of a submission IRI (``…/submissions/<quoted id>``)."""
    head, sep, quoted = iri.rpartition("/submissions/")
    if not sep or not head or not quoted or "/" in quoted:
        raise _rejected("XML_VALUE_INVALID", f"{iri} is not the IRI of a submission", line)
    return unquote(quoted)


def _info(doc: Any) -> SubmissionInfo:
    """The SubmissionInfo of a valid report or receipt."""
    top = _children(doc)
    ref = top["forSubmission"][0]
    p = _children(ref)
    duplicate = p.get("duplicateOf")
    counts = {}
    for el in doc.iterchildren(_HAS_COUNT):
        count = _children(el[0])
        counts[_text(count["countName"])] = int(_text(count["countValue"]))
    return SubmissionInfo(
        file_id=_text(p["documentIdentifier"]),
        file_name=_text(p["documentName"]),
        company=_text(p["companyId"]),
        user=_text(p["userName"]),
        sha256=_text(p["checksum"]),
        size=int(_text(p["byteSize"])),
        received_at=_text(p["receivedAt"]),
        outcome=_OUTCOME_OF[top["outcome"].get(_RES)],
        counts=counts,
        sandbox=_text(p["sandbox"]) == "true",
        format=_optional(p, "documentType"),
        dialect=_optional(p, "dialect"),
        country=_optional(p, "cassCountry"),
        period=_optional(p, "periodCode"),
        duplicate_of=(
            None if duplicate is None else _file_id(duplicate.get(_RES), duplicate.sourceline)
        ),
    )


def _finding(error: Any) -> Finding:
    """The Finding of a valid ``api:Error``."""
    e = _children(error)
    d = _children(e["hasErrorDetail"][0])
    line, first, last = (d.get(n) for n in ("line", "columnFrom", "columnTo"))
    return Finding(
        code=_text(d["hasCode"]),
        severity=_SEVERITY_OF[e["hasSeverity"].get(_RES)],
        scope=_SCOPES[_text(d["findingScope"])],
        line=None if line is None else int(_text(line)),
        record_type=_optional(d, "lineRecordType"),
        field=_optional(d, "fieldName"),
        columns=None if first is None else (int(_text(first)), int(_text(last))),
        message=_text(d.get("hasMessage")),
    )


def decode_validation_report(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> tuple[SubmissionInfo, list[Finding]]:
    """The file and findings of a ``cass:ValidationReport``; XmlRejectedError when invalid."""
    doc = _parse(data, REPORT, max_bytes, max_depth)
    found = [
        _finding(has_error[0])
        for has_verification in doc.iterchildren(_HAS_VERIFICATION)
        for has_error in has_verification[0]
        if has_error.tag == _HAS_ERROR
    ]
    return _info(doc), found


def decode_receipt(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> SubmissionInfo:
    """The file described by a ``cass:Receipt``; XmlRejectedError when invalid."""
    return _info(_parse(data, RECEIPT, max_bytes, max_depth))
