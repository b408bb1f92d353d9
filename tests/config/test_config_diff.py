"""``diff_configs`` and ``calendar_changes``: what a reload changed, in words and by period."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from opencass.config import Config, calendar_changes, diff_configs, init_demo, load_config


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("diff") / "demo"
    init_demo(directory, today=date(2026, 1, 15))
    return directory


@pytest.fixture
def demo(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "config"))


@pytest.fixture
def old(demo: Path) -> Config:
    return load_config(demo)


def test_same_config_no_changes(old: Config, demo: Path) -> None:
    new = load_config(demo)
    assert diff_configs(old, new) == [] and calendar_changes(old, new) == {}


def test_added_user_and_changed_remittance_day(old: Config, demo: Path) -> None:
    agent1 = demo / "participants" / "agent1.toml"
    user = '\n[[users]]\nname = "clerk1"\nroles = ["input", "output"]\n'
    agent1.write_text(agent1.read_text() + user + 'public_key_files = ["keys/agent1.pub"]\n')
    calendar = demo / "calendars" / "DE-2026.toml"
    text = calendar.read_text()
    calendar.write_text(text.replace("remittance_day = 2026-12-20", "remittance_day = 2026-12-21"))
    new = load_config(demo)
    assert diff_configs(old, new) == [
        "user added: clerk1 (company agent1, roles [input, output])",
        "calendar DE: period changed: 20261101M: remittance_day 2026-12-20 → 2026-12-21",
    ]
    assert calendar_changes(old, new) == {"DE": ["20261101M"]}


def test_periods_added_and_removed(old: Config, demo: Path) -> None:
    (demo / "calendars" / "DE-2027.toml").unlink()
    new = load_config(demo)
    lines = diff_configs(old, new)
    assert lines[0] == "calendar DE: period removed: 20270101M" and len(lines) == 12
    assert calendar_changes(old, new) == {"DE": [f"2027{m:02}01M" for m in range(1, 13)]}
    assert calendar_changes(new, old) == calendar_changes(old, new)
    assert diff_configs(new, old)[0] == "calendar DE: period added: 20270101M"


def test_milestone_time_change(old: Config, demo: Path) -> None:
    calendar = demo / "calendars" / "DE-2026.toml"
    text = calendar.read_text()
    calendar.write_text(text.replace("2026-03-03T23:59:00", "2026-03-04T12:00:00"))
    new = load_config(demo)
    assert diff_configs(old, new) == [
        "calendar DE: period changed: 20260201M: upload_cutoff 2026-03-03 23:59 → 2026-03-04 12:00"
    ]
    assert calendar_changes(old, new) == {"DE": ["20260201M"]}


def test_gateway_and_nested_settings(old: Config) -> None:
    gateway = replace(
        old.gateway, listen_port=2223, limits=replace(old.gateway.limits, max_sessions=10)
    )
    new = replace(old, gateway=gateway)
    assert diff_configs(old, new) == [
        "gateway changed: listen_port 2222 → 2223",
        "gateway changed: limits.max_sessions 500 → 10",
    ]
    assert calendar_changes(old, new) == {}


def test_companies_keys_and_secrets(old: Config) -> None:
    companies = dict(old.companies)
    del companies["cassops"]
    companies["demoair"] = replace(companies["demoair"], legal_name="Demo Air SE")
    users = dict(old.users)
    users["agent2"] = replace(
        users["agent2"], public_keys=(), password_hash="scrypt$16384$8$1$c2FsdA==$aGFzaA=="
    )
    new = replace(old, companies=companies, users=users)
    assert diff_configs(old, new) == [
        "company removed: cassops (operator, CASS Operations Demo)",
        "company changed: demoair: legal_name 'Demo Air AG' → 'Demo Air SE'",
        "user changed: agent2: public keys changed (1 → 0); password_hash changed",
    ]
    assert "scrypt" not in "".join(diff_configs(old, new))


def test_a_new_store_url_needs_a_restart_and_its_password_is_never_shown(old: Config) -> None:
    from opencass.config.diff import restart_only_changes
    from opencass.config.model import StoreSettings

    url = "postgresql://cass:s3cret@db.example.org:5432/opencass"
    new = replace(old, gateway=replace(old.gateway, store=StoreSettings(url=url)))
    (line,) = restart_only_changes(old, new)
    assert line == (
        "store.url (SQLite in data_dir) → postgresql://cass:***@db.example.org:5432/opencass"
    )
    shown = "\n".join(diff_configs(old, new))
    assert "store.url changed" in shown and "s3cret" not in shown
