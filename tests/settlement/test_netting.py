"""Netting: hand-computed periods, the money rules one by one, properties over generated data."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencass.codecs.hot.layouts import AWB_HANDOFF, CORRECTION
from opencass.codecs.hot.records import decoder_for
from opencass.model import AwbRecord, Correction, CorrectionRecord, CurrencyError, minor_units
from opencass.settlement.netting import (
    DEFAULT_CORRECTION_TERMS,
    DEFAULT_TERMS,
    Adjustment,
    AmountError,
    ConservationError,
    CorrectionPairError,
    CorrectionTerms,
    ExchangeRateError,
    Item,
    ItemKind,
    LineTotal,
    NettingError,
    NettingTerms,
    PeriodSettlement,
    TermsError,
    awb_due,
    check_conservation,
    correction_due,
    item_amount,
    settle,
)
from tests.kit.hot import AWM_SAMPLE, DCO_SAMPLE, agent, make_awb, make_correction, pad, serial

HYPOTHESIS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

AGENT_A = "23470068510"  # 2347006/8510 (HOT.md)
AGENT_B = "12345620022"
AWB_AMOUNTS = (
    "weight_charge_prepaid",
    "valuation_charge_prepaid",
    "other_charges_carrier_prepaid",
    "other_charges_agent_prepaid",
    "weight_charge_collect",
    "valuation_charge_collect",
    "other_charges_carrier_collect",
    "other_charges_agent_collect",
    "commission",
    "discount",
    "tax_due_airline",
    "tax_due_agent",
)
CORRECTION_AMOUNTS = (
    "weight_charge",
    "valuation_charge",
    "taxes",
    "other_charges_agent",
    "other_charges_carrier",
    "vat_on_charges",
    "commission",
    "vat_on_commission",
    "discount",
)


def D(text: str) -> Decimal:
    return Decimal(text)


def awb(
    seven: str = "6214415",
    *,
    agent_code: str = AGENT_A,
    prefix: str = "160",
    currency: str = "EUR",
    rate: str = "0.00000",
    use: str = "R",
    **amounts: str,
) -> AwbRecord:
    """A revenue AWB with every amount zero except ``amounts`` (given as text)."""
    zeros: dict[str, Any] = dict.fromkeys(AWB_AMOUNTS, Decimal(0))
    zeros.update({name: Decimal(v) for name, v in amounts.items()})
    return make_awb(
        seven=seven,
        currency=currency,
        airline_prefix=prefix,
        agent_code=agent_code,
        use_indicator=use,
        rate_of_exchange=Decimal(rate),
        **zeros,
    )


def half(record_id: str, *, currency: str = "EUR", rate: str = "0.00000", **changes: Any) -> Any:
    """A correction record with every amount zero except ``changes`` (amounts as text)."""
    values: dict[str, Any] = dict.fromkeys(CORRECTION_AMOUNTS, Decimal(0))
    for name, v in changes.items():
        values[name] = Decimal(v) if name in CORRECTION_AMOUNTS else v
    return make_correction(
        record_id, currency=currency, rate_of_exchange=Decimal(rate), agent_code=AGENT_A, **values
    )


def cca(original: dict[str, Any], revised: dict[str, Any], kind: str = "CC") -> Correction:
    return Correction(half(f"{kind}O", **original), half(f"{kind}R", **revised))


def total_of(s: PeriodSettlement, agent_code: str) -> Decimal:
    return next(a.total for a in s.agents if a.agent_code == agent_code)


def same(a: Decimal, b: str) -> bool:
    """Equal value and equal exponent: what a statement prints."""
    return a.as_tuple() == Decimal(b).as_tuple()


# --- one AWB at a time ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amounts", "expected"),
    [
        # prepaid: weight + valuation + other charges due carrier; what the agent keeps
        # (other charges due agent prepaid) and what the consignee pays (collect) are not due
        (
            {
                "weight_charge_prepaid": "1000.00",
                "valuation_charge_prepaid": "50.00",
                "other_charges_carrier_prepaid": "30.00",
                "other_charges_agent_prepaid": "40.00",
                "weight_charge_collect": "500.00",
                "other_charges_carrier_collect": "60.00",
            },
            "1080.00",
        ),
        # collect: the airline collected the agent's 25.00 at destination and owes it back,
        # and the agent's commission on top
        (
            {
                "weight_charge_collect": "1200.00",
                "other_charges_agent_collect": "25.00",
                "commission": "60.00",
            },
            "-85.00",
        ),
        ({"weight_charge_prepaid": "1000.00", "commission": "50.00"}, "950.00"),
        # a discount with sign '-' (the model's -120.00) reduces what the agent owes ...
        ({"weight_charge_prepaid": "1000.00", "discount": "-120.00"}, "880.00"),
        # ... and one without a sign reverses a discount
        ({"weight_charge_prepaid": "1000.00", "discount": "120.00"}, "1120.00"),
        # VAT due airline is owed to it, VAT due agent (on commission) is the agent's
        (
            {
                "weight_charge_prepaid": "1000.00",
                "commission": "50.00",
                "tax_due_airline": "190.00",
                "tax_due_agent": "9.50",
            },
            "1130.50",
        ),
    ],
    ids=["prepaid", "collect", "commission", "discount", "discount-reversed", "taxes"],
)
def test_amount_due_airline_of_one_awb(amounts: dict[str, str], expected: str) -> None:
    assert same(awb_due(awb(**amounts), "EUR"), expected)


def test_the_hot_md_sample_awb_nets_to_its_hand_computed_amount() -> None:
    rec = decoder_for(AWB_HANDOFF)(AWM_SAMPLE, 2)
    # 3462.90 + 30.00 + 1808.80 + 1320.40 (VAT due airline) - 10.00 (commission)
    # - 1320.90 (discount '-') - 20.00 (due agent collect) - 1.00 (VAT due agent)
    assert same(awb_due(rec, "EUR"), "5270.20")


@pytest.mark.parametrize("use", ["V", "S"])
def test_void_and_service_awbs_are_due_zero_whatever_they_carry(use: str) -> None:
    rec = awb(use=use, weight_charge_prepaid="500.00", commission="25.00", discount="-5.00")
    assert same(awb_due(rec, "EUR"), "0.00")
    s = settle([rec, awb("1234567", weight_charge_prepaid="100.00")], "EUR")
    assert same(s.agents[0].total, "100.00")
    assert [(i.awb, i.amount) for i in s.agents[0].items] == [
        ("160-12345675", D("100.00")),
        ("160-62144154", D("0.00")),
    ]
    assert (s.summary.awbs, s.summary.non_revenue_awbs) == (2, 1)


def test_a_void_awb_in_a_foreign_currency_needs_no_rate() -> None:
    rec = awb(use="V", currency="USD", rate="0", weight_charge_prepaid="500.00")
    assert same(awb_due(rec, "EUR"), "0.00")


# --- currency conversion and rounding ---------------------------------------------------------

USD = {"currency": "USD", "rate": "0.91234"}


def test_a_foreign_record_is_converted_with_its_rate_and_rounded_half_up() -> None:
    # 250.00 x 0.91234 = 228.085: exactly half a cent, rounds up
    assert same(awb_due(awb(**USD, weight_charge_prepaid="250.00"), "EUR"), "228.09")
    # 100.00 x 0.91234 = 91.234
    assert same(awb_due(awb(**USD, weight_charge_prepaid="100.00"), "EUR"), "91.23")
    # half away from zero for what is owed back: -228.085 -> -228.09
    assert same(awb_due(awb(**USD, other_charges_agent_collect="250.00"), "EUR"), "-228.09")


def test_rounding_is_per_awb_not_per_term() -> None:
    # two terms of 228.085 each; rounded per term they would be 456.18
    rec = awb(**USD, weight_charge_prepaid="250.00", valuation_charge_prepaid="250.00")
    assert same(awb_due(rec, "EUR"), "456.17")


def test_rounding_is_per_awb_not_on_the_total() -> None:
    # each AWB is 228.085 -> 228.09; rounding the sum (456.17) would lose a cent
    items = [
        awb("1111111", **USD, weight_charge_prepaid="250.00"),
        awb("2222222", **USD, weight_charge_prepaid="250.00"),
    ]
    s = settle(items, "EUR")
    assert same(s.agents[0].total, "456.18")
    assert [i.amount for i in s.agents[0].items] == [D("228.09"), D("228.09")]


@pytest.mark.parametrize("rate", ["0.00000", "0", "-0.91234"])
def test_a_foreign_record_without_a_positive_rate_is_refused(rate: str) -> None:
    rec = awb(currency="USD", rate=rate, weight_charge_prepaid="250.00")
    with pytest.raises(ExchangeRateError, match="160-62144154") as info:
        settle([rec], "EUR")
    assert info.value.code == "EXCHANGE_RATE_INVALID"
    assert isinstance(info.value, NettingError)


def test_the_rate_of_a_record_in_the_period_currency_is_ignored() -> None:
    rec = awb(rate="2.00000", weight_charge_prepaid="250.00")
    assert same(awb_due(rec, "EUR"), "250.00")


def test_a_tiny_credit_that_rounds_to_nothing_is_plain_zero() -> None:
    rec = awb(currency="USD", rate="0.40000", other_charges_agent_collect="0.01")  # -0.004
    due = awb_due(rec, "EUR")
    assert str(due) == "0.00"
    assert str(settle([rec], "EUR").agents[0].total) == "0.00"


def test_a_jpy_period_has_no_decimals() -> None:
    items = [
        awb("1111111", currency="JPY", weight_charge_prepaid="120000", commission="6000"),
        # 1.00 USD x 150.5 = 150.5 -> 151 (half up, at the AWB)
        awb("2222222", currency="USD", rate="150.50000", weight_charge_prepaid="1.00"),
        # 10.00 USD x 151.23456 = 1512.3456 -> 1512
        awb("3333333", currency="USD", rate="151.23456", weight_charge_prepaid="10.00"),
    ]
    s = settle(items, "JPY")
    assert [str(i.amount) for i in s.agents[0].items] == ["114000", "151", "1512"]
    assert str(s.agents[0].total) == "115663"
    assert str(s.airlines[0].total) == "115663"
    assert str(s.summary.difference) == "0"


def test_a_kwd_period_has_three_decimals() -> None:
    rec = awb(currency="USD", rate="0.30715", weight_charge_prepaid="100.05")  # 30.7303575
    assert same(awb_due(rec, "KWD"), "30.730")


def test_an_unknown_period_currency_is_refused_even_with_nothing_to_settle() -> None:
    with pytest.raises(CurrencyError):
        settle([], "XYZ")


# --- corrections --------------------------------------------------------------------------------


def test_a_cca_bills_revised_minus_original() -> None:
    up = cca({"weight_charge": "800.00"}, {"weight_charge": "845.00"})
    down = cca({"weight_charge": "845.00"}, {"weight_charge": "800.00"})
    assert same(correction_due(up, "EUR"), "45.00")
    assert same(correction_due(down, "EUR"), "-45.00")


@pytest.mark.parametrize(
    ("original", "revised", "expected"),
    [
        # charges collected at destination by the airline do not involve the agent
        ({"weight_charge_pc": "C", "weight_charge": "800.00"}, {"weight_charge": "0.00"}, "0.00"),
        ({"valuation_charge_pc": "P"}, {"valuation_charge_pc": "P", "valuation_charge": "7"}, "7"),
        (
            {"other_charges_carrier_pc": "C"},
            {"other_charges_carrier_pc": "C", "other_charges_carrier": "9.00"},
            "0.00",
        ),
        ({}, {"other_charges_carrier": "9.00"}, "9.00"),  # P in the base record
        ({}, {"taxes_pc": "P", "taxes": "12.00"}, "12.00"),
        ({}, {"taxes": "12.00"}, "0.00"),  # C in the base record
        # due agent collect: owed back to the agent; due agent prepaid: the agent kept it
        ({}, {"other_charges_agent": "20.00"}, "-20.00"),  # C in the base record
        ({}, {"other_charges_agent_pc": "P", "other_charges_agent": "20.00"}, "0.00"),
        ({}, {"vat_on_charges": "19.00"}, "19.00"),
        ({}, {"commission": "30.00"}, "-30.00"),
        ({}, {"vat_on_commission": "5.70"}, "-5.70"),
        ({"discount": "-10.00"}, {"discount": "-50.00"}, "-40.00"),
    ],
)
def test_correction_terms_follow_the_p_c_indicators(
    original: dict[str, str], revised: dict[str, str], expected: str
) -> None:
    pair = cca({"weight_charge": "100.00", **original}, {"weight_charge": "100.00", **revised})
    assert correction_due(pair, "EUR") == D(expected)


def test_the_hot_md_dcm_sample_nets_as_the_p_c_indicators_say() -> None:
    dco = decoder_for(CORRECTION)(pad(DCO_SAMPLE), 2)
    # original: 473.00 P + 216.18 P - 2.00 due agent C - 3.00 commission + 4.00 discount
    # (no sign); valuation 1.00 is collect.  Revised: weight 500.00 instead of 473.00.
    pair = Correction(dco, replace(dco, record_id="DCR", weight_charge=D("500.00")))
    assert same(correction_due(pair, "EUR"), "27.00")
    s = settle([pair], "EUR")
    assert [(i.kind, i.reference, i.amount) for i in s.items] == [
        (ItemKind.DCM, dco.reference, D("27.00"))
    ]
    assert s.summary.corrections == 1


def test_a_correction_is_converted_per_record_and_rounded_once() -> None:
    # revised 456.17 - original 228.085 = 228.085 -> 228.09; rounding each first gives 228.08
    pair = cca({"weight_charge": "250.00", **USD}, {"weight_charge": "500.00", **USD})
    assert same(correction_due(pair, "EUR"), "228.09")
    reverse = cca({"weight_charge": "500.00", **USD}, {"weight_charge": "250.00", **USD})
    assert same(correction_due(reverse, "EUR"), "-228.09")


def test_a_correction_in_a_foreign_currency_needs_a_rate() -> None:
    pair = cca({"currency": "USD"}, {"currency": "USD", "weight_charge": "5.00"})
    with pytest.raises(ExchangeRateError):
        correction_due(pair, "EUR")


@pytest.mark.parametrize(
    "pair",
    [
        Correction(half("CCR"), half("CCO")),  # swapped
        Correction(half("CCO"), half("DCR")),  # a CCA with a DCM revision
        Correction(half("CCO"), half("CCR", reference="000999")),
        Correction(half("CCO"), half("CCR", awb_serial=serial("1234567"))),
        Correction(half("CCO"), replace(half("CCR"), agent_code=AGENT_B)),
        Correction(half("ECR"), half("CCR")),
    ],
    ids=["swapped", "kinds", "reference", "awb", "agent", "ecr"],
)
def test_a_correction_must_be_an_original_and_its_revision(pair: Correction) -> None:
    with pytest.raises(CorrectionPairError) as info:
        settle([pair], "EUR")
    assert info.value.code == "CORRECTION_PAIR_INVALID"


# --- adjustments --------------------------------------------------------------------------------


def test_an_accepted_dispute_adjusts_the_line_it_names() -> None:
    items: list[Item] = [
        awb(weight_charge_prepaid="100.00"),
        Adjustment("160", AGENT_A, D("-12.50"), "DSP-0001"),
    ]
    s = settle(items, "EUR")
    assert same(s.agents[0].total, "87.50")
    assert [(i.kind, i.awb, i.reference) for i in s.agents[0].items] == [
        (ItemKind.ADJUSTMENT, "", "DSP-0001"),
        (ItemKind.AWB, "160-62144154", ""),
    ]
    assert s.summary.adjustments == 1


def test_an_adjustment_amount_is_written_at_the_currency_minor_units() -> None:
    got = item_amount(Adjustment("160", AGENT_A, D("-12.5"), "DSP-1"), "EUR").amount
    assert same(got, "-12.50")


@pytest.mark.parametrize(("amount", "currency"), [("1.234", "EUR"), ("5.5", "JPY"), ("NaN", "EUR")])
def test_an_adjustment_in_fractions_of_a_minor_unit_is_refused(amount: str, currency: str) -> None:
    with pytest.raises(AmountError) as info:
        settle([Adjustment("160", AGENT_A, D(amount), "DSP-1")], currency)
    assert info.value.code == "AMOUNT_INVALID"


def test_something_else_than_an_item_is_refused() -> None:
    with pytest.raises(TypeError):
        settle([half("CCO")], "EUR")


# --- whole periods ------------------------------------------------------------------------------


def two_by_two() -> list[Any]:
    """Airlines 020 and 160, agents A and B; hand totals in the test below."""
    return [
        awb("1000001", prefix="020", weight_charge_prepaid="1000.00", commission="50.00"),
        awb("1000002", prefix="160", weight_charge_prepaid="300.00"),
        awb("1000003", prefix="020", agent_code=AGENT_B, weight_charge_prepaid="200.00"),
        Adjustment("020", AGENT_B, D("-20.00"), "DSP-7"),
        awb(
            "1000004",
            prefix="160",
            agent_code=AGENT_B,
            weight_charge_collect="1200.00",
            other_charges_agent_collect="25.00",
            commission="60.00",
        ),
    ]


def test_two_airlines_and_two_agents_cross_total() -> None:
    s = settle(two_by_two(), "EUR")
    # lines:      020       160
    #   A      950.00    300.00   = 1250.00
    #   B      180.00    -85.00   =   95.00
    #         1130.00    215.00   = 1345.00
    assert s.lines == (
        LineTotal(AGENT_B, "020", D("180.00"), 2),
        LineTotal(AGENT_B, "160", D("-85.00"), 1),
        LineTotal(AGENT_A, "020", D("950.00"), 1),
        LineTotal(AGENT_A, "160", D("300.00"), 1),
    )
    assert [(a.agent_code, a.total) for a in s.agents] == [
        (AGENT_B, D("95.00")),
        (AGENT_A, D("1250.00")),
    ]
    assert [(a.airline_prefix, a.total) for a in s.airlines] == [
        ("020", D("1130.00")),
        ("160", D("215.00")),
    ]
    assert [ln.agent_code for ln in s.airlines[0].lines] == [AGENT_B, AGENT_A]
    assert [ln.airline_prefix for ln in s.agents[1].lines] == ["020", "160"]
    summary = s.summary
    assert (summary.agents_total, summary.airlines_total) == (D("1345.00"), D("1345.00"))
    assert same(summary.difference, "0.00")
    assert (summary.awbs, summary.adjustments, summary.agents, summary.airlines) == (4, 1, 2, 2)


def test_an_agent_can_end_the_period_in_credit() -> None:
    items: list[Item] = [
        awb("1000001", weight_charge_prepaid="40.00"),
        awb("1000002", weight_charge_collect="900.00", other_charges_agent_collect="75.00"),
        cca({"commission": "0.00"}, {"commission": "10.00"}),
    ]
    s = settle(items, "EUR")
    statement = s.agents[0]
    assert same(statement.total, "-45.00")  # 40.00 - 75.00 - 10.00
    assert statement.is_credit
    assert same(s.airlines[0].total, "-45.00")
    assert [(i.kind, i.amount) for i in statement.items] == [
        (ItemKind.AWB, D("40.00")),
        (ItemKind.AWB, D("-75.00")),
        (ItemKind.CCA, D("-10.00")),
    ]


def test_a_correction_follows_its_awb_in_the_statement() -> None:
    items: list[Item] = [
        cca({"weight_charge": "800.00"}, {"weight_charge": "845.00"}),
        awb("6782807", weight_charge_prepaid="800.00"),  # the AWB the CCA corrects
        awb("1000001", weight_charge_prepaid="1.00"),
    ]
    got = [(i.awb, i.kind) for i in settle(items, "EUR").agents[0].items]
    assert got == [
        ("160-10000012", ItemKind.AWB),
        ("160-67828073", ItemKind.AWB),
        ("160-67828073", ItemKind.CCA),
    ]


def test_an_empty_period_settles_to_zero() -> None:
    s = settle([], "EUR")
    assert (s.agents, s.airlines, s.lines, s.items) == ((), (), (), ())
    assert same(s.summary.agents_total, "0.00")
    assert same(s.summary.difference, "0.00")


@pytest.mark.parametrize("side", ["agents", "airlines", "summary"])
def test_the_conservation_check_catches_a_broken_settlement(side: str) -> None:
    s = settle(two_by_two(), "EUR")
    check_conservation(s)
    if side == "agents":
        broken = replace(s, agents=(replace(s.agents[0], total=D("95.01")), *s.agents[1:]))
    elif side == "airlines":
        broken = replace(s, airlines=s.airlines[1:])
    else:
        broken = replace(s, summary=replace(s.summary, difference=D("0.01")))
    with pytest.raises(ConservationError) as info:
        check_conservation(broken)
    assert info.value.code == "CONSERVATION_BROKEN"


# --- terms as configuration ---------------------------------------------------------------------


def test_a_market_may_net_with_other_terms() -> None:
    rec = awb(weight_charge_prepaid="1000.00", discount="-100.00", other_charges_agent_prepaid="5")
    no_discount = NettingTerms((("weight_charge_prepaid", 1), ("other_charges_agent_prepaid", -1)))
    assert awb_due(rec, "EUR") == D("900.00")
    assert awb_due(rec, "EUR", no_discount) == D("995.00")
    s = settle([rec], "EUR", no_discount)
    assert s.agents[0].total == D("995.00")


def test_the_default_terms_are_the_settlement_md_formula() -> None:
    assert dict(DEFAULT_TERMS.terms) == {
        "weight_charge_prepaid": 1,
        "valuation_charge_prepaid": 1,
        "other_charges_carrier_prepaid": 1,
        "tax_due_airline": 1,
        "commission": -1,
        "discount": 1,  # the value is signed: a '-' discount reduces the amount due
        "other_charges_agent_collect": -1,
        "tax_due_agent": -1,
    }


def test_correction_terms_are_configurable() -> None:
    collect_too = CorrectionTerms((*DEFAULT_CORRECTION_TERMS.terms, ("weight_charge", "C", 1)))
    pair = cca({"weight_charge_pc": "C"}, {"weight_charge_pc": "C", "weight_charge": "10.00"})
    assert correction_due(pair, "EUR") == D("0.00")
    assert correction_due(pair, "EUR", collect_too) == D("10.00")
    s = settle([pair], "EUR", correction_terms=collect_too)
    assert s.agents[0].total == D("10.00")


@pytest.mark.parametrize(
    "terms",
    [
        (),
        (("weight_charge_prepaid", 1), ("weight_charge_prepaid", 1)),
        (("weight_charge_prepaid", 2),),
        (("weight_charge_prepaid", 0),),
        (("weight_charge_prepaid", True),),
        (("weight_charge_prepaid", "+"),),
        (("weight_charge_prepayed", 1),),
        (("origin", 1),),  # a text field
        (("gross_weight", 1),),  # a Decimal, but not money
        (("rate_of_exchange", 1),),
    ],
)
def test_netting_terms_are_validated(terms: Any) -> None:
    with pytest.raises(TermsError) as info:
        NettingTerms(terms)
    assert info.value.code == "NETTING_TERMS_INVALID"


@pytest.mark.parametrize(
    "terms",
    [
        (),
        (("weight_charge", "", 1),),  # needs P or C
        (("weight_charge", "X", 1),),
        (("commission", "P", -1),),  # has no indicator
        (("weight_charge", "P", 1), ("weight_charge", "P", -1)),
        (("weight_charge", "P", -2),),
        (("weight_charge_pc", "", 1),),
        (("gross_weight", "", 1),),
    ],
)
def test_correction_terms_are_validated(terms: Any) -> None:
    with pytest.raises(TermsError):
        CorrectionTerms(terms)


# --- properties over generated periods ----------------------------------------------------------

AGENTS = (AGENT_A, AGENT_B, agent("9876543000"))
PREFIXES = ("020", "160", "172")
RECORD_CURRENCIES = ("EUR", "USD", "JPY", "KWD")
PERIOD_CURRENCIES = ("EUR", "JPY", "KWD")


@st.composite
def amounts_in(draw: st.DrawFn, currency: str, signed: bool = False) -> Decimal:
    low = -(10**9) if signed else 0
    return Decimal(draw(st.integers(low, 10**9))).scaleb(-minor_units(currency))


@st.composite
def rates(draw: st.DrawFn) -> Decimal:
    return Decimal(draw(st.integers(1, 10**10))).scaleb(-5)


@st.composite
def awbs(draw: st.DrawFn) -> AwbRecord:
    currency = draw(st.sampled_from(RECORD_CURRENCIES))
    values: dict[str, Any] = {
        name: draw(amounts_in(currency, signed=name == "discount")) for name in AWB_AMOUNTS
    }
    return make_awb(
        seven=f"{draw(st.integers(0, 9_999_999)):07d}",
        currency=currency,
        airline_prefix=draw(st.sampled_from(PREFIXES)),
        agent_code=draw(st.sampled_from(AGENTS)),
        use_indicator=draw(st.sampled_from("RRRRSV")),
        rate_of_exchange=draw(rates()),
        **values,
    )


@st.composite
def correction_values(draw: st.DrawFn, currency: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: draw(amounts_in(currency, signed=name == "discount")) for name in CORRECTION_AMOUNTS
    }
    for name in ("weight_charge", "valuation_charge", "taxes", "other_charges_agent"):
        values[f"{name}_pc"] = draw(st.sampled_from("PC "))
    values["other_charges_carrier_pc"] = draw(st.sampled_from("PC"))
    values["rate_of_exchange"] = draw(rates())
    return values


@st.composite
def corrections(draw: st.DrawFn) -> Correction:
    currency = draw(st.sampled_from(RECORD_CURRENCIES))
    kind = draw(st.sampled_from(("CC", "DC")))
    original = make_correction(
        f"{kind}O",
        seven=f"{draw(st.integers(0, 9_999_999)):07d}",
        reference=f"{draw(st.integers(0, 999)):06d}",
        currency=currency,
        airline_prefix=draw(st.sampled_from(PREFIXES)),
        agent_code=draw(st.sampled_from(AGENTS)),
        **draw(correction_values(currency)),
    )
    revised = replace(original, record_id=f"{kind}R", **draw(correction_values(currency)))
    return Correction(original, revised)


@st.composite
def adjustments(draw: st.DrawFn, currency: str) -> Adjustment:
    return Adjustment(
        draw(st.sampled_from(PREFIXES)),
        draw(st.sampled_from(AGENTS)),
        draw(amounts_in(currency, signed=True)),
        f"DSP-{draw(st.integers(0, 99))}",
    )


@st.composite
def periods(draw: st.DrawFn) -> tuple[str, list[Any]]:
    currency = draw(st.sampled_from(PERIOD_CURRENCIES))
    items = draw(
        st.lists(st.one_of(awbs(), corrections(), adjustments(currency)), min_size=0, max_size=25)
    )
    return currency, items


def round_half_up(x: Fraction, currency: str) -> Fraction:
    """Half away from zero, computed apart from opencass.model.quantize."""
    scale = 10 ** minor_units(currency)
    magnitude = math.floor(abs(x) * scale + Fraction(1, 2))
    return Fraction(magnitude if x >= 0 else -magnitude, scale)


def in_period(amount: Decimal, currency: str, rate: Decimal, period: str) -> Fraction:
    return Fraction(amount) * (1 if currency == period else Fraction(rate))


def reference_awb(r: AwbRecord, period: str) -> Fraction:
    """SETTLEMENT.md's formula written out by hand."""
    if r.use_indicator != "R":
        return Fraction(0)
    owed = (
        r.weight_charge_prepaid
        + r.valuation_charge_prepaid
        + r.other_charges_carrier_prepaid
        + r.tax_due_airline
        - r.commission
        + r.discount
        - r.other_charges_agent_collect
        - r.tax_due_agent
    )
    return round_half_up(in_period(owed, r.currency, r.rate_of_exchange, period), period)


def reference_record(r: CorrectionRecord, period: str) -> Fraction:
    def prepaid(pc: str, amount: Decimal) -> Decimal:
        return amount if pc == "P" else Decimal(0)

    owed = (
        prepaid(r.weight_charge_pc, r.weight_charge)
        + prepaid(r.valuation_charge_pc, r.valuation_charge)
        + prepaid(r.other_charges_carrier_pc, r.other_charges_carrier)
        + prepaid(r.taxes_pc, r.taxes)
        + r.vat_on_charges
        - r.commission
        - r.vat_on_commission
        + r.discount
        - (r.other_charges_agent if r.other_charges_agent_pc == "C" else 0)
    )
    return in_period(owed, r.currency, r.rate_of_exchange, period)


def reference_amount(item: Any, period: str) -> Fraction:
    if isinstance(item, AwbRecord):
        return reference_awb(item, period)
    if isinstance(item, Correction):
        diff = reference_record(item.revised, period) - reference_record(item.original, period)
        return round_half_up(diff, period)
    return Fraction(item.amount)


def owner(item: Any) -> tuple[str, str]:
    rec = item.original if isinstance(item, Correction) else item
    return (rec.agent_code, rec.airline_prefix)


@HYPOTHESIS
@given(periods())
def test_property_agents_and_airlines_conserve_money(period: tuple[str, list[Any]]) -> None:
    currency, items = period
    s = settle(items, currency)
    agents = sum((a.total for a in s.agents), Decimal(0))
    airlines = sum((a.total for a in s.airlines), Decimal(0))
    assert agents == airlines == s.summary.agents_total == s.summary.airlines_total
    assert s.summary.difference == 0
    assert {ln for a in s.agents for ln in a.lines} == {ln for a in s.airlines for ln in a.lines}
    assert sum(len(a.items) for a in s.agents) == len(items)


@HYPOTHESIS
@given(periods(), st.randoms(use_true_random=False))
def test_property_the_order_of_the_items_does_not_matter(
    period: tuple[str, list[Any]], rnd: Any
) -> None:
    currency, items = period
    shuffled = list(items)
    rnd.shuffle(shuffled)
    first, second = settle(items, currency), settle(shuffled, currency)
    assert first == second
    assert repr(first) == repr(second)  # the same digits and exponents, not just equal values


@HYPOTHESIS
@given(periods())
def test_property_totals_are_sums_of_the_rounded_item_amounts(
    period: tuple[str, list[Any]],
) -> None:
    currency, items = period
    s = settle(items, currency)
    exponent = -minor_units(currency)
    expected_lines: dict[tuple[str, str], Fraction] = {}
    for item in items:
        key = owner(item)
        expected_lines[key] = expected_lines.get(key, Fraction(0)) + reference_amount(
            item, currency
        )
    assert {(ln.agent_code, ln.airline_prefix): Fraction(ln.amount) for ln in s.lines} == (
        expected_lines
    )
    for statement in s.agents:
        assert all(i.amount.as_tuple().exponent == exponent for i in statement.items)
        assert statement.total.as_tuple().exponent == exponent
        assert statement.total == sum(i.amount for i in statement.items)
        assert statement.total == sum(ln.amount for ln in statement.lines)
    for airline in s.airlines:
        assert airline.total.as_tuple().exponent == exponent
        assert Fraction(airline.total) == sum(
            v for (_, prefix), v in expected_lines.items() if prefix == airline.airline_prefix
        )
