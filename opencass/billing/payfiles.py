"""Payment files for the CASS office's bank: SEPA direct debit collections after a final close,
credit transfers paying the airlines at Settlement Day.

**Collections** (``pain.008``): after a period's final close, every agent whose payment option
for the period is ``direct_debit`` (``[company.banking.XX]``, a mandate) and who still owes
something (its statement total less what it paid already) is collected on Remittance Day from
its account, with the payment reference as remittance
information (so the bank's statement matches it like a transfer).  The first collection under
a mandate is ``FRST``, the later ones ``RCUR``.

**Payouts** (``pain.001``): at the start of Settlement Day each airline is paid what was
actually received for it: every agent's payments for the period (returns and reversals
deducted) shared among its statement's airlines (``settlement.payouts``), less what the airline
still owes back of earlier payouts (claims), never below zero.

Each run is kept in the store with every line (``store.payruns``) the first time; the file is
written into every operator company's outbox as ``<country>_<period>_<kind>_<version>.xml``
and ``opencass payment files`` writes the same bytes again from the store.  Without a
collection account (``[countries.XX.collection]``), or outside the euro (SEPA), nothing runs.
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import structlog

from opencass.codecs.iso20022.pain import (
    CreditTransfer,
    DirectDebit,
    Party,
    encode_pain001,
    encode_pain008,
)
from opencass.config.model import CompanyKind, Config, Country, find_period
from opencass.settlement.payouts import apply_claims, sequence_type, share_out
from opencass.settlement.remittance import format_reference
from opencass.store.connect import connect_sync, migrate_sync
from opencass.store.payruns import (
    RunLine,
    StoredRun,
    mandate_collected_before,
    net_paid,
    open_claims,
    remittance_lines,
    run_of,
    runs_of,
    save_run,
    use_claim,
)
from opencass.store.remittance import expected_agents, expected_row, payments_of
from opencass.store.rows import utc_stamp
from opencass.store.tx import transaction

__all__ = [
    "collect_direct_debits",
    "encode_run",
    "pay_airlines",
    "payment_files",
    "run_file_name",
]

log = structlog.get_logger("opencass.billing.payfiles")
COLLECTION, PAYOUT = "collection", "payout"


def _sepa(country: Country) -> bool:
    return country.collection is not None and country.currency == "EUR"


def _office(country: Country) -> dict[str, str]:
    assert country.collection is not None
    a = country.collection.account
    return {"name": a.holder, "iban": a.iban, "bic": a.bic}


def _debit_line(config: Config, conn: sqlite3.Connection, country: str, period: str,
                agent: str) -> RunLine | None:  # fmt: skip
    owner = next((c for c in config.companies.values() if c.kind is CompanyKind.AGENT
                  and agent in c.agent_codes.get(country, ())), None)  # fmt: skip
    banking = owner.banking.get(country) if owner else None
    if banking is None or banking.option_for(period) != "direct_debit":
        return None
    expected = expected_row(conn, country, period, agent)
    if expected is None or banking.mandate is None or not banking.account:
        return None
    paid = sum((a for a, _ in payments_of(conn, country, period, agent)), Decimal(0))
    amount = expected.amount - paid  # what the agent paid already is not collected again
    if amount <= 0:
        return None
    m, a = banking.mandate, banking.account
    seq = sequence_type(mandate_collected_before(conn, country, m.id, period))
    detail = {
        "end_to_end": f"CASS-{country}-{period}-{agent}", "name": a.holder, "iban": a.iban,
        "bic": a.bic, "mandate_id": m.id, "mandate_signed": m.signed.isoformat(),
        "scheme": m.scheme, "sequence": seq,
        "remittance": format_reference(country, period, agent),
    }  # fmt: skip
    return RunLine(agent, amount, detail)


def _collection(config: Config, conn: sqlite3.Connection, country: str, period: str,
                created: datetime) -> StoredRun | None:  # fmt: skip
    c, (_, p) = config.countries[country], find_period(config, country, period)
    lines = [
        line for agent in expected_agents(conn, country, period)
        if (line := _debit_line(config, conn, country, period, agent)) is not None
    ]  # fmt: skip
    if not lines or c.collection is None:
        return None
    return StoredRun(country, period, COLLECTION, c.collection.pain008,
                     f"CASS-{country}-{period}-DD", utc_stamp(created), p.remittance_day,
                     _office(c), c.collection.creditor_id, tuple(lines))  # fmt: skip


def _airline_accounts(config: Config, country: str) -> dict[str, tuple[str, Party]]:
    out = {}
    for c in config.companies.values():
        banking = c.banking.get(country)
        if c.kind is CompanyKind.AIRLINE and banking is not None and banking.account:
            a = banking.account
            for prefix in c.airline_prefixes.get(country, ()):
                out[prefix] = (c.id, Party(a.holder, a.iban, a.bic))
    return out


def _gross_payouts(conn: sqlite3.Connection, country: str, period: str) -> dict[str, Decimal]:
    gross: dict[str, Decimal] = {}
    lines = remittance_lines(conn, country, period)
    for agent, paid in sorted(net_paid(conn, country, period).items()):
        for prefix, share in share_out(paid, lines.get(agent, {})).items():
            gross[prefix] = gross.get(prefix, Decimal(0)) + share
    return gross


def _payout(config: Config, conn: sqlite3.Connection, country: str, period: str,
            created: datetime) -> StoredRun | None:  # fmt: skip
    c, (_, p) = config.countries[country], find_period(config, country, period)
    accounts, claims = _airline_accounts(config, country), open_claims(conn, country)
    lines = []
    for prefix, gross in sorted(_gross_payouts(conn, country, period).items()):
        mine = [(k.id, k.open) for k in claims if k.airline_prefix == prefix]
        net, uses = apply_claims(gross, mine)
        if prefix not in accounts:
            log.warning("payout_without_account", country=country, airline=prefix, amount=str(net))
            continue
        for claim_id, taken in uses:
            use_claim(conn, claim_id, period, taken)
        if net > 0:
            company, party = accounts[prefix]
            detail = {"end_to_end": f"CASS-{country}-{period}-{prefix}", "name": party.name,
                      "iban": party.iban, "bic": party.bic, "company": company,
                      "gross": str(gross), "claims": str(gross - net),
                      "remittance": f"CASS {country} {period} settlement {prefix}"}  # fmt: skip
            lines.append(RunLine(prefix, net, detail))
    if not lines or c.collection is None:
        return None
    return StoredRun(country, period, PAYOUT, c.collection.pain001,
                     f"CASS-{country}-{period}-PAY", utc_stamp(created), p.settlement_day,
                     _office(c), "", tuple(lines))  # fmt: skip


def encode_run(run: StoredRun) -> bytes:
    """The pain file of a stored run (the same bytes every time)."""
    office = Party(run.account["name"], run.account["iban"], run.account["bic"])
    created = datetime.fromisoformat(run.created_at)
    if run.kind == COLLECTION:
        debits = [
            DirectDebit(
                d["end_to_end"],
                line.amount,
                Party(d["name"], d["iban"], d["bic"]),
                d["mandate_id"],
                date.fromisoformat(d["mandate_signed"]),
                d["scheme"],
                d["sequence"],
                d["remittance"],
            )
            for line in run.lines
            for d in (line.detail,)
        ]
        return encode_pain008(run.version, run.msg_id, created, office, run.creditor_id,
                              run.due, debits)  # fmt: skip
    transfers = [
        CreditTransfer(
            line.detail["end_to_end"],
            line.amount,
            Party(line.detail["name"], line.detail["iban"], line.detail["bic"]),
            line.detail["remittance"],
        )
        for line in run.lines
    ]
    return encode_pain001(run.version, run.msg_id, created, office, run.due, transfers)


def run_file_name(run: StoredRun) -> str:
    """``DE_20261101M_collection_pain.008.001.02.xml``."""
    return f"{run.country}_{run.period}_{run.kind}_{run.version}.xml"


def _write(config: Config, run: StoredRun) -> list[Path]:
    """The run's file into every operator outbox, staged and renamed into place like the
    close's documents (no temporary file ever appears in a mailbox)."""
    from opencass.billing.closing import write_planned
    from opencass.settlement.close import PlannedDocument

    data = encode_run(run)
    operators = sorted(c.id for c in config.companies.values() if c.kind is CompanyKind.OPERATOR)
    planned = [PlannedDocument(cid, run_file_name(run), lambda: data) for cid in operators]
    return write_planned(config, planned)


def _run(config: Config, country: str, period: str, kind: str, created: datetime) -> list[Path]:
    if not _sepa(config.countries[country]):
        return []
    conn = connect_sync(config.gateway.database)
    try:
        migrate_sync(conn)
        with transaction(conn):
            run = run_of(conn, country, period, kind)
            if run is None:
                build = _collection if kind == COLLECTION else _payout
                run = build(config, conn, country, period, created)
                if run is not None:
                    save_run(conn, run)
    finally:
        conn.close()
    if run is None:
        return []
    log.info("payment_file", country=country, period=period, kind=kind, lines=len(run.lines))
    return _write(config, run)


def collect_direct_debits(
    config: Config, country: str, period: str, created: datetime
) -> list[Path]:
    """The period's direct debit collection, made once and written (blocking)."""
    return _run(config, country, period, COLLECTION, created)


def pay_airlines(config: Config, country: str, period: str, created: datetime) -> list[Path]:
    """The period's payout to the airlines, made once and written (blocking)."""
    return _run(config, country, period, PAYOUT, created)


def payment_files(config: Config, country: str, period: str) -> list[Path]:
    """Write the period's stored payment files again (the same bytes); blocking."""
    conn = connect_sync(config.gateway.database)
    try:
        migrate_sync(conn)
        runs = runs_of(conn, country, period)
    finally:
        conn.close()
    return [p for run in runs for p in _write(config, run)]
