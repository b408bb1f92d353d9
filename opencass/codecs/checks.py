"""Checks across the records of one billing file, independent of the format it came in.

Theory of operation
-------------------
A codec decodes each record and hands it, in file order, to one ``FileChecker``.  The checker
looks at the record alone (check digits, prefix, exchange rate, charges on void AWBs) and
against what came before (duplicate AWBs, correction pairs, itemised other charges against the
totals of the record they itemise).  ``finish()`` reports what only the end of the file can
tell: originals without revisions and revisions without originals.

State is bounded by the file: one integer per AWB for duplicate detection and the corrections
still waiting for their other half.  ``rejected_lines`` collects the lines whose record-level
errors reject them; codecs add the lines they could not decode.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from decimal import Decimal

from opencass.findings import Finding, finding
from opencass.model import (
    ZERO,
    AwbRecord,
    BillingHeader,
    CorrectionRecord,
    DetailRecord,
    ImportRecord,
    OtherChargesRecord,
    is_recipient_code,
)

__all__ = ["FileChecker", "hash_total"]

_AWB_OC_TOTALS = {
    ("C", "P"): "other_charges_carrier_prepaid",
    ("A", "P"): "other_charges_agent_prepaid",
    ("C", "C"): "other_charges_carrier_collect",
    ("A", "C"): "other_charges_agent_collect",
}
_CORR_OC_TOTALS = {"A": "other_charges_agent", "C": "other_charges_carrier"}
_CHARGE_FIELDS = (
    "weight_charge_prepaid",
    "valuation_charge_prepaid",
    "other_charges_carrier_prepaid",
    "other_charges_agent_prepaid",
    "weight_charge_collect",
    "valuation_charge_collect",
    "other_charges_carrier_collect",
    "other_charges_agent_collect",
)
HASH_MODULUS = 10**12
_NONE: list[Finding] = []  # shared "no findings" answer of the fast path; never mutated


def hash_total(serials_sum: int) -> int:
    """opencass's provisional participant-dialect hash total: Σ AWB serials mod 10^12."""
    return serials_sum % HASH_MODULUS


Key = tuple[str, str, str, str]


class FileChecker:
    """Cross-record checks of one file; feed detail records in order, then call ``finish``."""

    def __init__(self, header: BillingHeader) -> None:
        self.header = header
        self.counts: defaultdict[str, int] = defaultdict(int)
        self.serial_sum = 0
        self.rejected_lines: set[int] = set()
        self._awbs: set[int] = set()
        self._originals: dict[Key, tuple[CorrectionRecord | ImportRecord, int | None]] = {}
        self._revisions: dict[Key, tuple[CorrectionRecord | ImportRecord, int | None]] = {}
        self._paired: set[tuple[str, Key]] = set()
        self._oc_parent: AwbRecord | CorrectionRecord | None = None
        self._oc_parent_line: int | None = None
        self._oc_sums: dict[str, Decimal] = {}

    # -- per record ----------------------------------------------------------------------------

    def record(self, rec: DetailRecord, line: int | None) -> list[Finding]:
        """Findings for one detail record; errors mark ``line`` rejected."""
        self.counts[rec.record_id] += 1
        if type(rec) is AwbRecord and not self._oc_sums and self._clean_awb(rec):
            self._oc_parent, self._oc_parent_line = rec, line
            return _NONE
        out: list[Finding] = []
        if isinstance(rec, OtherChargesRecord):
            self._other_charges(rec, line, out)
        else:
            if self._oc_parent is not None:
                self._flush_other_charges(out)
            if isinstance(rec, AwbRecord):
                self._awb(rec, line, out)
            elif isinstance(rec, CorrectionRecord):
                self._correction(rec, line, out)
            elif isinstance(rec, ImportRecord):
                self._import(rec, line, out)
        if out and line is not None and any(f.is_error for f in out if f.line == line):
            self.rejected_lines.add(line)
        return out

    def _clean_awb(self, rec: AwbRecord) -> bool:
        """The common case in one expression: a revenue AWB that every check passes.

        It books the AWB as seen (duplicates) and its serial (hash total) only when it returns
        True; otherwise the detailed checks below run and say what is wrong.
        """
        awbs = self._awbs
        key = int(rec.airline_prefix + rec.awb_serial)  # PPPSSSSSSSC
        agent = int(rec.agent_code)
        prefix, currency = self.header.airline_prefix, self.header.currency
        ok = (
            key not in awbs
            and key // 10 % 10_000_000 % 7 == key % 10
            and agent // 10 % 7 == agent % 10
            and (not prefix or rec.airline_prefix == prefix)
            and (not currency or rec.currency == currency or bool(rec.rate_of_exchange))
            and rec.use_indicator == "R"
        )
        if ok:
            awbs.add(key)
            self.serial_sum += key % 100_000_000
        return ok

    def _serial(
        self, rec: AwbRecord | CorrectionRecord | ImportRecord, line: int | None, out: list[Finding]
    ) -> None:
        serial = rec.awb_serial
        self.serial_sum += int(serial)
        if int(serial[:7]) % 7 != int(serial[7]):
            out.append(
                finding(
                    "AWB_CHECK_DIGIT",
                    f"AWB {rec.awb}: check digit should be {int(serial[:7]) % 7}",
                    line=line,
                    record_type=rec.record_id,
                    field="awb_serial",
                )
            )

    def _rate(
        self, rec: AwbRecord | CorrectionRecord | ImportRecord, line: int | None, out: list[Finding]
    ) -> None:
        file_currency = self.header.currency
        if file_currency and rec.currency != file_currency and not rec.rate_of_exchange:
            out.append(
                finding(
                    "EXCHANGE_RATE_MISSING",
                    f"{rec.currency} differs from the file currency {file_currency} "
                    "and no rate of exchange is given",
                    line=line,
                    record_type=rec.record_id,
                    field="rate_of_exchange",
                )
            )

    def _common(
        self, rec: AwbRecord | CorrectionRecord, line: int | None, out: list[Finding]
    ) -> None:
        agent, rid = rec.agent_code, rec.record_id
        self._serial(rec, line, out)
        if int(agent[:10]) % 7 != int(agent[10]):
            out.append(
                finding(
                    "AGENT_CHECK_DIGIT",
                    f"agent {agent}: check digit should be {int(agent[:10]) % 7}",
                    line=line,
                    record_type=rid,
                    field="agent_code",
                )
            )
        prefix = self.header.airline_prefix
        if prefix and rec.airline_prefix != prefix:
            out.append(
                finding(
                    "AIRLINE_PREFIX_MISMATCH",
                    f"prefix {rec.airline_prefix} differs from the header's {prefix}",
                    line=line,
                    record_type=rid,
                    field="airline_prefix",
                )
            )
        self._rate(rec, line, out)

    def _awb(self, rec: AwbRecord, line: int | None, out: list[Finding]) -> None:
        self._common(rec, line, out)
        self._once(rec, line, out)
        if rec.use_indicator != "R" and any(getattr(rec, n) for n in _CHARGE_FIELDS):
            out.append(
                finding(
                    "CHARGES_ON_NON_REVENUE",
                    f"AWB {rec.awb} is {'void' if rec.use_indicator == 'V' else 'service'} "
                    "but carries charges; they are not billed",
                    line=line,
                    record_type=rec.record_id,
                    field="use_indicator",
                )
            )
        self._oc_parent, self._oc_parent_line = rec, line

    def _import(self, rec: ImportRecord, line: int | None, out: list[Finding]) -> None:
        """An import billing or correction half: AWB check digit, recipient code, dates, rate,
        an IBI once per file, IBO/IBR in pairs."""
        self._serial(rec, line, out)
        code, country = rec.agent_code, self.header.country
        if not is_recipient_code(code):
            problem = "is not a country code and 9 digits"
        elif country and code[:2] != country:
            problem = f"is not of CASS country {country} (the header's)"
        else:
            problem = ""
        if problem:
            out.append(
                finding(
                    "RECIPIENT_CODE_INVALID",
                    f"recipient {code!r} {problem}",
                    line=line,
                    record_type=rec.record_id,
                    field="agent_code",
                )
            )
        if rec.delivery_date < rec.arrival_date:
            out.append(
                finding(
                    "DELIVERY_BEFORE_ARRIVAL",
                    f"AWB {rec.awb} delivered {rec.delivery_date}, before it arrived "
                    f"{rec.arrival_date}",
                    line=line,
                    record_type=rec.record_id,
                    field="delivery_date",
                )
            )
        self._rate(rec, line, out)
        if rec.kind == "IBI":
            self._once(rec, line, out)
        else:
            self._pair(rec, line, out)

    def _once(self, rec: AwbRecord | ImportRecord, line: int | None, out: list[Finding]) -> None:
        """``AWB_DUPLICATE`` when the file billed this AWB before."""
        key = int(rec.airline_prefix + rec.awb_serial)
        if key in self._awbs:
            out.append(
                finding(
                    "AWB_DUPLICATE",
                    f"AWB {rec.awb} is billed more than once in this file",
                    line=line,
                    record_type=rec.record_id,
                    field="awb_serial",
                )
            )
        else:
            self._awbs.add(key)

    def _correction(self, rec: CorrectionRecord, line: int | None, out: list[Finding]) -> None:
        self._common(rec, line, out)
        self._oc_parent, self._oc_parent_line = rec, line
        if rec.record_id != "ECR":
            self._pair(rec, line, out)

    def _pair(
        self, rec: CorrectionRecord | ImportRecord, line: int | None, out: list[Finding]
    ) -> None:
        """Wait for, or find, the other half of a correction; a half seen twice is reported."""
        key = rec.pair_key
        if (rec.record_id, key) in self._paired or key in (
            self._originals if rec.is_original else self._revisions
        ):
            out.append(
                finding(
                    "CORRECTION_DUPLICATE",
                    f"{rec.record_id} {rec.reference} for AWB {rec.awb} appears twice",
                    line=line,
                    record_type=rec.record_id,
                    field="reference",
                )
            )
            return
        mine, other = (
            (self._originals, self._revisions)
            if rec.is_original
            else (self._revisions, self._originals)
        )
        if key in other:
            other_rec, _ = other.pop(key)
            self._paired.add((rec.record_id, key))
            self._paired.add((other_rec.record_id, key))
        else:
            mine[key] = (rec, line)

    # -- itemised other charges ---------------------------------------------------------------

    def _other_charges(self, rec: OtherChargesRecord, line: int | None, out: list[Finding]) -> None:
        self.serial_sum += int(rec.awb_serial)
        prefix = self.header.airline_prefix
        if prefix and rec.airline_prefix != prefix:  # another airline's AWB: never booked here
            out.append(
                finding(
                    "AIRLINE_PREFIX_MISMATCH",
                    f"{rec.record_id} itemises AWB {rec.airline_prefix}-{rec.awb_serial}, not an"
                    f" AWB of airline {prefix} (the header's)",
                    line=line,
                    record_type=rec.record_id,
                    field="airline_prefix",
                )
            )
            return
        parent = self._oc_parent
        wants_awb = rec.record_id == "AW1"
        fits = parent is not None and (
            parent.airline_prefix == rec.airline_prefix
            and parent.awb_serial == rec.awb_serial
            and (
                isinstance(parent, AwbRecord)
                if wants_awb
                else isinstance(parent, CorrectionRecord)
                and parent.reference == rec.reference
                and parent.kind == ("CCA" if rec.record_id == "CC3" else "DCM")
            )
        )
        if not fits:
            out.append(
                finding(
                    "OTHER_CHARGES_ORPHAN",
                    f"{rec.record_id} for AWB {rec.airline_prefix}-{rec.awb_serial} does not "
                    "follow the record it itemises; not compared with its totals",
                    line=line,
                    record_type=rec.record_id,
                )
            )
            return
        for c in rec.charges:
            group = (
                _AWB_OC_TOTALS[c.entitlement, c.payment]
                if wants_awb
                else (_CORR_OC_TOTALS[c.entitlement])
            )
            self._oc_sums[group] = self._oc_sums.get(group, ZERO) + c.amount

    def _flush_other_charges(self, out: list[Finding]) -> None:
        parent, sums = self._oc_parent, self._oc_sums
        self._oc_parent, self._oc_sums = None, {}
        if parent is None or not sums:
            return
        groups = (
            _AWB_OC_TOTALS.values() if isinstance(parent, AwbRecord) else (_CORR_OC_TOTALS.values())
        )
        for group in groups:
            itemised, total = sums.get(group, ZERO), getattr(parent, group)
            if itemised != total:
                out.append(
                    finding(
                        "OTHER_CHARGES_TOTAL_MISMATCH",
                        f"itemised {group} add up to {itemised}, the record says {total}",
                        line=self._oc_parent_line,
                        record_type=parent.record_id,
                        field=group,
                    )
                )

    # -- end of file ---------------------------------------------------------------------------

    def flush(self) -> list[Finding]:
        """Compare the itemised charges still pending (end of a slice of the file)."""
        out: list[Finding] = []
        self._flush_other_charges(out)
        return out

    def shift(self, delta: int) -> None:
        """Renumber the lines this checker holds (a slice read with local line numbers)."""
        self.rejected_lines = {line + delta for line in self.rejected_lines}
        for pending in (self._originals, self._revisions):
            for key, (rec, line) in pending.items():
                pending[key] = (rec, None if line is None else line + delta)
        if self._oc_parent_line is not None:
            self._oc_parent_line += delta

    def forget_awbs(self) -> None:
        """Drop the AWBs seen (a caller that finds cross-slice duplicates another way)."""
        self._awbs = set()

    def absorb(self, later: FileChecker) -> set[int]:
        """Take over the state of a checker that saw the slice right after this one's.

        Corrections pending on either side pair up; returns the AWB keys (prefix and serial
        as one integer) that both slices billed: duplicates the later slice must report.
        """
        dups = self._awbs & later._awbs
        self._awbs |= later._awbs
        for rid, n in later.counts.items():
            self.counts[rid] += n
        self.serial_sum += later.serial_sum
        self.rejected_lines |= later.rejected_lines
        self._paired |= later._paired
        for mine, other, theirs in (
            (self._originals, self._revisions, later._originals),
            (self._revisions, self._originals, later._revisions),
        ):
            for key, entry in theirs.items():
                if key in other:
                    other.pop(key)
                else:
                    mine[key] = entry
        return dups

    def finish(self) -> list[Finding]:
        """Findings only the end of the file can tell (unpaired corrections)."""
        out = self.flush()
        for code, pending in (
            ("CORRECTION_REVISED_MISSING", self._originals),
            ("CORRECTION_ORIGINAL_MISSING", self._revisions),
        ):
            for rec, line in pending.values():
                missing = "revision" if code == "CORRECTION_REVISED_MISSING" else "original"
                out.append(
                    finding(
                        code,
                        f"{rec.record_id} {rec.reference} for AWB {rec.awb} has no {missing} "
                        "in this file",
                        line=line,
                        record_type=rec.record_id,
                        field="reference",
                    )
                )
                if line is not None:
                    self.rejected_lines.add(line)
        self._originals.clear()
        self._revisions.clear()
        return out


def locate(found: list[Finding], columns: dict[str, tuple[int, int]]) -> list[Finding]:
    """The same findings with columns filled in from a layout's field positions."""
    return [
        replace(f, columns=columns[f.field]) if f.columns is None and f.field in columns else f
        for f in found
    ]
