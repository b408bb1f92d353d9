"""From an event to deliveries: who hears of it, which files, and what the notification says.

``plan`` applies every company's subscription rules (``opencass.config.subscriptions``) to one
stored event and lists the files to deliver: for each company with a matching rule, the
notification XML and/or text summary in its mailbox, and when a matching rule pushes, the same
notification files and the event's document (for events that carry one) to its ``[push]``
server.  The notification's bytes come from ``opencass.documents.notifications.render``.

File names are fixed by the event: ``<UTC stamp of the event>_notification_<event id>.xml`` (and
``.txt``), the stamp in the outbox naming convention (``20261121T233000Z``).
"""

from __future__ import annotations

from datetime import datetime

from opencass.config.model import Config
from opencass.config.subscriptions import CARRIES_DOCUMENT, matches
from opencass.events import Event
from opencass.store.events import StoredEvent
from opencass.store.queue import Planned

__all__ = [
    "document_source",
    "notification_name",
    "plan",
    "stamp",
]

_EXT = {"notification": "xml", "summary": "txt"}
_KIND = {"xml": "notification", "text": "summary"}


def stamp(at: str) -> str:
    """The outbox name stamp (``20261121T233000Z``) of a stored time."""
    t = datetime.fromisoformat(at)
    return f"{t:%Y%m%dT%H%M%SZ}"


def notification_name(stored: StoredEvent, kind: str) -> str:
    """``<stamp>_notification_<event id>.xml`` (or ``.txt`` for the summary)."""
    return f"{stamp(stored.at)}_notification_{stored.id}.{_EXT[kind]}"


def document_source(event: Event) -> str:
    """The path of the event's document below the mailboxes directory."""
    box = "sandbox/outbox" if event.data.get("sandbox") else "outbox"
    return f"{event.company}/{box}/{event.document}"


def plan(stored: StoredEvent, config: Config) -> list[Planned]:
    """The deliveries of one event to every company whose rules match it."""
    e = stored.event
    out: list[Planned] = []
    for company in config.companies.values():
        rules = [r for r in company.subscriptions if matches(r, e, company.id, company.countries)]
        if not rules:
            continue
        for fmt in sorted(set().union(*(r.notification_formats for r in rules))):
            kind = _KIND[fmt]
            out.append(Planned(company.id, "mailbox", kind, notification_name(stored, kind)))
        pushing = [r for r in rules if r.push]
        if not pushing or company.push is None:
            continue
        for fmt in sorted(set().union(*(r.notification_formats for r in pushing))):
            kind = _KIND[fmt]
            out.append(Planned(company.id, "push", kind, notification_name(stored, kind)))
        if e.type in CARRIES_DOCUMENT and e.document and e.company:
            out.append(Planned(company.id, "push", "document", e.document, document_source(e)))
    return out
