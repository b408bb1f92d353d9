"""ONE Record conformance: every term opencass writes exists; the JSON-LD is the same graph.

The term list (``data/onerecord-terms.json``) is derived from the ONE Record ontologies by
``scripts/derive_onerecord_terms.py``; one test re-derives it when the ontologies are at hand
(``shared/reference/onerecord`` next to the repository) and compares.  The documents checked are
the golden billing submissions and a validation report, a receipt and an agent's and an
airline's billing statement encoded here, rich enough to use every term those messages can
write.
"""

from __future__ import annotations

import importlib.util
import json
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pyshacl
import pytest
from lxml import etree
from pyld import jsonld as pyld
from rdflib import OWL, RDF, RDFS, SH, XSD, BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.compare import isomorphic

from opencass.codecs.onerecord import (
    FIELD_PROPERTIES,
    StatementDoc,
    StatementLine,
    SubmissionInfo,
    XmlRejectedError,
    decode_receipt,
    decode_statement,
    decode_validation_report,
    encode_receipt,
    encode_statement,
    encode_validation_report,
    load_terms,
    to_graph,
    to_jsonld,
)
from opencass.codecs.onerecord.dispute import DisputeRequest, encode_dispute
from opencass.codecs.onerecord.jsonld import CONTEXT, graph_to_jsonld
from opencass.codecs.onerecord.notification import NotificationDoc, encode_notification
from opencass.codecs.onerecord.withdrawal import WithdrawalRequest, encode_withdrawal
from opencass.findings import Finding, Scope, Severity, finding
from tests.kit import DATA as DATA_ROOT
from tests.kit import REPO
from tests.kit.docs import user_administration_example

DATA = DATA_ROOT / "xml"
DOCUMENTS = [
    DATA / "rich-submission.xml",
    DATA / "agent-hand-off.xml",
    DATA / "import-submission.xml",
]
SCHEMA_DIR = REPO / "opencass" / "codecs" / "onerecord" / "schema"
ONTOLOGIES = REPO.parent / "shared" / "reference" / "onerecord"
TERMS_FILE = REPO / "opencass" / "codecs" / "onerecord" / "data" / "onerecord-terms.json"

CARGO = "https://onerecord.iata.org/ns/cargo#"
API = "https://onerecord.iata.org/ns/api#"
CL = "https://onerecord.iata.org/ns/code-lists/"
CASS = "https://w3id.org/opencass/ns/billing#"
RDF_NS = str(RDF)
XS = "{http://www.w3.org/2001/XMLSchema}"


# A duplicate in the sandbox with every optional value set, and findings of every shape: file
# level, record level with a field that has a ONE Record property, warnings, unknown codes.
INFO = SubmissionInfo(
    file_id="01JDX4S9Z6",
    file_name="DE160_202611.hot",
    company="lh",
    user="lh-billing",
    sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    size=52_650,
    received_at="2026-11-22T00:36:10.123456+00:00",
    outcome="duplicate",
    counts={"records": 210, "errors": 2, "warnings": 1, "rejected_records": 1, "AWM": 200},
    sandbox=True,
    format="hot",
    dialect="handoff",
    country="DE",
    period="20261101M",
    duplicate_of="01JDX3A0B1",
)
FINDINGS = [
    finding("DUPLICATE_FILE", "these bytes were received before"),
    finding("HEADER_INVALID", "billing date", line=1, field="billing_date", columns=(20, 25)),
    finding(
        "AWB_CHECK_DIGIT", "wrong", line=7, record_type="AWM", field="awb_serial", columns=(8, 15)
    ),
    finding("CHARGES_ON_NON_REVENUE", "void AWB with charges", line=7, record_type="AWM"),
    Finding("CUSTOM", Severity.WARNING, Scope.RECORD, None, None, None, None, ""),
]
OBJECTS = {7: "https://gw.example/logistics-objects/waybill-160-62144154"}
# Statements with every kind of line (with and without a waybill), subtotals of both kinds, both
# kinds of billed party and a remittance date.
AGENT_STATEMENT = StatementDoc(
    number="DE-20261101M-23470068510",
    country="DE",
    period="20261101M",
    currency="EUR",
    issued_at="2026-11-22T00:36:10+00:00",
    party_kind="agent",
    party_code="23470068510",
    company="kuehne",
    lines=(
        StatementLine("020", "", "ADJ", "DSP-17", Decimal("-15.00")),
        StatementLine("160", "62144154", "AWB", "", Decimal("3462.90")),
        StatementLine("160", "62144154", "CCA", "808640", Decimal("-12.50")),
        StatementLine("160", "62144165", "DCM", "D-77", Decimal("100.00")),
    ),
    subtotals=(("020", Decimal("-15.00")), ("160", Decimal("3550.40"))),
    total=Decimal("3535.40"),
    remittance_date="2026-12-05",
)
AIRLINE_STATEMENT = StatementDoc(
    number="DE-20261101M-160",
    country="DE",
    period="20261101M",
    currency="EUR",
    issued_at="2026-11-22T00:36:10+00:00",
    party_kind="airline",
    party_code="160",
    company="lh",
    lines=(StatementLine("160", "62144154", "AWB", "", Decimal("3462.90")),),
    subtotals=(("23470068510", Decimal("3462.90")),),
    total=Decimal("3462.90"),
)
MESSAGES = {
    "validation-report": encode_validation_report(
        INFO, FINDINGS, base_iri="https://gw.example", objects=OBJECTS
    ),
    "receipt": encode_receipt(INFO, base_iri="https://gw.example"),
    "agent-statement": encode_statement(AGENT_STATEMENT, base_iri="https://gw.example"),
    "airline-statement": encode_statement(AIRLINE_STATEMENT, base_iri="https://gw.example"),
}


def message_graph(name: str) -> Graph:
    """The graph of a generated message, after the codec has accepted it."""
    data = MESSAGES[name]
    if name == "receipt":
        decode_receipt(data)
    elif name.endswith("-statement"):
        decode_statement(data)
    else:
        decode_validation_report(data)
    return Graph().parse(data=data, format="xml")


def all_graphs() -> list[Graph]:
    return [to_graph(p.read_bytes()) for p in DOCUMENTS] + [message_graph(n) for n in MESSAGES]


def term_set(section: str, *kinds: str) -> set[str]:
    terms = load_terms()[section]
    return {str(i) for kind in kinds for i in terms[kind]}  # type: ignore[attr-defined]


def cass_declared() -> set[str]:
    graph = Graph().parse(SCHEMA_DIR / "cass.ttl", format="turtle")
    return {str(s) for s in graph.subjects(RDF.type, None) if str(s).startswith(CASS)}


def cass_code_values() -> dict[str, set[str]]:
    """The enumerated classes of cass.ttl (owl:oneOf), each with its members."""
    graph = Graph().parse(SCHEMA_DIR / "cass.ttl", format="turtle")
    found: dict[str, set[str]] = {}
    for cls in graph.subjects(RDF.type, OWL.Class):
        for equivalent in graph.objects(cls, OWL.equivalentClass):
            members = graph.value(equivalent, OWL.oneOf)
            if members is not None:
                found[str(cls)] = {str(m) for m in Collection(graph, members)}
    return found


def xsd_enumeration(name: str) -> set[str]:
    """The values of an enumerated simple type of rdf.xsd."""
    doc = etree.parse(str(SCHEMA_DIR / "rdf.xsd"))
    (simple,) = (t for t in doc.iter(f"{XS}simpleType") if t.get("name") == name)
    return {str(e.get("value")) for e in simple.iter(f"{XS}enumeration")}


def written_terms() -> tuple[set[str], set[str], set[str]]:
    """(classes, properties, other IRIs used as objects) of the encoded documents."""
    classes: set[str] = set()
    properties: set[str] = set()
    objects: set[str] = set()
    for graph in all_graphs():
        for _s, p, o in graph:
            properties.add(str(p))
            if p == RDF.type:
                classes.add(str(o))
            elif isinstance(o, URIRef):
                objects.add(str(o))
    return classes, properties, objects


def xsd_declarations() -> dict[str, set[str]]:
    """Element names declared by each schema document, as IRIs, by target namespace."""
    found: dict[str, set[str]] = {}
    for path in sorted(SCHEMA_DIR.glob("*.xsd")):
        doc = etree.parse(str(path))
        ns = str(doc.getroot().get("targetNamespace"))
        names = {ns + str(el.get("name")) for el in doc.iter(f"{XS}element") if el.get("name")}
        found.setdefault(ns, set()).update(names)
    return found


def test_documents_use_only_known_namespaces() -> None:
    classes, properties, _ = written_terms()
    for iri in classes | properties:
        assert iri.startswith((CARGO, API, CASS, RDF_NS)), iri
        assert "/3.3" not in iri  # no versioned ontology IRIs in data


def test_every_cargo_and_api_term_written_exists_in_one_record() -> None:
    classes, properties, _ = written_terms()
    known_classes = term_set("cargo", "classes") | term_set("api", "classes")
    known_properties = term_set("cargo", "properties") | term_set("api", "properties")
    written_classes = {c for c in classes if c.startswith((CARGO, API))}
    written_properties = {p for p in properties if p.startswith((CARGO, API))}
    assert written_classes - known_classes == set()
    assert written_properties - known_properties == set()
    # the documents are rich: these must be among what they write
    assert {CARGO + "Waybill", CARGO + "Adjustments", CARGO + "OtherCharge"} <= written_classes
    assert {CARGO + "billingChargeIdentifier", CARGO + "awbUseIndicator"} <= written_properties
    # ... and so must the answers to a file
    answers = {API + c for c in ("Verification", "Error", "ErrorDetail")}
    assert answers | {CARGO + "ExternalReference"} <= written_classes
    assert {CASS + "ValidationReport", CASS + "Receipt", CASS + "Count"} <= classes
    api_used = {"hasLogisticsObject", "hasError", "hasTitle", "hasSeverity", "hasErrorDetail"}
    api_used |= {"hasCode", "hasMessage", "hasProperty"}
    assert {API + p for p in api_used} <= written_properties
    assert {CARGO + p for p in ("documentName", "checksum", "documentIdentifier")} <= properties
    # ... and the billing statements
    statement = {CASS + c for c in ("BillingStatement", "StatementLine", "StatementSubtotal")}
    assert statement | {CASS + "ChargeLine"} <= classes
    assert {CARGO + c for c in ("Carrier", "Company", "CurrencyValue")} <= written_classes
    assert {CARGO + "prefix", CARGO + "iataCargoAgentLocationIdentifier"} <= written_properties


def test_every_property_at_fault_is_a_cargo_property() -> None:
    cargo_properties = term_set("cargo", "properties")
    assert set(FIELD_PROPERTIES.values()) - cargo_properties == set()
    assert FIELD_PROPERTIES["awb_serial"] == CARGO + "waybillNumber"
    written = {
        str(o)
        for name in MESSAGES
        for o in message_graph(name).objects(None, URIRef(API + "hasProperty"))
    }
    assert written == {CARGO + "waybillNumber"}  # the header's field has no cargo: property


def test_severities_and_outcomes_written_are_members_of_their_enumerations() -> None:
    _, _, objects = written_terms()
    assert {o for o in objects if o.startswith(API)} == {API + "ERROR", API + "WARNING"}
    assert {API + "ERROR", API + "WARNING"} <= term_set("api", "individuals")
    assert CASS + "DUPLICATE" in objects
    assert {o for o in objects if o.startswith(CASS)} <= cass_declared()


def test_every_code_value_written_is_a_code_list_member() -> None:
    _, _, objects = written_terms()
    members = term_set("code_lists", "members")
    individuals = term_set("cargo", "individuals")
    codes = {o for o in objects if o.startswith(CL)}
    assert codes - members == set()
    assert {o for o in objects if o.startswith(CARGO)} <= individuals
    for value in ("AWBUseIndicator#R", "AWBUseIndicator#S", "AWBUseIndicator#V"):
        assert CL + value in codes
    assert {CL + "PrepaidCollectIndicator#P", CL + "PrepaidCollectIndicator#C"} <= codes
    assert {CL + "MeasurementUnitCode#KGM", CL + "MeasurementUnitCode#LBR"} <= codes
    # a statement's totals (CASS invoice and net amount) and its lines (charge summary total)
    assert {CL + "ChargeIdentifier#" + c for c in ("NI", "CN", "CT")} <= codes


def test_every_cass_term_written_is_declared_in_cass_ttl() -> None:
    classes, properties, objects = written_terms()
    declared = cass_declared()
    written = {t for t in classes | properties | objects if t.startswith(CASS)}
    assert written and written - declared == set()
    assert {CASS + "ValidationReport", CASS + "outcome", CASS + "line"} <= written
    statement_terms = {"hasLine", "hasSubtotal", "hasTotal", "forWaybill", "forAirline"}
    statement_terms |= {"forAgent", "itemReference", "issuedAt", "remittanceDate"}
    assert {CASS + t for t in statement_terms} <= written


def test_xsd_declares_only_existing_terms_and_documented_cass_terms() -> None:
    declared = xsd_declarations()
    cargo_terms = term_set("cargo", "classes", "properties")
    api_terms = term_set("api", "classes", "properties")
    assert declared[CARGO] - cargo_terms == set()
    assert declared[API] - api_terms == set()
    codes = cass_code_values()
    values = set(codes) | {m for members in codes.values() for m in members}
    # every cass term declared, none unused; enumerations are links (below), not elements
    assert declared[CASS] == cass_declared() - values
    assert xsd_enumeration("outcomeIri") == codes[CASS + "SubmissionOutcome"]
    assert xsd_enumeration("severityIri") == {API + "ERROR", API + "WARNING"}
    assert xsd_enumeration("severityIri") <= term_set("api", "individuals")
    assert not declared.get(RDF_NS)  # the rdf schema declares attributes only
    fixed = {
        a.get("fixed")
        for a in etree.parse(str(SCHEMA_DIR / "rdf.xsd")).iter(f"{XS}attribute")
        if a.get("name") == "resource" and a.get("fixed")
    }
    assert fixed == {
        CARGO + "MASTER",
        CL + "ParticipantIdentifier#AGT",
        "https://onerecord.iata.org/ns/cargo/3.3",
    }
    assert CARGO + "MASTER" in term_set("cargo", "individuals")
    assert CL + "ParticipantIdentifier#AGT" in term_set("code_lists", "members")


def test_term_list_holds_iris_only() -> None:
    terms = json.loads(TERMS_FILE.read_text("utf-8"))
    for section in terms.values():
        for key, value in section.items():
            if isinstance(value, list):
                assert value == sorted(value), key
                assert all(v.startswith("https://onerecord.iata.org/ns/") for v in value)
                assert all(" " not in v for v in value)


def _derive_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "derive_onerecord_terms", REPO / "scripts" / "derive_onerecord_terms.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not ONTOLOGIES.is_dir(), reason="ONE Record ontologies not next to the repo")
def test_term_list_is_what_the_script_derives() -> None:
    script = _derive_script()
    assert script.render(script.derive(ONTOLOGIES)) == TERMS_FILE.read_text("utf-8")


# -- JSON-LD ------------------------------------------------------------------------------------


# rdflib's own JSON-LD parser still builds a ConjunctiveGraph internally.


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_jsonld_is_isomorphic_with_the_rdf_xml(path: Path) -> None:
    data = path.read_bytes()
    text = to_jsonld(data)
    assert isomorphic(to_graph(data), Graph().parse(data=text, format="json-ld"))
    assert text == to_jsonld(data)  # deterministic


def test_jsonld_context_and_literals() -> None:
    text = to_jsonld(DOCUMENTS[0].read_bytes())
    doc = json.loads(text)
    assert {doc["@context"][p] for p in ("cargo", "api", "cass")} == {CARGO, API, CASS}
    graph = Graph().parse(data=text, format="json-ld")
    double = URIRef("http://www.w3.org/2001/XMLSchema#double")
    values = set(graph.objects(None, URIRef(CARGO + "numericalValue")))
    assert Literal("3462.90", datatype=double) in values  # lexical form kept, typed double
    assert Literal("-0.00", datatype=double) in set(graph.objects(None, URIRef(CARGO + "discount")))
    nodes = [n for n in doc["@graph"] if n.get("@type") == "cargo:Waybill"]
    assert len(nodes) == 10  # one per waybill element of the golden document


def test_jsonld_refuses_relative_iris() -> None:
    data = DOCUMENTS[0].read_bytes()
    absolute = b'rdf:about="https://opencass.invalid/logistics-objects/waybill-160-62144154#weight"'
    with pytest.raises(XmlRejectedError) as caught:
        to_jsonld(data.replace(absolute, b'rdf:about="#weight"', 1))
    assert [f.code for f in caught.value.findings] == ["XML_VALUE_INVALID"]


def test_jsonld_refuses_invalid_documents() -> None:
    with pytest.raises(XmlRejectedError) as caught:
        to_jsonld(b"<x/>")
    assert [f.code for f in caught.value.findings] == ["XML_ROOT_UNKNOWN"]


# -- JSON-LD as standard processors read it -------------------------------------------------------

NOTIFICATION = NotificationDoc(
    event_id=42, business_event="document.available", event_type="LOGISTICS_OBJECT_CREATED",
    summary="statement", issued_at="2026-12-15T08:00:00+01:00", company="agent1",
    logistics_object="https://gw.example/documents/x", country="DE", period="20261101M",
    document="x.xml",
)  # fmt: skip
DISPUTE = DisputeRequest(
    iri="urn:uuid:00000000-0000-4000-8000-000000000001", kind="change", agent_code="23470068510",
    requested_at="2026-12-06T10:00:00Z", country="DE", period="20261101M", airline_prefix="997",
    awb_serial="62144154", reason="weight", currency="EUR", disputed_amount=Decimal("50"),
    claimed_amount=Decimal("3300"),
)  # fmt: skip


def _peer_graphs() -> dict[str, Graph]:
    """Every message kind opencass writes, as the RDF graph of its XML."""
    graphs = {p.name: to_graph(p.read_bytes()) for p in DOCUMENTS}
    graphs |= {name: message_graph(name) for name in MESSAGES}
    more = {
        "notification": encode_notification(NOTIFICATION, base_iri="https://gw.example"),
        "dispute": encode_dispute(DISPUTE, base_iri="https://gw.example"),
        "withdrawal": encode_withdrawal(
            WithdrawalRequest("urn:uuid:00000000-0000-4000-8000-000000000002", "01JDX4S9Z6")
        ),
        "user-administration": user_administration_example(),
    }
    graphs |= {name: Graph().parse(data=data, format="xml") for name, data in more.items()}
    return graphs


PEER_GRAPHS = _peer_graphs()


def _by_pyld(text: str) -> Graph:
    nquads = pyld.to_rdf(json.loads(text), {"format": "application/n-quads"})
    return Graph().parse(data=nquads, format="nquads")


@pytest.mark.parametrize("name", sorted(PEER_GRAPHS))
def test_pyld_and_rdflib_read_the_same_graph(name: str) -> None:
    graph = PEER_GRAPHS[name]
    text = graph_to_jsonld(graph)
    assert isomorphic(_by_pyld(text), graph)
    assert isomorphic(Graph().parse(data=text, format="json-ld"), graph)


def _range_shapes() -> Graph:
    """SHACL shapes from the ONE Record ontologies: every datatype property whose range is an
    XML Schema datatype must carry literals of exactly that datatype."""
    ontology = Graph()
    for name in ("IATA-1R-DM-Ontology.ttl", "ONE-Record-API-Ontology.ttl"):
        ontology.parse(ONTOLOGIES / name, format="turtle")
    shapes = Graph()
    for prop in sorted(set(ontology.subjects(RDF.type, OWL.DatatypeProperty))):
        for datatype in ontology.objects(prop, RDFS.range):
            if str(datatype).startswith(str(XSD)):
                node, constraint = BNode(), BNode()
                shapes.add((node, RDF.type, SH.NodeShape))
                shapes.add((node, SH.targetSubjectsOf, prop))
                shapes.add((node, SH.property, constraint))
                shapes.add((constraint, SH.path, prop))
                shapes.add((constraint, SH.datatype, datatype))
    return shapes


@pytest.mark.skipif(not ONTOLOGIES.is_dir(), reason="ONE Record ontologies not next to the repo")
def test_jsonld_read_by_pyld_meets_the_ontology_ranges() -> None:
    shapes = _range_shapes()
    assert len(set(shapes.subjects(RDF.type, SH.NodeShape))) > 100
    for name, graph in PEER_GRAPHS.items():
        conforms, _, report = pyshacl.validate(_by_pyld(graph_to_jsonld(graph)), shacl_graph=shapes)
        assert conforms, f"{name}: {report}"
    # The check can fail: bare JSON numbers (no coercion) give whole amounts as xsd:integer.
    graph = PEER_GRAPHS["rich-submission.xml"]
    bare = graph.serialize(format="json-ld", context=dict(CONTEXT))
    conforms, _, report = pyshacl.validate(_by_pyld(bare), shacl_graph=shapes)
    assert not conforms and "integer" in str(report)
