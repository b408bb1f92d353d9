"""``[countries.XX.invoicing]``: read, defaults, and every problem reported."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from opencass.config import load_config
from opencass.config.invoicing import Invoicing, TaxRule
from opencass.config.reader import ConfigError
from opencass.config.tax import AGENT_BASES, AIRLINE_BASES
from tests.kit.docs import example_files
from tests.kit.gateway import demo_config
from tests.kit.invoice import MENTIONS, invoicing_config, strip_invoicing


def _with(tmp_path: Path, text: str) -> Path:
    demo_config(tmp_path)
    countries = strip_invoicing(tmp_path / "config")
    countries.write_text(countries.read_text("utf-8") + text, "utf-8")
    return tmp_path / "config"


def test_defaults_without_the_table(tmp_path: Path) -> None:
    demo_config(tmp_path)
    strip_invoicing(tmp_path / "config")
    inv = load_config(tmp_path / "config").countries["DE"].invoicing
    assert inv == Invoicing()
    assert inv.rule_on(date(2026, 1, 1)) is None and inv.untaxed_category == "Z"


def test_full_table(tmp_path: Path) -> None:
    inv = invoicing_config(tmp_path).countries["DE"].invoicing
    assert inv.issuer == "" and inv.issuer_details is not None
    assert inv.issuer_details.tax_id == "DE812345673"
    assert inv.mentions_for("ja") == (MENTIONS["ja"],)
    assert inv.mentions_for("pt", "de") == (MENTIONS["de"],)
    assert inv.terms_for("de") is None and inv.terms_for("en_GB") is not None
    # The older form (charges_rate, commission_rate) stands for two rules, one per side.
    assert inv.tax == (
        TaxRule(date(2020, 1, 1), None, Decimal(19), "S", AIRLINE_BASES),
        TaxRule(date(2020, 1, 1), None, Decimal(19), "S", AGENT_BASES),
    )


def test_rules_by_date(tmp_path: Path) -> None:
    root = _with(tmp_path, """
[[countries.DE.invoicing.tax]]
valid_from = 2020-07-01
valid_to = 2020-12-31
charges_rate = "16"
commission_rate = "16"

[[countries.DE.invoicing.tax]]
valid_from = 2021-01-01
charges_rate = 19.0
commission_rate = "19"
rounding = "half_even"
tolerance = "0.05"
""")  # fmt: skip
    inv = load_config(root).countries["DE"].invoicing
    assert inv.rule_on(date(2020, 6, 30)) is None
    assert inv.rule_on(date(2020, 12, 31)).rate == 16  # type: ignore[union-attr]
    late = inv.rule_on(date(2030, 1, 1))
    assert late is not None and late.rate == Decimal("19.0")
    assert late.tolerance == Decimal("0.05") and late.rounding == "half_even"


def test_problems_are_all_reported(tmp_path: Path) -> None:
    root = _with(tmp_path, """
[countries.DE.invoicing]
untaxed_category = "E"
isuer = "cassops"

[countries.DE.invoicing.mentions]
xx_YY_ZZ = ["?"]

[[countries.DE.invoicing.tax]]
valid_from = 2020-01-01
charges_rate = "120"
commission_rate = "abc"
rounding = "up"

[[countries.DE.invoicing.tax]]
valid_from = 2021-01-01
valid_to = 2020-01-01
reverse_charge = true
charges_rate = 7
""")  # fmt: skip
    with pytest.raises(ConfigError) as err:
        load_config(root)
    text = str(err.value)
    for expected in (
        "countries.DE.invoicing.exemption_reason: missing: category E needs",
        "countries.DE.invoicing.isuer: unknown key (did you mean 'issuer'?)",
        "countries.DE.invoicing.mentions.xx_YY_ZZ:",
        "countries.DE.invoicing.tax[0].charges_rate: 120 is not a percentage",
        "countries.DE.invoicing.tax[0].commission_rate: 'abc' is not a decimal number",
        "countries.DE.invoicing.tax[0].rounding: 'up' is not one of",
        "countries.DE.invoicing.tax[1].valid_to: 2020-01-01 is before valid_from",
        "countries.DE.invoicing.tax[1].reverse_charge: with reverse charge",
        "countries.DE.invoicing.tax: the rule from 2021-01-01 overlaps",
    ):
        assert expected in text, text


def test_readme_example_documents_invoicing(tmp_path: Path) -> None:
    text = example_files()["countries.toml"]
    assert "[countries.DE.invoicing]" in text
    root = _with(tmp_path, "")
    (root / "countries.toml").write_text(text, "utf-8")
    for sub in ("participants", "calendars"):  # the README's countries include AT
        for p in (root / sub).glob("*.toml"):
            p.unlink()
    inv = load_config(root).countries["DE"].invoicing
    assert inv.rule_on(date(2026, 11, 30)) is not None
    assert inv.mentions_for("de") and inv.terms_for("de")
