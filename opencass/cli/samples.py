"""Small, realistic sample billing files for the demo and for trying the codecs by hand."""

from __future__ import annotations

import calendar
import hashlib
from datetime import date
from decimal import Decimal
from pathlib import Path

from opencass.codecs import hot
from opencass.model import (
    AwbRecord,
    BillingFile,
    BillingHeader,
    CorrectionRecord,
    Dialect,
    ImportRecord,
    OtherCharge,
    OtherChargesRecord,
    awb_check_digit,
)

DEMO_AIRLINE_PREFIX = "997"
DEMO_AGENTS = ("23470068510", "12345620022")


def _awb(serial: str, agent: str, weight_charge: str, executed: date, **kw: object) -> AwbRecord:
    values: dict[str, object] = {
        "record_id": "AWM",
        "branch": "",
        "vat_indicator": "N",
        "airline_prefix": DEMO_AIRLINE_PREFIX,
        "awb_serial": serial,
        "modulus_check": "",
        "origin": "FRA",
        "agent_code": agent,
        "use_indicator": "R",
        "destination": "HKG",
        "execution_date": executed,
        "gross_weight": Decimal("1190.0"),
        "weight_unit": "K",
        "currency": "EUR",
        "weight_charge_prepaid": Decimal(weight_charge),
        "valuation_charge_prepaid": Decimal("0.00"),
        "other_charges_carrier_prepaid": Decimal("0.00"),
        "other_charges_agent_prepaid": Decimal("0.00"),
        "weight_charge_collect": Decimal("0.00"),
        "valuation_charge_collect": Decimal("0.00"),
        "other_charges_carrier_collect": Decimal("0.00"),
        "other_charges_agent_collect": Decimal("0.00"),
        "commission_percentage": Decimal("5.00"),
        "commission": (Decimal(weight_charge) * Decimal("0.05")).quantize(Decimal("0.01")),
        "agent_reference": f"REF{serial}",
        "acceptance_date": executed,
        "rate_of_exchange": Decimal("0.00000"),
        "discount": Decimal("0.00"),
        "tax_due_airline": Decimal("0.00"),
        "tax_due_agent": Decimal("0.00"),
    }
    values.update(kw)
    return AwbRecord(**values)  # type: ignore[arg-type]


def _cca(rid: str, weight_charge: str, agent: str, d: date) -> CorrectionRecord:
    """Half of the sample's CCA of AWB 997-10000012 (original or revised weight charge)."""
    return CorrectionRecord(
        record_id=rid,
        branch="",
        vat_indicator="N",
        airline_prefix=DEMO_AIRLINE_PREFIX,
        awb_serial="10000012",
        modulus_check="",
        origin="FRA",
        agent_code=agent,
        reference="000001",
        currency="EUR",
        rate_of_exchange=Decimal("0.00000"),
        execution_date=d,
        weight_charge_pc="P",
        weight_charge=Decimal(weight_charge),
        valuation_charge_pc="P",
        valuation_charge=Decimal("0.00"),
        taxes_pc="P",
        taxes=Decimal("0.00"),
        other_charges_agent_pc="C",
        other_charges_agent=Decimal("0.00"),
        other_charges_carrier_pc="P",
        other_charges_carrier=Decimal("0.00"),
        vat_on_charges=Decimal("0.00"),
        commission=Decimal("0.00"),
        vat_on_commission=Decimal("0.00"),
        discount=Decimal("0.00"),
        weight_unit="K",
        gross_weight=Decimal("1190.0"),
        destination="JFK",
        reason="RATE CORRECTED",
    )


def sample_billing_file(period_start: date) -> BillingFile:
    """A valid hand-off billing file of the demo airline (prefix 997) for two demo agents,
    for the monthly period starting ``period_start`` (default: this month's)."""
    period_end = period_start.replace(
        day=calendar.monthrange(period_start.year, period_start.month)[1]
    )
    d = period_start.replace(day=14)
    agent1, agent2 = DEMO_AGENTS
    awb1 = _awb(
        "62144154",
        agent1,
        "3462.90",
        d,
        other_charges_carrier_prepaid=Decimal("180.88"),
        discount=Decimal("-120.00"),
        destination="MUC",  # domestic: German VAT applies (the demo's tax rules)
    )
    awb2 = _awb("10000012", agent2, "845.00", d, destination="JFK")
    awb3 = _awb(
        "10000023",
        agent1,
        "0.00",
        d,
        weight_charge_prepaid=Decimal("0.00"),
        weight_charge_collect=Decimal("1200.00"),
        other_charges_agent_collect=Decimal("25.00"),
        commission=Decimal("60.00"),
    )
    oc = OtherChargesRecord(
        "AW1",
        DEMO_AIRLINE_PREFIX,
        "62144154",
        "",
        (
            OtherCharge("MY", "C", "P", Decimal("150.88")),
            OtherCharge("SC", "C", "P", Decimal("30.00")),
        ),
    )

    cco, ccr = (
        _cca(rid, charge, agent2, d) for rid, charge in (("CCO", "800.00"), ("CCR", "845.00"))
    )
    records = (awb1, oc, awb2, awb3, cco, ccr)
    header = BillingHeader(
        record_id="AAA",
        country="DE",
        airline_prefix=DEMO_AIRLINE_PREFIX,
        period_start=period_start,
        period_end=period_end,
        billing_date=period_end,
        file_number="01",
        currency="EUR",
        branch="",
        agent_code="",
    )
    trailer = hot.build_trailer(header, records, Dialect.HANDOFF, office="FRA")
    return BillingFile(Dialect.HANDOFF, header, records, trailer)


DEMO_CONSIGNEE = "DE054000001"  # agent1's recipient code in CASS Import DE-I


def _import(serial7: str, delivered: date, **charges: str) -> ImportRecord:
    values = {name: Decimal("0.00") for name in (
        "charges_due_agent", "charges_due_carrier", "fee", "handling_charges", "storage_charges",
        "other_charge_1", "other_charge_2", "miscellaneous_charges")}  # fmt: skip
    values.update({k: Decimal(v) for k, v in charges.items() if k != "fee_charged"})
    return ImportRecord(
        "IBI", DEMO_CONSIGNEE, DEMO_AIRLINE_PREFIX, f"{serial7}{awb_check_digit(serial7)}",
        "JFK", "FRA", "DE0401", delivered.replace(day=delivered.day - 1), delivered,
        Decimal("480.0"), "K", "EUR", Decimal("0.00000"),
        weight_charges=values.pop("weight_charges", Decimal("0.00")),
        fee_charged=charges.get("fee_charged", "Y"), other_charge_1_code="",
        other_charge_2_code="", **values,
    )  # fmt: skip


def sample_import_file(period_start: date) -> BillingFile:
    """A valid CASS Import file of the demo airline delivering at Frankfurt (``AA2`` header,
    two ``IBI`` records for agent1 as consignee: one with the import fee charged, one with the
    fee shown but not charged) for the monthly period starting ``period_start`` of DE-I."""
    period_end = period_start.replace(
        day=calendar.monthrange(period_start.year, period_start.month)[1]
    )
    d = period_start.replace(day=15)
    records = (
        _import("2000001", d, weight_charges="1250.00", charges_due_carrier="85.00",
                fee="25.00", handling_charges="60.00", storage_charges="40.00"),
        _import("2000002", d, weight_charges="300.00", handling_charges="20.00",
                fee="25.00", fee_charged="N"),
    )  # fmt: skip
    header = BillingHeader(
        "AA2", "DE", "", period_start, period_end, period_end, "01", "EUR", agent_code=""
    )
    trailer = hot.build_trailer(header, records, Dialect.IMPORT, office="FRA")
    return BillingFile(Dialect.IMPORT, header, records, trailer)


def write_samples(directory: Path, today: date) -> list[Path]:
    """Write ``billing-sample.hot`` (valid), ``billing-broken.hot`` (with findings) and
    ``import-sample.hot`` (a CASS Import file for DE-I) for ``today``'s monthly period, and
    the messages of the README's walk through a period: a
    withdrawal of the sample, agent1's dispute and Demo Air's acceptance of it, and the bank's
    camt.053 statement paying both agents what the final close then asks; and agent1's
    administrator adding the user ``agent1-clerk`` (its key pair: ``agent1-clerk`` beside)."""
    directory.mkdir(parents=True, exist_ok=True)
    good = hot.encode(sample_billing_file(today.replace(day=1)))
    lines = good.decode("ascii").splitlines(keepends=True)
    lines[1] = lines[1][:8] + "62144155" + lines[1][16:]  # wrong AWB check digit
    lines[3] = lines[3][:56] + "00000X" + lines[3][62:]  # non-numeric amount
    files = {
        "billing-sample.hot": good,
        "billing-broken.hot": "".join(lines[:-1]).encode("ascii"),  # and no trailer
        "import-sample.hot": hot.encode(sample_import_file(today.replace(day=1))),
        **_lifecycle(good, today),
        "user-add-sample.xml": _new_user(directory),
    }
    paths = []
    for name, data in files.items():
        (directory / name).write_bytes(data)
        paths.append(directory / name)
    return paths


DISPUTED = Decimal("50.00")  # agent1 disputes this much of AWB 997-62144154


def _lifecycle(billing: bytes, today: date) -> dict[str, bytes]:
    from opencass.codecs.onerecord.dispute import (
        DisputeRequest,
        DisputeStatusUpdate,
        encode_dispute,
    )
    from opencass.codecs.onerecord.withdrawal import WithdrawalRequest, encode_withdrawal

    period = f"{today:%Y%m}01M"
    iri = f"urn:uuid:0d15b07e-0000-4000-8000-{today:%Y%m%d}0001"
    base = "https://opencass.invalid"
    withdrawal = WithdrawalRequest(
        f"urn:uuid:0d15b07e-0000-4000-8000-{today:%Y%m%d}0002",
        sha256=hashlib.sha256(billing).hexdigest(),
        reason="sent too early",
    )
    dispute = DisputeRequest(
        iri=iri, kind="change", agent_code=DEMO_AGENTS[0], requested_at=f"{today}T09:00:00Z",
        country="DE", period=period, airline_prefix=DEMO_AIRLINE_PREFIX, awb_serial="62144154",
        reason="weight charge rated at the wrong rate", currency="EUR", disputed_amount=DISPUTED,
        claimed_amount=Decimal("3987.26") - DISPUTED,
    )  # fmt: skip
    accept = DisputeStatusUpdate(
        iri=iri, kind="change", status="REQUEST_ACCEPTED", at=f"{today}T10:00:00Z",
        currency=None, corrected_amount=None, comment="",
    )  # fmt: skip
    # what the final close asks once the dispute is accepted: 3987.26 - 85.00 (the CCA) - 50.00
    # for agent1, 802.75 + 45.00 (the CCA) for agent2
    owed = {DEMO_AGENTS[0]: Decimal("3852.26"), DEMO_AGENTS[1]: Decimal("847.75")}
    return {
        "withdraw-sample.xml": encode_withdrawal(withdrawal),
        "dispute-sample.xml": encode_dispute(dispute, base_iri=base),
        "dispute-accept-sample.xml": encode_dispute(accept, base_iri=base),
        "bank-statement-sample.xml": bank_statement(period, owed, today),
    }


def bank_statement(period: str, owed: dict[str, Decimal], day: date) -> bytes:
    """A camt.053.001.02 statement of the demo's CASS account crediting each agent's amount on
    ``day``, each quoting the payment reference ``CASS DE <period> <agent code>``."""
    ns = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
    entries = []
    for n, (agent, amount) in enumerate(sorted(owed.items()), 1):
        entries.append(
            f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
            f"<BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>"
            f"<AcctSvcrRef>DEMO-{day:%Y%m%d}-{n}</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd>"
            "<Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>"
            "<NtryDtls><TxDtls><RmtInf>"
            f"<Ustrd>CASS DE {period} {agent}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
        )
    text = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{ns}"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>DEMO-{day:%Y%m%d}</MsgId><CreDtTm>{day}T06:00:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>DEMO-STMT-{day:%Y%m%d}</Id><CreDtTm>{day}T06:00:00</CreDtTm>"
        "<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        "<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp>"
        f'<Amt Ccy="EUR">{sum(owed.values(), Decimal(0))}</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
        f"<Dt><Dt>{day}</Dt></Dt></Bal>{''.join(entries)}</Stmt></BkToCstmrStmt></Document>\n"
    )
    return text.encode("utf-8")


CLERK = "agent1-clerk"


def _new_user(directory: Path) -> bytes:
    """agent1's administrator adds ``agent1-clerk`` (roles input, output) with the key pair
    ``DIR/agent1-clerk`` (made once; kept when the samples are written again)."""
    import asyncssh

    from opencass.codecs.onerecord.users import (
        UserAdministration,
        UserChangeRequest,
        encode_user_administration,
    )

    private = directory / CLERK
    if not private.exists():
        key = asyncssh.generate_private_key("ssh-ed25519", comment=f"{CLERK}@opencass-demo")
        key.write_private_key(str(private))
        private.chmod(0o600)
        key.write_public_key(f"{private}.pub")
    public = Path(f"{private}.pub").read_text().strip()
    change = UserChangeRequest(
        "add-user", CLERK, full_name="Jana Novak", email="jana.novak@agent1.example",
        roles=("input", "output"), keys=(public,),
    )  # fmt: skip
    about = "urn:uuid:5f1c2a4e-7d3b-4e8a-9c61-0b2d3e4f5a6b"
    return encode_user_administration(UserAdministration(about, (change,)))
