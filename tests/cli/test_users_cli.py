"""``opencass users …``, ``opencass countries status`` and the conflicts ``check-config``
reports, on the demo configuration and a real store file."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from opencass.cli import main
from opencass.codecs.onerecord.users import UserChangeRequest as Change
from opencass.config.model import Config
from opencass.identity.changes import Actor, plan_changes
from opencass.identity.handler import write_plan
from opencass.store.connect import connect_sync, migrate_sync
from opencass.store.tx import transaction
from opencass.store.users import users_state
from tests.kit.db import db_connect
from tests.kit.gateway import NOW


def _run(
    config: Config, *args: str, capsys: pytest.CaptureFixture[str], now: datetime = NOW
) -> tuple[int, str, str]:
    code = main([*args, "--config", str(config.directory)], clock=lambda: now)
    out = capsys.readouterr()
    return code, out.out, out.err


def _change(config: Config, sender: str, company: str, *changes: Change) -> None:
    """What the daemon's handler does with an accepted message, on the store file."""
    config.gateway.data_dir.mkdir(parents=True, exist_ok=True)
    conn = connect_sync(config.gateway.database)
    migrate_sync(conn)
    with conn, transaction(conn):
        actor = Actor(sender, company, "F1")
        plan = plan_changes(
            changes,
            actor,
            users_state(conn),
            config.users,
            config.companies,
            "2026-11-18T10:00:00+00:00",
        )
        assert not plan.refused, plan.findings
        write_plan(conn, plan, actor, "2026-11-18T10:00:00+00:00")
    conn.close()


def test_list_before_the_gateway_ever_ran(
    config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(config, "users", "list", capsys=capsys)
    assert code == 0
    assert [line.split()[:5] for line in out.splitlines()] == [
        ["agent1", "agent1", "admin", "active", "file"],
        ["agent2", "agent2", "admin", "active", "file"],
        ["demoair", "demoair", "admin", "active", "file"],
        ["ops", "cassops", "admin", "active", "file"],
    ]
    assert all("last login never" in line for line in out.splitlines())


def test_list_show_export_after_self_service(
    config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    _change(
        config,
        "agent1",
        "agent1",
        Change("add-user", "a1-clerk", full_name="Jana", email="j@a1.example", roles=("input",)),
        Change("suspend-user", "a1-clerk"),
    )
    with db_connect(config.gateway.database) as conn:
        conn.execute(
            "INSERT INTO audit (at, event, company, user) VALUES"
            " ('2026-11-17T09:00:00+00:00', 'login_ok', 'agent1', 'agent1')"
        )
    code, out, _ = _run(
        config, "users", "list", "--company", "agent1", "--format", "json", capsys=capsys
    )
    users = {u["user"]: u for u in json.loads(out)}
    assert set(users) == {"agent1", "a1-clerk"}
    assert users["a1-clerk"] | {} == {
        "user": "a1-clerk",
        "company": "agent1",
        "roles": ["input"],
        "status": "suspended",
        "source": "self-service",
        "access": {},
        "keys": 0,
        "last_login": "",
    }
    assert users["agent1"]["last_login"] == "2026-11-17T09:00:00+00:00"
    code, out, _ = _run(config, "users", "show", "a1-clerk", capsys=capsys)
    assert code == 0 and "add-user" in out and "suspend-user" in out and "agent1/agent1" in out
    code, out, _ = _run(config, "users", "export", capsys=capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    clerk = next(r for r in rows if r["user"] == "a1-clerk")
    assert clerk["email"] == "j@a1.example" and clerk["status"] == "suspended"
    code, _, err = _run(config, "users", "show", "nobody", capsys=capsys)
    assert code == 2 and "no user 'nobody'" in err


def test_check_config_reports_a_conflict_and_reset_ends_it(
    config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    _change(config, "agent1", "agent1", Change("set-roles", "agent1", roles=("admin", "input")))
    code, out, err = _run(config, "check-config", capsys=capsys)
    assert code == 0 and "conflict" not in err
    participant = config.directory / "participants" / "agent1.toml"
    participant.write_text(
        participant.read_text().replace('roles = ["admin"]', 'roles = ["admin", "output"]')
    )
    code, out, err = _run(config, "check-config", capsys=capsys)
    assert code == 0 and "conflict: user agent1 changed in" in err and "users reset agent1" in err
    code, out, _ = _run(config, "users", "list", "--format", "json", capsys=capsys)
    agent1 = next(u for u in json.loads(out) if u["user"] == "agent1")
    assert agent1["roles"] == ["admin", "input"]  # the store wins until reset
    code, out, _ = _run(config, "users", "reset", "agent1", capsys=capsys)
    assert code == 0
    code, out, err = _run(config, "check-config", capsys=capsys)
    assert "conflict" not in err
    code, out, _ = _run(config, "users", "list", "--format", "json", capsys=capsys)
    agent1 = next(u for u in json.loads(out) if u["user"] == "agent1")
    assert agent1["roles"] == ["admin", "output"] and agent1["source"] == "file"
    code, out, _ = _run(config, "users", "show", "agent1", capsys=capsys)
    assert "reset-to-file" in out


def test_the_operator_grants_and_revokes_access(
    config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        config,
        "users",
        "grant",
        "agent2",
        "--company",
        "agent1",
        "--roles",
        "output,input",
        capsys=capsys,
    )
    assert code == 0
    code, out, _ = _run(
        config, "users", "list", "--company", "agent1", "--format", "json", capsys=capsys
    )
    assert {u["user"]: u["access"] for u in json.loads(out)}["agent2"] == {
        "agent1": ["input", "output"]
    }
    code, _, err = _run(
        config,
        "users",
        "grant",
        "agent2",
        "--company",
        "agent2",
        "--roles",
        "output",
        capsys=capsys,
    )
    assert code == 1 and "ACCESS_COMPANY_UNKNOWN" in err
    code, out, _ = _run(config, "users", "revoke", "agent2", "--company", "agent1", capsys=capsys)
    assert code == 0
    code, out, _ = _run(
        config, "users", "list", "--company", "agent1", "--format", "json", capsys=capsys
    )
    assert "agent2" not in {u["user"] for u in json.loads(out)}


def test_countries_status_switches_at_go_live(
    config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    countries = config.directory / "countries.toml"
    countries.write_text(
        countries.read_text().replace(
            "[countries.DE]\n",
            '[countries.DE]\nstate = "sandbox"\ngo_live = 2027-01-15T08:00:00\n',
            1,
        )
    )
    before = datetime(2027, 1, 15, 6, 59, tzinfo=UTC)  # 07:59 in Berlin
    after = datetime(2027, 1, 15, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
    code, out, _ = _run(config, "countries", "status", capsys=capsys, now=before)
    assert code == 0 and out.startswith("DE  sandbox   live from 2027-01-15T08:00:00+01:00")
    code, out, _ = _run(config, "countries", "status", "--format", "json", capsys=capsys, now=after)
    assert (
        json.loads(out)[0]["state"] == "live"
        and json.loads(out)[0]["configured_state"] == "sandbox"
    )


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('state = "soon"\n', "'soon' is not one of planned, sandbox, live"),
        ("go_live = 2027-01-15T08:00:00\n", "a go-live date is for a country not live yet"),
        ('state = "sandbox"\ngo_live = 2027-01-15T08:00:00+01:00\n', "without offset"),
    ],
)
def test_bad_waves_are_configuration_errors(
    config: Config, capsys: pytest.CaptureFixture[str], lines: str, message: str
) -> None:
    countries = config.directory / "countries.toml"
    countries.write_text(
        countries.read_text().replace("[countries.DE]\n", "[countries.DE]\n" + lines, 1)
    )
    code, _, err = _run(config, "check-config", capsys=capsys)
    assert code == 2 and message in err, err


def test_certificate_files_must_exist(
    config: Config, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    gateway = config.directory / "gateway.toml"
    gateway.write_text(
        gateway.read_text().replace('ca_keys = ""', 'ca_keys = "keys/missing_ca.pub"')
    )
    code, _, err = _run(config, "check-config", capsys=capsys)
    assert code == 2 and "gateway.certificates.ca_keys: no such file" in err
