"""A period's whole life through the running gateway, checked against totals made by hand.

The daemon runs on a clock that starts where each phase needs it; between phases it is stopped
and started again at a later instant, as an operator's machine would be over the weeks of a
period (the calendar jobs that fell due meanwhile run at the start):

1. 18 November: Demo Air uploads its billing, withdraws it, and uploads it again;
2. 5 December, after the reports: agent1 disputes AWB 997-62144154 (50.00), Demo Air accepts;
3. 15 December, after Billing Availability: the calendar's final close has run; statement,
   invoice and expected remittance carry the adjustment;
4. 18 December: the bank's camt.053 pays both agents; both periods are settled.

The demo billing (by hand): agent1 owes 3987.26 for AWB 62144154 less an 85.00 CCA = 3902.26,
less the accepted 50.00 = 3852.26; agent2 owes 802.75 + a 45.00 CCA = 847.75.
"""

from __future__ import annotations

import io
import re
from argparse import Namespace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from lxml import etree

from opencass.cli.payment import cmd_payment
from opencass.cli.samples import DEMO_AGENTS
from opencass.codecs.onerecord.dispute import (
    DisputeRequest,
    DisputeStatusUpdate,
    encode_dispute,
)
from opencass.codecs.onerecord.withdrawal import WithdrawalRequest, encode_withdrawal
from opencass.config import load_config
from tests.kit.camt import Ntry, Tx, camt
from tests.kit.daemon import running
from tests.kit.db import db_connect
from tests.kit.gateway import NOW, PERIOD_CODE, TODAY, init_demo_store, sample_bytes

XSD = Path(__file__).parents[2] / "opencass" / "codecs" / "iso20022" / "xsd"

AGENT1, AGENT2 = DEMO_AGENTS
DISPUTE = "urn:uuid:00000000-0000-4000-8000-0000000000d1"
BASE = "https://gw.example"


def _rows(database: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with db_connect(database) as conn:
        return [tuple(r) for r in conn.execute(sql, args).fetchall()]


PAIN008 = etree.XMLSchema(etree.parse(str(XSD / "pain.008.001.02.xsd")))
PAIN001 = etree.XMLSchema(etree.parse(str(XSD / "pain.001.001.03.xsd")))


def _texts(doc: etree._ElementTree, *names: str) -> list[str]:
    """The texts of the elements with these local names, in document order."""
    return [el.text or "" for el in doc.iter() if etree.QName(el).localname in names]


def _file_id(report: str) -> str:
    found = re.search(r"\b(F\d{14}[0-9A-F]{6})\b", report)
    assert found is not None
    return found.group(1)


async def test_a_period_from_upload_to_settled_payment(tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    init_demo_store(config_dir, today=TODAY)
    config = load_config(config_dir)
    database = config.gateway.database
    period = next(p for p in config.calendars["DE"] if p.code == PERIOD_CODE)

    # 1. upload, withdraw, upload again
    async with running(config_dir, NOW) as gw:
        await gw.upload("demoair", "november.hot", sample_bytes())
        first = await gw.answer("demoair", "november.hot")
        assert "Outcome:      accepted" in first
        request = WithdrawalRequest("urn:uuid:lifecycle-w1", file_id=_file_id(first))
        await gw.upload("demoair", "withdraw.xml", encode_withdrawal(request))
        assert "Outcome:      accepted" in await gw.answer("demoair", "withdraw.xml")
        await gw.upload("demoair", "november-again.hot", sample_bytes())
        again = await gw.answer("demoair", "november-again.hot")
        assert "Outcome:      accepted" in again and "DUPLICATE_FILE" not in again
    booked = _rows(database, "SELECT COUNT(*) FROM ledger WHERE withdrawn = 0")
    assert booked == [(6,)]

    # 2. the dispute, opened and accepted before the airline cut-off
    async with running(config_dir, period.reports_available + timedelta(hours=1)) as gw:
        dispute = DisputeRequest(
            iri=DISPUTE, kind="change", agent_code=AGENT1, requested_at="2026-12-05T09:00:00Z",
            country="DE", period=PERIOD_CODE, airline_prefix="997", awb_serial="62144154",
            reason="weight charge rated at the wrong rate", currency="EUR",
            disputed_amount=Decimal("50.00"), claimed_amount=Decimal("3937.26"),
        )  # fmt: skip
        await gw.upload("agent1", "dispute.xml", encode_dispute(dispute, base_iri=BASE))
        assert "Outcome:      accepted" in await gw.answer("agent1", "dispute.xml")
        accept = DisputeStatusUpdate(
            iri=DISPUTE, kind="change", status="REQUEST_ACCEPTED", at="2026-12-05T10:00:00Z",
            currency=None, corrected_amount=None, comment="",
        )  # fmt: skip
        await gw.upload("demoair", "accept.xml", encode_dispute(accept, base_iri=BASE))
        assert "Outcome:      accepted" in await gw.answer("demoair", "accept.xml")

    # 3. the calendar's final close ran at Billing Availability (here: at the next start)
    async with running(config_dir, period.billing_available + timedelta(minutes=1)) as gw:
        assert gw.gateway.closes is not None
        await gw.gateway.closes.idle()
        outbox = gw.mailboxes / "agent1" / "outbox"
        (invoice,) = outbox.glob(f"*_invoice_{PERIOD_CODE}_{AGENT1}.xml")
        assert '<cbc:PayableAmount currencyID="EUR">3852.26</cbc:PayableAmount>' in (
            invoice.read_text()
        )
        (statement,) = outbox.glob(f"*_statement_{PERIOD_CODE}_{AGENT1}.csv")
        assert "3852.26" in statement.read_text() and "ADJ" in statement.read_text()
    sql = "SELECT agent_code, amount FROM remittance_expected WHERE period = ?"
    expected = dict(_rows(database, sql, PERIOD_CODE))
    assert expected == {AGENT1: "3852.26", AGENT2: "847.75"}
    sql = "SELECT kind FROM closes WHERE completed_at IS NOT NULL AND period = ?"
    closes = _rows(database, sql, PERIOD_CODE)
    assert ("final",) in closes
    # agent2 pays by SEPA direct debit: the collection is in the operator's outbox, due on
    # Remittance Day, the mandate's first (FRST); agent1 (pre-funded) is not collected
    ops_outbox = config.gateway.mailboxes_dir / "cassops" / "outbox"
    collection = etree.parse(str(ops_outbox / f"DE_{PERIOD_CODE}_collection_pain.008.001.02.xml"))
    assert PAIN008.validate(collection)
    assert _texts(collection, "SeqTp", "ReqdColltnDt", "InstdAmt", "MndtId") == [
        "FRST", period.remittance_day.isoformat(), "847.75", "AGENT2-DD-0001",
    ]  # fmt: skip

    # 4. the bank pays both agents before Remittance Day
    value = period.remittance_day - timedelta(days=2)
    paid_at = datetime.combine(value, datetime.min.time(), tzinfo=NOW.tzinfo) + timedelta(hours=9)
    async with running(config_dir, paid_at) as gw:
        bank = camt(
            "camt.053.001.02",
            [
                Ntry(Decimal("3852.26"), value, ref="B1",
                     txs=(Tx(ustrd=(f"CASS DE {PERIOD_CODE} {AGENT1}",), ref="B1-1"),)),
                Ntry(Decimal("847.75"), value, ref="B2",
                     txs=(Tx(creditor_ref=f"CASS DE {PERIOD_CODE} {AGENT2}", ref="B2-1",
                             debtor="Agent Two"),)),
            ],
            stmt_id="STMT-1218", sequence=352,
        )  # fmt: skip
        await gw.upload("ops", "statement.xml", bank)
        assert "Outcome:      accepted" in await gw.answer("cassops", "statement.xml")
    out = io.StringIO()
    args = Namespace(
        config=str(config_dir), payment_command="status", country="DE", period=PERIOD_CODE,
        agent=None,
    )  # fmt: skip
    assert cmd_payment(args, now=paid_at + timedelta(days=5), out=out) == 0
    status = out.getvalue()
    assert status.count("settled") == 2, status
    payments = _rows(database, "SELECT agent_code, amount, matched_by FROM payments ORDER BY id")
    assert payments == [(AGENT1, "3852.26", "reference"), (AGENT2, "847.75", "reference")]

    # 5. at the start of Settlement Day the airline is paid what was received for it
    start = datetime.combine(
        period.settlement_day, datetime.min.time(), tzinfo=period.billing_available.tzinfo
    )
    async with running(config_dir, start + timedelta(minutes=5)) as gw:
        assert gw.gateway.closes is not None
        await gw.gateway.closes.idle()
    payout = etree.parse(str(ops_outbox / f"DE_{PERIOD_CODE}_payout_pain.001.001.03.xml"))
    assert PAIN001.validate(payout)
    assert _texts(payout, "ReqdExctnDt", "IBAN", "InstdAmt") == [
        period.settlement_day.isoformat(), "DE02100500000054540402", "4700.01",
        "DE89370400440532013000",
    ]  # fmt: skip
