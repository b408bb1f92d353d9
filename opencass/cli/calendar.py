"""``opencass calendar export``: the billing calendar as CSV, PDF or iCalendar.

Exit codes as for every command: 0 ok, 2 usage or configuration error (a configuration that
does not load, an unknown country, frequency or language, ``--kind bsp``, filters that match no
period, a CSV of more than one country, an output path that cannot be written), 3 internal
failure.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from opencass.cli.common import load, run
from opencass.clock import system_clock
from opencass.config.model import Config
from opencass.documents.calendar import (
    LANGUAGES,
    CalendarError,
    Selection,
    gateway_host,
    render_csv,
    render_ics,
    select,
)
from opencass.errors import EXIT_OK
from opencass.files import write_atomic

__all__ = ["cmd_calendar", "export"]


def _language(args: argparse.Namespace, selections: list[Selection]) -> str:
    if getattr(args, "language", None):
        return str(args.language)
    countries = {s.country.code: s.country for s in selections}
    if len(countries) == 1:
        lang = next(iter(countries.values())).language
        return lang if lang in LANGUAGES else "en"
    return "en"


def export(config: Config, args: argparse.Namespace, now: datetime) -> bytes:
    """The bytes of the export ``args`` ask for (CalendarError when it cannot be made)."""
    selections = select(
        config,
        countries=[c for arg in args.country for c in arg.split(",") if c]
        if args.country
        else None,
        kind=args.kind,
        frequency=args.frequency,
        currency=args.currency,
        year=args.year,
    )
    audience = args.audience
    if args.format == "csv":
        if len({s.country.code for s in selections}) > 1:
            raise CalendarError(
                "a CSV holds one country's calendar (the portal format has no country column):"
                " give --country"
            )
        return render_csv(selections, audience)
    lang = _language(args, selections)
    from opencass.documents.calendar_versions import versions_for_export

    versions = versions_for_export(config, now)
    if args.format == "pdf":
        from opencass.documents.calendar import latest_stamp, render_pdf_calendar

        created = latest_stamp(selections, versions, now)
        return render_pdf_calendar(selections, audience, lang, created)
    from opencass.documents.i18n import translator

    return render_ics(
        selections,
        audience,
        host=gateway_host(config.gateway.public_url),
        versions=versions,
        stamp=now,
        gettext=translator(lang, "calendar").gettext,
    )


def _write(data: bytes, output: Path | None, stdout: BinaryIO) -> None:
    if output is None or str(output) == "-":
        stdout.write(data)
        stdout.flush()
        return
    try:
        write_atomic(output, data)
    except OSError as e:
        raise CalendarError(f"cannot write {output}: {e.strerror or e}") from None


def cmd_calendar(
    args: argparse.Namespace,
    *,
    config: Config | None = None,
    now: datetime | None = None,
    out: BinaryIO | None = None,
) -> int:
    """``opencass calendar export``; ``config``, ``now`` and ``out`` are for tests and callers."""

    def body() -> int:
        data = export(config or load(args), args, now or system_clock())
        _write(data, args.output, out or sys.stdout.buffer)
        return EXIT_OK

    return run(body, args)
