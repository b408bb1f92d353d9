"""The canonical billing model shared by every codec, the settlement engine and the outbox.

Theory of operation
-------------------
A billing file is a header, an ordered tuple of detail records and a trailer.  Detail records
are AWB billing records, correction records (one half of a CCA or DCM pair), itemised
other-charges records, or records kept verbatim because they could not be parsed.  All of them
are frozen dataclasses with slots: once decoded, a record never changes.

Money is ``decimal.Decimal`` in the record's currency.  Each record carries its currency once,
and every amount on it is in that currency; ``Money`` pairs an amount with its currency where
amounts of several records meet.  The minor units of a currency (EUR 2, JPY 0, KWD 3) come from
the CLDR currency data shipped with Babel, never from a table typed in here.

Reserved and filler positions of the fixed-width formats are carried in ``reserved`` so that a
record decoded from HOT encodes back to the same bytes; other formats leave them blank.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any, NamedTuple, TypeVar, get_type_hints

from opencass.errors import InputError

__all__ = [
    "IMPORT_HEADER_IDS",
    "IMPORT_SUFFIX",
    "ZERO",
    "AwbRecord",
    "BillingFile",
    "BillingHeader",
    "BillingTrailer",
    "BookedRow",
    "Correction",
    "CorrectionRecord",
    "CurrencyError",
    "DetailRecord",
    "Dialect",
    "ImportCorrection",
    "ImportRecord",
    "LedgerSnapshot",
    "Money",
    "OtherCharge",
    "OtherChargesRecord",
    "RawRecord",
    "agent_check_digit",
    "awb_check_digit",
    "frozen_builder",
    "indicator_fields",
    "is_currency",
    "is_recipient_code",
    "minor_units",
    "money_fields",
    "operation_key",
    "payable",
    "quantize",
]

ZERO = Decimal(0)
T = TypeVar("T")


class CurrencyError(InputError, ValueError):
    """An ISO 4217 code that the currency data does not know."""

    code = "CURRENCY_UNKNOWN"


@cache
def is_currency(code: str) -> bool:
    """True when ``code`` is an ISO 4217 currency code known to the CLDR data."""
    from babel.numbers import is_currency as _is_currency

    return len(code) == 3 and code.isupper() and bool(_is_currency(code))


@cache
def payable(amount: Decimal, currency: str) -> bool:
    """Whether ``amount`` can be paid in ``currency``: finite, positive, and with no more
    decimals than the currency has."""
    places = Decimal(1).scaleb(-minor_units(currency))
    return amount.is_finite() and amount > 0 and amount == amount.quantize(places)


@cache  # only known codes are remembered (an unknown one raises): a few hundred at most
def minor_units(code: str) -> int:
    """Number of decimal places of a currency (EUR 2, JPY 0, KWD 3)."""
    if not is_currency(code):
        raise CurrencyError(f"unknown currency code {code!r}")
    from babel.numbers import get_currency_precision

    return int(get_currency_precision(code))


@cache
def _minor_unit(currency: str) -> Decimal:
    """The smallest unit of ``currency`` as an exponent (EUR 0.01, JPY 1)."""
    return Decimal(1).scaleb(-minor_units(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` half-up to the minor units of ``currency``."""
    return amount.quantize(_minor_unit(currency), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of one currency."""

    amount: Decimal
    currency: str

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Zero in ``currency``, at its minor units."""
        return cls(quantize(ZERO, currency), currency)

    def rounded(self) -> Money:
        """This amount rounded half-up to the currency's minor units."""
        return Money(quantize(self.amount, self.currency), self.currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def awb_check_digit(serial7: str) -> int:
    """Check digit of an AWB serial: the first seven digits modulo 7."""
    return int(serial7) % 7


def agent_check_digit(code10: str) -> int:
    """Check digit of a CASS agent code: IATA code + first three CASS digits, modulo 7."""
    return int(code10) % 7


class Dialect(enum.StrEnum):
    """The layout family of a HOT billing file."""

    HANDOFF = "handoff"
    PARTICIPANT = "participant"
    IMPORT = "import"  # CASS Import: AA2/AA3 header, IBI/IBO/IBR records


#: Header record ids of CASS Import files (HOT.md "CASS Import").
IMPORT_HEADER_IDS = ("AA2", "AA3")
#: The suffix of an import operation's key: ``DE`` is Germany's CASS Export, ``DE-I`` its Import.
IMPORT_SUFFIX = "-I"


def is_recipient_code(code: str) -> bool:
    """A CASS Import consignee agent's recipient code: ISO country and nine digits
    (``JP054000004``)."""
    return (
        len(code) == 11 and code[:2].isascii() and code[:2].isupper() and code[:2].isalpha()
        and code[2:].isascii() and code[2:].isdigit()
    )  # fmt: skip


def operation_key(country: str, kind: str) -> str:
    """The key of a CASS operation: the ISO country for ``export``, ``DE-I`` for ``import``."""
    return country + IMPORT_SUFFIX if kind == "import" else country


def frozen_builder(cls: type[T]) -> Callable[..., T]:
    """A fast positional constructor for a frozen, slotted dataclass ``cls``.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, which
    costs ~80 ns a field; decoding a million 40-field records spends seconds on that alone.
    The builder constructs a mutable twin with the identical slot layout and then retypes the
    instance to ``cls``: the result is an ordinary frozen ``cls`` instance (equality, hashing
    and immutability unchanged), built in a fraction of the time.  Callers pass every field,
    positionally and in declaration order, already validated.
    """
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    ns: dict[str, Any] = {"__slots__": tuple(names)}
    args = ", ".join(names)
    body = "".join(f"\n    self.{n} = {n}" for n in names) or "\n    pass"
    exec(f"def __init__(self, {args}):{body}", ns)  # noqa: S102 - generated from field names
    twin = type(f"_{cls.__name__}Builder", (), ns)

    def build(*values: Any) -> T:
        obj: Any = twin(*values)
        obj.__class__ = cls
        built: T = obj
        return built

    return build


def frozen_replacer(cls: type[T]) -> Callable[..., T]:
    """``dataclasses.replace`` for a frozen, slotted dataclass ``cls``, several times faster:
    every field is read at once and the copy made by ``frozen_builder``.  Like the builder it
    validates nothing: callers give the named fields values of their types."""
    names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    get = operator.attrgetter(*names)  # a tuple of the values, from two fields on
    read = get if len(names) > 1 else (lambda obj: (get(obj),))
    index = {n: i for i, n in enumerate(names)}
    build = frozen_builder(cls)

    def evolve(obj: T, **changes: Any) -> T:
        values = list(read(obj))
        for name, value in changes.items():
            values[index[name]] = value
        return build(*values)

    return evolve


@dataclass(frozen=True, slots=True)
class BillingHeader:
    """First record of a billing or hand-off file (``AAA`` or ``ALS``)."""

    record_id: str
    country: str
    airline_prefix: str  # "" in an agent hand-off file
    period_start: date
    period_end: date
    billing_date: date
    file_number: str
    currency: str = ""  # "" where the layout has no currency (participant dialect)
    branch: str = ""
    agent_code: str = ""  # IATA 7-digit code in an agent hand-off file, else ""
    reserved: tuple[str, ...] = ()

    @property
    def operation(self) -> str:
        """The CASS operation the file belongs to: ``DE`` (export) or ``DE-I`` (import)."""
        kind = "import" if self.record_id in IMPORT_HEADER_IDS else "export"
        return operation_key(self.country, kind)

    @property
    def recipient(self) -> str:
        """An import header's party code (positions 4-14): the country and its 9 digits."""
        return self.country + self.agent_code if self.agent_code else ""


@dataclass(frozen=True, slots=True)
class AwbRecord:
    """One air waybill billed to one agent (``AWM``/``AWB``).

    All amounts are in ``currency``; ``discount`` is signed (negative when the sign is ``-``).
    """

    record_id: str
    branch: str
    vat_indicator: str
    airline_prefix: str
    awb_serial: str
    modulus_check: str
    origin: str
    agent_code: str
    use_indicator: str  # R revenue, S service, V void
    destination: str
    execution_date: date
    gross_weight: Decimal
    weight_unit: str  # K or L
    currency: str
    weight_charge_prepaid: Decimal
    valuation_charge_prepaid: Decimal
    other_charges_carrier_prepaid: Decimal
    other_charges_agent_prepaid: Decimal
    weight_charge_collect: Decimal
    valuation_charge_collect: Decimal
    other_charges_carrier_collect: Decimal
    other_charges_agent_collect: Decimal
    commission_percentage: Decimal
    commission: Decimal
    agent_reference: str
    acceptance_date: date | None
    rate_of_exchange: Decimal
    discount: Decimal
    tax_due_airline: Decimal
    tax_due_agent: Decimal
    late_indicator: str = ""  # "L" or "" (hand-off dialect)
    invoice_indicator: str = ""  # participant dialect only
    commission_indicator: str = ""  # participant dialect only
    tax_due_airline_indicator: str = ""  # hand-off dialect only
    reserved: tuple[str, ...] = ()

    @property
    def awb(self) -> str:
        """The AWB number as people write it: ``160-62144154``."""
        return f"{self.airline_prefix}-{self.awb_serial}"

    @property
    def key(self) -> tuple[str, str]:
        """(prefix, serial): an AWB's identity within a CASS country."""
        return (self.airline_prefix, self.awb_serial)

    @property
    def charges_due(self) -> bool:
        """False for void and service AWBs, which are recorded without charges due."""
        return self.use_indicator == "R"

    def money(self, amount: Decimal) -> Money:
        """``amount`` as Money in this record's currency."""
        return Money(amount, self.currency)


CORRECTION_KINDS = {"CCO": "CCA", "CCR": "CCA", "DCO": "DCM", "DCR": "DCM", "ECR": "CCA"}


@dataclass(frozen=True, slots=True)
class CorrectionRecord:
    """One half of a correction: ``CCO``/``DCO`` original, ``CCR``/``DCR`` revised, ``ECR``.

    Each charge group has a prepaid/collect indicator (``P``/``C``) and an unsigned amount.
    """

    record_id: str
    branch: str
    vat_indicator: str
    airline_prefix: str
    awb_serial: str
    modulus_check: str
    origin: str
    agent_code: str
    reference: str  # CCA or DCM number
    currency: str
    rate_of_exchange: Decimal
    execution_date: date
    weight_charge_pc: str
    weight_charge: Decimal
    valuation_charge_pc: str
    valuation_charge: Decimal
    taxes_pc: str
    taxes: Decimal
    other_charges_agent_pc: str
    other_charges_agent: Decimal
    other_charges_carrier_pc: str
    other_charges_carrier: Decimal
    vat_on_charges: Decimal
    commission: Decimal
    vat_on_commission: Decimal
    discount: Decimal
    weight_unit: str
    gross_weight: Decimal
    destination: str
    reason: str
    reserved: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """``CCA`` (cargo charges correction advice) or ``DCM`` (debit/credit memo)."""
        return CORRECTION_KINDS[self.record_id]

    @property
    def is_original(self) -> bool:
        """True for the record carrying the original values (``CCO``/``DCO``)."""
        return self.record_id in ("CCO", "DCO")

    @property
    def is_revised(self) -> bool:
        """True for the record carrying the revised values (``CCR``/``DCR``)."""
        return self.record_id in ("CCR", "DCR")

    @property
    def awb(self) -> str:
        """The AWB number: ``172-67828073``."""
        return f"{self.airline_prefix}-{self.awb_serial}"

    @property
    def pair_key(self) -> tuple[str, str, str, str]:
        """(kind, prefix, serial, reference): what pairs an original with its revision."""
        return (self.kind, self.airline_prefix, self.awb_serial, self.reference)


@dataclass(frozen=True, slots=True)
class Correction:
    """A CCA or DCM: the original values and the revised ones.  Billed: revised − original."""

    original: CorrectionRecord
    revised: CorrectionRecord

    @property
    def kind(self) -> str:
        """``CCA`` or ``DCM``."""
        return self.original.kind


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """CASS Import: the delivering airline's (or its handler's) billing of one AWB to the
    consignee's agent at destination (``IBI``), or one half of an import correction (``IBO``
    original values, ``IBR`` revised values).  Amounts are in ``currency``.

    ``fee`` is the import fee; it is billed only when ``fee_charged`` is ``Y``.
    """

    record_id: str
    agent_code: str  # the consignee agent's recipient code, e.g. JP054000004
    airline_prefix: str
    awb_serial: str
    origin: str
    destination: str
    flight: str
    arrival_date: date
    delivery_date: date
    gross_weight: Decimal
    weight_unit: str
    currency: str
    rate_of_exchange: Decimal
    weight_charges: Decimal
    charges_due_agent: Decimal
    charges_due_carrier: Decimal
    fee: Decimal
    fee_charged: str  # Y or N
    handling_charges: Decimal
    storage_charges: Decimal
    other_charge_1_code: str
    other_charge_1: Decimal
    other_charge_2_code: str
    other_charge_2: Decimal
    miscellaneous_charges: Decimal
    reserved: tuple[str, ...] = ()

    @property
    def awb(self) -> str:
        """The AWB number: ``006-70158700``."""
        return f"{self.airline_prefix}-{self.awb_serial}"

    @property
    def key(self) -> tuple[str, str]:
        """(prefix, serial): an AWB's identity within a CASS operation."""
        return (self.airline_prefix, self.awb_serial)

    @property
    def reference(self) -> str:
        """Import corrections carry no number of their own: "" (one pair per AWB and file)."""
        return ""

    @property
    def kind(self) -> str:
        """``IBI`` for a billing, ``IBC`` (import billing correction) for either half of one."""
        return "IBI" if self.record_id == "IBI" else "IBC"

    @property
    def is_original(self) -> bool:
        """True for the original values of a correction (``IBO``)."""
        return self.record_id == "IBO"

    @property
    def is_revised(self) -> bool:
        """True for the revised values of a correction (``IBR``)."""
        return self.record_id == "IBR"

    @property
    def pair_key(self) -> tuple[str, str, str, str]:
        """(kind, prefix, serial, ""): what pairs an ``IBO`` with its ``IBR``."""
        return ("IBC", self.airline_prefix, self.awb_serial, "")

    @property
    def execution_date(self) -> date:
        """The date that places the record in a period: the delivery date (import billing is
        by delivery, not by AWB execution)."""
        return self.delivery_date


@dataclass(frozen=True, slots=True)
class ImportCorrection:
    """An import correction: the ``IBO`` original values and the ``IBR`` revised ones.
    Billed: revised − original."""

    original: ImportRecord
    revised: ImportRecord

    @property
    def kind(self) -> str:
        """``IBC``."""
        return "IBC"


@dataclass(frozen=True, slots=True)
class OtherCharge:
    """One itemised other charge (AWB box 23)."""

    code: str  # e.g. MY, SC, AW
    entitlement: str  # A due agent, C due carrier
    payment: str  # P prepaid, C collect
    amount: Decimal


@dataclass(frozen=True, slots=True)
class OtherChargesRecord:
    """Itemised other charges of an AWB (``AW1``) or a correction (``CC3``/``DC3``)."""

    record_id: str
    airline_prefix: str
    awb_serial: str
    reference: str  # CCA/DCM number; "" in AW1
    charges: tuple[OtherCharge, ...]
    reserved: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A record kept verbatim (e.g. an itemised record that does not fit its layout)."""

    record_id: str
    text: str


@dataclass(frozen=True, slots=True)
class BillingTrailer:
    """Last record of a file (``TTT``): record counts and, in the participant dialect, a hash."""

    country: str
    airline_prefix: str
    awb_count: int
    cca_count: int
    dcm_count: int
    total_count: int
    office: str = ""  # CASS office code (hand-off dialect)
    branch: str = ""
    type_counts: tuple[tuple[str, int | None], ...] = ()  # per record id; None where blank
    hash_total: int | None = None  # participant dialect; None when blank (0 also means "not given")
    reserved: tuple[str, ...] = ()


DetailRecord = AwbRecord | CorrectionRecord | OtherChargesRecord | ImportRecord | RawRecord


@dataclass(frozen=True, slots=True)
class BillingFile:
    """A whole billing or hand-off file."""

    dialect: Dialect
    header: BillingHeader
    records: tuple[DetailRecord, ...]
    trailer: BillingTrailer
    line_ending: str = field(default="\n", compare=False)

    @property
    def awbs(self) -> tuple[AwbRecord, ...]:
        """The AWB billing records, in file order."""
        return tuple(r for r in self.records if isinstance(r, AwbRecord))

    @property
    def corrections(self) -> tuple[Correction, ...]:
        """Correction pairs (original, revised), in the order each pair completes."""
        halves = (
            r for r in self.records if isinstance(r, CorrectionRecord) and r.record_id != "ECR"
        )
        return tuple(Correction(o, v) for o, v in pair_halves(halves))

    @property
    def imports(self) -> tuple[ImportRecord, ...]:
        """The import billing records (``IBI``), in file order."""
        return tuple(r for r in self.records if isinstance(r, ImportRecord) and r.kind == "IBI")

    @property
    def import_corrections(self) -> tuple[ImportCorrection, ...]:
        """Import correction pairs (``IBO``, ``IBR``), in the order each pair completes."""
        halves = (r for r in self.records if isinstance(r, ImportRecord) and r.kind == "IBC")
        return tuple(ImportCorrection(o, v) for o, v in pair_halves(halves))


H = TypeVar("H", CorrectionRecord, ImportRecord)


def pair_halves(halves: Iterable[H]) -> list[tuple[H, H]]:
    """(original, revised) pairs of correction halves, matched by ``pair_key`` in the order
    each pair completes; halves left without their partner are dropped."""
    waiting: dict[tuple[bool, tuple[str, str, str, str]], H] = {}
    pairs: list[tuple[H, H]] = []
    for r in halves:
        other = waiting.pop((not r.is_original, r.pair_key), None)
        if other is None:
            waiting[(r.is_original, r.pair_key)] = r
        else:
            pairs.append((r, other) if r.is_original else (other, r))
    return pairs


class BookedRow(NamedTuple):
    """One booked ledger row of the period (the columns the close needs).  A named tuple: a
    close reads a million of them, and the store makes each straight from its result row."""

    id: int  # ledger id: booking order
    record_type: str
    airline_prefix: str
    awb_serial: str
    agent_code: str
    reference: str
    currency: str
    late: int  # 1 when booked late (after the period's cut-off), else 0
    payload_format: str
    payload: str


@dataclass(frozen=True, slots=True)
class LedgerSnapshot:
    """The booked ledger of one country and period as of one instant of the store (the marks
    ``opencass.store.ledger.take_snapshot`` reads): what a close, its statements, reports and
    invoices all read, in any process, however long they take."""

    country: str
    period: str
    ledger_max: int  # the last ledger row booked by then
    withdrawals_max: int  # the last withdrawal recorded by then


#: Decimal fields of the records that are not money (a weight, a percentage, a rate).
NOT_MONEY = frozenset({"gross_weight", "commission_percentage", "rate_of_exchange"})


@cache
def money_fields(cls: type) -> frozenset[str]:
    """The money fields of a record class (its Decimal fields but weights, rates, percents):
    what netting terms may name."""
    hints = get_type_hints(cls)
    return frozenset(n for n, t in hints.items() if t is Decimal and n not in NOT_MONEY)


@cache
def indicator_fields(cls: type) -> frozenset[str]:
    """The money fields of a record class that carry a P/C indicator (``weight_charge`` of a
    correction record has ``weight_charge_pc``): a netting term of one names P or C."""
    names = {f.name for f in fields(cls)}
    return frozenset(n for n in money_fields(cls) if f"{n}_pc" in names)
