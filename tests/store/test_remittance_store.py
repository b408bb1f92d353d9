"""Remittance against a real SQLite store: expected amounts from the final close, payments by
the operator command, the Remittance Day and grace checks, irregularities, withholding,
defaults and their events, and the command's exit codes."""

from __future__ import annotations

import argparse
import io
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from opencass.billing.closing import run_close
from opencass.billing.remittance import (
    GRACE,
    REMITTANCE,
    check_period,
    expect_remittance,
    record_expected,
    remittance_jobs,
)
from opencass.cli.payment import cmd_payment
from opencass.cli.samples import DEMO_AGENTS
from opencass.config.model import Config, Period
from opencass.config.policies import DisputePolicy, RemittancePolicy
from opencass.gateway.assess import assess
from opencass.gateway.scheduler import CloseScheduler
from opencass.store import open_store
from opencass.store.connect import connect_migrated, connect_sync
from tests.kit.gateway import NOW, PERIOD_CODE, job, sample_bytes, spooled

MILESTONE_JOBS = {job.kind: job for job in remittance_jobs()}

AGENT1, AGENT2 = DEMO_AGENTS
D = Decimal


@pytest.fixture
def conn(config: Config) -> Iterator[sqlite3.Connection]:
    c = connect_migrated(config.gateway.database)
    yield c
    c.close()


def _periods(config: Config) -> list[Period]:
    return list(config.calendars["DE"])


def _period(config: Config, code: str = PERIOD_CODE) -> Period:
    return next(p for p in config.calendars["DE"] if p.code == code)


def _settlement(totals: dict[str, str]) -> Any:
    """What record_expected reads of a PeriodSettlement: the currency and agent totals."""
    agents = tuple(SimpleNamespace(agent_code=a, total=D(t)) for a, t in sorted(totals.items()))
    return SimpleNamespace(currency="EUR", agents=agents, lines=())


def _expect(conn: sqlite3.Connection, period: Period, totals: dict[str, str]) -> None:
    with conn:
        conn.execute("BEGIN")
        record_expected(conn, "DE", period.code, _settlement(totals), period.remittance_day)


def _policy(config: Config, **kw: Any) -> Config:
    de = config.countries["DE"]
    disputes = kw.pop("disputes", de.disputes)
    de = replace(de, remittance=replace(de.remittance, **kw), disputes=disputes)
    return replace(config, countries={**config.countries, "DE": de})


def _events(conn: sqlite3.Connection, type_: str | None = None) -> list[tuple[str, str, str]]:
    sql = "SELECT type, company, key FROM events"
    rows = conn.execute(sql + (" WHERE type = ?" if type_ else "") + " ORDER BY id",
                        (type_,) if type_ else ()).fetchall()  # fmt: skip
    return [(r[0], r[1], r[2]) for r in rows]


def _record(config: Config, now: datetime, **kw: Any) -> tuple[int, str, str]:
    values: dict[str, Any] = {
        "config": "unused",
        "payment_command": "record",
        "country": "DE",
        "agent": AGENT1,
        "amount": "100.00",
        "date": "2026-01-01",
        "period": None,
        "reference": "",
    }
    values.update(kw)
    out = io.StringIO()
    err = io.StringIO()
    import contextlib

    with contextlib.redirect_stderr(err):
        code = cmd_payment(argparse.Namespace(**values), config=config, now=now, out=out)
    return code, out.getvalue(), err.getvalue()


def _status(config: Config, now: datetime, **kw: Any) -> tuple[int, str]:
    values: dict[str, Any] = {
        "config": "unused",
        "payment_command": "status",
        "country": "DE",
        "period": None,
        "agent": None,
    }
    values.update(kw)
    out = io.StringIO()
    code = cmd_payment(argparse.Namespace(**values), config=config, now=now, out=out)
    return code, out.getvalue()


def _noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


# -- expected remittance ----------------------------------------------------------------------


@pytest.fixture
async def booked(config: Config) -> AsyncIterator[Config]:
    store = await open_store(config.gateway.database)
    path = await spooled(store, config, sample_bytes())
    assert assess(job(config, path)).outcome == "accepted"
    await store.close()
    yield config


def _expected_rows(config: Config) -> list[tuple[Any, ...]]:
    c = connect_sync(config.gateway.database)
    try:
        return [tuple(r) for r in c.execute("SELECT * FROM remittance_expected ORDER BY 1, 2, 3")]
    finally:
        c.close()


async def test_final_close_fixes_expected_remittance_idempotently(booked: Config) -> None:
    period = _period(booked)
    result = run_close(booked, "DE", PERIOD_CODE, period.billing_available)
    totals = {a.agent_code: a.total for a in result.settlement.agents}
    assert set(totals) == {AGENT1, AGENT2}
    assert expect_remittance(booked, "DE", PERIOD_CODE, result.settlement) == 2
    rows = _expected_rows(booked)
    assert [(r[2], D(r[4]), r[5]) for r in rows] == [
        (a, totals[a], period.remittance_day.isoformat()) for a in sorted(totals)
    ]
    expect_remittance(booked, "DE", PERIOD_CODE, result.settlement)
    assert _expected_rows(booked) == rows  # same inputs, same rows
    # A statement without agent2 (re-run after a withdrawal): its expectation goes.
    c = connect_sync(booked.gateway.database)
    with c:
        c.execute("BEGIN")
        record_expected(c, "DE", PERIOD_CODE, _settlement({AGENT1: "10.00"}), period.remittance_day)
    c.close()
    assert [(r[2], r[4]) for r in _expected_rows(booked)] == [(AGENT1, "10.00")]


async def test_period_close_final_command_records_expected(booked: Config) -> None:
    from opencass.cli.period import cmd_period

    args = argparse.Namespace(
        config="unused",
        period_command="close",
        country="DE",
        period=PERIOD_CODE,
        final=True,
        force=False,
        dry_run=False,
        at=None,
    )
    assert cmd_period(args, config=booked, out=io.StringIO()) == 0
    assert {r[2] for r in _expected_rows(booked)} == {AGENT1, AGENT2}


async def test_scheduler_final_close_then_remittance_check_flags_overdue(
    booked: Config,
) -> None:
    # Only the final close and the remittance jobs (other pieces' jobs are theirs to test).
    period = _period(booked)
    now = MILESTONE_JOBS[REMITTANCE].due(period) + timedelta(hours=1)
    store = await open_store(booked.gateway.database)
    sched = CloseScheduler(
        booked, store, now=lambda: now, since=period.billing_available, jobs=remittance_jobs()
    )
    await sched.start()
    await sched.idle()
    await sched.shutdown()
    closes = {(r["period"], r["kind"]): r["completed_at"] for r in await store.closes()}
    await store.close()
    assert closes[(PERIOD_CODE, "final")] and closes[(PERIOD_CODE, REMITTANCE)], closes
    assert (PERIOD_CODE, GRACE) not in closes  # due later
    assert {r[2] for r in _expected_rows(booked)} == {AGENT1, AGENT2}
    c = connect_sync(booked.gateway.database)
    overdue = _events(c, "payment.overdue")
    c.close()
    # Both demo agents owe the airline something and paid nothing.
    assert {(company, key.split(":")[3]) for _, company, key in overdue} == {
        ("agent1", AGENT1),
        ("agent2", AGENT2),
    }


def test_job_due_times_are_the_end_of_the_days_in_the_country_zone(
    config: Config, conn: sqlite3.Connection
) -> None:
    period = _period(config)
    rd = period.remittance_day
    due = MILESTONE_JOBS[REMITTANCE].due(period)
    assert (due.date(), due.time()) == (rd + timedelta(days=1), time(0))
    assert str(due.tzinfo) == "Europe/Berlin"
    # the grace job's time comes from the country's policy in the configuration in force
    assert MILESTONE_JOBS[GRACE].when(period, _policy(config, grace_days=7)).date() == rd + (
        timedelta(days=8)
    )
    assert MILESTONE_JOBS[GRACE].when(period, config).date() == rd + timedelta(days=6)


# -- payments, irregularities, defaults ---------------------------------------------------------


def test_on_time_payment_settles_without_irregularity(
    config: Config, conn: sqlite3.Connection
) -> None:
    p = _period(config)
    _expect(conn, p, {AGENT1: "1000.00", AGENT2: "-50.00"})
    rd = p.remittance_day
    code, out, err = _record(config, _noon(rd), amount="1000.00", date=rd.isoformat())
    assert code == 0, out + err
    assert f"for DE {p.code}" in out  # the period was found without --period
    assert check_period(config, "DE", p.code, rd + timedelta(days=1), NOW) == 0  # nothing to say
    assert check_period(config, "DE", p.code, rd + timedelta(days=6), NOW) == 0
    assert [t for t, _, _ in _events(conn)] == ["payment.received"]
    assert conn.execute("SELECT COUNT(*) FROM irregularities").fetchone()[0] == 0
    code, text = _status(config, _noon(rd + timedelta(days=6)))
    assert code == 0
    line1 = next(line for line in text.splitlines() if AGENT1 in line)
    assert "1000.00" in line1 and "settled" in line1
    line2 = next(line for line in text.splitlines() if AGENT2 in line)
    assert "-50.00" in line2 and "credit" in line2  # a credit: nothing expected


def test_late_payment_is_an_irregularity_notice(config: Config, conn: sqlite3.Connection) -> None:
    p = _period(config)
    _expect(conn, p, {AGENT1: "1000.00"})
    rd = p.remittance_day
    assert check_period(config, "DE", p.code, rd + timedelta(days=1), NOW) == 1  # overdue
    late = rd + timedelta(days=2)
    code, _, _ = _record(config, _noon(late), amount="1000.00", date=late.isoformat())
    assert code == 0
    types = [(t, c) for t, c, _ in _events(conn)]
    assert types == [
        ("payment.overdue", "agent1"),
        ("payment.received", "agent1"),
        ("payment.irregularity", "agent1"),
    ]
    row = conn.execute("SELECT kind, on_day, paid FROM irregularities").fetchone()
    assert tuple(row) == ("late", late.isoformat(), "1000.00")
    # The grace check finds it paid: no default, nothing new.
    assert check_period(config, "DE", p.code, rd + timedelta(days=6), NOW) == 0


def test_short_payment_irregularity_and_non_payment_default_after_grace(
    config: Config, conn: sqlite3.Connection
) -> None:
    p = _period(config)
    _expect(conn, p, {AGENT1: "1000.00"})
    rd = p.remittance_day
    assert _record(config, _noon(rd), amount="900.00", date=rd.isoformat())[0] == 0
    assert check_period(config, "DE", p.code, rd + timedelta(days=1), NOW) == 1  # overdue only
    assert conn.execute("SELECT COUNT(*) FROM irregularities").fetchone()[0] == 0
    n = check_period(config, "DE", p.code, rd + timedelta(days=6), NOW)
    # short irregularity for agent1; default for agent1 and the airline demoair
    assert n == 3
    assert tuple(conn.execute("SELECT kind, on_day FROM irregularities").fetchone()) == (
        "short",
        rd.isoformat(),
    )
    defaults = [(c, k.split(":")[2]) for _, c, k in _events(conn, "agent.default")]
    assert defaults == [("agent1", AGENT1), ("demoair", AGENT1)]
    row = conn.execute("SELECT reason, period, cleared_at FROM agent_defaults").fetchone()
    assert tuple(row) == ("non-payment", p.code, None)
    assert check_period(config, "DE", p.code, rd + timedelta(days=7), NOW) == 0  # once
    # Paying the rest later is recorded, but the default stays (the operator lifts it).
    later = rd + timedelta(days=9)
    assert _record(config, _noon(later), amount="100.00", date=later.isoformat())[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM agent_defaults").fetchone()[0] == 1
    assert "since" in _status(config, _noon(later), agent=AGENT1)[1]


def test_nothing_paid_defaults_after_grace(config: Config, conn: sqlite3.Connection) -> None:
    cfg = _policy(config, grace_days=3)
    p = _period(cfg)
    _expect(conn, p, {AGENT1: "10.00"})
    rd = p.remittance_day
    assert check_period(cfg, "DE", p.code, rd + timedelta(days=3), NOW) == 1  # overdue, in grace
    assert check_period(cfg, "DE", p.code, rd + timedelta(days=4), NOW) == 2  # default ×2 companies
    assert conn.execute("SELECT reason FROM agent_defaults").fetchone()[0] == "non-payment"


def test_default_after_n_irregularities(config: Config, conn: sqlite3.Connection) -> None:
    cfg = _policy(config, irregularity_limit=2)
    first, second = _periods(cfg)[0], _periods(cfg)[1]
    for p in (first, second):
        _expect(conn, p, {AGENT1: "500.00"})
    late1 = first.remittance_day + timedelta(days=1)
    assert _record(cfg, _noon(late1), amount="500.00", date=late1.isoformat(),
                   period=first.code)[0] == 0  # fmt: skip
    assert _events(conn, "agent.default") == []
    late2 = second.remittance_day + timedelta(days=2)
    assert _record(cfg, _noon(late2), amount="500.00", date=late2.isoformat(),
                   period=second.code)[0] == 0  # fmt: skip
    assert [(c, t) for t, c, _ in _events(conn, "payment.irregularity")] == [
        ("agent1", "payment.irregularity"),
        ("agent1", "payment.irregularity"),
    ]
    defaults = sorted(c for _, c, _ in _events(conn, "agent.default"))
    assert defaults == ["agent1", "demoair"]
    row = conn.execute("SELECT reason, since, period FROM agent_defaults").fetchone()
    assert tuple(row) == ("irregularities", late2.isoformat(), second.code)


def test_withholding_of_open_disputed_amount(config: Config, conn: sqlite3.Connection) -> None:
    cfg = _policy(config, disputes=DisputePolicy(withholding_allowed=True))
    p = _period(cfg)
    _expect(conn, p, {AGENT1: "1000.00"})
    now = "2026-01-01T00:00:00+00:00"
    with conn:
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO disputes (id, request_iri, kind, file_id, country, period,"
            " airline_prefix, awb_serial, agent_code, agent_company, airline_company, currency,"
            " billed_amount, disputed_amount, reason, status, opened_at, updated_at)"
            " VALUES ('D1', 'urn:d1', 'change', 'F1', 'DE', ?, '997', '12345675', ?, 'agent1',"
            " 'demoair', 'EUR', '400.00', '150.00', 'weight', 'REQUEST_PENDING', ?, ?)",
            (p.code, AGENT1, now, now),
        )
    rd = p.remittance_day
    assert _record(cfg, _noon(rd), amount="850.00", date=rd.isoformat())[0] == 0
    assert check_period(cfg, "DE", p.code, rd + timedelta(days=1), NOW) == 0
    # The withholding is fixed at the check: answering the dispute later changes nothing here.
    with conn:
        conn.execute("BEGIN")
        conn.execute("UPDATE disputes SET status = 'REQUEST_REJECTED'")
    assert check_period(cfg, "DE", p.code, rd + timedelta(days=6), NOW) == 0
    assert conn.execute("SELECT withheld FROM remittance_expected").fetchone()[0] == "150.00"
    assert conn.execute("SELECT COUNT(*) FROM irregularities").fetchone()[0] == 0
    # Without withholding the same payment is short, and after grace a default.
    c2 = _policy(config)
    with conn:
        conn.execute("BEGIN")
        conn.execute("UPDATE remittance_expected SET withheld = NULL")
    # overdue, short, default for agent1 and demoair
    assert check_period(c2, "DE", p.code, rd + timedelta(days=6), NOW) == 4
    assert conn.execute("SELECT kind FROM irregularities").fetchone()[0] == "short"


# -- the command's exit codes --------------------------------------------------------------------


def test_payment_record_exit_codes(config: Config, conn: sqlite3.Connection) -> None:
    now = _noon(date(2026, 12, 1))
    assert _record(config, now, country="XX")[0] == 2
    assert _record(config, now, amount="ten")[0] == 2
    assert _record(config, now, amount="-5")[0] == 2
    assert _record(config, now, amount="1.001")[0] == 2  # EUR has two decimals
    assert _record(config, now, date="2026-13-01")[0] == 2
    assert _record(config, now, period="19990101M")[0] == 2
    code, _, err = _record(config, now, agent="99999999999", period=PERIOD_CODE)
    assert code == 1 and "not a CASS agent" in err
    code, _, err = _record(config, now)  # nothing expected yet and no --period
    assert code == 1 and "give --period" in err
    # With --period, a payment ahead of the billing is kept for that period.
    code, out, _ = _record(config, now, period=PERIOD_CODE, reference="early")
    assert code == 0 and "Recorded payment 1" in out
    assert conn.execute("SELECT period, matched_by, reference FROM payments").fetchone()[:] == (
        PERIOD_CODE,
        "operator",
        "early",
    )
    assert _status(config, now, country="XX")[0] == 2
    assert _status(config, now, period="19990101M")[0] == 2
    code, text = _status(config, now)
    assert code == 0 and "no final billing expects yet" in text and "#1 100.00 EUR" in text


def test_payment_status_lists_unmatched_payments(config: Config, conn: sqlite3.Connection) -> None:
    from opencass.store.remittance import NewPayment, insert_payment

    with conn:
        conn.execute("BEGIN")
        insert_payment(
            conn,
            NewPayment(
                key="camt:x",
                source="camt.053",
                amount=D("77.00"),
                currency="EUR",
                value_date=date(2026, 12, 20),
                country="DE",
                debtor="Unknown GmbH",
                reference="thanks",
            ),
            NOW,
        )
    code, text = _status(config, _noon(date(2026, 12, 21)))
    assert code == 0
    assert "Unmatched payments" in text and "77.00 EUR" in text and "Unknown GmbH" in text


def test_policy_example_defaults() -> None:
    assert RemittancePolicy().grace_days == 5
