"""``opencass period close|status``: close a billing period, or show where one stands.

``period close`` without ``--final`` is the preliminary close (statements only, dated now or
``--at``); with it, the final close (statements and hand-off files, dated at Billing
Availability, with the accepted disputes).  Either is recorded in the ``closes`` table as the
scheduler records its own; a stage completed before is refused (exit 2) unless ``--force``.
The close itself is ``opencass.cli.period_close``, imported when a close runs.

Exit codes as for every command: 0 ok, 2 usage or configuration error (unknown country or
period, configuration that does not load), 3 internal failure (conservation broken, data the
netting cannot use, an I/O error).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from typing import TextIO

from opencass.cli.common import fail, load
from opencass.clock import system_clock
from opencass.config.model import Config, Period, PeriodError, find_period, local_today
from opencass.errors import EXIT_OK

__all__ = ["cmd_period", "status_report"]


_MILESTONES = (
    ("Billing From", "billing_from"),
    ("Billing To", "billing_to"),
    ("Airline Input Upload Cut-Off", "upload_cutoff"),
    ("CASS reports Availability", "reports_available"),
    ("Agent Correction Cut-Off", "agent_correction_cutoff"),
    ("Airline Correction Response Cut-Off", "airline_response_cutoff"),
    ("Billing Availability", "billing_available"),
    ("Remittance Day", "remittance_day"),
    ("Settlement Day", "settlement_day"),
)


def _fmt(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M %Z").strip()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def status_report(config: Config, country: str, period: Period) -> str:
    """The period's milestones and what is booked for it."""
    from opencass.store.ledger import period_counts

    counts = period_counts(config.gateway.database, country, period.code)
    cur = config.countries[country].currency
    lines = [f"Period {period.code} of {country} ({cur})"]
    lines += [f"  {label + ':':38}{_fmt(getattr(period, f))}" for label, f in _MILESTONES]
    lines.append(f"  {'Booked records:':38}{counts.records}")
    lines.append(f"  {'Files:':38}{counts.files}")
    return "\n".join(lines) + "\n"


def cmd_period(
    args: argparse.Namespace,
    *,
    config: Config | None = None,
    now: datetime | None = None,
    out: TextIO | None = None,
) -> int:
    """``opencass period close|status``; ``config`` and ``now`` are for tests and callers."""
    stdout = out or sys.stdout
    now = now or system_clock()
    try:
        config = config or load(args)
        country = args.country
        if args.period_command == "status":
            code = getattr(args, "period", None)
            if code is None:
                if country not in config.countries:
                    raise PeriodError(f"unknown CASS country {country!r}")
                current = config.period_for(country, local_today(config, country, now))
                if current is None:
                    raise PeriodError(f"no period of {country} contains today")
                code = current.code
            _, period = find_period(config, country, code)
            stdout.write(status_report(config, country, period))
            return EXIT_OK
        _, period = find_period(config, country, args.period)
        from opencass.cli.period_close import close_command

        return close_command(args, config, period, stdout, now)
    except Exception as e:  # unknown country or period, another close running, ...
        return fail(e)
