"""Booking rules: period by execution date, an AWB billed once per country, void AWBs.

Unit tests on the pure rules, then the rules as the assessment applies them to real files in a
real SQLite store: whole files, sliced files, the sandbox, XML submissions, and a file booked by
another worker between a slice's check and the final transaction.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from opencass.cli.samples import sample_billing_file
from opencass.codecs import hot, onerecord
from opencass.config.model import Config
from opencass.gateway.assess import (
    assess,
    assess_merge,
    assess_slice,
    plan_slices,
)
from opencass.model import AwbRecord, BillingFile, CorrectionRecord
from opencass.settlement.netting import awb_due
from opencass.settlement.rules import (
    PeriodWindow,
    SubmittedFile,
    check_execution,
    check_withdrawal,
    is_late,
)
from opencass.store import SqliteStore
from tests.kit.db import db_connect, table_names
from tests.kit.gateway import PERIOD_CODE, PERIOD_START, job, spooled

WINDOW = PeriodWindow(
    "20261101M", date(2026, 11, 1), date(2026, 11, 30), datetime(2026, 12, 3, 23, tzinfo=UTC)
)


def _awb(executed: date) -> AwbRecord:
    rec = sample_billing_file(date(2026, 11, 1)).awbs[0]
    return replace(rec, execution_date=executed)


# -- the pure rules ------------------------------------------------------------------------------


def test_execution_date_places_a_record_in_or_around_its_period() -> None:
    inside, first, last = _awb(date(2026, 11, 14)), _awb(date(2026, 11, 1)), _awb(WINDOW.billing_to)
    assert [check_execution(r, 2, WINDOW) for r in (inside, first, last)] == [None] * 3
    assert not any(is_late(r, WINDOW) for r in (inside, first, last))
    early = _awb(date(2026, 10, 31))
    assert is_late(early, WINDOW) and check_execution(early, 2, WINDOW) is None
    after = check_execution(_awb(date(2026, 12, 1)), 7, WINDOW)
    assert after is not None and after.is_error and after.code == "EXECUTION_AFTER_PERIOD"
    assert (after.line, after.record_type, after.field) == (7, "AWM", "execution_date")
    assert "2026-12-01" in after.message and "20261101M" in after.message


def _file(**kw: object) -> SubmittedFile:
    values: dict[str, object] = {
        "file_id": "F1",
        "company": "demoair",
        "sandbox": False,
        "booked": 6,
        "withdrawn": False,
        "country": "DE",
        "period": "20261101M",
    }
    values.update(kw)
    return SubmittedFile(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("target", "requester", "now", "window", "closed", "code"),
    [
        (_file(), "demoair", datetime(2026, 11, 20, tzinfo=UTC), WINDOW, False, None),
        (None, "demoair", datetime(2026, 11, 20, tzinfo=UTC), None, False, "UNKNOWN_FILE"),
        (_file(), "otherair", datetime(2026, 11, 20, tzinfo=UTC), WINDOW, False, "NOT_OWNER"),
        (_file(withdrawn=True), "demoair", datetime(2026, 11, 20, tzinfo=UTC), WINDOW, False,
         "ALREADY_DONE"),
        (_file(booked=0), "demoair", datetime(2026, 11, 20, tzinfo=UTC), WINDOW, False,
         "NOT_BOOKED"),
        (_file(sandbox=True), "demoair", datetime(2026, 11, 20, tzinfo=UTC), WINDOW, False,
         "NOT_BOOKED"),
        (_file(), "demoair", WINDOW.upload_cutoff, WINDOW, False, None),  # up to the cut-off
        (_file(), "demoair", WINDOW.upload_cutoff + timedelta(seconds=1), WINDOW, False,
         "AFTER_CUTOFF"),
        (_file(), "demoair", datetime(2026, 11, 20, tzinfo=UTC), WINDOW, True, "AFTER_CUTOFF"),
        (_file(), "demoair", datetime(2026, 11, 20, tzinfo=UTC), None, False, "AFTER_CUTOFF"),
    ],
)  # fmt: skip
def test_withdrawal_rules(
    target: SubmittedFile | None,
    requester: str,
    now: datetime,
    window: PeriodWindow | None,
    closed: bool,
    code: str | None,
) -> None:
    found = check_withdrawal(target, requester, "file id F1", now, window, closed)
    assert (found.code if found else None) == (f"WITHDRAWAL_{code}" if code else None)
    if found is not None:
        assert found.is_error and str(found.scope) == "file"


def test_void_and_service_awbs_carry_no_charges_due() -> None:
    awb = _awb(date(2026, 11, 14))
    assert awb.charges_due and awb_due(awb, "EUR") != 0
    for use in ("V", "S"):
        other = replace(awb, use_indicator=use)
        assert not other.charges_due
        assert awb_due(other, "EUR") == Decimal("0.00")


# -- the rules applied by the assessment ---------------------------------------------------------


def billing(edit=None, file_number: str = "01", records: list | None = None) -> bytes:  # type: ignore[no-untyped-def,type-arg]
    """The demo billing file, its records edited, with another file number (other bytes)."""
    base = sample_billing_file(PERIOD_START)
    recs = list(records if records is not None else base.records)
    if edit is not None:
        recs = [edit(i, r) for i, r in enumerate(recs)]
    header = replace(base.header, file_number=file_number)
    trailer = hot.build_trailer(header, recs, base.dialect, office="FRA")
    return hot.encode(BillingFile(base.dialect, header, tuple(recs), trailer))


def ledger(config: Config, sql: str, *args: object) -> list[tuple]:  # type: ignore[type-arg]
    with db_connect(config.gateway.database) as conn:
        return conn.execute(sql, args).fetchall()


async def findings(store: SqliteStore, file_id: str) -> list[tuple[str, int | None]]:
    return [(f.code, f.line) for f in await store.findings(file_id)]


def _window(config: Config) -> PeriodWindow:
    p = next(p for p in config.calendars["DE"] if p.code == PERIOD_CODE)
    return PeriodWindow(p.code, p.billing_from, p.billing_to, p.upload_cutoff)


async def test_late_is_flagged_and_after_the_period_is_rejected(
    env: tuple[Config, SqliteStore],
) -> None:
    config, store = env
    window = _window(config)

    def edit(i: int, r: object) -> object:
        if i == 0:  # the first AWM: executed the day before the period
            return replace(r, execution_date=window.billing_from - timedelta(days=1))  # type: ignore[type-var]
        if i == 3:  # the third AWM: the day after its end
            return replace(r, execution_date=window.billing_to + timedelta(days=1))  # type: ignore[type-var]
        return r

    path = await spooled(store, config, billing(edit))
    summary = assess(job(config, path))
    assert summary.outcome == "partially_accepted"
    assert await findings(store, "F1") == [("EXECUTION_AFTER_PERIOD", 5)]
    rows = ledger(config, "SELECT line, record_type, late FROM ledger ORDER BY line")
    assert [r[0] for r in rows] == [2, 3, 4, 6, 7]  # line 5 not booked
    assert rows[0] == (2, "AWM", 1) and all(late == 0 for _, _, late in rows[1:])


async def test_upload_cutoff_rejects_the_file_with_a_clear_finding(
    env: tuple[Config, SqliteStore],
) -> None:
    config, store = env
    window = _window(config)
    path = await spooled(store, config, billing())
    summary = assess(job(config, path, now=window.upload_cutoff + timedelta(seconds=1)))
    assert summary.outcome == "rejected"
    (found,) = await store.findings("F1")
    assert (found.code, str(found.scope)) == ("PERIOD_CLOSED", "file")
    assert "Upload Cut-Off" in found.message and window.upload_cutoff.isoformat() in found.message
    assert await store.ledger_count() == 0
    path = await spooled(store, config, billing(), file_id="F2")
    assert assess(job(config, path, "F2", now=window.upload_cutoff)).outcome == "accepted"


async def test_second_original_of_an_awb_is_already_billed_corrections_are_not(
    env: tuple[Config, SqliteStore],
) -> None:
    config, store = env
    first = await spooled(store, config, billing())
    assert assess(job(config, first)).outcome == "accepted"
    second = await spooled(store, config, billing(file_number="02"), file_id="F2")
    summary = assess(job(config, second, "F2"))
    assert summary.outcome == "partially_accepted"
    found = await store.findings("F2")
    assert [(f.code, f.line) for f in found] == [("AWB_ALREADY_BILLED", n) for n in (2, 4, 5)]
    assert "F1" in found[0].message and found[0].field == "awb_serial"
    # The CCO/CCR pair and the itemised charges are not originals: booked again.
    types = ledger(config, "SELECT record_type FROM ledger WHERE file_id = 'F2' ORDER BY line")
    assert [t for (t,) in types] == ["AW1", "CCO", "CCR"]
    assert summary.counts["rejected_records"] == 3 and summary.counts["booked"] == 3


async def test_a_within_file_repeat_is_only_a_duplicate(env: tuple[Config, SqliteStore]) -> None:
    config, store = env
    base = list(sample_billing_file(PERIOD_START).records)
    path = await spooled(store, config, billing(records=[*base, base[0]]))
    summary = assess(job(config, path))
    assert await findings(store, "F1") == [("AWB_DUPLICATE", 8)]
    assert summary.counts["booked"] == 6


async def test_withdrawn_rows_no_longer_count_as_billed(env: tuple[Config, SqliteStore]) -> None:
    config, store = env
    assess(job(config, await spooled(store, config, billing())))
    with db_connect(config.gateway.database) as conn:
        conn.execute("UPDATE ledger SET withdrawn = 1 WHERE file_id = 'F1'")
    second = await spooled(store, config, billing(file_number="02"), file_id="F2")
    assert assess(job(config, second, "F2")).outcome == "accepted"
    assert await store.ledger_count() == 6


async def test_the_sandbox_finds_the_same_and_books_nothing(
    env: tuple[Config, SqliteStore],
) -> None:
    config, store = env
    assess(job(config, await spooled(store, config, billing())))
    path = await spooled(store, config, billing(file_number="02"), file_id="S1", sandbox=True)
    summary = assess(job(config, path, "S1", sandbox=True))
    assert summary.outcome == "partially_accepted"
    assert await findings(store, "S1") == [("AWB_ALREADY_BILLED", n) for n in (2, 4, 5)]
    assert ledger(config, "SELECT COUNT(*) FROM ledger WHERE file_id = 'S1'") == [(0,)]
    assert not any(t.startswith("staging_s1") for t in table_names(config.gateway.database))
    # nor is any staging file of it left (the sandbox stages into TEMP tables)
    if isinstance(config.gateway.database, Path):
        assert list((config.gateway.database.parent / "intake-staging").glob("S1_*")) == []


async def test_xml_submission_second_original_is_not_booked(
    env: tuple[Config, SqliteStore],
) -> None:
    config, store = env
    assess(job(config, await spooled(store, config, billing())))
    base = sample_billing_file(PERIOD_START)
    data = onerecord.encode_submission(base)
    path = await spooled(store, config, data, file_id="X1", name="again.xml")
    summary = assess(job(config, path, "X1"))
    assert summary.outcome == "partially_accepted"
    found = await store.findings("X1")
    assert [f.code for f in found] == ["AWB_ALREADY_BILLED"] * 3
    # each finding names the line of its waybill element in the XML
    assert all(f.line is not None and f.record_type == "AWM" for f in found)
    rejected = {f.line for f in found}
    rows = ledger(config, "SELECT record_type, line FROM ledger WHERE file_id = 'X1'")
    # the AWB is not booked; the corrections are (and the itemised charges, which carry no
    # amount of their own and are not netted: a known limitation)
    assert sorted(t for t, _ in rows) == ["AW1", "CCO", "CCR"]
    assert not rejected & {line for _, line in rows}


def _big(first: int, count: int = 300, file_number: str = "01") -> bytes:
    """``count`` copies of the sample's records, AWB serials from ``first`` on."""
    base = sample_billing_file(PERIOD_START)
    records = []
    for i in range(count):
        for r in base.records:
            serial7 = f"{(int(r.awb_serial[:7]) + (first + i) * 10) % 10**7:07d}"
            records.append(replace(r, awb_serial=serial7 + str(int(serial7) % 7)))  # type: ignore[type-var]
    return billing(records=records, file_number=file_number)


async def test_sliced_file_finds_what_the_whole_file_finds(
    env: tuple[Config, SqliteStore],
) -> None:
    config, store = env
    assess(job(config, await spooled(store, config, _big(0, 100))))  # AWBs 0..99
    data = _big(50, 300, "02")  # AWBs 50..349: the first 50 already billed
    whole = await spooled(store, config, data, file_id="W1", sandbox=True, name="w.hot")
    assess(job(config, whole, "W1", sandbox=True))  # the sandbox judges, books nothing
    path = await spooled(store, config, data, file_id="S1", name="s.hot")
    j = job(config, path, "S1")
    pieces = plan_slices(j, 2, min_bytes=0)
    assert len(pieces) == 2
    summary = assess_merge(j, pieces, [assess_slice(j, k, p) for k, p in enumerate(pieces)])
    sliced = await findings(store, "S1")
    assert sliced == await findings(store, "W1")
    assert [c for c, _ in sliced] == ["AWB_ALREADY_BILLED"] * 150  # 50 AWBs × 3 AWM each
    assert summary.outcome == "partially_accepted" and summary.counts["booked"] == 300 * 6 - 150


async def test_a_file_booked_between_slice_check_and_commit_is_seen(
    env: tuple[Config, SqliteStore],
) -> None:
    """Two files billing the same AWBs at the same time: the later commit finds the earlier."""
    config, store = env
    data = _big(0, 200)
    path = await spooled(store, config, data, file_id="S1", name="s.hot")
    j = job(config, path, "S1")
    pieces = plan_slices(j, 2, min_bytes=0)
    slices = [assess_slice(j, k, p) for k, p in enumerate(pieces)]  # the ledger is empty now
    other = await spooled(store, config, _big(150, 10, "02"), file_id="F2", name="o.hot")
    assert assess(job(config, other, "F2")).outcome == "accepted"  # AWBs 150..159
    summary = assess_merge(j, pieces, slices)
    assert [c for c, _ in await findings(store, "S1")] == ["AWB_ALREADY_BILLED"] * 30
    assert summary.counts["booked"] == 200 * 6 - 30


async def test_a_withdrawal_between_slice_check_and_commit_is_seen(
    env: tuple[Config, SqliteStore],
) -> None:
    config, store = env
    assess(job(config, await spooled(store, config, _big(0, 10))))
    path = await spooled(store, config, _big(0, 200, "02"), file_id="S1", name="s.hot")
    j = job(config, path, "S1")
    pieces = plan_slices(j, 2, min_bytes=0)
    slices = [assess_slice(j, k, p) for k, p in enumerate(pieces)]
    assert sum(len(s.billed.rows) for s in slices if s.billed) == 30
    with db_connect(config.gateway.database) as conn:  # F1 withdrawn meanwhile
        conn.execute("UPDATE ledger SET withdrawn = 1 WHERE file_id = 'F1'")
        conn.execute(
            "INSERT INTO withdrawals (file_id, request_id, company, at, records)"
            " VALUES ('F1', 'F1', 'demoair', '2026-11-22T00:00:00+00:00', 60)"
        )
    summary = assess_merge(j, pieces, slices)
    assert summary.outcome == "accepted" and summary.counts["booked"] == 1200


def test_the_ledger_is_probed_through_its_awb_index(tmp_path: Path) -> None:
    from opencass.store.booking import JOIN_LEDGER, stage, staging_table
    from opencass.store.connect import connect_sync, migrate_sync

    conn = connect_sync(tmp_path / "x.sqlite")
    migrate_sync(conn)
    stage(conn, "F1", 0, [], temp=False)  # the slice's own file, attached
    sql = "EXPLAIN QUERY PLAN " + JOIN_LEDGER.format(table=staging_table("F1", 0))
    plan = [str(r[3]) for r in conn.execute(sql, (0,))]
    assert plan[0] == "SCAN s"
    assert any(p.startswith("SEARCH l USING INDEX ledger_by_awb") for p in plan), plan
    conn.close()


async def test_void_awb_with_charges_is_booked_with_a_warning(
    env: tuple[Config, SqliteStore],
) -> None:
    config, store = env

    def edit(i: int, r: object) -> object:
        return replace(r, use_indicator="V") if i == 0 else r  # type: ignore[type-var]

    path = await spooled(store, config, billing(edit))
    summary = assess(job(config, path))
    assert summary.outcome == "accepted"
    assert await findings(store, "F1") == [("CHARGES_ON_NON_REVENUE", 2)]
    assert summary.counts["booked"] == 6


def test_correction_records_are_dated_like_awbs() -> None:
    cco = next(
        r for r in sample_billing_file(date(2026, 11, 1)).records if isinstance(r, CorrectionRecord)
    )
    late = replace(cco, execution_date=date(2026, 12, 2))
    found = check_execution(late, 6, WINDOW)
    assert found is not None and found.record_type == "CCO"
