"""A company's own settings over its participant file's (``opencass.config.selfservice``): the
rules in force and their sources, the push server that replaces the file's, and the checks a
participant file's tables get."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest

from opencass.config import init_demo, load_config
from opencass.config.model import Config
from opencass.config.selfservice import (
    CompanySettings,
    apply_settings,
    push_key_path,
    read_push_settings,
    rules_in_force,
)
from opencass.events import EventType
from tests.kit.gateway import TODAY


@pytest.fixture
def config(tmp_path: Path) -> Config:
    directory = tmp_path / "config"
    init_demo(directory, today=TODAY)
    participant = directory / "participants" / "demoair.toml"
    participant.write_text(
        participant.read_text()
        + '\n[[subscriptions]]\nevents = ["period.closed"]\ndescription = "the office\'s"\n'
    )
    return load_config(directory)


def _host_key() -> str:
    return asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()


def test_without_settings_the_participant_files_rules_are_in_force(config: Config) -> None:
    company = config.companies["demoair"]
    rules = rules_in_force(company, None)
    assert rules.all == company.subscriptions
    assert [r.description for r in rules.office] == ["the office's"]
    assert rules.defaults and all(r.default for r in rules.defaults) and rules.own == ()
    assert apply_settings(config, {}) is config


def test_own_rules_are_added_and_the_defaults_follow_the_companys_choice(config: Config) -> None:
    company = config.companies["demoair"]
    own = CompanySettings(
        "demoair", use_defaults=False,
        rules=({"events": ["file.accepted"], "formats": ["text"]},
               {"events": ["no.such_event"]},  # no longer valid: skipped, keeps its index
               {"events": ["*"], "countries": ["FR"]},  # a country demoair is not in
               {"events": ["dispute.opened"], "description": "ours"}),
    )  # fmt: skip
    rules = rules_in_force(company, own)
    assert rules.defaults == ()
    assert [r.description for r in rules.office] == ["the office's"]
    assert [(i, r.description) for i, r in rules.own] == [(0, ""), (3, "ours")]
    assert rules.own[0][1].events == frozenset({EventType.FILE_ACCEPTED})
    applied = apply_settings(config, {"demoair": own, "nobody": own})
    assert applied.companies["demoair"].subscriptions == rules.all
    assert applied.companies["agent1"] is config.companies["agent1"]
    assert config.companies["demoair"].subscriptions == company.subscriptions  # unchanged


def test_a_push_server_set_by_the_company_replaces_the_files(config: Config) -> None:
    key = push_key_path(config.gateway.data_dir, "demoair")
    key.parent.mkdir(parents=True)
    key.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    server = {"host": "erp.demoair.example", "port": 2222, "username": "cass",
              "host_key": _host_key(), "remote_dir": "in"}  # fmt: skip
    target, problems = read_push_settings(server, key)
    assert problems == [] and target is not None
    assert (target.host, target.port, target.client_key) == ("erp.demoair.example", 2222, key)
    applied = apply_settings(config, {"demoair": CompanySettings("demoair", push=server)})
    assert applied.companies["demoair"].push == target


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"host_key": "ssh-ed25519 nonsense"}, "push.host_key"),
        ({"host": "erp example"}, "push.host"),
        ({"port": 70000}, "push.port"),
        ({"client_key": "/etc/passwd"}, "push.client_key"),  # not the company's to choose
    ],
)
def test_a_wrong_push_server_is_refused_with_its_key(
    config: Config, tmp_path: Path, change: dict[str, object], key: str
) -> None:
    private = tmp_path / "key"
    private.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    server = {"host": "erp.example", "username": "cass", "host_key": _host_key(), **change}
    target, problems = read_push_settings(server, private)
    assert target is None and any(p.startswith(f"{key}:") for p in problems), problems


def test_without_its_key_the_companys_push_server_is_not_used(config: Config) -> None:
    server = {"host": "erp.example", "username": "cass", "host_key": _host_key()}
    applied = apply_settings(config, {"demoair": CompanySettings("demoair", push=server)})
    assert applied.companies["demoair"].push is None  # deliveries wait, retried, until made
