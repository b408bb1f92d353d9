"""Remittance discipline: what an agent owes for a period, what it paid, and what that makes it.

Theory of operation (the rules)
-------------------------------
The **expected** amount of an agent for a period is its final statement total, fixed when the
final billing is issued.  A positive amount is owed by Remittance Day (the value date counts);
zero or a negative amount (a credit) expects no payment: a credit is carried for the operator
to refund or set off, and never becomes an irregularity.

**Withholding**: where the country allows it, the agent may keep back what it disputes in open
disputes of the period; ``withholding`` caps that at the expected amount.  The amount
**required** is expected − withheld, never below zero.

A period is judged as of a day (``as_of``, local to the country); Remittance Day is over when
``as_of > due``.  Payments are summed in full, and separately those with a value date on or
before Remittance Day (**on time**).

- Until Remittance Day is over nothing is irregular.
- Afterwards, when the on-time payments cover what is required, the period is settled.
- Otherwise it is **overdue** while anything is still owed, and at most one **irregularity**
  is charged for the period: ``late`` as soon as a payment with a value date after Remittance
  Day is recorded (dated by the first such value date), else ``short`` when the grace period
  is over and something, but not enough, was paid (dated Remittance Day).  Bank statements of
  Remittance Day arrive the next morning, so nothing that depends on what has *not* arrived is
  charged before the grace period ends; a late value date is a fact the moment it is known.
  A period with no payment at all is overdue, not irregular; it becomes late when paid within
  the grace period, and a default when not.  The store keeps the first irregularity charged
  for a period, so one period counts once.

**Default** (``default_reason``): ``irregularity_limit`` irregularities dated within the last
``irregularity_window_days`` days, or an amount still owed after Remittance Day +
``grace_days`` (non-payment, of the whole amount or of a short payment's remainder).

Pure: no clock, no I/O, no configuration objects; amounts are ``Decimal``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from opencass.model import IMPORT_SUFFIX

__all__ = [
    "Assessment",
    "Irregularity",
    "IrregularityKind",
    "Paid",
    "Reference",
    "Standing",
    "assess",
    "default_reason",
    "format_reference",
    "parse_reference",
    "pick_period",
    "withholding",
]

ZERO = Decimal(0)


class Standing(enum.StrEnum):
    """Where one agent's remittance for one period stands."""

    CREDIT = "credit"  # a credit statement: nothing to pay, the agent is owed
    NOTHING_DUE = "nothing due"  # zero expected, or all of it withheld
    OPEN = "open"  # Remittance Day not over, something still owed
    SETTLED = "settled"  # everything required is paid
    OVERDUE = "overdue"  # Remittance Day over, something still owed


class IrregularityKind(enum.StrEnum):
    """The two irregularities a period can earn."""

    SHORT = "short"
    LATE = "late"


@dataclass(frozen=True, slots=True)
class Irregularity:
    """An irregularity charged for one period, dated for the default window."""

    kind: IrregularityKind
    on_day: date


@dataclass(frozen=True, slots=True)
class Paid:
    """A payment as remittance sees it."""

    amount: Decimal
    value_date: date


@dataclass(frozen=True, slots=True)
class Assessment:
    """One agent's remittance for one period, as of a day."""

    expected: Decimal
    withheld: Decimal
    required: Decimal  # expected − withheld, never below zero
    paid: Decimal  # every payment
    paid_on_time: Decimal  # value date on or before Remittance Day
    outstanding: Decimal  # required − paid, never below zero
    surplus: Decimal  # paid − required, never below zero
    standing: Standing
    irregularity: Irregularity | None
    unpaid_after_grace: bool  # something still owed after the grace period: a default


def withholding(expected: Decimal, disputed: Decimal, allowed: bool) -> Decimal:
    """What an agent may keep back: its open disputed amount, at most the expected amount;
    nothing when the country does not allow it or nothing is owed."""
    if not allowed or expected <= 0 or disputed <= 0:
        return ZERO
    return min(disputed, expected)


def assess(
    expected: Decimal,
    payments: Iterable[Paid],
    due: date,
    as_of: date,
    *,
    withheld: Decimal = ZERO,
    grace_days: int = 0,
) -> Assessment:
    """Judge one agent's period (see the module docstring for the rules)."""
    paid_list = sorted(payments, key=lambda p: p.value_date)
    required = max(expected - withheld, ZERO)
    paid = sum((p.amount for p in paid_list), ZERO)
    on_time = sum((p.amount for p in paid_list if p.value_date <= due), ZERO)
    outstanding = max(required - paid, ZERO)
    surplus = max(paid - required, ZERO)
    over = as_of > due
    irregularity: Irregularity | None = None
    if expected < 0:
        standing = Standing.CREDIT
    elif required == 0:
        standing = Standing.NOTHING_DUE
    elif outstanding == 0:
        standing = Standing.SETTLED
    else:
        standing = Standing.OVERDUE if over else Standing.OPEN
    grace_over = as_of > due + timedelta(days=grace_days)
    if standing not in (Standing.CREDIT, Standing.NOTHING_DUE) and over and on_time < required:
        late = [p.value_date for p in paid_list if p.value_date > due and p.amount > 0]
        if late:
            irregularity = Irregularity(IrregularityKind.LATE, late[0])
        elif grace_over and paid > 0:
            irregularity = Irregularity(IrregularityKind.SHORT, due)
    unpaid = outstanding > 0 and grace_over
    return Assessment(
        expected=expected,
        withheld=withheld,
        required=required,
        paid=paid,
        paid_on_time=on_time,
        outstanding=outstanding,
        surplus=surplus,
        standing=standing,
        irregularity=irregularity,
        unpaid_after_grace=unpaid,
    )


def default_reason(
    irregular_days: Iterable[date],
    as_of: date,
    *,
    limit: int,
    window_days: int,
    unpaid_after_grace: bool = False,
) -> str | None:
    """Why an agent is in default as of ``as_of`` (``irregularities`` or ``non-payment``), or
    None.  ``irregular_days``: the days of the agent's irregularities in the country."""
    if unpaid_after_grace:
        return "non-payment"
    since = as_of - timedelta(days=window_days)
    if sum(1 for d in irregular_days if since < d <= as_of) >= limit:
        return "irregularities"
    return None


# --- the payment reference --------------------------------------------------------------------

_SEP = r"[\s/:._-]*"
# A CASS operation (DE, or DE-I for Germany's CASS Import) and an agent code (11 digits, or an
# import recipient code DE054000001).
_OPERATION = rf"(?P<country>[A-Z]{{2}})(?P<imp>{_SEP}I(?![A-Z]))?"
_CODE = r"(?P<agent>\d{11}|[A-Z]{2}\d{9})(?!\d)"
_REFERENCE = re.compile(
    rf"(?<![A-Z0-9])CASS{_SEP}{_OPERATION}{_SEP}(?P<period>\d{{8}}[A-Z]){_SEP}{_CODE}", re.I
)
_AGENT = re.compile(r"(?<![A-Z0-9])(\d{11}|[A-Z]{2}\d{9})(?!\d)", re.I)
_TOPUP = re.compile(rf"(?<![A-Z0-9])CASS{_SEP}{_OPERATION}{_SEP}TOP-?UP{_SEP}{_CODE}", re.I)
#: The end-to-end id opencass gives a direct debit: ``CASS-<country>-<period>-<agent>``.
_END_TO_END = re.compile(r"^CASS-([A-Z]{2}(?:-I)?)-(\d{8}[A-Z])-(\d{11}|[A-Z]{2}\d{9})$")


def format_topup(country: str, agent_code: str) -> str:
    """The reference of a top-up of a pre-funded account: ``CASS DE TOPUP 23470068510``."""
    return f"CASS {country} TOPUP {agent_code}"


def parse_topup(text: str) -> tuple[str, str] | None:
    """(country, agent code) of a top-up reference in a remittance text, or None."""
    m = _TOPUP.search(text)
    return (_operation(m), m["agent"].upper()) if m else None


def _operation(m: re.Match[str]) -> str:
    """``DE`` or ``DE-I`` (however the import suffix was separated) of a matched reference."""
    return m["country"].upper() + (IMPORT_SUFFIX if m["imp"] else "")


def parse_end_to_end(value: str) -> Reference | None:
    """The agent, country and period of one of opencass's direct debit end-to-end ids."""
    m = _END_TO_END.match(value.strip())
    return Reference(m.group(3), m.group(1), m.group(2)) if m else None


@dataclass(frozen=True, slots=True)
class Reference:
    """What a payment's remittance information names: always an agent code; the country and
    period when the full reference was given."""

    agent_code: str
    country: str | None = None
    period: str | None = None


def format_reference(country: str, period: str, agent_code: str) -> str:
    """The payment reference agents are asked to quote: ``CASS DE 20261101M 23470068510``."""
    return f"CASS {country} {period} {agent_code}"


def parse_reference(text: str, agent_codes: Sequence[str] = ()) -> Reference | None:
    """The reference in a remittance text: the full ``CASS <operation> <period> <agent>`` form
    (spaces, slashes, colons, dots, dashes or nothing between the parts; any case; the
    operation ``DE`` or ``DE-I``, the agent 11 digits or an import recipient code), else the
    first agent code in the text that is one of ``agent_codes``; else None."""
    m = _REFERENCE.search(text)
    if m:
        return Reference(m["agent"].upper(), _operation(m), m["period"].upper())
    known = set(agent_codes)
    for found in _AGENT.finditer(text):
        if found.group(1).upper() in known:
            return Reference(found.group(1).upper())
    return None


def pick_period(candidates: Iterable[tuple[str, date, Decimal]]) -> str | None:
    """The period a payment naming only the agent goes to, from (period, Remittance Day,
    outstanding) of the agent's expected remittances: the oldest with something outstanding,
    else the most recent; None when there is none."""
    ordered = sorted(candidates, key=lambda c: (c[1], c[0]))
    for code, _due, outstanding in ordered:
        if outstanding > 0:
            return code
    return ordered[-1][0] if ordered else None
