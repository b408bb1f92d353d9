"""The period's disputes as report lines (read by ``opencass.store.ledger``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from opencass.config.database import Database
from opencass.documents.reports.data import DisputeLine
from opencass.store import ledger

__all__ = ["disputes_of_period"]


def _dec(value: object) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _line(d: dict[str, Any]) -> DisputeLine:
    return DisputeLine(
        dispute_id=str(d.get("id", "")),
        airline_prefix=str(d.get("airline_prefix", "")),
        awb_serial=str(d.get("awb_serial", "")),
        agent_code=str(d.get("agent_code", "")),
        status=str(d.get("status", "")),
        billed=_dec(d.get("billed_amount")) or Decimal(0),
        claimed=_dec(d.get("claimed_amount")),
        disputed=_dec(d.get("disputed_amount")) or Decimal(0),
        corrected=_dec(d.get("corrected_amount")),
        reason=str(d.get("reason", "")),
        adjust_period=str(d.get("adjust_period") or ""),
    )


def disputes_of_period(database: Database, country: str, period: str) -> list[DisputeLine]:
    """The disputes of the period's AWBs as report lines; empty without a disputes table."""
    return [_line(d) for d in ledger.disputes_of_period(database, country, period)]
