"""The example configuration in ``docs/configuration.md`` loads, and means what it says."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from opencass.config import Role, init_demo, load_config
from opencass.settlement.netting import DEFAULT_TERMS, netting_of
from tests.kit.docs import example_files
from tests.kit.gateway import TODAY


def test_readme_example_loads(tmp_path: Path) -> None:
    files = example_files()
    assert set(files) == {
        "gateway.toml",
        "countries.toml",
        "participants/demoair.toml",
        "participants/agent1.toml",
        "calendars/DE-2026.toml",
    }
    root = tmp_path / "config"
    init_demo(root, today=TODAY)  # for the key files the example refers to
    for sub in ("participants", "calendars"):
        shutil.rmtree(root / sub)
        (root / sub).mkdir()
    for name, text in files.items():
        (root / name).write_text(text, "utf-8")
    config = load_config(root)
    assert config.gateway.listen_host == "0.0.0.0"
    assert config.gateway.data_dir == Path("/var/lib/opencass")
    assert sorted(config.countries) == ["AT", "DE"]
    assert config.companies["demoair"].airline_prefixes == {"DE": ("997",), "AT": ("997",)}
    clerk = config.users["agent1.clerk"]
    assert clerk.roles == {Role.INPUT, Role.OUTPUT} and clerk.company == "agent1"
    assert clerk.public_keys[0].endswith(" clerk@agent1")
    # the netting terms written out are the defaults, as the comment says
    assert netting_of(config.countries["DE"]).awb == DEFAULT_TERMS
    december = config.period_for("DE", date(2026, 12, 24))
    assert december is not None and december.code == "20261201M"
    assert december.billing_available == datetime(2027, 1, 18, 8, tzinfo=ZoneInfo("Europe/Berlin"))
