"""Builders of ISO 20022 camt.053 / camt.054 documents for the tests (valid per the XSDs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from lxml import etree

ACCOUNT = "DE89370400440532013000"  # the CASS collection account
DEBTOR_IBAN = "DE02120300000000202051"


@dataclass(frozen=True)
class Tx:
    """One transaction of an entry."""

    amount: Decimal | None = None  # None: the entry's amount (single transaction)
    ustrd: tuple[str, ...] = ()
    creditor_ref: str = ""
    debtor: str = "Agent One Spedition GmbH"
    debtor_iban: str = DEBTOR_IBAN
    ref: str = ""  # TxDtls/Refs/AcctSvcrRef
    end_to_end: str = "NOTPROVIDED"
    addtl: str = ""  # AddtlTxInf
    return_reason: str = ""  # RtrInf/Rsn/Cd (a returned direct debit: AM04, MD06, ...)


@dataclass(frozen=True)
class Ntry:
    """One entry."""

    amount: Decimal
    value: date
    credit: bool = True
    status: str = "BOOK"
    booked: date | None = None
    ref: str = ""  # Ntry/AcctSvcrRef
    txs: tuple[Tx, ...] = field(default_factory=lambda: (Tx(),))
    currency: str = "EUR"
    reversal: bool = False  # RvslInd


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{parent.nsmap[None]}}}{tag}", **attrs)
    if text is not None:
        el.text = text
    return el


def _date(parent: etree._Element, tag: str, d: date) -> None:
    _sub(_sub(parent, tag), "Dt", d.isoformat())


def _amount(parent: etree._Element, tag: str, amount: Decimal, ccy: str) -> None:
    _sub(parent, tag, f"{amount:.2f}", Ccy=ccy)


def camt(
    version: str,
    entries: list[Ntry],
    msg_id: str = "MSG-1",
    *,
    stmt_id: str | None = None,
    sequence: int | None = None,
    copy: str = "",
) -> bytes:
    """A camt document of ``version`` (camt.053 or camt.054, .001.02 to .001.08)."""
    ns = f"urn:iso:std:iso:20022:tech:xsd:{version}"
    number = int(version[-2:])
    v8 = number >= 7  # Sts/Cd and Dbtr/Pty from .07 on
    direct_amount = number >= 3  # TxDtls/Amt from .03 on
    stmt = version.startswith("camt.053")
    root = etree.Element(f"{{{ns}}}Document", nsmap={None: ns})
    body = _sub(root, "BkToCstmrStmt" if stmt else "BkToCstmrDbtCdtNtfctn")
    hdr = _sub(body, "GrpHdr")
    _sub(hdr, "MsgId", msg_id)
    _sub(hdr, "CreDtTm", "2026-12-21T06:00:00")
    rpt = _sub(body, "Stmt" if stmt else "Ntfctn")
    _sub(rpt, "Id", stmt_id or f"{msg_id}-1")
    if sequence is not None:
        _sub(rpt, "ElctrncSeqNb", str(sequence))
    _sub(rpt, "CreDtTm", "2026-12-21T06:00:00")
    if copy:
        _sub(rpt, "CpyDplctInd", copy)
    acct = _sub(rpt, "Acct")
    _sub(_sub(acct, "Id"), "IBAN", ACCOUNT)
    _sub(acct, "Ccy", "EUR")
    if stmt:
        bal = _sub(rpt, "Bal")
        tp = _sub(bal, "Tp")
        _sub(_sub(tp, "CdOrPrtry"), "Cd", "CLBD")
        _amount(bal, "Amt", Decimal("1000.00"), "EUR")
        _sub(bal, "CdtDbtInd", "CRDT")
        _date(bal, "Dt", date(2026, 12, 20))
    for e in entries:
        n = _sub(rpt, "Ntry")
        _amount(n, "Amt", e.amount, e.currency)
        _sub(n, "CdtDbtInd", "CRDT" if e.credit else "DBIT")
        if e.reversal:
            _sub(n, "RvslInd", "true")
        if v8:
            _sub(_sub(n, "Sts"), "Cd", e.status)
        else:
            _sub(n, "Sts", e.status)
        _date(n, "BookgDt", e.booked or e.value)
        _date(n, "ValDt", e.value)
        if e.ref:
            _sub(n, "AcctSvcrRef", e.ref)
        dom = _sub(_sub(n, "BkTxCd"), "Domn")
        _sub(dom, "Cd", "PMNT")
        fmly = _sub(dom, "Fmly")
        _sub(fmly, "Cd", "RCDT")
        _sub(fmly, "SubFmlyCd", "ESCT")
        if not e.txs:
            continue
        details = _sub(n, "NtryDtls")
        for t in e.txs:
            tx = _sub(details, "TxDtls")
            refs = _sub(tx, "Refs")
            if t.ref:
                _sub(refs, "AcctSvcrRef", t.ref)
            _sub(refs, "EndToEndId", t.end_to_end)
            if 3 <= number <= 6:  # Amt and CdtDbtInd are mandatory there
                _amount(tx, "Amt", e.amount if t.amount is None else t.amount, e.currency)
                _sub(tx, "CdtDbtInd", "CRDT" if e.credit else "DBIT")
            elif t.amount is not None:
                if direct_amount:
                    _amount(tx, "Amt", t.amount, e.currency)
                else:
                    _amount(_sub(_sub(tx, "AmtDtls"), "TxAmt"), "Amt", t.amount, e.currency)
            parties = _sub(tx, "RltdPties")
            debtor = _sub(parties, "Dbtr")
            _sub(_sub(debtor, "Pty") if v8 else debtor, "Nm", t.debtor)
            _sub(_sub(_sub(parties, "DbtrAcct"), "Id"), "IBAN", t.debtor_iban)
            if t.ustrd or t.creditor_ref:
                rmt = _sub(tx, "RmtInf")
                for u in t.ustrd:
                    _sub(rmt, "Ustrd", u)
                if t.creditor_ref:
                    cref = _sub(_sub(rmt, "Strd"), "CdtrRefInf")
                    _sub(cref, "Ref", t.creditor_ref)
            if t.return_reason:
                _sub(_sub(_sub(tx, "RtrInf"), "Rsn"), "Cd", t.return_reason)
            if t.addtl:
                _sub(tx, "AddtlTxInf", t.addtl)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
