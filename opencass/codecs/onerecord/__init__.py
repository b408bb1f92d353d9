"""ONE Record compliant XML messages: RDF/XML valid against the opencass XSD, and JSON-LD.

Every message is both XSD-valid XML and RDF/XML whose triples use ONE Record terms unchanged
(``cargo:``, ``api:``), plus a few opencass extension terms (``cass:``, see ``schema/cass.ttl``).
"""

from opencass.codecs.onerecord.dispute import (
    DisputeRequest,
    DisputeStatusUpdate,
    decode_dispute,
    encode_dispute,
)
from opencass.codecs.onerecord.jsonld import CONTEXT, XmlRejectedError, to_graph, to_jsonld
from opencass.codecs.onerecord.messages import (
    FIELD_PROPERTIES,
    OUTCOMES,
    SubmissionInfo,
    decode_receipt,
    decode_validation_report,
    encode_receipt,
    encode_validation_report,
    submission_iri,
)
from opencass.codecs.onerecord.safe import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, load_schema
from opencass.codecs.onerecord.statement import (
    StatementDoc,
    StatementLine,
    decode_statement,
    encode_statement,
    statement_iri,
)
from opencass.codecs.onerecord.submission import (
    DEFAULT_BASE_IRI,
    decode_submission,
    decode_submission_file,
    encode_submission,
)
from opencass.codecs.onerecord.vocab import load_terms
from opencass.codecs.onerecord.withdrawal import (
    WithdrawalRequest,
    decode_withdrawal,
    encode_withdrawal,
)

__all__ = [
    "CONTEXT",
    "DEFAULT_BASE_IRI",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "FIELD_PROPERTIES",
    "OUTCOMES",
    "DisputeRequest",
    "DisputeStatusUpdate",
    "StatementDoc",
    "StatementLine",
    "SubmissionInfo",
    "WithdrawalRequest",
    "XmlRejectedError",
    "decode_dispute",
    "decode_receipt",
    "decode_statement",
    "decode_submission",
    "decode_submission_file",
    "decode_validation_report",
    "decode_withdrawal",
    "encode_dispute",
    "encode_receipt",
    "encode_statement",
    "encode_submission",
    "encode_validation_report",
    "encode_withdrawal",
    "load_schema",
    "load_terms",
    "statement_iri",
    "submission_iri",
    "to_graph",
    "to_jsonld",
]
