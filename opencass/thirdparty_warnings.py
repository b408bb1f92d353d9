"""The third-party warnings opencass silences, each with its reason: the one place they are named.

opencass's own warnings are never silenced (the tests turn every warning into an error). A
warning raised by a library we depend on, about that library's own use of another library, is
nothing a user of opencass can act on: it is named here, with the reason, and silenced for
every process (the CLI, the daemon and its worker processes) and for the test suite, which
reads ``PYTEST_FILTERS``.  Review the list when the lock file is refreshed.
"""

from __future__ import annotations

import re
import sys
import warnings
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Silenced:
    """One third-party warning: what it says, its category, the module it is raised in, why."""

    message: str  # a regular expression matched at the start of the warning's text
    category: str  # dotted path of the warning class
    module: str  # a regular expression matched against the module that triggers it
    reason: str
    trigger: str  # Python code that raises it with the locked release (the tests run it)


SILENCED: tuple[Silenced, ...] = (
    Silenced(
        message="DSA is deprecated",
        category="cryptography.utils.CryptographyDeprecationWarning",
        module=r"asyncssh(\.|$)",
        reason=(
            "asyncssh (2.24) still looks up DSA classes at import, which cryptography 47+ "
            "deprecates; opencass never offers or accepts DSA keys (ssh-dss is not among the "
            "SFTP endpoint's algorithms), so there is nothing for a user to change"
        ),
        trigger="import asyncssh",
    ),
    Silenced(
        message="ConjunctiveGraph is deprecated",
        category="DeprecationWarning",
        module=r"rdflib(\.|$)",
        reason=(
            "rdflib 7's own JSON-LD parser still builds a ConjunctiveGraph; opencass never uses "
            "that class (it reads JSON-LD into a plain Graph)"
        ),
        trigger=(
            "from rdflib import Graph; "
            'Graph().parse(data=\'{"@id": "urn:a", "urn:p": "x"}\', format=\'json-ld\')'
        ),
    ),
    Silenced(
        message="Dataset.default_context is deprecated",
        category="DeprecationWarning",
        module=r"rdflib(\.|$)",
        reason=(
            "rdflib 7's own N-Quads parser still uses Dataset.default_context; opencass never "
            "does (the tests read a JSON-LD processor's N-Quads into a plain Graph)"
        ),
        trigger=(
            "from rdflib import Graph; "
            "Graph().parse(data='<urn:a> <urn:p> \"x\" .', format='nquads')"
        ),
    ),
)


def _category(dotted: str, *, import_it: bool = True) -> type[Warning]:
    """The warning class named ``dotted``; without ``import_it``, ``Warning`` for a class of
    a library not imported yet (its message and module still name the warning exactly)."""
    module, _, name = dotted.rpartition(".")
    if not module:  # a built-in category
        found = getattr(__import__("builtins"), name)
        assert isinstance(found, type) and issubclass(found, Warning)
        return found
    if not import_it and module not in sys.modules:
        return Warning
    try:
        imported = __import__(module, fromlist=[name])
    except ImportError:  # the library is not installed: nothing of it to silence
        return _Absent
    found = getattr(imported, name)
    assert isinstance(found, type) and issubclass(found, Warning)
    return found


class _Absent(Warning):
    """Stands for the category of a library that is not installed (matches nothing)."""


def install() -> None:
    """Silence the named third-party warnings in this process (idempotent).  A library is
    not imported for its warning class (a command's start-up would pay for it)."""
    for s in SILENCED:
        category = _category(s.category, import_it=False)
        warnings.filterwarnings("ignore", message=s.message, category=category, module=s.module)


def pytest_filters() -> list[str]:
    """The same list in pytest's ``filterwarnings`` syntax (action:message:category:module)."""
    return [f"ignore:{re.escape(s.message)}:{s.category}:{s.module}" for s in SILENCED]
