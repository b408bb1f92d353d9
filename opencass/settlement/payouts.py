"""Sharing what agents paid among their airlines, and taking returned money back (pure).

An agent's payment for a period goes to the airlines of its statement: in full, each airline
gets the agent's subtotal for it (what the agent owes it; negative when the airline owes the
agent, netted in the agent's single amount); a partial payment is shared pro rata to those
subtotals, rounded to the cent so that the shares add up to the payment exactly (largest
remainders get the cents, ties to the lower prefix).  More than owed is not paid out: the
surplus stays with the CASS office for the operator to refund or set off.

Money paid out and then returned by the agent's bank (a direct debit return, a reversal) is a
claim on the airlines it was paid to, taken from their next payouts — never below zero; what a
payout cannot cover stays open.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_FLOOR, Decimal

__all__ = ["apply_claims", "sequence_type", "share_out"]

CENT = Decimal("0.01")


def share_out(paid: Decimal, lines: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Each airline's share of an agent's ``paid`` amount (see the module docstring)."""
    total = sum(lines.values(), Decimal(0))
    if paid <= 0 or total <= 0:
        return {}
    if paid >= total:
        return dict(lines)
    exact = {p: line * paid / total for p, line in lines.items()}
    floors = {p: v.quantize(CENT, rounding=ROUND_FLOOR) for p, v in exact.items()}
    left = int(((paid - sum(floors.values(), Decimal(0))) / CENT).to_integral_value())
    order = sorted(exact, key=lambda p: (-(exact[p] - floors[p]), p))
    for p in order[:left]:
        floors[p] += CENT
    return floors


def apply_claims(
    gross: Decimal, claims: Sequence[tuple[int, Decimal]]
) -> tuple[Decimal, list[tuple[int, Decimal]]]:
    """A payout of ``gross`` less the open ``claims`` (id, open amount), oldest first, never
    below zero: the net payout and what it takes of each claim."""
    net, uses = max(gross, Decimal(0)), []
    for claim_id, open_amount in claims:
        if net <= 0:
            break
        taken = min(net, open_amount)
        net -= taken
        uses.append((claim_id, taken))
    return net, uses


def sequence_type(collected_before: bool) -> str:
    """SEPA sequence type of a collection under a mandate: FRST the first time, then RCUR."""
    return "RCUR" if collected_before else "FRST"
