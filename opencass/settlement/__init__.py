"""Pure business logic: participant rules, netting (no I/O)."""

from opencass.settlement.netting import (
    DEFAULT_CORRECTION_TERMS,
    DEFAULT_TERMS,
    Adjustment,
    AgentStatement,
    AirlineSettlement,
    ConservationError,
    CorrectionTerms,
    NettingError,
    NettingTerms,
    OperatorSummary,
    PeriodSettlement,
    check_conservation,
    settle,
)
from opencass.settlement.rules import SubmissionContext, check_header, check_record

__all__ = [
    "DEFAULT_CORRECTION_TERMS",
    "DEFAULT_TERMS",
    "Adjustment",
    "AgentStatement",
    "AirlineSettlement",
    "ConservationError",
    "CorrectionTerms",
    "NettingError",
    "NettingTerms",
    "OperatorSummary",
    "PeriodSettlement",
    "SubmissionContext",
    "check_conservation",
    "check_header",
    "check_record",
    "settle",
]
