"""Risk status, the remittance holding capacity (NewGen ISS rule) and alert levels, by hand."""

from __future__ import annotations

from decimal import Decimal

from opencass.config.banking import RiskPolicy
from opencass.settlement.risk import PeriodBilling, capacity, levels_reached, risk_status

D = Decimal
POLICY = RiskPolicy()


def test_status() -> None:
    assert risk_status(False, False, 0, POLICY) == "A"
    assert risk_status(False, False, 1, POLICY) == "B"
    assert risk_status(False, False, 2, POLICY) == "C"
    assert risk_status(True, False, 0, POLICY) == "C"  # a failed financial review
    assert risk_status(False, True, 0, POLICY) == "C"  # in default
    assert risk_status(False, False, 1, RiskPolicy(b_irregularities=2, c_irregularities=4)) == "A"


def test_capacity_from_twelve_periods() -> None:
    # twelve monthly periods of 30 days; the three busiest daily billings are 9000/30 = 300,
    # 6000/30 = 200 and 3100/31 = 100 a day: average 200 a day; holding days 50 (billing 30 +
    # remittance 20): 200 x 50 = 10000, plus 100 %: 20000.00
    totals = [1500, 3100, 600, 9000, 1200, 300, 6000, 0, 2400, 900, 1800, 2700]
    history = [
        PeriodBilling(f"2026{m:02}01M", D(t), 31 if t == 3100 else 30)
        for m, t in enumerate(totals, 1)
    ]
    assert capacity("A", history, 50, None, POLICY) == D("20000.00")
    assert capacity("B", history, 50, D("5000"), POLICY) == D("20000.00")
    assert capacity("C", history, 50, D("5000"), POLICY) == D("5000.00")  # the security
    assert capacity("C", history, 50, None, POLICY) == D("0.00")
    assert capacity("A", history, 50, None, RiskPolicy(capacity_margin_percent=50)) == D("15000.00")
    assert capacity("A", [], 50, D("7000"), POLICY) == D("7000.00")  # no history yet: security


def test_levels() -> None:
    assert levels_reached(D("7499.99"), D("10000"), (50, 75, 100)) == [50]
    assert levels_reached(D("7500"), D("10000"), (50, 75, 100)) == [50, 75]
    assert levels_reached(D("12000"), D("10000"), (50, 75, 100)) == [50, 75, 100]
    assert levels_reached(D("0"), D("0"), (50, 75, 100)) == []
    assert levels_reached(D("1"), D("0"), (50, 75, 100)) == [50, 75, 100]
