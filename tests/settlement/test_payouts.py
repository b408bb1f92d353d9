"""Sharing agents' payments among airlines and taking returned money back: hand-computed cases
and properties (the shares add up to the payment to the cent; claims never make a payout
negative)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from opencass.settlement.payouts import apply_claims, sequence_type, share_out

D = Decimal


def test_full_payment_pays_each_airline_its_subtotal() -> None:
    lines = {"020": D("100.00"), "057": D("250.50"), "997": D("-50.50")}
    assert share_out(D("300.00"), lines) == lines
    assert share_out(D("500.00"), lines) == lines  # more than owed is not paid out


def test_partial_payment_is_shared_pro_rata_to_the_cent() -> None:
    # 100 paid of 300 owed: a third each of 100, 100, 100 -> 33.34, 33.33, 33.33
    shares = share_out(D("100.00"), {"020": D("100"), "057": D("100"), "997": D("100")})
    assert shares == {"020": D("33.34"), "057": D("33.33"), "997": D("33.33")}
    assert share_out(D("0"), {"020": D("1")}) == {} and share_out(D("5"), {"020": D("-1")}) == {}


def test_claims_are_taken_oldest_first_never_below_zero() -> None:
    assert apply_claims(D("1000"), [(1, D("300")), (2, D("900"))]) == (
        D("0"),
        [(1, D("300")), (2, D("700"))],
    )
    assert apply_claims(D("1000"), [(1, D("300"))]) == (D("700"), [(1, D("300"))])
    assert apply_claims(D("-5"), [(1, D("300"))]) == (D("0"), [])


def test_sequence_types() -> None:
    assert (sequence_type(False), sequence_type(True)) == ("FRST", "RCUR")


cents = st.integers(min_value=1, max_value=10**9).map(lambda n: D(n).scaleb(-2))


@given(
    st.dictionaries(st.from_regex(r"\d{3}", fullmatch=True), cents, min_size=1, max_size=8), cents
)
def test_shares_add_up_to_what_was_paid(lines: dict[str, Decimal], paid: Decimal) -> None:
    total = sum(lines.values(), D(0))
    shares = share_out(paid, lines)
    assert sum(shares.values(), D(0)) == min(paid, total)
    assert all(D(0) <= shares[p] <= lines[p] for p in lines)
    assert all(s == s.quantize(D("0.01")) for s in shares.values())


@given(cents, st.lists(cents, max_size=5))
def test_a_payout_after_claims_is_never_negative(gross: Decimal, claims: list[Decimal]) -> None:
    net, uses = apply_claims(gross, list(enumerate(claims)))
    assert (net >= 0 and net + sum(u for _, u in uses) == gross) or sum(claims) >= gross
    assert net == max(D(0), gross - sum(claims, D(0)))
