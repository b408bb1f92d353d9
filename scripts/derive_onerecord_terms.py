"""Derive the compact ONE Record term list that opencass checks its XML against.

Reads the three ONE Record ontologies (Turtle, MIT licence) and writes only IRIs: the classes,
properties and named individuals of the ``cargo`` and ``api`` namespaces, and the code lists with
their members.  No labels, comments or other prose of the ontologies is copied.  The output is
deterministic (sorted, fixed layout), so it can be committed and re-derived to check it.

    python scripts/derive_onerecord_terms.py [ONTOLOGY_DIR] [OUTPUT]

ONTOLOGY_DIR defaults to ``../shared/reference/onerecord`` next to the repository, OUTPUT to
``opencass/codecs/onerecord/data/onerecord-terms.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rdflib import OWL, RDF, RDFS, Graph, URIRef

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "reference" / "onerecord"
DEFAULT_OUTPUT = REPO / "opencass" / "codecs" / "onerecord" / "data" / "onerecord-terms.json"

FILES = {
    "cargo": "IATA-1R-DM-Ontology.ttl",
    "api": "ONE-Record-API-Ontology.ttl",
    "code_lists": "IATA-1R-CL-Ontology.ttl",
}
NAMESPACES = {
    "cargo": "https://onerecord.iata.org/ns/cargo#",
    "api": "https://onerecord.iata.org/ns/api#",
    "code_lists": "https://onerecord.iata.org/ns/code-lists/",
}
_PROPERTY_TYPES = (OWL.ObjectProperty, OWL.DatatypeProperty, RDF.Property)


def _subjects(graph: Graph, kinds: tuple[URIRef, ...], ns: str) -> list[str]:
    found = {str(s) for k in kinds for s in graph.subjects(RDF.type, k) if isinstance(s, URIRef)}
    return sorted(i for i in found if i.startswith(ns) and len(i) > len(ns))


def _version(graph: Graph) -> str:
    for onto in graph.subjects(RDF.type, OWL.Ontology):
        info = graph.value(onto, OWL.versionInfo)
        if info is not None:
            return str(info)
    return ""


def derive(source: Path) -> dict[str, object]:
    """The term list of the ontologies in ``source``, as a JSON-ready mapping."""
    out: dict[str, object] = {}
    for key, name in FILES.items():
        graph = Graph()
        graph.parse(source / name, format="turtle")
        ns = NAMESPACES[key]
        if key == "code_lists":
            lists = _subjects(graph, (OWL.Class, RDFS.Class), ns)
            members = _subjects(graph, (OWL.NamedIndividual,), ns)
            out[key] = {
                "namespace": ns,
                "version": _version(graph),
                "lists": lists,
                "members": [m for m in members if "#" in m],
            }
        else:
            out[key] = {
                "namespace": ns,
                "version": _version(graph),
                "classes": _subjects(graph, (OWL.Class, RDFS.Class), ns),
                "properties": _subjects(graph, _PROPERTY_TYPES, ns),
                "individuals": _subjects(graph, (OWL.NamedIndividual,), ns),
            }
    return out


def render(terms: dict[str, object]) -> str:
    """The committed text of the term list: stable key order, one IRI per line."""
    return json.dumps(terms, indent=1, sort_keys=True, ensure_ascii=True) + "\n"


def main(argv: list[str]) -> int:
    """Write the term list; returns the process exit code."""
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    output = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUTPUT
    if not (source / FILES["cargo"]).is_file():
        print(f"ontology files not found in {source}", file=sys.stderr)
        return 2
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(derive(source)), encoding="utf-8")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
