"""Invoices over a real close of a real ledger: content, PDF, UBL XML, credit notes, languages."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import threading
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree
from peppol.rules import check_rules
from peppol.xsd import validate_xsd

import opencass.documents.invoices as invoices_module
from opencass.config.model import Config
from opencass.documents.i18n import LANGUAGES, translator
from opencass.documents.invoices import (
    InvoiceError,
    build_invoices,
    render_invoice,
    render_invoices,
    ubl,
)
from opencass.documents.invoices.model import CREDIT_NOTE, INVOICE
from opencass.documents.invoices.ubl import CAC, CBC
from opencass.model import quantize
from opencass.settlement.close import CloseResult
from opencass.settlement.netting import AgentStatement
from opencass.store.withdrawals import withdraw_file
from tests.kit.db import db_connect
from tests.kit.gateway import PERIOD_CODE, sample_bytes
from tests.kit.invoice import (
    AGENT1,
    AGENT2,
    AT,
    MENTIONS,
    RATE,
    book_and_close,
    invoicing_config,
    pdf_text,
    squeeze,
    vat_billing_file,
)

NS = {"cac": CAC, "cbc": CBC}
# Peppol BIS rules that EN 16931 itself does not make (BT-23 is optional in the norm).
PEPPOL_ONLY = {"BR-02"}


def _statement(result: CloseResult, code: str) -> AgentStatement:
    return next(s for s in result.settlement.agents if s.agent_code == code)


def _docs(config: Config, result: CloseResult, **kw: object) -> dict[str, bytes]:
    docs = render_invoices(config, "DE", PERIOD_CODE, AT, result, config.gateway.database, **kw)  # type: ignore[arg-type]
    return {f"{d.company}/{d.name}": d.data for d in docs}


def _rows(config: Config) -> list[tuple[str, int, str, str]]:
    with db_connect(config.gateway.database) as conn:
        return conn.execute(
            "SELECT number, seq, agent_code, kind FROM invoices ORDER BY seq"
        ).fetchall()


def _amount(root: etree._Element, path: str) -> Decimal:
    return Decimal(root.findtext(path, namespaces=NS) or "nan")


@pytest.fixture
async def vat(tmp_path: Path) -> tuple[Config, CloseResult]:
    config = invoicing_config(tmp_path)
    return config, await book_and_close(config, vat_billing_file())


@pytest.fixture
async def credit(tmp_path: Path) -> tuple[Config, CloseResult]:
    config = invoicing_config(tmp_path)
    return config, await book_and_close(config, vat_billing_file(credit_agent2=True))


def test_one_invoice_per_agent_code_numbered_from_one(vat: tuple[Config, CloseResult]) -> None:
    config, result = vat
    docs = _docs(config, result)
    stamp = "20300102T030405Z"
    assert sorted(docs) == [
        f"agent1/{stamp}_invoice_{PERIOD_CODE}_{AGENT1}.pdf",
        f"agent1/{stamp}_invoice_{PERIOD_CODE}_{AGENT1}.xml",
        f"agent2/{stamp}_invoice_{PERIOD_CODE}_{AGENT2}.pdf",
        f"agent2/{stamp}_invoice_{PERIOD_CODE}_{AGENT2}.xml",
    ]
    # Statements are in agent-code order: agent 2's code sorts first.
    assert _rows(config) == [
        ("DE-2030-000001", 1, AGENT2, INVOICE),
        ("DE-2030-000002", 2, AGENT1, INVOICE),
    ]


def test_rerun_gives_same_numbers_and_bytes(vat: tuple[Config, CloseResult]) -> None:
    config, result = vat
    first = _docs(config, result)
    again = _docs(config, result)
    assert first == again
    assert [r[1] for r in _rows(config)] == [1, 2]


def test_pool_renders_the_same_bytes(
    vat: tuple[Config, CloseResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, result = vat
    inline = _docs(config, result)
    monkeypatch.setattr(invoices_module, "POOL_THRESHOLD", 1)
    assert _docs(config, result, workers=2) == inline


def test_xml_is_valid_ubl_and_its_totals_are_the_statements(
    vat: tuple[Config, CloseResult],
) -> None:
    config, result = vat
    docs = _docs(config, result)
    for code, company in ((AGENT1, "agent1"), (AGENT2, "agent2")):
        xml = next(v for k, v in docs.items() if k.startswith(company) and k.endswith(".xml"))
        ok, errors = validate_xsd(xml)
        assert ok, errors
        fatal = [f for f in check_rules(xml) if f.severity == "fatal"]
        assert [f for f in fatal if f.rule_id not in PEPPOL_ONLY] == []
        root = etree.fromstring(xml)
        assert etree.QName(root).localname == "Invoice"
        st = _statement(result, code)
        assert _amount(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == st.total
        assert _amount(root, "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount") == st.total
        lines = root.findall("cac:InvoiceLine", NS)
        net = sum(_amount(x, "cbc:LineExtensionAmount") for x in lines)
        assert net == _amount(root, "cac:LegalMonetaryTotal/cbc:LineExtensionAmount")
        tax = _amount(root, "cac:TaxTotal/cbc:TaxAmount")
        assert net + tax == st.total
        # Standard rate 19 % (VAT indicator Y, tax = 19 % of the base as the records carry it);
        # the demo's CCA has VAT indicator N: zero rated.
        subs = root.findall("cac:TaxTotal/cac:TaxSubtotal", NS)
        by_rate = {s.findtext("cac:TaxCategory/cbc:Percent", namespaces=NS): s for s in subs}
        assert set(by_rate) <= {"19", "0"} and "19" in by_rate
        assert sum(_amount(s, "cbc:TaxableAmount") for s in subs) == net
        base = _amount(by_rate["19"], "cbc:TaxableAmount")
        assert by_rate["19"].findtext("cac:TaxCategory/cbc:ID", namespaces=NS) == "S"
        assert abs(_amount(by_rate["19"], "cbc:TaxAmount") - quantize(base * RATE, "EUR")) <= (
            Decimal("0.02")
        )
        if "0" in by_rate:
            assert _amount(by_rate["0"], "cbc:TaxAmount") == 0
        assert root.findtext("cbc:BuyerReference", namespaces=NS) == code
        notes = [n.text for n in root.findall("cbc:Note", NS)]
        language = config.companies[company].language
        assert notes == [MENTIONS[language]]


def test_pdf_totals_are_the_statements(vat: tuple[Config, CloseResult], tmp_path: Path) -> None:
    config, result = vat
    docs = _docs(config, result)
    rows = {agent: number for number, _seq, agent, _kind in _rows(config)}
    for code, company in ((AGENT1, "agent1"), (AGENT2, "agent2")):
        pdf = next(v for k, v in docs.items() if k.startswith(company) and k.endswith(".pdf"))
        text = pdf_text(pdf, tmp_path)
        t = translator(config.companies[company].language, "invoices")
        st = _statement(result, code)
        assert squeeze(t.money(st.total, "EUR")) in text
        for line in st.lines:  # per-airline subtotal
            assert squeeze(t.number(line.amount, 2)) in text
        assert rows[code] in text
        assert squeeze(t.gettext("Invoice")) in text
        assert squeeze(MENTIONS[t.lang]) in text
        assert squeeze(config.countries["DE"].invoicing.issuer_details.tax_id) in text  # type: ignore[union-attr]


def test_german_recipient_gets_german_invoice(
    vat: tuple[Config, CloseResult], tmp_path: Path
) -> None:
    config, result = vat
    assert config.companies["agent1"].language == "de"
    pdf = next(v for k, v in _docs(config, result).items() if k.startswith("agent1/") and
               k.endswith(".pdf"))  # fmt: skip
    text = pdf_text(pdf, tmp_path)
    for word in ("Rechnung", "Zahlungstag", "Bemessungsgrundlage", "USt-IdNr.", "Seite1von1"):
        assert squeeze(word) in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_language_renders_its_mentions(
    vat: tuple[Config, CloseResult], tmp_path: Path, lang: str
) -> None:
    config, result = vat
    inv = build_invoices(config, "DE", PERIOD_CODE, AT, result, config.gateway.database)[0]
    inv = replace(
        inv,
        language=lang,
        mentions=config.countries["DE"].invoicing.mentions_for(lang),
    )
    pdf, xml = render_invoice(inv)
    text = pdf_text(pdf, tmp_path)
    t = translator(lang, "invoices")
    assert squeeze(MENTIONS[lang]) in text
    assert squeeze(t.gettext("Total amount due")) in text
    assert squeeze(t.money(inv.data.total, "EUR")) in text
    if lang != "en":
        assert t.gettext("Total amount due") != "Total amount due"
    assert validate_xsd(xml)[0]


async def test_credit_statement_gives_a_credit_note(
    credit: tuple[Config, CloseResult], tmp_path: Path
) -> None:
    config, result = credit
    st = _statement(result, AGENT2)
    assert st.total < 0
    docs = _docs(config, result)
    assert f"agent2/20300102T030405Z_creditnote_{PERIOD_CODE}_{AGENT2}.xml" in docs
    xml = docs[f"agent2/20300102T030405Z_creditnote_{PERIOD_CODE}_{AGENT2}.xml"]
    ok, errors = validate_xsd(xml)
    assert ok, errors
    fatal = [f for f in check_rules(xml) if f.severity == "fatal"]
    assert [f for f in fatal if f.rule_id not in PEPPOL_ONLY] == []
    root = etree.fromstring(xml)
    assert etree.QName(root).localname == "CreditNote"
    assert root.findtext("cbc:CreditNoteTypeCode", namespaces=NS) == "381"
    assert _amount(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == -st.total
    lines = root.findall("cac:CreditNoteLine", NS)
    assert (
        sum(_amount(x, "cbc:LineExtensionAmount") for x in lines)
        + _amount(root, "cac:TaxTotal/cbc:TaxAmount")
        == -st.total
    )
    pdf = docs[f"agent2/20300102T030405Z_creditnote_{PERIOD_CODE}_{AGENT2}.pdf"]
    text = pdf_text(pdf, tmp_path)
    assert "Creditnote" in text and "Totalcreditedtoyou" in text
    assert squeeze(translator("en", "invoices").money(-st.total, "EUR")) in text
    assert [r[3] for r in _rows(config)] == [CREDIT_NOTE, INVOICE]  # one sequence for both


async def test_untaxed_records_and_no_tax_rule(tmp_path: Path) -> None:
    """The plain demo (no invoicing table, VAT indicator N): zero-rated lines, issuer = operator."""
    config = invoicing_config(tmp_path)
    config = replace(
        config,
        countries={"DE": replace(config.countries["DE"], invoicing=type(
            config.countries["DE"].invoicing)())},
    )  # fmt: skip
    result = await book_and_close(config, sample_bytes())
    invs = build_invoices(config, "DE", PERIOD_CODE, AT, result, config.gateway.database)
    for inv in invs:
        assert inv.issuer.id == "cassops"
        assert {x.category for x in inv.data.taxes} == {"Z"}
        assert inv.data.tax == 0 and inv.data.total == _statement(result, inv.data.agent_code).total
        assert inv.payment_terms.startswith(translator(inv.language, "invoices").gettext(
            "Payable through CASS by Remittance Day, {due}.")[:10])  # fmt: skip
        assert validate_xsd(render_invoice(inv)[1])[0]


def test_changed_ledger_never_reissues(vat: tuple[Config, CloseResult]) -> None:
    config, result = vat
    _docs(config, result)
    # The same close with other money for agent 1: its issued invoice must not change.
    st = _statement(result, AGENT1)
    items = tuple(replace(it, amount=it.amount + 1) for it in st.items[:1]) + st.items[1:]
    lines = (replace(st.lines[0], amount=st.lines[0].amount + 1), *st.lines[1:])
    changed = replace(st, items=items, lines=lines, total=st.total + 1)
    agents = tuple(changed if a.agent_code == AGENT1 else a for a in result.settlement.agents)
    other = replace(result, settlement=replace(result.settlement, agents=agents))
    with pytest.raises(InvoiceError, match="no longer match"):
        _docs(config, other)
    assert len(_rows(config)) == 2


def test_invoices_read_the_ledger_as_the_close_read_it(vat: tuple[Config, CloseResult]) -> None:
    """A withdrawal recorded after the close's snapshot changes none of its invoices; without
    the snapshot the invoices no longer match the statements and are refused."""
    config, result = vat
    assert result.snapshot is not None
    with db_connect(config.gateway.database) as conn:
        (file_id,) = conn.execute("SELECT file_id FROM ledger LIMIT 1").fetchone()
        withdraw_file(
            conn, file_id=file_id, request_id=file_id, company="demoair", user="demoair",
            at="2030-01-02T03:04:05Z", country="DE", period=PERIOD_CODE, reason="",
        )  # fmt: skip
    first = _docs(config, result)
    assert first == _docs(config, result) and len(first) == 4
    with pytest.raises(InvoiceError, match="no longer match"):
        _docs(config, replace(result, snapshot=None))


def test_other_money_than_issued_is_corrected_not_reissued(
    vat: tuple[Config, CloseResult],
) -> None:
    """The stored invoice of agent 1 says other money than the close (as after a retroactive
    change): it is cancelled by a credit note and invoiced anew, never changed in place."""
    config, result = vat
    _docs(config, result)
    with db_connect(config.gateway.database) as conn:
        on = "" if isinstance(config.gateway.database, Path) else " ON invoices"  # PostgreSQL
        conn.execute("DROP TRIGGER invoices_append_only_update" + on)
        conn.execute("UPDATE invoices SET data_hash = 'x' WHERE agent_code = ?", (AGENT1,))
    docs = _docs(config, result)
    corrections = sorted(k for k in docs if f"{PERIOD_CODE}-" in k)
    assert [k.split("_")[1] for k in corrections] == ["creditnote"] * 2 + ["invoice"] * 2
    assert _rows(config)[:2] == [
        ("DE-2030-000001", 1, AGENT2, INVOICE),
        ("DE-2030-000002", 2, AGENT1, INVOICE),
    ]
    assert [r[3] for r in _rows(config)[2:]] == [CREDIT_NOTE, INVOICE]


def _allocate_then_die(config_dir: Path, countries: dict[str, object]) -> None:
    from opencass.billing.closing import run_close
    from opencass.config import load_config

    config = replace(load_config(config_dir), countries=countries)
    result = run_close(config, "DE", PERIOD_CODE, AT)
    build_invoices(config, "DE", PERIOD_CODE, AT, result, config.gateway.database)
    os.kill(os.getpid(), signal.SIGKILL)  # killed before any document exists


def test_kill_between_numbering_and_documents(vat: tuple[Config, CloseResult]) -> None:
    config, result = vat
    method = "fork" if threading.active_count() == 1 else "forkserver"
    child = multiprocessing.get_context(method).Process(
        target=_allocate_then_die, args=(config.directory, config.countries)
    )
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    numbered = _rows(config)
    assert [r[1] for r in numbered] == [1, 2]
    docs = _docs(config, result)  # the re-run after the crash
    assert _rows(config) == numbered
    for number, _seq, code, _kind in numbered:
        xml = next(v for k, v in docs.items() if k.endswith(f"{code}.xml"))
        assert etree.fromstring(xml).findtext("cbc:ID", namespaces=NS) == number


def test_no_issuer_is_an_error(vat: tuple[Config, CloseResult]) -> None:
    config, result = vat
    inv = replace(config.countries["DE"].invoicing, issuer="nobody")
    config = replace(config, countries={"DE": replace(config.countries["DE"], invoicing=inv)})
    with pytest.raises(InvoiceError, match="no company"):
        _docs(config, result)
    assert _rows(config) == []


def test_long_descriptions_and_amounts_run_on_never_clipped(
    vat: tuple[Config, CloseResult], tmp_path: Path
) -> None:
    """The invoice's tables are grid tables: a description or an amount wider than its column
    runs on to the next line; nothing is clipped ("…") and every word is in the PDF."""
    config, result = vat
    inv = build_invoices(config, "DE", PERIOD_CODE, AT, result, config.gateway.database)[0]
    prefix = inv.data.lines[0].airline_prefix
    name = "Compagnie Nationale de Fret & Transports <Aériens> Intercontinentaux Réunis SA"
    big = replace(inv.data.lines[0], base=Decimal("98765432109876.54"))
    data = replace(inv.data, lines=(big, *inv.data.lines[1:]) * 40)
    inv = replace(inv, language="en", airline_names=((prefix, name),), data=data)
    pdf, _xml = render_invoice(inv)
    path = tmp_path / "long.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "…" not in text
    words = text.split()
    for word in name.split():
        assert words.count(word) >= 40, word
    assert text.count("\f") >= 2  # the lines ran over several pages


@pytest.mark.parametrize("credit", [False, True], ids=["invoice", "credit note"])
def test_ubl_lines_written_as_text_are_lxmls_bytes(
    vat: tuple[Config, CloseResult], monkeypatch: pytest.MonkeyPatch, credit: bool
) -> None:
    """The lines, written as text for speed, are byte for byte what lxml writes: escapes,
    carriage returns, non-ASCII names, zero and negative amounts, the "O" category without a
    rate; a name XML cannot carry is refused as lxml refuses it."""
    config, result = vat
    inv = build_invoices(config, "DE", PERIOD_CODE, AT, result, config.gateway.database)[0]
    first = inv.data.lines[0]
    odd = (
        replace(first, base=Decimal("0.00"), tax=Decimal("0.00")),
        replace(first, id="2", base=Decimal("-12.30"), category="O", rate=Decimal(0)),
        replace(first, id="3", airline_prefix="999", category="E", rate=Decimal("7.50")),
    )
    data = replace(inv.data, lines=(*odd, *inv.data.lines[1:]))
    hostile = 'Fret & <Aériens> "Réunis"\r\nSA \U0001f6eb'
    inv = replace(
        inv, data=data, airline_names=((first.airline_prefix, hostile), ("999", "Ünï & Co")),
        kind=CREDIT_NOTE if credit else INVOICE,
    )  # fmt: skip
    with monkeypatch.context() as m:  # the lines are the text writer's, not lxml's
        m.setattr(ubl, "_lines", lambda *_: pytest.fail("lxml wrote the lines"))
        fast = ubl.invoice_xml(inv)
    monkeypatch.setattr(ubl, "_lines_text", lambda *_: None)
    assert fast == ubl.invoice_xml(inv)
    assert b"&lt;A\xc3\xa9riens&gt;" in fast and b"&#13;" in fast
    assert fast.count(b"<cac:CreditNoteLine>" if credit else b"<cac:InvoiceLine>") == len(
        data.lines
    )
    monkeypatch.undo()
    bad = replace(inv, airline_names=((first.airline_prefix, "Nul \x00 Air"),))
    with pytest.raises(ValueError, match="XML compatible"):
        ubl.invoice_xml(bad)
