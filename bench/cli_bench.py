"""Start-up of the command line: ``opencass --help``, ``validate`` of the demo sample and
``period status`` of the demo, against ``python -c pass`` (the interpreter's own start-up),
each the median and minimum of 7 runs of a fresh process (issue 18 asks ≤ 150 ms).

The checks of the configuration's IBANs, VAT ids and keys are remembered between processes
(``opencass.config.remembered``, here in a fresh temporary directory): the first run of a
command that loads the configuration makes them, and is printed apart.

``python -m bench.cli_bench``
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

RUNS = 7


def _once(argv: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return time.perf_counter() - t0


def _times(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    seen = [_once(argv, env) for _ in range(RUNS)]
    return statistics.median(seen), min(seen)


def main() -> None:
    """Command-line entry point."""
    from opencass.cli.samples import write_samples
    from opencass.config import init_demo

    with tempfile.TemporaryDirectory() as d:
        config = Path(d) / "config"
        init_demo(config, today=date(2026, 11, 18))
        sample = write_samples(Path(d) / "samples", date(2026, 11, 18))[0]
        cli = [sys.executable, "-m", "opencass.cli"]
        base, base_min = _times([sys.executable, "-c", "pass"])
        print(f"python -c pass: median {base * 1000:.0f} ms, min {base_min * 1000:.0f} ms")
        for name, args in (
            ("--help", ["--help"]),
            ("validate (demo sample)", ["validate", str(sample)]),
            (
                "period status (demo)",
                ["period", "status", "--config", str(config), "--country", "DE"],
            ),
        ):
            env = {**os.environ, "OPENCASS_CACHE_DIR": str(Path(d) / "cache" / name)}
            first = _once([*cli, *args], env)
            median, low = _times([*cli, *args], env)
            print(
                f"opencass {name}: median {median * 1000:.0f} ms, min {low * 1000:.0f} ms,"
                f" ratio {median / base:.1f} to python -c pass (target 150 ms);"
                f" first run {first * 1000:.0f} ms"
            )


if __name__ == "__main__":
    main()
