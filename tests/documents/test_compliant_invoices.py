"""The demo's German invoices against the world: the UBL 2.1 XSD, the official EN 16931 rules
(CEN's validation XSLT run by Saxon), pyhanko's and poppler's signature checks."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree
from peppol.xsd import validate_xsd

from opencass.cli import main
from opencass.codecs import hot
from opencass.config import load_config
from opencass.config.model import Config
from opencass.documents.invoices import render_invoices
from opencass.documents.invoices.ubl import CAC, CBC
from opencass.documents.signing import verify_pdf
from opencass.settlement.close import CloseResult
from opencass.settlement.tax import TaxEngine
from tests.kit.db import db_connect
from tests.kit.en16931 import check_cii, check_ubl
from tests.kit.gateway import PERIOD_CODE, demo_config, sample_bytes
from tests.kit.invoice import AGENT1, AGENT2, AT, book_and_close
from tests.kit.tools import needs_tool

NS = {"cac": CAC, "cbc": CBC}
D = Decimal


def _docs(config: Config, result: CloseResult) -> dict[str, bytes]:
    docs = render_invoices(config, "DE", PERIOD_CODE, AT, result, config.gateway.database)
    return {f"{d.company}/{d.name}": d.data for d in docs}


def _one(docs: dict[str, bytes], company: str, ext: str) -> bytes:
    (data,) = [v for k, v in docs.items() if k.startswith(company + "/") and k.endswith(ext)]
    return data


def _subtotals(xml: bytes) -> dict[str, tuple[D, D]]:
    root = etree.fromstring(xml)
    return {
        f"{s.findtext('cac:TaxCategory/cbc:ID', namespaces=NS)} "
        f"{s.findtext('cac:TaxCategory/cbc:Percent', namespaces=NS) or '-'}": (
            D(s.findtext("cbc:TaxableAmount", namespaces=NS) or "nan"),
            D(s.findtext("cbc:TaxAmount", namespaces=NS) or "nan"),
        )
        for s in root.findall("cac:TaxTotal/cac:TaxSubtotal", NS)
    }


@pytest.fixture
async def demo(tmp_path: Path) -> tuple[Config, CloseResult, dict[str, bytes]]:
    config = demo_config(tmp_path)
    result = await book_and_close(config, sample_bytes())
    return config, result, _docs(config, result)


def test_german_invoice_has_19_percent_on_the_domestic_awb(
    demo: tuple[Config, CloseResult, dict[str, bytes]],
) -> None:
    _, result, docs = demo
    xml = _one(docs, "agent1", ".xml")
    # By hand: AWB 997-62144154 FRA→MUC (domestic, Demo Air is a German company): charges
    # 3462.90 + 180.88 − 120.00 = 3523.78, VAT 19 % = 669.52; commission 5 % = 173.14
    # (173.145 rounded half-even by the sample), the registered agent's VAT 19 % = 32.90.
    # AWB 997-10000023 (FRA→HKG) is exempt: −(60 + 25).
    assert _subtotals(xml) == {
        "S 19": (D("3523.78") - D("173.14"), D("669.52") - D("32.90")),
        "E 0": (D("-85.00"), D("0.00")),
    }
    statement = next(s for s in result.settlement.agents if s.agent_code == AGENT1)
    root = etree.fromstring(xml)
    payable = D(root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=NS) or "")
    assert payable == statement.total == D("3902.26")
    # Agent two has no VAT id and its shipment is international: exempt, with the reason.
    assert set(_subtotals(_one(docs, "agent2", ".xml"))) == {"E 0"}


def test_the_close_computes_the_tax_and_nets_it(
    demo: tuple[Config, CloseResult, dict[str, bytes]],
) -> None:
    _, result, _ = demo
    statement = next(s for s in result.settlement.agents if s.agent_code == AGENT1)
    (awb,) = [i for i in statement.items if i.awb_serial == "62144154"]
    # 3462.90 + 180.88 − 120.00 − 173.14 commission + 669.52 VAT − 32.90 VAT on commission
    assert awb.amount == D("3987.26")
    s = result.settlement
    assert sum(a.total for a in s.agents) == sum(a.total for a in s.airlines)
    name = f"_handoff_{PERIOD_CODE}_997.hot"
    handoff = next(d.document().data for d in result.planned if d.name.endswith(name))
    decoded = hot.decode(handoff)
    (rec,) = [r for r in decoded.file.records if getattr(r, "awb_serial", "") == "62144154"]
    assert (rec.tax_due_airline, rec.tax_due_agent, rec.vat_indicator) == (
        D("669.52"), D("32.90"), "Y",
    )  # fmt: skip
    assert isinstance(result.tax, TaxEngine)


def test_every_invoice_passes_the_xsd_and_the_en16931_rules(
    demo: tuple[Config, CloseResult, dict[str, bytes]],
) -> None:
    _, _, docs = demo
    xmls = [v for k, v in docs.items() if k.endswith(".xml")]
    assert len(xmls) == 2
    for xml in xmls:
        ok, errors = validate_xsd(xml)
        assert ok, errors
        assert check_ubl(xml) == []  # no failed assert at all, fatal or warning


def test_the_rules_catch_what_used_to_be_wrong(
    demo: tuple[Config, CloseResult, dict[str, bytes]],
) -> None:
    """The checker is live: the invoice without the seller's VAT id fails as it used to."""
    _, _, docs = demo
    xml = _one(docs, "agent2", ".xml")
    root = etree.fromstring(xml)
    supplier = root.find("cac:AccountingSupplierParty/cac:Party", NS)
    assert supplier is not None
    scheme = supplier.find("cac:PartyTaxScheme", NS)
    assert scheme is not None
    supplier.remove(scheme)
    broken = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    assert "BR-E-02" in {f.rule for f in check_ubl(broken)}


def test_reverse_charge_for_a_foreign_airline(tmp_path: Path) -> None:
    import asyncio

    demo_config(tmp_path)
    airline = tmp_path / "config" / "participants" / "demoair.toml"
    airline.write_text(airline.read_text("utf-8").replace('tax_id = "DE450007896"\n', ""))
    config = load_config(tmp_path / "config")
    result = asyncio.run(book_and_close(config, sample_bytes()))
    xml = _one(_docs(config, result), "agent1", ".xml")
    subtotals = _subtotals(xml)
    # The foreign airline's domestic charges: reverse charge, no VAT on the invoice; the
    # agent's commission is still the registered agent's own 19 %.
    assert subtotals["AE 0"] == (D("3523.78"), D("0.00"))
    assert subtotals["S 19"] == (D("-173.14"), D("-32.90"))
    assert b"VATEX-EU-AE" in xml
    assert check_ubl(xml) == []


def test_credit_note_passes_the_rules(tmp_path: Path) -> None:
    import asyncio
    from dataclasses import replace

    from opencass.cli.samples import sample_billing_file
    from opencass.model import AwbRecord
    from tests.kit.gateway import PERIOD_START

    config = demo_config(tmp_path)
    f = sample_billing_file(PERIOD_START)
    records = tuple(
        replace(r, other_charges_agent_collect=D("2000.00"))
        if isinstance(r, AwbRecord) and r.agent_code == AGENT2
        else r
        for r in f.records
    )
    data = hot.encode(replace(f, records=records))
    result = asyncio.run(book_and_close(config, data))
    docs = _docs(config, result)
    (name,) = [k for k in docs if k.startswith("agent2/") and k.endswith(".xml")]
    assert "_creditnote_" in name
    assert etree.QName(etree.fromstring(docs[name])).localname == "CreditNote"
    assert check_ubl(docs[name]) == []


def test_invoice_pdf_is_signed_and_a_tampered_copy_is_refused(
    demo: tuple[Config, CloseResult, dict[str, bytes]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, _, docs = demo
    pdf = _one(docs, "agent1", ".pdf")
    cert = Path(config.gateway.pdf_signing.certificate)
    (report,) = verify_pdf(pdf, (cert,))
    assert report.ok and "CASS Operations Demo" in report.signer
    assert datetime.fromisoformat(report.signed_at) == AT  # the close's time, not the clock
    # The signing key never reaches a mailbox.
    key = Path(config.gateway.pdf_signing.key).read_bytes()
    for path in config.gateway.mailboxes_dir.rglob("*"):
        assert not path.is_file() or key not in path.read_bytes()
    # A changed byte inside the signed range.
    tampered = _tampered(pdf)
    (bad,) = verify_pdf(tampered, (cert,))
    assert not bad.intact and not bad.ok
    # The CLI says who signed and whether it changed, with the config's certificate.
    good_file, bad_file = tmp_path / "good.pdf", tmp_path / "bad.pdf"
    good_file.write_bytes(pdf)
    bad_file.write_bytes(tampered)
    conf = ["--config", str(config.directory)]
    assert main(["document", "verify", str(good_file), *conf]) == 0
    capsys.readouterr()
    assert main(["document", "verify", str(bad_file), *conf, "--format", "json"]) == 1
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["valid"] is False and verdict["signatures"][0]["intact"] is False
    assert main(["document", "verify", str(bad_file), *conf]) == 1
    appended = tmp_path / "appended.pdf"
    appended.write_bytes(pdf + b"\n%%added later\n")
    assert main(["document", "verify", str(appended), *conf]) == 1
    stranger = _impostor(cert, tmp_path / "impostor.pem")
    assert main(["document", "verify", str(good_file), "--trust", str(stranger)]) == 1


def _tampered(pdf: bytes) -> bytes:
    """``pdf`` with one byte inside the signed range changed: the version in its header (the
    file still parses)."""
    at = pdf.index(b"%PDF-1.") + len(b"%PDF-1.")
    return pdf[:at] + (b"7" if pdf[at : at + 1] != b"7" else b"6") + pdf[at + 1 :]


def _impostor(cert: Path, out: Path) -> Path:
    """A self-signed certificate with the names of ``cert`` but a key of its own."""
    from datetime import UTC

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    real = x509.load_pem_x509_certificate(cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    fake = (
        x509.CertificateBuilder()
        .subject_name(real.subject)
        .issuer_name(real.issuer)
        .public_key(key.public_key())
        .serial_number(real.serial_number)
        .not_valid_before(datetime(2000, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2100, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    out.write_bytes(fake.public_bytes(serialization.Encoding.PEM))
    return out


@needs_tool("pdfsig", "poppler checks PDF signatures")
def test_poppler_finds_the_signature_valid(
    demo: tuple[Config, CloseResult, dict[str, bytes]], tmp_path: Path
) -> None:
    _, _, docs = demo
    path = tmp_path / "invoice.pdf"
    path.write_bytes(_one(docs, "agent1", ".pdf"))
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout
    assert "Signature is Valid" in out and "Total document signed" in out
    path.write_bytes(_tampered(path.read_bytes()))
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout
    assert "Signature is Valid" not in out


def test_signed_bytes_do_not_depend_on_the_clock(
    demo: tuple[Config, CloseResult, dict[str, bytes]],
) -> None:
    """Rendered again more than a second later (the PDF dates' resolution), the signed PDFs
    (signing time, modification date, file id) are byte for byte the same."""
    import time

    config, result, docs = demo
    time.sleep(1.1)
    assert _docs(config, result) == docs


def test_factur_x_pdf_carries_a_valid_cii_invoice(
    demo: tuple[Config, CloseResult, dict[str, bytes]],
) -> None:
    """The demo country issues Factur-X as well: the signed PDF embeds the CII invoice, which
    the factur-x package's own XSD check and the EN 16931 rules for CII accept; its totals are
    the UBL invoice's."""
    from facturx import get_facturx_level, get_flavor, get_xml_from_pdf

    config, _, docs = demo
    for company in ("agent1", "agent2"):
        pdf = _one(docs, company, ".pdf")
        name, xml = get_xml_from_pdf(pdf, check_xsd=True)
        assert name == "factur-x.xml"
        root = etree.fromstring(xml)
        assert (get_flavor(root), get_facturx_level(root)) == ("factur-x", "en16931")
        assert check_cii(xml) == []
        ubl = etree.fromstring(_one(docs, company, ".xml"))
        grand = root.findtext(".//{*}GrandTotalAmount")
        assert grand == ubl.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=NS)
        (report,) = verify_pdf(pdf, (Path(config.gateway.pdf_signing.certificate),))
        assert report.ok  # signed after the XML went in


def test_a_participant_may_take_ubl_only(tmp_path: Path) -> None:
    import asyncio

    from facturx import get_xml_from_pdf

    demo_config(tmp_path)
    agent = tmp_path / "config" / "participants" / "agent2.toml"
    text = agent.read_text("utf-8").replace(
        "[company.address]", 'invoice_formats = ["ubl"]\n\n[company.address]', 1
    )
    agent.write_text(text, "utf-8")
    config = load_config(tmp_path / "config")
    result = asyncio.run(book_and_close(config, sample_bytes()))
    docs = _docs(config, result)
    assert get_xml_from_pdf(_one(docs, "agent2", ".pdf"), check_xsd=False) == (False, False)
    assert get_xml_from_pdf(_one(docs, "agent1", ".pdf"), check_xsd=False)[0] == "factur-x.xml"


def _rows(config: Config) -> list[tuple[str, str, str, int, str, str, str]]:
    from contextlib import closing

    with closing(db_connect(config.gateway.database)) as conn:
        return conn.execute(
            "SELECT number, agent_code, kind, revision, role, corrects, total FROM invoices"
            " ORDER BY year, series, seq"
        ).fetchall()


@pytest.mark.parametrize("series", ["same", "own"])
def test_a_retroactive_rate_change_is_corrected_by_credit_note_and_new_invoice(
    tmp_path: Path, series: str
) -> None:
    import asyncio

    from opencass.billing.closing import run_close

    demo_config(tmp_path)
    countries = tmp_path / "config" / "countries.toml"
    text = countries.read_text("utf-8").replace(
        'formats = ["ubl", "facturx"]', f'formats = ["ubl"]\ncredit_note_series = "{series}"'
    )
    countries.write_text(text, "utf-8")
    config = load_config(tmp_path / "config")
    result = asyncio.run(book_and_close(config, sample_bytes()))
    first = _docs(config, result)
    issued = _rows(config)
    assert [(r[0], r[1]) for r in issued] == [
        ("DE-2030-000001", AGENT2),
        ("DE-2030-000002", AGENT1),
    ]

    # The 19 % rule is changed to 16 % from the start: the period is closed again.
    countries.write_text(text.replace('rate = "19"', 'rate = "16"'), "utf-8")
    config = load_config(tmp_path / "config")
    again = run_close(config, "DE", PERIOD_CODE, AT)
    later = datetime(2030, 2, 3, 10, 0, tzinfo=AT.tzinfo)
    docs = render_invoices(config, "DE", PERIOD_CODE, AT, again, config.gateway.database, now=later)
    names = sorted(f"{d.company}/{d.name}" for d in docs)
    stamp = "20300203T100000Z"
    assert [n for n in names if n.startswith("agent1/")] == [
        f"agent1/{stamp}_creditnote_{PERIOD_CODE}-c1_{AGENT1}.pdf",
        f"agent1/{stamp}_creditnote_{PERIOD_CODE}-c1_{AGENT1}.xml",
        f"agent1/{stamp}_invoice_{PERIOD_CODE}-r1_{AGENT1}.pdf",
        f"agent1/{stamp}_invoice_{PERIOD_CODE}-r1_{AGENT1}.xml",
    ]
    # Agent two's money did not change: its invoice stands, the same bytes.
    unchanged = {f"{d.company}/{d.name}": d.data for d in docs if d.company == "agent2"}
    assert unchanged == {k: v for k, v in first.items() if k.startswith("agent2/")}
    rows = _rows(config)
    cancel_no = "DE-2030-C000001" if series == "own" else "DE-2030-000003"
    new_no = "DE-2030-000003" if series == "own" else "DE-2030-000004"
    assert rows[:2] == issued
    assert sorted(rows[2:]) == sorted([
        (cancel_no, AGENT1, "credit_note", 1, "cancel", "DE-2030-000002", "-3902.26"),
        (new_no, AGENT1, "invoice", 1, "issue", "DE-2030-000002", "3801.74"),
    ])  # fmt: skip
    by_name = {f"{d.company}/{d.name}": d.data for d in docs}
    cancel = by_name[f"agent1/{stamp}_creditnote_{PERIOD_CODE}-c1_{AGENT1}.xml"]
    new = by_name[f"agent1/{stamp}_invoice_{PERIOD_CODE}-r1_{AGENT1}.xml"]
    for xml in (cancel, new):
        assert check_ubl(xml) == []
        ref = etree.fromstring(xml).findtext(
            "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=NS
        )
        assert ref == "DE-2030-000002"
    # The credit note credits exactly what was invoiced; the new invoice has 16 %.
    assert _subtotals(cancel) == _subtotals(_one(first, "agent1", ".xml"))
    assert _subtotals(new)["S 16"][1] == D("563.80") - D("27.70")  # 16 % of 3523.78 and 173.14
    statement = next(s for s in again.settlement.agents if s.agent_code == AGENT1)
    root = etree.fromstring(new)
    assert D(root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=NS) or "") == (
        statement.total
    )
    # Closing again changes nothing more: the same documents, no new number.
    redo = render_invoices(config, "DE", PERIOD_CODE, AT, again, config.gateway.database, now=later)
    assert {d.name: d.data for d in redo} == {d.name: d.data for d in docs}
    assert _rows(config) == rows


def test_statements_carry_the_vat_breakdown_of_the_invoice(
    demo: tuple[Config, CloseResult, dict[str, bytes]],
) -> None:
    """The agent's statement and the airline's settlement show VAT_BASE and VAT per category
    and rate; the agent's rows are its invoice's breakdown, the airline's the sum over its
    agents."""
    import csv
    import io

    _, result, docs = demo

    def vat_rows(name: str, kind_col: int, label_col: int) -> dict[str, tuple[D, D]]:
        data = next(d.document().data for d in result.planned if d.name.endswith(name))
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
        got: dict[str, list[D]] = {}
        for r in rows:
            if r[kind_col] in ("VAT_BASE", "VAT"):
                got.setdefault(r[label_col], []).append(D(r[-2]))
        return {k: (v[0], v[1]) for k, v in got.items()}

    agent1 = vat_rows(f"_statement_{PERIOD_CODE}_{AGENT1}.csv", 2, 3)
    assert agent1 == {"S 19%": (D("3350.64"), D("636.62")), "E 0%": (D("-85.00"), D("0.00"))}
    invoice = _subtotals(_one(docs, "agent1", ".xml"))
    assert agent1["S 19%"] == invoice["S 19"] and agent1["E 0%"] == invoice["E 0"]
    from opencass.codecs.onerecord import decode_statement

    xml = next(
        d.document().data for d in result.planned
        if d.name.endswith(f"_statement_{PERIOD_CODE}_{AGENT1}.xml")
    )  # fmt: skip
    taxes = {f"{c} {r}%": (b, t) for c, r, b, t in decode_statement(xml).taxes}
    assert taxes == agent1
    airline = vat_rows(f"_settlement_{PERIOD_CODE}_997.csv", 0, 1)
    agent2 = vat_rows(f"_statement_{PERIOD_CODE}_{AGENT2}.csv", 2, 3)
    assert airline["S 19%"] == agent1["S 19%"]
    assert airline["E 0%"] == (agent1["E 0%"][0] + agent2["E 0%"][0], D("0.00"))


def test_sales_report_shows_the_vat_breakdown_of_the_invoice(tmp_path: Path) -> None:
    """The agent's Cargo Sales Report (CSV, PDF, xlsx) carries the same VAT breakdown."""
    import asyncio
    import csv
    import io

    from openpyxl import load_workbook

    from opencass.documents.reports import render_period_reports
    from tests.kit.invoice import pdf_text

    config = demo_config(tmp_path)
    result = asyncio.run(book_and_close(config, sample_bytes()))
    docs = {d.name: d.data for d in render_period_reports(config, "DE", PERIOD_CODE, AT, result)}
    name = f"20300102T030405Z_salesreport_{PERIOD_CODE}_{AGENT1}"
    rows = list(csv.reader(io.StringIO(docs[name + ".csv"].decode("utf-8"))))
    vat = {(r[0], r[3]): D(r[-2]) for r in rows if r[0] in ("VAT_BASE", "VAT")}
    assert vat == {
        ("VAT_BASE", "S 19%"): D("3350.64"), ("VAT", "S 19%"): D("636.62"),
        ("VAT_BASE", "E 0%"): D("-85.00"), ("VAT", "E 0%"): D("0.00"),
    }  # fmt: skip
    text = pdf_text(docs[name + ".pdf"], tmp_path)
    assert "Umsatzsteuer" in text and "636,62" in text  # agent1 reads German
    sheet = load_workbook(io.BytesIO(docs[name + ".xlsx"]))["Umsatzsteuer nach Kategorie"]
    values = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert values[0][0] == "S" and values[0][3] == 636.62
    (report,) = verify_pdf(docs[name + ".pdf"], (Path(config.gateway.pdf_signing.certificate),))
    assert report.ok
