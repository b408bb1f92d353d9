"""Bank details in the configuration: what the demo writes loads, and every mistake is named
with its file and key (IBANs and BICs judged by schwifty)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from opencass.config.loader import load_config
from opencass.config.reader import ConfigError
from tests.kit.gateway import demo_config


def test_the_demo_banking(tmp_path: Path) -> None:
    config = demo_config(tmp_path)
    agent2 = config.companies["agent2"].banking["DE"]
    assert (
        agent2.option_for("20260101M") == "direct_debit"
        and agent2.option_for("20251201M") == "transfer"
    )
    assert agent2.mandate is not None and agent2.mandate.signed == date(2026, 1, 2)
    assert config.companies["agent1"].banking["DE"].option_for("20261101M") == "prefunded"
    assert config.companies["agent1"].banking["DE"].security is not None
    assert config.companies["agent1"].banking["DE"].security.amount == Decimal("20000.00")  # type: ignore[union-attr]
    collection = config.countries["DE"].collection
    assert collection is not None and collection.creditor_id == "DE98ZZZ09999999999"


@pytest.mark.parametrize(
    ("file", "old", "new", "key", "reason"),
    [
        (
            "participants/agent2.toml",
            'iban = "DE02500105170137075030"',
            'iban = "DE02500105170137075031"',
            "company.banking.DE.iban",
            "not a valid IBAN",
        ),
        (
            "participants/agent2.toml",
            'bic = "INGDDEFFXXX"',
            'bic = "INGD"',
            "company.banking.DE.bic",
            "not a valid BIC",
        ),
        (
            "participants/agent2.toml",
            'mandate_scheme = "CORE"',
            'mandate_scheme = "COR1"',
            "company.banking.DE.mandate_scheme",
            "not CORE or B2B",
        ),
        (
            "participants/agent1.toml",
            'option = "prefunded"',
            'option = "direct_debit"',
            "company.banking.DE.options[0].option",
            "needs a mandate",
        ),
        (
            "participants/agent1.toml",
            'option = "prefunded"',
            'option = "cheque"',
            "company.banking.DE.options[0].option",
            "'cheque' is not one of",
        ),
        (
            "countries.toml",
            'creditor_id = "DE98ZZZ09999999999"',
            'creditor_id = "DE99ZZZ09999999999"',
            "countries.DE.collection.creditor_id",
            "not a SEPA creditor identifier",
        ),
        (
            "countries.toml",
            'creditor_id = "DE98ZZZ09999999999"',
            'creditor_id = "DE98ZZZ09999999999"\npain008 = "pain.008.001.05"',
            "countries.DE.collection.pain008",
            "not one of pain.008.001.02, pain.008.001.08",
        ),
    ],
)
def test_mistakes_are_named(
    tmp_path: Path, file: str, old: str, new: str, key: str, reason: str
) -> None:
    config = demo_config(tmp_path)
    path = config.directory / file
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_config(config.directory)
    found = [(p.key, p.reason) for p in caught.value.problems]
    assert any(k == key and reason in r for k, r in found), found
