"""The invoice as UN/CEFACT Cross Industry Invoice (CII D16B), Factur-X / ZUGFeRD profile EN 16931.

The same business terms as the UBL writer (``ubl``), in CII's structure: document context
(BT-24 ``urn:cen.eu:en16931:2017``), number, type code (380 invoice, 381 credit note), issue date
and notes; one trade line item per invoice line (quantity 1 or −1, net price ≥ 0, its VAT
category and rate); the agreement (buyer reference, seller and buyer with legal organisation,
contact, postal address, electronic address and VAT id), the delivery (empty: the supply is the
billing period), and the settlement (creditor id and payment reference, currency, payment
means with the accounts or the mandate, the VAT breakdown with exemption reasons, the billing
period, payment terms with due date and mandate, totals, and the invoices a credit note
refers to).  A credit note's amounts are the invoice's with the sign flipped, as in UBL.

``factur_x_pdf`` embeds the XML in the invoice PDF as ``factur-x.xml`` with the ``factur-x``
package, which checks it against the profile's XSD and makes the file PDF/A-3 (XMP metadata,
sRGB output intent, the attachment's relationship).  Deterministic like the PDF itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from lxml import etree

from opencass.documents.invoices.model import CREDIT_NOTE, Invoice, Party, exemption
from opencass.documents.invoices.texts import line_name, tr
from opencass.model import minor_units

__all__ = ["NS_RAM", "NS_RSM", "NS_UDT", "factur_x_pdf", "invoice_cii"]

NS_RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
NS_RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
NS_UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
NS_QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
GUIDELINE = "urn:cen.eu:en16931:2017"


def _el(parent: Any, ns: str, name: str, text: str | None = None, **attrs: str) -> Any:
    e = etree.SubElement(parent, f"{{{ns}}}{name}", attrs)
    if text is not None:
        e.text = text
    return e


def _ram(parent: Any, name: str, text: str | None = None, **attrs: str) -> Any:
    return _el(parent, NS_RAM, name, text, **attrs)


def _date(parent: Any, name: str, day: date) -> None:
    holder = _ram(parent, name)
    _el(holder, NS_UDT, "DateTimeString", day.strftime("%Y%m%d"), format="102")


def _percent(rate: Decimal) -> str:
    return format(rate.normalize(), "f")


class _Money:
    def __init__(self, inv: Invoice) -> None:
        self.sign, self.cur = inv.sign, inv.data.currency
        self.places = minor_units(self.cur)

    def text(self, value: Decimal) -> str:
        v = value * self.sign
        return f"{v.copy_abs() if v.is_zero() else v:.{self.places}f}"


def _party(parent: Any, role: str, p: Party) -> None:
    party = _ram(parent, role)
    if p.id:
        _ram(party, "ID", p.id)
    _ram(party, "Name", p.legal_name)
    if p.registration:
        _ram(_ram(party, "SpecifiedLegalOrganization"), "ID", p.registration)
    c = p.contact
    if c is not None and (c.name or c.phone or c.email):
        contact = _ram(party, "DefinedTradeContact")
        if c.name:
            _ram(contact, "PersonName", c.name)
        if c.phone:
            _ram(_ram(contact, "TelephoneUniversalCommunication"), "CompleteNumber", c.phone)
        if c.email:
            _ram(_ram(contact, "EmailURIUniversalCommunication"), "URIID", c.email)
    address = _ram(party, "PostalTradeAddress")
    a = p.postal
    if a is not None:
        if a.postcode:
            _ram(address, "PostcodeCode", a.postcode)
        if a.street:
            _ram(address, "LineOne", a.street)
        if a.additional:
            _ram(address, "LineTwo", a.additional)
        if a.city:
            _ram(address, "CityName", a.city)
    elif p.address:
        _ram(address, "LineOne", p.address)
    _ram(address, "CountryID", p.country)
    if a is not None and a.subdivision:
        _ram(address, "CountrySubDivisionName", a.subdivision)
    if p.electronic_address:
        scheme, _, ident = p.electronic_address.partition(":")
        _ram(_ram(party, "URIUniversalCommunication"), "URIID", ident, schemeID=scheme)
    if p.tax_id:
        _ram(_ram(party, "SpecifiedTaxRegistration"), "ID", p.tax_id, schemeID="VA")


def _tax(parent: Any, category: str, rate: Decimal) -> Any:
    tax = _ram(parent, "ApplicableTradeTax")
    _ram(tax, "TypeCode", "VAT")
    _ram(tax, "CategoryCode", category)
    if category != "O":
        _ram(tax, "RateApplicablePercent", _percent(rate))
    return tax


def _lines(transaction: Any, inv: Invoice, money: _Money) -> None:
    t = tr(inv.language)
    for line in inv.data.lines:
        item = _ram(transaction, "IncludedSupplyChainTradeLineItem")
        _ram(_ram(item, "AssociatedDocumentLineDocument"), "LineID", line.id)
        product = _ram(item, "SpecifiedTradeProduct")
        _ram(product, "SellerAssignedID", f"{line.airline_prefix}-{line.side}")
        _ram(product, "Name", line_name(t, line, inv.airline(line.airline_prefix)))
        net = line.base * inv.sign
        price = _ram(_ram(item, "SpecifiedLineTradeAgreement"), "NetPriceProductTradePrice")
        _ram(price, "ChargeAmount", f"{abs(net):.{money.places}f}")
        delivery = _ram(item, "SpecifiedLineTradeDelivery")
        _ram(delivery, "BilledQuantity", "-1" if net < 0 else "1", unitCode="C62")
        settlement = _ram(item, "SpecifiedLineTradeSettlement")
        _tax(settlement, line.category, line.rate)
        summation = _ram(settlement, "SpecifiedTradeSettlementLineMonetarySummation")
        _ram(summation, "LineTotalAmount", money.text(line.base))


def _settlement(transaction: Any, inv: Invoice, money: _Money) -> None:
    s = _ram(transaction, "ApplicableHeaderTradeSettlement")
    pay = inv.payment
    if pay is not None and pay.creditor_id:
        _ram(s, "CreditorReferenceID", pay.creditor_id)
    if pay is not None:
        _ram(s, "PaymentReference", pay.reference)
    _ram(s, "InvoiceCurrencyCode", inv.data.currency)
    means = _ram(s, "SpecifiedTradeSettlementPaymentMeans")
    _ram(means, "TypeCode", pay.means if pay else "97")
    if pay is not None and pay.payer_iban:
        _ram(_ram(means, "PayerPartyDebtorFinancialAccount"), "IBANID", pay.payer_iban)
    if pay is not None and pay.payee_iban:
        account = _ram(means, "PayeePartyCreditorFinancialAccount")
        _ram(account, "IBANID", pay.payee_iban)
        if pay.payee_name:
            _ram(account, "AccountName", pay.payee_name)
        if pay.payee_bic:
            bank = _ram(means, "PayeeSpecifiedCreditorFinancialInstitution")
            _ram(bank, "BICID", pay.payee_bic)
    for sub in inv.data.taxes:
        tax = _ram(s, "ApplicableTradeTax")
        _ram(tax, "CalculatedAmount", money.text(sub.tax))
        _ram(tax, "TypeCode", "VAT")
        code, reason = exemption(sub.category, sub.exemption_reason, sub.exemption_code) or ("", "")
        if reason:
            _ram(tax, "ExemptionReason", reason)
        _ram(tax, "BasisAmount", money.text(sub.base))
        _ram(tax, "CategoryCode", sub.category)
        if code:
            _ram(tax, "ExemptionReasonCode", code)
        if sub.category != "O":
            _ram(tax, "RateApplicablePercent", _percent(sub.rate))
    period = _ram(s, "BillingSpecifiedPeriod")
    _date(period, "StartDateTime", inv.supply_from)
    _date(period, "EndDateTime", inv.supply_to)
    terms = _ram(s, "SpecifiedTradePaymentTerms")
    if inv.payment_terms:
        _ram(terms, "Description", inv.payment_terms)
    _date(terms, "DueDateDateTime", inv.due_date)
    if pay is not None and pay.mandate_id:
        _ram(terms, "DirectDebitMandateID", pay.mandate_id)
    total = _ram(s, "SpecifiedTradeSettlementHeaderMonetarySummation")
    _ram(total, "LineTotalAmount", money.text(inv.data.net))
    _ram(total, "TaxBasisTotalAmount", money.text(inv.data.net))
    _ram(total, "TaxTotalAmount", money.text(inv.data.tax), currencyID=inv.data.currency)
    _ram(total, "GrandTotalAmount", money.text(inv.data.total))
    _ram(total, "DuePayableAmount", money.text(inv.data.total))
    for ref in inv.references:
        doc = _ram(s, "InvoiceReferencedDocument")
        _ram(doc, "IssuerAssignedID", ref.number)
        holder = _ram(doc, "FormattedIssueDateTime")
        _el(holder, NS_QDT, "DateTimeString", ref.issue_date.strftime("%Y%m%d"), format="102")


def invoice_cii(inv: Invoice) -> bytes:
    """The CII XML of ``inv`` (Factur-X EN 16931 profile), UTF-8 bytes."""
    nsmap: Any = {"rsm": NS_RSM, "ram": NS_RAM, "udt": NS_UDT, "qdt": NS_QDT}
    root = etree.Element(f"{{{NS_RSM}}}CrossIndustryInvoice", nsmap=nsmap)
    context = _el(root, NS_RSM, "ExchangedDocumentContext")
    _ram(_ram(context, "GuidelineSpecifiedDocumentContextParameter"), "ID", GUIDELINE)
    doc = _el(root, NS_RSM, "ExchangedDocument")
    _ram(doc, "ID", inv.number)
    _ram(doc, "TypeCode", "381" if inv.kind == CREDIT_NOTE else "380")
    _date(doc, "IssueDateTime", inv.issue_date)
    for mention in inv.mentions:
        _ram(_ram(doc, "IncludedNote"), "Content", mention)
    transaction = _el(root, NS_RSM, "SupplyChainTradeTransaction")
    money = _Money(inv)
    _lines(transaction, inv, money)
    agreement = _ram(transaction, "ApplicableHeaderTradeAgreement")
    _ram(agreement, "BuyerReference", inv.data.agent_code)
    _party(agreement, "SellerTradeParty", inv.issuer)
    _party(agreement, "BuyerTradeParty", inv.recipient)
    _ram(transaction, "ApplicableHeaderTradeDelivery")
    _settlement(transaction, inv, money)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


_PINNED = threading.Lock()


@contextmanager
def _clock_of_factur_x(at: datetime) -> Iterator[None]:
    """The ``factur-x`` package stamps the file with the clock; pinned to the invoice's issue
    time here, so that a re-run gives the same bytes (a lock: the patch is process-wide)."""
    import facturx.facturx as fx

    pdf_stamp = at.astimezone(UTC).strftime("D:%Y%m%d%H%M%S+00'00'")
    xmp_stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    with _PINNED:
        saved = fx._get_pdf_timestamp, fx._get_metadata_timestamp
        fx._get_pdf_timestamp = lambda date=None: pdf_stamp if date is None else saved[0](date)
        fx._get_metadata_timestamp = lambda: xmp_stamp
        try:
            yield
        finally:
            fx._get_pdf_timestamp, fx._get_metadata_timestamp = saved


def factur_x_pdf(pdf: bytes, inv: Invoice) -> bytes:
    """``pdf`` as a Factur-X (EN 16931 profile) PDF/A-3 with the invoice's CII embedded."""
    import logging

    from facturx import generate_from_binary

    logging.getLogger("factur-x").setLevel(logging.WARNING)
    kind = "Credit note" if inv.kind == CREDIT_NOTE else "Invoice"
    meta = {
        "author": inv.issuer.legal_name,
        "keywords": "Factur-X, CASS",
        "title": f"{inv.issuer.legal_name}: {kind} {inv.number}",
        "subject": f"{kind} {inv.number} of {inv.issue_date.isoformat()}",
    }
    with _clock_of_factur_x(datetime.fromisoformat(inv.issued_at)):
        out = generate_from_binary(
            pdf, invoice_cii(inv), flavor="factur-x", level="en16931", check_xsd=True,
            pdf_metadata=meta, lang=inv.language,
        )  # fmt: skip
    return bytes(out)
