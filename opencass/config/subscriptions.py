"""Subscription rules: which events a company hears about, in which formats, through which channels.

Modelled on ONE Record's ``api:Subscription``: ``events`` is its
``includeSubscriptionEventType`` (here the gateway's own event catalogue, ``opencass.events``),
``document_kinds`` its ``hasTopicType``/``hasTopic`` (the kind of logistics object: statement,
handoff, invoice, ...), ``formats`` its ``hasContentType``, ``channels`` with ``push`` its
``sendLogisticsObjectBody`` and ``description`` its ``hasDescription``; the subscriber
(``hasSubscriber``) is the company whose file holds the rule.  In a participant file::

    [[subscriptions]]
    events = ["document.available"]        # event types, or ["*"] for every type
    document_kinds = ["statement"]         # optional filters: an empty list matches anything
    countries = ["DE"]
    airline_prefixes = ["020"]
    agent_codes = ["23470068510"]
    formats = ["xml", "pdf", "text"]       # optional, default ["xml"]
    channels = ["push"]                    # optional; the own mailbox is always a channel
    scope = "own"                          # "own" (default) or, for operators only, "all"
    description = "statements to our ERP"

How a rule reads an event (``matches``):

* **scope** ``own``: the event is addressed to the company (``Event.company``), or it has no
  addressee and concerns one of the company's countries (a calendar change, a period closed).
  ``all`` (operators only): every event, whoever it concerns.
* **filters**: each non-empty list must contain the event's value, for events that have one:
  ``airline_prefixes = ["020"]`` keeps disputes with airline 020 and drops those with others,
  but does not drop a country-wide event that names no airline; ``document_kinds`` applies to
  events about a document only.
* **formats**: ``xml`` asks for the ``api:Notification`` XML, ``text`` for its one-line ``.txt``
  summary; ``xml``, ``hot``, ``pdf``, ``xlsx``, ``csv`` and ``text`` also name the document
  formats a rule carries: an event that carries a document (a file's answer, a statement in one
  format: ``CARRIES_DOCUMENT``) matches only when the document's format is listed.  The close
  publishes each document once per format, so ``formats = ["pdf"]`` hears of PDF statements
  only (and, without ``xml``/``text``, only pushes them).
* **channels**: the company's mailbox (``/outbox``) always receives the notifications;
  ``push`` also delivers the notifications and the event's document to the company's ``[push]``
  server.

A company without ``[[subscriptions]]`` gets the defaults of its kind (``DEFAULT_RULES``);
rules it writes are added to them, unless its file says ``subscription_defaults = false``.
The defaults never notify what already arrives as a document (file answers, statements): those
are in the outbox anyway.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from opencass.config.reader import Problem, Table
from opencass.events import Event, EventType

__all__ = [
    "CARRIES_DOCUMENT",
    "DEFAULT_RULES",
    "FORMATS",
    "Channel",
    "Subscription",
    "default_rules",
    "document_format",
    "matches",
    "read_rule",
    "read_subscriptions",
]

FORMATS = ("xml", "hot", "pdf", "xlsx", "csv", "text")
NOTIFICATION_FORMATS = ("xml", "text")
SCOPES = ("own", "all")
_EXTENSIONS = {"txt": "text", "hot": "hot", "dat": "hot"}
_COUNTRY, _PREFIX = re.compile("[A-Z]{2}(?:-I)?"), re.compile("[0-9]{3}")
_AGENT, _KIND = re.compile("[0-9]{11}|[A-Z]{2}[0-9]{9}"), re.compile("[a-z][a-z0-9_-]{0,31}")


class Channel(enum.StrEnum):
    """Where a subscription delivers."""

    MAILBOX = "mailbox"  # the company's own /outbox on the gateway (always)
    PUSH = "push"  # the company's own SFTP server ([push] in its participant file)


_CHANNELS = tuple(c.value for c in Channel)
_MAILBOX = frozenset({Channel.MAILBOX.value})


@dataclass(frozen=True, slots=True)
class Subscription:
    """One rule (see the module docstring); empty filters match anything."""

    events: frozenset[EventType]
    formats: frozenset[str] = frozenset({"xml"})
    channels: frozenset[Channel] = frozenset({Channel.MAILBOX})
    countries: frozenset[str] = frozenset()
    airline_prefixes: frozenset[str] = frozenset()
    agent_codes: frozenset[str] = frozenset()
    document_kinds: frozenset[str] = frozenset()
    scope: str = "own"
    description: str = ""
    default: bool = False  # one of DEFAULT_RULES, not written by the company

    @property
    def notification_formats(self) -> frozenset[str]:
        """``xml`` and/or ``text``: the notification files the rule asks for."""
        return self.formats & frozenset(NOTIFICATION_FORMATS)

    @property
    def push(self) -> bool:
        """True when the rule also delivers to the company's ``[push]`` server."""
        return Channel.PUSH in self.channels


_ALL = frozenset(EventType)
CARRIES_DOCUMENT = _DOCUMENTS = frozenset(
    {
        EventType.FILE_ACCEPTED,
        EventType.FILE_PARTIALLY_ACCEPTED,
        EventType.FILE_REJECTED,
        EventType.FILE_DUPLICATE,
        EventType.DOCUMENT_AVAILABLE,
    }
)
_ATTENTION = frozenset(
    {
        EventType.DISPUTE_ESCALATED,
        EventType.PAYMENT_OVERDUE,
        EventType.PAYMENT_IRREGULARITY,
        EventType.AGENT_DEFAULT,
        EventType.AGENT_REINSTATED,
        EventType.PAYMENT_RETURNED,
        EventType.RISK_ALERT,
        EventType.PERIOD_CLOSED,
        EventType.CALENDAR_CHANGED,
        EventType.DOCUMENT_NOT_COLLECTED,
    }
)

#: What a company hears of without rules, by company kind.  Agents and airlines: every event
#: addressed to them (or to all participants of their countries) except those whose document is
#: itself in their outbox (file answers, statements, hand-off files, invoices), as an XML
#: notification in the mailbox.  Operators: events that need attention, in every country, as
#: XML and a text summary.
DEFAULT_RULES: Mapping[str, tuple[Subscription, ...]] = {
    "agent": (
        Subscription(_ALL - _DOCUMENTS, description="default: agent notifications", default=True),
    ),
    "airline": (
        Subscription(_ALL - _DOCUMENTS, description="default: airline notifications", default=True),
    ),
    "operator": (
        Subscription(
            _ATTENTION,
            formats=frozenset({"xml", "text"}),
            scope="all",
            description="default: operator watch",
            default=True,
        ),
    ),
}


def default_rules(kind: str) -> tuple[Subscription, ...]:
    """The default rules of a company kind (``agent``, ``airline``, ``operator``)."""
    return DEFAULT_RULES.get(str(kind), ())


def document_format(event: Event) -> str | None:
    """The format of the event's document (``xml``, ``pdf``, ``text``...), None without one."""
    if not event.document:
        return None
    declared = event.data.get("format") if isinstance(event.data, dict) else None
    ext = str(declared or event.document.rsplit(".", 1)[-1]).lower()
    return _EXTENSIONS.get(ext, ext)


def _in(values: frozenset[str], value: str | None) -> bool:
    return not values or value is None or value in values


def matches(
    rule: Subscription, event: Event, company: str, countries: Collection[str] = ()
) -> bool:
    """True when ``rule`` of ``company`` (taking part in ``countries``) covers ``event``."""
    if event.type not in rule.events:
        return False
    if rule.scope != "all":
        if event.company is not None and event.company != company:
            return False
        if event.company is None and event.country is not None and event.country not in countries:
            return False
    if not (
        _in(rule.countries, event.country)
        and _in(rule.airline_prefixes, event.airline_prefix)
        and _in(rule.agent_codes, event.agent_code)
        and _in(rule.document_kinds, event.object_kind if event.document else None)
    ):
        return False
    fmt = document_format(event) if event.type in CARRIES_DOCUMENT else None
    return fmt is None or fmt in rule.formats


# -- reading -------------------------------------------------------------------------------------


def _choices(
    t: Table, name: str, allowed: Iterable[str], default: frozenset[str]
) -> frozenset[str]:
    if name not in t.data:
        t.read.add(name)
        return default
    known = tuple(allowed)
    out = set()
    for key, value in t.items(name, str):
        if value in known:
            out.add(value)
        else:
            t.add(key, f"{value!r} is not one of {', '.join(known)}")
    return frozenset(out)


def _events(t: Table) -> frozenset[EventType]:
    found: set[EventType] = set()
    items = t.items("events", str, required=True)
    if "events" in t.data and t.data["events"] == []:
        t.problem("events", 'name at least one event type, or ["*"] for all')
    for key, value in items:
        if value == "*":
            found |= _ALL
            continue
        try:
            found.add(EventType(value))
        except ValueError:
            t.add(key, f"{value!r} is not an event type ({', '.join(e.value for e in EventType)})")
    return frozenset(found)


def _codes(
    t: Table, name: str, shape: re.Pattern[str], owned: Mapping[str, Iterable[str]] | None
) -> frozenset[str]:
    """A filter list of codes of ``shape``; with ``owned`` (per country), only those."""
    mine = {c for codes in owned.values() for c in codes} if owned is not None else None
    out = set()
    for key, value in t.items(name, str):
        if not shape.fullmatch(value):
            t.add(key, f"{value!r} is not a code of the form {shape.pattern}")
        elif mine is not None and value not in mine:
            t.add(key, f"{value!r} is not one of the company's {name}")
        out.add(value)
    return frozenset(out)


def _rule(
    t: Table,
    kind: str,
    countries: Iterable[str],
    prefixes: Mapping[str, Iterable[str]],
    agent_codes: Mapping[str, Iterable[str]],
) -> Subscription:
    operator, airline, agent = (str(kind) == k for k in ("operator", "airline", "agent"))
    events = _events(t)
    scope = t.opt("scope", str, "own")
    if scope not in SCOPES:
        t.problem("scope", f"{scope!r} is not one of {', '.join(SCOPES)}")
    elif scope == "all" and not operator:
        t.problem("scope", '"all" (every company\'s events) is for operators only')
    mine = tuple(countries)
    rule_countries = _codes(t, "countries", _COUNTRY, None)
    for code in sorted(rule_countries):
        if not operator and code not in mine:
            t.problem("countries", f"{code} is not one of the company's countries")
    return Subscription(
        events=events,
        formats=_choices(t, "formats", FORMATS, frozenset({"xml"})),
        channels=frozenset(Channel(c) for c in _choices(t, "channels", _CHANNELS, _MAILBOX))
        | {Channel.MAILBOX},
        countries=rule_countries,
        airline_prefixes=_codes(t, "airline_prefixes", _PREFIX, prefixes if airline else None),
        agent_codes=_codes(t, "agent_codes", _AGENT, agent_codes if agent else None),
        document_kinds=_codes(t, "document_kinds", _KIND, None),
        scope=scope if scope in SCOPES else "own",
        description=t.opt("description", str, ""),
    )


def read_rule(
    data: Mapping[str, object],
    kind: str,
    countries: Iterable[str],
    prefixes: Mapping[str, Iterable[str]],
    agent_codes: Mapping[str, Iterable[str]],
) -> tuple[Subscription, list[str]]:
    """One rule as a ``[[subscriptions]]`` table holds it (a company administrator's own rule,
    kept in the store): the rule and what is wrong with it ("key: reason"; none when good)."""
    problems: list[Problem] = []
    t = Table(problems, "", dict(data), "")
    rule = _rule(t, kind, countries, prefixes, agent_codes)
    t.close()
    return rule, [f"{p.key}: {p.reason}" for p in problems]


def read_subscriptions(
    root: Table,
    kind: str,
    countries: Iterable[str] = (),
    airline_prefixes: Mapping[str, Iterable[str]] | None = None,
    agent_codes: Mapping[str, Iterable[str]] | None = None,
    *,
    has_push: bool = False,
) -> tuple[Subscription, ...]:
    """The rules of a participant file (``root``: its root table): its defaults, then its own.

    Problems are recorded in ``root``; a rule asking for ``push`` without a ``[push]`` table is
    one.  Filters on airline prefixes or agent codes must name the company's own codes (an
    operator may name any).
    """
    use_defaults = root.opt("subscription_defaults", bool, True)
    own = []
    for t in root.tables("subscriptions"):
        rule = _rule(t, kind, countries, airline_prefixes or {}, agent_codes or {})
        if rule.push and not has_push:
            t.problem("channels", 'channel "push" needs a [push] table in this file')
        own.append(rule)
    return (default_rules(kind) if use_defaults else ()) + tuple(own)
