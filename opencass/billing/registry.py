"""The explicit lists of what billing adds to the daemon: XML message handlers and milestone jobs.

The daemon (``opencass.gateway.app``) asks for these at start-up and passes them to intake and to
the scheduler; nothing registers itself by being imported.  A new message kind or job is one line
here.
"""

from __future__ import annotations

from opencass.billing.dispute_jobs import dispute_jobs
from opencass.billing.disputes import dispute_handlers
from opencass.billing.jobs import MilestoneJob
from opencass.billing.messages import MessageHandler
from opencass.billing.payments import camt_handlers
from opencass.billing.remittance import remittance_jobs
from opencass.billing.withdrawal import withdrawal_handlers

__all__ = ["message_handlers", "milestone_jobs"]


def message_handlers() -> tuple[MessageHandler, ...]:
    """Every XML message kind besides billing submissions, by root element."""
    return (*withdrawal_handlers(), *dispute_handlers(), *camt_handlers())


def milestone_jobs() -> tuple[MilestoneJob, ...]:
    """Every job the scheduler runs besides the final close."""
    return (*remittance_jobs(), *dispute_jobs())
