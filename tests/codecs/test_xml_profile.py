"""Billing submission XML: the syntax profile, value checks and cross-record findings.

Every case edits the golden rich document (see ``test_xml_roundtrip.py``) in one place and
checks the finding's code and the source line it points at.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencass.codecs.onerecord import decode_submission
from opencass.codecs.onerecord.reader import decode as reader_decode
from opencass.codecs.result import DecodeResult
from opencass.findings import Scope, Severity
from opencass.model import AwbRecord
from tests.kit import DATA as DATA_ROOT

GOLDEN = (DATA_ROOT / "xml" / "rich-submission.xml").read_text("utf-8")
LO = "https://opencass.invalid/logistics-objects/"
VOID = f'<cargo:Waybill rdf:about="{LO}waybill-160-62144165"'  # the void AWB, one line
DOUBLE = 'rdf:datatype="http://www.w3.org/2001/XMLSchema#double"'


def line_of(text: str, needle: str) -> int:
    """1-based line of the first occurrence of ``needle``."""
    return text[: text.index(needle)].count("\n") + 1


def edit(old: str, new: str, count: int = 1) -> str:
    """The golden document with the first ``count`` occurrences of ``old`` replaced."""
    assert old in GOLDEN, old
    return GOLDEN.replace(old, new, count)


def decode_text(text: str) -> DecodeResult:
    return decode_submission(text.encode("utf-8"))


def only_error(result: DecodeResult) -> tuple[str, int | None]:
    errors = [f for f in result.findings if f.severity is Severity.ERROR]
    assert len(errors) == 1, errors
    return errors[0].code, errors[0].line


def test_the_golden_document_is_valid() -> None:
    result = decode_text(GOLDEN)
    assert result.valid and result.file is not None and result.counts["records"] == 13


# -- syntax profile: XSD violations are file errors with the source line ----------------------

PROFILE_VIOLATIONS = {
    "rdf:ID": (VOID, '<cargo:Waybill rdf:ID="w62144165"', 'rdf:ID="w62144165"'),
    "rdf:nodeID": (
        f'<cargo:Value rdf:about="{LO}waybill-160-62144165#weight"',
        '<cargo:Value rdf:nodeID="w1"',
        VOID,
    ),
    "rdf:parseType": (
        f'<cargo:BillingDetails rdf:about="{LO}waybill-160-62144165#billing">',
        f'<cargo:BillingDetails rdf:about="{LO}waybill-160-62144165#billing"'
        ' rdf:parseType="Resource">',
        VOID,
    ),
    "property attribute": (VOID, f'{VOID} cargo:waybillNumber="62144165"', VOID),
    "missing rdf:about (blank node)": (
        f'<cargo:Value rdf:about="{LO}waybill-160-62144165#weight">',
        "<cargo:Value>",
        VOID,
    ),
    "rdf:li": (
        "<cargo:waybillNumber>62144165</cargo:waybillNumber>",
        "<cargo:waybillNumber>62144165</cargo:waybillNumber><rdf:li>x</rdf:li>",
        VOID,
    ),
    "xml:lang": (
        "<cargo:waybillNumber>62144165</cargo:waybillNumber>",
        '<cargo:waybillNumber xml:lang="en">62144165</cargo:waybillNumber>',
        VOID,
    ),
    "wrong datatype": (
        f"<cargo:discount {DOUBLE}>-0.00</cargo:discount>",
        '<cargo:discount rdf:datatype="http://www.w3.org/2001/XMLSchema#decimal">-0.00'
        "</cargo:discount>",
        VOID,
    ),
    "missing datatype": (
        f"<cargo:discount {DOUBLE}>-0.00</cargo:discount>",
        "<cargo:discount>-0.00</cargo:discount>",
        VOID,
    ),
    "amount not fixed-point": (
        f"<cargo:numericalValue {DOUBLE}>3462.90</cargo:numericalValue>",
        f"<cargo:numericalValue {DOUBLE}>3.46290E3</cargo:numericalValue>",
        "3.46290E3",
    ),
    "date with a time of day": (
        "2026-11-14T00:00:00Z",
        "2026-11-14T10:30:00Z",
        "2026-11-14T10:30:00Z",
    ),
    "text inside a node element": (VOID + ">", VOID + ">junk", VOID),
    "properties out of order": (
        "<cargo:waybillPrefix>160</cargo:waybillPrefix><cargo:waybillNumber>62144165"
        "</cargo:waybillNumber>",
        "<cargo:waybillNumber>62144165</cargo:waybillNumber><cargo:waybillPrefix>160"
        "</cargo:waybillPrefix>",
        VOID,
    ),
    "two nodes in one property element": (
        '<cargo:waybillType rdf:resource="https://onerecord.iata.org/ns/cargo#MASTER"/>'
        "<cargo:departureLocation>",
        '<cargo:waybillType rdf:resource="https://onerecord.iata.org/ns/cargo#MASTER"/>'
        f'<cargo:departureLocation rdf:resource="{LO}location-DUS"/><cargo:departureLocation>',
        f'<cargo:departureLocation rdf:resource="{LO}location-DUS"/><cargo:departureLocation>',
    ),
    "xml:base on the root": (
        'xmlns:cass="https://w3id.org/opencass/ns/billing#"',
        'xmlns:cass="https://w3id.org/opencass/ns/billing#" xml:base="https://x.example/"',
        "<cass:BillingSubmission",
    ),
    "a header value out of its facet": (
        "<cass:fileNumber>01</cass:fileNumber>",
        "<cass:fileNumber>1</cass:fileNumber>",
        "<cass:fileNumber>",
    ),
    "an element after the waybills": (
        "</cass:BillingSubmission>",
        "<cass:fileNumber>01</cass:fileNumber>\n</cass:BillingSubmission>",
        "<cass:fileNumber>01</cass:fileNumber>\n</cass:BillingSubmission>",
    ),
}


@pytest.mark.parametrize("case", sorted(PROFILE_VIOLATIONS))
def test_profile_violations_are_schema_errors_with_their_line(case: str) -> None:
    old, new, where = PROFILE_VIOLATIONS[case]
    text = edit(old, new)
    result = decode_text(text)
    assert result.file is None
    code, line = only_error(result)
    assert code == "XML_SCHEMA_INVALID"
    assert line == line_of(text, where)


def test_missing_header_value_is_a_schema_error() -> None:
    result = decode_text(edit("<cass:cassCountry>DE</cass:cassCountry>\n", ""))
    assert only_error(result)[0] == "XML_SCHEMA_INVALID"


def test_a_submission_without_waybills_is_a_schema_error() -> None:
    head = GOLDEN[: GOLDEN.index("<cass:hasWaybill>")]
    result = decode_text(head + "</cass:BillingSubmission>\n")
    code, line = only_error(result)
    assert code == "XML_SCHEMA_INVALID" and line == 2


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><x/></rdf:RDF>',
            "XML_ROOT_UNKNOWN",
        ),
        ("<foo><bar/></foo>", "XML_ROOT_UNKNOWN"),
        (
            '<cargo:Waybill xmlns:cargo="https://onerecord.iata.org/ns/cargo#"><cargo:x/>'
            "</cargo:Waybill>",
            "XML_ROOT_UNKNOWN",
        ),
        ("", "XML_MALFORMED"),
        ("not xml at all", "XML_MALFORMED"),
        (GOLDEN[: len(GOLDEN) // 2], "XML_MALFORMED"),
        (GOLDEN[:-30], "XML_MALFORMED"),
        (GOLDEN.replace("</cargo:waybillNumber>", "</cargo:waybillNumbr>", 1), "XML_MALFORMED"),
        (GOLDEN + "<extra/>", "XML_MALFORMED"),
        (GOLDEN.replace("<cargo:code>DUS", "<cargo:code>&undefined;DUS", 1), "XML_MALFORMED"),
        (GOLDEN.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"', 1), "XML_MALFORMED"),
    ],
    ids=lambda v: v[:30] if isinstance(v, str) else v,
)
def test_wrong_roots_and_malformed_documents(text: str, code: str) -> None:
    result = decode_text(text)
    assert result.file is None
    assert only_error(result)[0] == code


def test_malformed_document_reports_the_line_of_the_break() -> None:
    text = edit("</cargo:waybillNumber>", "</cargo:waybillNumbr>")
    assert only_error(decode_text(text)) == ("XML_MALFORMED", line_of(text, "waybillNumbr"))


def test_comments_and_processing_instructions_anywhere_change_nothing() -> None:
    noisy = GOLDEN.replace(">", "><!-- c --><?opencass x?>")
    noisy = noisy.replace(
        '<?xml version="1.0" encoding="UTF-8"?><!-- c --><?opencass x?>',
        '<?xml version="1.0" encoding="UTF-8"?><!-- c -->',
    )
    noisy = noisy.replace("<cargo:code>DUS<", "<cargo:code>D<!--x-->U<?pi?>S<", 1)
    noisy = noisy.replace("-1320.90<", "-13<!-- split -->20.90<", 1)
    long_comment = "<!--" + "x" * 300_000 + "-->"
    noisy = noisy.replace("<cass:fileNumber>", long_comment + "<cass:fileNumber>", 1)
    assert noisy.count("<!--") > 900
    plain, noisy_result = decode_text(GOLDEN), decode_text(noisy)
    assert noisy_result.findings == plain.findings
    assert noisy_result.file == plain.file


# -- values the XSD cannot judge: record errors, the rest of the file is decoded -------------


JFK = (
    f'<cargo:arrivalLocation><cargo:Location rdf:about="{LO}location-JFK"><cargo:locationCodes>'
    f'<cargo:CodeListElement rdf:about="{LO}location-JFK#code"><cargo:code>JFK</cargo:code>'
    "</cargo:CodeListElement></cargo:locationCodes></cargo:Location></cargo:arrivalLocation>"
)


@pytest.mark.parametrize(
    ("old", "new", "code", "field"),
    [
        ("AWBUseIndicator#V", "AWBUseIndicator#X", "XML_VALUE_INVALID", "use_indicator"),
        (
            '<cargo:awbUseIndicator rdf:resource="https://onerecord.iata.org/ns/code-lists/'
            'AWBUseIndicator#V"/>',
            "",
            "FIELD_REQUIRED",
            "use_indicator",
        ),
        ("CurrencyCodeList#USD", "CurrencyCodeList#ABC", "CURRENCY_UNKNOWN", "currency"),
        ("MeasurementUnitCode#LBR", "MeasurementUnitCode#TNE", "XML_VALUE_INVALID", "weight_unit"),
        (  # a link to a location that nothing described
            JFK,
            f'<cargo:arrivalLocation rdf:resource="{LO}location-XYZ"/>',
            "XML_VALUE_INVALID",
            "destination",
        ),
    ],
    ids=["unknown-use", "missing-use", "unknown-currency", "unknown-unit", "undescribed-location"],
)
def test_value_problems_reject_one_record(old: str, new: str, code: str, field: str) -> None:
    text = edit(old, new)
    result = decode_text(text)
    assert result.file is not None, result.findings
    errors = [f for f in result.findings if f.severity is Severity.ERROR]
    assert [(f.code, f.field, f.scope) for f in errors] == [(code, field, Scope.RECORD)]
    assert errors[0].line == line_of(text, VOID)
    assert errors[0].record_type == "AWM"
    serials = [r.awb_serial for r in result.file.records if isinstance(r, AwbRecord)]
    assert "62144165" not in serials and len(result.file.records) == 12
    assert result.counts["rejected_records"] == 1


def test_an_amount_in_another_currency_than_its_record() -> None:
    text = edit(
        'CurrencyCodeList#EUR"/><cargo:numericalValue',
        'CurrencyCodeList#GBP"/><cargo:numericalValue',
    )
    result = decode_text(text)
    assert [f.code for f in result.findings if f.is_error] == ["XML_VALUE_INVALID"]


def test_correction_records_cannot_carry_awb_only_values() -> None:
    cco = f'<cargo:BillingDetails rdf:about="{LO}waybill-160-67828073-cco-808640#billing">'
    text = edit(
        cco
        + '<cass:currency rdf:resource="https://vocabulary.uncefact.org/CurrencyCodeList#EUR"/>',
        cco
        + '<cass:currency rdf:resource="https://vocabulary.uncefact.org/CurrencyCodeList#EUR"/>'
        + '<cargo:awbUseIndicator rdf:resource="https://onerecord.iata.org/ns/code-lists/'
        + 'AWBUseIndicator#R"/>',
    )
    result = decode_text(text)
    problems = [(f.code, f.field, f.record_type) for f in result.findings if f.is_error]
    assert ("XML_VALUE_INVALID", "use_indicator", "CCO") in problems


def test_header_value_problems() -> None:
    header_currency = 'CurrencyCodeList#EUR"/>\n<cass:ontology'
    unknown = decode_text(edit(header_currency, header_currency.replace("EUR", "ABC")))
    file_errors = [f for f in unknown.findings if f.is_error and f.scope is Scope.FILE]
    assert [(f.code, f.line) for f in file_errors] == [("CURRENCY_UNKNOWN", 9)]
    month = decode_text(edit("<cass:billingPeriod>2026-11<", "<cass:billingPeriod>2026-13<"))
    assert month.file is None and "HEADER_INVALID" in [f.code for f in month.findings]
    backwards = decode_text(
        edit("<cass:billingPeriod>2026-11<", "<cass:billingPeriod>2026-11-30/2026-11-01<")
    )
    assert "PERIOD_INVALID" in [f.code for f in backwards.findings]


# -- the checks HOT files get ------------------------------------------------------------------


def test_check_digit_duplicates_pairing_and_itemised_totals() -> None:
    lines = GOLDEN.splitlines(keepends=True)
    void = next(i for i, ln in enumerate(lines) if VOID in ln)
    ccr = next(i for i, ln in enumerate(lines) if 'waybill-160-67828073-ccr-808640"' in ln)
    lines.insert(void + 1, lines[void])  # the void AWB twice
    text = "".join(lines)
    text = text.replace(f"{DOUBLE}>546.68<", f"{DOUBLE}>546.00<", 1)  # the CC3's MY charge
    text = text.replace(">62144180<", ">62144181<", 1)  # the KWD AWB: check digit 0 → 1
    result = decode_text(text)
    found = {(f.code, f.line) for f in result.findings}
    assert ("AWB_DUPLICATE", void + 2) in found
    assert ("AWB_CHECK_DIGIT", line_of(text, ">62144181<")) in found
    assert ("OTHER_CHARGES_TOTAL_MISMATCH", ccr + 2) in found
    # The CCR's element spans two lines: the record and its itemised CC3.
    kept = [ln for i, ln in enumerate(GOLDEN.splitlines(True)) if i not in (ccr, ccr + 1)]
    without_ccr = "".join(kept)
    pairing = decode_text(without_ccr)
    assert {f.code for f in pairing.findings if f.is_error} == {"CORRECTION_REVISED_MISSING"}


def test_findings_are_capped_and_counted() -> None:
    lines = GOLDEN.splitlines(keepends=True)
    void = next(i for i, ln in enumerate(lines) if VOID in ln)
    text = "".join(lines[: void + 1] + [lines[void]] * 5 + lines[void + 1 :])
    result = reader_decode(text.encode(), max_depth=64, max_findings=2)
    assert result.counts["errors"] == 5
    assert [f.code for f in result.findings] == [
        "AWB_DUPLICATE",
        "AWB_DUPLICATE",
        "FINDINGS_TRUNCATED",
    ]


# -- property: no input makes the decoder raise ------------------------------------------------

MUTATION = st.tuples(
    st.sampled_from(["replace", "insert", "delete"]),
    st.floats(0, 1, exclude_max=True),
    st.binary(min_size=1, max_size=8),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(MUTATION, min_size=1, max_size=6))
def test_random_byte_mutations_give_findings_never_exceptions(
    mutations: list[tuple[str, float, bytes]],
) -> None:
    data = bytearray(GOLDEN.encode("utf-8"))
    for kind, where, chunk in mutations:
        at = int(where * len(data))
        if kind == "replace":
            data[at : at + len(chunk)] = chunk
        elif kind == "insert":
            data[at:at] = chunk
        else:
            del data[at : at + len(chunk)]
    result = decode_submission(bytes(data))
    assert isinstance(result, DecodeResult)
    if result.file is None:
        assert any(f.severity is Severity.ERROR and f.scope is Scope.FILE for f in result.findings)
    assert result.counts["errors"] == sum(1 for f in result.findings if f.is_error)
