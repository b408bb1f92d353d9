"""Reading ISO 20022 camt.053 (bank-to-customer statement) and camt.054 (debit/credit
notification) documents into plain entries: what was credited, when, by whom, with which
remittance information.

Theory of operation
-------------------
A document is first validated against the official XSD of its own version (the namespace names
it: ``urn:iso:std:iso:20022:tech:xsd:camt.053.001.08``); only versions in ``CAMT_VERSIONS`` are
read, and a document that violates its schema is refused whole (``CamtError``), never read in
part.  Then every entry (``Ntry``) of every statement (``Stmt``) or notification (``Ntfctn``)
becomes one ``CamtEntry`` per transaction (``NtryDtls/TxDtls``; an entry without transaction
details is one entry).  Versions .02 to .08 differ in a few places that matter here, read
every way: the entry status (``Sts`` text up to .06, ``Sts/Cd`` from .07), the transaction
amount (``AmtDtls/TxAmt/Amt`` in .02, ``Amt`` from .03) and the debtor (``Dbtr/Nm`` up to .06,
``Dbtr/Pty/Nm`` from .07).

Content opencass does not use never fails a schema-valid document: a batch entry whose
transactions carry no amounts of their own is read as one entry at the entry's amount (its
remittance texts joined, ``batch=True``), and only a credit is ever looked at.

A statement sent again by the bank -- marked a copy or duplicate (``CpyDplctInd``), or simply
the same statement -- names its transactions the same way: without a bank reference, by the
statement's identity (account, ``Id``, sequence number) and the entry's place in it.

The reader decides nothing about money: the caller keeps booked credits (``entry.credit and
entry.booked``) and matches them.  ``CamtEntry.key`` names a transaction the same way in a
camt.054 notification and in the camt.053 statement that books it later (the account and the
bank's reference), so a payment notified twice is recognised.

Pure: no I/O besides reading the packaged XSDs once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

from lxml import etree

from opencass.errors import InputError

__all__ = [
    "CAMT_VERSIONS",
    "CamtEntry",
    "CamtError",
    "CamtStatement",
    "camt_version",
    "load_camt_schema",
    "read_camt",
]

_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"

#: Supported message versions (the XSDs shipped in ``xsd/``).
CAMT_VERSIONS: tuple[str, ...] = tuple(
    f"camt.{kind}.001.{n:02d}" for kind in ("053", "054") for n in range(2, 9)
)


class CamtError(InputError, ValueError):
    """A document that is not a supported camt message or violates its XSD."""

    code = "CAMT_SCHEMA_INVALID"

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True, slots=True)
class CamtEntry:
    """One transaction of a statement or notification entry."""

    position: int  # 1-based, in document order
    line: int | None  # source line of the Ntry element
    amount: Decimal
    currency: str
    credit: bool  # CdtDbtInd CRDT
    booked: bool  # entry status BOOK
    reversal: bool  # RvslInd true
    value_date: date | None
    booking_date: date | None
    account: str  # the statement's account: IBAN or other id
    entry_ref: str  # Ntry/AcctSvcrRef
    tx_ref: str  # TxDtls/Refs/AcctSvcrRef
    end_to_end: str  # TxDtls/Refs/EndToEndId
    tx_index: int  # 1-based index of the transaction within its entry
    unstructured: str  # RmtInf/Ustrd lines joined with a space
    creditor_refs: tuple[str, ...]  # RmtInf/Strd/CdtrRefInf/Ref
    debtor: str  # the debtor's name
    debtor_account: str  # the debtor's IBAN or other id
    statement_id: str = ""  # Stmt/Id or Ntfctn/Id
    sequence: str = ""  # ElctrncSeqNb, else LglSeqNb
    copy: str = ""  # CpyDplctInd: CODU, COPY or DUPL ("" for an original)
    entry_index: int = 1  # 1-based place of the entry within its statement
    batch: bool = False  # a batch entry read whole (its transactions carry no amounts)
    return_reason: str = ""  # TxDtls/RtrInf/Rsn/Cd: a returned direct debit or transfer (AM04)

    @property
    def remittance_text(self) -> str:
        """Every piece of remittance information, for reference matching."""
        return " ".join([*self.creditor_refs, self.unstructured]).strip()

    @property
    def key(self) -> str | None:
        """A stable name of the transaction across documents, or None when the bank gave no
        reference to build one from."""
        if self.tx_ref:
            return f"{self.account}:tx:{self.tx_ref}"
        if self.entry_ref:
            return f"{self.account}:ntry:{self.entry_ref}:{self.tx_index}"
        if self.statement_id:
            where = f"{self.statement_id}/{self.sequence}:{self.entry_index}:{self.tx_index}"
            return f"{self.account}:stmt:{where}"
        return None


@dataclass(frozen=True, slots=True)
class CamtStatement:
    """A whole document: its version, message id and entries."""

    version: str  # e.g. camt.053.001.08
    message_id: str
    entries: tuple[CamtEntry, ...]

    @property
    def kind(self) -> str:
        """``camt.053`` or ``camt.054``."""
        return self.version[:8]


def camt_version(tag: str) -> str | None:
    """The supported camt version of a root element's Clark tag, or None."""
    if not tag.startswith("{" + _PREFIX) or not tag.endswith("}Document"):
        return None
    version = tag[len(_PREFIX) + 1 : -len("}Document")]
    return version if version in CAMT_VERSIONS else None


@functools.cache
def load_camt_schema(version: str) -> etree.XMLSchema:
    """The official XSD of ``version`` (one of ``CAMT_VERSIONS``), compiled once."""
    if version not in CAMT_VERSIONS:
        raise CamtError(f"unsupported camt version {version}")
    data = resources.files(__package__).joinpath("xsd", f"{version}.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(data, etree.XMLParser(resolve_entities=False)))


def _text(el: Any, path: str, ns: dict[str, str]) -> str:
    found = el.find(path, ns)
    return (found.text or "").strip() if found is not None else ""


def _date(el: Any, path: str, ns: dict[str, str]) -> date | None:
    value = _text(el, f"{path}/c:Dt", ns) or _text(el, f"{path}/c:DtTm", ns)[:10]
    return date.fromisoformat(value) if value else None


def _account_id(el: Any, path: str, ns: dict[str, str]) -> str:
    return _text(el, f"{path}/c:Id/c:IBAN", ns) or _text(el, f"{path}/c:Id/c:Othr/c:Id", ns)


def _amount(el: Any) -> tuple[Decimal, str]:
    try:
        return Decimal((el.text or "").strip()), str(el.get("Ccy", ""))
    except InvalidOperation:  # the XSD rules this out; defensive
        raise CamtError("an amount is not a decimal number", el.sourceline) from None


def read_camt(root: Any) -> CamtStatement:
    """Validate ``root`` (an lxml element) against its version's XSD and read its entries."""
    tag = str(root.tag)
    version = camt_version(tag)
    if version is None:
        raise CamtError(f"not a supported camt document: {tag}")
    schema = load_camt_schema(version)
    if not schema.validate(root):
        log: Any = schema.error_log
        first = log[0] if len(log) else None
        message = first.message if first is not None else "invalid"
        raise CamtError(f"{version}: {message}", first.line if first is not None else None)
    ns = {"c": _PREFIX + version}
    if version.startswith("camt.053"):
        body, reports = "c:BkToCstmrStmt", "c:Stmt"
    else:
        body, reports = "c:BkToCstmrDbtCdtNtfctn", "c:Ntfctn"
    message_id = _text(root, f"{body}/c:GrpHdr/c:MsgId", ns)
    entries: list[CamtEntry] = []
    for report in root.iterfind(f"{body}/{reports}", ns):
        account = _account_id(report, "c:Acct", ns)
        statement_id = _text(report, "c:Id", ns)
        sequence = _text(report, "c:ElctrncSeqNb", ns) or _text(report, "c:LglSeqNb", ns)
        copy = _text(report, "c:CpyDplctInd", ns)
        for n, ntry in enumerate(report.iterfind("c:Ntry", ns), 1):
            entries.extend(
                replace(e, entry_index=n, statement_id=statement_id, sequence=sequence, copy=copy)
                for e in _entries(ntry, account, ns, len(entries))
            )
    return CamtStatement(version, message_id, tuple(entries))


def _entries(ntry: Any, account: str, ns: dict[str, str], before: int) -> list[CamtEntry]:
    amt_el = ntry.find("c:Amt", ns)
    amount, currency = _amount(amt_el)
    status = _text(ntry, "c:Sts/c:Cd", ns) or _text(ntry, "c:Sts", ns)
    entry = CamtEntry(
        position=before + 1,
        line=ntry.sourceline,
        amount=amount,
        currency=currency,
        credit=_text(ntry, "c:CdtDbtInd", ns) == "CRDT",
        booked=status == "BOOK",
        reversal=_text(ntry, "c:RvslInd", ns).lower() in ("true", "1"),
        value_date=_date(ntry, "c:ValDt", ns),
        booking_date=_date(ntry, "c:BookgDt", ns),
        account=account,
        entry_ref=_text(ntry, "c:AcctSvcrRef", ns),
        tx_ref="",
        end_to_end="",
        tx_index=1,
        unstructured=_text(ntry, "c:AddtlNtryInf", ns),
        creditor_refs=(),
        debtor="",
        debtor_account="",
    )
    txs = list(ntry.iterfind("c:NtryDtls/c:TxDtls", ns))
    if not txs:
        return [entry]
    amounts = [_tx_amount(tx, ns) for tx in txs]
    if len(txs) > 1 and any(a is None for a in amounts):
        # a batch whose transactions carry no amounts: one entry, every text of it
        texts = [entry.unstructured, *(_remittance(tx, ns)[0] for tx in txs)]
        refs = tuple(r for tx in txs for r in _remittance(tx, ns)[1])
        return [
            replace(
                entry,
                unstructured=" ".join(t for t in texts if t),
                creditor_refs=refs,
                batch=True,
            )
        ]
    return [
        _transaction(entry, tx, tx_amt, before + i, i, ns)
        for i, (tx, tx_amt) in enumerate(zip(txs, amounts, strict=True), 1)
    ]


def _transaction(
    entry: CamtEntry, tx: Any, tx_amt: Any, position: int, index: int, ns: dict[str, str]
) -> CamtEntry:
    """One transaction of an entry, as an entry of its own (its amount, else the entry's)."""
    if tx_amt is not None:
        tx_amount, tx_currency = _amount(tx_amt)
    else:
        tx_amount, tx_currency = entry.amount, entry.currency
    unstructured, refs = _remittance(tx, ns)
    debtor = _text(tx, "c:RltdPties/c:Dbtr/c:Pty/c:Nm", ns) or _text(
        tx, "c:RltdPties/c:Dbtr/c:Nm", ns
    )
    return replace(
        entry,
        position=position,
        amount=tx_amount,
        currency=tx_currency,
        tx_ref=_text(tx, "c:Refs/c:AcctSvcrRef", ns),
        end_to_end=_text(tx, "c:Refs/c:EndToEndId", ns),
        tx_index=index,
        unstructured=unstructured,
        creditor_refs=refs,
        debtor=debtor,
        debtor_account=_account_id(tx, "c:RltdPties/c:DbtrAcct", ns),
        return_reason=_text(tx, "c:RtrInf/c:Rsn/c:Cd", ns),
    )


def _tx_amount(tx: Any, ns: dict[str, str]) -> Any:
    found = tx.find("c:Amt", ns)
    return found if found is not None else tx.find("c:AmtDtls/c:TxAmt/c:Amt", ns)


def _remittance(tx: Any, ns: dict[str, str]) -> tuple[str, tuple[str, ...]]:
    """(unstructured text, creditor references) of a transaction: ``RmtInf/Ustrd`` lines and
    ``AddtlTxInf`` joined, ``RmtInf/Strd/CdtrRefInf/Ref`` values."""
    texts = [(u.text or "").strip() for u in tx.iterfind("c:RmtInf/c:Ustrd", ns)]
    texts.append(_text(tx, "c:AddtlTxInf", ns))
    refs = [(r.text or "").strip() for r in tx.iterfind("c:RmtInf/c:Strd/c:CdtrRefInf/c:Ref", ns)]
    return " ".join(t for t in texts if t), tuple(r for r in refs if r)
