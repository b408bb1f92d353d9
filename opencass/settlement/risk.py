"""An agent's risk: its status, its remittance holding capacity, and which alert levels its
exposure has reached (pure; the facts come from ``billing.risk``).

Status: **C** when the agent's last financial review failed, it is in default, or it had
``c_irregularities`` irregularities in the last 12 months; **B** with ``b_irregularities``;
**A** otherwise.

Remittance holding capacity (the NewGen ISS rule by default): for status A and B, the days of a
billing period plus its remittance period (from the period's first billing day to Remittance
Day) times the average daily billing of the three busiest periods of the last 12 months (a
period's daily billing: its final statement total over its billing days), plus
``capacity_margin_percent`` (100 %: doubled); for status C, and for an agent without billing
history yet, the financial security held (none: zero).

Exposure: what the agent was billed and has not remitted (final closes) plus what is booked for
it in periods not finally closed yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from opencass.config.banking import RiskPolicy

__all__ = ["PeriodBilling", "capacity", "levels_reached", "risk_status", "used_percent"]

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class PeriodBilling:
    """One finally closed period of an agent: its statement total and its billing days."""

    period: str
    total: Decimal
    days: int

    @property
    def daily(self) -> Decimal:
        """The period's average daily billing."""
        return self.total / self.days if self.days > 0 else Decimal(0)


def risk_status(
    review_failed: bool, in_default: bool, irregularities: int, policy: RiskPolicy
) -> str:
    """A, B or C (see the module docstring)."""
    if review_failed or in_default or irregularities >= policy.c_irregularities:
        return "C"
    return "B" if irregularities >= policy.b_irregularities else "A"


def capacity(
    status: str,
    history: Sequence[PeriodBilling],
    holding_days: int,
    security: Decimal | None,
    policy: RiskPolicy,
) -> Decimal:
    """The remittance holding capacity (see the module docstring), to the cent."""
    busiest = sorted((h.daily for h in history if h.total > 0), reverse=True)[:3]
    if status == "C" or not busiest:
        return (security or Decimal(0)).quantize(CENT)
    average = sum(busiest, Decimal(0)) / len(busiest)
    margin = 1 + Decimal(policy.capacity_margin_percent) / 100
    return (average * holding_days * margin).quantize(CENT, rounding=ROUND_HALF_UP)


def used_percent(exposure: Decimal, capacity_: Decimal) -> Decimal | None:
    """The exposure as a percentage of the capacity, to 0.1 (None without a capacity)."""
    if capacity_ <= 0:
        return None
    return (exposure * 100 / capacity_).quantize(Decimal("0.1"))


def levels_reached(exposure: Decimal, capacity_: Decimal, percents: Sequence[int]) -> list[int]:
    """The alert levels (percent of the capacity) ``exposure`` has reached; with no capacity,
    any exposure reaches them all."""
    if exposure <= 0:
        return []
    if capacity_ <= 0:
        return list(percents)
    return [p for p in percents if exposure * 100 >= capacity_ * p]
