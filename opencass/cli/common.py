"""What every command shares: loading the configuration and turning an error into its message
and exit code (the codes themselves are ``opencass.errors``'s)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from opencass.config.reader import ConfigError
from opencass.errors import EXIT_INTERNAL, OpencassError, exit_code

if TYPE_CHECKING:  # the model costs a command that reads no configuration (validate) ~30 ms
    from opencass.config.model import Config

__all__ = ["fail", "load", "run"]


def load(args: argparse.Namespace) -> Config:
    """The configuration the command's ``--config`` names (ConfigError when it does not load)."""
    from opencass.config.loader import load_config  # the loader is heavy: only when needed

    return load_config(Path(args.config))


def fail(
    error: BaseException, args: argparse.Namespace | None = None, err: TextIO | None = None
) -> int:
    """Say what went wrong on standard error; the exit code of ``error``."""
    err = err or sys.stderr
    if isinstance(error, ConfigError) and args is not None:
        print(f"opencass: configuration error in {args.config}:\n{error}", file=err)
    elif isinstance(error, OpencassError):
        print(f"opencass: {error}", file=err)
    else:
        print(f"opencass: internal error: {type(error).__name__}: {error}", file=err)
        return EXIT_INTERNAL
    return exit_code(error)


def run(command: Callable[[], int], args: argparse.Namespace | None = None) -> int:
    """Run a command's body; any error becomes its message and exit code (``fail``)."""
    try:
        return command()
    except Exception as e:
        return fail(e, args)
