"""``opencass period close|status``: close a billing period, or show where one stands.

``period close`` without ``--final`` is the preliminary close (statements only, dated now or
``--at``); with it, the final close (statements and hand-off files, dated at Billing
Availability, with the accepted disputes).  Either is recorded in the ``closes`` table as the
scheduler records its own; a stage completed before is refused (exit 2) unless ``--force``.

Exit codes as for every command: 0 ok, 2 usage or configuration error (unknown country or
period, configuration that does not load), 3 internal failure (conservation broken, data the
netting cannot use, an I/O error).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from typing import Any, TextIO

from opencass.billing.closelock import close_lock
from opencass.billing.closing import (
    FINAL,
    PRELIMINARY,
    CloseError,
    claim_close,
    close_events,
    finish_close,
    record_close_events,
    run_close,
    write_documents,
)
from opencass.billing.remittance import local_today
from opencass.cli.common import fail, load
from opencass.clock import system_clock
from opencass.config.model import Config, Period, find_period
from opencass.errors import EXIT_INTERNAL, EXIT_OK
from opencass.settlement.close import CloseResult, format_amount
from opencass.settlement.netting import ConservationError, NettingError
from opencass.store.ledger import period_counts

__all__ = ["add_period_parser", "close_report", "cmd_period", "status_report"]


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


def add_period_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``period close`` and ``period status`` to the ``opencass`` sub-parsers ``sub``."""
    p = sub.add_parser("period", parents=[common], help="billing periods: close, status")
    psub = p.add_subparsers(dest="period_command", required=True, parser_class=type(p))
    c = psub.add_parser("close", parents=[common], help="net a period and write its outputs")
    c.add_argument("--country", required=True, help="CASS country code, e.g. DE")
    c.add_argument("--period", required=True, help="period code, e.g. 20261101M")
    c.add_argument(
        "--final",
        action="store_true",
        help="the final close, dated at Billing Availability"
        " (without it: the preliminary close, statements only)",
    )
    c.add_argument(
        "--force", action="store_true", help="close again a stage that was completed before"
    )
    c.add_argument("--dry-run", action="store_true", help="print the totals, write nothing")
    c.add_argument(
        "--no-reports",
        dest="reports",
        action="store_false",
        help="final close without the PDF/Excel reports and invoices",
    )
    c.add_argument("--at", help="reference time (ISO 8601) instead of now; ignored with --final")
    s = psub.add_parser("status", parents=[common], help="a period's milestones and bookings")
    s.add_argument("--country", required=True)
    s.add_argument("--period", help="period code (default: the period containing today)")


def _fmt(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M %Z").strip()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def status_report(config: Config, country: str, period: Period) -> str:
    """The period's milestones and what is booked for it."""
    counts = period_counts(config.gateway.database, country, period.code)
    cur = config.countries[country].currency
    lines = [f"Period {period.code} of {country} ({cur})"]
    lines += [f"  {label + ':':38}{_fmt(getattr(period, f))}" for label, f in _MILESTONES]
    lines.append(f"  {'Booked records:':38}{counts.records}")
    lines.append(f"  {'Files:':38}{counts.files}")
    return "\n".join(lines) + "\n"


def close_report(result: CloseResult, country: str, period: str, reference: datetime) -> str:
    """The totals of a close: per agent, per airline and the conservation check."""
    s = result.settlement
    cur = s.currency
    m = s.summary
    lines = [
        f"Close of {country} {period} at {reference.isoformat()} ({cur})",
        f"  AWBs {m.awbs} (non-revenue {m.non_revenue_awbs}), corrections {m.corrections}",
        "  Agents (to remit):",
    ]
    lines += [f"    {a.agent_code}  {format_amount(a.total, cur):>16}" for a in s.agents]
    lines.append("  Airlines (to receive):")
    lines += [f"    {a.airline_prefix}  {format_amount(a.total, cur):>16}" for a in s.airlines]
    ok = "OK" if m.difference == 0 else "BROKEN"
    lines.append(
        f"  Conservation: agents {format_amount(m.agents_total, cur)} = airlines "
        f"{format_amount(m.airlines_total, cur)}, difference {format_amount(m.difference, cur)}"
        f" {ok}"
    )
    for r in result.unpaired:
        lines.append(f"  WARNING: {r.record_id} {r.awb} {r.reference} has no partner; not netted")
    for code in result.unassigned_agents:
        lines.append(f"  WARNING: agent {code} belongs to no agent company; no documents")
    for prefix in result.unassigned_airlines:
        lines.append(f"  WARNING: prefix {prefix} belongs to no airline company; no documents")
    return "\n".join(lines) + "\n"


def _reference(args: argparse.Namespace, period: Period, now: datetime) -> datetime:
    if getattr(args, "final", False):
        return period.billing_available
    at = getattr(args, "at", None)
    if at:
        try:
            parsed = datetime.fromisoformat(at)
        except ValueError:
            raise CloseError(f"--at {at!r} is not an ISO 8601 time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return now.replace(microsecond=0)


def _close(
    args: argparse.Namespace,
    config: Config,
    country: str,
    period: Period,
    reference: datetime,
    stdout: TextIO,
    now: datetime,
) -> CloseResult | None:
    """Run the close of the requested stage; None for a dry run (nothing written).

    Without a dry run the close is recorded in the store's ``closes`` table first (as the
    scheduler records its own), so that the scheduler does not run the same stage again and
    disputes accepted from now on go to the next period; a stage completed before is refused
    unless ``--force`` (then its documents are written again, under the same names when the
    reference time is the same)."""
    stage = FINAL if getattr(args, "final", False) else PRELIMINARY
    if getattr(args, "dry_run", False):
        _netted(config, country, period, reference, stage, stdout)
        stdout.write("  Dry run: nothing written.\n")
        return None
    # one run at a time (CloseBusy names the other one); released however this process ends
    with close_lock(
        config.gateway.data_dir, country, period.code, stage, by="opencass period close", since=now
    ):
        return _close_claimed(args, config, country, period, reference, stdout, now, stage)


def _netted(
    config: Config, country: str, period: Period, reference: datetime, stage: str, out: TextIO
) -> CloseResult:
    """Net the period and print its totals (nothing written yet)."""
    result = run_close(config, country, period.code, reference, stage=stage)
    report = close_report(result, country, period.code, reference)
    out.write(f"{stage.capitalize()} {report[0].lower()}{report[1:]}")
    return result


def _close_claimed(
    args: argparse.Namespace,
    config: Config,
    country: str,
    period: Period,
    reference: datetime,
    stdout: TextIO,
    now: datetime,
    stage: str,
) -> CloseResult:
    store = config.gateway.database.exists()
    created = store and claim_close(
        config,
        country,
        period.code,
        stage,
        reference,
        force=getattr(args, "force", False),
        now=now,
    )
    try:
        result = _netted(config, country, period, reference, stage, stdout)
        if stage == FINAL:  # with reports, invoices and expected remittances
            from opencass.billing.final import final_close

            reports = getattr(args, "reports", True)
            outcome = final_close(
                config, country, period.code, reference, now, result=result, reports=reports
            )
            written, events = outcome.paths, outcome.events
        else:
            written = write_documents(config, result, workers=2)
            events = close_events(config, result, country, period.code, stage, reference)
    except BaseException:
        if created:
            finish_close(config, country, period.code, stage, None, now)
        raise
    for path in written:
        stdout.write(f"  wrote {path}\n")
    if store:
        record_close_events(config, events, now)
        finish_close(config, country, period.code, stage, len(written), now)
    return result


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
                    raise CloseError(f"unknown CASS country {country!r}")
                current = config.period_for(country, local_today(config, country, now))
                if current is None:
                    raise CloseError(f"no period of {country} contains today")
                code = current.code
            _, period = find_period(config, country, code)
            stdout.write(status_report(config, country, period))
            return EXIT_OK
        _, period = find_period(config, country, args.period)
        reference = _reference(args, period, now)
        _close(args, config, country, period, reference, stdout, now)
        return EXIT_OK
    except ConservationError as e:
        print(f"opencass: conservation check failed, nothing written: {e}", file=sys.stderr)
        return EXIT_INTERNAL
    except NettingError as e:
        print(f"opencass: cannot net the period ({e.code}): {e}", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as e:  # unknown country or period, another close running, ...
        return fail(e)
