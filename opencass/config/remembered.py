"""Checks of third-party identifiers remembered between processes: what every command pays once.

Loading the configuration checks IBANs and BICs (``schwifty``), VAT ids (``python-stdnum``) and
SSH keys (``cryptography``).  Importing those libraries and their registries costs more than
the rest of a short command (``opencass period status`` would take ~80 ms longer), and the
answers never change for the same value and the same library.  So a check that *passed* is
remembered, with its result (the normalised form of an IBAN or BIC), in a small JSON file; the
next process reads the answer instead of importing the library.  A value that fails is never
remembered: its check, and its message, run every time.

The file holds a stamp of opencass and of each checking library as installed (path, size and
modification time of its package's ``__init__``), and its name a checksum of the stamp:
upgrading any of them starts a new file, and a file whose stamp differs is not used.  It lives
in ``$OPENCASS_CACHE_DIR``, else ``$XDG_CACHE_HOME/opencass``, else ``~/.cache/opencass``,
readable by its owner only; ``OPENCASS_CACHE_DIR=off`` turns remembering off (every check runs;
the test suite runs so).  When the directory cannot be written, answers are remembered within
the process only, and nothing fails: remembering only saves time.  A private key is remembered
by the SHA-256 of its bytes, never by its content.
"""

from __future__ import annotations

import importlib.util
import json
import os
import zlib
from collections.abc import Callable
from pathlib import Path

from opencass import __version__
from opencass.errors import ConfigurationError

__all__ = ["Remembered", "problem", "remembered"]

LIBRARIES = ("schwifty", "stdnum", "cryptography", "opencass")
MAX_ENTRIES = 10_000  # a configuration has a few hundred values at most


def _stamp() -> str:
    """What the remembered answers depend on: each checking library as installed."""
    parts = []
    for name in LIBRARIES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        try:
            st = os.stat(origin) if origin else None
        except OSError:
            st = None
        parts.append(f"{name}:{origin}:{st.st_size if st else ''}:{st.st_mtime_ns if st else ''}")
    parts.append(__version__)
    return "\n".join(parts)


def _directory() -> Path:
    explicit = os.environ.get("OPENCASS_CACHE_DIR", "")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "opencass"


class Remembered:
    """The remembered answers of one file (``path`` None: within this process only; ``on``
    False: nothing is remembered, every check runs)."""

    def __init__(self, path: Path | None, *, on: bool = True, stamp: str = "") -> None:
        self.path, self.on, self.stamp = path, on, stamp
        self._answers: dict[str, str] = {}
        self._dirty = False
        if path is not None:
            try:
                data = json.loads(path.read_bytes())
            except (OSError, ValueError):
                data = None
            if not isinstance(data, dict) or data.get("stamp") != stamp:
                data = {}
            answers = data.get("answers")
            if isinstance(answers, dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in answers.items()
            ):
                self._answers = answers

    def check(self, kind: str, value: str, run: Callable[[], str]) -> str:
        """``run()``'s result for ``value``, remembered; ``run`` raises (nothing is remembered)
        or returns the value's checked form."""
        key = f"{kind}\x00{value}"
        found = self._answers.get(key)
        if found is not None:
            return found
        result = run()
        if self.on and len(self._answers) < MAX_ENTRIES:
            self._answers[key] = result
            self._dirty = True
        return result

    def save(self) -> None:
        """Write the answers learnt in this process (atomically; any failure is ignored)."""
        if not self._dirty or self.path is None:
            return
        import tempfile

        tmp = ""
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".checks-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"stamp": self.stamp, "answers": self._answers}, f, sort_keys=True)
            os.replace(tmp, self.path)
            self._dirty = False
        except OSError:
            if tmp:
                Path(tmp).unlink(missing_ok=True)


_current: Remembered | None = None


def remembered() -> Remembered:
    """The process's remembered answers (read from disk once)."""
    global _current
    if _current is None:
        if os.environ.get("OPENCASS_CACHE_DIR", "") == "off":
            _current = Remembered(None, on=False)
        else:
            stamp = _stamp()
            name = f"checks-{zlib.crc32(stamp.encode()):08x}.json"
            _current = Remembered(_directory() / name, stamp=stamp)
    return _current


class _RefusedError(ConfigurationError):
    """A value of the configuration refused by its check, with the reason (never leaves
    ``problem``)."""


def problem(kind: str, value: str, why: Callable[[], str | None]) -> str | None:
    """``why()``: the reason ``value`` fails its check, or None, which is remembered."""

    def run() -> str:
        if (reason := why()) is not None:
            raise _RefusedError(reason)
        return ""

    try:
        remembered().check(kind, value, run)
    except _RefusedError as e:
        return str(e)
    return None
