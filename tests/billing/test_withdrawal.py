"""Withdrawal of a whole billing file: the XML message, the handler, the daemon end to end."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from opencass.billing.registry import message_handlers
from opencass.codecs.onerecord import (
    WithdrawalRequest,
    XmlRejectedError,
    decode_withdrawal,
    encode_withdrawal,
)
from opencass.config.model import Config
from opencass.gateway.assess import assess
from opencass.gateway.messages import assess_message, message_kind
from opencass.store import SqliteStore
from tests.kit.daemon import Running
from tests.kit.db import db_connect
from tests.kit.docs import withdrawal_example
from tests.kit.gateway import NOW, PERIOD_CODE, job, sample_bytes, spooled

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


# -- the message ---------------------------------------------------------------------------------


def test_request_round_trips() -> None:
    for request in (
        WithdrawalRequest("urn:uuid:1", file_id="F20261122003610A1B2C3"),
        WithdrawalRequest("urn:uuid:2", sha256=SHA, reason="wrong période <&>"),
        WithdrawalRequest("https://airline.example/w/3", "F1", SHA, "both"),
    ):
        data = encode_withdrawal(request)
        assert decode_withdrawal(data) == request
        assert encode_withdrawal(decode_withdrawal(data)) == data
    upper = encode_withdrawal(WithdrawalRequest("urn:x", sha256=SHA)).replace(
        SHA.encode(), SHA.upper().encode()
    )
    assert decode_withdrawal(upper).sha256 == SHA


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("", "XML_SCHEMA_INVALID"),  # names no file
        ("<cass:submissionChecksum>abc</cass:submissionChecksum>", "XML_SCHEMA_INVALID"),
        ("<cass:submissionId>F 1</cass:submissionId>", "XML_SCHEMA_INVALID"),
        ("<cass:withdrawalReason>x</cass:withdrawalReason>", "XML_SCHEMA_INVALID"),
    ],
)
def test_invalid_requests_are_refused(body: str, code: str) -> None:
    data = (
        '<cass:WithdrawalRequest xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        ' xmlns:cass="https://w3id.org/opencass/ns/billing#" rdf:about="urn:x">'
        f"{body}</cass:WithdrawalRequest>"
    ).encode()
    with pytest.raises(XmlRejectedError) as caught:
        decode_withdrawal(data)
    assert [f.code for f in caught.value.findings] == [code]
    with pytest.raises(ValueError, match="names the file"):
        encode_withdrawal(WithdrawalRequest("urn:x"))


def test_documented_example_decodes_and_is_dispatched_as_a_withdrawal() -> None:
    data = withdrawal_example()
    request = decode_withdrawal(data)
    assert request.file_id and request.file_id.startswith("F") and request.reason
    assert message_kind(data[:65536], message_handlers()) == "withdrawal"


# -- the handler, against a real store -----------------------------------------------------------


def rows(config: Config, sql: str, *args: object) -> list[tuple]:  # type: ignore[type-arg]
    with db_connect(config.gateway.database) as conn:
        return conn.execute(sql, args).fetchall()


async def _booked(config: Config, store: SqliteStore, file_id: str = "F1") -> None:
    path = await spooled(store, config, sample_bytes(), file_id=file_id)
    assert assess(job(config, path, file_id)).outcome == "accepted"


async def _withdraw(
    config: Config,
    store: SqliteStore,
    request: WithdrawalRequest,
    file_id: str = "W1",
    *,
    company: str = "demoair",
    sandbox: bool = False,
    now=NOW,  # type: ignore[no-untyped-def]
) -> tuple[str, list[str]]:
    data = encode_withdrawal(request)
    path = await spooled(
        store, config, data, file_id=file_id, company=company, sandbox=sandbox, name="w.xml"
    )
    summary = assess_message(
        str(config.gateway.database),
        file_id,
        str(path),
        company,
        "someone",
        sandbox,
        now,
        config,
        message_handlers(),
    )
    assert summary.kind == "withdrawal"
    return summary.outcome, [f.code for f in await store.findings(file_id)]


async def test_withdrawal_by_id_takes_the_file_out(env: tuple[Config, SqliteStore]) -> None:
    config, store = env
    await _booked(config, store)
    request = WithdrawalRequest("urn:uuid:w1", file_id="F1", reason="wrong file")
    assert await _withdraw(config, store, request) == ("accepted", [])
    assert await store.ledger_count() == 0
    assert rows(config, "SELECT COUNT(*) FROM ledger WHERE withdrawn = 1") == [(6,)]
    (w,) = rows(
        config, "SELECT file_id, request_id, company, user, records, reason FROM withdrawals"
    )
    assert w == ("F1", "W1", "demoair", "someone", 6, "wrong file")
    (e,) = rows(config, "SELECT type, company, country, period, object_ref, key FROM events")
    assert e == ("withdrawal.done", "demoair", "DE", PERIOD_CODE, "F1", "withdrawal.done:F1")
    row = await store.get_file("W1")
    assert row is not None and row.counts["withdrawn_records"] == 6 and row.period == PERIOD_CODE
    again = WithdrawalRequest("urn:uuid:w2", file_id="F1")
    assert await _withdraw(config, store, again, "W2") == (
        "rejected",
        ["WITHDRAWAL_ALREADY_DONE"],
    )


async def test_withdrawal_by_checksum(env: tuple[Config, SqliteStore]) -> None:
    config, store = env
    await _booked(config, store)
    row = await store.get_file("F1")
    assert row is not None
    request = WithdrawalRequest("urn:uuid:w1", sha256=row.sha256)
    assert await _withdraw(config, store, request) == ("accepted", [])
    mismatch = WithdrawalRequest("urn:uuid:w2", file_id="F1", sha256=SHA)
    assert await _withdraw(config, store, mismatch, "W2") == (
        "rejected",
        ["WITHDRAWAL_UNKNOWN_FILE"],
    )


async def test_refusals_change_nothing(env: tuple[Config, SqliteStore]) -> None:
    config, store = env
    await _booked(config, store)
    cutoff = next(p for p in config.calendars["DE"] if p.code == PERIOD_CODE).upload_cutoff
    cases = [
        (WithdrawalRequest("urn:1", file_id="F404"), {}, "WITHDRAWAL_UNKNOWN_FILE"),
        (WithdrawalRequest("urn:2", sha256=SHA), {}, "WITHDRAWAL_UNKNOWN_FILE"),
        (WithdrawalRequest("urn:3", file_id="F1"), {"company": "agent1"}, "WITHDRAWAL_NOT_OWNER"),
        (
            WithdrawalRequest("urn:4", file_id="F1"),
            {"now": cutoff + timedelta(seconds=1)},
            "WITHDRAWAL_AFTER_CUTOFF",
        ),
    ]
    for n, (request, kw, code) in enumerate(cases):
        assert await _withdraw(config, store, request, f"W{n}", **kw) == ("rejected", [code])
    # a rejected file has nothing booked; so has a withdrawal request itself
    path = await spooled(store, config, b"garbage", file_id="F2")
    assess(job(config, path, "F2"))
    for n, target in enumerate(("F2", "W0"), 10):
        request = WithdrawalRequest(f"urn:{n}", file_id=target)
        assert await _withdraw(config, store, request, f"W{n}") == (
            "rejected",
            ["WITHDRAWAL_NOT_BOOKED"],
        )
    # a close of the period started ahead of the calendar freezes it too
    with db_connect(config.gateway.database) as conn:
        conn.execute(
            "INSERT INTO closes (country, period, kind, reference, started_at)"
            " VALUES ('DE', ?, 'preliminary', 'x', 'x')",
            (PERIOD_CODE,),
        )
    request = WithdrawalRequest("urn:20", file_id="F1")
    assert await _withdraw(config, store, request, "W20") == (
        "rejected",
        ["WITHDRAWAL_AFTER_CUTOFF"],
    )
    assert await store.ledger_count() == 6
    assert rows(config, "SELECT COUNT(*) FROM withdrawals") == [(0,)]
    assert rows(config, "SELECT COUNT(*) FROM events") == [(0,)]


async def test_sandbox_withdrawal_is_a_dry_run(env: tuple[Config, SqliteStore]) -> None:
    config, store = env
    await _booked(config, store)
    request = WithdrawalRequest("urn:uuid:w1", file_id="F1")
    outcome = await _withdraw(config, store, request, sandbox=True)
    assert outcome == ("accepted", [])  # it would be withdrawn ...
    assert await store.ledger_count() == 6  # ... but nothing changed
    assert rows(config, "SELECT COUNT(*) FROM withdrawals") == [(0,)]
    assert rows(config, "SELECT COUNT(*) FROM events") == [(0,)]


# -- end to end: the daemon, SFTP uploads, reports ---------------------------------------------


def _file_id(report: Path) -> str:
    found = re.search(r"\b(F\d{14}[0-9A-F]{6})\b", report.read_text())
    assert found is not None
    return found.group(1)


async def test_upload_withdraw_resubmit_end_to_end(gw: Running) -> None:
    store = gw.gateway.store
    assert store is not None
    await gw.upload("demoair", "november.hot", sample_bytes())
    (first,) = await gw.outbox("demoair", "*_validation_*.txt")
    file_id = _file_id(first)
    assert "accepted" in first.read_text() and await store.ledger_count() == 6

    request = WithdrawalRequest("urn:uuid:e2e-1", file_id=file_id, reason="sent too early")
    await gw.upload("demoair", "withdraw.xml", encode_withdrawal(request))
    reports = await gw.outbox("demoair", "*_validation_*.txt", count=2)
    text = next(p for p in reports if p != first).read_text()
    assert "Outcome:      accepted" in text and "withdrawn_records" in text
    assert await store.ledger_count() == 0
    database = gw.gateway.current_config().gateway.database
    with db_connect(database) as conn:
        assert conn.execute("SELECT file_id FROM withdrawals").fetchall() == [(file_id,)]
        events = conn.execute("SELECT type, object_ref FROM events").fetchall()
    assert ("withdrawal.done", file_id) in events

    # the same bytes again: booked afresh, not a duplicate of the withdrawn file
    await gw.upload("demoair", "november-again.hot", sample_bytes())
    reports = await gw.outbox("demoair", "*_validation_*.txt", count=3)
    latest = max(reports, key=lambda p: p.stat().st_mtime_ns).read_text()
    assert "Outcome:      accepted" in latest and "DUPLICATE_FILE" not in latest
    assert await store.ledger_count() == 6

    # a second original of those AWBs in other bytes: already billed, not booked
    other = sample_bytes().replace(b"01EUR", b"02EUR", 1)
    await gw.upload("demoair", "november-02.hot", other)
    reports = await gw.outbox("demoair", "*_validation_*.txt", count=4)
    latest = max(reports, key=lambda p: p.stat().st_mtime_ns).read_text()
    assert latest.count("AWB_ALREADY_BILLED") == 3 and "partially" in latest
    assert await store.ledger_count() == 6 + 3  # only the itemised charges and the CCA pair
