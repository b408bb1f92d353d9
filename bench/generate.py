"""Deterministic generator of realistic CASS billing data (HOT, both dialects, and XML).

``python -m bench.generate --awbs N --agents M --airlines K --out DIR`` writes one billing file
per airline.  The same arguments always give the same bytes: every random choice comes from
one seeded ``random.Random``.  About 3 % of AWBs get a CCA (CCO/CCR pair), 1 % a DCM, 20 % an
itemised other-charges record (AW1), 2 % are void or service AWBs.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from opencass.codecs.hot.writer import HotWriter
from opencass.model import (
    ZERO,
    AwbRecord,
    BillingHeader,
    CorrectionRecord,
    DetailRecord,
    Dialect,
    OtherCharge,
    OtherChargesRecord,
)

AIRPORTS = (
    "FRA",
    "MUC",
    "DUS",
    "HAM",
    "CGN",
    "LEJ",
    "STR",
    "HKG",
    "JFK",
    "ORD",
    "PVG",
    "NRT",
    "DXB",
    "SIN",
    "GRU",
    "MEX",
    "LHR",
    "CDG",
    "AMS",
    "ICN",
)
DEFAULT_SEED = 20261122


@dataclass(frozen=True, slots=True)
class Spec:
    """What to generate."""

    awbs: int = 10_000
    agents: int = 500
    airlines: int = 10
    country: str = "DE"
    currency: str = "EUR"
    period_start: date = date(2026, 11, 1)
    period_end: date = date(2026, 11, 30)
    seed: int = DEFAULT_SEED
    agent_list: tuple[str, ...] = ()  # use these agent codes instead of generated ones


def agent_code(rng: random.Random) -> str:
    """A valid CASS agent code: IATA 7 digits + CASS 4 digits with check digit."""
    first10 = f"{rng.randrange(10**6, 10**7)}{rng.randrange(1000):03d}"
    return first10 + str(int(first10) % 7)


def serial(n: int) -> str:
    """The n-th AWB serial with its check digit."""
    seven = f"{n % 10**7:07d}"
    return seven + str(int(seven) % 7)


def airline_prefixes(k: int) -> list[str]:
    """K distinct three-digit airline prefixes."""
    return [f"{100 + (i * 37) % 900:03d}" for i in range(k)]


def _amount(rng: random.Random, lo: int, hi: int) -> Decimal:
    return Decimal(rng.randrange(lo * 100, hi * 100)).scaleb(-2)


def _awb(rng: random.Random, spec: Spec, prefix: str, n: int, agent: str) -> AwbRecord:
    use = "R" if rng.random() > 0.02 else rng.choice("SV")
    days = (spec.period_end - spec.period_start).days
    executed = spec.period_start + timedelta(days=rng.randrange(days + 1))
    prepaid = rng.random() < 0.8
    z = Decimal("0.00")
    weight_charge = _amount(rng, 50, 20_000) if use == "R" else z
    oc_carrier = _amount(rng, 0, 500) if use == "R" and rng.random() < 0.6 else z
    commission = (weight_charge * Decimal("0.05")).quantize(z)
    discount = (-_amount(rng, 1, 300) if rng.random() < 0.1 else z) if use == "R" else z
    orig, dest = rng.sample(AIRPORTS, 2)
    return AwbRecord(
        record_id="AWM",
        branch="",
        vat_indicator=rng.choice("YN"),
        airline_prefix=prefix,
        awb_serial=serial(n),
        modulus_check="",
        origin=orig,
        agent_code=agent,
        use_indicator=use,
        destination=dest,
        execution_date=executed,
        gross_weight=Decimal(rng.randrange(10, 500_000)).scaleb(-1),
        weight_unit="K",
        currency=spec.currency,
        weight_charge_prepaid=weight_charge if prepaid else z,
        valuation_charge_prepaid=z,
        other_charges_carrier_prepaid=oc_carrier if prepaid else z,
        other_charges_agent_prepaid=z,
        weight_charge_collect=z if prepaid else weight_charge,
        valuation_charge_collect=z,
        other_charges_carrier_collect=z if prepaid else oc_carrier,
        other_charges_agent_collect=_amount(rng, 5, 50) if not prepaid and use == "R" else z,
        commission_percentage=Decimal("5.00"),
        commission=commission,
        agent_reference=f"REF{n:08d}",
        acceptance_date=executed,
        rate_of_exchange=Decimal("0.00000"),
        discount=discount,
        tax_due_airline=z,
        tax_due_agent=z,
    )


def _itemise(awb: AwbRecord) -> OtherChargesRecord | None:
    groups = (
        ("C", "P", awb.other_charges_carrier_prepaid),
        ("C", "C", awb.other_charges_carrier_collect),
        ("A", "C", awb.other_charges_agent_collect),
    )
    charges: list[OtherCharge] = []
    for ent, pc, total in groups:
        if total:
            half = (total / 2).quantize(Decimal("0.01"))
            charges += [OtherCharge("MY", ent, pc, half), OtherCharge("SC", ent, pc, total - half)]
    if not charges:
        return None
    return OtherChargesRecord("AW1", awb.airline_prefix, awb.awb_serial, "", tuple(charges))


def _correction(awb: AwbRecord, rng: random.Random, kind: str, ref: int) -> list[CorrectionRecord]:
    o_id, r_id = ("CCO", "CCR") if kind == "CCA" else ("DCO", "DCR")
    wc = awb.weight_charge_prepaid or awb.weight_charge_collect
    pc = "P" if awb.weight_charge_prepaid else "C"
    revised = (wc * Decimal(rng.choice(("0.9", "1.1", "1.25")))).quantize(Decimal("0.01"))

    def rec(rid: str, weight_charge: Decimal) -> CorrectionRecord:
        return CorrectionRecord(
            record_id=rid,
            branch="",
            vat_indicator=awb.vat_indicator,
            airline_prefix=awb.airline_prefix,
            awb_serial=awb.awb_serial,
            modulus_check="",
            origin=awb.origin,
            agent_code=awb.agent_code,
            reference=f"{ref:06d}",
            currency=awb.currency,
            rate_of_exchange=Decimal("0.00000"),
            execution_date=awb.execution_date,
            weight_charge_pc=pc,
            weight_charge=weight_charge,
            valuation_charge_pc="P",
            valuation_charge=ZERO.scaleb(-2),
            taxes_pc="P",
            taxes=Decimal("0.00"),
            other_charges_agent_pc="C",
            other_charges_agent=Decimal("0.00"),
            other_charges_carrier_pc="P",
            other_charges_carrier=Decimal("0.00"),
            vat_on_charges=Decimal("0.00"),
            commission=(weight_charge * Decimal("0.05")).quantize(Decimal("0.01")),
            vat_on_commission=Decimal("0.00"),
            discount=Decimal("0.00"),
            weight_unit="K",
            gross_weight=awb.gross_weight,
            destination=awb.destination,
            reason="RATE CORRECTED" if kind == "CCA" else "",
        )

    return [rec(o_id, wc), rec(r_id, revised)]


def agent_codes(spec: Spec) -> list[str]:
    """The spec's agents: its ``agent_list`` when given, else ``agents`` generated codes."""
    if spec.agent_list:
        return list(spec.agent_list)
    rng = random.Random(spec.seed)
    return [agent_code(rng) for _ in range(spec.agents)]


def records(spec: Spec, prefix: str, count: int, first_serial: int) -> Iterator[DetailRecord]:
    """The detail records of one airline's billing file, deterministic for (spec, prefix)."""
    rng = random.Random(f"{spec.seed}-{prefix}")
    agents = agent_codes(spec)
    ref = 0
    for i in range(count):
        awb = _awb(rng, spec, prefix, first_serial + i, rng.choice(agents))
        yield awb
        if awb.use_indicator == "R" and rng.random() < 0.2 and (oc := _itemise(awb)):
            yield oc
        roll = rng.random()
        if awb.use_indicator == "R" and roll < 0.04:
            ref += 1
            yield from _correction(awb, rng, "CCA" if roll < 0.03 else "DCM", ref)


def header(spec: Spec, prefix: str, dialect: Dialect, file_number: int = 1) -> BillingHeader:
    """The billing-file header of one airline."""
    return BillingHeader(
        record_id="AAA" if dialect is Dialect.HANDOFF else "ALS",
        country=spec.country,
        airline_prefix=prefix,
        period_start=spec.period_start,
        period_end=spec.period_end,
        billing_date=spec.period_end + timedelta(days=15),
        file_number=f"{file_number:02d}",
        currency=spec.currency if dialect is Dialect.HANDOFF else "",
        branch="",
        agent_code="",
    )


def write_hot(
    path: Path, spec: Spec, prefix: str, count: int, dialect: Dialect, first_serial: int = 1
) -> int:
    """Write one airline's billing file with ``count`` AWBs; returns the number of lines."""
    w = HotWriter(header(spec, prefix, dialect), dialect)
    lines = 2
    with path.open("w", encoding="ascii", newline="") as out:
        out.write(w.header_line())
        buf: list[str] = []
        for rec in records(spec, prefix, count, first_serial):
            buf.append(w.line(rec))
            if len(buf) >= 10_000:
                out.write("".join(buf))
                lines += len(buf)
                buf.clear()
        out.write("".join(buf))
        lines += len(buf)
        out.write(w.trailer_line(office="FRA"))
    return lines


def write_all(out: Path, spec: Spec, dialect: Dialect) -> list[Path]:
    """One billing file per airline, AWBs shared out evenly."""
    out.mkdir(parents=True, exist_ok=True)
    prefixes = airline_prefixes(spec.airlines)
    per, extra = divmod(spec.awbs, spec.airlines)
    paths = []
    for i, prefix in enumerate(prefixes):
        path = out / f"{prefix}0111.{spec.country}E.{dialect}.hot"
        write_hot(path, spec, prefix, per + (i < extra), dialect)
        paths.append(path)
    return paths


def main() -> None:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--awbs", type=int, default=10_000)
    p.add_argument("--agents", type=int, default=500)
    p.add_argument("--airlines", type=int, default=10)
    p.add_argument("--dialect", choices=[d.value for d in Dialect], default="handoff")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--out", type=Path, default=Path("bench/out"))
    a = p.parse_args()
    spec = Spec(awbs=a.awbs, agents=a.agents, airlines=a.airlines, seed=a.seed)
    for path in write_all(a.out, spec, Dialect(a.dialect)):
        print(path)


if __name__ == "__main__":
    main()
