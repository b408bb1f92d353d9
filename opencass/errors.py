"""The one root of opencass's errors, split by who is at fault, and the exit code of each.

Every error a command or the daemon reports on purpose derives from ``OpencassError`` through
one of four branches:

========================  =========================================================  =====
branch                    at fault                                                   exit
========================  =========================================================  =====
``InputError``            the file, message or argument a user gave                  1
``ConfigurationError``    the operator: configuration, usage, unknown country/period 2
``PeerError``             something outside opencass: a remote server, a bank file   3
                          that cannot be fetched, another process holding a lock
``InternalError``         opencass itself (a broken invariant, a failed write)       3
========================  =========================================================  =====

Each error carries a stable ``code`` (upper-case, like finding codes) that logs and JSON output
show; ``exit_code`` maps any exception to the process exit code in one place (anything not an
``OpencassError`` is internal).
"""

from __future__ import annotations

import enum

__all__ = [
    "EXIT_CONFIG",
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "ConfigurationError",
    "Fault",
    "InputError",
    "InternalError",
    "OpencassError",
    "PeerError",
    "exit_code",
]

EXIT_OK = 0
EXIT_INPUT = 1  # the input was judged bad
EXIT_CONFIG = 2  # usage or configuration error
EXIT_INTERNAL = 3  # could not start, a peer failed, or an internal failure


class Fault(enum.StrEnum):
    """Who is at fault."""

    INPUT = "input"
    CONFIGURATION = "configuration"
    PEER = "peer"
    INTERNAL = "internal"


_EXIT = {
    Fault.INPUT: EXIT_INPUT,
    Fault.CONFIGURATION: EXIT_CONFIG,
    Fault.PEER: EXIT_INTERNAL,
    Fault.INTERNAL: EXIT_INTERNAL,
}


class OpencassError(Exception):
    """An error opencass reports on purpose: a message for people and a stable ``code``."""

    fault: Fault = Fault.INTERNAL
    code: str = "INTERNAL_ERROR"

    def __init__(self, *args: object, code: str | None = None) -> None:
        super().__init__(*args)
        if code is not None:
            self.code = code

    @property
    def exit_code(self) -> int:
        """The process exit code of this error."""
        return _EXIT[self.fault]


class InputError(OpencassError):
    """The input a user gave is wrong (exit 1)."""

    fault = Fault.INPUT
    code = "INPUT_INVALID"


class ConfigurationError(OpencassError):
    """The configuration or the command's usage is wrong (exit 2)."""

    fault = Fault.CONFIGURATION
    code = "CONFIG_INVALID"


class PeerError(OpencassError):
    """Something outside opencass failed or refused (exit 3)."""

    fault = Fault.PEER
    code = "PEER_FAILED"


class InternalError(OpencassError):
    """opencass itself failed (exit 3)."""

    fault = Fault.INTERNAL
    code = "INTERNAL_ERROR"


def exit_code(error: BaseException) -> int:
    """The exit code for ``error``: its branch's, or internal for anything unexpected."""
    if isinstance(error, OpencassError):
        return error.exit_code
    return EXIT_INTERNAL
