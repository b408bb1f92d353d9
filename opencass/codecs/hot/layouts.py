"""Record layouts of the CASS HOT files, one declarative table per record type.

Positions are 1-based and inclusive, exactly as HOT.md lists them, so that an operator holding
the licensed CASS handbook can correct a position by editing one line here.  Every table covers
positions 1-250 without gap or overlap (checked at import).

Field kinds:

``ID``       the record identifier
``TEXT``     alphanumeric, blank-filled on the right; decoded without trailing blanks
``REQ``      like TEXT, but must not be blank
``RES``      reserved or filler: kept verbatim, written back unchanged
``NUM``      digits kept as a string (AWB serial, agent code, file number)
``NUMOPT``   digits or all blank ("")
``INT``      digits decoded as an integer (counts)
``INTOPT``   an integer, or None when all blank
``DATE``     ``YYMMDD`` (00-79 → 20xx, 80-99 → 19xx)
``DATEOPT``  a date, or None when all blank
``AMOUNT``   unsigned, implied decimals = the currency's minor units
``DEC1``/``DEC2``  unsigned, one / two implied decimals (gross weight, commission %)
``RATE``     explicit point and five decimals: ``00000.00000`` (11), ``0000.00000`` (10)
``CUR``      ISO 4217 currency code
``IND``      one character out of ``allowed`` (a blank in ``allowed`` permits blank → "")
``SIGN``     ``-`` or blank: the sign of the amount field named in ``target``
``OCSLOTS``  the twelve 16-character itemised other-charge slots of AW1/CC3/DC3
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from opencass.model import (
    IMPORT_HEADER_IDS,
    AwbRecord,
    BillingHeader,
    BillingTrailer,
    CorrectionRecord,
    Dialect,
    ImportRecord,
    OtherChargesRecord,
)

RECORD_LENGTH = 250


class Kind(enum.Enum):
    """How a field's characters are read and written."""

    ID = "id"
    TEXT = "text"
    REQ = "required text"
    RES = "reserved"
    NUM = "digits"
    NUMOPT = "digits or blank"
    INT = "integer"
    INTOPT = "integer or blank"
    DATE = "date YYMMDD"
    DATEOPT = "date YYMMDD or blank"
    AMOUNT = "amount"
    DEC1 = "number with 1 implied decimal"
    DEC2 = "number with 2 implied decimals"
    RATE = "rate 00000.00000"
    CUR = "currency code"
    IND = "indicator"
    SIGN = "sign"
    OCSLOTS = "other-charge slots"


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a fixed-width record."""

    name: str
    start: int  # 1-based, inclusive
    end: int  # 1-based, inclusive
    kind: Kind
    allowed: str = ""  # IND: permitted characters; SIGN: the amount field it signs

    @property
    def width(self) -> int:
        """Number of characters."""
        return self.end - self.start + 1

    @property
    def columns(self) -> tuple[int, int]:
        """(start, end), 1-based inclusive, as findings report them."""
        return (self.start, self.end)


@dataclass(frozen=True, slots=True)
class Layout:
    """A record type's table: which model class it decodes to and where each field stands."""

    name: str
    record_ids: tuple[str, ...]
    model: type
    fields: tuple[Field, ...]
    role: str  # "header", "detail" or "trailer"
    absent: tuple[tuple[str, str], ...] = ()  # model fields without a column: their value


def F(name: str, start: int, end: int, kind: Kind, allowed: str = "") -> Field:  # noqa: N802
    """Shorthand for a table row."""
    return Field(name, start, end, kind, allowed)


K = Kind

_AMOUNTS_8 = (
    "weight_charge_prepaid",
    "valuation_charge_prepaid",
    "other_charges_carrier_prepaid",
    "other_charges_agent_prepaid",
    "weight_charge_collect",
    "valuation_charge_collect",
    "other_charges_carrier_collect",
    "other_charges_agent_collect",
)


def _eight_amounts(start: int) -> tuple[Field, ...]:
    return tuple(
        F(n, start + 12 * i, start + 12 * i + 11, K.AMOUNT) for i, n in enumerate(_AMOUNTS_8)
    )


HEADER_HANDOFF = Layout(
    "AAA (hand-off)",
    ("AAA",),
    BillingHeader,
    (
        F("record_id", 1, 3, K.ID),
        F("country", 4, 5, K.REQ),
        F("airline_prefix", 6, 8, K.NUMOPT),
        F("period_start", 9, 14, K.DATE),
        F("period_end", 15, 20, K.DATE),
        F("billing_date", 21, 26, K.DATE),
        F("file_number", 27, 28, K.NUM),
        F("currency", 29, 31, K.CUR),
        F("branch", 32, 32, K.TEXT),
        F("agent_code", 33, 39, K.NUMOPT),
        F("reserved", 40, 250, K.RES),
    ),
    "header",
)

HEADER_PARTICIPANT = Layout(
    "ALS/AAA (participant)",
    ("ALS", "AAA"),
    BillingHeader,
    (
        F("record_id", 1, 3, K.ID),
        F("country", 4, 5, K.REQ),
        F("branch", 6, 6, K.TEXT),
        F("filler", 7, 16, K.RES),
        F("airline_prefix", 17, 19, K.NUM),
        F("period_start", 20, 25, K.DATE),
        F("period_end", 26, 31, K.DATE),
        F("billing_date", 32, 37, K.DATE),
        F("file_number", 38, 39, K.NUM),
        F("reserved", 40, 250, K.RES),
    ),
    "header",
)

AWB_HANDOFF = Layout(
    "AWM (hand-off)",
    ("AWM",),
    AwbRecord,
    (
        F("record_id", 1, 3, K.ID),
        F("branch", 4, 4, K.TEXT),
        F("vat_indicator", 5, 5, K.IND, "YN "),
        F("airline_prefix", 6, 8, K.NUM),
        F("awb_serial", 9, 16, K.NUM),
        F("modulus_check", 17, 17, K.TEXT),
        F("filler1", 18, 18, K.RES),
        F("origin", 19, 21, K.REQ),
        F("agent_code", 22, 32, K.NUM),
        F("use_indicator", 33, 33, K.IND, "RSV"),
        F("late_indicator", 34, 34, K.IND, "L "),
        F("filler2", 35, 36, K.RES),
        F("destination", 37, 39, K.REQ),
        F("execution_date", 40, 45, K.DATE),
        F("gross_weight", 46, 52, K.DEC1),
        F("weight_unit", 53, 53, K.IND, "KL"),
        F("currency", 54, 56, K.CUR),
        *_eight_amounts(57),
        F("commission_percentage", 153, 156, K.DEC2),
        F("commission", 157, 168, K.AMOUNT),
        F("tax_due_airline_indicator", 169, 169, K.TEXT),
        F("agent_reference", 170, 183, K.TEXT),
        F("filler3", 184, 193, K.RES),
        F("acceptance_date", 194, 199, K.DATEOPT),
        F("rate_of_exchange", 200, 210, K.RATE),
        F("discount", 211, 222, K.AMOUNT),
        F("tax_due_airline", 223, 230, K.AMOUNT),
        F("tax_due_agent", 231, 238, K.AMOUNT),
        F("reserved", 239, 249, K.RES),
        F("discount_sign", 250, 250, K.SIGN, "discount"),
    ),
    "detail",
)

AWB_PARTICIPANT = Layout(
    "AWM/AWB (participant)",
    ("AWM", "AWB"),
    AwbRecord,
    (
        F("record_id", 1, 3, K.ID),
        F("invoice_indicator", 4, 4, K.TEXT),
        F("vat_indicator", 5, 5, K.IND, "YN "),
        F("agent_code", 6, 16, K.NUM),
        F("airline_prefix", 17, 19, K.NUM),
        F("awb_serial", 20, 27, K.NUM),
        F("modulus_check", 28, 28, K.TEXT),
        F("filler1", 29, 29, K.RES),
        F("origin", 30, 32, K.REQ),
        F("use_indicator", 33, 33, K.IND, "RSV"),
        F("branch", 34, 34, K.TEXT),
        F("filler2", 35, 35, K.RES),
        F("destination", 36, 38, K.REQ),
        F("execution_date", 39, 44, K.DATE),
        F("gross_weight", 45, 51, K.DEC1),
        F("weight_unit", 52, 52, K.IND, "KL"),
        F("currency", 53, 55, K.CUR),
        *_eight_amounts(56),
        F("commission_percentage", 152, 155, K.DEC2),
        F("commission", 156, 167, K.AMOUNT),
        F("commission_indicator", 168, 168, K.TEXT),
        F("discount", 169, 180, K.AMOUNT),
        F("acceptance_date", 181, 186, K.DATEOPT),
        F("agent_reference", 187, 200, K.TEXT),
        F("rate_of_exchange", 201, 211, K.RATE),
        F("tax_due_airline", 212, 223, K.AMOUNT),
        F("tax_due_agent", 224, 235, K.AMOUNT),
        F("reserved", 236, 249, K.RES),
        F("discount_sign", 250, 250, K.SIGN, "discount"),
    ),
    "detail",
)

CORRECTION = Layout(
    "CCO/CCR/DCO/DCR/ECR",
    ("CCO", "CCR", "DCO", "DCR", "ECR"),
    CorrectionRecord,
    (
        F("record_id", 1, 3, K.ID),
        F("branch", 4, 4, K.TEXT),
        F("vat_indicator", 5, 5, K.IND, "YN "),
        F("airline_prefix", 6, 8, K.NUM),
        F("awb_serial", 9, 16, K.NUM),
        F("modulus_check", 17, 17, K.TEXT),
        F("filler1", 18, 18, K.RES),
        F("origin", 19, 21, K.REQ),
        F("agent_code", 22, 32, K.NUM),
        F("reference", 33, 38, K.REQ),
        F("currency", 39, 41, K.CUR),
        F("rate_of_exchange", 42, 52, K.RATE),
        F("execution_date", 53, 58, K.DATE),
        F("weight_charge_pc", 59, 59, K.IND, "PC "),
        F("weight_charge", 60, 71, K.AMOUNT),
        F("valuation_charge_pc", 72, 72, K.IND, "PC "),
        F("valuation_charge", 73, 84, K.AMOUNT),
        F("taxes_pc", 85, 85, K.IND, "PC "),
        F("taxes", 86, 97, K.AMOUNT),
        F("other_charges_agent_pc", 98, 98, K.IND, "PC "),
        F("other_charges_agent", 99, 110, K.AMOUNT),
        F("other_charges_carrier_pc", 111, 111, K.IND, "PC "),
        F("other_charges_carrier", 112, 123, K.AMOUNT),
        F("vat_on_charges", 124, 135, K.AMOUNT),
        F("commission", 136, 147, K.AMOUNT),
        F("vat_on_commission", 148, 159, K.AMOUNT),
        F("discount", 160, 171, K.AMOUNT),
        F("discount_sign", 172, 172, K.SIGN, "discount"),
        F("weight_unit", 173, 173, K.IND, "KL"),
        F("gross_weight", 174, 180, K.DEC1),
        F("destination", 181, 183, K.REQ),
        F("reserved", 184, 200, K.RES),
        F("reason", 201, 250, K.TEXT),
    ),
    "detail",
)

OTHER_CHARGES = Layout(
    "AW1/CC3/DC3",
    ("AW1", "CC3", "DC3"),
    OtherChargesRecord,
    (
        F("record_id", 1, 3, K.ID),
        F("filler1", 4, 5, K.RES),
        F("airline_prefix", 6, 8, K.NUM),
        F("awb_serial", 9, 16, K.NUM),
        F("reference", 17, 22, K.TEXT),
        F("filler2", 23, 24, K.RES),
        F("charges", 25, 216, K.OCSLOTS),
        F("reserved", 217, 250, K.RES),
    ),
    "detail",
)

#: Width of one itemised other-charge slot: code (2), entitlement (1), P/C (1), amount (12).
OC_SLOT = 16
OC_SLOTS = 12

_COUNT_IDS = ("AWM", "AW1", "AW2", "AW3", "AW4", "AW5", "CCR", "CCO", "DCR", "DCO")

TRAILER_HANDOFF = Layout(
    "TTT (hand-off)",
    ("TTT",),
    BillingTrailer,
    (
        F("record_id", 1, 3, K.ID),
        F("filler1", 4, 4, K.RES),
        F("country", 5, 6, K.REQ),
        F("office", 7, 9, K.TEXT),
        F("airline_prefix", 10, 12, K.NUMOPT),
        F("branch", 13, 13, K.TEXT),
        F("awb_count", 14, 20, K.INT),
        F("cca_count", 21, 27, K.INT),
        F("dcm_count", 28, 34, K.INT),
        F("total_count", 35, 41, K.INT),
        *(F(f"count_{rid}", 42 + 7 * i, 48 + 7 * i, K.INTOPT) for i, rid in enumerate(_COUNT_IDS)),
        F("reserved", 112, 250, K.RES),
    ),
    "trailer",
)

TRAILER_PARTICIPANT = Layout(
    "TTT (participant)",
    ("TTT",),
    BillingTrailer,
    (
        F("record_id", 1, 3, K.ID),
        F("country", 4, 5, K.REQ),
        F("airline_prefix", 6, 8, K.NUM),
        F("branch", 9, 9, K.TEXT),
        F("filler1", 10, 16, K.RES),
        F("awb_count", 17, 23, K.INT),
        F("cca_count", 24, 30, K.INT),
        F("dcm_count", 31, 37, K.INT),
        F("total_count", 38, 44, K.INT),
        F("hash_total", 45, 56, K.INTOPT),
        F("count_AW1", 57, 63, K.INTOPT),
        F("count_CC3", 64, 70, K.INTOPT),
        F("count_DC3", 71, 77, K.INTOPT),
        F("reserved", 78, 250, K.RES),
    ),
    "trailer",
)


# --- CASS Import [S]: positions HOT.md asserts; the rest kept verbatim ---------------------------
#
# The header's positions 4-14 are the party code: the CASS country (4-5) and nine digits (6-14),
# in a hand-off file the consignee agent's recipient code (e.g. JP054000004), in a billing
# party's submission the country and its own code or blanks.  35-36 hold "01" in the sample:
# read as the file number [P].  The detail records' 92-101 hold "0087.67000" (USD 87.67 to the
# yen in the sample): a rate of exchange with five decimals [P]; 63-68 "DL0619" a flight [P];
# 199-200 and 213-214 the codes of the two other charges whose amounts follow [P].

HEADER_IMPORT = Layout(
    "AA2/AA3 (import)",
    ("AA2", "AA3"),
    BillingHeader,
    (
        F("record_id", 1, 3, K.ID),
        F("country", 4, 5, K.REQ),
        F("agent_code", 6, 14, K.NUMOPT),
        F("filler1", 15, 16, K.RES),
        F("period_start", 17, 22, K.DATE),
        F("period_end", 23, 28, K.DATE),
        F("billing_date", 29, 34, K.DATE),
        F("file_number", 35, 36, K.NUM),
        F("currency", 37, 39, K.CUR),
        F("reserved", 40, 250, K.RES),
    ),
    "header",
    absent=(("airline_prefix", ""),),
)

IMPORT = Layout(
    "IBI/IBO/IBR (import)",
    ("IBI", "IBO", "IBR"),
    ImportRecord,
    (
        F("record_id", 1, 3, K.ID),
        F("filler1", 4, 22, K.RES),
        F("agent_code", 23, 33, K.REQ),
        F("filler2", 34, 37, K.RES),
        F("airline_prefix", 38, 40, K.NUM),
        F("awb_serial", 41, 48, K.NUM),
        F("filler3", 49, 56, K.RES),
        F("origin", 57, 59, K.REQ),
        F("destination", 60, 62, K.REQ),
        F("flight", 63, 68, K.TEXT),
        F("arrival_date", 69, 74, K.DATE),
        F("delivery_date", 75, 80, K.DATE),
        F("gross_weight", 81, 87, K.DEC1),
        F("weight_unit", 88, 88, K.IND, "KL"),
        F("currency", 89, 91, K.CUR),
        F("rate_of_exchange", 92, 101, K.RATE),
        F("weight_charges", 102, 113, K.AMOUNT),
        F("charges_due_agent", 114, 125, K.AMOUNT),
        F("charges_due_carrier", 126, 137, K.AMOUNT),
        F("filler4", 138, 149, K.RES),
        F("fee", 150, 161, K.AMOUNT),
        F("fee_charged", 162, 162, K.IND, "YN"),
        F("handling_charges", 163, 174, K.AMOUNT),
        F("storage_charges", 175, 186, K.AMOUNT),
        F("filler5", 187, 198, K.RES),
        F("other_charge_1_code", 199, 200, K.TEXT),
        F("other_charge_1", 201, 212, K.AMOUNT),
        F("other_charge_2_code", 213, 214, K.TEXT),
        F("other_charge_2", 215, 226, K.AMOUNT),
        F("miscellaneous_charges", 227, 238, K.AMOUNT),
        F("reserved", 239, 250, K.RES),
    ),
    "detail",
)

#: Per record id counts of an import trailer [P]: the hand-off trailer's 1-41, then these.
IMPORT_COUNT_IDS = ("IBI", "IBO", "IBR")

TRAILER_IMPORT = Layout(
    "TTT (import)",
    ("TTT",),
    BillingTrailer,
    (
        *TRAILER_HANDOFF.fields[:10],
        *(
            F(f"count_{rid}", 42 + 7 * i, 48 + 7 * i, K.INTOPT)
            for i, rid in enumerate(IMPORT_COUNT_IDS)
        ),
        F("reserved", 63, 250, K.RES),
    ),
    "trailer",
)

#: What the trailer's three counts add up: AWB billings, CCA records (import corrections count
#: as CCAs), DCM records.
COUNT_GROUPS = (("AWM", "AWB", "IBI"), ("CCO", "CCR", "IBO", "IBR"), ("DCO", "DCR"))


def group_counts(n: Mapping[str, int]) -> tuple[int, int, int]:
    """(AWB, CCA, DCM) record counts from counts per record id (``COUNT_GROUPS``)."""
    awb, cca, dcm = (sum(n.get(rid, 0) for rid in group) for group in COUNT_GROUPS)
    return awb, cca, dcm


@dataclass(frozen=True, slots=True)
class DialectLayouts:
    """Every layout of one dialect, by role and record id."""

    dialect: Dialect
    header: Layout
    trailer: Layout
    details: dict[str, Layout]


DIALECTS: dict[Dialect, DialectLayouts] = {
    Dialect.HANDOFF: DialectLayouts(
        Dialect.HANDOFF,
        HEADER_HANDOFF,
        TRAILER_HANDOFF,
        {
            **dict.fromkeys(AWB_HANDOFF.record_ids, AWB_HANDOFF),
            **dict.fromkeys(CORRECTION.record_ids, CORRECTION),
            **dict.fromkeys(OTHER_CHARGES.record_ids, OTHER_CHARGES),
        },
    ),
    Dialect.PARTICIPANT: DialectLayouts(
        Dialect.PARTICIPANT,
        HEADER_PARTICIPANT,
        TRAILER_PARTICIPANT,
        {
            **dict.fromkeys(AWB_PARTICIPANT.record_ids, AWB_PARTICIPANT),
            **dict.fromkeys(("CCO", "CCR", "DCO", "DCR"), CORRECTION),
            **dict.fromkeys(OTHER_CHARGES.record_ids, OTHER_CHARGES),
        },
    ),
    Dialect.IMPORT: DialectLayouts(
        Dialect.IMPORT, HEADER_IMPORT, TRAILER_IMPORT, dict.fromkeys(IMPORT.record_ids, IMPORT)
    ),
}

ALL_LAYOUTS = (
    HEADER_HANDOFF,
    HEADER_PARTICIPANT,
    AWB_HANDOFF,
    AWB_PARTICIPANT,
    CORRECTION,
    OTHER_CHARGES,
    TRAILER_HANDOFF,
    TRAILER_PARTICIPANT,
    HEADER_IMPORT,
    IMPORT,
    TRAILER_IMPORT,
)


@cache
def columns(layout: Layout) -> dict[str, tuple[int, int]]:
    """Each field of ``layout`` as a 0-based ``[start, end)`` slice of a line."""
    return {f.name: (f.start - 1, f.end) for f in layout.fields}


def detect_dialect(header_line: str) -> Dialect:
    """The dialect a header line announces (HOT.md "Files")."""
    rid = header_line[:3]
    if rid in IMPORT_HEADER_IDS:
        return Dialect.IMPORT
    if rid == "ALS":
        return Dialect.PARTICIPANT
    if rid == "AAA" and header_line[8:14].strip() == "" and header_line[16:19].isdigit():
        return Dialect.PARTICIPANT
    return Dialect.HANDOFF


def _check_coverage(layout: Layout) -> None:
    pos = 1
    for f in layout.fields:
        if f.start != pos or f.end < f.start:
            raise AssertionError(
                f"{layout.name}: field {f.name} starts at {f.start}, expected {pos}"
            )
        pos = f.end + 1
    if pos != RECORD_LENGTH + 1:
        raise AssertionError(f"{layout.name}: covers 1-{pos - 1}, expected 1-{RECORD_LENGTH}")


for _layout in ALL_LAYOUTS:
    _check_coverage(_layout)
