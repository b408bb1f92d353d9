"""The catalogue of finding codes, and the Finding record every validator returns.

Codes are stable: participants' systems and our tests key on them, never on message text.  A
code's severity is fixed here; its scope is ``file`` when the finding rejects the whole file
(framing, header, trailer, encoding, limits) and ``record`` when it rejects one record.  The
``docs/formats.md`` lists this catalogue (``python -m opencass.findings`` prints it as Markdown,
``--update-docs`` rewrites that table).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.StrEnum):
    """Errors reject (a record or the file); warnings never do."""

    ERROR = "error"
    WARNING = "warning"


class Scope(enum.StrEnum):
    """What a finding rejects when it is an error."""

    FILE = "file"
    RECORD = "record"


@dataclass(frozen=True, slots=True)
class Code:
    """A catalogue entry."""

    code: str
    severity: Severity
    scope: Scope
    summary: str


E, W = Severity.ERROR, Severity.WARNING
FILE, REC = Scope.FILE, Scope.RECORD

_ENTRIES = (
    # --- whole input -------------------------------------------------------------------------
    Code("FORMAT_UNKNOWN", E, FILE, "neither a HOT file nor an opencass XML message"),
    Code("FILE_EMPTY", E, FILE, "the file has no records"),
    Code("FILE_TOO_LARGE", E, FILE, "the file exceeds the size limit"),
    Code("TOO_MANY_RECORDS", E, FILE, "the file exceeds the record-count limit"),
    Code("FINDINGS_TRUNCATED", W, FILE, "more findings than the report lists; counts stay exact"),
    # --- HOT encoding ------------------------------------------------------------------------
    Code("ENCODING_NON_ASCII", E, FILE, "a byte outside ASCII"),
    Code("ENCODING_CONTROL_CHAR", E, FILE, "a control character (other than the line end)"),
    Code("LINE_TOO_LONG", E, FILE, "a line longer than 250 characters"),
    Code("LINE_BLANK", W, FILE, "an empty line, skipped"),
    # --- HOT framing -------------------------------------------------------------------------
    Code("HEADER_MISSING", E, FILE, "the first record is not a header (AAA/ALS/AA2/AA3)"),
    Code("HEADER_DUPLICATE", E, FILE, "a second header record"),
    Code("TRAILER_MISSING", E, FILE, "no trailer (TTT) record at the end"),
    Code("TRAILER_DUPLICATE", E, FILE, "a second trailer record"),
    Code("RECORD_AFTER_TRAILER", E, FILE, "records after the trailer"),
    Code("HEADER_INVALID", E, FILE, "a header field is malformed (see field and columns)"),
    Code("TRAILER_INVALID", E, FILE, "a trailer field is malformed (see field and columns)"),
    Code("PERIOD_INVALID", E, FILE, "billing period ends before it starts"),
    Code("TRAILER_COUNT_MISMATCH", E, FILE, "a trailer count differs from the records in the file"),
    Code("TRAILER_TOTAL_INCONSISTENT", E, FILE, "trailer total is not AWB + CCA + DCM counts"),
    Code("HASH_TOTAL_MISMATCH", W, FILE, "trailer hash total differs from opencass's algorithm"),
    # --- HOT record fields -------------------------------------------------------------------
    Code("RECORD_TYPE_UNKNOWN", E, REC, "record identifier not known in this dialect"),
    Code("FIELD_NOT_NUMERIC", E, REC, "a numeric field holds other characters"),
    Code("FIELD_REQUIRED", E, REC, "a mandatory field is blank"),
    Code("FIELD_INVALID_DATE", E, REC, "a date field is not a valid YYMMDD date"),
    Code("FIELD_INVALID_INDICATOR", E, REC, "an indicator holds a value outside its code list"),
    Code("FIELD_INVALID_RATE", E, REC, "rate of exchange not in the form 00000.00000 (0000.00000)"),
    Code("CURRENCY_UNKNOWN", E, REC, "not an ISO 4217 currency code"),
    Code("AWB_CHECK_DIGIT", E, REC, "AWB serial check digit (first seven digits mod 7) is wrong"),
    Code("AGENT_CHECK_DIGIT", E, REC, "agent code check digit (first ten digits mod 7) is wrong"),
    Code("AIRLINE_PREFIX_MISMATCH", E, REC, "record's airline prefix differs from the header's"),
    Code("EXCHANGE_RATE_MISSING", E, REC, "record currency differs from the file's, no rate given"),
    Code("AWB_DUPLICATE", E, REC, "the same AWB is billed twice in the file"),
    Code("CORRECTION_ORIGINAL_MISSING", E, REC, "a revised record (CCR/DCR) without its original"),
    Code("CORRECTION_REVISED_MISSING", E, REC, "an original record (CCO/DCO) without its revision"),
    Code("CORRECTION_DUPLICATE", E, REC, "the same correction record appears twice"),
    Code("RECIPIENT_CODE_INVALID", E, REC, "an import recipient code is not country + 9 digits"),
    Code("DELIVERY_BEFORE_ARRIVAL", E, REC, "an import record delivered before it arrived"),
    Code("CHARGES_ON_NON_REVENUE", W, REC, "a void or service AWB carries charges"),
    Code("TAX_MISMATCH", W, REC, "a record's tax differs from what the country's rules compute"),
    Code(
        "OTHER_CHARGES_TOTAL_MISMATCH", W, REC, "itemised other charges do not add up to the total"
    ),
    Code(
        "OTHER_CHARGES_ORPHAN", W, REC, "itemised other charges do not follow their AWB/correction"
    ),
    Code("OTHER_CHARGES_UNPARSED", W, REC, "itemised other-charges record kept verbatim"),
    # --- participant rules (the gateway's knowledge of participants and calendars) --------
    Code("COUNTRY_UNKNOWN", E, FILE, "the file's CASS country is not operated by this gateway"),
    Code("SUBMITTER_NOT_AIRLINE", E, FILE, "only airline companies submit billing files"),
    Code("PREFIX_NOT_OWNED", E, FILE, "the airline prefix does not belong to the submitter"),
    Code("COUNTRY_NOT_LIVE", E, FILE, "the CASS country is not live yet: only sandbox files"),
    Code("CURRENCY_NOT_OPERATION", E, FILE, "the file currency is not the CASS country's"),
    Code("PERIOD_UNKNOWN", E, FILE, "no billing period of the calendar matches the file's"),
    Code("PERIOD_CLOSED", E, FILE, "the period's Airline Input Upload Cut-Off has passed"),
    Code("AGENT_UNKNOWN", E, REC, "the agent code is not a CASS agent of that country"),
    Code(
        "AWB_PREFIX_NOT_OWNED",
        E,
        REC,
        "an import record of an airline the submitter does not bill for",
    ),
    # --- booking rules (an AWB billed once per country, dated within its period) ------------
    Code("EXECUTION_AFTER_PERIOD", E, REC, "the AWB was executed after the billing period's end"),
    Code("AWB_ALREADY_BILLED", E, REC, "an earlier file billed this AWB; changes come as CCA/DCM"),
    # --- withdrawal of a whole file (cass:WithdrawalRequest) ---------------------------------
    Code("WITHDRAWAL_UNKNOWN_FILE", E, FILE, "no submission has that file id or SHA-256"),
    Code("WITHDRAWAL_NOT_OWNER", E, FILE, "only the company that submitted a file withdraws it"),
    Code("WITHDRAWAL_NOT_BOOKED", E, FILE, "the file has nothing booked (rejected, sandbox, ...)"),
    Code("WITHDRAWAL_ALREADY_DONE", E, FILE, "the file was withdrawn before"),
    Code("WITHDRAWAL_AFTER_CUTOFF", E, FILE, "the period's upload cut-off has passed (or closed)"),
    # --- disputes (api:ChangeRequest / api:VerificationRequest) ------------------------------
    Code("DISPUTE_SENDER_NOT_AGENT", E, FILE, "only an agent company opens a dispute"),
    Code("DISPUTE_NOT_YOUR_CODE", E, FILE, "the requesting agent code is not one of the sender's"),
    Code("DISPUTE_UNKNOWN_PERIOD", E, FILE, "no such CASS country or period in the calendar"),
    Code("DISPUTE_PERIOD_FINAL", E, FILE, "the period's final billing is issued; no new dispute"),
    Code("DISPUTE_UNKNOWN_AWB", E, FILE, "the AWB is not billed in that country and period"),
    Code("DISPUTE_NOT_YOUR_AWB", E, FILE, "the AWB is billed to another agent"),
    Code("DISPUTE_AFTER_CUTOFF", E, FILE, "the period's Agent Correction Cut-Off has passed"),
    Code("DISPUTE_CURRENCY", E, FILE, "an amount is not in the period's currency"),
    Code("DISPUTE_AMOUNT_INVALID", E, FILE, "an amount is zero or not in whole minor units"),
    Code("DISPUTE_AMOUNT_MISMATCH", E, FILE, "disputed amount differs from billed minus corrected"),
    Code("DISPUTE_ALREADY_OPEN", E, FILE, "an open dispute of this agent covers the AWB already"),
    Code("DISPUTE_DUPLICATE_ID", E, FILE, "a dispute with this request IRI exists already"),
    Code("DISPUTE_UNKNOWN", E, FILE, "no dispute has this request IRI"),
    Code("DISPUTE_KIND_MISMATCH", E, FILE, "the answer's root differs from the request's"),
    Code("DISPUTE_NOT_YOUR_DISPUTE", E, FILE, "only the airline answers, only the agent revokes"),
    Code("DISPUTE_ANSWER_AFTER_CUTOFF", E, FILE, "the Airline Correction Response Cut-Off passed"),
    Code("DISPUTE_ALREADY_ANSWERED", E, FILE, "the dispute is accepted, rejected or revoked"),
    Code("DISPUTE_STATUS_INVALID", E, FILE, "a status the sender cannot set"),
    Code("DISPUTE_ANSWER_INCOMPLETE", E, FILE, "an acceptance lacks amount, a rejection comment"),
    Code("DISPUTE_NO_PERIOD", E, FILE, "the calendar has no open period to carry the adjustment"),
    Code("DUPLICATE_FILE", W, FILE, "the same bytes were received before; nothing booked again"),
    Code("INTERNAL_ERROR", E, FILE, "the gateway failed to process the file; it is kept"),
    # --- company administration (cass:UserAdministration) -------------------------------------
    Code("USER_ADMIN_REQUIRED", E, FILE, "only the company's administrators manage its users"),
    Code("USER_NOT_IN_COMPANY", E, REC, "the user belongs to another company"),
    Code("USER_UNKNOWN", E, REC, "no such user"),
    Code("USER_NAME_INVALID", E, REC, "user names: 1-64 of a-z 0-9 . _ -, starting alphanumeric"),
    Code("USER_NAME_TAKEN", E, REC, "user names are unique gateway-wide and never reused"),
    Code("USER_ROLE_INVALID", E, REC, "roles are admin, input, output, readonly; at least one"),
    Code("USER_LAST_ADMIN", E, REC, "the change would leave the company without administrator"),
    Code("USER_KEY_INVALID", E, REC, "not an OpenSSH public key line"),
    Code("USER_KEY_WEAK", E, REC, "key type or size refused: ed25519, ecdsa, rsa of 3072+ bits"),
    Code("USER_KEY_IN_USE", E, REC, "the public key is another user's: keys are never shared"),
    Code("USER_KEY_UNKNOWN", E, REC, "the user has no such key"),
    Code("USER_STATE", E, REC, "the change does not fit the user's state (e.g. not suspended)"),
    Code("ACCESS_COMPANY_UNKNOWN", E, REC, "no such company, or the access names no company"),
    Code("ACCESS_UNKNOWN", E, REC, "no such access to revoke"),
    # --- XML ---------------------------------------------------------------------------------
    Code("XML_DOCTYPE_FORBIDDEN", E, FILE, "the document has a DOCTYPE (entities, DTDs refused)"),
    Code("XML_MALFORMED", E, FILE, "not well-formed XML"),
    Code("XML_TOO_DEEP", E, FILE, "element nesting exceeds the depth limit"),
    Code("XML_ROOT_UNKNOWN", E, FILE, "the root element is not an opencass message"),
    Code("XML_SCHEMA_INVALID", E, FILE, "the document violates the opencass XSD"),
    Code("XML_VALUE_INVALID", E, REC, "a value is not usable (e.g. an unknown code-list member)"),
    Code("XML_ELEMENT_TOO_LARGE", E, FILE, "one waybill element exceeds the element size limit"),
    Code("XML_TOO_MANY_ATTRIBUTES", E, FILE, "an element carries more attributes than allowed"),
    # --- bank statements and payments (ISO 20022 camt.053 / camt.054) ------------------------
    Code("CAMT_SCHEMA_INVALID", E, FILE, "the bank statement violates its ISO 20022 camt XSD"),
    Code("CAMT_VERSION_UNSUPPORTED", E, FILE, "a camt version not read here (.02 to .08 are)"),
    Code("PAYMENT_SENDER_NOT_OPERATOR", E, FILE, "only the operator company sends bank statements"),
    Code("PAYMENT_UNMATCHED", W, REC, "a credit matches no agent; kept, listed for the operator"),
    Code("PAYMENT_CURRENCY_MISMATCH", W, REC, "a credit not in the country's currency; unmatched"),
    Code("PAYMENT_NOT_EXPECTED", W, REC, "no final billing expects this agent's payment (yet)"),
    Code("PAYMENT_DUPLICATE", W, REC, "the bank reference was recorded before; not counted again"),
    Code("PAYMENT_BATCH_WHOLE", W, REC, "a batch without amounts per transaction, kept as one"),
)

CATALOGUE: dict[str, Code] = {c.code: c for c in _ENTRIES}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in an input, located as precisely as the format allows."""

    code: str
    severity: Severity
    scope: Scope
    line: int | None
    record_type: str | None
    field: str | None
    columns: tuple[int, int] | None
    message: str

    @property
    def is_error(self) -> bool:
        """True when the finding rejects something."""
        return self.severity is Severity.ERROR

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready mapping in the documented key order."""
        return {
            "code": self.code,
            "severity": str(self.severity),
            "scope": str(self.scope),
            "line": self.line,
            "record_type": self.record_type,
            "field": self.field,
            "columns": list(self.columns) if self.columns else None,
            "message": self.message,
        }


def finding(
    code: str,
    message: str,
    *,
    line: int | None = None,
    record_type: str | None = None,
    field: str | None = None,
    columns: tuple[int, int] | None = None,
    scope: Scope | None = None,
) -> Finding:
    """A Finding for catalogue ``code``; ``scope`` overrides the catalogue's (header fields)."""
    entry = CATALOGUE[code]
    return Finding(
        code, entry.severity, scope or entry.scope, line, record_type, field, columns, message
    )


def catalogue_markdown() -> str:
    """The catalogue as a Markdown table (for docs/formats.md)."""
    rows = ["| code | severity | scope | meaning |", "|---|---|---|---|"]
    rows += [f"| `{c.code}` | {c.severity} | {c.scope} | {c.summary} |" for c in _ENTRIES]
    return "\n".join(rows)


def update_docs(path: str) -> None:
    """Rewrite the catalogue between the ``findings`` markers of the document at ``path``."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    head, rest = text.split("<!-- findings:start -->", 1)
    _, tail = rest.split("<!-- findings:end -->", 1)
    body = f"<!-- findings:start -->\n{catalogue_markdown()}\n<!-- findings:end -->"
    with open(path, "w", encoding="utf-8") as f:
        f.write(head + body + tail)


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--update-docs"]:
        update_docs(sys.argv[2] if len(sys.argv) > 2 else "docs/formats.md")
    else:
        print(catalogue_markdown())
