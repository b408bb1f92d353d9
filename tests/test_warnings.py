"""Quiet commands: the third-party warnings named in opencass/thirdparty_warnings.py never reach
a user's terminal, and each one named is still raised by the locked release (else drop it)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from opencass.config import init_demo
from opencass.thirdparty_warnings import SILENCED
from tests.kit.gateway import CLOCK_ENV, TODAY


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    # -W default shows every warning once, as a user with PYTHONWARNINGS set would see them
    return subprocess.run(
        [sys.executable, "-W", "default", *args],
        capture_output=True,
        text=True,
        env=CLOCK_ENV,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("silenced", SILENCED, ids=[s.message for s in SILENCED])
def test_each_silenced_warning_is_still_raised_by_its_library(silenced: object) -> None:
    """Without opencass's filters the warning appears: the entry is still needed."""
    done = _python("-c", silenced.trigger)  # type: ignore[attr-defined]
    assert silenced.message in done.stderr  # type: ignore[attr-defined]
    assert silenced.reason  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "command",
    [["--help"], ["check-config"], ["period", "status", "--country", "DE"], ["outbox", "status"]],
)
def test_commands_print_no_warning(tmp_path: Path, command: list[str]) -> None:
    init_demo(tmp_path / "demo", today=TODAY)
    args = [*command, "--config", str(tmp_path / "demo")] if command != ["--help"] else command
    done = _python("-m", "opencass.cli", *args)
    assert not re.search(r"\w*Warning: ", done.stderr), done.stderr  # as Python prints one
    assert done.returncode in (0, 2), done.stderr  # outbox status: no store yet is exit 2
