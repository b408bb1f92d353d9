"""Shared builders and constants for the HOT codec tests.

The sample lines are copied from ``design/HOT.md``; the builders make valid records with correct
check digits and sensible defaults, so that a test states only what it is about.
"""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import date
from decimal import Decimal
from typing import Any

from opencass.codecs.hot.layouts import (
    AWB_HANDOFF,
    AWB_PARTICIPANT,
    CORRECTION,
    DIALECTS,
    HEADER_HANDOFF,
    HEADER_PARTICIPANT,
    OTHER_CHARGES,
    RECORD_LENGTH,
    Kind,
    Layout,
)
from opencass.codecs.hot.records import encode_record
from opencass.codecs.hot.writer import build_trailer
from opencass.model import (
    AwbRecord,
    BillingFile,
    BillingHeader,
    BillingTrailer,
    CorrectionRecord,
    DetailRecord,
    Dialect,
    OtherCharge,
    OtherChargesRecord,
    RawRecord,
    minor_units,
)

HANDOFF = Dialect.HANDOFF
PARTICIPANT = Dialect.PARTICIPANT

# --- the sample lines of HOT.md, exactly as published ------------------------------------------

AWM_SAMPLE = (
    "AWM N16062144154  DUS23470068510R   HKG0808140011900KEUR000000346290000000003000000000180880"
    "0000000000000000000000000000000000000000000000000000000020000000000000001000 000000395080    "
    "        08090400000.000000000001320900013204000000100000180     -"
)
AAA_SAMPLE = "AAADE   03120103123104011501EUR"
DCO_SAMPLE = (
    "DCO N17267828073  LEJ23470068510808640EUR00000.00000080607P000000047300C000000000100C0000000"
    "00000C000000000200P000000021618000000000000000000000300000000000000000000000400 K0002150MEX"
)
CCR_SAMPLE = (
    "CCR Y17267828073  LEJ23470068510808640EUR00000.00000080607P000000047300C000000000000C0000000"
    "00000C000000000000P000000054668100200300004000000000000000000001004000000000400 K0002150MEX"
)
TTT_SAMPLE = "TTT DE234    0000136000000000000000000136"

AGENT = "23470068510"  # IATA 2347006, CASS address 8510 (HOT.md)


def pad(line: str) -> str:
    """``line`` right-padded to the record length."""
    return line.ljust(RECORD_LENGTH)


# --- check digits ------------------------------------------------------------------------------


def serial(seven: str) -> str:
    """An 8-digit AWB serial: ``seven`` plus its check digit (first seven digits mod 7)."""
    assert len(seven) == 7 and seven.isdigit()
    return seven + str(int(seven) % 7)


def agent(ten: str) -> str:
    """An 11-digit agent code: ``ten`` (IATA 7 + CASS 3) plus its check digit."""
    assert len(ten) == 10 and ten.isdigit()
    return ten + str(int(ten) % 7)


def blank_reserved(layout: Layout) -> tuple[str, ...]:
    """The ``reserved`` tuple a blank line of ``layout`` decodes to."""
    return tuple(" " * f.width for f in layout.fields if f.kind is Kind.RES)


def awb_layout(dialect: Dialect) -> Layout:
    """The AWB billing record layout of ``dialect``."""
    return AWB_HANDOFF if dialect is HANDOFF else AWB_PARTICIPANT


# --- record builders ---------------------------------------------------------------------------


def money(value: str | int, currency: str = "EUR") -> Decimal:
    """``value`` at the minor units of ``currency`` (the exponent a decoded amount has)."""
    return Decimal(value).quantize(Decimal(1).scaleb(-minor_units(currency)))


def make_header(dialect: Dialect = HANDOFF, **changes: Any) -> BillingHeader:
    """A valid billing-file header: Germany, 1-15 March 2024, airline 160, EUR."""
    if dialect is HANDOFF:
        base = BillingHeader(
            record_id="AAA",
            country="DE",
            airline_prefix="160",
            period_start=date(2024, 3, 1),
            period_end=date(2024, 3, 15),
            billing_date=date(2024, 3, 20),
            file_number="01",
            currency="EUR",
            branch="",
            agent_code="",
            reserved=blank_reserved(HEADER_HANDOFF),
        )
    else:
        base = BillingHeader(
            record_id="ALS",
            country="DE",
            airline_prefix="160",
            period_start=date(2024, 3, 1),
            period_end=date(2024, 3, 15),
            billing_date=date(2024, 3, 20),
            file_number="01",
            currency="",
            branch="",
            agent_code="",
            reserved=blank_reserved(HEADER_PARTICIPANT),
        )
    return replace(base, **changes)


def make_awb(
    dialect: Dialect = HANDOFF, *, seven: str = "6214415", currency: str = "EUR", **changes: Any
) -> AwbRecord:
    """A valid revenue AWB (DUS→HKG, agent 2347006/8510) with AWB serial ``seven`` + check digit.

    Amounts are given at ``currency``'s minor units; ``changes`` override any field.
    """
    m = lambda v: money(v, currency)  # noqa: E731
    base = AwbRecord(
        record_id="AWM",
        branch="",
        vat_indicator="N",
        airline_prefix="160",
        awb_serial=serial(seven),
        modulus_check="",
        origin="DUS",
        agent_code=AGENT,
        use_indicator="R",
        destination="HKG",
        execution_date=date(2024, 3, 5),
        gross_weight=Decimal("1190.0"),
        weight_unit="K",
        currency=currency,
        weight_charge_prepaid=m(3462),
        valuation_charge_prepaid=m(0),
        other_charges_carrier_prepaid=m(0),
        other_charges_agent_prepaid=m(0),
        weight_charge_collect=m(0),
        valuation_charge_collect=m(0),
        other_charges_carrier_collect=m(0),
        other_charges_agent_collect=m(0),
        commission_percentage=Decimal("5.00"),
        commission=m(173),
        agent_reference="REF 1",
        acceptance_date=date(2024, 3, 6),
        rate_of_exchange=Decimal("0.00000"),
        discount=m(0),
        tax_due_airline=m(0),
        tax_due_agent=m(0),
        reserved=blank_reserved(awb_layout(dialect)),
    )
    return replace(base, **changes)


def make_correction(
    record_id: str = "CCO",
    *,
    seven: str = "6782807",
    reference: str = "808640",
    currency: str = "EUR",
    **changes: Any,
) -> CorrectionRecord:
    """A valid correction record (one half of a CCA or DCM) for AWB 160-``seven``+check digit."""
    m = lambda v: money(v, currency)  # noqa: E731
    base = CorrectionRecord(
        record_id=record_id,
        branch="",
        vat_indicator="N",
        airline_prefix="160",
        awb_serial=serial(seven),
        modulus_check="",
        origin="LEJ",
        agent_code=AGENT,
        reference=reference,
        currency=currency,
        rate_of_exchange=Decimal("0.00000"),
        execution_date=date(2024, 2, 7),
        weight_charge_pc="P",
        weight_charge=m(473),
        valuation_charge_pc="C",
        valuation_charge=m(0),
        taxes_pc="C",
        taxes=m(0),
        other_charges_agent_pc="C",
        other_charges_agent=m(0),
        other_charges_carrier_pc="P",
        other_charges_carrier=m(0),
        vat_on_charges=m(0),
        commission=m(0),
        vat_on_commission=m(0),
        discount=m(0),
        weight_unit="K",
        gross_weight=Decimal("215.0"),
        destination="MEX",
        reason="",
        reserved=blank_reserved(CORRECTION),
    )
    return replace(base, **changes)


def make_other_charges(
    record_id: str = "AW1",
    charges: tuple[tuple[str, str, str, str], ...] = (),
    *,
    seven: str = "6214415",
    reference: str = "",
    prefix: str = "160",
    currency: str = "EUR",
) -> OtherChargesRecord:
    """An AW1/CC3/DC3 record; ``charges`` as (code, entitlement, P/C, amount) tuples."""
    return OtherChargesRecord(
        record_id=record_id,
        airline_prefix=prefix,
        awb_serial=serial(seven),
        reference=reference,
        charges=tuple(OtherCharge(c, e, p, money(a, currency)) for c, e, p, a in charges),
        reserved=blank_reserved(OTHER_CHARGES),
    )


# --- lines and files ---------------------------------------------------------------------------


def encode_line(record: Any, dialect: Dialect = HANDOFF, mu: int = 2) -> str:
    """The 250-character line of a header, detail record or trailer in ``dialect``."""
    layouts = DIALECTS[dialect]
    if isinstance(record, BillingHeader):
        return encode_record(layouts.header, record)
    if isinstance(record, BillingTrailer):
        return encode_record(layouts.trailer, record)
    if isinstance(record, RawRecord):
        return pad(record.text)
    return encode_record(layouts.details[record.record_id], record, mu)


def make_file(
    records: tuple[DetailRecord, ...] | list[DetailRecord],
    dialect: Dialect = HANDOFF,
    header: BillingHeader | None = None,
    *,
    line_ending: str = "\n",
    office: str = "",
    **trailer_changes: Any,
) -> BillingFile:
    """A BillingFile whose trailer counts fit ``records`` (then ``trailer_changes`` applied)."""
    header = header or make_header(dialect)
    trailer = build_trailer(header, records, dialect, office=office)
    trailer = replace(trailer, reserved=blank_reserved(DIALECTS[dialect].trailer))
    if trailer_changes:
        trailer = replace(trailer, **trailer_changes)
    return BillingFile(dialect, header, tuple(records), trailer, line_ending)


def file_lines(
    records: tuple[DetailRecord, ...] | list[DetailRecord],
    dialect: Dialect = HANDOFF,
    header: BillingHeader | None = None,
    **trailer_changes: Any,
) -> list[str]:
    """Header, records and trailer as 250-character lines (no line ends), ready to tamper with."""
    bf = make_file(records, dialect, header, **trailer_changes)
    mu = minor_units(bf.header.currency) if bf.header.currency else 2
    out = [encode_line(bf.header, dialect)]
    for r in bf.records:
        if isinstance(r, AwbRecord | CorrectionRecord):
            mu = minor_units(r.currency)
        out.append(encode_line(r, dialect, mu))
    out.append(encode_line(bf.trailer, dialect))
    return out


def join(lines: list[str], ending: str = "\n") -> bytes:
    """The bytes of a file made of ``lines``, each ended by ``ending``."""
    return "".join(line + ending for line in lines).encode("latin-1")


def standard_records(dialect: Dialect = HANDOFF) -> list[DetailRecord]:
    """A small valid mix: two AWBs (one with itemised other charges), a CCA and a DCM pair."""
    awb1 = make_awb(
        dialect,
        seven="6214415",
        other_charges_carrier_prepaid=money("18.80"),
        other_charges_agent_collect=money(20),
    )
    aw1 = make_other_charges(
        "AW1", (("MY", "C", "P", "15.00"), ("SC", "C", "P", "3.80"), ("AW", "A", "C", "20.00"))
    )
    awb2 = make_awb(dialect, seven="1234567", origin="FRA", destination="JFK", discount=-money(5))
    cco = make_correction("CCO", seven="6782807", reference="000123")
    ccr = replace(cco, record_id="CCR", weight_charge=money(500))
    dco = make_correction("DCO", seven="7654321", reference="D00001")
    dcr = replace(dco, record_id="DCR", weight_charge=money(400))
    return [awb1, aw1, awb2, cco, ccr, dco, dcr]


def decimal_exponents(record: Any) -> dict[str, Any]:
    """Every Decimal of ``record`` (and of its other charges) as ``as_tuple()``, by field name."""
    out: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if isinstance(value, Decimal):
            out[f.name] = value.as_tuple()
        elif f.name == "charges":
            out[f.name] = [c.amount.as_tuple() for c in value]
    return out


def assert_same_record(a: Any, b: Any) -> None:
    """``a == b`` and every amount has the same digits and exponent (``2.50`` is not ``2.5``)."""
    assert a == b
    assert decimal_exponents(a) == decimal_exponents(b)


def bulk_records(dialect: Dialect = HANDOFF, n: int = 60) -> list[DetailRecord]:
    """``n`` AWBs of several agents (the common case a large file is made of) with the
    uncommon among them: itemised charges, a foreign currency with its rate, a void AWB, an AWB
    record id of the participant dialect, a CCA pair."""
    out: list[DetailRecord] = []
    for i in range(n):
        seven = f"{1_000_000 + i * 37:07d}"
        code = agent(f"2347006{850 + i % 7:03d}")
        if i % 11 == 5:
            awb = make_awb(
                dialect, seven=seven, agent_code=code, other_charges_carrier_prepaid=money(7)
            )
            out += [awb, make_other_charges("AW1", (("MY", "C", "P", "7.00"),), seven=seven)]
        elif i % 23 == 1:  # itemised over two lines
            awb = make_awb(
                dialect, seven=seven, agent_code=code, other_charges_agent_collect=money(12)
            )
            out += [
                awb,
                make_other_charges("AW1", (("AW", "A", "C", "5.00"),), seven=seven),
                make_other_charges("AW1", (("AW", "A", "C", "7.00"),), seven=seven),
            ]
        elif i % 19 == 9:  # itemised in a currency of other minor units
            yen = make_awb(
                dialect,
                seven=seven,
                agent_code=code,
                currency="JPY",
                rate_of_exchange=Decimal("0.00610"),
                other_charges_carrier_prepaid=money(700, "JPY"),
            )
            out += [
                yen,
                make_other_charges("AW1", (("MY", "C", "P", "700"),), seven=seven, currency="JPY"),
            ]
        elif i % 13 == 7:
            out.append(
                make_awb(
                    dialect,
                    seven=seven,
                    agent_code=code,
                    currency="USD",
                    rate_of_exchange=Decimal("1.08000"),
                )
            )
        elif i % 17 == 3:
            out.append(
                make_awb(
                    dialect,
                    seven=seven,
                    agent_code=code,
                    use_indicator="V",
                    weight_charge_prepaid=money(0),
                    commission=money(0),
                )
            )
        else:
            rid = "AWB" if dialect is not HANDOFF and i % 3 == 0 else "AWM"
            out.append(make_awb(dialect, seven=seven, agent_code=code, record_id=rid))
        if i == n // 2:
            cco = make_correction("CCO", seven="6782807", reference="000123")
            out += [cco, replace(cco, record_id="CCR", weight_charge=money(500))]
        if i % 9 == 4:  # corrections: a DCM revision first, a CCA whose charges are itemised
            dco = make_correction("DCO", seven=seven, reference=f"D{i:05d}")
            out += [replace(dco, record_id="DCR", weight_charge=money(400)), dco]
        if i == n // 3:
            cco = make_correction(
                "CCO", seven=seven, reference="000777", other_charges_carrier=money(3)
            )
            out += [
                cco,
                make_other_charges(
                    "CC3", (("MY", "C", "P", "3.00"),), seven=seven, reference="000777"
                ),
                replace(cco, record_id="CCR", weight_charge=money(500)),
            ]
    return out
