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
3. Booked credit entries that are not reversals become payments; a booked debit that reverses
   (``RvslInd``) or returns (``RtrInf/Rsn``: AM04, MD06, ...) an agent's payment is recorded as
   a negative payment of that agent and period (``returned``); other debits, pending and
   information-only entries are counted and ignored.  A credit quoting ``CASS <country> TOPUP
   <agent>`` tops up the agent's pre-funded account (no period).
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
from dataclasses import dataclass, field
from datetime import date

from opencass.billing.messages import MessageContext, MessageHandler, MessageOutcome
from opencass.billing.remittance import payment_event, reconcile, resolve_period, returned_events
from opencass.codecs.iso20022 import CAMT_VERSIONS, CamtEntry, CamtError, read_camt
from opencass.config.model import CompanyKind, Config, local_today
from opencass.events import Event
from opencass.findings import Finding, finding
from opencass.settlement.remittance import (
    Reference,
    parse_end_to_end,
    parse_reference,
    parse_topup,
)
from opencass.store.payruns import mark_reverses, original_payment
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


Match = tuple[str | None, str | None, str | None, str, Finding | None]


def _on(entry: CamtEntry, code: str, text: str) -> Finding:
    """A finding about one entry of the statement."""
    return finding(code, text, line=entry.line, record_type="Ntry")


def _where(entry: CamtEntry) -> str:
    return f"entry {entry.position} ({entry.amount} {entry.currency}, value {entry.value_date})"


def _unmatched(country: str | None, entry: CamtEntry, code: str, why: str) -> Match:
    return country, None, None, "none", _on(entry, code, f"{_where(entry)}: {why}")


def _country_of(config: Config, ref: Reference, held: list[str], currency: str) -> str | None:
    """The country a reference names, or the one country where its agent pays in ``currency``."""
    if ref.country is not None:
        return ref.country
    found = [c for c in held if c in config.countries and config.countries[c].currency == currency]
    return found[0] if len(set(found)) == 1 else None


def match_entry(conn: sqlite3.Connection, config: Config, entry: CamtEntry, today: date) -> Match:
    """(country, period, agent code, matched_by, finding) of a credit entry (see the module
    docstring); the finding is a warning to report, or None."""
    codes = _agent_codes(config)
    ref = parse_reference(entry.remittance_text, sorted(codes))
    by_currency = _currency_country(config, entry.currency)
    if ref is None:
        why = (
            "no payment reference (CASS <country> <period> <agent>) or agent code in"
            f" {entry.remittance_text[:140]!r}; debtor {entry.debtor!r}"
        )
        return _unmatched(by_currency, entry, "PAYMENT_UNMATCHED", why)
    agent = ref.agent_code
    country = _country_of(config, ref, codes.get(agent, []), entry.currency)
    if country is None or country not in config.countries:
        why = f"agent {agent} is not a CASS agent of one country in {entry.currency}"
        return _unmatched(by_currency, entry, "PAYMENT_UNMATCHED", why)
    currency = config.countries[country].currency
    if currency != entry.currency:
        why = f"{country} settles in {currency}"
        return _unmatched(country, entry, "PAYMENT_CURRENCY_MISMATCH", why)
    known = {p.code for p in config.calendars.get(country, ())}
    period = ref.period if ref.period in known else None
    matched_by = "reference" if period else "agent-code"
    if period is None:
        period = resolve_period(conn, country, agent, today)
    expected = period is not None and has_expected(conn, country, period, agent)
    if not expected and country not in codes.get(agent, []):
        why = f"agent {agent} is not a CASS agent of {country}"
        return _unmatched(country, entry, "PAYMENT_UNMATCHED", why)
    note = None
    if not expected:
        note = _on(
            entry,
            "PAYMENT_NOT_EXPECTED",
            f"{_where(entry)}: no final billing of {country} {period or '(any period)'} expects"
            f" a payment from agent {agent}; recorded for it",
        )
    return country, period, agent, matched_by, note


@dataclass(slots=True)
class _Tally:
    """What the payments of one statement came to."""

    findings: list[Finding] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("entries", "ignored", "payments", "matched", "unmatched", "duplicates"), 0
        )
    )
    touched: set[tuple[str, str, str]] = field(default_factory=set)  # country, period, agent
    countries: set[str] = field(default_factory=set)


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
    tally = _Tally()
    tally.counts["entries"] = len(statement.entries)
    for entry in statement.entries:
        if entry.booked and not entry.credit and (entry.reversal or entry.return_reason):
            returned(ctx, statement.kind, entry, tally)
        elif not (entry.credit and entry.booked) or entry.reversal or entry.amount <= 0:
            tally.counts["ignored"] += 1
        else:
            _record(ctx, statement.kind, entry, tally)
    for country, period, agent in sorted(tally.touched):
        today = local_today(ctx.config, country, ctx.now)
        tally.events += reconcile(ctx.conn, ctx.config, country, period, agent, today, ctx.now)
    only = next(iter(tally.countries)) if len(tally.countries) == 1 else None
    return MessageOutcome("accepted", tally.findings, tally.events, tally.counts, country=only)


def _match(ctx: MessageContext, entry: CamtEntry) -> Match:
    """A top-up of a pre-funded account (no period), else ``match_entry``."""
    topup = parse_topup(entry.remittance_text)
    if topup is not None and topup[0] in ctx.config.countries:
        return topup[0], None, topup[1], "top-up", None
    return match_entry(ctx.conn, ctx.config, entry, ctx.now.date())


def _record(ctx: MessageContext, source: str, entry: CamtEntry, tally: _Tally) -> None:
    """Record one booked credit as a payment, matched if it can be."""
    value = entry.value_date or entry.booking_date
    if value is None:  # the XSDs make ValDt or BookgDt optional; a booked credit has one
        value = ctx.now.date()
    country, period, agent, matched_by, note = _match(ctx, entry)
    if entry.batch:
        tally.findings.append(
            _on(
                entry,
                "PAYMENT_BATCH_WHOLE",
                f"entry {entry.position}: a batch whose transactions carry no amounts of their"
                f" own; recorded as one payment of {entry.amount} {entry.currency}",
            )
        )
    key = entry.key
    payment = NewPayment(
        key=f"camt:{key}" if key else f"camt:{ctx.file_id}:{entry.position}",
        source=source,
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
        tally.counts["duplicates"] += 1
        tally.findings.append(
            _on(
                entry,
                "PAYMENT_DUPLICATE",
                f"entry {entry.position}: bank transaction {payment.key} was recorded before",
            )
        )
        return
    tally.counts["payments"] += 1
    if note is not None:
        tally.findings.append(note)
    if agent is None or country is None:
        tally.counts["unmatched"] += 1
        return
    tally.counts["matched"] += 1
    tally.countries.add(country)
    tally.events += payment_event(ctx.config, payment, payment_id)
    if period is not None:
        tally.touched.add((country, period, agent))


def _returned_of(config: Config, entry: CamtEntry) -> Reference | None:
    """What a returned or reversed entry takes back: our direct debit's end-to-end id, else
    the payment reference in its remittance information."""
    found = parse_end_to_end(entry.end_to_end)
    if found is None:
        found = parse_reference(entry.remittance_text, sorted(_agent_codes(config)))
    return found if found is not None and found.period is not None else None


def returned(ctx: MessageContext, source: str, entry: CamtEntry, tally: _Tally) -> None:
    """A booked debit that reverses (``RvslInd``) or returns (``RtrInf``, e.g. AM04, MD06) an
    agent's payment: recorded as a negative payment of the same agent and period, an
    irregularity, and -- when the period's payout already went to the airlines -- a claim on
    them taken from their next payouts (``billing.payfiles``)."""
    ref = _returned_of(ctx.config, entry)
    reason = entry.return_reason or "reversal"
    if ref is None or ref.country not in ctx.config.countries or ref.period is None:
        tally.counts["ignored"] += 1
        why = f"{_where(entry)}: a {reason} that names no payment of an agent; left to the operator"
        tally.findings.append(_on(entry, "PAYMENT_UNMATCHED", why))
        return
    country, period, agent = ref.country, ref.period, ref.agent_code
    value = entry.value_date or entry.booking_date or ctx.now.date()
    key = entry.key or f"{ctx.file_id}:{entry.position}"
    back = NewPayment(
        key=f"camt:{key}:returned", source=f"{source}.return", amount=-entry.amount,
        currency=entry.currency, value_date=value, country=country, period=period,
        agent_code=agent, matched_by="return", file_id=ctx.file_id,
        booking_date=entry.booking_date, reference=f"{reason} {entry.remittance_text}"[:500],
        debtor=entry.debtor, account=entry.account, recorded_by=ctx.user,
    )  # fmt: skip
    payment_id = insert_payment(ctx.conn, back, ctx.now)
    if payment_id is None:
        tally.counts["duplicates"] += 1
        return
    original = original_payment(ctx.conn, country, period, agent, entry.amount)
    if original is not None:
        mark_reverses(ctx.conn, payment_id, original)
    tally.counts["returns"] = tally.counts.get("returns", 0) + 1
    tally.countries.add(country)
    tally.touched.add((country, period, agent))
    tally.events += returned_events(ctx.conn, ctx.config, back, reason, payment_id, ctx.now)


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
