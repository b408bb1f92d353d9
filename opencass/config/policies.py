"""Per-country settlement policies: ``[countries.XX.disputes]`` and ``[countries.XX.remittance]``.

Defaults are opencass's choices where SETTLEMENT.md leaves a rule to configuration; every
number must be positive (the loader checks).  Read with the generic settings reader: a field
added here with a default is a new, optional key.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DisputePolicy:
    """How disputes run in a country."""

    withholding_allowed: bool = False  # may an agent withhold a disputed amount at remittance
    escalation_days: int = 1  # days after the airline's cut-off before the operator is alerted


@dataclass(frozen=True, slots=True)
class RemittancePolicy:
    """Payment discipline in a country."""

    irregularity_limit: int = 3  # irregularities within the window that make a default
    irregularity_window_days: int = 365
    grace_days: int = 5  # non-payment this many days after Remittance Day is a default
