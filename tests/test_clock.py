"""The clock is injected: only opencass/clock.py reads the wall clock, and behaviour at the
dates where calendars and clocks turn (month ends, 31 December, the days Europe/Berlin changes
its clocks, 29 February) follows the injected time."""

from __future__ import annotations

import ast
import asyncio
import pickle
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import opencass
from opencass.billing.registry import milestone_jobs
from opencass.clock import CLOCK_START_VARIABLE, SteadyClock, clock_from_environment, system_clock
from opencass.codecs import hot
from opencass.config import init_demo, load_config
from opencass.config.model import Config, local_today
from opencass.gateway.scheduler import FINAL, CloseScheduler, job_id
from opencass.store import open_store
from tests.kit import REPO
from tests.kit.gateway import CLOCK_ENV

BERLIN = ZoneInfo("Europe/Berlin")
PACKAGE = Path(opencass.__file__).parent

# Judging the age of files (their mtime) needs the wall clock: those places are named.
FILE_AGE_CHECKS = {"outbox/push.py", "gateway/mailbox.py", "billing/closing.py"}
WALL_READS = {("datetime", "now"), ("datetime", "utcnow"), ("date", "today"), ("time", "time")}


def _wall_reads(path: Path, root: Path = PACKAGE) -> list[str]:
    """``file:line`` of every call of datetime.now/utcnow, date.today or time.time in ``path``."""
    return [
        f"{path.relative_to(root)}:{n.lineno}"
        for n in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and isinstance(n.func.value, ast.Name)
        and (n.func.value.id, n.func.attr) in WALL_READS
    ]


def test_only_the_clock_module_reads_the_wall_clock() -> None:
    reads = [r for p in sorted(PACKAGE.rglob("*.py")) for r in _wall_reads(p)]
    assert [r for r in reads if r.startswith("clock.py:")], "the scan finds nothing at all"
    elsewhere = [r for r in reads if not r.startswith("clock.py:")]
    assert {r.split(":")[0] for r in elsewhere} <= FILE_AGE_CHECKS, elsewhere


def test_no_test_reads_the_wall_clock() -> None:
    here = REPO / "tests"
    reads = [r for p in sorted(here.rglob("*.py")) for r in _wall_reads(p, here)]
    allowed = {"billing/test_close_scale.py", "billing/test_staging.py", "outbox/test_push.py"}
    assert {r.split(":")[0] for r in reads} <= allowed, reads


def test_steady_clock_starts_where_told_and_runs_at_the_real_pace() -> None:
    start = datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC)
    clock = SteadyClock(start)
    first = clock()
    assert start <= first < start + timedelta(seconds=1)
    time.sleep(0.05)
    assert clock() - first >= timedelta(seconds=0.05)
    copy = pickle.loads(pickle.dumps(clock))  # as a worker process gets it
    assert abs(copy() - clock()) < timedelta(seconds=0.05)


def test_clock_from_the_environment() -> None:
    assert clock_from_environment({}) is system_clock
    clock = clock_from_environment({CLOCK_START_VARIABLE: "2027-03-28T02:30:00+02:00"})
    assert abs(clock() - datetime(2027, 3, 28, 0, 30, tzinfo=UTC)) < timedelta(seconds=5)
    naive = clock_from_environment({CLOCK_START_VARIABLE: "2027-01-01T00:00:00"})
    assert naive().tzinfo is not None and naive().year == 2027
    with pytest.raises(ValueError, match="not an ISO 8601 time"):
        clock_from_environment({CLOCK_START_VARIABLE: "next tuesday"})


def _cli(*args: str, start: str) -> subprocess.CompletedProcess[str]:
    env = {**CLOCK_ENV, CLOCK_START_VARIABLE: start}
    return subprocess.run(
        [sys.executable, "-m", "opencass.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_commands_take_their_time_from_the_clock(tmp_path: Path) -> None:
    done = _cli("demo", "sample", str(tmp_path), start="2028-02-29T12:00:00+00:00")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # and no warning on the way
    sample = hot.decode((tmp_path / "billing-sample.hot").read_bytes())
    assert sample.file is not None
    assert {a.execution_date.month for a in sample.file.awbs} == {2}
    assert {a.execution_date.year for a in sample.file.awbs} == {2028}
    bad = _cli("demo", "sample", str(tmp_path), start="yesterday")
    assert bad.returncode == 2 and "OPENCASS_CLOCK_START" in bad.stderr


# --- the dates where calendars and clocks turn ----------------------------------------------

# (instant, the local day in Berlin) at the turning points make test-dates runs at too, plus
# the night Berlin sets its clocks back (02:30 happens twice).
TURNS = [
    (datetime(2026, 11, 30, 23, 30, tzinfo=BERLIN), date(2026, 11, 30)),
    (datetime(2026, 12, 31, 23, 59, 59, tzinfo=BERLIN), date(2026, 12, 31)),
    (datetime(2027, 1, 1, 0, 10, tzinfo=BERLIN), date(2027, 1, 1)),
    (datetime(2027, 3, 28, 1, 30, tzinfo=UTC), date(2027, 3, 28)),  # 03:30 CEST, 02:xx skipped
    (datetime(2027, 10, 31, 0, 30, tzinfo=UTC), date(2027, 10, 31)),  # 02:30 CEST, first time
    (datetime(2027, 10, 31, 1, 30, tzinfo=UTC), date(2027, 10, 31)),  # 02:30 CET, second time
    (datetime(2028, 2, 29, 12, 0, tzinfo=BERLIN), date(2028, 2, 29)),
]


def _demo(tmp_path: Path, today: date) -> Config:
    init_demo(tmp_path / "config", today=today)
    return load_config(tmp_path / "config")


@pytest.mark.parametrize(("instant", "local_day"), TURNS, ids=[str(t[0]) for t in TURNS])
def test_the_local_day_and_its_period(tmp_path: Path, instant: datetime, local_day: date) -> None:
    config = _demo(tmp_path, local_day)
    assert local_today(config, "DE", instant) == local_day
    period = config.period_for("DE", local_day)
    assert period is not None and period.billing_from <= local_day <= period.billing_to
    assert period.code == f"{local_day:%Y%m}01M"  # the demo's periods are calendar months


@pytest.mark.parametrize(("instant", "local_day"), TURNS, ids=[str(t[0]) for t in TURNS])
async def test_the_scheduler_runs_what_is_due_and_plans_the_rest(
    tmp_path: Path, instant: datetime, local_day: date
) -> None:
    config = _demo(tmp_path, local_day - timedelta(days=40))  # calendar from last year on
    store = await open_store(config.gateway.database, lambda: instant)
    ran: list[tuple[str, datetime]] = []

    def run(config: Config, country: str, period: str, reference: datetime) -> object:
        ran.append((period, reference))
        return period

    sched = CloseScheduler(
        config,
        store,
        now=lambda: instant,
        run=run,
        write=lambda c, r: [],  # type: ignore[arg-type], jobs=milestone_jobs()
    )
    try:
        await sched.start()
        await sched.idle()
        periods = config.calendars["DE"]
        due = {p.code for p in periods if p.billing_available <= instant}
        assert {code for code, _ in ran} == due
        assert all(ref <= instant for _, ref in ran)
        later = {job_id("DE", p.code) for p in periods if p.billing_available > instant}
        planned = {j for j in sched.jobs() if j.endswith(f":{FINAL}")}
        assert planned == later
        # every milestone is a local time of Berlin: its offset is that day's (CET or CEST)
        for when in sched.jobs().values():
            local = when.astimezone(BERLIN)
            assert local.utcoffset() == BERLIN.utcoffset(local.replace(tzinfo=None))
    finally:
        await sched.shutdown()
        await store.close()


async def test_a_planned_close_fires_on_the_injected_clock(tmp_path: Path) -> None:
    """The timer is set on the injected clock: a clock 0.3 s before Billing Availability
    fires the close 0.3 s later, whatever the wall clock says."""
    config = _demo(tmp_path, date(2029, 6, 10))
    period = config.period_for("DE", date(2029, 6, 10))
    assert period is not None
    clock = SteadyClock(period.billing_available - timedelta(seconds=0.3))
    store = await open_store(config.gateway.database, clock)
    ran: list[str] = []

    def run(config: Config, country: str, code: str, reference: datetime) -> object:
        ran.append(code)
        return code

    observed: list[tuple[str, float]] = []
    sched = CloseScheduler(
        config,
        store,
        now=clock,
        since=clock(),
        run=run,  # type: ignore[arg-type]
        write=lambda c, r: [],
        observe=lambda kind, seconds: observed.append((kind, seconds)),
        jobs=milestone_jobs(),
    )
    try:
        await sched.start()
        assert ran == [] and job_id("DE", period.code) in sched.jobs()
        for _ in range(100):
            if period.code in ran:
                break
            await asyncio.sleep(0.05)
        assert period.code in ran
        for _ in range(40):
            if "final" in [k for k, _ in observed]:
                break
            await asyncio.sleep(0.05)
        assert "final" in [k for k, _ in observed]  # its duration, for the metrics
    finally:
        await sched.shutdown()
        await store.close()
