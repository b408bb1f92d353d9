"""The configuration commands of ``opencass``: ``check-config`` and ``demo init``.

Each takes the parsed ``argparse.Namespace`` and returns the exit code of the CLI contract
(0 success, 2 usage or configuration error); ``opencass.cli`` wires them in.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from opencass.config.demo import DEFAULT_SFTP_PORT, DemoError, DemoInfo, demo_password, init_demo
from opencass.config.loader import load_config
from opencass.config.model import CompanyKind, Config
from opencass.config.reader import ConfigError
from opencass.errors import EXIT_CONFIG, EXIT_OK


def _plural(n: int, word: str, words: str = "") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


def summary(config: Config) -> dict[str, Any]:
    """What a configuration holds, as plain data (the ``check-config --format json`` shape)."""
    kinds = Counter(c.kind.value for c in config.companies.values())
    return {
        "valid": True,
        "directory": str(config.directory),
        "countries": sorted(config.countries),
        "companies": {k.value: kinds.get(k.value, 0) for k in CompanyKind},
        "users": len(config.users),
        "periods": {
            country: {"count": len(ps), "first": ps[0].code, "last": ps[-1].code}
            for country, ps in sorted(config.calendars.items())
        },
    }


def summary_text(config: Config) -> str:
    """A one-paragraph description of a valid configuration."""
    s = summary(config)
    kinds = ", ".join(_plural(n, k) for k, n in s["companies"].items() if n)
    calendars = "; ".join(
        f"{c} {_plural(p['count'], 'period')} ({p['first']} to {p['last']})"
        for c, p in s["periods"].items()
    )
    missing = sorted(set(s["countries"]) - set(s["periods"]))
    if missing:
        calendars += ("; " if calendars else "") + f"no calendar for {', '.join(missing)}"
    countries = _plural(len(s["countries"]), "country", "countries")
    companies = _plural(len(config.companies), "company", "companies")
    return (
        f"Configuration {s['directory']} is valid: {countries} ({', '.join(s['countries'])}); "
        f"{companies}{f' ({kinds})' if kinds else ''}; {_plural(s['users'], 'user')}; "
        f"calendars: {calendars or 'none'}."
    )


def cmd_check_config(args: argparse.Namespace) -> int:
    """``opencass check-config``: load the configuration; print a summary or every problem."""
    directory = Path(args.config)
    as_json = getattr(args, "format", "text") == "json"
    try:
        config = load_config(directory)
    except ConfigError as e:
        if as_json:
            problems = [{"file": p.file, "key": p.key, "reason": p.reason} for p in e.problems]
            doc = {"valid": False, "directory": str(directory), "problems": problems}
            print(json.dumps(doc, indent=2))
        else:
            count = _plural(len(e.problems), "problem")
            print(f"opencass: configuration {directory}: {count}", file=sys.stderr)
            for problem in e.problems:
                print(problem, file=sys.stderr)
        return EXIT_CONFIG
    print(json.dumps(summary(config), indent=2) if as_json else summary_text(config))
    return EXIT_OK


def _report_demo(info: DemoInfo) -> None:
    where = shlex.quote(str(info.directory))
    if info.created:
        print(f"Wrote a demo configuration to {info.directory}:")
        for path in sorted(p for p in info.directory.rglob("*") if p.is_file()):
            print(f"  {path.relative_to(info.directory)}")
    else:
        print(f"{info.directory} already holds a demo configuration; left it unchanged.")
    print(f"\nCheck it:  opencass check-config --config {where}")
    print(f"Run it:    opencass serve --config {where}")
    print(f"\nThen log in over SFTP (port {info.sftp_port}) as one of the demo users:")
    for user in info.keys:
        print(f"  {info.sftp_command(user)}")
    if info.portal_url:
        print(f"\nThe participant portal: {info.portal_url}")
        print("Sign in as a demo user with its password, then the code an authenticator app")
        print("shows for its TOTP secret (or: .venv/bin/python -m opencass.portal.code SECRET):")
        for user, secret in info.totp.items():
            print(f"  {user:8} password {demo_password(user):14} TOTP secret {secret}")
    if info.push_port:
        print(
            "\nagent1 has its statements and hand-off files pushed to its own SFTP server"
            f" on port {info.push_port}; run it (make run does) with:"
        )
        print(f"  {info.push_server_command()}")


def cmd_demo_init(args: argparse.Namespace, today: date) -> int:
    """``opencass demo init DIR``: write the demo configuration (its calendars around ``today``)
    and say how to log in."""
    port = getattr(args, "sftp_port", None) or DEFAULT_SFTP_PORT
    try:
        push = port + 1 if port < 65535 and not getattr(args, "no_push", False) else None
        info = init_demo(
            Path(args.dir), today=today, sftp_port=port, push_port=push,
            imports=bool(getattr(args, "with_import", False)),
            portal_port=getattr(args, "portal_port", 0) or None,
        )  # fmt: skip
    except DemoError as e:
        print(f"opencass: {e}", file=sys.stderr)
        return EXIT_CONFIG
    _report_demo(info)
    return EXIT_OK
