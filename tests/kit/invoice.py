"""Shared set-up of the invoice tests: a demo config with invoicing, a booked VAT billing file."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from opencass.billing.closing import run_close
from opencass.cli.samples import DEMO_AGENTS, sample_billing_file
from opencass.codecs import hot
from opencass.config import load_config
from opencass.config.model import Config
from opencass.gateway.assess import assess
from opencass.model import AwbRecord, quantize
from opencass.settlement.close import CloseResult
from opencass.store import open_store
from tests.kit.gateway import PERIOD_START, demo_config, job, spooled

AT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
AGENT1, AGENT2 = DEMO_AGENTS
RATE = Decimal("0.19")

MENTIONS = {
    "en": "Mandatory mention: invoice issued by the CASS operator for the airlines.",
    "fr": "Mention obligatoire : facture émise par l'opérateur CASS pour les compagnies.",
    "es": "Mención obligatoria: factura emitida por el operador CASS por las aerolíneas.",
    "de": "Pflichtangabe: Rechnung des CASS-Betreibers für die Fluggesellschaften.",
    "zh": "法定说明：本发票由CASS运营方代表航空公司开具。",
    "ja": "法定記載事項：本請求書はCASS運営者が航空会社に代わり発行します。",
}

INVOICING = (
    """
[countries.DE.invoicing]
untaxed_category = "Z"

[countries.DE.invoicing.issuer_details]
legal_name = "CASS Deutschland GmbH"
address = "Unterschweinstiege 2-14, 60549 Frankfurt am Main"
tax_id = "DE812345673"
registration = "HRB 12345, Amtsgericht Frankfurt am Main"

[countries.DE.invoicing.payment_terms]
en = "Payable through CASS by Remittance Day, {due}."

[countries.DE.invoicing.mentions]
"""
    + "\n".join(f'{lang} = ["{text}"]' for lang, text in MENTIONS.items())
    + """

[[countries.DE.invoicing.tax]]
valid_from = 2020-01-01
charges_rate = "19"
commission_rate = 19
rounding = "half_up"
"""
)


def strip_invoicing(root: Path) -> Path:
    """``root``'s countries.toml without the demo's ``[countries.DE.invoicing]`` tables (they
    come last); the file."""
    countries = root / "countries.toml"
    text = countries.read_text("utf-8")
    countries.write_text(text.split("[countries.DE.invoicing]", 1)[0], "utf-8")
    return countries


def invoicing_config(tmp_path: Path, agent2_language: str = "en") -> Config:
    """The demo configuration with ``[countries.DE.invoicing]`` of the older form (19 % on
    charges and commission, whatever the shipment) instead of the demo's German rules."""
    demo_config(tmp_path)
    root = tmp_path / "config"
    countries = strip_invoicing(root)
    countries.write_text(countries.read_text("utf-8") + INVOICING, "utf-8")
    agent2 = root / "participants" / "agent2.toml"
    text = re.sub(r"languages = \[[^\]]*\]", f'languages = ["{agent2_language}"]',
                  agent2.read_text("utf-8"))  # fmt: skip
    agent2.write_text(text, "utf-8")
    return load_config(root)


def vat_billing_file(*, credit_agent2: bool = False) -> bytes:
    """The demo sample with VAT indicator Y and 19 % tax on charges and on commission.

    ``credit_agent2``: agent 2's AWB carries large collect charges due agent, so its period
    ends in credit (a credit note)."""
    f = sample_billing_file(PERIOD_START)
    records = []
    for r in f.records:
        if isinstance(r, AwbRecord):
            if credit_agent2 and r.agent_code == AGENT2:
                r = replace(
                    r,
                    weight_charge_prepaid=Decimal("100.00"),
                    commission=Decimal("5.00"),
                    other_charges_agent_collect=Decimal("400.00"),
                )
            charges = (
                r.weight_charge_prepaid
                + r.valuation_charge_prepaid
                + r.other_charges_carrier_prepaid
                + r.discount
            )
            agent = r.commission + r.other_charges_agent_collect
            r = replace(
                r,
                vat_indicator="Y",
                tax_due_airline=quantize(charges * RATE, "EUR"),
                tax_due_agent=quantize(agent * RATE, "EUR"),
            )
        records.append(r)
    return hot.encode(replace(f, records=tuple(records)))


async def book_and_close(config: Config, data: bytes) -> CloseResult:
    """Book ``data`` (a billing file of the demo airline) and close its period."""
    store = await open_store(config.gateway.database)
    path = await spooled(store, config, data)
    outcome = assess(job(config, path)).outcome
    await store.close()
    assert outcome == "accepted", outcome
    from tests.kit.gateway import PERIOD_CODE

    return run_close(config, "DE", PERIOD_CODE, AT)


def pdf_text(data: bytes, tmp_path: Path) -> str:
    """The text of a PDF (pdftotext), every kind of white space removed."""
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True).stdout
    return squeeze(out.decode("utf-8"))


def squeeze(text: str) -> str:
    """``text`` without white space (pdftotext breaks lines and spaces as it sees fit)."""
    return re.sub(r"\s+", "", text.replace("\u00a0", " ").replace("\u202f", " "))
