"""Milestone versions of the published calendar: what changed since it was last published.

The store's ``calendar_milestones`` table (migration 9) holds the last published value of every
milestone of every period with its iCalendar ``SEQUENCE`` and the UTC time it took that value
(the event's ``DTSTAMP``).  ``plan_versions`` compares the configuration with it: a value that
differs is a *change* (the sequence goes up by one and the stamp becomes ``now``), a milestone
never published is version 0 stamped ``now`` (its first publication), a period that left the
configuration is a
change to ``''``.  The export command reads the table (read-only) so that its ICS matches the
one in the outboxes; the gateway's publisher (``opencass.billing.calendar_publish``) writes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from opencass.config.model import Config
from opencass.documents.calendar import MILESTONES, Version, canonical, milestone_value
from opencass.store.calendars import milestone_rows
from opencass.store.connect import read_only

__all__ = [
    "Change",
    "Key",
    "Plan",
    "Stored",
    "plan_versions",
    "stored_milestones",
    "versions_for_export",
]

Key = tuple[str, str, str]  # country, period code, milestone key
LABELS = {m.key: m.label for m in MILESTONES}


@dataclass(frozen=True, slots=True)
class Stored:
    """A milestone as last published."""

    value: str
    sequence: int
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class Change:
    """One milestone that differs from what was published (``old``/``new`` '' when absent)."""

    country: str
    period: str
    milestone: str  # Period attribute, e.g. remittance_day
    old: str
    new: str

    def as_dict(self) -> dict[str, str]:
        """For the event's data."""
        return {
            "period": self.period,
            "milestone": self.milestone,
            "label": LABELS[self.milestone],
            "old": self.old,
            "new": self.new,
        }


@dataclass(slots=True)
class Plan:
    """What the configuration's calendars mean against the stored milestones."""

    versions: dict[Key, Version] = field(default_factory=dict)
    upserts: dict[Key, tuple[str, Version]] = field(default_factory=dict)  # changed rows
    changes: dict[tuple[str, int], list[Change]] = field(default_factory=dict)  # (CC, year)


# --- milestones in the store ------------------------------------------------------------------


def stored_milestones(rows: Iterable[tuple[str, str, str, str, int, str]]) -> dict[Key, Stored]:
    """The stored milestones (``opencass.store.calendars.milestone_rows``) by key."""
    return {(r[0], r[1], r[2]): Stored(r[3], r[4], datetime.fromisoformat(r[5])) for r in rows}


def plan_versions(config: Config, stored: dict[Key, Stored], now: datetime) -> Plan:
    """Versions of every configured milestone, and the changes against ``stored``."""
    plan = Plan()
    current: set[Key] = set()
    for country, periods in config.calendars.items():
        for p in periods:
            for m in MILESTONES:
                key = (country, p.code, m.key)
                current.add(key)
                _compare(plan, key, canonical(milestone_value(p, m.key)), stored.get(key), now)
    for key in sorted(stored.keys() - current):
        if stored[key].value:  # a period that left the calendar
            _compare(plan, key, "", stored[key], now)
    return plan


def _compare(plan: Plan, key: Key, value: str, old: Stored | None, now: datetime) -> None:
    if old is None:
        version = Version(0, now)
        plan.upserts[key] = (value, version)
        change = Change(*key, "", value)
    elif old.value == value:
        plan.versions[key] = Version(old.sequence, old.changed_at)
        return
    else:
        version = Version(old.sequence + 1, now)
        plan.upserts[key] = (value, version)
        change = Change(*key, old.value, value)
    plan.versions[key] = version
    plan.changes.setdefault((key[0], int(key[1][:4])), []).append(change)


def versions_for_export(config: Config, now: datetime) -> dict[Key, Version]:
    """The versions an export shows: the store's (read-only), or first versions without one."""
    rows = read_only(config.gateway.database, milestone_rows, [])
    return plan_versions(config, stored_milestones(rows), now).versions
