"""CASS Import through the ledger: an import file booked in DE-I, netted to the cent, closed
independently of the export period of the same country (the demo configures both)."""

from __future__ import annotations

import argparse
import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from opencass.cli.period import cmd_period
from opencass.cli.samples import DEMO_AGENTS, DEMO_CONSIGNEE, sample_import_file
from opencass.codecs import hot, onerecord
from opencass.config import load_config
from opencass.config.model import Config
from opencass.gateway.assess import assess
from opencass.model import BillingFile, BillingHeader, Dialect, ImportRecord, awb_check_digit
from opencass.settlement.close import stamp_of
from opencass.settlement.netting import settle
from opencass.store import open_store
from tests.kit.gateway import (
    PERIOD_CODE,
    PERIOD_START,
    TODAY,
    init_demo_store,
    job,
    sample_bytes,
    spooled,
)

AT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def demo_config(tmp_path: Path, countries: str = "") -> Config:
    """The demo with Germany's CASS Import operation DE-I (``demo init --with-import``);
    ``countries``: more of ``countries.toml``."""
    init_demo_store(tmp_path / "config", today=TODAY, imports=True)
    path = tmp_path / "config" / "countries.toml"
    path.write_text(path.read_text("utf-8") + countries, "utf-8")
    return load_config(tmp_path / "config")


def _stamp(config: Config) -> str:
    """A final close's documents are dated at the period's Billing Availability."""
    period = next(p for p in config.calendars["DE-I"] if p.code == PERIOD_CODE)
    return stamp_of(period.billing_available)


def _rec(rid: str, serial7: str, currency: str = "EUR", rate: str = "0", **amounts: str) -> Any:
    charges = dict.fromkeys(
        ("weight_charges", "charges_due_agent", "charges_due_carrier", "fee", "handling_charges",
         "storage_charges", "other_charge_1", "other_charge_2", "miscellaneous_charges"),
        Decimal("0.00"),
    )  # fmt: skip
    charges.update({k: Decimal(v) for k, v in amounts.items() if k != "fee_charged"})
    day = PERIOD_START.replace(day=10)
    return ImportRecord(
        rid, DEMO_CONSIGNEE, "997", serial7 + str(awb_check_digit(serial7)), "JFK", "FRA",
        "DE0401", day, day, Decimal("100.0"), "K", currency, Decimal(rate),
        fee_charged=amounts.get("fee_charged", "Y"), other_charge_1_code="",
        other_charge_2_code="", **charges,
    )  # fmt: skip


def _period_file(*records: ImportRecord) -> bytes:
    end = PERIOD_START.replace(day=28)
    header = BillingHeader("AA2", "DE", "", PERIOD_START, end, end, "01", "EUR", agent_code="")
    trailer = hot.build_trailer(header, records, Dialect.IMPORT, office="FRA")
    return hot.encode(BillingFile(Dialect.IMPORT, header, tuple(records), trailer))


# Hand-computed (EUR): the fee counts only where it is charged; USD converts at its rate.
HAND = (
    _rec("IBI", "3000001", weight_charges="1000.00", charges_due_carrier="50.00", fee="20.00",
         handling_charges="30.00"),  # 1100.00
    _rec("IBI", "3000002", weight_charges="200.00", fee="20.00", fee_charged="N",
         storage_charges="15.50"),  # 215.50: the fee is shown, not charged
    _rec("IBI", "3000003", "USD", "0.91234", weight_charges="100.00"),  # 91.234 -> 91.23
    _rec("IBO", "2999999", weight_charges="500.00"),  # an earlier AWB's correction:
    _rec("IBR", "2999999", weight_charges="350.00"),  # -150.00, a credit
)  # fmt: skip
EXPECTED = {
    "997-30000014": "1100.00",
    "997-30000025": "215.50",
    "997-30000036": "91.23",
    "997-29999992": "-150.00",
}
TOTAL = Decimal("1256.73")


@dataclass
class Booked:
    config: Config
    ids: list[str]


def _as_xml(data: bytes) -> bytes:
    """The same billing as a ONE Record XML submission."""
    decoded = hot.decode(data)
    assert decoded.file is not None
    return onerecord.encode_submission(decoded.file)


@pytest.fixture(params=["hot", "xml"])
async def booked(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Booked]:
    """The demo with the export sample booked in DE and the hand-computed file in DE-I (as HOT,
    then as XML: both formats book the same records)."""
    config = demo_config(tmp_path)
    store = await open_store(config.gateway.database)
    outcomes = []
    imports = _period_file(*HAND)
    if request.param == "xml":
        imports = _as_xml(imports)
    for file_id, data in (("F1", sample_bytes()), ("F2", imports)):
        path = await spooled(store, config, data, file_id=file_id, name=f"{file_id}.dat")
        summary = assess(job(config, path, file_id))
        outcomes.append((summary.outcome, summary.country, summary.period))
    assert await store.ledger_count("F2") == len(HAND)
    await store.close()
    assert outcomes == [("accepted", "DE", PERIOD_CODE), ("accepted", "DE-I", PERIOD_CODE)]
    yield Booked(config, ["F1", "F2"])


def _close(config: Config, country: str) -> tuple[int, str]:
    args = argparse.Namespace(
        config="unused", period_command="close", country=country, period=PERIOD_CODE,
        final=True, force=False, dry_run=False, at=None,
    )  # fmt: skip
    out = io.StringIO()
    return cmd_period(args, config=config, now=AT, out=out), out.getvalue()


def _csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text("utf-8"))))


def _outbox(config: Config, company: str) -> Path:
    return config.gateway.mailboxes_dir / company / "outbox"


async def test_an_import_period_nets_to_the_cent(booked: Booked) -> None:
    config = booked.config
    stamp = _stamp(config)
    code, out = _close(config, "DE-I")
    assert code == 0, out
    rows = _csv(_outbox(config, "agent1") / f"{stamp}_statement_{PERIOD_CODE}_{DEMO_CONSIGNEE}.csv")
    items = {r[1]: (r[2], r[4]) for r in rows[1:] if r[1]}
    assert items == {
        awb: ("IBC" if awb == "997-29999992" else "IBI", amount) for awb, amount in EXPECTED.items()
    }
    assert rows[-1] == ["", "", "TOTAL", "", str(TOTAL), "EUR"]
    settlement = _csv(_outbox(config, "demoair") / f"{stamp}_settlement_{PERIOD_CODE}_997.csv")
    assert settlement[1] == [DEMO_CONSIGNEE, "4", str(TOTAL), "EUR"]
    assert settlement[-1] == ["TOTAL", "", str(TOTAL), "EUR"]
    assert "difference 0.00 OK" in out
    # the consignee's hand-off file is an import file of its records, read by our reader
    handoff = _outbox(config, "agent1") / f"{stamp}_handoff_{PERIOD_CODE}_{DEMO_CONSIGNEE}.hot"
    back = hot.decode(handoff.read_bytes())
    assert back.valid and back.file is not None, [f.as_dict() for f in back.findings]
    assert back.file.header.record_id == "AA2" and back.file.header.recipient == DEMO_CONSIGNEE
    assert sorted(r.awb for r in back.file.imports) == sorted(list(EXPECTED)[:3])
    assert len(back.file.import_corrections) == 1
    # the Cargo Sales Report equivalent and the invoice are there too
    names = {p.name for p in _outbox(config, "agent1").iterdir()}
    for kind in ("salesreport", "invoice"):
        assert f"{stamp}_{kind}_{PERIOD_CODE}_{DEMO_CONSIGNEE}.pdf" in names


async def test_export_and_import_periods_close_independently(booked: Booked) -> None:
    config = booked.config
    stamp = _stamp(config)
    assert _close(config, "DE-I")[0] == 0
    agent1 = _outbox(config, "agent1")
    export_statement = agent1 / f"{stamp}_statement_{PERIOD_CODE}_{DEMO_AGENTS[0]}.csv"
    import_statement = agent1 / f"{stamp}_statement_{PERIOD_CODE}_{DEMO_CONSIGNEE}.csv"
    assert import_statement.exists() and not export_statement.exists()  # DE is still open
    before = import_statement.read_bytes()
    code, out = _close(config, "DE")
    assert code == 0, out
    kinds = {r[2] for r in _csv(export_statement)[1:]}
    assert kinds <= {"AWB", "CCA", "SUBTOTAL", "VAT_BASE", "VAT", "TOTAL"}  # no import item
    assert import_statement.read_bytes() == before
    assert str(TOTAL) not in out  # the export totals are the export file's alone
    # closing DE again is refused, DE-I's close is its own
    assert _close(config, "DE")[0] != 0 and _close(config, "DE-I")[0] != 0


async def test_an_import_record_of_an_airline_not_billed_for_is_rejected(tmp_path: Path) -> None:
    config = demo_config(tmp_path)
    store = await open_store(config.gateway.database)
    other = _rec("IBI", "3000004", weight_charges="10.00")
    foreign = ImportRecord(**{**{f: getattr(other, f) for f in other.__slots__},  # type: ignore[attr-defined]
                              "airline_prefix": "020"})  # fmt: skip
    path = await spooled(store, config, _period_file(HAND[0], foreign))
    summary = assess(job(config, path))
    assert summary.outcome == "partially_accepted"
    codes = [(f.code, f.line) for f in await store.findings("F1")]
    assert codes == [("AWB_PREFIX_NOT_OWNED", 3)]
    assert await store.ledger_count("F1") == 1
    await store.close()


def test_the_demo_sample_import_file_bills_the_fee_only_where_charged() -> None:
    f = sample_import_file(PERIOD_START)
    result = hot.decode(hot.encode(f))
    assert result.valid and result.file is not None and result.file.header.operation == "DE-I"
    assert [(r.fee_charged, r.fee) for r in result.file.imports] == [
        ("Y", Decimal("25.00")), ("N", Decimal("25.00")),
    ]  # fmt: skip
    settled = settle(result.file.imports, "EUR")  # README step 7's figures
    assert [it.amount for it in settled.items] == [Decimal("1460.00"), Decimal("320.00")]
    assert settled.agents[0].total == Decimal("1780.00")


async def test_the_operations_own_import_terms_net_the_close_and_its_documents(
    tmp_path: Path,
) -> None:
    # DE-I does not bill the import fee: 1256.73 less record 1's charged 20.00
    terms = [
        "weight_charges",
        "charges_due_agent",
        "charges_due_carrier",
        "handling_charges",
        "storage_charges",
        "other_charge_1",
        "other_charge_2",
        "miscellaneous_charges",
    ]
    config = demo_config(
        tmp_path, f"\n[countries.DE-I.netting]\nimport = {terms!r}\n".replace("'", '"')
    )
    store = await open_store(config.gateway.database)
    path = await spooled(store, config, _period_file(*HAND))
    assert assess(job(config, path)).outcome == "accepted"
    await store.close()
    code, out = _close(config, "DE-I")
    assert code == 0, out
    stamp, total = _stamp(config), TOTAL - Decimal("20.00")
    agent1 = _outbox(config, "agent1")
    rows = _csv(agent1 / f"{stamp}_statement_{PERIOD_CODE}_{DEMO_CONSIGNEE}.csv")
    assert rows[-1] == ["", "", "TOTAL", "", str(total), "EUR"]
    assert {r[1]: r[4] for r in rows[1:] if r[1]}["997-30000014"] == "1080.00"
    invoice = (agent1 / f"{stamp}_invoice_{PERIOD_CODE}_{DEMO_CONSIGNEE}.xml").read_text()
    assert f'<cbc:PayableAmount currencyID="EUR">{total}</cbc:PayableAmount>' in invoice
    # the sales report re-nets the rows under the same terms (it refuses to differ)
    assert (agent1 / f"{stamp}_salesreport_{PERIOD_CODE}_{DEMO_CONSIGNEE}.csv").exists()
    assert "difference 0.00 OK" in out
