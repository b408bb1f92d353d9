"""JSON-LD export of opencass XML messages: what a ONE Record server accepts.

The XML is first read exactly as the gateway reads it (hardened parser, XSD), so only documents
that pass the profile are converted; rdflib then reads the RDF/XML and writes JSON-LD with a
``@context`` naming the ``cargo``, ``api`` and ``cass`` namespaces.  rdflib never sees a
DOCTYPE, so its XML parser cannot be led to entities or external resources.

The context also coerces every typed literal: each property whose values carry a datatype is
declared with it (``"cargo:numericalValue": {"@type": "xsd:double"}``) and its values are
written as strings.  A bare JSON number would not survive another processor: JSON-LD 1.1 reads
``845.0`` as ``xsd:integer`` (against ONE Record's ``xsd:double`` range) and rewrites the
lexical form, so two readers would build two graphs.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from opencass.codecs.onerecord.submission import decode_submission
from opencass.codecs.onerecord.vocab import API, CARGO, CASS, RDF, XSD
from opencass.errors import InputError
from opencass.findings import Finding, Scope, finding

if TYPE_CHECKING:  # rdflib is imported when a graph is made: not by every codec user
    from rdflib import Graph, URIRef
    from rdflib.term import Node

__all__ = [
    "CONTEXT",
    "XmlRejectedError",
    "coercing_context",
    "graph_to_jsonld",
    "to_graph",
    "to_jsonld",
]

CONTEXT: dict[str, str] = {"cargo": CARGO, "api": API, "cass": CASS, "rdf": RDF, "xsd": XSD}
# Relative IRIs would resolve against this base; none may (the profile wants absolute IRIs).
_PROBE_BASE = "https://relative-iri.opencass.invalid/"


class XmlRejectedError(InputError, ValueError):
    """The document is not an opencass message that can be converted; see ``findings``."""

    code = "XML_REJECTED"

    def __init__(self, findings: list[Finding]) -> None:
        first = findings[0] if findings else None
        super().__init__(f"{first.code}: {first.message}" if first else "document rejected")
        self.findings = findings


def to_graph(data: bytes) -> Graph:
    """The RDF graph of an opencass XML message; XmlRejectedError for what the gateway refuses."""
    result = decode_submission(data)
    if result.file is None:
        raise XmlRejectedError([f for f in result.findings if f.is_error])
    from rdflib import Graph

    graph = Graph()
    graph.parse(data=data, format="xml", publicID=_PROBE_BASE)
    relative = sorted(
        {str(t) for triple in graph for t in triple if str(t).startswith(_PROBE_BASE)}
    )
    if relative:
        message = f"relative IRI {relative[0][len(_PROBE_BASE) :]!r}: IRIs must be absolute"
        raise XmlRejectedError([finding("XML_VALUE_INVALID", message, scope=Scope.FILE)])
    return graph


def to_jsonld(data: bytes) -> str:
    """The message as JSON-LD (compacted with the cargo/api/cass prefixes), nodes by ``@id``."""
    return graph_to_jsonld(to_graph(data))


def coercing_context(graph: Graph) -> dict[str, Any]:
    """``CONTEXT`` plus a term per property of ``graph`` whose literals all carry one datatype,
    declaring it (so its values are written as strings, read back with that type)."""
    for prefix, ns in CONTEXT.items():
        graph.bind(prefix, ns)
    from rdflib import Literal

    datatypes: dict[Node, set[URIRef | None]] = {}
    for _, p, o in graph:
        if isinstance(o, Literal):
            datatypes.setdefault(p, set()).add(o.datatype)
    context: dict[str, Any] = dict(CONTEXT)
    names = graph.namespace_manager
    for p, found in sorted(datatypes.items()):
        (datatype,) = found if len(found) == 1 else (None,)
        if datatype is not None:
            context[names.normalizeUri(str(p))] = {"@type": names.normalizeUri(datatype)}
    return context


def graph_to_jsonld(graph: Graph) -> str:
    """``graph`` as JSON-LD with a coercing context, nodes sorted by ``@id``."""
    context = coercing_context(graph)
    doc: dict[str, Any] = json.loads(graph.serialize(format="json-ld", context=context))
    nodes = doc.get("@graph")
    if isinstance(nodes, list):
        nodes.sort(key=lambda n: str(n.get("@id", "")))
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
