"""``opencass risk report|review|security|check``: agents' risk status, holding capacity,
exposure, security and history; the operator's financial reviews and securities; the alerts due
now.

Exit codes: 0 ok, 2 usage or configuration error (an unknown country, a pdf without -o), 3
internal failure."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from contextlib import closing
from datetime import datetime
from pathlib import Path

from opencass.cli.common import load, run
from opencass.config.model import Config, local_today
from opencass.errors import EXIT_OK, ConfigurationError
from opencass.store.rows import utc_stamp

__all__ = ["cmd_risk"]

COLUMNS = ("country", "agent_code", "company", "status", "capacity", "exposure", "percent",
           "unpaid", "booked", "review", "irregularities", "default_since", "security")  # fmt: skip


def _risks(config: Config, country: str | None, now: datetime) -> list[dict[str, object]]:
    from opencass.billing.risk import assess_country
    from opencass.store.connect import connect_migrated

    with closing(connect_migrated(config.gateway.database)) as conn:
        codes = sorted(config.countries) if country is None else [country]
        return [r.as_dict() for code in codes for r in assess_country(conn, config, code, now)]


def _text(rows: list[dict[str, object]]) -> str:
    out = [f"{'country':<3} {'agent':<11} {'company':<10} st {'capacity':>12} {'exposure':>12}"
           f" {'%':>6}  security / history"]  # fmt: skip
    for r in rows:
        history = ", ".join(f"{h['period']} {h['total']}" for h in r["history"])  # type: ignore[attr-defined]
        out.append(f"{r['country']:<3} {r['agent_code']:<11} {r['company']:<10} {r['status']}"
                   f"  {r['capacity']:>12} {r['exposure']:>12} {r['percent'] or '-':>6}"
                   f"  {r['security'] or 'no security'}; {r['irregularities']} irregularities;"
                   f" review {r['review'] or 'none'}; history: {history or 'none'}")  # fmt: skip
    return "\n".join(out) + "\n"


def _pdf(rows: list[dict[str, object]], now: datetime) -> bytes:
    from opencass.documents.user_reports import table_pdf

    header = ("country", "agent", "company", "status", "capacity", "exposure", "%", "security")
    body = [[str(r["country"]), str(r["agent_code"]), str(r["company"]), str(r["status"]),
             str(r["capacity"]), str(r["exposure"]), str(r["percent"] or "-"),
             str(r["security"] or "-")] for r in rows]  # fmt: skip
    return table_pdf("Agents' risk report", header, body, now, (14, 26, 26, 14, 26, 26, 14, 60))


def _report(args: argparse.Namespace, config: Config, now: datetime) -> int:
    rows = _risks(config, args.country, now)
    if args.format == "pdf":
        if not args.output:
            raise ConfigurationError("--format pdf needs -o FILE")
        Path(args.output).write_bytes(_pdf(rows, now))
        return EXIT_OK
    if args.format == "json":
        text = json.dumps(rows, indent=2) + "\n"
    elif args.format == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        text = buf.getvalue()
    else:
        text = _text(rows)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _review(args: argparse.Namespace, config: Config, now: datetime) -> int:
    from opencass.store.connect import connect_migrated
    from opencass.store.risk import record_review
    from opencass.store.tx import transaction

    with closing(connect_migrated(config.gateway.database)) as conn, transaction(conn):
        today = local_today(config, args.country, now)
        record_review(conn, args.country, args.agent, args.result, today, args.note, utc_stamp(now))
    print(f"review of agent {args.agent} in {args.country}: {args.result}")
    return EXIT_OK


def _security(args: argparse.Namespace, config: Config, now: datetime) -> int:
    from datetime import date
    from decimal import Decimal, InvalidOperation

    from opencass.store.connect import connect_migrated
    from opencass.store.risk import record_security
    from opencass.store.tx import transaction

    try:
        amount = Decimal(args.amount or "0")
        expires = date.fromisoformat(args.expires) if args.expires else None
    except (InvalidOperation, ValueError) as e:
        raise ConfigurationError(f"--amount or --expires: {e}") from None
    if not amount.is_finite() or amount < 0:
        raise ConfigurationError(f"--amount {args.amount!r} is not a positive amount")
    currency = args.currency or config.countries[args.country].currency
    with closing(connect_migrated(config.gateway.database)) as conn, transaction(conn):
        held = (args.kind, str(amount.quantize(Decimal("0.01"))), currency, expires)
        record_security(conn, args.country, args.agent, held, utc_stamp(now))
    print(f"security of agent {args.agent} in {args.country}: {args.kind} {held[1]} {currency}")
    return EXIT_OK


def cmd_risk(args: argparse.Namespace, now: datetime) -> int:
    """``opencass risk report|review|check``."""

    def body() -> int:
        config = load(args)
        country = getattr(args, "country", None)
        if country is not None and country not in config.countries:
            raise ConfigurationError(f"unknown CASS country {country!r}")
        if args.risk_command == "report":
            return _report(args, config, now)
        if args.risk_command == "review":
            return _review(args, config, now)
        if args.risk_command == "security":
            return _security(args, config, now)
        from opencass.billing.risk import risk_check

        print(f"{risk_check(config, country, now)} alert events recorded")
        return EXIT_OK

    return run(body, args)
