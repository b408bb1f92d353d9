"""The disputes tables: open disputed amounts per agent (withholding), history, compare-and-set."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

import pytest

from opencass.store.connect import Database, connect_sync, migrate_sync
from opencass.store.disputes import (
    DisputeRow,
    accepted_adjustments,
    add_history,
    dispute_by_iri,
    history,
    insert_dispute,
    open_disputed_amounts,
    update_dispute,
)

AT = "2026-12-03T10:00:00+00:00"


def _conn(db: Database) -> sqlite3.Connection:
    conn = connect_sync(db)
    migrate_sync(conn)
    return conn


def _row(
    n: int, agent: str, disputed: str, status: str = "REQUEST_PENDING", **kw: str
) -> DisputeRow:
    values = {
        "id": f"D{n}",
        "request_iri": f"urn:uuid:{n}",
        "kind": "change",
        "file_id": f"F{n}",
        "country": "DE",
        "period": "20261101M",
        "airline_prefix": "160",
        "awb_serial": f"1234567{n}",
        "agent_code": agent,
        "agent_company": "agent1",
        "airline_company": "demoair",
        "currency": "EUR",
        "billed_amount": Decimal("100.00"),
        "claimed_amount": Decimal("100.00") - Decimal(disputed),
        "disputed_amount": Decimal(disputed),
        "reason": "rate",
        "status": status,
        "opened_at": AT,
        "updated_at": AT,
    }
    values.update(kw)
    return DisputeRow(**values)  # type: ignore[arg-type]


def test_open_disputed_amounts_sums_pending_positive_amounts_per_agent(db: Database) -> None:
    conn = _conn(db)
    insert_dispute(conn, _row(1, "1234567", "10.50"))
    insert_dispute(conn, _row(2, "1234567", "4.25"))
    insert_dispute(conn, _row(3, "7654321", "20.00"))
    insert_dispute(conn, _row(4, "7654321", "-5.00"))  # claims to owe more: nothing to withhold
    insert_dispute(conn, _row(5, "1234567", "99.00", status="REQUEST_ACCEPTED"))
    insert_dispute(conn, _row(6, "1234567", "99.00", status="REQUEST_REJECTED"))
    insert_dispute(conn, _row(7, "1234567", "99.00", period="20261201M"))
    insert_dispute(conn, _row(8, "1234567", "99.00", country="AT"))
    insert_dispute(conn, _row(9, "9999999", "1.00", escalated=True))  # type: ignore[arg-type]
    conn.commit()
    assert open_disputed_amounts(conn, "DE", "20261101M") == {
        "1234567": Decimal("14.75"),
        "7654321": Decimal("20.00"),
        "9999999": Decimal("1.00"),
    }
    assert open_disputed_amounts(conn, "DE", "20260101M") == {}


def test_rows_round_trip_and_updates_are_compare_and_set(db: Database) -> None:
    conn = _conn(db)
    row = _row(1, "1234567", "10.50")
    insert_dispute(conn, row)
    assert dispute_by_iri(conn, "urn:uuid:1") == row
    later = "2026-12-04T10:00:00+00:00"
    assert update_dispute(
        conn,
        "D1",
        "REQUEST_PENDING",
        later,
        status="REQUEST_ACCEPTED",
        corrected_amount=Decimal("95.00"),
        adjust_period="20261101M",
        answered_at=later,
    )
    assert not update_dispute(conn, "D1", "REQUEST_PENDING", later, status="REQUEST_REJECTED")
    with pytest.raises(ValueError, match="not updatable"):
        update_dispute(conn, "D1", "REQUEST_ACCEPTED", later, billed_amount=Decimal(1))
    (accepted,) = accepted_adjustments(conn, "DE", "20261101M")
    assert accepted.corrected_amount == Decimal("95.00") and accepted.updated_at == later


def test_history_is_append_only_and_ordered(db: Database) -> None:
    conn = _conn(db)
    insert_dispute(conn, _row(1, "1234567", "10.50"))
    add_history(
        conn,
        "D1",
        at=AT,
        company="agent1",
        action="opened",
        from_status=None,
        to_status="REQUEST_PENDING",
        why="rate",
        file_id="F1",
    )
    add_history(
        conn,
        "D1",
        at=AT,
        company="demoair",
        action="rejected",
        from_status="REQUEST_PENDING",
        to_status="REQUEST_REJECTED",
        why="no",
        detail={"x": 1},
    )
    steps = history(conn, "D1")
    assert [(h.seq, h.company, h.action) for h in steps] == [
        (1, "agent1", "opened"),
        (2, "demoair", "rejected"),
    ]
    assert steps[1].detail == {"x": 1}
    conn.commit()
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM dispute_events")
