"""Encoding of a billing file as a ``cass:BillingSubmission`` RDF/XML document.

Theory of operation
-------------------
The writer walks ``BillingFile.records`` once, in order, and emits text.  File-level values
(header, the trailer's identity where it differs from the header's) come first, then one
``cass:hasWaybill`` → ``cargo:Waybill`` element per *primary* record: an AWB record (its values
on the waybill and its ``cargo:BillingDetails``) or a correction record (its values on a waybill
node of its own, with ``cargo:Adjustments`` naming the record type, CCA/DCM number and reason).
Itemised other-charges records that follow their primary record go into the same element as
``cargo:otherCharges``; one that follows no matching record gets an element of its own.  So the
document order of waybill elements, and of other charges inside them, is the record order.

Shared nodes (airports, agent parties, carriers) are described where first used and linked by
``rdf:resource`` afterwards.  Amounts equal to the zero of the record's currency and absent
optional values are omitted; the reader restores them.  Each primary record starts a line and
each itemised record starts one, so findings can point at a record's line.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from opencass.codecs.onerecord import rdfxml as rx
from opencass.codecs.onerecord.header import billing_period
from opencass.codecs.onerecord.mapping import (
    AWB_CHARGE_LINES,
    CORRECTION_CHARGE_LINES,
    IMPORT_AMOUNTS,
    IMPORT_CHARGE_LINES,
    PERCENT_ZERO,
    RATE_ZERO,
    Iris,
    company_code,
    currency_zero,
)
from opencass.codecs.onerecord.vocab import (
    AGENT_ROLE,
    AWB_USE,
    CHARGE_ID,
    CURRENCY,
    ENTITLEMENT,
    MASTER,
    ONTOLOGY_VERSION,
    OTHER_CHARGE_CODE,
    PC,
    WEIGHT_UNIT,
    other_charge_codes,
)
from opencass.model import (
    IMPORT_HEADER_IDS,
    AwbRecord,
    BillingFile,
    BillingHeader,
    BillingTrailer,
    CorrectionRecord,
    ImportRecord,
    OtherChargesRecord,
    operation_key,
)

__all__ = ["iter_submission"]

ROOT = "cass:BillingSubmission"
_OC_OWNER = {"CCA": "CC3", "DCM": "DC3"}


def _code(table: dict[str, str], value: str, what: str) -> str:
    iri = table.get(value)
    if iri is None:
        raise ValueError(f"{what} {value!r} has no member in its ONE Record code list")
    return iri


class _Writer:
    """State of one document: its IRIs and the shared nodes already described."""

    def __init__(self, base: str) -> None:
        self.iris = Iris(base)
        self.described: set[str] = set()

    # -- file level ----------------------------------------------------------------------------

    def header(self, h: BillingHeader, t: BillingTrailer) -> Iterator[str]:
        iris = self.iris
        importing = h.record_id in IMPORT_HEADER_IDS
        kind = "import" if importing else "export"
        party = h.airline_prefix or (h.recipient if importing else h.agent_code) or "x"
        start = h.period_start.strftime("%Y%m%d")
        about = iris.submission(h.operation, party, start, h.file_number)
        yield rx.root_start(ROOT, about)
        if h.record_id != (IMPORT_HEADER_IDS[0] if importing else "AAA"):
            yield rx.literal("cass:recordType", h.record_id) + "\n"
        if h.airline_prefix:
            yield self.carrier(h.airline_prefix) + "\n"
        if h.agent_code:
            code = h.recipient if importing else h.agent_code
            yield (
                rx.open_node("cass:billedParty", "cargo:Company", iris.company(code))
                + company_code(code)
                + rx.close_node("cass:billedParty", "cargo:Company")
                + "\n"
            )
        yield rx.literal("cass:cassCountry", h.operation) + "\n"
        if t.office:
            yield rx.literal("cass:cassOffice", t.office) + "\n"
        if h.branch:
            yield rx.literal("cass:branchOfficeIndicator", h.branch) + "\n"
        yield rx.literal("cass:billingPeriod", billing_period(h.period_start, h.period_end)) + "\n"
        yield rx.date_literal("cass:billingDate", h.billing_date.isoformat()) + "\n"
        yield rx.literal("cass:fileNumber", h.file_number) + "\n"
        if h.currency:
            yield rx.link("cass:currency", CURRENCY + h.currency) + "\n"
        yield rx.link("cass:ontologyVersion", ONTOLOGY_VERSION) + "\n"
        if (t.country, t.airline_prefix, t.branch) != (h.country, h.airline_prefix, h.branch):
            yield rx.open_node("cass:trailer", "cass:FileTrailer", about + "#trailer")
            if t.airline_prefix:
                yield self.carrier(t.airline_prefix)
            yield rx.literal("cass:cassCountry", operation_key(t.country, kind))
            if t.branch:
                yield rx.literal("cass:branchOfficeIndicator", t.branch)
            yield rx.close_node("cass:trailer", "cass:FileTrailer") + "\n"

    def carrier(self, prefix: str) -> str:
        return (
            rx.open_node("cass:submittedBy", "cargo:Carrier", self.iris.carrier(prefix))
            + rx.literal("cargo:prefix", prefix)
            + rx.close_node("cass:submittedBy", "cargo:Carrier")
        )

    # -- shared nodes --------------------------------------------------------------------------

    def location(self, prop: str, code: str) -> str:
        iri = self.iris.location(code)
        if iri in self.described:
            return rx.link(prop, iri)
        self.described.add(iri)
        return (
            rx.open_node(prop, "cargo:Location", iri)
            + rx.open_node("cargo:locationCodes", "cargo:CodeListElement", iri + "#code")
            + rx.literal("cargo:code", code)
            + rx.close_node("cargo:locationCodes", "cargo:CodeListElement")
            + rx.close_node(prop, "cargo:Location")
        )

    def agent(self, code: str) -> str:
        iri = self.iris.agent_party(code)
        if iri in self.described:
            return rx.link("cargo:involvedParties", iri)
        self.described.add(iri)
        return (
            rx.open_node("cargo:involvedParties", "cargo:Party", iri)
            + rx.link("cargo:partyRole", AGENT_ROLE)
            + rx.open_node("cargo:partyDetails", "cargo:Company", self.iris.company(code))
            + company_code(code)
            + rx.close_node("cargo:partyDetails", "cargo:Company")
            + rx.close_node("cargo:involvedParties", "cargo:Party")
        )

    # -- waybill elements ----------------------------------------------------------------------

    def waybill_start(self, about: str, prefix: str, serial: str) -> str:
        return (
            rx.open_node("cass:hasWaybill", "cargo:Waybill", about)
            + rx.literal("cargo:waybillPrefix", prefix)
            + rx.literal("cargo:waybillNumber", serial)
            + rx.link("cargo:waybillType", MASTER)
        )

    def shipment(self, r: AwbRecord | CorrectionRecord | ImportRecord, about: str) -> list[str]:
        """Locations, agent and gross weight: what a waybill says beyond its number."""
        out = [
            self.location("cargo:departureLocation", r.origin),
            self.location("cargo:arrivalLocation", r.destination),
            self.agent(r.agent_code),
            rx.open_node("cargo:totalGrossWeight", "cargo:Value", about + "#weight"),
            rx.decimal_literal("cargo:numericalValue", r.gross_weight),
        ]
        if r.weight_unit:
            out.append(rx.link("cargo:unit", _code(WEIGHT_UNIT, r.weight_unit, "weight unit")))
        out.append(rx.close_node("cargo:totalGrossWeight", "cargo:Value"))
        return out

    def amount(self, prop: str, about: str, currency: str, value: Decimal) -> str:
        return (
            rx.open_node(prop, "cargo:CurrencyValue", about)
            + (rx.link("cargo:currencyUnit", CURRENCY + currency) if currency else "")
            + rx.decimal_literal("cargo:numericalValue", value)
            + rx.close_node(prop, "cargo:CurrencyValue")
        )

    def charge_line(self, about: str, cid: str, pc: str, currency: str, value: Decimal) -> str:
        about = f"{about}#{cid}-{pc}" if pc else f"{about}#{cid}"
        return (
            rx.open_node("cass:hasChargeLine", "cass:ChargeLine", about)
            + rx.link("cargo:billingChargeIdentifier", CHARGE_ID[cid])
            + (rx.link("cargo:chargePaymentType", _code(PC, pc, "P/C indicator")) if pc else "")
            + self.amount("cass:amount", about + "-amount", currency, value)
            + rx.close_node("cass:hasChargeLine", "cass:ChargeLine")
        )

    def common(self, r: AwbRecord | CorrectionRecord, default_id: str) -> list[str]:
        """BillingDetails values shared by AWB and correction records, up to the use indicator."""
        out = [rx.literal("cass:recordType", r.record_id)] if r.record_id != default_id else []
        if r.branch:
            out.append(rx.literal("cass:branchOfficeIndicator", r.branch))
        if r.modulus_check:
            out.append(rx.literal("cass:modulusCheckIndicator", r.modulus_check))
        return out

    def awb(self, r: AwbRecord) -> list[str]:
        w = self.iris.waybill(r.airline_prefix, r.awb_serial)
        cur, zero = r.currency, currency_zero(r.currency)
        out = [self.waybill_start(w, r.airline_prefix, r.awb_serial)]
        if r.agent_reference:
            out.append(rx.literal("cargo:agentReference", r.agent_reference))
        out += self.shipment(r, w)
        out.append(rx.open_node("cargo:billingDetails", "cargo:BillingDetails", w + "#billing"))
        out += self.common(r, "AWM")
        if r.invoice_indicator:
            out.append(rx.literal("cass:invoiceIndicator", r.invoice_indicator))
        out.append(rx.link("cass:currency", CURRENCY + cur))
        out.append(rx.link("cargo:awbUseIndicator", _code(AWB_USE, r.use_indicator, "use")))
        if r.late_indicator:
            if r.late_indicator != "L":
                raise ValueError(f"late reporting indicator {r.late_indicator!r} is not 'L'")
            out.append(rx.boolean("cass:lateReporting", True))
        out.append(rx.datetime_literal("cargo:awbExecutionDate", r.execution_date))
        if r.acceptance_date is not None:
            out.append(rx.datetime_literal("cargo:awbAcceptanceDate", r.acceptance_date))
        out += self.vat_rate(r.vat_indicator, r.rate_of_exchange)
        if not _same(r.commission_percentage, PERCENT_ZERO):
            out.append(rx.decimal_literal("cargo:commissionPercentage", r.commission_percentage))
        if not _same(r.commission, zero):
            out.append(rx.decimal_literal("cargo:commission", r.commission))
        if r.commission_indicator:
            out.append(rx.literal("cass:commissionIndicator", r.commission_indicator))
        if not _same(r.discount, zero):
            out.append(rx.decimal_literal("cargo:discount", r.discount))
        if not _same(r.tax_due_airline, zero):
            out.append(
                self.amount("cargo:taxDueAirline", w + "#tax-due-airline", cur, r.tax_due_airline)
            )
        if r.tax_due_airline_indicator:
            out.append(rx.literal("cass:taxDueAirlineIndicator", r.tax_due_airline_indicator))
        if not _same(r.tax_due_agent, zero):
            out.append(self.amount("cargo:taxDueAgent", w + "#tax-due-agent", cur, r.tax_due_agent))
        for cid, pc, name in AWB_CHARGE_LINES:
            value: Decimal = getattr(r, name)
            if not _same(value, zero):
                out.append(self.charge_line(w, cid, pc, cur, value))
        out.append(rx.close_node("cargo:billingDetails", "cargo:BillingDetails"))
        return out

    def vat_rate(self, vat: str, rate: Decimal) -> list[str]:
        out = []
        if vat:
            if vat not in "YN":
                raise ValueError(f"VAT indicator {vat!r} is neither Y nor N")
            out.append(rx.boolean("cargo:vatIndicator", vat == "Y"))
        if not _same(rate, RATE_ZERO):
            out.append(rx.decimal_literal("cargo:exchangeRate", rate))
        return out

    def correction(self, r: CorrectionRecord) -> list[str]:
        about = self.iris.record(r.airline_prefix, r.awb_serial, r.record_id, r.reference)
        cur, zero = r.currency, currency_zero(r.currency)
        out = [self.waybill_start(about, r.airline_prefix, r.awb_serial)]
        out += self.shipment(r, about)
        out.append(rx.open_node("cargo:billingDetails", "cargo:BillingDetails", about + "#billing"))
        out += self.common(r, r.record_id)  # the record type is on cargo:Adjustments
        out.append(rx.link("cass:currency", CURRENCY + cur))
        out.append(rx.datetime_literal("cargo:awbExecutionDate", r.execution_date))
        out += self.vat_rate(r.vat_indicator, r.rate_of_exchange)
        if not _same(r.commission, zero):
            out.append(rx.decimal_literal("cargo:commission", r.commission))
        if not _same(r.discount, zero):
            out.append(rx.decimal_literal("cargo:discount", r.discount))
        if not _same(r.vat_on_charges, zero):
            out.append(
                self.amount(
                    "cargo:taxDueAirline", about + "#tax-due-airline", cur, r.vat_on_charges
                )
            )
        if not _same(r.vat_on_commission, zero):
            out.append(
                self.amount("cargo:taxDueAgent", about + "#tax-due-agent", cur, r.vat_on_commission)
            )
        for cid, pc_name, name in CORRECTION_CHARGE_LINES:
            pc, value = getattr(r, pc_name), getattr(r, name)
            if pc or not _same(value, zero):
                out.append(self.charge_line(about, cid, pc, cur, value))
        out.append(self.adjustment(about, r.record_id, r.reference, r.reason))
        out.append(rx.close_node("cargo:billingDetails", "cargo:BillingDetails"))
        return out

    def adjustment(self, about: str, record_id: str, reference: str, reason: str) -> str:
        return (
            rx.open_node("cargo:adjustments", "cargo:Adjustments", about + "#adjustment")
            + rx.literal("cass:recordType", record_id)
            + (rx.literal("cargo:correctionSerialNumber", reference) if reference else "")
            + (rx.literal("cargo:reasonsForAdjustments", reason) if reason else "")
            + rx.close_node("cargo:adjustments", "cargo:Adjustments")
        )

    def import_record(self, r: ImportRecord) -> list[str]:
        """An import billing or correction half: delivery and arrival dates, flight, the charge
        lines WT/OA/OC (collect), fee and destination charges, the two other charges."""
        w = self.iris.waybill(r.airline_prefix, r.awb_serial)
        half = r.is_original or r.is_revised
        about = self.iris.import_half(r.airline_prefix, r.awb_serial, r.record_id) if half else w
        cur, zero = r.currency, currency_zero(r.currency)
        out = [self.waybill_start(about, r.airline_prefix, r.awb_serial)]
        out += self.shipment(r, about)
        out.append(rx.open_node("cargo:billingDetails", "cargo:BillingDetails", about + "#billing"))
        if r.record_id not in ("IBI", "IBO", "IBR"):
            raise ValueError(f"record type {r.record_id!r} is not a CASS Import record")
        out.append(rx.link("cass:currency", CURRENCY + cur))
        out.append(rx.datetime_literal("cargo:awbDeliveryDate", r.delivery_date))
        out.append(rx.datetime_literal("cass:arrivalDate", r.arrival_date))
        if r.flight:
            out.append(rx.literal("cass:flightNumber", r.flight))
        out += self.vat_rate("", r.rate_of_exchange)
        for cid, name in IMPORT_CHARGE_LINES:
            value: Decimal = getattr(r, name)
            if not _same(value, zero):
                out.append(self.charge_line(about, cid, "C", cur, value))
        if r.fee_charged not in ("Y", "N"):
            raise ValueError(f"fee charged indicator {r.fee_charged!r} is neither Y nor N")
        for prop, name in IMPORT_AMOUNTS:
            value = getattr(r, name)
            if not _same(value, zero):
                out.append(self.amount(prop, f"{about}#{name}", cur, value))
            if name == "fee":
                out.append(rx.boolean("cass:importFeeCharged", r.fee_charged == "Y"))
        if half:
            out.append(self.adjustment(about, r.record_id, "", ""))
        out.append(rx.close_node("cargo:billingDetails", "cargo:BillingDetails"))
        for position in (1, 2):
            code, value = (
                getattr(r, f"other_charge_{position}_code"),
                getattr(r, f"other_charge_{position}"),
            )
            if code or not _same(value, zero):
                out.append(self.import_charge(about, position, code, cur, value))
        return out

    def import_charge(self, about: str, position: int, code: str, cur: str, value: Decimal) -> str:
        """One of an import record's two other charges."""
        oc = f"{about}#oc-{position}"
        return (
            rx.open_node("cargo:otherCharges", "cargo:OtherCharge", oc)
            + rx.integer("cass:chargePosition", position)
            + (_charge_code(code) if code else "")  # HOT allows an amount without a code
            + self.amount("cargo:otherChargeAmount", oc + "-amount", cur, value)
            + rx.close_node("cargo:otherCharges", "cargo:OtherCharge")
        )

    def holder(self, r: OtherChargesRecord) -> tuple[str, list[str]]:
        """The element of itemised charges that follow no matching AWB or correction record."""
        if r.record_id == "AW1" and not r.reference:
            about = self.iris.waybill(r.airline_prefix, r.awb_serial)
            return about, [self.waybill_start(about, r.airline_prefix, r.awb_serial)]
        about = self.iris.record(r.airline_prefix, r.awb_serial, r.record_id, r.reference)
        return about, [
            self.waybill_start(about, r.airline_prefix, r.awb_serial),
            rx.open_node("cargo:billingDetails", "cargo:BillingDetails", about + "#billing"),
            self.adjustment(about, r.record_id, r.reference, ""),
            rx.close_node("cargo:billingDetails", "cargo:BillingDetails"),
        ]

    def other_charges(
        self, about: str, r: OtherChargesRecord, index: int, first: int, currency: str
    ) -> list[str]:
        """The charges of the ``index``-th itemised record of an element, one line."""
        out = ["\n"]
        for n, c in enumerate(r.charges, first):
            oc = f"{about}#oc-{n}"
            out.append(rx.open_node("cargo:otherCharges", "cargo:OtherCharge", oc))
            if index > 1:
                out.append(rx.integer("cass:itemisedRecordIndex", index))
            out.append(_charge_code(c.code))
            out.append(
                rx.link("cargo:entitlement", _code(ENTITLEMENT, c.entitlement, "entitlement"))
            )
            out.append(rx.link("cargo:chargePaymentType", _code(PC, c.payment, "P/C indicator")))
            out.append(self.amount("cargo:otherChargeAmount", oc + "-amount", currency, c.amount))
            out.append(rx.close_node("cargo:otherCharges", "cargo:OtherCharge"))
        return out


def _charge_code(code: str) -> str:
    """An other charge's code: a link into ONE Record's code list where it has the code, else
    a ``cass:`` literal."""
    if code in other_charge_codes():
        return rx.link("cargo:otherChargeCode", OTHER_CHARGE_CODE + code)
    return rx.literal("cass:otherChargeCodeText", code)


def _same(value: Decimal, zero: Decimal | None) -> bool:
    """True when ``value`` is exactly ``zero`` (value, sign and scale): safe to omit."""
    return zero is not None and value.is_zero() and value.as_tuple() == zero.as_tuple()


def _attaches(primary: AwbRecord | CorrectionRecord | None, r: OtherChargesRecord) -> bool:
    """True when itemised record ``r`` itemises ``primary`` (and so goes into its element)."""
    if primary is None or (primary.airline_prefix, primary.awb_serial) != (
        r.airline_prefix,
        r.awb_serial,
    ):
        return False
    if isinstance(primary, AwbRecord):
        return r.record_id == "AW1" and not r.reference
    return r.record_id == _OC_OWNER[primary.kind] and r.reference == primary.reference


def iter_submission(file: BillingFile, base_iri: str) -> Iterator[str]:
    """The document as text chunks, one waybill element at a time."""
    w = _Writer(base_iri)
    yield from w.header(file.header, file.trailer)
    primary: AwbRecord | CorrectionRecord | None = None
    about, index, count = "", 0, 0
    parts: list[str] = []
    for r in file.records:
        if isinstance(r, OtherChargesRecord):
            if not r.charges:
                continue  # nothing to itemise: an empty AW1/CC3/DC3 has no XML form
            if not _attaches(primary, r):
                if parts:
                    yield "".join(parts) + rx.close_node("cass:hasWaybill", "cargo:Waybill") + "\n"
                primary, index, count = None, 0, 0
                about, parts = w.holder(r)
            index += 1
            cur = primary.currency if primary is not None else ""
            parts += w.other_charges(about, r, index, count + 1, cur)
            count += len(r.charges)
            continue
        if isinstance(r, ImportRecord):
            if parts:
                yield "".join(parts) + rx.close_node("cass:hasWaybill", "cargo:Waybill") + "\n"
            primary, parts = None, w.import_record(r)
            continue
        if not isinstance(r, AwbRecord | CorrectionRecord):
            continue  # RawRecord: verbatim HOT text has no XML form
        if parts:
            yield "".join(parts) + rx.close_node("cass:hasWaybill", "cargo:Waybill") + "\n"
        primary, index, count = r, 0, 0
        if isinstance(r, AwbRecord):
            about = w.iris.waybill(r.airline_prefix, r.awb_serial)
            parts = w.awb(r)
        else:
            about = w.iris.record(r.airline_prefix, r.awb_serial, r.record_id, r.reference)
            parts = w.correction(r)
    if not parts:
        raise ValueError("a billing submission needs at least one AWB, correction or import record")
    yield "".join(parts) + rx.close_node("cass:hasWaybill", "cargo:Waybill") + "\n"
    yield rx.root_end(ROOT)
