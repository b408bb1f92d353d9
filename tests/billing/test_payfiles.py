"""Payment options end to end on the demo: a SEPA direct debit collected and paid out, a return
after the payout (a claim on the airline), a reversal, a pre-funded account, a default lifted.
Every pain file is checked by a second validator (xmlschema) and read back by it."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
import xmlschema

from opencass.billing.messages import MessageContext
from opencass.billing.payfiles import collect_direct_debits, pay_airlines, payment_files
from opencass.billing.payments import assess_camt
from opencass.billing.remittance import check_period, record_expected
from opencass.cli import main
from opencass.cli.samples import DEMO_AGENTS
from opencass.codecs.onerecord.safe import parse_document
from opencass.config.model import Config, Period
from opencass.gateway.assess import assess
from opencass.store import open_store
from opencass.store.connect import connect_sync, migrate_sync
from opencass.store.payruns import open_claims
from opencass.store.remittance import record_default
from opencass.store.tx import transaction
from tests.kit.camt import Ntry, Tx, camt
from tests.kit.db import db_connect
from tests.kit.gateway import NOW, PERIOD_CODE, demo_config, job, sample_bytes, spooled

XSD = Path(__file__).parents[2] / "opencass" / "codecs" / "iso20022" / "xsd"
AGENT1, AGENT2 = DEMO_AGENTS
D = Decimal


@pytest.fixture
async def closed(tmp_path: Path) -> AsyncIterator[Config]:
    """The demo with its sample booked and this month's period closed (final)."""
    config = demo_config(tmp_path)
    store = await open_store(config.gateway.database)
    path = await spooled(store, config, sample_bytes())
    assert assess(job(config, path)).outcome == "accepted"
    await store.close()
    code = main(
        [
            "period",
            "close",
            "--config",
            str(config.directory),
            "--country",
            "DE",
            "--period",
            PERIOD_CODE,
            "--final",
        ],
        clock=lambda: NOW,
    )
    assert code == 0
    yield config


def _period(config: Config, code: str = PERIOD_CODE) -> Period:
    return next(p for p in config.calendars["DE"] if p.code == code)


def _ops(config: Config) -> Path:
    return config.gateway.mailboxes_dir / "cassops" / "outbox"


def _rows(config: Config, sql: str, *args: object) -> list[tuple[object, ...]]:
    with db_connect(config.gateway.database) as conn:
        return list(conn.execute(sql, args).fetchall())


def _expected(config: Config) -> dict[str, Decimal]:
    sql = "SELECT agent_code, amount FROM remittance_expected WHERE period = ?"
    return {str(a): D(str(x)) for a, x in _rows(config, sql, PERIOD_CODE)}


def _bank(config: Config, data: bytes, file_id: str) -> SimpleNamespace:
    """The operator's camt file through the message handler, committed."""
    conn = connect_sync(config.gateway.database)
    migrate_sync(conn)
    try:
        with transaction(conn):
            ctx = MessageContext(
                file_id,
                "cassops",
                "ops",
                False,
                NOW,
                config,
                parse_document(data, 1 << 20),
                data,
                conn,
            )
            outcome = assess_camt(ctx)
            from opencass.store.events import record_events

            record_events(conn, outcome.events, "2026-12-21T06:00:00+00:00")
    finally:
        conn.close()
    return SimpleNamespace(outcome=outcome.outcome, counts=outcome.counts, events=outcome.events)


def _read(path: Path, version: str) -> dict[str, object]:
    schema = xmlschema.XMLSchema(str(XSD / f"{version}.xsd"))
    schema.validate(str(path))  # the second, independent validator
    return schema.to_dict(str(path))  # type: ignore[return-value]


def _settlement_day(config: Config) -> datetime:
    p = _period(config)
    return datetime.combine(p.settlement_day, time(0, 5), tzinfo=p.billing_available.tzinfo)


async def test_direct_debit_collected_then_paid_out(closed: Config) -> None:
    owed = _expected(closed)
    path = _ops(closed) / f"DE_{PERIOD_CODE}_collection_pain.008.001.02.xml"
    doc = _read(path, "pain.008.001.02")
    block = doc["CstmrDrctDbtInitn"]["PmtInf"][0]  # type: ignore[index]
    tx = block["DrctDbtTxInf"][0]
    assert (
        block["PmtTpInf"]["SeqTp"] == "FRST"
        and block["ReqdColltnDt"] == _period(closed).remittance_day.isoformat()
    )
    assert (
        D(str(tx["InstdAmt"]["$"])) == owed[AGENT2]
        and tx["DrctDbtTx"]["MndtRltdInf"]["MndtId"] == "AGENT2-DD-0001"
    )
    assert tx["DbtrAcct"]["Id"]["IBAN"] == "DE02500105170137075030"
    assert tx["PmtId"]["EndToEndId"] == f"CASS-DE-{PERIOD_CODE}-{AGENT2}"
    first = path.read_bytes()
    path.unlink()
    assert payment_files(closed, "DE", PERIOD_CODE) == [path] and path.read_bytes() == first
    # the bank credits the collection (matched by its reference) and agent1's transfer
    value = _period(closed).remittance_day
    bank = camt(
        "camt.053.001.02",
        [
            Ntry(
                owed[AGENT2],
                value,
                ref="DD1",
                txs=(
                    Tx(
                        ustrd=(f"CASS DE {PERIOD_CODE} {AGENT2}",),
                        end_to_end=f"CASS-DE-{PERIOD_CODE}-{AGENT2}",
                        ref="DD1-1",
                    ),
                ),
            ),
            Ntry(
                owed[AGENT1],
                value,
                ref="TR1",
                txs=(Tx(ustrd=(f"CASS DE {PERIOD_CODE} {AGENT1}",), ref="TR1-1"),),
            ),
        ],
        stmt_id="S1",
        sequence=1,
    )
    assert _bank(closed, bank, "F-BANK-1").counts["matched"] == 2
    paths = pay_airlines(closed, "DE", PERIOD_CODE, _settlement_day(closed))
    payout = _read(paths[0], "pain.001.001.03")["CstmrCdtTrfInitn"]["PmtInf"][0]  # type: ignore[index]
    (transfer,) = payout["CdtTrfTxInf"]
    assert D(str(transfer["Amt"]["InstdAmt"]["$"])) == owed[AGENT1] + owed[AGENT2]
    assert transfer["CdtrAcct"]["Id"]["IBAN"] == "DE89370400440532013000"
    assert payout["ReqdExctnDt"] == _period(closed).settlement_day.isoformat()
    # made once: a second run writes the same file
    assert (
        pay_airlines(closed, "DE", PERIOD_CODE, _settlement_day(closed) + timedelta(days=3))
        == paths
    )
    assert paths[0].read_bytes() == payment_files(closed, "DE", PERIOD_CODE)[1].read_bytes()


async def test_a_return_after_the_payout_becomes_a_claim_on_the_next(closed: Config) -> None:
    owed = _expected(closed)
    value = _period(closed).remittance_day
    dd = Ntry(
        owed[AGENT2],
        value,
        ref="DD1",
        txs=(
            Tx(
                end_to_end=f"CASS-DE-{PERIOD_CODE}-{AGENT2}",
                ustrd=(f"CASS DE {PERIOD_CODE} {AGENT2}",),
                ref="DD1-1",
            ),
        ),
    )
    _bank(closed, camt("camt.053.001.02", [dd], stmt_id="S1", sequence=1), "F-BANK-1")
    pay_airlines(closed, "DE", PERIOD_CODE, _settlement_day(closed))
    # four days later agent2's bank returns the collection: MD06 (refund request by the debtor)
    back = Ntry(
        owed[AGENT2],
        value + timedelta(days=4),
        credit=False,
        ref="RT1",
        txs=(Tx(end_to_end=f"CASS-DE-{PERIOD_CODE}-{AGENT2}", return_reason="MD06", ref="RT1-1"),),
    )
    result = _bank(
        closed, camt("camt.053.001.02", [back], msg_id="M2", stmt_id="S2", sequence=2), "F-BANK-2"
    )
    assert result.counts["returns"] == 1
    assert {e.type for e in result.events} >= {"payment.returned"}
    rows = _rows(
        closed,
        "SELECT amount, matched_by, reverses IS NOT NULL FROM payments WHERE agent_code = ?"
        " ORDER BY id",
        AGENT2,
    )
    assert rows == [(str(owed[AGENT2]), "reference", 0), (str(-owed[AGENT2]), "return", 1)]
    kinds = _rows(closed, "SELECT kind FROM irregularities WHERE agent_code = ?", AGENT2)
    assert kinds == [("returned",)]
    conn = connect_sync(closed.gateway.database)
    claims = open_claims(conn, "DE")
    conn.close()
    assert [(c.airline_prefix, c.amount) for c in claims] == [("997", owed[AGENT2])]
    # the next period: agent2 owes less than the claim; the payout is zero, never negative
    nxt = next(p for p in closed.calendars["DE"] if p.billing_from > _period(closed).billing_to)
    conn = connect_sync(closed.gateway.database)
    with transaction(conn):
        lines = (SimpleNamespace(agent_code=AGENT2, airline_prefix="997", amount=D("500.00")),)
        agents = (SimpleNamespace(agent_code=AGENT2, total=D("500.00")),)
        record_expected(
            conn,
            "DE",
            nxt.code,
            SimpleNamespace(currency="EUR", agents=agents, lines=lines),
            nxt.remittance_day,
        )  # type: ignore[arg-type]
    conn.close()
    pay = camt(
        "camt.053.001.02",
        [
            Ntry(
                D("500.00"),
                nxt.remittance_day,
                ref="TR9",
                txs=(Tx(ustrd=(f"CASS DE {nxt.code} {AGENT2}",), ref="TR9-1"),),
            )
        ],
        msg_id="M3",
        stmt_id="S3",
        sequence=3,
    )
    _bank(closed, pay, "F-BANK-3")
    at = datetime.combine(nxt.settlement_day, time(0, 5), tzinfo=nxt.billing_available.tzinfo)
    assert pay_airlines(closed, "DE", nxt.code, at) == []  # nothing to pay: 500 < 847.75 claimed
    conn = connect_sync(closed.gateway.database)
    left = open_claims(conn, "DE")
    conn.close()
    assert [c.open for c in left] == [owed[AGENT2] - D("500.00")]


async def test_a_reversal_in_camt053_undoes_a_transfer(closed: Config) -> None:
    owed = _expected(closed)
    value = _period(closed).remittance_day - timedelta(days=2)
    paid = Ntry(
        owed[AGENT1],
        value,
        ref="TR1",
        txs=(Tx(ustrd=(f"CASS DE {PERIOD_CODE} {AGENT1}",), ref="TR1-1"),),
    )
    _bank(closed, camt("camt.053.001.08", [paid], stmt_id="S1", sequence=1), "F1")
    reversed_ = Ntry(
        owed[AGENT1],
        value + timedelta(days=1),
        credit=False,
        reversal=True,
        ref="RV1",
        txs=(Tx(ustrd=(f"CASS DE {PERIOD_CODE} {AGENT1}",), ref="RV1-1"),),
    )
    result = _bank(
        closed, camt("camt.053.001.08", [reversed_], msg_id="M2", stmt_id="S2", sequence=2), "F2"
    )
    assert result.counts["returns"] == 1
    out = io.StringIO()
    from opencass.cli.payment import cmd_payment

    args = SimpleNamespace(
        config="x", payment_command="status", country="DE", period=PERIOD_CODE, agent=AGENT1
    )
    after = datetime.combine(
        _period(closed).remittance_day + timedelta(days=1), time(9), tzinfo=NOW.tzinfo
    )
    cmd_payment(args, config=closed, now=after, out=out)  # type: ignore[arg-type]
    assert "settled" not in out.getvalue() and "overdue" in out.getvalue()


async def test_a_pre_funded_account_pays_part_of_a_statement(closed: Config) -> None:
    owed = _expected(closed)
    top_up = Ntry(
        D("1000.00"),
        _period(closed).billing_to,
        ref="TU1",
        txs=(Tx(ustrd=(f"CASS DE TOPUP {AGENT1}",), ref="TU1-1"),),
    )
    result = _bank(closed, camt("camt.053.001.02", [top_up], stmt_id="S1", sequence=1), "F1")
    assert result.counts["matched"] == 1
    day = _period(closed).remittance_day
    check_period(closed, "DE", PERIOD_CODE, day, NOW)
    rows = _rows(
        closed,
        "SELECT source, amount, value_date FROM payments WHERE agent_code = ? AND period = ?",
        AGENT1,
        PERIOD_CODE,
    )
    assert rows == [("prefund-draw", "1000.00", day.isoformat())]
    # only the rest is due: 1000.00 from the account, the rest still owed
    out = io.StringIO()
    from opencass.cli.payment import cmd_payment

    args = SimpleNamespace(
        config="x", payment_command="status", country="DE", period=PERIOD_CODE, agent=AGENT1
    )
    cmd_payment(args, config=closed, now=NOW, out=out)  # type: ignore[arg-type]
    assert str(owed[AGENT1] - D("1000.00")) in out.getvalue()
    # drawn once: a second check draws nothing more (the balance is empty)
    check_period(closed, "DE", PERIOD_CODE, day, NOW)
    assert len(_rows(closed, "SELECT 1 FROM payments WHERE source = 'prefund-draw'")) == 1


async def test_a_default_is_lifted_by_the_operator(
    closed: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = connect_sync(closed.gateway.database)
    with transaction(conn):
        record_default(
            conn, "DE", AGENT1, _period(closed).remittance_day, "3 irregularities", PERIOD_CODE, NOW
        )
    conn.close()
    args = [
        "agent",
        "reinstate",
        "--config",
        str(closed.directory),
        "--country",
        "DE",
        "--agent",
        AGENT1,
        "--reason",
        "guarantee renewed",
    ]
    assert main(args, clock=lambda: NOW) == 0
    rows = _rows(
        closed, "SELECT cleared_by, cleared_reason FROM agent_defaults WHERE agent_code = ?", AGENT1
    )
    assert rows == [("operator", "guarantee renewed")]
    events = _rows(
        closed, "SELECT company FROM events WHERE type = 'agent.reinstated' ORDER BY company"
    )
    assert events == [("agent1",), ("demoair",)]
    assert main(args, clock=lambda: NOW) == 2  # not in default any more
    assert "not in default" in capsys.readouterr().err


async def test_the_second_period_collects_rcur(closed: Config) -> None:
    nxt = next(p for p in closed.calendars["DE"] if p.billing_from > _period(closed).billing_to)
    conn = connect_sync(closed.gateway.database)
    with transaction(conn):
        agents = (SimpleNamespace(agent_code=AGENT2, total=D("120.00")),)
        record_expected(
            conn,
            "DE",
            nxt.code,
            SimpleNamespace(currency="EUR", agents=agents, lines=()),
            nxt.remittance_day,
        )  # type: ignore[arg-type]
    conn.close()
    (path,) = collect_direct_debits(closed, "DE", nxt.code, NOW)
    block = _read(path, "pain.008.001.02")["CstmrDrctDbtInitn"]["PmtInf"][0]  # type: ignore[index]
    assert block["PmtTpInf"]["SeqTp"] == "RCUR" and D(str(block["CtrlSum"])) == D("120.00")


async def test_what_was_paid_before_the_close_is_not_collected(tmp_path: Path) -> None:
    config = demo_config(tmp_path)
    store = await open_store(config.gateway.database)
    path = await spooled(store, config, sample_bytes())
    assert assess(job(config, path)).outcome == "accepted"
    await store.close()
    base = ["--config", str(config.directory), "--country", "DE"]
    paid = [
        "payment",
        "record",
        *base,
        "--agent",
        AGENT2,
        "--amount",
        "100.00",
        "--date",
        NOW.date().isoformat(),
        "--period",
        PERIOD_CODE,
    ]
    assert main(paid, clock=lambda: NOW) == 0
    assert (
        main(["period", "close", *base, "--period", PERIOD_CODE, "--final"], clock=lambda: NOW) == 0
    )
    owed = _expected(config)[AGENT2]
    path = _ops(config) / f"DE_{PERIOD_CODE}_collection_pain.008.001.02.xml"
    tx = _read(path, "pain.008.001.02")["CstmrDrctDbtInitn"]["PmtInf"][0]["DrctDbtTxInf"][0]  # type: ignore[index]
    assert D(str(tx["InstdAmt"]["$"])) == owed - D("100.00")
