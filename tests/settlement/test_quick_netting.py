"""Netting an AWB from a few decoded fields gives what decoding the record and netting it gives.

A close nets a million AWBs; it reads each stored line with ``values_decoder`` (the fields
netting needs, after every check of the full decoder) instead of building the record.  These
property tests run both ways on generated lines, mutated ones and random netting terms.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opencass.codecs.hot.records import Malformed, decoder_for, values_decoder
from opencass.codecs.hot.writer import encode_record
from opencass.model import AwbRecord, BookedRow, Dialect, minor_units, money_fields
from opencass.settlement import close, stored
from opencass.settlement.netting import Netting, NettingTerms
from tests.kit.hot import awb_layout, make_awb

CURRENCIES = {"EUR": Decimal("0.00000"), "JPY": Decimal("0.00640"), "KWD": Decimal("2.98000")}
MONEY = sorted(money_fields(AwbRecord))
CHARS = "0123456789 -.ARVSZ/"


@st.composite
def awb_lines(draw: st.DrawFn, dialect: Dialect) -> tuple[str, str]:
    """(a stored AWB line of ``dialect``, the currency hint the ledger keeps), maybe mutated."""
    currency = draw(st.sampled_from(sorted(CURRENCIES)))
    mu = minor_units(currency)
    amounts = {
        name: Decimal(draw(st.integers(0, 10**11))).scaleb(-mu)
        for name in MONEY
        if name not in ("tax_due_airline", "tax_due_agent")
    }
    amounts["discount"] = amounts["discount"] * draw(st.sampled_from([1, -1]))
    rate = CURRENCIES[currency] if currency != "EUR" or draw(st.booleans()) else Decimal("1.1")
    rec = make_awb(
        dialect,
        seven=f"{draw(st.integers(0, 9_999_999)):07d}",
        currency=currency,
        use_indicator=draw(st.sampled_from("RSV")),
        rate_of_exchange=rate,
        **amounts,
    )
    line = encode_record(awb_layout(dialect), rec, mu)
    fields = awb_layout(dialect).fields
    for _ in range(draw(st.integers(0, 2))):  # mutations: a column of any field, any character
        f = draw(st.sampled_from(fields))
        at = draw(st.integers(f.start - 1, f.end - 1))
        line = line[:at] + draw(st.sampled_from(CHARS)) + line[at + 1 :]
    return line, draw(st.sampled_from([currency, currency, ""]))


def _outcome(fn: Any) -> Any:
    try:
        return ("ok", repr(fn()))
    except Exception as e:
        return (type(e).__name__, str(e))


@settings(max_examples=400, deadline=None)
@given(data=st.data(), dialect=st.sampled_from([Dialect.HANDOFF, Dialect.PARTICIPANT]))
def test_values_decoder_gives_the_decoders_values_and_refuses_its_lines(
    data: st.DataObject, dialect: Dialect
) -> None:
    layout = awb_layout(dialect)
    line, hint = data.draw(awb_lines(dialect))
    names = tuple(
        data.draw(
            st.lists(st.sampled_from([f.name for f in layout.fields]), min_size=1, unique=True)
        )
    )
    mu = 2 if not hint else {"EUR": 2, "JPY": 0, "KWD": 3}[hint]
    # the model's "reserved" gathers every reserved column: not the field of that name
    on_model = [n for n in names if hasattr(AwbRecord, n) and n != "reserved"]

    def full() -> tuple[Any, ...]:
        rec = decoder_for(layout)(line, mu)
        return tuple(getattr(rec, n) for n in on_model)

    def values() -> tuple[Any, ...]:
        got = values_decoder(layout, names)(line, mu)
        return tuple(v for n, v in zip(names, got, strict=True) if n in on_model)

    assert _outcome(values) == _outcome(full)  # reprs: Decimal exponents compared too


def _row(n: int, line: str, hint: str, dialect: Dialect) -> BookedRow:
    return BookedRow(
        n, line[:3], "160", f"{n:08d}", "23470068510", "", hint, 0, f"hot-{dialect}", line
    )


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    dialect=st.sampled_from([Dialect.HANDOFF, Dialect.PARTICIPANT]),
    terms=st.lists(
        st.tuples(st.sampled_from(MONEY), st.sampled_from([1, -1])),
        min_size=1,
        unique_by=lambda t: t[0],
    ),
)
def test_netting_from_a_few_fields_equals_netting_the_record(
    data: st.DataObject, dialect: Dialect, terms: list[tuple[str, int]]
) -> None:
    netting = Netting(awb=NettingTerms(tuple(terms)))
    rows = [
        _row(n, *data.draw(awb_lines(dialect)), dialect)
        for n in range(1, data.draw(st.integers(1, 6)) + 1)
    ]

    def net() -> Any:
        n = close._net(rows, "EUR", None, netting)
        return (n.amounts, n.written.bits, n.awbs, n.non_revenue)

    with mock.patch.object(stored.VectorAwbs, "min_rows", 1):
        vector = _outcome(net)  # the lines the arrays take, then QuickAwbs for the others
    with mock.patch.object(stored.VectorAwbs, "__call__", lambda _, b: [None] * len(b)):
        quick = _outcome(net)
        with mock.patch.object(stored.QuickAwbs, "__call__", lambda *_: None):
            decoded = _outcome(net)
    assert vector == quick == decoded


def test_clean_stored_awbs_take_the_arrays_and_the_quick_path() -> None:
    # the property tests above would pass if neither shortcut were ever taken
    line = encode_record(awb_layout(Dialect.HANDOFF), make_awb(), 2)
    usd = encode_record(awb_layout(Dialect.HANDOFF), make_awb(currency="USD"), 2)
    batch = [_row(n, line if n % 3 else usd, "EUR", Dialect.HANDOFF) for n in range(1, 100)]
    got = stored.VectorAwbs(close.DEFAULT_NETTING, "EUR")(batch)
    assert [g is not None for g in got] == [n % 3 != 0 for n in range(1, 100)]
    assert got[0] is not None and got[0][0].amount == Decimal("3289.00")  # 3462 − 173
    assert stored.VectorAwbs(close.DEFAULT_NETTING, "EUR")(batch[:10]) == [None] * 10
    quick = stored.QuickAwbs(close.DEFAULT_NETTING, "EUR")
    got = quick(_row(1, line, "EUR", Dialect.HANDOFF))
    assert got is not None
    item, due = got
    assert due and item.amount == Decimal("3462.00") - Decimal("173.00")
    assert quick(_row(2, line, "EUR", Dialect.HANDOFF)._replace(payload_format="json")) is None
    try:
        quick(_row(3, line[:60] + "x" + line[61:], "EUR", Dialect.HANDOFF))
    except Malformed:
        pass
    else:  # pragma: no cover - the assertion
        raise AssertionError("a malformed amount must be refused as the decoder refuses it")


@pytest.mark.parametrize("dialect", [Dialect.HANDOFF, Dialect.PARTICIPANT])
def test_a_bad_value_in_any_field_is_refused_whichever_fields_are_asked(dialect: Dialect) -> None:
    layout = awb_layout(dialect)
    line = encode_record(layout, make_awb(dialect), 2)
    names = [f.name for f in layout.fields]
    refused = 0
    for f in layout.fields:
        width = f.end - f.start + 1
        for fill in ("X", " ", "-", "9", "."):
            bad = line[: f.start - 1] + fill * width + line[f.end :]
            full_refuses = _outcome(lambda bad=bad: decoder_for(layout)(bad, 2))[0] != "ok"
            for wanted in ((f.name,), tuple(n for n in names if n != f.name)):
                got = _outcome(lambda bad=bad, w=wanted: values_decoder(layout, w)(bad, 2))
                assert (got[0] != "ok") == full_refuses, (f.name, fill, wanted[:3])
            refused += full_refuses
    assert refused > 40  # the fills above do break most fields
