"""Calendar-driven period closes: the final close of every period at its Billing Availability.

Theory of operation
-------------------
The calendar (configuration) and the ``closes`` table (store) are the truth; APScheduler only
holds timers, in memory.  From the configuration in force, every (country, period) has one
``final`` close due at the period's ``billing_available``.  ``start()`` and ``reschedule()``
derive the plan again: a close completed in the store is never run again; a due close that is
not completed (missed while the gateway was down, or crashed midway) runs at once; a future one
gets a ``DateTrigger`` job.

A run claims the close in the store (``started_at``), nets the period and builds the documents
in a worker thread (``run_close`` is blocking), writes them into the outboxes (thread), then
marks the close completed with its document count.  Document names and bytes depend only on the
ledger and the reference time (the period's Billing Availability), so re-running a close that
crashed between claim and completion rewrites the same files with the same bytes.  A failing
close is logged and left incomplete: it is retried at the next start or reschedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from opencass.billing.closelock import CloseBusy, Held, take_close
from opencass.billing.closing import close_events, run_close, write_documents
from opencass.billing.final import final_close
from opencass.billing.jobs import JobContext, MilestoneJob
from opencass.clock import Clock, system_clock
from opencass.config.model import Config, find_period
from opencass.settlement.close import CloseResult
from opencass.store import SqliteStore

__all__ = [
    "FINAL",
    "CloseScheduler",
    "job_id",
]

log = structlog.get_logger("opencass.gateway.scheduler")

FINAL = "final"


LOCK_RETRY_SECONDS = 5.0  # how often a close waiting for another run looks again
RunClose = Callable[[Config, str, str, datetime], CloseResult]
WriteDocuments = Callable[[Config, CloseResult], list[Path]]
Key = tuple[str, str, str]  # country, period, kind


def job_id(country: str, period: str, kind: str = FINAL) -> str:
    """The APScheduler job id of one close, e.g. ``DE:20261101M:final``."""
    return f"{country}:{period}:{kind}"


class CloseScheduler:
    """Runs each period's final close once, at Billing Availability (or at start if missed)."""

    def __init__(
        self,
        config: Config,
        store: SqliteStore,
        *,
        now: Clock = system_clock,
        run: RunClose = run_close,
        write: WriteDocuments = write_documents,
        since: datetime | None = None,
        pool: Executor | None = None,
        observe: Callable[[str, float], None] | None = None,
        jobs: Iterable[MilestoneJob] = (),
        node: str = "",
    ) -> None:
        """``since``: ignore periods whose Billing Availability is before it (a new deployment
        whose calendar starts in the past need not close the periods it never billed);
        ``jobs``: the milestone jobs run besides the final close (the daemon passes
        ``opencass.billing.registry.milestone_jobs()``)."""
        self.node = node  # this gateway's node name (in a close lock's holder)
        self.milestones: dict[str, MilestoneJob] = {}
        for job in jobs:
            if job.kind == FINAL or job.kind in self.milestones:
                raise ValueError(f"two milestone jobs of kind {job.kind!r}")
            self.milestones[job.kind] = job
        self.config = config
        self.pool = pool  # a process pool for the final close (None: threads, as in tests)
        self.observe = observe  # (kind, seconds) of each close that ran, for metrics
        self.since = since
        self.store = store
        self.now = now
        self.run = run
        self.write = write
        self.scheduler = AsyncIOScheduler(
            timezone=UTC,
            # Timers only: a late firing (suspended machine, busy loop) still runs, once.
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        self.running: dict[Key, asyncio.Task[None]] = {}
        self.planned: dict[str, datetime] = {}  # job id → when it is due, on ``now``'s clock

    # -- life ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the timers and plan from the configuration: due closes run now."""
        self.scheduler.start()
        await self._plan()

    async def reschedule(self, config: Config) -> None:
        """Replace every job with those of ``config`` (after a configuration reload)."""
        self.config = config
        await self._plan()

    async def shutdown(self, grace: float = 5.0) -> None:
        """Stop the timers; let running closes finish within ``grace`` seconds, cancel the rest
        (a cancelled close stays incomplete and is re-run at the next start)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        tasks = list(self.running.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def idle(self) -> None:
        """Wait until no close is running (tests, and an orderly stop)."""
        while self.running:
            await asyncio.gather(*self.running.values(), return_exceptions=True)

    def jobs(self) -> dict[str, datetime]:
        """Scheduled (future) closes: job id → run time (on this scheduler's clock)."""
        return {j.id: self.planned[j.id] for j in self.scheduler.get_jobs()}

    # -- planning --------------------------------------------------------------------------------

    async def _plan(self) -> None:
        self.scheduler.remove_all_jobs()
        self.planned.clear()
        completed = {
            (r["country"], r["period"], r["kind"])
            for r in await self.store.closes()
            if r["completed_at"] is not None
        }
        now = self.now()
        due: list[Key] = []
        extra = self.milestones
        for country, periods in sorted(self.config.calendars.items()):
            for period in periods:
                if self.since is not None and period.billing_available < self.since:
                    continue
                whens = [(FINAL, period.billing_available)]
                whens += [(k, job.when(period, self.config)) for k, job in sorted(extra.items())]
                for kind, when in whens:
                    key = (country, period.code, kind)
                    if key in completed:
                        continue
                    if when <= now:
                        due.append(key)
                    else:
                        self.planned[job_id(*key)] = when
                        self.scheduler.add_job(
                            self._launch,
                            # APScheduler keeps the wall clock: the same distance from it
                            DateTrigger(run_date=system_clock() + (when - now)),
                            args=(key,),
                            id=job_id(*key),
                            replace_existing=True,
                        )
        due.sort(key=lambda k: self._due_at(k))
        for key in due:
            self._start(key)
        if due:
            log.info("period_closes_due", closes=[job_id(*k) for k in due])

    def _due_at(self, key: Key) -> datetime:
        country, code, kind = key
        _, period = find_period(self.config, country, code)
        if kind == FINAL:
            return period.billing_available
        return self.milestones[kind].when(period, self.config)

    async def _launch(self, key: Key) -> None:
        """The APScheduler job (a coroutine, so it runs on the loop, not in a thread)."""
        self._start(key)

    def _start(self, key: Key) -> None:
        if key in self.running:
            return
        task = asyncio.get_running_loop().create_task(self._close(key), name=job_id(*key))
        self.running[key] = task
        task.add_done_callback(lambda _t: self.running.pop(key, None))

    # -- one close -------------------------------------------------------------------------------

    async def _claim(self, key: Key) -> Held:
        """Wait until no other run (an operator's ``period close``, another node's scheduler)
        holds this close; the held claim."""
        country, code, kind = key
        while True:
            try:
                settings = self.config.gateway
                by = "the gateway's calendar scheduler" + (f" on {self.node}" if self.node else "")
                return await asyncio.to_thread(
                    take_close, settings.database, settings.data_dir, country, code, kind,
                    by=by, since=self.now(), node=self.node,
                )  # fmt: skip
            except CloseBusy as e:
                log.info("period_close_waits", country=country, period=code, kind=kind, why=str(e))
                await asyncio.sleep(LOCK_RETRY_SECONDS)

    async def _close(self, key: Key) -> None:
        lock = await self._claim(key)
        started = time.monotonic()
        try:
            await self._close_claimed(key)
        finally:
            await asyncio.to_thread(lock.release)
            if self.observe is not None:
                self.observe(key[2], time.monotonic() - started)

    async def _close_claimed(self, key: Key) -> None:
        country, code, kind = key
        try:
            config = self.config
            _, period = find_period(config, country, code)
            reference = self._due_at(key)
            if not await self.store.claim_close(country, code, kind, reference.isoformat()):
                return  # completed meanwhile
            if kind == FINAL and self.pool is not None and self.run is run_close:
                # the whole final close in a worker process (see opencass.billing.final)
                loop = asyncio.get_running_loop()
                outcome = await loop.run_in_executor(
                    self.pool, final_close, config, country, code, reference, self.now()
                )
                await self.store.record_events(outcome.events)
                count = outcome.documents
            elif kind == FINAL:
                result = await asyncio.to_thread(self.run, config, country, code, reference)
                written = await asyncio.to_thread(self.write, config, result)
                count = len(written)
                if isinstance(result, CloseResult):  # tests inject stand-ins
                    events = close_events(config, result, country, code, FINAL, reference)
                    await self.store.record_events(events)
                    from opencass.billing.remittance import expect_remittance

                    await asyncio.to_thread(
                        expect_remittance, config, country, code, result.settlement,
                        self.now(), reference,
                    )  # fmt: skip
            else:
                job = self.milestones[kind]
                ctx = JobContext(config, self.store, country, period, reference, self.now())
                count = await job.run(ctx)
            await self.store.complete_close(country, code, kind, count)
        except asyncio.CancelledError:
            log.warning("period_close_interrupted", country=country, period=code, kind=kind)
            raise
        except Exception as e:
            log.exception("period_close_failed", country=country, period=code, kind=kind)
            await self._audit("period_close_failed", key, error=f"{type(e).__name__}: {e}")
            return
        log.info(
            "period_closed",
            country=country,
            period=code,
            kind=kind,
            reference=reference.isoformat(),
            documents=count,
        )
        await self._audit("period_closed", key, reference=reference.isoformat(), documents=count)

    async def _audit(self, event: str, key: Key, **data: Any) -> None:
        country, code, kind = key
        try:
            await self.store.audit(event, country=country, period=code, kind=kind, **data)
        except Exception:
            log.exception("audit_failed", event_name=event, country=country, period=code)
