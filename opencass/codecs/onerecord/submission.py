"""The billing submission message (``cass:BillingSubmission``): encode and decode.

How a billing file maps onto ONE Record (see ``writer.py`` and ``reader.py`` for the machinery):

* the submission carries the file-level values (CASS country and office, billing period and
  date, file number, currency, the submitting carrier or billed agent) and links to the
  ontology version it follows;
* each AWB record becomes a ``cargo:Waybill`` (number, airports as ``cargo:Location``, the
  agent as a ``cargo:Party`` with role ``AGT``, gross weight) with its ``cargo:BillingDetails``
  (use indicator, dates, VAT, rate of exchange, commission, discount, taxes) and its charge
  totals as ``cass:ChargeLine`` (``cargo:billingChargeIdentifier`` WT/VC/OC/OA/TX, P/C, amount);
* each correction record (CCO/CCR/DCO/DCR/ECR) becomes a waybill node of its own whose
  billing details hold the original or revised values and a ``cargo:Adjustments`` with the
  record type, CCA/DCM number and reason;
* itemised other charges are the waybill's ``cargo:otherCharges``;
* a CASS Import submission names the import operation (``cass:cassCountry`` ``DE-I``); each
  import record (``IBI``, a correction's ``IBO``/``IBR``) is a waybill whose billing details
  carry the delivery date (``cargo:awbDeliveryDate``), the arrival date, flight, charge lines
  WT/OA/OC and the import fee and destination charges as ``cass:`` terms, the consignee agent
  a ``cargo:Company`` with ``cass:recipientCode``; its two other charges are
  ``cargo:otherCharges`` at ``cass:chargePosition`` 1 and 2.

Reserved positions and records kept verbatim (``RawRecord``) exist only in HOT and are not
written; decoded files are in the hand-off dialect with trailer counts recomputed.
"""

from __future__ import annotations

from pathlib import Path

from opencass.codecs.onerecord.reader import RecordSink
from opencass.codecs.onerecord.reader import decode as _decode
from opencass.codecs.onerecord.safe import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH
from opencass.codecs.onerecord.writer import iter_submission
from opencass.codecs.result import DecodeResult
from opencass.findings import finding
from opencass.model import BillingFile

__all__ = ["DEFAULT_BASE_IRI", "decode_submission", "decode_submission_file", "encode_submission"]

DEFAULT_BASE_IRI = "https://opencass.invalid"


def encode_submission(file: BillingFile, *, base_iri: str = DEFAULT_BASE_IRI) -> bytes:
    """The billing file as a ``cass:BillingSubmission`` RDF/XML document (UTF-8).

    Raises ValueError for values the profile cannot carry (a code outside its code list, a
    control character in a text, a file without AWB or correction records).
    """
    return "".join(iter_submission(file, base_iri)).encode("utf-8")


def decode_submission(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> DecodeResult:
    """Validate and decode a ``cass:BillingSubmission``; findings for every problem found."""
    if len(data) > max_bytes:
        return _too_large(len(data), max_bytes)
    return _decode(data, max_depth=max_depth)


def decode_submission_file(
    path: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    sink: RecordSink | None = None,
) -> DecodeResult:
    """``decode_submission`` of the file at ``path``, read chunk by chunk (never whole into
    memory).  With a ``sink`` each record goes there as it is read and none is kept: memory
    stays bounded whatever the file's size."""
    size = path.stat().st_size
    if size > max_bytes:
        return _too_large(size, max_bytes)
    with path.open("rb") as f:
        return _decode(f, max_depth=max_depth, sink=sink)


def _too_large(size: int, max_bytes: int) -> DecodeResult:
    too_large = finding("FILE_TOO_LARGE", f"{size} bytes, at most {max_bytes} allowed")
    counts = dict.fromkeys(("waybills", "corrections", "other_charges", "records"), 0)
    counts.update(errors=1, warnings=0, rejected_records=0)
    return DecodeResult("xml", None, None, [too_large], counts)
