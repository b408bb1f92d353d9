"""``cmd_check_config`` and ``cmd_demo_init``: exit codes and what they print."""

from __future__ import annotations

import json
from argparse import Namespace
from datetime import date
from pathlib import Path

import pytest

from opencass.config import cmd_check_config, cmd_demo_init, init_demo
from tests.kit.gateway import TODAY


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    init_demo(tmp_path / "demo", today=date(2026, 3, 1))
    return tmp_path / "demo"


def test_check_config_summary(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cmd_check_config(Namespace(config=str(demo))) == 0
    out, err = capsys.readouterr()
    assert out == (
        f"Configuration {demo} is valid: 1 country (DE); 4 companies (1 airline, 2 agents, "
        "1 operator); 4 users; calendars: DE 24 periods (20260101M to 20271201M).\n"
    )
    assert err == ""


def test_check_config_json(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cmd_check_config(Namespace(config=str(demo), format="json")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == {
        "valid": True,
        "directory": str(demo),
        "countries": ["DE"],
        "companies": {"airline": 1, "agent": 2, "operator": 1},
        "users": 4,
        "periods": {"DE": {"count": 24, "first": "20260101M", "last": "20271201M"}},
    }


def test_check_config_mentions_country_without_calendar(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in (demo / "calendars").iterdir():
        path.unlink()
    assert cmd_check_config(Namespace(config=str(demo), format="text")) == 0
    assert "calendars: no calendar for DE." in capsys.readouterr().out


def _break(demo: Path) -> None:
    countries = demo / "countries.toml"
    countries.write_text(countries.read_text().replace('"EUR"', '"EUX"'))
    agent1 = demo / "participants" / "agent1.toml"
    agent1.write_text(agent1.read_text().replace('["admin"]', '["root"]'))


def test_check_config_problems_on_stderr(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _break(demo)
    assert cmd_check_config(Namespace(config=str(demo))) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == f"opencass: configuration {demo}: 2 problems"
    assert lines[1].startswith("countries.toml: countries.DE.currency: 'EUX' is not an ISO 4217")
    assert lines[2].startswith("participants/agent1.toml: users[0].roles[0]: 'root' is not one")
    assert len(lines) == 3


def test_check_config_problems_as_json(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _break(demo)
    assert cmd_check_config(Namespace(config=str(demo), format="json")) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False
    assert [(p["file"], p["key"]) for p in doc["problems"]] == [
        ("countries.toml", "countries.DE.currency"),
        ("participants/agent1.toml", "users[0].roles[0]"),
    ]
    assert all(list(p) == ["file", "key", "reason"] for p in doc["problems"])


def test_check_config_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cmd_check_config(Namespace(config=str(tmp_path / "none"))) == 2
    assert "no configuration directory" in capsys.readouterr().err


def test_demo_init_prints_files_and_login_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "demo"
    assert cmd_demo_init(Namespace(dir=str(target), sftp_port=2345), TODAY) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Wrote a demo configuration to {target}:\n")
    for name in ("gateway.toml", "participants/demoair.toml", "calendars/DE-2027.toml",
                 "keys/agent1", "keys/receipt_signing_ed25519.pem"):  # fmt: skip
        assert f"\n  {name}\n" in out
    info = init_demo(target, today=TODAY)
    for user in ("demoair", "agent1", "agent2", "ops"):
        assert f"\n  {info.sftp_command(user)}\n" in out
    assert "-P 2345" in info.sftp_command("ops")
    assert f"opencass check-config --config {target}" in out


def test_demo_init_twice_keeps_the_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "demo"
    assert cmd_demo_init(Namespace(dir=str(target), sftp_port=2345), TODAY) == 0
    key = (target / "keys" / "ops").read_bytes()
    assert cmd_demo_init(Namespace(dir=str(target), sftp_port=2222), TODAY) == 0
    out = capsys.readouterr().out
    assert "already holds a demo configuration; left it unchanged." in out
    assert (target / "keys" / "ops").read_bytes() == key


def test_demo_init_refuses_unusable_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "mine.txt").write_text("x")
    assert cmd_demo_init(Namespace(dir=str(tmp_path / "other"), sftp_port=2222), TODAY) == 2
    out, err = capsys.readouterr()
    assert out == "" and "is not empty" in err and err.startswith("opencass: ")
    assert [p.name for p in (tmp_path / "other").iterdir()] == ["mine.txt"]
