"""The tax engine on hand-computed scenarios: rules by date, bases, conditions and rounding."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opencass.config.invoicing import Invoicing
from opencass.config.model import Country, Period
from opencass.config.tax import AGENT_BASES, AIRLINE_BASES, TaxRule
from opencass.model import AwbRecord
from opencass.settlement.netting import awb_due, settle
from opencass.settlement.tax import AGENT, AIRLINE, TaxEngine, airport_country
from tests.kit.gateway import demo_config
from tests.kit.hot import AGENT as AGENT_CODE
from tests.kit.hot import make_awb

D = Decimal
START = date(2020, 1, 1)
_PERIOD = Period(
    "DE", "20261101M", date(2026, 11, 1), date(2026, 11, 30),
    *(datetime(2026, 12, d, tzinfo=UTC) for d in (3, 5, 10, 13, 15)),
    date(2026, 12, 20), date(2026, 12, 22),
)  # fmt: skip
REASON = "exempt by law"


@pytest.fixture(scope="module")
def germany(tmp_path_factory: pytest.TempPathFactory) -> Country:
    config = demo_config(Path(tmp_path_factory.mktemp("tax")))
    return config.countries["DE"]


def _engine(
    country: Country,
    *rules: TaxRule,
    registered: bool = True,
    established: bool = True,
    **invoicing: object,
) -> TaxEngine:
    inv = replace(Invoicing(untaxed_category="E", exemption_reason=REASON), tax=rules, **invoicing)
    return TaxEngine(
        replace(country, invoicing=inv),
        None,
        registered_agents={AGENT_CODE} if registered else (),
        established_airlines={"160"} if established else (),
    )


def _domestic(**changes: object) -> AwbRecord:
    """FRA→MUC, 1000.00 weight charge, 50.00 commission, no tax carried."""
    base = {
        "origin": "FRA", "destination": "MUC", "weight_charge_prepaid": D("1000.00"),
        "commission": D("50.00"), "execution_date": date(2026, 11, 14),
    }  # fmt: skip
    return make_awb(**{**base, **changes})


def test_airports_come_from_a_published_table() -> None:
    assert airport_country("FRA") == "DE" and airport_country("muc") == "DE"
    assert airport_country("HKG") == "HK" and airport_country("ZZZ") is None


def test_a_rate_change_on_the_15th_is_taken_by_execution_date(germany: Country) -> None:
    engine = _engine(
        germany,
        TaxRule(START, date(2026, 11, 14), D(16), "S"),
        TaxRule(date(2026, 11, 15), None, D(19), "S"),
    )
    before = engine.apply(_domestic(execution_date=date(2026, 11, 14)))
    after = engine.apply(_domestic(execution_date=date(2026, 11, 15)))
    # 16 % of 1000.00 and of 50.00; then 19 %.
    assert (before.tax_due_airline, before.tax_due_agent) == (D("160.00"), D("8.00"))
    assert (after.tax_due_airline, after.tax_due_agent) == (D("190.00"), D("9.50"))
    assert before.vat_indicator == after.vat_indicator == "Y"


def test_the_invoice_day_picks_the_rate_where_the_country_says_so(germany: Country) -> None:
    engine = _engine(
        germany,
        TaxRule(START, date(2026, 11, 14), D(16), "S"),
        TaxRule(date(2026, 11, 15), None, D(19), "S"),
        tax_point="invoice",
    )
    rec = _domestic(execution_date=date(2026, 11, 2), tax_due_airline=D("160.00"))
    # At intake the period's final billing day is given: 19 % applies, not the 16 % of the
    # execution date.
    (m,) = engine.mismatches(rec, date(2026, 12, 15))
    assert (m.carried, m.computed) == (D("160.00"), D("190.00"))
    assert engine.mismatches(rec, date(2026, 11, 14)) == []
    # At the close the engine knows the period: its final billing day picks the rule.
    period = replace(_PERIOD, billing_available=datetime(2026, 12, 15, 8, 0, tzinfo=UTC))
    closing = TaxEngine(engine.country, period, registered_agents={AGENT_CODE},
                        established_airlines={"160"})  # fmt: skip
    assert closing.apply(_domestic(execution_date=date(2026, 11, 2))).tax_due_airline == D("190.00")


def test_bases_each_taken_by_their_own_rule(germany: Country) -> None:
    engine = _engine(
        germany,
        TaxRule(START, None, D(19), "S", ("weight", "carrier_charges")),
        TaxRule(START, None, D(7), "S", ("valuation",)),
    )
    rec = _domestic(valuation_charge_prepaid=D("100.00"), other_charges_carrier_prepaid=D("10.00"))
    taxed = engine.apply(rec)
    # 19 % of (1000 + 10) = 191.90; 7 % of 100 = 7.00; commission: no rule, untaxed.
    assert taxed.tax_due_airline == D("198.90") and taxed.tax_due_agent == D("0.00")
    kinds = {(p.side, p.category, p.rate): p.base for p in engine.portions(rec)}
    assert kinds == {
        (AIRLINE, "S", D(19)): D("1010.00"),
        (AIRLINE, "S", D(7)): D("100.00"),
        (AGENT, "E", D(0)): D("50.00"),
    }


def test_reverse_charge_for_a_foreign_airline_and_a_registered_agent(germany: Country) -> None:
    rules = (
        TaxRule(START, None, D(19), "S", AIRLINE_BASES, "domestic", airline_established=True),
        TaxRule(START, None, D(0), "AE", AIRLINE_BASES, "domestic", True, False, REASON),
    )
    foreign = _engine(germany, *rules, established=False)
    rec = _domestic()
    assert foreign.apply(rec) is rec  # nothing to compute: the agent accounts for the VAT
    assert {p.category for p in foreign.portions(rec) if p.side == AIRLINE} == {"AE"}
    unregistered = _engine(germany, *rules, established=False, registered=False)
    assert {p.category for p in unregistered.portions(rec) if p.side == AIRLINE} == {"E"}
    local = _engine(germany, *rules)
    assert local.apply(rec).tax_due_airline == D("190.00")


def test_an_international_shipment_is_exempt(germany: Country) -> None:
    engine = _engine(
        germany,
        TaxRule(START, None, D(19), "S", shipment="domestic"),
        TaxRule(START, None, D(0), "E", shipment="international", exemption_reason=REASON),
    )
    rec = _domestic(destination="JFK")
    assert engine.apply(rec) is rec
    assert {(p.category, p.rate) for p in engine.portions(rec)} == {("E", D(0))}


def test_an_agent_without_a_tax_id_pays_no_vat_on_its_commission(germany: Country) -> None:
    rules = (
        TaxRule(START, None, D(19), "S", AIRLINE_BASES),
        TaxRule(START, None, D(19), "S", AGENT_BASES, agent_registered=True),
    )
    registered = _engine(germany, *rules).apply(_domestic())
    unregistered = _engine(germany, *rules, registered=False).apply(_domestic())
    assert registered.tax_due_agent == D("9.50")
    assert unregistered.tax_due_agent == D("0.00") and unregistered.tax_due_airline == D("190.00")


def test_per_line_and_per_document_rounding_differ_as_computed_by_hand(germany: Country) -> None:
    rule = TaxRule(START, None, D(19), "S", ("weight",))
    # Three AWBs of 0.02 each: 19 % is 0.0038 per AWB.
    recs = [
        _domestic(weight_charge_prepaid=D("0.02"), commission=D(0), seven=s)
        for s in ("1000001", "1000002", "1000003")
    ]
    line = _engine(germany, rule)
    assert [line.apply(r).tax_due_airline for r in recs] == [D("0.00")] * 3
    document = _engine(germany, rule, tax_rounding="document")
    # Running total 0.0038, 0.0076, 0.0114 rounds to 0.00, 0.01, 0.01: the AWBs get the steps.
    assert [document.apply(r).tax_due_airline for r in recs] == [D("0.00"), D("0.01"), D("0.00")]
    assert document.fresh().apply(recs[0]).tax_due_airline == D("0.00")


def test_rounding_mode_of_the_rule(germany: Country) -> None:
    rec = _domestic(weight_charge_prepaid=D("0.50"), commission=D(0))  # 19 %: 0.095
    up = _engine(germany, TaxRule(START, None, D(19), "S", ("weight",)))
    down = _engine(germany, TaxRule(START, None, D(19), "S", ("weight",), rounding="down"))
    even = _engine(germany, TaxRule(START, None, D(19), "S", ("weight",), rounding="half_even"))
    assert up.apply(rec).tax_due_airline == D("0.10")
    assert down.apply(rec).tax_due_airline == D("0.09")
    assert even.apply(rec).tax_due_airline == D("0.10")  # 0.095 → 0.10 (0 is even)


def test_carried_tax_is_kept_and_checked(germany: Country) -> None:
    engine = _engine(germany, TaxRule(START, None, D(19), "S"))
    right = _domestic(tax_due_airline=D("190.00"), tax_due_agent=D("9.50"))
    assert engine.apply(right) is right and engine.mismatches(right) == []
    off_by_one_cent = _domestic(tax_due_airline=D("190.01"), tax_due_agent=D("9.50"))
    assert engine.mismatches(off_by_one_cent) == []  # within one minor unit
    wrong = _domestic(tax_due_airline=D("160.00"), tax_due_agent=D("9.50"))
    kept = engine.apply(wrong)
    assert kept.tax_due_airline == D("160.00")
    (m,) = engine.mismatches(wrong)
    assert (m.field, m.carried, m.computed) == ("tax_due_airline", D("160.00"), D("190.00"))
    # One side carried, the other computed.
    half = engine.apply(_domestic(tax_due_airline=D("190.00")))
    assert (half.tax_due_airline, half.tax_due_agent) == (D("190.00"), D("9.50"))


def test_void_awbs_and_countries_without_rules_are_left_alone(germany: Country) -> None:
    void = _domestic(use_indicator="V")
    assert _engine(germany, TaxRule(START, None, D(19), "S")).apply(void) is void
    rec = _domestic()
    assert _engine(germany).apply(rec) is rec and _engine(germany).mismatches(rec) == []


@settings(max_examples=60, deadline=None)
@given(
    charges=st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=12),
    rate=st.sampled_from([D(7), D(16), D(19), D("20.5")]),
    document=st.booleans(),
)
def test_computed_tax_is_conserved_in_netting(
    germany: Country, charges: list[int], rate: D, document: bool
) -> None:
    """The computed tax takes part in netting: Σ agents = Σ airlines = Σ items, to the cent,
    and the tax an agent pays is within half a cent per record of rate × base."""
    engine = _engine(
        germany, TaxRule(START, None, rate, "S"), tax_rounding="document" if document else "line"
    )
    recs = [
        engine.apply(
            _domestic(weight_charge_prepaid=D(c).scaleb(-2), commission=D(0), seven=f"{i:07d}")
        )
        for i, c in enumerate(charges, 1)
    ]
    result = settle(recs, "EUR")
    total = sum((awb_due(r, "EUR") for r in recs), D(0))
    assert result.agents[0].total == total == sum(a.total for a in result.airlines)
    exact = sum(D(c).scaleb(-2) for c in charges) * rate / 100
    tax = sum(r.tax_due_airline for r in recs)
    slack = D("0.005") if document else D("0.005") * len(recs)
    assert abs(tax - exact) <= slack


def test_bases_summed_under_one_key_keep_the_first_bases_rule(germany: Country) -> None:
    """Two rules of the same category and rate on different bases: their bases are summed in
    one portion, taxed by the rule of the first base met (airline side: the weight charge)."""
    weight = TaxRule(START, None, D(19), "S", bases=("weight",), rounding="half_up")
    others = TaxRule(START, None, D(19), "S", bases=("valuation",), rounding="down")
    engine = _engine(germany, weight, others)
    rec = _domestic(valuation_charge_prepaid=D("10.00"))
    (airline,) = [p for p in engine.portions(rec) if p.side == "airline"]
    assert airline.base == D("1010.00") and airline.rule is weight
