"""The file-level values of a billing submission: header and trailer identity, both ways."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date
from typing import Any

from opencass.codecs.onerecord.vocab import CURRENCY, PREFIXES
from opencass.findings import Finding, Scope, finding
from opencass.model import IMPORT_HEADER_IDS, IMPORT_SUFFIX, BillingHeader, is_currency

__all__ = ["billing_period", "decode_header", "parse_period"]

_NS = {"cargo": PREFIXES["cargo"], "cass": PREFIXES["cass"]}
_RES = "{" + PREFIXES["rdf"] + "}resource"


def billing_period(start: date, end: date) -> str:
    """``2026-11`` for a whole calendar month, else ``2026-11-01/2026-11-15``."""
    last = calendar.monthrange(start.year, start.month)[1]
    if start.day == 1 and (end.year, end.month, end.day) == (start.year, start.month, last):
        return f"{start.year:04d}-{start.month:02d}"
    return f"{start.isoformat()}/{end.isoformat()}"


def parse_period(text: str) -> tuple[date, date]:
    """The first and last day of a ``cass:billingPeriod``; raises ValueError."""
    if "/" in text:
        first, _, last = text.partition("/")
        return date.fromisoformat(first), date.fromisoformat(last)
    start = date.fromisoformat(text + "-01")
    return start, start.replace(day=calendar.monthrange(start.year, start.month)[1])


def _local(el: Any) -> str:
    tag: str = el.tag
    return tag.rpartition("}")[2] if tag.startswith("{" + _NS["cass"]) else ""


def decode_header(
    head: list[Any], root_line: int | None
) -> tuple[BillingHeader | None, tuple[str, str, str, str], list[Finding]]:
    """(header, trailer (country, prefix, branch, office), findings) from the file-level values.

    The elements have passed the schema, so each one is present the number of times it may be.
    The header is None when a value cannot be read (then the last finding is HEADER_INVALID).
    """
    values: dict[str, Any] = {}
    for el in head:
        values[_local(el)] = el
    found: list[Finding] = []

    def text(name: str) -> str:
        el = values.get(name)
        return "" if el is None else str(el.text or "")

    def bad(code: str, field: str, message: str, el: Any) -> None:
        line = el.sourceline if el is not None else root_line
        found.append(finding(code, message, line=line, field=field, scope=Scope.FILE))

    prefix = _carrier_prefix(values.get("submittedBy"))
    record_id, country, agent_code = _operation(values, text, bad)
    if prefix and record_id in IMPORT_HEADER_IDS:
        why = "a CASS Import submission names no carrier: each record's prefix is checked"
        bad("HEADER_INVALID", "airline_prefix", why, values.get("submittedBy"))
    start, end, billed = _dates(text, bad)
    currency = _currency(values.get("currency"), bad)
    if end < start:
        why = f"billing period ends {end} before it starts {start}"
        bad("PERIOD_INVALID", "period_end", why, None)
    header = BillingHeader(
        record_id=record_id,
        country=country,
        airline_prefix=prefix,
        period_start=start,
        period_end=end,
        billing_date=billed,
        file_number=text("fileNumber"),
        currency=currency,
        branch=text("branchOfficeIndicator"),
        agent_code=agent_code,
    )
    trailer = _trailer(values.get("trailer"), header, text("cassOffice"))
    if any(f.code == "HEADER_INVALID" for f in found):
        found.sort(key=lambda f: f.code == "HEADER_INVALID")  # a HEADER_INVALID comes last
        return None, trailer, found
    return header, trailer, found


Bad = Callable[[str, str, str, Any], None]


def _operation(
    values: dict[str, Any], text: Callable[[str], str], bad: Bad
) -> tuple[str, str, str]:
    """(header record type, ISO country, billed party code) of the file-level values.

    ``cass:cassCountry`` names the CASS operation: ``DE`` for Germany's CASS Export, ``DE-I``
    for its Import (header record type ``AA2`` unless ``cass:recordType`` says ``AA3``).  An
    import file's billed party is a recipient code (``DE054000001``): the header keeps its nine
    digits as HOT does.
    """
    operation, record_id = text("cassCountry"), text("recordType")
    importing = operation.endswith(IMPORT_SUFFIX) or record_id in IMPORT_HEADER_IDS
    country = operation.removesuffix(IMPORT_SUFFIX)
    party = values.get("billedParty")
    recipient = "" if party is None else party.findtext("cargo:Company/cass:recipientCode", "", _NS)
    if not importing:
        if recipient:
            why = f"{recipient} is a CASS Import recipient code; this is an export submission"
            bad("HEADER_INVALID", "agent_code", why, party)
        code = (
            ""
            if party is None
            else party.findtext("cargo:Company/cargo:iataCargoAgentCode", "", _NS)
        )
        return record_id or "AAA", country, code
    record_id = record_id or IMPORT_HEADER_IDS[0]
    if record_id not in IMPORT_HEADER_IDS:
        why = (
            f"record type {record_id} is not a CASS Import header ({', '.join(IMPORT_HEADER_IDS)})"
        )
        bad("HEADER_INVALID", "record_id", why, values.get("recordType"))
    if recipient and recipient[:2] != country:
        why = f"recipient {recipient} is not in {country}"
        bad("HEADER_INVALID", "agent_code", why, party)
    if party is not None and not recipient:
        bad("HEADER_INVALID", "agent_code", "an import file's billed party is a recipient code",
            party)  # fmt: skip
    return record_id, country, recipient[2:]


def _dates(text: Callable[[str], str], bad: Bad) -> tuple[date, date, date]:
    """(period start, period end, billing date); ``date.min`` for one that cannot be read."""
    try:
        start, end = parse_period(text("billingPeriod"))
    except ValueError:
        bad("HEADER_INVALID", "period_start", "billing period is not a valid period", None)
        start = end = date.min
    try:
        billed = date.fromisoformat(text("billingDate"))
    except ValueError:
        bad("HEADER_INVALID", "billing_date", "billing date is not a valid date", None)
        billed = date.min
    if end < start:
        bad(
            "PERIOD_INVALID",
            "period_end",
            f"billing period ends {end} before it starts {start}",
            None,
        )
    return start, end, billed


def _currency(cur: Any, bad: Bad) -> str:
    """The ISO 4217 code of the currency element (its code-list IRI), or ""."""
    if cur is None:
        return ""
    iri = str(cur.get(_RES))
    currency = iri[len(CURRENCY) :] if iri.startswith(CURRENCY) else iri
    if not is_currency(currency):
        bad("CURRENCY_UNKNOWN", "currency", f"{iri} is not an ISO 4217 currency", cur)
    return currency


def _trailer(tr: Any, header: BillingHeader, office: str) -> tuple[str, str, str, str]:
    """(country, prefix, branch, office) of the file's trailer: its own values when it has
    one, else the header's."""
    if tr is None:
        return (header.country, header.airline_prefix, header.branch, office)
    node = tr.find("cass:FileTrailer", _NS)
    return (
        node.findtext("cass:cassCountry", "", _NS).removesuffix(IMPORT_SUFFIX),
        _carrier_prefix(node.find("cass:submittedBy", _NS)),
        node.findtext("cass:branchOfficeIndicator", "", _NS),
        office,
    )


def _carrier_prefix(submitted_by: Any) -> str:
    if submitted_by is None:
        return ""
    prefix: str = submitted_by.findtext("cargo:Carrier/cargo:prefix", "", _NS)
    return prefix
