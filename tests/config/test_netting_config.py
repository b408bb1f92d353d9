"""``[countries.XX.netting]``: the terms a CASS operation nets with, checked when read."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from opencass.cli.samples import sample_import_file
from opencass.config import ConfigError, init_demo, load_config
from opencass.model import (
    AwbRecord,
    CorrectionRecord,
    ImportRecord,
    indicator_fields,
    money_fields,
)
from opencass.settlement.netting import (
    DEFAULT_CORRECTION_TERMS,
    DEFAULT_NETTING,
    DEFAULT_TERMS,
    netting_of,
)

DEMO_TODAY = date(2026, 5, 1)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("template") / "demo"
    init_demo(directory, today=DEMO_TODAY, imports=True)
    return directory


@pytest.fixture
def demo(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "config"))


def _with(demo: Path, text: str) -> Path:
    path = demo / "countries.toml"
    path.write_text(path.read_text("utf-8") + "\n" + text, "utf-8")
    return demo


def _problems(demo: Path) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        load_config(demo)
    return [(p.key, p.reason) for p in info.value.problems]


def test_without_a_netting_table_the_defaults_apply(demo: Path) -> None:
    config = load_config(demo)
    assert netting_of(config.countries["DE"]) is DEFAULT_NETTING
    assert netting_of(config.countries["DE-I"]) is DEFAULT_NETTING


def test_configured_terms_are_the_operations_own(demo: Path) -> None:
    _with(demo, '[countries.DE-I.netting]\nimport = ["weight_charges", "fee", '
                '"-charges_due_agent"]\n[countries.DE.netting]\n'
                'correction = ["weight_charge/P", "-commission"]\n')  # fmt: skip
    config = load_config(demo)
    imports = netting_of(config.countries["DE-I"])
    assert imports.imports.terms == (
        ("weight_charges", 1), ("fee", 1), ("charges_due_agent", -1),
    )  # fmt: skip
    assert imports.awb is DEFAULT_TERMS and imports.correction is DEFAULT_CORRECTION_TERMS
    export = netting_of(config.countries["DE"])
    assert export.correction.terms == (("weight_charge", "P", 1), ("commission", "", -1))
    assert export.imports is DEFAULT_NETTING.imports
    # what the terms mean: charges due agent now reduce the amount; the fee only if charged
    first, second = sample_import_file(DEMO_TODAY).imports
    first = replace(first, charges_due_agent=Decimal("7.50"))
    assert imports.imports.apply(first) == first.weight_charges + first.fee - Decimal("7.50")
    assert imports.imports.apply(second) == second.weight_charges  # fee not charged


@pytest.mark.parametrize(
    ("table", "key", "reason"),
    [
        ('import = ["weight_charge"]', "countries.DE-I.netting.import[0]", "'weight_charge' is "
         "not a money field"),
        ('import = ["gross_weight"]', "countries.DE-I.netting.import[0]", "not a money field"),
        ('import = ["fee", "-fee"]', "countries.DE-I.netting.import[1]", "appears twice"),
        ('import = []', "countries.DE-I.netting.import", "at least one money field"),
        ('awb = ["commission/P"]', "countries.DE-I.netting.awb[0]", "takes /P or /C"),
        ('correction = ["commission/P"]', "countries.DE-I.netting.correction[0]",
         "takes /P or /C"),
        ('correction = ["weight_charge/X"]', "countries.DE-I.netting.correction[0]",
         "takes /P or /C"),
        ('correction = ["weight_charge"]', "countries.DE-I.netting.correction[0]",
         "write weight_charge/P or weight_charge/C"),
        ('imports = ["fee"]', "countries.DE-I.netting.imports", "unknown"),
    ],
)  # fmt: skip
def test_bad_terms_are_configuration_problems(
    demo: Path, table: str, key: str, reason: str
) -> None:
    found = _problems(_with(demo, f"[countries.DE-I.netting]\n{table}\n"))
    assert any(k == key and reason in r for k, r in found), found


def test_whatever_the_configuration_accepts_the_close_can_build(demo: Path) -> None:
    # every money field of every record kind, as the configuration would take it: the terms
    # build (a typo is a configuration problem, never a failed close)
    def terms(cls: type, pc: bool) -> list[str]:
        with_pc = indicator_fields(cls) if pc else frozenset()
        return [f"{n}/P" if n in with_pc else n for n in sorted(money_fields(cls))]

    lists = {"awb": terms(AwbRecord, False), "correction": terms(CorrectionRecord, True),
             "import": terms(ImportRecord, False)}  # fmt: skip
    body = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in lists.items())
    config = load_config(_with(demo, f"[countries.DE.netting]\n{body}"))
    built = netting_of(config.countries["DE"])
    assert len(built.awb.terms) == len(lists["awb"]) and len(built.imports.terms) == 9
    assert ("weight_charge", "P", 1) in built.correction.terms
