"""What a message handler is given and returns (the daemon's dispatch is
``opencass.gateway.messages``; the handlers are listed in ``opencass.billing.registry``).

A handler runs in a worker process inside the file's transaction: it must not commit, must not do
I/O outside ``ctx.conn``, and says everything it decided through findings (codes from the
catalogue) and events.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opencass.config.model import Config
from opencass.events import Event
from opencass.findings import Finding

__all__ = ["SMALL_MESSAGE_BYTES", "Handler", "MessageContext", "MessageHandler", "MessageOutcome"]


@dataclass(slots=True)
class MessageContext:
    """What a handler gets: the parsed document, who sent it, when, and the open transaction."""

    file_id: str
    company: str  # the submitting company
    user: str
    sandbox: bool
    now: datetime  # aware
    config: Config
    root: Any  # the document's root element (lxml), parsed safely, not schema-validated
    data: bytes
    conn: sqlite3.Connection  # inside the file's transaction: do not commit


@dataclass(slots=True)
class MessageOutcome:
    """A handler's verdict: ``accepted`` or ``rejected`` (or ``partially_accepted``)."""

    outcome: str
    findings: list[Finding] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    country: str | None = None
    period: str | None = None


Handler = Callable[[MessageContext], MessageOutcome]


# A message is read whole and parsed into a tree: each kind has its own size limit, checked
# before a byte of the body is read (a dispute or a withdrawal is a few kilobytes).
SMALL_MESSAGE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class MessageHandler:
    """A handler for documents whose root element is ``tag`` (Clark notation,
    ``{namespace}Local``); ``kind`` names the message in reports and the files table (stored as
    the file's dialect, e.g. ``withdrawal``); ``max_bytes`` is the largest such message accepted."""

    tag: str
    kind: str
    run: Handler
    max_bytes: int = SMALL_MESSAGE_BYTES
