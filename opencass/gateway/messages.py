"""XML messages other than billing submissions: withdrawals, disputes and their answers, bank
statements.  One handler per message kind, chosen by the document's root element.

Theory of operation
-------------------
Intake reads the first bytes of every XML file it claims (``message_kind``).  When a registered
handler accepts the root element, the file is assessed by ``assess_message`` in a worker process
instead of the billing-submission path:

1. the whole document is parsed with the hardened parser (no DOCTYPE, no entities, no network,
   size limit); a document that cannot be read is rejected with its finding;
2. one ``BEGIN IMMEDIATE`` transaction: a savepoint, the handler (it reads and changes the
   store through ``MessageContext.conn`` and returns a ``MessageOutcome``), then the file's move
   ``received → assessed`` with the outcome, its findings and the handler's business events.
   In the sandbox the savepoint is rolled back before the move: the message is judged exactly
   as in live, and nothing it would change is kept;
3. intake answers the file like any other: validation report, signed receipt, archive.

A crash before the commit changes nothing (the file stays ``received`` and is assessed again);
after it, the file is ``assessed`` and the handler's changes and events are in the store once.

Writing a handler: a module with functions decorated ``@handler(tag, kind=...)``, listed in
``HANDLER_MODULES``.  The handler must not commit, must not do I/O outside ``ctx.conn``, and
says everything it decided through findings (codes from the catalogue) and events.
"""

from __future__ import annotations

import importlib
import io
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree

from opencass.codecs.findings import Finding, finding
from opencass.codecs.onerecord.safe import SAFE_OPTIONS, Rejected, check_prolog, parse_document
from opencass.config.model import Config
from opencass.events import Event
from opencass.store.events import record_events
from opencass.store.rows import utc_stamp
from opencass.store.sqlite import INSERT_EVENT, INSERT_FINDING, connect_sync, finding_rows

__all__ = [
    "HANDLER_MODULES",
    "MessageContext",
    "MessageOutcome",
    "MessageSummary",
    "assess_message",
    "handler",
    "message_kind",
]

#: Modules whose import registers handlers (each piece of work adds its own).
HANDLER_MODULES: tuple[str, ...] = (
    "opencass.gateway.disputes",
    "opencass.gateway.payments",
    "opencass.gateway.withdrawal",
)


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
class _Registered:
    kind: str  # stored as the file's dialect, e.g. "withdrawal"
    run: Handler
    max_bytes: int


_HANDLERS: dict[str, _Registered] = {}
_loaded = False


def handler(
    tag: str, *, kind: str, max_bytes: int = SMALL_MESSAGE_BYTES
) -> Callable[[Handler], Handler]:
    """Register ``fn`` for documents whose root element is ``tag`` (Clark notation,
    ``{namespace}Local``); ``kind`` names the message in reports and the files table;
    ``max_bytes`` is the largest such message accepted."""

    def register(fn: Handler) -> Handler:
        if tag in _HANDLERS:
            raise ValueError(f"two handlers for {tag}")
        _HANDLERS[tag] = _Registered(kind, fn, max_bytes)
        return fn

    return register


def _handlers() -> dict[str, _Registered]:
    global _loaded
    if not _loaded:
        for name in HANDLER_MODULES:
            importlib.import_module(name)
        _loaded = True
    return _HANDLERS


def root_tag(head: bytes) -> str | None:
    """The root element's tag of an XML document from its first bytes, or None."""
    try:
        check_prolog(head)
        for _event, el in etree.iterparse(io.BytesIO(head), events=("start",), **_ITER):
            return str(el.tag)
    except (Rejected, etree.XMLSyntaxError, ValueError):
        return None
    return None


_ITER = dict(SAFE_OPTIONS)


def message_kind(head: bytes) -> str | None:
    """The registered message kind of a document starting with ``head``, or None (then it is
    read as a billing submission)."""
    tag = root_tag(head)
    found = _handlers().get(tag) if tag else None
    return found.kind if found else None


@dataclass(slots=True)
class MessageSummary:
    """What ``assess_message`` decided (returned to intake)."""

    outcome: str
    kind: str
    counts: dict[str, int]
    moved: bool = True


def assess_message(
    database: str,
    file_id: str,
    spool_path: str,
    company: str,
    user: str,
    sandbox: bool,
    now: datetime,
    config: Config,
) -> MessageSummary:
    """Judge and apply one message file, then move it to ``assessed`` (one transaction).

    The size is checked against the kind's limit, and the document read and parsed, before
    the store's write lock is taken: a large or hostile file never holds other files up."""
    path = Path(spool_path)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(65536)
    registered = _handlers().get(root_tag(head) or "")
    result = MessageOutcome("rejected", [finding("FORMAT_UNKNOWN", "not a known message")])
    root: Any = None
    data = b""
    if registered is not None:
        limit = min(registered.max_bytes, config.gateway.limits.max_xml_bytes)
        try:
            if size > limit:
                too_big = f"{size} bytes; a {registered.kind} message may have {limit} at most"
                raise Rejected(finding("FILE_TOO_LARGE", too_big))
            data = path.read_bytes()
            root = parse_document(data, limit)
        except Rejected as r:
            result = MessageOutcome("rejected", [r.finding])
    conn = connect_sync(Path(database))
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if registered is not None and root is not None:
                ctx = MessageContext(file_id, company, user, sandbox, now, config, root, data, conn)
                conn.execute("SAVEPOINT message")
                result = registered.run(ctx)
                if sandbox:
                    conn.execute("ROLLBACK TO message")
                conn.execute("RELEASE message")
            kind = registered.kind if registered else "unknown"
            errors = sum(f.is_error for f in result.findings)
            counts = {
                **result.counts,
                "errors": errors,
                "warnings": len(result.findings) - errors,
            }
            moved = _move(conn, file_id, kind, result, counts, utc_stamp(now))
            if moved and not sandbox:
                record_events(conn, result.events, utc_stamp(now))
            conn.execute("COMMIT" if moved else "ROLLBACK")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    return MessageSummary(result.outcome, kind, counts, moved)


def _move(
    conn: sqlite3.Connection,
    file_id: str,
    kind: str,
    result: MessageOutcome,
    counts: dict[str, int],
    now: str,
) -> bool:
    cur = conn.execute(
        "UPDATE files SET state = 'assessed', updated_at = ?, format = 'xml', dialect = ?,"
        " outcome = ?, country = ?, period = ?, counts = ? WHERE id = ? AND state = 'received'",
        (
            now,
            kind,
            result.outcome,
            result.country,
            result.period,
            json.dumps(counts, sort_keys=True),
            file_id,
        ),
    )
    if cur.rowcount != 1:
        return False
    conn.execute(INSERT_EVENT, (file_id, file_id, now, "received", "assessed", "{}"))
    conn.execute("DELETE FROM findings WHERE file_id = ?", (file_id,))
    conn.executemany(INSERT_FINDING, finding_rows(file_id, result.findings))
    return True
