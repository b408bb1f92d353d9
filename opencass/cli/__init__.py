"""The ``opencass`` command.

Exit codes (the contract in ARCHITECTURE.md): 0 success, 1 the input was judged bad,
2 usage or configuration error, 3 internal failure.  Each command's module is imported when the
command runs (``opencass --help`` imports the parsers only).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable, Sequence

from opencass.cli.parsers import build_parser
from opencass.clock import Clock, clock_from_environment
from opencass.errors import EXIT_CONFIG, EXIT_OK

__all__ = ["main"]


def _command(args: argparse.Namespace, clock: Clock) -> Callable[[argparse.Namespace], int]:
    """The function of the command ``args`` name (its module imported now)."""
    now = clock()
    name = args.command
    if name == "demo":
        from opencass.cli.files import cmd_demo_sample
        from opencass.cli.push import cmd_push_server
        from opencass.config.commands import cmd_demo_init

        if args.demo_command == "push-server":
            return cmd_push_server
        if args.demo_command == "init":
            return functools.partial(cmd_demo_init, today=now.date())
        return functools.partial(cmd_demo_sample, today=now.date())
    if name in ("validate", "convert", "receipt", "serve"):
        from opencass.cli import files

        found: dict[str, Callable[..., int]] = {
            "validate": files.cmd_validate,
            "convert": files.cmd_convert,
            "receipt": files.cmd_receipt_verify,
            "serve": functools.partial(files.cmd_serve, clock=clock),
        }
        return found[name]
    if name == "check-config":
        from opencass.config.commands import cmd_check_config

        return cmd_check_config
    if name == "dispute":
        from opencass.cli.dispute import cmd_dispute

        return cmd_dispute
    module = __import__(f"opencass.cli.{name}", fromlist=[f"cmd_{name}"])
    return functools.partial(getattr(module, f"cmd_{name}"), now=now)


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
        return _command(args, clock)(args)
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:
        from opencass.cli.common import fail

        return fail(e)
