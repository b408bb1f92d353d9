"""The pain files opencass writes, in every version it offers: valid for lxml and for
xmlschema (a second, independent validator) against the official XSDs, read back by xmlschema
to the same amounts, deterministic, grouped by scheme and sequence type."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import xmlschema

from opencass.codecs.iso20022.pain import (
    PAIN001,
    PAIN008,
    CreditTransfer,
    DirectDebit,
    Party,
    encode_pain001,
    encode_pain008,
)

XSD = Path(__file__).parents[2] / "opencass" / "codecs" / "iso20022" / "xsd"
OFFICE = Party("CASS Operations Demo", "DE02100500000054540402", "BELADEBEXXX")
CREATED = datetime(2026, 12, 15, 7, 0, tzinfo=UTC)
D = Decimal


def _debits() -> list[DirectDebit]:
    agent = Party("Agent Two Logistics Ltd", "DE02500105170137075030", "INGDDEFFXXX")
    return [
        DirectDebit(
            "CASS-DE-20261101M-12345620022",
            D("847.75"),
            agent,
            "AGENT2-DD-0001",
            date(2026, 1, 2),
            "CORE",
            "FRST",
            "CASS DE 20261101M 12345620022",
        ),
        DirectDebit(
            "CASS-DE-20261101M-23470068510",
            D("1200.10"),
            agent,
            "AGENT1-DD-0001",
            date(2025, 5, 2),
            "CORE",
            "RCUR",
            "CASS DE 20261101M 23470068510",
        ),
        DirectDebit(
            "CASS-DE-20261101M-12345620033",
            D("10.00"),
            agent,
            "B2B-7",
            date(2025, 5, 2),
            "B2B",
            "RCUR",
            "CASS DE 20261101M 12345620033",
        ),
    ]


@pytest.mark.parametrize("version", PAIN008)
def test_direct_debits(version: str) -> None:
    data = encode_pain008(
        version,
        "CASS-DE-20261101M-DD",
        CREATED,
        OFFICE,
        "DE98ZZZ09999999999",
        date(2026, 12, 20),
        _debits(),
    )
    assert data == encode_pain008(
        version,
        "CASS-DE-20261101M-DD",
        CREATED,
        OFFICE,
        "DE98ZZZ09999999999",
        date(2026, 12, 20),
        _debits(),
    )
    schema = xmlschema.XMLSchema(str(XSD / f"{version}.xsd"))
    doc = schema.to_dict(data.decode())
    body = doc["CstmrDrctDbtInitn"]
    assert D(str(body["GrpHdr"]["CtrlSum"])) == D("2057.85") and body["GrpHdr"]["NbOfTxs"] == "3"
    blocks = {(b["PmtTpInf"]["LclInstrm"]["Cd"], b["PmtTpInf"]["SeqTp"]): b for b in body["PmtInf"]}
    assert sorted(blocks) == [("B2B", "RCUR"), ("CORE", "FRST"), ("CORE", "RCUR")]
    assert (
        blocks[("CORE", "FRST")]["DrctDbtTxInf"][0]["DrctDbtTx"]["MndtRltdInf"]["MndtId"]
        == "AGENT2-DD-0001"
    )


@pytest.mark.parametrize("version", PAIN001)
def test_credit_transfers(version: str) -> None:
    airline = Party("Demo Air AG", "DE89370400440532013000", "COBADEFFXXX")
    transfers = [
        CreditTransfer(
            "CASS-DE-20261101M-997", D("4063.39"), airline, "CASS DE 20261101M settlement 997"
        )
    ]
    data = encode_pain001(
        version, "CASS-DE-20261101M-PAY", CREATED, OFFICE, date(2026, 12, 22), transfers
    )
    schema = xmlschema.XMLSchema(str(XSD / f"{version}.xsd"))
    block = schema.to_dict(data.decode())["CstmrCdtTrfInitn"]["PmtInf"][0]
    (tx,) = block["CdtTrfTxInf"]
    assert (
        D(str(tx["Amt"]["InstdAmt"]["$"])) == D("4063.39")
        and tx["Amt"]["InstdAmt"]["@Ccy"] == "EUR"
    )
    assert tx["CdtrAcct"]["Id"]["IBAN"] == "DE89370400440532013000"
    bic = "BIC" if version.endswith("03") else "BICFI"
    assert tx["CdtrAgt"]["FinInstnId"][bic] == "COBADEFFXXX"
