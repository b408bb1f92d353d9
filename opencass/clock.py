"""The clock: every part of opencass that needs the time is handed one (never reads the wall).

A clock is any callable returning an aware UTC ``datetime``.  The daemon and the commands use
``system_clock`` unless told otherwise; tests pass a ``SteadyClock`` that starts at a fixed
instant and runs at the real pace, so timers, timeouts and deadlines still work, or a frozen
lambda.  ``SteadyClock`` reads the monotonic clock, which Linux keeps system-wide, so a copy of it
in a worker process tells the same time as the original.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The wall clock, UTC."""
    return datetime.now(UTC)


def lease_time() -> float:
    """This machine's clock in seconds since the epoch, for what gateway nodes compare between
    them (heartbeats, leases, close locks): never the business clock, which a test or a
    replay may set anywhere -- a lease must run out in real seconds."""
    return time.time()


@dataclass(frozen=True, slots=True)
class SteadyClock:
    """A clock that reads ``start`` when made and then advances at the real pace."""

    start: datetime
    origin: float = field(default_factory=time.monotonic)

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.origin)


def utc_stamp(at: datetime) -> str:
    """``at`` as the store records times: UTC, ISO 8601 with microseconds."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def stamp(clock: Clock) -> str:
    """The clock's time as the store records it."""
    return utc_stamp(clock())


CLOCK_START_VARIABLE = "OPENCASS_CLOCK_START"


def clock_from_environment(environ: Mapping[str, str]) -> Clock:
    """The commands' clock: the wall clock, or -- for rehearsals and tests -- a ``SteadyClock``
    starting at the ISO 8601 instant in ``OPENCASS_CLOCK_START`` (UTC when it names no zone)."""
    start = environ.get(CLOCK_START_VARIABLE, "").strip()
    if not start:
        return system_clock
    try:
        at = datetime.fromisoformat(start)
    except ValueError:
        raise ValueError(f"{CLOCK_START_VARIABLE}={start!r} is not an ISO 8601 time") from None
    return SteadyClock(at if at.tzinfo else at.replace(tzinfo=UTC))
