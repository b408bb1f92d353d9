"""``opencass period close``: net a period now and write its documents (see
``opencass.cli.period``)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TextIO

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
from opencass.config.model import Config, Period
from opencass.errors import EXIT_INTERNAL, EXIT_OK
from opencass.settlement.close import CloseResult, format_amount
from opencass.settlement.netting import ConservationError, NettingError

__all__ = ["close_command", "close_report"]


def close_command(
    args: argparse.Namespace, config: Config, period: Period, stdout: TextIO, now: datetime
) -> int:
    """Close ``period`` as ``args`` say; the exit code (a failure of the netting is reported
    here, others are raised)."""
    try:
        reference = _reference(args, period, now)
        _close(args, config, args.country, period, reference, stdout, now)
        return EXIT_OK
    except ConservationError as e:
        print(f"opencass: conservation check failed, nothing written: {e}", file=sys.stderr)
        return EXIT_INTERNAL
    except NettingError as e:
        print(f"opencass: cannot net the period ({e.code}): {e}", file=sys.stderr)
        return EXIT_INTERNAL


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
    settings, by = config.gateway, "opencass period close"
    with close_lock(
        settings.database, settings.data_dir, country, period.code, stage, by=by, since=now
    ):
        return _close_claimed(args, config, country, period, reference, stdout, now, stage)


def _netted(
    config: Config, country: str, period: Period, reference: datetime, stage: str, out: TextIO
) -> CloseResult:
    """Net the period and print its totals (nothing written yet)."""
    result = run_close(config, country, period.code, reference, stage=stage, workers=2)
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
