"""A CASS Import period's whole life through the running gateway (README step 7 and beyond),
on the demo with Germany's import operation DE-I (``opencass demo init --with-import``):

1. in the period, Demo Air uploads the demo's import sample with OpenSSH ``sftp`` and one more
   AWB as ONE Record XML;
2. after the reports, agent1 (recipient code DE054000001) disputes 20.00 of AWB 997-20000024 and
   Demo Air accepts;
3. after Billing Availability the calendar's final close of DE-I has run: agent1's statement,
   hand-off file and invoice carry the adjustment; the export operation DE closed on its own;
4. the bank's camt.053 pays agent1: the import period is settled.

By hand (EUR): the sample bills 1460.00 (fee charged) + 320.00 (fee not charged); the XML file
100.00 + 15.00 handling; less the accepted 20.00: 1875.00.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
from argparse import Namespace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from opencass.cli.payment import cmd_payment
from opencass.cli.samples import DEMO_CONSIGNEE, sample_import_file
from opencass.codecs import hot, onerecord
from opencass.codecs.onerecord.dispute import DisputeRequest, DisputeStatusUpdate, encode_dispute
from opencass.config import load_config
from opencass.model import BillingFile, BillingHeader, Dialect, ImportRecord, awb_check_digit
from tests.kit.camt import Ntry, Tx, camt
from tests.kit.daemon import running
from tests.kit.db import db_connect
from tests.kit.gateway import NOW, PERIOD_CODE, PERIOD_START, TODAY, init_demo_store
from tests.kit.sftp import openssh_args

OP = "DE-I"
DISPUTE = "urn:uuid:00000000-0000-4000-8000-0000000000e1"
BASE = "https://gw.example"
TOTAL = Decimal("1875.00")


def _more_as_xml() -> bytes:
    """One more import AWB, as XML: 100.00 weight charges, 15.00 handling, fee not charged."""
    day = PERIOD_START.replace(day=12)
    zero = Decimal("0.00")
    record = ImportRecord(
        "IBI", DEMO_CONSIGNEE, "997", "2000003" + str(awb_check_digit("2000003")), "LHR", "FRA",
        "", day, day, Decimal("12.0"), "K", "EUR", Decimal("0.00000"), Decimal("100.00"), zero,
        zero, Decimal("5.00"), "N", Decimal("15.00"), zero, "", zero, "", zero, zero,
    )  # fmt: skip
    end = PERIOD_START.replace(day=28)
    header = BillingHeader("AA2", "DE", "", PERIOD_START, end, end, "02", "EUR")
    trailer = hot.build_trailer(header, [record], Dialect.IMPORT, office="FRA")
    return onerecord.encode_submission(BillingFile(Dialect.IMPORT, header, (record,), trailer))


def _rows(database: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with db_connect(database) as conn:
        return [tuple(r) for r in conn.execute(sql, args).fetchall()]


async def test_an_import_period_from_upload_to_settled_payment(tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    init_demo_store(config_dir, today=TODAY, imports=True)
    config = load_config(config_dir)
    period = next(p for p in config.calendars[OP] if p.code == PERIOD_CODE)
    local = tmp_path / "import-sample.hot"
    local.write_bytes(hot.encode(sample_import_file(PERIOD_START)))

    # 1. README step 7: the billing party puts the sample with OpenSSH sftp; and an XML file
    async with running(config_dir, NOW) as gw:
        args = openssh_args(gw.gateway.port, config_dir / "keys" / "demoair", "demoair")
        put = await asyncio.to_thread(
            subprocess.run, args, input=f"put {local} /inbox/\n", capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
        assert put.returncode == 0, put.stderr
        report = await gw.answer("demoair", "import-sample.hot")
        assert "Outcome:      accepted" in report and OP in report, report
        await gw.upload("demoair", "more.xml", _more_as_xml())
        assert "Outcome:      accepted" in await gw.answer("demoair", "more.xml")
    booked = _rows(config.gateway.database, "SELECT country, COUNT(*) FROM ledger GROUP BY 1")
    assert booked == [(OP, 3)]

    # 2. the consignee agent disputes part of an import AWB; the billing party accepts
    async with running(config_dir, period.reports_available + timedelta(hours=1)) as gw:
        dispute = DisputeRequest(
            iri=DISPUTE, kind="change", agent_code=DEMO_CONSIGNEE,
            requested_at=f"{period.reports_available.date()}T09:00:00Z", country=OP,
            period=PERIOD_CODE, airline_prefix="997", awb_serial="20000024",
            reason="storage billed twice", currency="EUR", disputed_amount=Decimal("20.00"),
            claimed_amount=Decimal("300.00"),
        )  # fmt: skip
        await gw.upload("agent1", "dispute.xml", encode_dispute(dispute, base_iri=BASE))
        answer = await gw.answer("agent1", "dispute.xml")
        assert "Outcome:      accepted" in answer, answer
        accept = DisputeStatusUpdate(
            iri=DISPUTE, kind="change", status="REQUEST_ACCEPTED",
            at=f"{period.reports_available.date()}T10:00:00Z", currency=None,
            corrected_amount=None, comment="",
        )  # fmt: skip
        await gw.upload("demoair", "accept.xml", encode_dispute(accept, base_iri=BASE))
        assert "Outcome:      accepted" in await gw.answer("demoair", "accept.xml")

    # 3. the calendar's final close of DE-I ran at Billing Availability
    async with running(config_dir, period.billing_available + timedelta(minutes=1)) as gw:
        assert gw.gateway.closes is not None
        await gw.gateway.closes.idle()
        outbox = gw.mailboxes / "agent1" / "outbox"
        (statement,) = outbox.glob(f"*_statement_{PERIOD_CODE}_{DEMO_CONSIGNEE}.csv")
        text = statement.read_text()
        assert "ADJ" in text and f"TOTAL,,{TOTAL},EUR" in text, text
        (invoice,) = outbox.glob(f"*_invoice_{PERIOD_CODE}_{DEMO_CONSIGNEE}.xml")
        assert f'<cbc:PayableAmount currencyID="EUR">{TOTAL}</cbc:PayableAmount>' in (
            invoice.read_text()
        )
        (handoff,) = outbox.glob(f"*_handoff_{PERIOD_CODE}_{DEMO_CONSIGNEE}.hot")
        back = hot.decode(handoff.read_bytes())
        assert back.valid and back.file is not None and back.file.header.operation == OP
        assert len(back.file.imports) == 3
    database = config.gateway.database
    closes = _rows(database, "SELECT country, kind FROM closes WHERE completed_at IS NOT NULL "
                   "AND period = ? ORDER BY 1", PERIOD_CODE)  # fmt: skip
    assert ("DE", "final") in closes and (OP, "final") in closes
    sql = "SELECT agent_code, amount FROM remittance_expected WHERE country = ? AND period = ?"
    assert dict(_rows(database, sql, OP, PERIOD_CODE)) == {DEMO_CONSIGNEE: str(TOTAL)}

    # 4. the bank pays agent1 before Remittance Day
    value = period.remittance_day - timedelta(days=2)
    paid_at = datetime.combine(value, datetime.min.time(), tzinfo=NOW.tzinfo) + timedelta(hours=9)
    async with running(config_dir, paid_at) as gw:
        reference = f"CASS {OP} {PERIOD_CODE} {DEMO_CONSIGNEE}"
        bank = camt(
            "camt.053.001.02",
            [Ntry(TOTAL, value, ref="B1", txs=(Tx(ustrd=(reference,), ref="B1-1"),))],
            stmt_id="STMT-I1", sequence=353,
        )  # fmt: skip
        await gw.upload("ops", "statement.xml", bank)
        assert "Outcome:      accepted" in await gw.answer("cassops", "statement.xml")
    out = io.StringIO()
    args_ = Namespace(
        config=str(config_dir), payment_command="status", country=OP, period=PERIOD_CODE,
        agent=None,
    )  # fmt: skip
    assert cmd_payment(args_, now=paid_at + timedelta(days=5), out=out) == 0
    assert "settled" in out.getvalue() and DEMO_CONSIGNEE in out.getvalue(), out.getvalue()
