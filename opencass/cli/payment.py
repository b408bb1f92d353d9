"""``opencass payment record|status``: record an agent's payment by hand, or show where
remittances stand.

``record`` writes to the store synchronously (SQLite in WAL mode, so it works while the gateway
runs) in one transaction: the payment, then the agent's period reconciled as of today in the
country's time zone, with its events (``payment.received``, and a late payment's irregularity
or a default).  Exit codes: 0 ok, 1 input judged bad (an agent unknown in the country, no
expected remittance to book a payment without ``--period`` to), 2 usage or configuration error
(unknown country or period, an amount or date that does not parse), 3 internal failure.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from opencass.billing.remittance import HandPayment, period_status, record_payment
from opencass.cli.common import load, run
from opencass.clock import system_clock
from opencass.config.model import Config, find_period, local_today
from opencass.errors import (
    EXIT_OK,
    ConfigurationError,
)
from opencass.model import payable
from opencass.store.connect import connect_migrated
from opencass.store.remittance import (
    open_default,
    payments_unmatched,
    payments_waiting,
)

__all__ = ["cmd_payment"]


class _UsageError(ConfigurationError):
    """Bad arguments or an unknown country or period (exit 2)."""

    code = "USAGE"


def _connect(config: Config) -> Any:
    return connect_migrated(config.gateway.database)


def _check_country(config: Config, country: str) -> None:
    if country not in config.countries:
        raise _UsageError(f"unknown CASS country {country!r}")


def _check_period(config: Config, country: str, code: str | None) -> None:
    if code is not None and code not in {p.code for p in config.calendars.get(country, ())}:
        raise _UsageError(f"no period {code!r} in the calendar of {country}")


def _amount(text: str, currency: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _UsageError(f"--amount {text!r} is not a number") from None
    if not payable(value, currency):
        raise _UsageError(
            f"--amount must be a positive amount with at most the decimals {currency} allows,"
            f" found {text!r}"
        )
    return value


def _record(args: argparse.Namespace, config: Config, now: datetime, out: TextIO) -> int:
    country = args.country
    _check_country(config, country)
    _check_period(config, country, args.period)
    currency = config.countries[country].currency
    amount = _amount(args.amount, currency)
    try:
        value_date = date.fromisoformat(args.date)
    except ValueError:
        raise _UsageError(f"--date {args.date!r} is not a date (YYYY-MM-DD)") from None
    today = local_today(config, country, now)
    hand = HandPayment(country, args.agent, amount, value_date, args.period, args.reference,
                       "opencass payment record")  # fmt: skip
    payment_id, period = record_payment(config, hand, now)
    agent = args.agent
    conn = _connect(config)
    try:
        out.write(
            f"Recorded payment {payment_id}: {amount} {currency} from agent {agent} for"
            f" {country} {period}, value {value_date}\n"
        )
        out.write(_status_text(conn, config, country, today, period, agent))
    finally:
        conn.close()
    return EXIT_OK


def _status_text(
    conn: Any,
    config: Config,
    country: str,
    today: date,
    period: str | None,
    agent: str | None,
) -> str:
    rows = period_status(conn, config, country, today, period, agent)
    cur = config.countries[country].currency
    head = (
        f"{'period':10} {'agent':11} {'expected':>12} {'withheld':>10} {'paid':>12}"
        f" {'on time':>12} {'outstanding':>12}  {'standing':12} {'irregularity':18} default"
    )
    lines = [f"Remittances of {country} ({cur}) as of {today}", head]
    for r in rows:
        a = r["assessment"]
        d = r["default"]
        lines.append(
            f"{r['period']:10} {r['agent_code']:11} {a.expected:>12} {a.withheld:>10}"
            f" {a.paid:>12} {a.paid_on_time:>12} {a.outstanding:>12}  {a.standing!s:12}"
            f" {r['irregularity'] or '-':18} "
            + (f"since {d['since']} ({d['reason']})" if d else "-")
        )
    if not rows:
        lines.append("  (no expected remittance)")
    if agent is not None and not rows:
        d = open_default(conn, country, agent)
        if d:
            lines.append(f"agent {agent} in default since {d['since']} ({d['reason']})")
    waiting = payments_waiting(conn, country, period, agent)
    if waiting:
        lines.append("Payments no final billing expects yet (kept for their period):")
        for w in waiting:
            lines.append(
                f"  #{w[0]} {w[3]} {w[4]} value {w[5]} from agent {w[2]} for {w[1] or '?'}"
            )
    if agent is None:
        unmatched = payments_unmatched(conn, country)
        if unmatched:
            lines.append("Unmatched payments (record them with `opencass payment record`):")
            for u in unmatched:
                lines.append(
                    f"  #{u[0]} {u[1]} {u[2]} value {u[3]} from {u[4] or '?'} ({u[6]}):"
                    f" {u[5][:80]!r}"
                )
    return "\n".join(lines) + "\n"


def _status(args: argparse.Namespace, config: Config, now: datetime, out: TextIO) -> int:
    country = args.country
    _check_country(config, country)
    _check_period(config, country, args.period)
    conn = _connect(config)
    try:
        today = local_today(config, country, now)
        out.write(_status_text(conn, config, country, today, args.period, args.agent))
    finally:
        conn.close()
    return EXIT_OK


def _files(args: argparse.Namespace, config: Config, now: datetime, out: TextIO) -> int:
    """``payment files``: the period's payment files written again from the store (the same
    bytes as the first time); made now when the period is due one and none was made yet."""
    from opencass.billing.payfiles import collect_direct_debits, pay_airlines, payment_files

    _check_country(config, args.country)
    _check_period(config, args.country, args.period)
    paths = payment_files(config, args.country, args.period)
    if not paths:
        _, period = find_period(config, args.country, args.period)
        paths = collect_direct_debits(config, args.country, args.period, now)
        if now.date() >= period.settlement_day:
            paths += pay_airlines(config, args.country, args.period, now)
    for path in paths:
        out.write(f"{path}\n")
    if not paths:
        out.write(f"no payment files for {args.country} {args.period}\n")
    return EXIT_OK


def cmd_payment(
    args: argparse.Namespace,
    *,
    config: Config | None = None,
    now: datetime | None = None,
    out: TextIO | None = None,
) -> int:
    """``opencass payment record|status|files``; ``config`` and ``now`` are for tests."""
    stdout = out or sys.stdout

    def body() -> int:
        when = now or system_clock()
        command = {"record": _record, "status": _status, "files": _files}[args.payment_command]
        return command(args, config or load(args), when, stdout)

    return run(body, args)
