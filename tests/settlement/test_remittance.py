"""Remittance rules (pure): hand-computed settled, short, late, withheld, credit and default
cases, and the payment reference."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from opencass.settlement.remittance import (
    Irregularity,
    IrregularityKind,
    Paid,
    Reference,
    Standing,
    assess,
    default_reason,
    format_reference,
    parse_reference,
    parse_topup,
    pick_period,
    withholding,
)

D = Decimal
DUE = date(2026, 12, 20)  # Remittance Day
AFTER = DUE + timedelta(days=1)  # the remittance check (end of Remittance Day)
GRACE = 5
PAST_GRACE = DUE + timedelta(days=GRACE + 1)  # the grace check


def day(n: int) -> date:
    """Remittance Day + n days."""
    return DUE + timedelta(days=n)


def test_full_payment_on_remittance_day_settles() -> None:
    a = assess(D("1234.56"), [Paid(D("1234.56"), DUE)], DUE, AFTER, grace_days=GRACE)
    assert a.standing is Standing.SETTLED
    assert (a.required, a.paid, a.paid_on_time, a.outstanding) == (
        D("1234.56"),
        D("1234.56"),
        D("1234.56"),
        D(0),
    )
    assert a.irregularity is None and not a.unpaid_after_grace


def test_before_remittance_day_is_open_not_irregular() -> None:
    a = assess(D("500.00"), [Paid(D("100.00"), day(-3))], DUE, DUE, grace_days=GRACE)
    assert a.standing is Standing.OPEN
    assert a.outstanding == D("400.00") and a.irregularity is None


def test_short_payment_overdue_then_short_irregularity_and_default_after_grace() -> None:
    pays = [Paid(D("900.00"), day(-1))]
    at_check = assess(D("1000.00"), pays, DUE, AFTER, grace_days=GRACE)
    # Bank statements of Remittance Day may still arrive: overdue, not yet irregular.
    assert at_check.standing is Standing.OVERDUE
    assert at_check.outstanding == D("100.00")
    assert at_check.irregularity is None and not at_check.unpaid_after_grace
    at_grace = assess(D("1000.00"), pays, DUE, PAST_GRACE, grace_days=GRACE)
    assert at_grace.irregularity == Irregularity(IrregularityKind.SHORT, DUE)
    assert at_grace.unpaid_after_grace  # the remainder is unpaid: non-payment
    # The last day of grace is not past it.
    assert not assess(D("1000.00"), pays, DUE, day(GRACE), grace_days=GRACE).unpaid_after_grace


def test_late_payment_is_late_irregularity_dated_by_value_date() -> None:
    a = assess(D("1000.00"), [Paid(D("1000.00"), day(2))], DUE, day(3), grace_days=GRACE)
    assert a.standing is Standing.SETTLED
    assert a.paid_on_time == D(0)
    assert a.irregularity == Irregularity(IrregularityKind.LATE, day(2))
    assert not a.unpaid_after_grace


def test_part_on_time_rest_late_is_late() -> None:
    pays = [Paid(D("600.00"), DUE), Paid(D("400.00"), day(1))]
    a = assess(D("1000.00"), pays, DUE, day(2), grace_days=GRACE)
    assert a.standing is Standing.SETTLED
    assert (a.paid_on_time, a.paid) == (D("600.00"), D("1000.00"))
    assert a.irregularity == Irregularity(IrregularityKind.LATE, day(1))


def test_late_surplus_after_full_on_time_payment_is_not_irregular() -> None:
    pays = [Paid(D("1000.00"), DUE), Paid(D("50.00"), day(4))]
    a = assess(D("1000.00"), pays, DUE, PAST_GRACE, grace_days=GRACE)
    assert a.standing is Standing.SETTLED and a.irregularity is None
    assert a.surplus == D("50.00")


def test_withholding_open_dispute_reduces_what_is_required() -> None:
    # Expected 1000.00, 150.00 disputed and open: 850.00 on time settles.
    withheld = withholding(D("1000.00"), D("150.00"), allowed=True)
    assert withheld == D("150.00")
    a = assess(
        D("1000.00"), [Paid(D("850.00"), DUE)], DUE, PAST_GRACE, withheld=withheld, grace_days=5
    )
    assert a.standing is Standing.SETTLED
    assert (a.required, a.outstanding, a.irregularity) == (D("850.00"), D(0), None)
    # Where the country does not allow it, the same payment is short.
    none = withholding(D("1000.00"), D("150.00"), allowed=False)
    b = assess(D("1000.00"), [Paid(D("850.00"), DUE)], DUE, PAST_GRACE, withheld=none, grace_days=5)
    assert b.irregularity == Irregularity(IrregularityKind.SHORT, DUE)
    assert b.outstanding == D("150.00")


def test_withholding_is_capped_at_the_expected_amount() -> None:
    assert withholding(D("100.00"), D("250.00"), allowed=True) == D("100.00")
    assert withholding(D("-40.00"), D("250.00"), allowed=True) == D(0)
    assert withholding(D("100.00"), D("-5.00"), allowed=True) == D(0)
    a = assess(D("100.00"), [], DUE, PAST_GRACE, withheld=D("100.00"), grace_days=GRACE)
    assert a.standing is Standing.NOTHING_DUE
    assert a.irregularity is None and not a.unpaid_after_grace


def test_credit_statement_expects_nothing_and_is_never_irregular() -> None:
    a = assess(D("-250.00"), [], DUE, PAST_GRACE, grace_days=GRACE)
    assert a.standing is Standing.CREDIT
    assert (a.required, a.outstanding, a.irregularity, a.unpaid_after_grace) == (
        D(0),
        D(0),
        None,
        False,
    )


def test_nothing_paid_is_overdue_then_non_payment() -> None:
    a = assess(D("10.00"), [], DUE, AFTER, grace_days=GRACE)
    assert a.standing is Standing.OVERDUE and a.irregularity is None
    b = assess(D("10.00"), [], DUE, PAST_GRACE, grace_days=GRACE)
    assert b.irregularity is None and b.unpaid_after_grace
    assert default_reason([], PAST_GRACE, limit=3, window_days=365, unpaid_after_grace=True) == (
        "non-payment"
    )


def test_default_after_n_irregularities_within_the_window() -> None:
    as_of = date(2026, 12, 27)
    days = [date(2026, 3, 21), date(2026, 7, 22), date(2026, 12, 20)]
    assert default_reason(days, as_of, limit=3, window_days=365) == "irregularities"
    assert default_reason(days[1:], as_of, limit=3, window_days=365) is None
    # The oldest falls out of a 200-day window: two left.
    assert default_reason(days, as_of, limit=3, window_days=200) is None
    assert default_reason(days, as_of, limit=2, window_days=200) == "irregularities"
    # Irregularities dated after as_of do not count yet.
    assert default_reason(days, date(2026, 12, 19), limit=3, window_days=365) is None


def test_reference_full_form_and_variants() -> None:
    ref = Reference("23470068510", "DE", "20261101M")
    assert parse_reference(format_reference("DE", "20261101M", "23470068510")) == ref
    for text in (
        "cass de 20261101m 23470068510",
        "Invoice CASS/DE/20261101M/23470068510 thanks",
        "CASS-DE-20261101M-23470068510",
        "CASSDE20261101M23470068510",
    ):
        assert parse_reference(text) == ref, text
    # Twelve digits are not an agent code; "XCASS" is not the keyword.
    assert parse_reference("CASS DE 20261101M 234700685101") is None
    assert parse_reference("XCASS DE 20261101M 23470068510") is None


def test_reference_of_an_import_operation_and_a_recipient_code() -> None:
    ref = Reference("DE054000001", "DE-I", "20261101M")
    assert parse_reference(format_reference("DE-I", "20261101M", "DE054000001")) == ref
    for text in ("cass de-i 20261101m de054000001", "CASS/DE/I/20261101M/DE054000001",
                 "CASS-DE-I-20261101M-DE054000001", "CASSDEI20261101MDE054000001"):  # fmt: skip
        assert parse_reference(text) == ref, text
    # the export operation stays DE; "INV" after the country is not the import suffix
    assert parse_reference("CASS DE 20261101M DE054000001") == Reference(
        "DE054000001", "DE", "20261101M"
    )
    assert parse_reference("CASS DE INV 20261101M 23470068510") is None
    assert parse_reference("for DE054000001 nov", ["DE054000001"]) == Reference("DE054000001")
    assert parse_topup("CASS DE-I TOPUP DE054000001") == ("DE-I", "DE054000001")


def test_reference_fallback_to_a_known_agent_code() -> None:
    text = "payment agent 23470068510 november"
    assert parse_reference(text, ["23470068510"]) == Reference("23470068510")
    assert parse_reference(text, ["12345620022"]) is None
    assert parse_reference("", ["23470068510"]) is None


def test_pick_period_prefers_the_oldest_outstanding() -> None:
    cands = [
        ("20261201M", date(2027, 1, 22), D("10.00")),
        ("20261101M", date(2026, 12, 20), D(0)),
        ("20261001M", date(2026, 11, 20), D("5.00")),
    ]
    assert pick_period(cands) == "20261001M"
    settled = [(c, d, D(0)) for c, d, _ in cands]
    assert pick_period(settled) == "20261201M"  # all paid: the most recent
    assert pick_period([]) is None


@given(
    expected=st.decimals(min_value=0, max_value=10**6, places=2),
    amounts=st.lists(st.decimals(min_value="0.01", max_value=10**6, places=2), max_size=5),
    offsets=st.lists(st.integers(min_value=-10, max_value=10), min_size=5, max_size=5),
    as_of=st.integers(min_value=-5, max_value=15),
)
def test_invariants(
    expected: Decimal, amounts: list[Decimal], offsets: list[int], as_of: int
) -> None:
    pays = [Paid(a, day(o)) for a, o in zip(amounts, offsets, strict=False)]
    a = assess(expected, pays, DUE, day(as_of), grace_days=GRACE)
    assert a.outstanding - a.surplus == a.required - a.paid
    assert a.outstanding >= 0 and a.surplus >= 0
    assert a.paid_on_time <= a.paid
    if as_of <= 0:
        assert a.irregularity is None and not a.unpaid_after_grace
    if a.irregularity is not None:
        assert a.paid_on_time < a.required
    if a.paid_on_time >= a.required:
        assert a.irregularity is None
