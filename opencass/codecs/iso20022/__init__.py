"""ISO 20022 bank-to-customer cash management messages: camt.053 statements and camt.054
debit/credit notifications, read into plain credit entries (``opencass.codecs.iso20022.camt``).

The XSDs in ``xsd/`` are the official ISO 20022 message schemas, unmodified (see
``xsd/SOURCES.md`` for where they come from and their SHA-256 sums).
"""

from opencass.codecs.iso20022.camt import (
    CAMT_VERSIONS,
    CamtEntry,
    CamtError,
    CamtStatement,
    camt_version,
    load_camt_schema,
    read_camt,
)

__all__ = [
    "CAMT_VERSIONS",
    "CamtEntry",
    "CamtError",
    "CamtStatement",
    "camt_version",
    "load_camt_schema",
    "read_camt",
]
