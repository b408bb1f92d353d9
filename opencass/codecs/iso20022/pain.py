"""ISO 20022 payment initiation files the CASS office gives its bank: SEPA direct debit
collections (pain.008.001.02 / .08) and SEPA credit transfers (pain.001.001.03 / .09).

Sans-IO: plain data in, bytes out, every file validated against its official XSD before it is
returned (``PainError`` otherwise).  Deterministic: the same batch gives the same bytes (the
message id and creation time are the caller's).  One payment information block per scheme and
sequence type (direct debits) or one block (credit transfers); amounts with two decimals.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from opencass.errors import InternalError

__all__ = [
    "PAIN001",
    "PAIN008",
    "CreditTransfer",
    "DirectDebit",
    "PainError",
    "Party",
    "encode_pain001",
    "encode_pain008",
    "pain_schema",
]

XSD_DIR = Path(__file__).parent / "xsd"
PAIN008 = ("pain.008.001.02", "pain.008.001.08")
PAIN001 = ("pain.001.001.03", "pain.001.001.09")


class PainError(InternalError):
    """A payment file that does not pass its XSD (a programming error: inputs are checked)."""

    code = "PAIN_INVALID"


@dataclass(frozen=True, slots=True)
class Party:
    """An account holder: name, IBAN, BIC."""

    name: str
    iban: str
    bic: str


@dataclass(frozen=True, slots=True)
class DirectDebit:
    """One collection from an agent's account under its mandate."""

    end_to_end_id: str  # at most 35 characters
    amount: Decimal
    debtor: Party
    mandate_id: str
    mandate_signed: date
    scheme: str  # CORE or B2B
    sequence: str  # FRST or RCUR
    remittance: str  # the payment reference, at most 140 characters


@dataclass(frozen=True, slots=True)
class CreditTransfer:
    """One payment to an airline."""

    end_to_end_id: str
    amount: Decimal
    creditor: Party
    remittance: str


@functools.cache
def pain_schema(version: str) -> etree.XMLSchema:
    """The official XSD of ``version`` (e.g. ``pain.008.001.02``)."""
    return etree.XMLSchema(etree.parse(str(XSD_DIR / f"{version}.xsd")))


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


class _Builder:
    """Elements in one namespace, in the order the caller appends them."""

    def __init__(self, version: str) -> None:
        self.ns = f"urn:iso:std:iso:20022:tech:xsd:{version}"
        self.version = version
        self.bic = "BIC" if version in ("pain.008.001.02", "pain.001.001.03") else "BICFI"

    def document(self) -> Any:
        """The root ``Document`` element, the namespace as default."""
        nsmap: Any = {None: self.ns}
        return etree.Element(f"{{{self.ns}}}Document", nsmap=nsmap)

    def el(self, parent: Any, tag: str, text: str | None = None, **attrs: str) -> Any:
        node = etree.SubElement(parent, f"{{{self.ns}}}{tag}", attrs)
        if text is not None:
            node.text = text
        return node

    def path(self, parent: Any, tags: str, text: str) -> Any:
        """``a/b/c`` under ``parent``, the last with ``text``."""
        node = parent
        for tag in tags.split("/"):
            node = self.el(node, tag)
        node.text = text
        return node

    def agent(self, parent: Any, tag: str, bic: str) -> None:
        self.path(self.el(parent, tag), f"FinInstnId/{self.bic}", bic)

    def header(self, root: Any, msg_id: str, created: datetime, count: int, total: Decimal,
               initiator: str) -> None:  # fmt: skip
        hdr = self.el(root, "GrpHdr")
        self.el(hdr, "MsgId", msg_id)
        self.el(hdr, "CreDtTm", created.replace(microsecond=0).isoformat())
        self.el(hdr, "NbOfTxs", str(count))
        self.el(hdr, "CtrlSum", _money(total))
        self.path(hdr, "InitgPty/Nm", initiator[:70])

    def finish(self, doc: Any) -> bytes:
        data: bytes = etree.tostring(doc, xml_declaration=True, encoding="UTF-8", pretty_print=True)
        schema = pain_schema(self.version)
        if not schema.validate(etree.fromstring(data)):
            log: Any = schema.error_log
            raise PainError(f"{self.version}: {log.last_error}")
        return data


def _dd_block(b: _Builder, parent: Any, info_id: str, creditor: Party, creditor_id: str,
              due: date, debits: Sequence[DirectDebit]) -> None:  # fmt: skip
    first = debits[0]
    block = b.el(parent, "PmtInf")
    b.el(block, "PmtInfId", info_id)
    b.el(block, "PmtMtd", "DD")
    b.el(block, "BtchBookg", "true")
    b.el(block, "NbOfTxs", str(len(debits)))
    b.el(block, "CtrlSum", _money(sum((d.amount for d in debits), Decimal(0))))
    kind = b.el(block, "PmtTpInf")
    b.path(kind, "SvcLvl/Cd", "SEPA")
    b.path(kind, "LclInstrm/Cd", first.scheme)
    b.el(kind, "SeqTp", first.sequence)
    b.el(block, "ReqdColltnDt", due.isoformat())
    b.path(block, "Cdtr/Nm", creditor.name[:70])
    b.path(block, "CdtrAcct/Id/IBAN", creditor.iban)
    b.agent(block, "CdtrAgt", creditor.bic)
    b.el(block, "ChrgBr", "SLEV")
    scheme_id = b.path(block, "CdtrSchmeId/Id/PrvtId/Othr/Id", creditor_id)
    b.path(scheme_id.getparent(), "SchmeNm/Prtry", "SEPA")
    for d in debits:
        tx = b.el(block, "DrctDbtTxInf")
        b.path(tx, "PmtId/EndToEndId", d.end_to_end_id)
        b.el(tx, "InstdAmt", _money(d.amount), Ccy="EUR")
        mandate = b.el(b.el(tx, "DrctDbtTx"), "MndtRltdInf")
        b.el(mandate, "MndtId", d.mandate_id)
        b.el(mandate, "DtOfSgntr", d.mandate_signed.isoformat())
        b.agent(tx, "DbtrAgt", d.debtor.bic)
        b.path(tx, "Dbtr/Nm", d.debtor.name[:70])
        b.path(tx, "DbtrAcct/Id/IBAN", d.debtor.iban)
        b.path(tx, "RmtInf/Ustrd", d.remittance[:140])


def encode_pain008(
    version: str, msg_id: str, created: datetime, creditor: Party, creditor_id: str,
    due: date, debits: Sequence[DirectDebit],
) -> bytes:  # fmt: skip
    """A direct debit collection file: one block per scheme and sequence type."""
    b = _Builder(version)
    doc = b.document()
    root = b.el(doc, "CstmrDrctDbtInitn")
    total = sum((d.amount for d in debits), Decimal(0))
    b.header(root, msg_id, created, len(debits), total, creditor.name)
    groups: dict[tuple[str, str], list[DirectDebit]] = {}
    for d in debits:
        groups.setdefault((d.scheme, d.sequence), []).append(d)
    for (scheme, sequence), group in sorted(groups.items()):
        _dd_block(b, root, f"{msg_id}-{scheme}-{sequence}"[:35], creditor, creditor_id, due, group)
    return b.finish(doc)


def encode_pain001(
    version: str, msg_id: str, created: datetime, debtor: Party, execution: date,
    transfers: Sequence[CreditTransfer],
) -> bytes:  # fmt: skip
    """A credit transfer file: one block paying every creditor from ``debtor``'s account."""
    b = _Builder(version)
    doc = b.document()
    root = b.el(doc, "CstmrCdtTrfInitn")
    total = sum((t.amount for t in transfers), Decimal(0))
    b.header(root, msg_id, created, len(transfers), total, debtor.name)
    block = b.el(root, "PmtInf")
    b.el(block, "PmtInfId", f"{msg_id}-TRF"[:35])
    b.el(block, "PmtMtd", "TRF")
    b.el(block, "BtchBookg", "true")
    b.el(block, "NbOfTxs", str(len(transfers)))
    b.el(block, "CtrlSum", _money(total))
    b.path(b.el(block, "PmtTpInf"), "SvcLvl/Cd", "SEPA")
    if version == "pain.001.001.03":
        b.el(block, "ReqdExctnDt", execution.isoformat())
    else:
        b.path(block, "ReqdExctnDt/Dt", execution.isoformat())
    b.path(block, "Dbtr/Nm", debtor.name[:70])
    b.path(block, "DbtrAcct/Id/IBAN", debtor.iban)
    b.agent(block, "DbtrAgt", debtor.bic)
    b.el(block, "ChrgBr", "SLEV")
    for t in transfers:
        tx = b.el(block, "CdtTrfTxInf")
        b.path(tx, "PmtId/EndToEndId", t.end_to_end_id)
        b.el(b.el(tx, "Amt"), "InstdAmt", _money(t.amount), Ccy="EUR")
        b.agent(tx, "CdtrAgt", t.creditor.bic)
        b.path(tx, "Cdtr/Nm", t.creditor.name[:70])
        b.path(tx, "CdtrAcct/Id/IBAN", t.creditor.iban)
        b.path(tx, "RmtInf/Ustrd", t.remittance[:140])
    return b.finish(doc)
