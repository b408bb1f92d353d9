"""Namespaces, terms and code lists of the opencass ONE Record XML profile.

Every IRI the codecs write or read is spelled here once.  Code values map both ways between the
model's one-character codes and the ONE Record code-list member IRIs; where a model value has no
code-list member, the codec writes a ``cass:`` literal instead (see ``cass.ttl``).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

__all__ = [
    "API",
    "CARGO",
    "CASS",
    "CL",
    "CURRENCY",
    "ONTOLOGY_VERSION",
    "RDF",
    "XSD",
    "code_list_members",
    "load_terms",
    "other_charge_codes",
    "tag",
]

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XSD = "http://www.w3.org/2001/XMLSchema#"
CARGO = "https://onerecord.iata.org/ns/cargo#"
API = "https://onerecord.iata.org/ns/api#"
CASS = "https://w3id.org/opencass/ns/billing#"
CL = "https://onerecord.iata.org/ns/code-lists/"
CURRENCY = "https://vocabulary.uncefact.org/CurrencyCodeList#"
ONTOLOGY_VERSION = "https://onerecord.iata.org/ns/cargo/3.3"

#: The prefixes opencass declares on the root element of every message.
PREFIXES = {"rdf": RDF, "cargo": CARGO, "cass": CASS, "api": API}


def tag(qname: str) -> str:
    """Clark notation (``{ns}local``) of a prefixed name such as ``cargo:Waybill``."""
    prefix, _, local = qname.partition(":")
    return "{" + PREFIXES[prefix] + "}" + local


def _codes(list_name: str, codes: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(model code → member IRI, member IRI → model code) of one code list."""
    to_iri = {model: f"{CL}{list_name}#{member}" for model, member in codes.items()}
    return to_iri, {iri: model for model, iri in to_iri.items()}


AWB_USE, AWB_USE_OF = _codes("AWBUseIndicator", {"R": "R", "S": "S", "V": "V"})
PC, PC_OF = _codes("PrepaidCollectIndicator", {"P": "P", "C": "C"})
ENTITLEMENT, ENTITLEMENT_OF = _codes("EntitlementCode", {"A": "A", "C": "C"})
WEIGHT_UNIT, WEIGHT_UNIT_OF = _codes("MeasurementUnitCode", {"K": "KGM", "L": "LBR"})
CHARGE_ID, CHARGE_ID_OF = _codes(
    "ChargeIdentifier", {c: c for c in ("WT", "VC", "OC", "OA", "TX", "CO", "SI", "NI", "CN")}
)
OTHER_CHARGE_CODE = CL + "OtherChargeCode#"
AGENT_ROLE = CL + "ParticipantIdentifier#AGT"
MASTER = CARGO + "MASTER"

# Typed-literal datatypes (the ontology ranges).
DOUBLE = XSD + "double"
DATETIME = XSD + "dateTime"
DATE = XSD + "date"
BOOLEAN = XSD + "boolean"
INTEGER = XSD + "integer"


@cache
def load_terms() -> dict[str, dict[str, object]]:
    """The ONE Record term list shipped with opencass (IRIs only; see the derive script)."""
    text = resources.files(__package__).joinpath("data/onerecord-terms.json").read_text("utf-8")
    terms: dict[str, dict[str, object]] = json.loads(text)
    return terms


@cache
def code_list_members() -> frozenset[str]:
    """Every code-list member IRI of ONE Record code lists 1.1."""
    members = load_terms()["code_lists"]["members"]
    assert isinstance(members, list)
    return frozenset(str(m) for m in members)


@cache
def other_charge_codes() -> frozenset[str]:
    """The other-charge codes that have a member in the ONE Record ``OtherChargeCode`` list."""
    n = len(OTHER_CHARGE_CODE)
    return frozenset(m[n:] for m in code_list_members() if m.startswith(OTHER_CHARGE_CODE))
