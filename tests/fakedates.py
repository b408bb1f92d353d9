"""``make test-dates``: the end-to-end tests under libfaketime, at each given instant.

Each run moves the wall clock (libfaketime, starting at the instant in every process and then
running at the real pace; the monotonic clock is faked too, as time.sleep fails otherwise) and the
tests' injected clock (``OPENCASS_TEST_NOW``) to the same instant, so the daemon, its worker
processes, the commands run as processes, OpenSSH and SQLite all live on that day.  A part of
opencass that read the wall clock instead of its injected one would now agree with it — what
this run checks is the behaviour at the date itself (month ends, the new year, the night Berlin
changes its clocks, 29 February).  ``python -m tests.fakedates --quick`` runs one instant and
fewer tests (for CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent
END_TO_END = [
    "test_clock.py",
    "test_gateway_e2e.py",
    "test_outbox_e2e.py",
    "test_disputes_e2e.py",
    "test_remittance_e2e.py",
    "test_gateway_crash.py",
    "test_gateway_signals.py",
    "test_close_restart.py",
    "test_period_close.py",
    "test_preliminary_close.py",
    "test_scheduler.py",
    "test_booking_rules.py",
    "test_withdrawal.py",
    "test_cli.py",
    "test_demo.py",
]
QUICK = ["test_clock.py", "test_gateway_e2e.py", "test_period_close.py"]


def _path(name: str) -> Path:
    """A test module of the suite by its file name (the folders mirror the packages)."""
    found = sorted(HERE.rglob(name))
    if len(found) != 1:
        raise SystemExit(f"{name}: {len(found)} test modules of that name")
    return found[0]


def run_at(instant: datetime, files: list[str]) -> tuple[int, str]:
    """Run ``files`` under faketime at ``instant``; (exit code, pytest's closing line)."""
    utc = instant.astimezone(UTC)
    env = {
        **os.environ,
        "TZ": "UTC",
        "OPENCASS_TEST_NOW": utc.isoformat(),
        "OPENCASS_REQUIRE_TOOLS": "1",
    }
    argv = ["faketime", "-f", f"@{utc:%Y-%m-%d %H:%M:%S}", sys.executable, "-m", "pytest"]
    argv += ["-q", "-p", "no:cacheprovider", *(str(_path(f)) for f in files)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0:
        sys.stdout.write(done.stdout[-20000:] + done.stderr[-5000:])
    return done.returncode, lines[-1] if lines else done.stderr.strip()[-300:]


def main(args: list[str]) -> int:
    """Run every instant given (ISO 8601 with an offset); 0 when all pass."""
    if shutil.which("faketime") is None:
        print("faketime is missing (Debian package faketime; make system installs it)")
        return 2
    quick = "--quick" in args
    instants = [datetime.fromisoformat(a) for a in args if a != "--quick"]
    if quick:
        instants = instants[:1]
    failed = 0
    for instant in instants:
        code, summary = run_at(instant, QUICK if quick else END_TO_END)
        print(f"{instant.isoformat()} ({instant.astimezone(UTC):%Y-%m-%d %H:%M} UTC): {summary}")
        failed += code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
