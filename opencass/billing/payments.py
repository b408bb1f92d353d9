"""Bank statements in the operator's inbox: ISO 20022 camt.053 and camt.054 message handlers.

Theory of operation
-------------------
The operator company drops the bank's camt.053 statements and camt.054 credit notifications of
the CASS collection account into its inbox.  Each file is a message (``opencass.gateway.
messages``): it runs in a worker process inside the file's transaction.

1. Only a company of kind ``operator`` may send them (``PAYMENT_SENDER_NOT_OPERATOR``).
2. The document is validated against the official XSD of its version and read
   (``opencass.codecs.iso20022``); a document that violates it is rejected whole
   (``CAMT_SCHEMA_INVALID``) and nothing is recorded.
3. Booked credit entries that are not reversals become payments; debits, pending and
   information-only entries are counted and ignored.
4. Matching, by the **payment reference** in the remittance information (structured creditor
   reference ``Strd/CdtrRefInf/Ref`` and unstructured ``Ustrd``, both searched):
   ``CASS <country> <period> <agent code>``, e.g. ``CASS DE 20261101M 23470068510`` (case and
   separators free).  Failing that, an 11-digit agent code of a configured agent in the text
   names the agent; the country is the one where the agent holds that code and whose currency
   is the payment's, the period the oldest expected remittance still outstanding
   (``resolve_period``).  A payment that names no agent, or whose currency is not the
   country's, is recorded **unmatched** (warning) and listed by ``opencass payment status``
   for the operator, who can record it by hand.  Debtor names and accounts are kept for the
   operator but not used to match (no participant's bank account is configured).
5. A bank transaction is recorded once: its key is the account and the bank's reference
   (``CamtEntry.key``), the same in the camt.054 notification and in the camt.053 statement
   that books it.  Seen again, it is a ``PAYMENT_DUPLICATE`` warning and counts nothing.
6. Every matched payment reconciles its agent's period (``opencass.billing.remittance``):
   ``payment.received``, and a late payment's irregularity or a default, as events in the
   same transaction.
"""

from __future__ import annotations

import sqlite3
from datetime import date

from opencass.billing.messages import MessageContext, MessageHandler, MessageOutcome
from opencass.billing.remittance import local_today, payment_event, reconcile, resolve_period
from opencass.codecs.iso20022 import CAMT_VERSIONS, CamtEntry, CamtError, read_camt
from opencass.config.model import CompanyKind, Config
from opencass.events import Event
from opencass.findings import Finding, finding
from opencass.settlement.remittance import parse_reference
from opencass.store.remittance import NewPayment, has_expected, insert_payment

__all__ = ["assess_camt", "match_entry"]

_NS = "urn:iso:std:iso:20022:tech:xsd:"


def _agent_codes(config: Config) -> dict[str, list[str]]:
    """Agent code → the countries where a configured agent company holds it."""
    codes: dict[str, list[str]] = {}
    for c in config.companies.values():
        if c.kind is CompanyKind.AGENT:
            for country, held in c.agent_codes.items():
                for code in held:
                    codes.setdefault(code, []).append(country)
    return codes


def _currency_country(config: Config, currency: str) -> str | None:
    found = [code for code, c in config.countries.items() if c.currency == currency]
    return found[0] if len(found) == 1 else None


def match_entry(
    conn: sqlite3.Connection, config: Config, entry: CamtEntry, today: date
) -> tuple[str | None, str | None, str | None, str, Finding | None]:
    """(country, period, agent code, matched_by, finding) of a credit entry (see the module
    docstring); the finding is a warning to report, or None."""
    where = f"entry {entry.position} ({entry.amount} {entry.currency}, value {entry.value_date})"
    codes = _agent_codes(config)
    ref = parse_reference(entry.remittance_text, sorted(codes))
    if ref is None:
        return (
            _currency_country(config, entry.currency),
            None,
            None,
            "none",
            finding(
                "PAYMENT_UNMATCHED",
                f"{where}: no payment reference (CASS <country> <period> <agent>) or agent"
                f" code in {entry.remittance_text[:140]!r}; debtor {entry.debtor!r}",
                line=entry.line,
                record_type="Ntry",
            ),
        )
    country = ref.country
    if country is None:
        held = [
            c
            for c in codes.get(ref.agent_code, [])
            if c in config.countries and config.countries[c].currency == entry.currency
        ]
        country = held[0] if len(set(held)) == 1 else None
    if country is None or country not in config.countries:
        return (
            _currency_country(config, entry.currency),
            None,
            None,
            "none",
            finding(
                "PAYMENT_UNMATCHED",
                f"{where}: agent {ref.agent_code} is not a CASS agent of one country"
                f" in {entry.currency}",
                line=entry.line,
                record_type="Ntry",
            ),
        )
    if config.countries[country].currency != entry.currency:
        return (
            country,
            None,
            None,
            "none",
            finding(
                "PAYMENT_CURRENCY_MISMATCH",
                f"{where}: {country} settles in {config.countries[country].currency}",
                line=entry.line,
                record_type="Ntry",
            ),
        )
    known = {p.code for p in config.calendars.get(country, ())}
    period = ref.period if ref.period in known else None
    matched_by = "reference" if period else "agent-code"
    if period is None:
        period = resolve_period(conn, country, ref.agent_code, today)
    expected = period is not None and has_expected(conn, country, period, ref.agent_code)
    if not expected and country not in codes.get(ref.agent_code, []):
        return (
            country,
            None,
            None,
            "none",
            finding(
                "PAYMENT_UNMATCHED",
                f"{where}: agent {ref.agent_code} is not a CASS agent of {country}",
                line=entry.line,
                record_type="Ntry",
            ),
        )
    note = None
    if not expected:
        note = finding(
            "PAYMENT_NOT_EXPECTED",
            f"{where}: no final billing of {country} {period or '(any period)'} expects a"
            f" payment from agent {ref.agent_code}; recorded for it",
            line=entry.line,
            record_type="Ntry",
        )
    return country, period, ref.agent_code, matched_by, note


def assess_camt(ctx: MessageContext) -> MessageOutcome:
    """Record the payments of a camt.053 or camt.054 document (the handler)."""
    company = ctx.config.companies.get(ctx.company)
    if company is None or company.kind is not CompanyKind.OPERATOR:
        return MessageOutcome(
            "rejected",
            [finding("PAYMENT_SENDER_NOT_OPERATOR", f"{ctx.company} is not the CASS operator")],
        )
    try:
        statement = read_camt(ctx.root)
    except CamtError as e:
        return MessageOutcome("rejected", [finding("CAMT_SCHEMA_INVALID", str(e), line=e.line)])
    findings: list[Finding] = []
    events: list[Event] = []
    counts = dict.fromkeys(
        ("entries", "ignored", "payments", "matched", "unmatched", "duplicates"), 0
    )
    counts["entries"] = len(statement.entries)
    touched: set[tuple[str, str, str]] = set()
    countries: set[str] = set()
    for entry in statement.entries:
        if not (entry.credit and entry.booked) or entry.reversal or entry.amount <= 0:
            counts["ignored"] += 1
            continue
        value = entry.value_date or entry.booking_date
        if value is None:  # the XSDs make ValDt or BookgDt optional; a booked credit has one
            value = ctx.now.date()
        country, period, agent, matched_by, note = match_entry(
            ctx.conn, ctx.config, entry, ctx.now.date()
        )
        if entry.batch:
            findings.append(
                finding(
                    "PAYMENT_BATCH_WHOLE",
                    f"entry {entry.position}: a batch whose transactions carry no amounts of"
                    f" their own; recorded as one payment of {entry.amount} {entry.currency}",
                    line=entry.line,
                    record_type="Ntry",
                )
            )
        key = entry.key
        payment = NewPayment(
            key=f"camt:{key}" if key else f"camt:{ctx.file_id}:{entry.position}",
            source=statement.kind,
            amount=entry.amount,
            currency=entry.currency,
            value_date=value,
            country=country,
            period=period,
            agent_code=agent,
            matched_by=matched_by,
            file_id=ctx.file_id,
            booking_date=entry.booking_date,
            reference=entry.remittance_text[:500],
            debtor=entry.debtor,
            debtor_account=entry.debtor_account,
            account=entry.account,
            recorded_by=ctx.user,
        )
        payment_id = insert_payment(ctx.conn, payment, ctx.now)
        if payment_id is None:
            counts["duplicates"] += 1
            findings.append(
                finding(
                    "PAYMENT_DUPLICATE",
                    f"entry {entry.position}: bank transaction {payment.key} was recorded before",
                    line=entry.line,
                    record_type="Ntry",
                )
            )
            continue
        counts["payments"] += 1
        if note is not None:
            findings.append(note)
        if agent is None or country is None:
            counts["unmatched"] += 1
            continue
        counts["matched"] += 1
        countries.add(country)
        events += payment_event(ctx.config, payment, payment_id)
        if period is not None:
            touched.add((country, period, agent))
    for country, period, agent in sorted(touched):
        events += reconcile(
            ctx.conn,
            ctx.config,
            country,
            period,
            agent,
            local_today(ctx.config, country, ctx.now),
            ctx.now,
        )
    only = next(iter(countries)) if len(countries) == 1 else None
    return MessageOutcome("accepted", findings, events, counts, country=only)


def refuse_version(ctx: MessageContext) -> MessageOutcome:
    """The handler of camt versions opencass does not read: a clear answer, nothing recorded."""
    version = str(ctx.root.tag)[len(_NS) + 1 : -len("}Document")]
    supported = ", ".join(v for v in CAMT_VERSIONS if v[:8] == version[:8]) or "none"
    return MessageOutcome(
        "rejected",
        [
            finding(
                "CAMT_VERSION_UNSUPPORTED",
                f"{version} is not read here; send {version[:8]} as one of: {supported}",
            )
        ],
    )


# Every version the ISO 20022 catalogue publishes of the bank-to-customer reports: the ones
# opencass reads, and the rest, which get CAMT_VERSION_UNSUPPORTED (not "unknown message").
CAMT_MAX_BYTES = 64 << 20  # a day's statement of a busy collection account is a few megabytes
_CATALOGUE = tuple(f"camt.{k}.001.{n:02d}" for k in ("052", "053", "054") for n in range(1, 15))


def camt_handlers() -> tuple[MessageHandler, ...]:
    """Every camt.052/053/054 version: read, or refused with CAMT_VERSION_UNSUPPORTED."""
    return tuple(
        MessageHandler(
            f"{{{_NS}{version}}}Document",
            version[:8],
            assess_camt if version in CAMT_VERSIONS else refuse_version,
            CAMT_MAX_BYTES,
        )
        for version in _CATALOGUE
    )
