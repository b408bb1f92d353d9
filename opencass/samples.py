"""Small, realistic sample billing files for the demo and for trying the codecs by hand."""

from __future__ import annotations

import calendar
from datetime import date
from decimal import Decimal
from pathlib import Path

from opencass.codecs import hot
from opencass.model import (
    AwbRecord,
    BillingFile,
    BillingHeader,
    CorrectionRecord,
    Dialect,
    OtherCharge,
    OtherChargesRecord,
)

DEMO_AIRLINE_PREFIX = "997"
DEMO_AGENTS = ("23470068510", "12345620022")


def _awb(serial: str, agent: str, weight_charge: str, executed: date, **kw: object) -> AwbRecord:
    values: dict[str, object] = {
        "record_id": "AWM",
        "branch": "",
        "vat_indicator": "N",
        "airline_prefix": DEMO_AIRLINE_PREFIX,
        "awb_serial": serial,
        "modulus_check": "",
        "origin": "FRA",
        "agent_code": agent,
        "use_indicator": "R",
        "destination": "HKG",
        "execution_date": executed,
        "gross_weight": Decimal("1190.0"),
        "weight_unit": "K",
        "currency": "EUR",
        "weight_charge_prepaid": Decimal(weight_charge),
        "valuation_charge_prepaid": Decimal("0.00"),
        "other_charges_carrier_prepaid": Decimal("0.00"),
        "other_charges_agent_prepaid": Decimal("0.00"),
        "weight_charge_collect": Decimal("0.00"),
        "valuation_charge_collect": Decimal("0.00"),
        "other_charges_carrier_collect": Decimal("0.00"),
        "other_charges_agent_collect": Decimal("0.00"),
        "commission_percentage": Decimal("5.00"),
        "commission": (Decimal(weight_charge) * Decimal("0.05")).quantize(Decimal("0.01")),
        "agent_reference": f"REF{serial}",
        "acceptance_date": executed,
        "rate_of_exchange": Decimal("0.00000"),
        "discount": Decimal("0.00"),
        "tax_due_airline": Decimal("0.00"),
        "tax_due_agent": Decimal("0.00"),
    }
    values.update(kw)
    return AwbRecord(**values)  # type: ignore[arg-type]


def sample_billing_file(period_start: date) -> BillingFile:
    """A valid hand-off billing file of the demo airline (prefix 997) for two demo agents,
    for the monthly period starting ``period_start`` (default: this month's)."""
    period_end = period_start.replace(
        day=calendar.monthrange(period_start.year, period_start.month)[1]
    )
    d = period_start.replace(day=14)
    agent1, agent2 = DEMO_AGENTS
    awb1 = _awb(
        "62144154",
        agent1,
        "3462.90",
        d,
        other_charges_carrier_prepaid=Decimal("180.88"),
        discount=Decimal("-120.00"),
    )
    awb2 = _awb("10000012", agent2, "845.00", d, destination="JFK")
    awb3 = _awb(
        "10000023",
        agent1,
        "0.00",
        d,
        weight_charge_prepaid=Decimal("0.00"),
        weight_charge_collect=Decimal("1200.00"),
        other_charges_agent_collect=Decimal("25.00"),
        commission=Decimal("60.00"),
    )
    oc = OtherChargesRecord(
        "AW1",
        DEMO_AIRLINE_PREFIX,
        "62144154",
        "",
        (
            OtherCharge("MY", "C", "P", Decimal("150.88")),
            OtherCharge("SC", "C", "P", Decimal("30.00")),
        ),
    )

    def cca(rid: str, weight_charge: str) -> CorrectionRecord:
        return CorrectionRecord(
            record_id=rid,
            branch="",
            vat_indicator="N",
            airline_prefix=DEMO_AIRLINE_PREFIX,
            awb_serial="10000012",
            modulus_check="",
            origin="FRA",
            agent_code=agent2,
            reference="000001",
            currency="EUR",
            rate_of_exchange=Decimal("0.00000"),
            execution_date=d,
            weight_charge_pc="P",
            weight_charge=Decimal(weight_charge),
            valuation_charge_pc="P",
            valuation_charge=Decimal("0.00"),
            taxes_pc="P",
            taxes=Decimal("0.00"),
            other_charges_agent_pc="C",
            other_charges_agent=Decimal("0.00"),
            other_charges_carrier_pc="P",
            other_charges_carrier=Decimal("0.00"),
            vat_on_charges=Decimal("0.00"),
            commission=Decimal("0.00"),
            vat_on_commission=Decimal("0.00"),
            discount=Decimal("0.00"),
            weight_unit="K",
            gross_weight=Decimal("1190.0"),
            destination="JFK",
            reason="RATE CORRECTED",
        )

    records = (awb1, oc, awb2, awb3, cca("CCO", "800.00"), cca("CCR", "845.00"))
    header = BillingHeader(
        record_id="AAA",
        country="DE",
        airline_prefix=DEMO_AIRLINE_PREFIX,
        period_start=period_start,
        period_end=period_end,
        billing_date=period_end,
        file_number="01",
        currency="EUR",
        branch="",
        agent_code="",
    )
    trailer = hot.build_trailer(header, records, Dialect.HANDOFF, office="FRA")
    return BillingFile(Dialect.HANDOFF, header, records, trailer)


def write_samples(directory: Path, today: date) -> list[Path]:
    """Write ``billing-sample.hot`` (valid) and ``billing-broken.hot`` (with findings)."""
    directory.mkdir(parents=True, exist_ok=True)
    good = hot.encode(sample_billing_file(today.replace(day=1)))
    lines = good.decode("ascii").splitlines(keepends=True)
    lines[1] = lines[1][:8] + "62144155" + lines[1][16:]  # wrong AWB check digit
    lines[3] = lines[3][:56] + "00000X" + lines[3][62:]  # non-numeric amount
    paths = [directory / "billing-sample.hot", directory / "billing-broken.hot"]
    paths[0].write_bytes(good)
    paths[1].write_text("".join(lines[:-1]), encoding="ascii")  # and no trailer
    return paths
