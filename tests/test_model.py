"""The canonical model: money, currencies, check digits, the fast frozen builder, file views."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from opencass.model import (
    AwbRecord,
    BillingHeader,
    CorrectionRecord,
    CurrencyError,
    Dialect,
    Money,
    OtherCharge,
    agent_check_digit,
    awb_check_digit,
    frozen_builder,
    frozen_replacer,
    is_currency,
    minor_units,
    quantize,
)
from tests.kit.hot import HANDOFF, make_awb, make_correction, make_file, make_header

# --- money and currencies ----------------------------------------------------------------------


def test_money_adds_and_subtracts_within_one_currency() -> None:
    a, b = Money(Decimal("10.25"), "EUR"), Money(Decimal("0.80"), "EUR")
    assert a + b == Money(Decimal("11.05"), "EUR")
    assert a - b == Money(Decimal("9.45"), "EUR")
    assert -a == Money(Decimal("-10.25"), "EUR")
    assert str(a) == "10.25 EUR"


@pytest.mark.parametrize("op", ["add", "sub"])
def test_money_refuses_to_mix_currencies(op: str) -> None:
    eur, usd = Money(Decimal(1), "EUR"), Money(Decimal(1), "USD")
    with pytest.raises(CurrencyError, match="EUR"):
        _ = eur + usd if op == "add" else eur - usd


def test_currency_error_is_a_value_error() -> None:
    assert issubclass(CurrencyError, ValueError)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("2.675", "EUR", "2.68"),
        ("2.665", "EUR", "2.67"),
        ("-2.675", "EUR", "-2.68"),
        ("2.674999", "EUR", "2.67"),
        ("0.5", "JPY", "1"),
        ("1.5", "JPY", "2"),
        ("2.5", "JPY", "3"),
        ("1234.4999", "JPY", "1234"),
        ("1.2345", "KWD", "1.235"),
        ("1.2344", "KWD", "1.234"),
        ("7", "KWD", "7.000"),
        ("7", "EUR", "7.00"),
    ],
)
def test_quantize_rounds_half_up_to_the_minor_units(
    amount: str, currency: str, expected: str
) -> None:
    result = quantize(Decimal(amount), currency)
    assert result == Decimal(expected)
    assert result.as_tuple() == Decimal(expected).as_tuple()


@pytest.mark.parametrize(
    ("code", "units"), [("EUR", 2), ("USD", 2), ("GBP", 2), ("JPY", 0), ("KWD", 3)]
)
def test_minor_units_come_from_the_currency_data(code: str, units: int) -> None:
    assert minor_units(code) == units
    assert is_currency(code)


@pytest.mark.parametrize("code", ["ZZZ", "eur", "EU", "EURO", ""])
def test_unknown_currency_is_refused(code: str) -> None:
    assert not is_currency(code)
    with pytest.raises(CurrencyError):
        minor_units(code)
    with pytest.raises(CurrencyError):
        quantize(Decimal(1), code)


def test_money_zero_and_rounded_use_the_minor_units() -> None:
    assert Money.zero("KWD").amount.as_tuple() == Decimal("0.000").as_tuple()
    assert Money.zero("JPY").amount.as_tuple() == Decimal(0).as_tuple()
    assert Money(Decimal("2.675"), "EUR").rounded() == Money(Decimal("2.68"), "EUR")
    assert Money(Decimal("0.5"), "JPY").rounded().amount.as_tuple() == Decimal(1).as_tuple()


# --- check digits (HOT.md examples) --------------------------------------------------------------


def test_awb_check_digit_of_the_hot_md_example() -> None:
    assert awb_check_digit("1234567") == 5
    assert awb_check_digit("6214415") == 4  # 160-62144154 (the AWM sample)
    assert awb_check_digit("6782807") == 3  # 172-67828073 (the DCO/CCR samples)
    assert awb_check_digit("0000007") == 0


def test_agent_check_digit_of_the_hot_md_example() -> None:
    assert agent_check_digit("2347006" + "851") == 0  # 2347006 8510
    assert agent_check_digit("2347006852") == 1


# --- frozen records and the fast builder -------------------------------------------------------


def _values(record: object) -> list[object]:
    return [getattr(record, f.name) for f in dataclasses.fields(record)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "record",
    [make_awb(), make_correction(), make_header()],
    ids=["AwbRecord", "CorrectionRecord", "BillingHeader"],
)
def test_frozen_builder_makes_ordinary_frozen_instances(record: object) -> None:
    cls = type(record)
    built = frozen_builder(cls)(*_values(record))
    assert type(built) is cls
    assert built == record
    assert hash(built) == hash(record)
    assert {built, record} == {record}
    assert repr(built) == repr(record)
    name = dataclasses.fields(record)[1].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(built, name, "X")
    assert replace(built, record_id="ZZZ").record_id == "ZZZ"  # type: ignore[type-var]
    assert not hasattr(built, "__dict__")


def test_frozen_builder_instance_differs_when_a_value_differs() -> None:
    base = make_awb()
    values = _values(base)
    values[4] = "12345675"  # awb_serial
    built = frozen_builder(AwbRecord)(*values)
    assert built != base
    assert built.awb_serial == "12345675"


@pytest.mark.parametrize(
    "record",
    [make_awb(), make_correction(), make_header()],
    ids=["AwbRecord", "CorrectionRecord", "BillingHeader"],
)
def test_frozen_replacer_is_dataclasses_replace(record: object) -> None:
    """Each field replaced alone, and two at once, gives what ``dataclasses.replace`` gives:
    an ordinary frozen instance; the original is untouched."""
    cls = type(record)
    evolve = frozen_replacer(cls)
    before = repr(record)
    names = [f.name for f in dataclasses.fields(record)]  # type: ignore[arg-type]
    for name in names:
        marker = object()
        got = evolve(record, **{name: marker})
        assert got == replace(record, **{name: marker})  # type: ignore[type-var]
        assert getattr(got, name) is marker and type(got) is cls
    first, last = names[0], names[-1]
    both = evolve(record, **{first: "A", last: "Z"})
    assert both == replace(record, **{first: "A", last: "Z"})  # type: ignore[type-var]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(both, first, "X")
    assert repr(record) == before
    with pytest.raises(KeyError):
        evolve(record, no_such_field=1)


# --- record and file views ---------------------------------------------------------------------


def test_awb_record_views() -> None:
    awb = make_awb(seven="6214415")
    assert awb.awb == "160-62144154"
    assert awb.key == ("160", "62144154")
    assert awb.charges_due
    assert not make_awb(use_indicator="V").charges_due
    assert not make_awb(use_indicator="S").charges_due
    assert awb.money(Decimal("1.00")) == Money(Decimal("1.00"), "EUR")


@pytest.mark.parametrize(
    ("rid", "kind", "original", "revised"),
    [
        ("CCO", "CCA", True, False),
        ("CCR", "CCA", False, True),
        ("DCO", "DCM", True, False),
        ("DCR", "DCM", False, True),
        ("ECR", "CCA", False, False),
    ],
)
def test_correction_record_kinds(rid: str, kind: str, original: bool, revised: bool) -> None:
    rec = make_correction(rid, seven="6782807", reference="808640")
    assert rec.kind == kind
    assert rec.is_original is original
    assert rec.is_revised is revised
    assert rec.awb == "160-67828073"
    assert rec.pair_key == (kind, "160", "67828073", "808640")


def _pair(seven: str, ref: str, kind: str = "CC") -> tuple[CorrectionRecord, CorrectionRecord]:
    original = make_correction(f"{kind}O", seven=seven, reference=ref)
    return original, replace(original, record_id=f"{kind}R", weight_charge=Decimal("1.00"))


def test_billing_file_views_pair_corrections() -> None:
    awb = make_awb()
    cco, ccr = _pair("6782807", "000001")
    dco, dcr = _pair("6782807", "000001", "DC")  # same AWB and number, other kind
    lone = make_correction("CCO", seven="1234567", reference="000009")
    bf = make_file([awb, cco, dco, lone, ccr, dcr])
    assert bf.awbs == (awb,)
    pairs = bf.corrections
    assert [(p.kind, p.original, p.revised) for p in pairs] == [
        ("CCA", cco, ccr),
        ("DCM", dco, dcr),
    ]


def test_billing_file_pairs_a_revision_that_precedes_its_original() -> None:
    # HOT.md: a revised record must have its original "in the same file" - no order is imposed,
    # and FileChecker accepts either order; the settlement view must not drop the pair.
    cco, ccr = _pair("6782807", "000001")
    bf = make_file([ccr, cco])
    assert [(p.original, p.revised) for p in bf.corrections] == [(cco, ccr)]


def test_billing_file_line_ending_does_not_take_part_in_equality() -> None:
    a = make_file([make_awb()], line_ending="\n")
    b = make_file([make_awb()], line_ending="\r\n")
    assert a == b
    assert b.line_ending == "\r\n"


def test_other_charge_and_header_are_frozen() -> None:
    oc = OtherCharge("MY", "C", "P", Decimal("1.00"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        oc.amount = Decimal(2)  # type: ignore[misc]
    header = BillingHeader(
        "AAA", "DE", "160", date(2024, 3, 1), date(2024, 3, 15), date(2024, 3, 20), "01"
    )
    assert (header.currency, header.branch, header.agent_code, header.reserved) == ("", "", "", ())
    assert make_header(HANDOFF).currency == "EUR"


def test_dialect_values() -> None:
    assert Dialect("handoff") is Dialect.HANDOFF
    assert Dialect("participant") is Dialect.PARTICIPANT
    assert str(Dialect.PARTICIPANT) == "participant"
