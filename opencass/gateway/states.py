"""The intake state machine: every state a claimed file passes through, and the legal moves.

Theory of operation
-------------------
A file is **claimed** by an atomic rename from an inbox into the spool, then recorded in the
ledger as ``received`` with its SHA-256.  From there:

    received ──(same bytes seen before)──▶ duplicate ──▶ answered ──▶ archived
    received ──(decoded, validated, booked)▶ assessed ──▶ answered ──▶ archived
    received ──(processing failed 3 times)──▶ failed ──▶ answered ──▶ archived

``assessed`` is reached in one database transaction together with the booking, so a file is
booked exactly when it is assessed.  ``answered`` means the report and the signed receipt are in
the submitter's outbox (written under names fixed by the file, so writing them again after a
crash replaces them).  ``archived`` means the spooled input has moved to the archive.  Every
transition is a compare-and-set in the store and is recorded in ``file_events``; after a crash
the gateway resumes each file from the state the store holds.
"""

from __future__ import annotations

RECEIVED = "received"
DUPLICATE = "duplicate"
ASSESSED = "assessed"
FAILED = "failed"  # could not be assessed (a gateway fault); answered with INTERNAL_ERROR
ANSWERED = "answered"
ARCHIVED = "archived"

TRANSITIONS: dict[str, frozenset[str]] = {
    RECEIVED: frozenset({DUPLICATE, ASSESSED, FAILED}),
    FAILED: frozenset({ANSWERED}),
    DUPLICATE: frozenset({ANSWERED}),
    ASSESSED: frozenset({ANSWERED}),
    ANSWERED: frozenset({ARCHIVED}),
    ARCHIVED: frozenset(),
}
UNFINISHED = (RECEIVED, DUPLICATE, ASSESSED, FAILED, ANSWERED)
TERMINAL = ARCHIVED


def check(from_state: str, to_state: str) -> None:
    """Raise ValueError unless ``from_state`` → ``to_state`` is a legal move."""
    if to_state not in TRANSITIONS.get(from_state, frozenset()):
        raise ValueError(f"illegal intake transition {from_state} → {to_state}")
