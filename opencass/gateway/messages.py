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

Writing a handler: a function taking a ``MessageContext`` (``opencass.billing.messages``), listed as
a ``MessageHandler`` in ``opencass.billing.registry.message_handlers()``; the daemon passes that
list to intake, which passes it on to every assessment. The handler must not commit, must not do I/O
outside ``ctx.conn``, and says everything it decided through findings (codes from the catalogue) and
events.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree

from opencass.billing.messages import MessageContext, MessageHandler, MessageOutcome
from opencass.codecs.onerecord.safe import SAFE_OPTIONS, Rejected, check_prolog, parse_document
from opencass.config.model import Config
from opencass.findings import finding
from opencass.store.booking import Moved, move_message
from opencass.store.connect import connect_sync, database_at
from opencass.store.events import record_events
from opencass.store.rows import utc_stamp
from opencass.store.tx import savepoint, transaction

__all__ = [
    "MessageSummary",
    "assess_message",
    "handler_table",
    "message_kind",
]


def handler_table(handlers: Iterable[MessageHandler]) -> dict[str, MessageHandler]:
    """The handlers by root element; two for one element is a programming error."""
    table: dict[str, MessageHandler] = {}
    for h in handlers:
        if h.tag in table:
            raise ValueError(f"two handlers for {h.tag}")
        table[h.tag] = h
    return table


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


def message_kind(head: bytes, handlers: Sequence[MessageHandler]) -> str | None:
    """The message kind of a document starting with ``head`` among ``handlers``, or None (then
    it is read as a billing submission)."""
    tag = root_tag(head)
    found = handler_table(handlers).get(tag) if tag else None
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
    handlers: Sequence[MessageHandler],
) -> MessageSummary:
    """Judge and apply one message file, then move it to ``assessed`` (one transaction).

    The size is checked against the kind's limit, and the document read and parsed, before
    the store's write lock is taken: a large or hostile file never holds other files up."""
    path = Path(spool_path)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(65536)
    registered = handler_table(handlers).get(root_tag(head) or "")
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
    kind = registered.kind if registered else "unknown"
    conn = connect_sync(database_at(database))
    try:
        with transaction(conn) as tx:
            if registered is not None and root is not None:
                ctx = MessageContext(file_id, company, user, sandbox, now, config, root, data, conn)
                with savepoint(conn, keep=not sandbox):
                    result = registered.run(ctx)
            errors = sum(f.is_error for f in result.findings)
            counts = {
                **result.counts,
                "errors": errors,
                "warnings": len(result.findings) - errors,
            }
            at = utc_stamp(now)
            move = Moved(
                file_id, at, "xml", kind, result.outcome, result.country, result.period, counts
            )
            moved = move_message(conn, move, result.findings)
            if moved and not sandbox:
                record_events(conn, result.events, at)
            if not moved:
                tx.abandon()
    finally:
        conn.close()
    return MessageSummary(result.outcome, kind, counts, moved)
