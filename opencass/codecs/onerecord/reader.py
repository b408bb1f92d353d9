"""Decoding and validation of a ``cass:BillingSubmission`` document.

Theory of operation
-------------------
``ElementStream`` (``safe.py``) parses the bytes, or the file read chunk by chunk, and yields
each child of the root once it is complete.  The children before the first ``cass:hasWaybill``
are the file-level values: when the first waybill arrives they are validated together with it
(in a small copy of the root) and decoded into the header.  Every ``cass:hasWaybill`` is then
validated against the XSD on its own, decoded into model records and dropped, so memory holds
one chunk and one element however large the file.  The records are kept for the caller, or
handed to a ``RecordSink`` as they are built (intake books them as they come; nothing of the
file is held whole).

A waybill element yields its primary record (an AWB record, or a correction record when its
``cargo:BillingDetails`` has ``cargo:Adjustments``) followed by its itemised other-charges
records; document order is the billing file's order.  In a CASS Import submission
(``cass:cassCountry`` ``DE-I``) a waybill element is one import record: ``IBI``, or the ``IBO``
or ``IBR`` half of a correction named on its ``cargo:Adjustments``.

Decoding is table driven: a property element's tag selects how its value is read (text,
Decimal, date, code-list link, or a handler for a nested node), with no XPath on the way.
What the XSD cannot judge (code-list members, currencies, links to shared nodes, which
properties a record kind may carry) is checked here; a record with such a problem is reported
(``XML_VALUE_INVALID``, ``FIELD_REQUIRED``, ``CURRENCY_UNKNOWN``) and left out.  Every record
that could be built goes, in order, through the same ``FileChecker`` as HOT records, so both
formats get the same cross-record findings.  The trailer's counts are recomputed from the
records (counted as they pass).
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import fields, replace
from decimal import Decimal
from operator import itemgetter
from typing import Any, BinaryIO, Protocol

from lxml import etree

from opencass.codecs.checks import FileChecker
from opencass.codecs.hot.writer import trailer_of_counts
from opencass.codecs.onerecord import nodes
from opencass.codecs.onerecord.header import decode_header
from opencass.codecs.onerecord.mapping import (
    AWB_CHARGE_LINES,
    CORRECTION_CHARGE_LINES,
    IMPORT_AMOUNTS,
    IMPORT_CHARGE_LINES,
    PERCENT_ZERO,
    RATE_ZERO,
    currency_zero,
)
from opencass.codecs.onerecord.safe import (
    ElementStream,
    Rejected,
    check_attributes,
    check_depth,
    load_schema,
    validate,
)
from opencass.codecs.onerecord.vocab import tag
from opencass.codecs.result import DecodeResult
from opencass.findings import Finding, Scope, Severity, finding
from opencass.model import (
    CORRECTION_KINDS,
    IMPORT_HEADER_IDS,
    AwbRecord,
    BillingFile,
    BillingHeader,
    CorrectionRecord,
    DetailRecord,
    Dialect,
    ImportRecord,
    OtherCharge,
    OtherChargesRecord,
    frozen_builder,
    is_currency,
)

__all__ = ["DEFAULT_MAX_FINDINGS", "RecordSink", "decode"]

DEFAULT_MAX_FINDINGS = 10_000
ROOT = tag("cass:BillingSubmission")
HAS_WAYBILL = tag("cass:hasWaybill")
WAYBILL = tag("cargo:Waybill")
_MAX_HEAD = 64  # more file-level elements than the schema allows: validate and fail early
_OC_OWNER = {"CCA": "CC3", "DCM": "DC3"}
_OC_IDS = ("AW1", "CC3", "DC3")


def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


_AWB_BUILD, _AWB_FIELDS = frozen_builder(AwbRecord), _names(AwbRecord)
_CORR_BUILD, _CORR_FIELDS = frozen_builder(CorrectionRecord), _names(CorrectionRecord)
_IMP_BUILD, _IMP_FIELDS = frozen_builder(ImportRecord), _names(ImportRecord)
_AWB_VALUES, _CORR_VALUES = itemgetter(*_AWB_FIELDS), itemgetter(*_CORR_FIELDS)
_IMP_VALUES = itemgetter(*_IMP_FIELDS)
_IMP_LINE = dict(IMPORT_CHARGE_LINES)
_IMP_REQUIRED = frozenset(
    ("origin", "destination", "agent_code", "arrival_date", "delivery_date", "gross_weight",
     "currency", "fee_charged")
)  # fmt: skip
_IMP_KEYS = frozenset((*_IMP_FIELDS, "_bd", "_cur"))  # what an import waybill may carry
_IMP_ONLY = frozenset(("arrival_date", "delivery_date", "flight", "fee_charged",
                       *(name for _, name in IMPORT_AMOUNTS)))  # fmt: skip
_IMP_HALVES = ("IBO", "IBR")
_AWB_LINE = {(cid, pc): name for cid, pc, name in AWB_CHARGE_LINES}
_CORR_LINE = {cid: (pc_name, name) for cid, pc_name, name in CORRECTION_CHARGE_LINES}
_COMMON_REQUIRED = ("origin", "destination", "agent_code", "execution_date", "gross_weight")
_AWB_REQUIRED = frozenset((*_COMMON_REQUIRED, "use_indicator", "currency"))
_CORR_REQUIRED = frozenset((*_COMMON_REQUIRED, "currency", "reference"))
_AWB_ONLY = frozenset(
    {
        "use_indicator",
        "late_indicator",
        "acceptance_date",
        "commission_percentage",
        "commission_indicator",
        "tax_due_airline_indicator",
        "invoice_indicator",
        "agent_reference",
    }
)
_HOLDER_KEYS = frozenset(("airline_prefix", "awb_serial", "reference", "_ocs", "_bd"))
_AWB_AMOUNTS = ("commission", "discount", "tax_due_airline", "tax_due_agent")
_CORR_AMOUNTS = ("commission", "discount", "vat_on_charges", "vat_on_commission")
_MONEY = {
    "AWM": (*(n for _, _, n in AWB_CHARGE_LINES), *_AWB_AMOUNTS),
    "CCR": (*(n for _, _, n in CORRECTION_CHARGE_LINES), *_CORR_AMOUNTS),
    "IBI": (*(n for _, n in IMPORT_CHARGE_LINES), *(n for _, n in IMPORT_AMOUNTS),
            "other_charge_1", "other_charge_2"),
}  # fmt: skip
_FIELDS = {"AWM": _AWB_FIELDS, "CCR": _CORR_FIELDS, "IBI": _IMP_FIELDS}


class RecordSink(Protocol):
    """Where a streaming decode hands the header, then each record as it is read (in file
    order, each with its source line), instead of keeping them: memory stays bounded."""

    def header(self, header: BillingHeader) -> None: ...

    def record(self, rec: DetailRecord, line: int) -> None: ...


class _Reader(nodes.Walker):
    """State of one decode: header, shared nodes seen so far, records and findings."""

    def __init__(self, max_depth: int, max_findings: int, sink: RecordSink | None = None) -> None:
        super().__init__()
        self.sink = sink
        self.schema = load_schema()
        self.max_depth = max_depth
        self.max_findings = max_findings
        self.findings: list[Finding] = []
        self.errors = self.warnings = 0
        self.records: list[DetailRecord] = []
        self.counted: Counter[str] = Counter()  # records by type (a sink keeps no records)
        self.lines: list[int] = []  # the source line of each record
        self.rejected: set[int] = set()
        self.head: list[Any] = []
        self.header: BillingHeader | None = None
        self.trailer_id = ("", "", "", "")
        self.checker: FileChecker | None = None
        self.kinds = {"waybills": 0, "corrections": 0, "other_charges": 0}
        self._defaults: dict[tuple[str, str], dict[str, Any]] = {}

    # -- findings ------------------------------------------------------------------------------

    def add(self, found: Finding) -> None:
        if found.severity is Severity.ERROR:
            self.errors += 1
            if found.scope is Scope.RECORD and found.line is not None:
                self.rejected.add(found.line)
        else:
            self.warnings += 1
        if len(self.findings) < self.max_findings:
            self.findings.append(found)

    def report(self, problems: list[nodes.Problem], line: int, record_type: str) -> bool:
        """Turn ``problems`` into findings of one record; True when there were any."""
        for code, field, message in problems:
            self.add(finding(code, message, line=line, record_type=record_type, field=field))
        return bool(problems)

    # -- document ------------------------------------------------------------------------------

    def run(self, source: bytes | BinaryIO) -> None:
        stream = ElementStream(source, self.max_depth)
        for child in stream:
            if self.header is None:
                _check_root(stream.root)
            if not isinstance(child.tag, str):
                continue  # comment or processing instruction
            tail = child.tail
            if tail and not tail.isspace():
                raise Rejected(_unexpected("text", child.sourceline))
            check_attributes(child)
            check_depth(child, self.max_depth)
            if child.tag == HAS_WAYBILL:
                if self.header is None:
                    self.start(stream.root, child)
                problem = validate(self.schema, child, self.max_depth)
                if problem is not None:
                    raise Rejected(problem)
                for wb in child:
                    if wb.tag == WAYBILL:
                        self.waybill(wb)
            elif self.header is not None:
                raise Rejected(_unexpected(f"element {child.tag}", child.sourceline))
            else:
                self.head.append(child)
                if len(self.head) > _MAX_HEAD:
                    self.start(stream.root, None)
        if stream.root is None:
            raise Rejected(finding("XML_MALFORMED", "the document has no root element"))
        _check_root(stream.root)
        if self.header is None:
            self.start(stream.root, None)  # no waybill: the schema says what is missing
        assert self.checker is not None
        for found in self.checker.finish():
            self.add(found)
        self.rejected |= self.checker.rejected_lines

    def start(self, root: Any, first: Any) -> None:
        """Validate the file-level values (with the first waybill) and decode the header."""
        text = root.text
        if text and not text.isspace():
            raise Rejected(_unexpected("text", root.sourceline))
        skeleton = etree.Element(root.tag, nsmap=root.nsmap)
        for name, value in root.attrib.items():
            skeleton.set(name, value)
        skeleton.sourceline = root.sourceline
        for el in [*self.head, *([first] if first is not None else [])]:
            skeleton.append(copy.deepcopy(el))
        problem = validate(self.schema, skeleton, self.max_depth)
        if problem is not None:
            raise Rejected(problem)
        header, self.trailer_id, found = decode_header(self.head, root.sourceline)
        if header is None:  # the last finding says why; it stops the decoding
            for f in found[:-1]:
                self.add(f)
            raise Rejected(found[-1])
        for f in found:
            self.add(f)
        self.header, self.checker, self.head = header, FileChecker(header), []
        self.importing = header.record_id in IMPORT_HEADER_IDS
        if self.sink is not None:
            self.sink.header(header)

    # -- waybill elements ----------------------------------------------------------------------

    def waybill(self, wb: Any) -> None:
        line = wb.sourceline
        f: dict[str, Any] = {}
        self.problems = []
        self.walk(wb, nodes.WAYBILL, f)
        if self.importing:
            self.import_record(f, line)
            return
        adj = f.pop("_adj", None)
        if adj is None and "_bd" in f:
            primary: DetailRecord | None = self.awb(f, line)
            oc_id, ref = "AW1", ""
        elif adj in CORRECTION_KINDS:
            primary = self.correction(f, adj, line)
            oc_id, ref = _OC_OWNER[CORRECTION_KINDS[adj]], f.get("reference", "")
        elif adj is None or adj in _OC_IDS:
            primary, oc_id, ref = None, adj or "AW1", f.get("reference", "")
            extra = f.keys() - _HOLDER_KEYS
            if extra or "_ocs" not in f:
                what = ", ".join(sorted(extra)) or "no other charges"
                self.bad("record_id", f"a waybill without a billing record carries {what}")
            self.report(self.problems, line, oc_id)
        else:
            self.bad("record_id", f"record type {adj} cannot stand on cargo:Adjustments")
            self.report(self.problems, line, adj)
            return
        if primary is not None:
            self.take(primary, line)
        if "_ocs" in f:
            self.other_charges(f["_ocs"], f["airline_prefix"], f["awb_serial"], oc_id, ref)

    def take(self, rec: DetailRecord, line: int) -> None:
        assert self.checker is not None
        for found in self.checker.record(rec, line):
            self.add(found)
        self.counted[rec.record_id] += 1
        if self.sink is not None:
            self.sink.record(rec, line)
            return
        self.records.append(rec)
        self.lines.append(line)

    def defaults(self, currency: str, kind: str) -> dict[str, Any]:
        """Zeros and blanks for the fields a waybill element may omit."""
        found = self._defaults.get((currency, kind))
        if found is None:
            zero = currency_zero(currency)
            if zero is None:  # unknown currency: reported; amounts were written in full
                zero = Decimal(0)
            found = dict.fromkeys(_FIELDS[kind], "")
            found.update(dict.fromkeys(_MONEY[kind], zero))
            found.update(rate_of_exchange=RATE_ZERO, acceptance_date=None, reserved=())
            if kind == "AWM":
                found.update(record_id="AWM", commission_percentage=PERCENT_ZERO)
            self._defaults[currency, kind] = found
        return found

    def check(self, f: dict[str, Any], required: frozenset[str]) -> None:
        """Required values and the currency, shared by AWB and correction records."""
        if not f.keys() >= required:
            for name in sorted(required - f.keys()):
                self.bad(name, f"missing {name}", "FIELD_REQUIRED")
        currency = f.get("currency")
        if currency is not None and not is_currency(currency):
            self.bad("currency", f"{currency} is not an ISO 4217 currency", "CURRENCY_UNKNOWN")

    def awb(self, f: dict[str, Any], line: int) -> AwbRecord | None:
        record_type = f.get("record_id", "AWM")
        if record_type not in ("AWM", "AWB"):
            self.bad("record_id", f"record type {record_type} is not an AWB record")
        for cid, pc, value in f.pop("_lines", ()):
            name = _AWB_LINE.get((cid, pc))
            if name is None or name in f:
                self.bad("charges", f"charge line {cid}/{pc or '-'} is not allowed here")
            else:
                f[name] = value
        rec: AwbRecord | None = self.build(f, line, record_type, "AWM")
        return rec

    def correction(self, f: dict[str, Any], record_type: str, line: int) -> CorrectionRecord | None:
        if f.setdefault("record_id", record_type) != record_type:
            self.bad("record_id", f"record type {f['record_id']} differs from {record_type}")
        f["record_id"] = record_type
        for name in sorted(_AWB_ONLY & f.keys()):
            self.bad(name, f"{name} has no place on a correction record")
        if "tax_due_airline" in f:
            f["vat_on_charges"] = f.pop("tax_due_airline")
        if "tax_due_agent" in f:
            f["vat_on_commission"] = f.pop("tax_due_agent")
        for cid, pc, value in f.pop("_lines", ()):
            names = _CORR_LINE.get(cid)
            if names is None or names[1] in f:
                self.bad("charges", f"charge line {cid} is not allowed here")
            else:
                f[names[0]], f[names[1]] = pc or "", value
        rec: CorrectionRecord | None = self.build(f, line, record_type, "CCR")
        return rec

    def build(self, f: dict[str, Any], line: int, record_type: str, kind: str) -> Any:
        """The record of the values ``f`` (an AWB for ``AWM``, a correction for ``CCR``), its
        omitted values defaulted; None when a value is missing or wrong (reported)."""
        awb = kind == "AWM"
        self.check(f, _AWB_REQUIRED if awb else _CORR_REQUIRED)
        for name in sorted(_IMP_ONLY & f.keys()):
            self.bad(name, f"{name} belongs to CASS Import records")
        if self.report(self.problems, line, record_type):
            return None
        d = self.defaults(f["currency"], kind).copy()
        d.update(f)
        self.kinds["waybills" if awb else "corrections"] += 1
        return _AWB_BUILD(*_AWB_VALUES(d)) if awb else _CORR_BUILD(*_CORR_VALUES(d))

    def import_record(self, f: dict[str, Any], line: int) -> None:
        """An import billing (``IBI``) or a correction half (``IBO``/``IBR`` on
        ``cargo:Adjustments``): charge lines WT/OA/OC, the other charges at their positions."""
        adj = f.pop("_adj", None)
        record_type = adj or "IBI"
        if adj is not None and adj not in _IMP_HALVES:
            self.bad("record_id", f"record type {adj} is not an import correction (IBO, IBR)")
        if f.setdefault("record_id", record_type) != record_type:
            self.bad("record_id", f"record type {f['record_id']} differs from {record_type}")
        f["record_id"] = record_type
        if "_bd" not in f:
            self.bad("record_id", "an import record needs its cargo:billingDetails")
        for cid, pc, value in f.pop("_lines", ()):
            name = _IMP_LINE.get(cid)
            if name is None or name in f or pc not in (None, "C"):
                self.bad(
                    "charges", f"charge line {cid}/{pc or '-'} has no place on an import record"
                )
            else:
                f[name] = value
        for oc in f.pop("_ocs", ()):
            self.problems += oc.problems
            code = f"other_charge_{oc.index}_code"
            if oc.charge is not None and code in f:
                self.bad("charges", f"two other charges at position {oc.index}")
            elif oc.charge is not None:
                f[code], f[f"other_charge_{oc.index}"] = oc.charge.code, oc.charge.amount
        for name in sorted(f.keys() - _IMP_KEYS):
            self.bad(name, f"{name} has no place on an import record")
        self.check(f, _IMP_REQUIRED)
        if self.report(self.problems, line, record_type):
            return
        d = self.defaults(f["currency"], "IBI").copy()
        d.update(f)
        self.kinds["corrections" if adj else "waybills"] += 1
        self.take(_IMP_BUILD(*_IMP_VALUES(d)), line)

    def other_charges(
        self, ocs: list[nodes.Itemised], prefix: str, serial: str, record_id: str, ref: str
    ) -> None:
        """One itemised record per run of charges with the same record index."""
        i, n = 0, len(ocs)
        while i < n:
            index, line = ocs[i].index, ocs[i].line
            charges: list[OtherCharge] = []
            problems: list[nodes.Problem] = []
            while i < n and ocs[i].index == index:
                if ocs[i].charge is not None:
                    charges.append(ocs[i].charge)  # type: ignore[arg-type]
                problems += ocs[i].problems
                i += 1
            if not self.report(problems, line, record_id):
                self.kinds["other_charges"] += 1
                rec = OtherChargesRecord(record_id, prefix, serial, ref, tuple(charges))
                self.take(rec, line)


def _check_root(root: Any) -> None:
    if root is not None:
        check_attributes(root)
    if root is not None and root.tag != ROOT:
        raise Rejected(
            finding(
                "XML_ROOT_UNKNOWN",
                f"root element {root.tag} is not cass:BillingSubmission",
                line=root.sourceline,
            )
        )


def _unexpected(what: str, line: int | None) -> Finding:
    return finding("XML_SCHEMA_INVALID", f"{what} is not expected here", line=line)


def decode(
    source: bytes | BinaryIO,
    *,
    max_depth: int,
    max_findings: int = DEFAULT_MAX_FINDINGS,
    sink: RecordSink | None = None,
) -> DecodeResult:
    """Decode and validate a billing submission: bytes in memory, or a binary file read chunk
    by chunk (size limit already checked).  With a ``sink`` the records go there as they are
    read and the result's file has none (its trailer counts them)."""
    reader = _Reader(max_depth, max_findings, sink)
    file: BillingFile | None = None
    try:
        reader.run(source)
    except Rejected as stop:
        reader.add(stop.finding)
    else:
        assert reader.header is not None
        country, prefix, branch, office = reader.trailer_id
        dialect = Dialect.IMPORT if reader.importing else Dialect.HANDOFF
        trailer = trailer_of_counts(reader.header, reader.counted, dialect, office=office)
        trailer = replace(trailer, country=country, airline_prefix=prefix, branch=branch)
        file = BillingFile(dialect, reader.header, tuple(reader.records), trailer)
    return result(reader, file)


def result(reader: _Reader, file: BillingFile | None) -> DecodeResult:
    """The DecodeResult of a finished (or stopped) reader."""
    counts = dict(reader.kinds)
    counts.update(
        records=sum(reader.counted.values()),
        errors=reader.errors,
        warnings=reader.warnings,
        rejected_records=len(reader.rejected),
    )
    found = reader.findings
    if reader.errors + reader.warnings > len(found):
        more = reader.errors + reader.warnings - len(found)
        found.append(finding("FINDINGS_TRUNCATED", f"{more} more findings not listed"))
    lines = tuple(reader.lines) if file is not None else None
    return DecodeResult("xml", None, file, found, counts, lines)
