"""Encoding of HOT files: whole files from the model, or streamed record by record."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from opencass.codecs.checks import hash_total
from opencass.codecs.hot.layouts import DIALECTS, IMPORT_COUNT_IDS, Kind, Layout, group_counts
from opencass.codecs.hot.records import EncodeError, encode_record
from opencass.model import (
    AwbRecord,
    BillingFile,
    BillingHeader,
    BillingTrailer,
    CorrectionRecord,
    DetailRecord,
    Dialect,
    ImportRecord,
    RawRecord,
    minor_units,
)

__all__ = ["HotWriter", "build_trailer", "encode", "trailer_of_counts"]

_TYPE_COUNT_IDS = {
    Dialect.HANDOFF: ("AWM", "AW1", "AW2", "AW3", "AW4", "AW5", "CCR", "CCO", "DCR", "DCO"),
    Dialect.PARTICIPANT: ("AW1", "CC3", "DC3"),
    Dialect.IMPORT: IMPORT_COUNT_IDS,
}


def build_trailer(
    header: BillingHeader,
    records: Iterable[DetailRecord],
    dialect: Dialect,
    *,
    office: str = "",
    type_counts: bool = True,
) -> BillingTrailer:
    """A trailer whose counts (and, in the participant dialect, hash total) fit ``records``."""
    n: Counter[str] = Counter()
    serials = 0
    for r in records:
        n[r.record_id] += 1
        if not isinstance(r, RawRecord):
            serials += int(r.awb_serial)
    return trailer_of_counts(header, n, dialect, office=office, type_counts=type_counts,
                             serials=serials)  # fmt: skip


def trailer_of_counts(
    header: BillingHeader,
    n: Mapping[str, int],
    dialect: Dialect,
    *,
    office: str = "",
    type_counts: bool = True,
    serials: int = 0,
) -> BillingTrailer:
    """A trailer of records counted by type ``n`` (``serials``: the sum of their AWB serial
    numbers, for the participant dialect's hash total)."""
    n = Counter(n)
    awb, cca, dcm = group_counts(n)
    counts = tuple((rid, n[rid]) for rid in _TYPE_COUNT_IDS[dialect]) if type_counts else ()
    return BillingTrailer(
        country=header.country,
        office=office if dialect is not Dialect.PARTICIPANT else "",
        airline_prefix=header.airline_prefix,
        branch=header.branch,
        awb_count=awb,
        cca_count=cca,
        dcm_count=dcm,
        total_count=awb + cca + dcm,
        type_counts=counts,
        hash_total=hash_total(serials) if dialect is Dialect.PARTICIPANT else None,
    )


@dataclass(frozen=True, slots=True)
class _Copy:
    """What ``HotWriter.copy_line`` needs of a layout (found once per layout)."""

    reserved: tuple[tuple[int, int], ...]
    serial: tuple[int, int]
    late: int  # column of the late indicator, 0 if none


_COPY: dict[int, _Copy] = {}  # by id() of a layout: layouts are module constants


def _copy_info(layout: Layout) -> _Copy:
    found = _COPY.get(id(layout))
    if found is None:
        serial = next(f for f in layout.fields if f.name == "awb_serial")
        found = _COPY[id(layout)] = _Copy(
            tuple((f.start, f.end) for f in layout.fields if f.kind is Kind.RES),
            (serial.start, serial.end),
            next((f.start for f in layout.fields if f.name == "late_indicator"), 0),
        )
    return found


class HotWriter:
    """Encode one file record by record (for files too large to hold as a model)."""

    def __init__(
        self,
        header: BillingHeader,
        dialect: Dialect,
        line_ending: str = "\n",
        *,
        keep_reserved: bool = True,
    ) -> None:
        self.dialect = dialect
        self.keep = keep_reserved
        self.layouts = DIALECTS[dialect]
        self.header = header
        self.end = line_ending
        self.counts: Counter[str] = Counter()
        self.serials = 0
        self._mu = minor_units(header.currency) if header.currency else 2

    def header_line(self) -> str:
        """The encoded header line."""
        return encode_record(self.layouts.header, self.header, keep_reserved=self.keep) + self.end

    def line(self, record: DetailRecord) -> str:
        """The encoded line of one detail record."""
        self.counts[record.record_id] += 1
        if isinstance(record, RawRecord):
            return record.text.ljust(250) + self.end
        self.serials += int(record.awb_serial)
        layout: Layout | None = self.layouts.details.get(record.record_id)
        if layout is None:
            raise EncodeError(f"{record.record_id} has no layout in the {self.dialect} dialect")
        if isinstance(record, AwbRecord | CorrectionRecord | ImportRecord):
            self._mu = minor_units(record.currency)
        return encode_record(layout, record, self._mu, keep_reserved=self.keep) + self.end

    def copy_line(self, text: str, *, late: bool = False) -> str:
        """A detail line already in this writer's dialect, written as ``line`` would write its
        decoded record: reserved positions blanked unless kept, the late indicator set when
        ``late`` (AWB records), counted for the trailer.  Costs a few slices, not an encoding.
        """
        rid = text[:3]
        layout: Layout | None = self.layouts.details.get(rid)
        if layout is None:
            raise EncodeError(f"{rid} has no layout in the {self.dialect} dialect")
        info = _copy_info(layout)
        self.counts[rid] += 1
        self.serials += int(text[info.serial[0] - 1 : info.serial[1]])
        line = text.ljust(250)
        if not self.keep:
            for start, end in info.reserved:
                if not line[start - 1 : end].isspace():
                    line = line[: start - 1] + " " * (end - start + 1) + line[end:]
        col = info.late
        if late and col and line[col - 1] == " ":
            line = line[: col - 1] + "L" + line[col:]
        return line + self.end

    def trailer_line(self, trailer: BillingTrailer | None = None, office: str = "") -> str:
        """The trailer: ``trailer`` as given, or one computed from the lines written."""
        if trailer is None:
            n, dialect = self.counts, self.dialect
            awb, cca, dcm = group_counts(n)
            trailer = BillingTrailer(
                country=self.header.country,
                office=office if dialect is not Dialect.PARTICIPANT else "",
                airline_prefix=self.header.airline_prefix,
                branch=self.header.branch,
                awb_count=awb,
                cca_count=cca,
                dcm_count=dcm,
                total_count=awb + cca + dcm,
                type_counts=tuple((rid, n[rid]) for rid in _TYPE_COUNT_IDS[dialect]),
                hash_total=hash_total(self.serials) if dialect is Dialect.PARTICIPANT else None,
            )
        return encode_record(self.layouts.trailer, trailer, keep_reserved=self.keep) + self.end


def encode(file: BillingFile, dialect: Dialect | None = None) -> bytes:
    """The bytes of ``file`` in its dialect (or ``dialect``), its trailer as the model has it."""
    dialect = dialect or file.dialect
    header = file.header
    if dialect is Dialect.HANDOFF and not header.currency:
        # The participant header has no currency; the hand-off header takes the records'.
        first = next((r for r in file.records if isinstance(r, AwbRecord | CorrectionRecord)), None)
        if first is not None:
            header = replace(header, currency=first.currency)
    w = HotWriter(header, dialect, file.line_ending, keep_reserved=dialect is file.dialect)
    parts = [w.header_line(), *(w.line(r) for r in file.records)]
    trailer = file.trailer if dialect is file.dialect else None
    parts.append(w.trailer_line(trailer, file.trailer.office))
    return "".join(parts).encode("ascii")
