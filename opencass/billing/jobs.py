"""Milestone jobs: work run once per (country, period) at a time derived from the calendar.

The daemon's scheduler (``opencass.gateway.scheduler``) runs the final close itself and the jobs
it is given: ``opencass.billing.registry.milestone_jobs()`` lists them explicitly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from opencass.config.model import Config, Period
from opencass.store import SqliteStore

__all__ = ["JobContext", "MilestoneJob"]


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a milestone job gets: the configuration in force, the store, which period, and the
    milestone's time (its reference: outputs named and dated from it are the same on a re-run)."""

    config: Config
    store: SqliteStore
    country: str
    period: Period
    reference: datetime
    now: datetime  # when the job runs (the scheduler's clock)


@dataclass(frozen=True, slots=True)
class MilestoneJob:
    """A job run once per (country, period) at a time derived from the period's milestones.

    ``run`` returns how many documents it wrote; it must be safe to run again after a crash
    midway (it is re-run until it completes once)."""

    kind: str
    due: Callable[[Period], datetime]
    run: Callable[[JobContext], Awaitable[int]]
    #: instead of ``due`` when the time depends on the country's configuration (a policy)
    due_in: Callable[[Period, Config], datetime] | None = None

    def when(self, period: Period, config: Config) -> datetime:
        """When the job is due for ``period`` under ``config``."""
        return self.due_in(period, config) if self.due_in else self.due(period)
