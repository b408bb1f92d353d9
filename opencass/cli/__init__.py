"""The ``opencass`` command.

Exit codes (the contract in ARCHITECTURE.md): 0 success, 1 the input was judged bad,
2 usage or configuration error, 3 internal failure.  Each command's module is imported when the
command runs (``COMMANDS``; ``opencass --help`` imports the parsers only).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from opencass.cli.parsers import build_parser
from opencass.clock import Clock, clock_from_environment
from opencass.errors import EXIT_CONFIG, EXIT_OK

__all__ = ["COMMANDS", "command", "main"]


#: every command (``demo`` ones with their sub-command): the module and function that run it,
#: imported when the command runs, and what the function is given besides its arguments
COMMANDS: dict[str, tuple[str, str, str | None]] = {
    "validate": ("opencass.cli.files", "cmd_validate", None),
    "convert": ("opencass.cli.files", "cmd_convert", None),
    "receipt": ("opencass.cli.files", "cmd_receipt_verify", None),
    "document": ("opencass.cli.files", "cmd_document_verify", None),
    "serve": ("opencass.cli.files", "cmd_serve", "clock"),
    "check-config": ("opencass.cli.users", "cmd_check_config", None),
    "users": ("opencass.cli.users", "cmd_users", "now"),
    "countries": ("opencass.cli.users", "cmd_countries", "now"),
    "agent": ("opencass.cli.agent", "cmd_agent", "now"),
    "risk": ("opencass.cli.risk", "cmd_risk", "now"),
    "period": ("opencass.cli.period", "cmd_period", "now"),
    "dispute": ("opencass.cli.dispute", "cmd_dispute", None),
    "calendar": ("opencass.cli.calendar", "cmd_calendar", "now"),
    "payment": ("opencass.cli.payment", "cmd_payment", "now"),
    "outbox": ("opencass.cli.outbox", "cmd_outbox", "now"),
    "store": ("opencass.cli.store", "cmd_store", None),
    "cluster": ("opencass.cli.cluster", "cmd_cluster", None),
    "demo init": ("opencass.config.commands", "cmd_demo_init", "today"),
    "demo sample": ("opencass.cli.files", "cmd_demo_sample", "today"),
    "demo push-server": ("opencass.cli.push", "cmd_push_server", None),
}


def command(name: str, clock: Clock) -> Callable[[argparse.Namespace], int]:
    """The function of command ``name`` (a key of ``COMMANDS``), its module imported now."""
    module, function, given = COMMANDS[name]
    run: Callable[..., int] = getattr(importlib.import_module(module), function)
    if given == "clock":
        return functools.partial(run, clock=clock)
    if given == "now":
        return functools.partial(run, now=clock())
    if given == "today":
        return functools.partial(run, today=clock().date())
    return run


def main(argv: Sequence[str] | None = None, clock: Clock | None = None) -> int:
    """Entry point of the ``opencass`` console script; ``clock`` tells every command the time
    (by default the wall clock, or the start given in ``OPENCASS_CLOCK_START``)."""
    args = build_parser().parse_args(argv)
    try:
        clock = clock or clock_from_environment(os.environ)
    except ValueError as e:
        print(f"opencass: {e}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        name = args.command
        if name == "demo":
            name = f"demo {args.demo_command}"
        return command(name, clock)(args)
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:
        from opencass.cli.common import fail

        return fail(e)
