"""Calendar-driven period closes (real SQLite store, demo calendar, fake clock and close)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from opencass.billing.closing import run_close
from opencass.billing.registry import milestone_jobs
from opencass.cli.samples import DEMO_AGENTS
from opencass.clock import system_clock
from opencass.config.model import Config, Period
from opencass.gateway.assess import assess
from opencass.gateway.scheduler import FINAL, CloseScheduler, job_id
from opencass.settlement.close import CloseResult
from opencass.store import SqliteStore
from opencass.store.schema import LATEST, MIGRATIONS
from tests.kit.db import db_connect
from tests.kit.gateway import PERIOD_CODE, job, sample_bytes, spooled

AGENT1 = DEMO_AGENTS[0]


def _period(config: Config, code: str = PERIOD_CODE) -> Period:
    return next(p for p in config.calendars["DE"] if p.code == code)


def _past(config: Config, now: datetime) -> set[str]:
    return {p.code for p in config.calendars["DE"] if p.billing_available <= now}


async def _final_closes(store: SqliteStore) -> list[dict[str, object]]:
    """The ``closes`` rows of final closes (milestone jobs record theirs there too)."""
    return [r for r in await store.closes() if r["kind"] == FINAL]


def _final_jobs(sched: CloseScheduler) -> dict[str, datetime]:
    return {j: t for j, t in sched.jobs().items() if j.endswith(f":{FINAL}")}


class FakeClose:
    """Records run/write calls; ``fail`` makes the run of those periods raise."""

    def __init__(self, fail: frozenset[str] = frozenset()) -> None:
        self.runs: list[tuple[str, str, datetime]] = []
        self.writes: list[str] = []
        self.fail = fail

    def run(self, config: Config, country: str, period: str, reference: datetime) -> CloseResult:
        self.runs.append((country, period, reference))
        if period in self.fail:
            raise RuntimeError("ledger on fire")
        return period  # type: ignore[return-value]  # stands in for the result

    def write(self, config: Config, result: CloseResult) -> list[Path]:
        self.writes.append(str(result))
        return [Path("a"), Path("b")]


def _scheduler(
    config: Config, store: SqliteStore, now: datetime, fake: FakeClose
) -> CloseScheduler:
    return CloseScheduler(
        config, store, now=lambda: now, run=fake.run, write=fake.write, jobs=milestone_jobs()
    )


async def _started(sched: CloseScheduler) -> None:
    await sched.start()
    await sched.idle()


async def test_missed_closes_run_once_at_start_and_never_again(
    config: Config, store: SqliteStore
) -> None:
    now = _period(config).billing_available + timedelta(days=60)
    fake = FakeClose()
    sched = _scheduler(config, store, now, fake)
    await _started(sched)
    await sched.shutdown()
    past = _past(config, now)
    assert PERIOD_CODE in past
    ran = [p for _, p, _ in fake.runs]
    assert sorted(ran) == sorted(past)  # each past period once
    assert ("DE", PERIOD_CODE, _period(config).billing_available) in fake.runs
    assert sorted(fake.writes) == sorted(past)
    rows = {r["period"]: r for r in await _final_closes(store)}
    assert set(rows) == past
    row = rows[PERIOD_CODE]
    assert row["kind"] == FINAL and row["completed_at"] and row["documents"] == 2
    assert row["reference"] == _period(config).billing_available.isoformat()
    events = [e for e in await store.audit_events("period_closed") if e["data"]["kind"] == FINAL]
    assert sorted(e["data"]["period"] for e in events) == sorted(past)

    closed = len(await store.audit_events("period_closed"))  # finals and milestone jobs
    again = FakeClose()
    sched = _scheduler(config, store, now, again)
    await _started(sched)
    await sched.shutdown()
    assert again.runs == [] and again.writes == []
    assert len(await store.audit_events("period_closed")) == closed  # nothing ran again


async def test_an_incomplete_close_is_run_again(config: Config, store: SqliteStore) -> None:
    now = _period(config).billing_available + timedelta(days=1)
    ref = _period(config).billing_available.isoformat()
    # Every past close completed except this month's, which crashed after its claim.
    for p in _past(config, now):
        assert await store.claim_close("DE", p, FINAL, ref)
        if p != PERIOD_CODE:
            await store.complete_close("DE", p, FINAL, 1)
    assert await store.claim_close("DE", PERIOD_CODE, FINAL, ref)  # still open: claimable
    fake = FakeClose()
    sched = _scheduler(config, store, now, fake)
    await _started(sched)
    await sched.shutdown()
    assert [p for _, p, _ in fake.runs] == [PERIOD_CODE]
    row = next(r for r in await _final_closes(store) if r["period"] == PERIOD_CODE)
    assert row["completed_at"] and row["documents"] == 2
    assert not await store.claim_close("DE", PERIOD_CODE, FINAL, ref)  # completed: never again


async def test_future_closes_are_scheduled_not_run(config: Config, store: SqliteStore) -> None:
    now = _period(config).billing_available - timedelta(days=3)
    fake = FakeClose()
    sched = _scheduler(config, store, now, fake)
    await _started(sched)
    try:
        jobs = _final_jobs(sched)
        assert PERIOD_CODE not in {p for _, p, _ in fake.runs}
        assert jobs[job_id("DE", PERIOD_CODE)] == _period(config).billing_available
        future = {p.code for p in config.calendars["DE"]} - _past(config, now)
        assert set(jobs) == {job_id("DE", p) for p in future}
        assert sorted(p for _, p, _ in fake.runs) == sorted(_past(config, now))

        # When its timer fires (brought forward to now on APScheduler's own, wall-clock
        # timebase), the job closes the period once.
        sched.scheduler.modify_job(job_id("DE", PERIOD_CODE), next_run_time=system_clock())
        sched.scheduler.wakeup()
        for _ in range(200):
            if any(p == PERIOD_CODE for _, p, _ in fake.runs) and not sched.running:
                break
            await asyncio.sleep(0.01)
        assert [p for _, p, _ in fake.runs].count(PERIOD_CODE) == 1
        assert job_id("DE", PERIOD_CODE) not in sched.jobs()
        row = next(r for r in await _final_closes(store) if r["period"] == PERIOD_CODE)
        assert row["completed_at"]

        # A reload whose calendar has no future periods leaves no jobs.
        trimmed = {"DE": tuple(p for p in config.calendars["DE"] if p.billing_available <= now)}
        await sched.reschedule(Config(**{**_fields(config), "calendars": trimmed}))
        assert _final_jobs(sched) == {}
    finally:
        await sched.shutdown()


def _fields(config: Config) -> dict[str, object]:
    return {name: getattr(config, name) for name in Config.__slots__}


async def test_a_failing_close_stays_incomplete(config: Config, store: SqliteStore) -> None:
    # The period after this one fails; this one (and any before it) closes. On any date.
    periods = config.calendars["DE"]
    failing = periods[periods.index(_period(config)) + 1]
    now = failing.billing_available + timedelta(days=1)
    fake = FakeClose(fail=frozenset({failing.code}))
    sched = _scheduler(config, store, now, fake)
    await _started(sched)
    await sched.shutdown()
    rows = {r["period"]: r for r in await _final_closes(store)}
    assert rows[failing.code]["started_at"] and rows[failing.code]["completed_at"] is None
    assert failing.code not in fake.writes
    others = _past(config, now) - {failing.code}
    assert PERIOD_CODE in others and all(rows[p]["completed_at"] for p in others)
    failed = await store.audit_events("period_close_failed")
    assert [e["data"]["period"] for e in failed] == [failing.code]

    retry = FakeClose()
    sched = _scheduler(config, store, now, retry)
    await _started(sched)
    await sched.shutdown()
    assert [p for _, p, _ in retry.runs] == [failing.code]


async def test_end_to_end_statements_reach_the_agent_outbox(
    config: Config, store: SqliteStore
) -> None:
    path = await spooled(store, config, sample_bytes())
    assert assess(job(config, path)).outcome == "accepted"
    period = _period(config)
    now = period.billing_available + timedelta(hours=1)
    runs: list[str] = []

    def counted(c: Config, country: str, code: str, reference: datetime) -> CloseResult:
        runs.append(code)
        return run_close(c, country, code, reference)

    sched = CloseScheduler(config, store, now=lambda: now, run=counted, jobs=milestone_jobs())
    await _started(sched)
    await sched.shutdown()
    outbox = config.gateway.mailboxes_dir / "agent1" / "outbox"
    statements = sorted(p.name for p in outbox.glob(f"*_statement_{PERIOD_CODE}_{AGENT1}.*"))
    assert statements, sorted(p.name for p in outbox.iterdir())
    # Dated at Billing Availability, not at the (fake or real) clock.
    stamp = period.billing_available.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    assert all(name.startswith(stamp) for name in statements), statements
    row = next(r for r in await _final_closes(store) if r["period"] == PERIOD_CODE)
    assert row["completed_at"] and row["documents"] >= len(statements)
    assert runs.count(PERIOD_CODE) == 1


async def test_periods_before_since_are_ignored(config: Config, store: SqliteStore) -> None:
    now = _period(config).billing_available + timedelta(days=1)
    fake = FakeClose()
    since = _period(config).billing_available
    sched = CloseScheduler(
        config,
        store,
        now=lambda: now,
        run=fake.run,
        write=fake.write,
        since=since,
        jobs=milestone_jobs(),
    )
    await _started(sched)
    await sched.shutdown()
    assert [p for _, p, _ in fake.runs] == [PERIOD_CODE]


def test_migration_2_upgrades_a_version_1_store(tmp_path: Path) -> None:
    from opencass.store.connect import connect_sync, migrate_sync

    db = tmp_path / "old.db"
    conn = connect_sync(db)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.executescript(f"BEGIN;\n{MIGRATIONS[0][1]}\nINSERT INTO schema_version VALUES (1);COMMIT;")
    migrate_sync(conn)
    assert [tuple(r) for r in conn.execute("SELECT version FROM schema_version")] == [(LATEST,)]
    assert conn.execute("SELECT COUNT(*) FROM closes").fetchone()[0] == 0
    conn.close()
    with db_connect(db) as again:
        assert again.execute("SELECT MAX(version) FROM schema_version").fetchone() == (LATEST,)
