"""The legacy migration on a fixture export of 322 users (``tests/data/users/legacy-export.csv``):
the cut-off edge day, companies with 0, 1 and 4 administrators, ties in rights, the oddities;
then the command end to end (reports in the outboxes, CSV and PDF) and its re-run."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from opencass.cli import main
from opencass.config.loader import load_config
from opencass.config.model import Config
from opencass.identity.directory import build_directory
from opencass.identity.migration import ExportError, Outcome, plan_migration, read_export
from opencass.store.users import UsersState
from tests.kit.db import db_connect
from tests.kit.gateway import NOW, TODAY, init_demo_store

EXPORT = Path(__file__).parents[1] / "data" / "users" / "legacy-export.csv"
CUTOFF = date(2026, 6, 30)
A3, A4, A5 = "23456710001", "23456720000", "23456730006"


def _company(folder: Path, cid: str, kind: str, codes: str) -> None:
    table = "airline_prefixes" if kind == "airline" else "agent_codes"
    (folder / "participants" / f"{cid}.toml").write_text(
        f'[company]\nid = "{cid}"\nkind = "{kind}"\nlegal_name = "{cid.title()} Ltd"\n'
        f'countries = ["DE"]\n\n[company.{table}]\nDE = ["{codes}"]\n'
    )


@pytest.fixture
def migrating(tmp_path: Path) -> Config:
    """The demo plus four companies without users: airtwo (998), agent3, agent4, agent5."""
    folder = tmp_path / "config"
    init_demo_store(folder, today=TODAY)
    _company(folder, "airtwo", "airline", "998")
    for cid, code in (("agent3", A3), ("agent4", A4), ("agent5", A5)):
        _company(folder, cid, "agent", code)
    return load_config(folder)


def _outcomes(config: Config) -> dict[str, Outcome]:
    directory = build_directory(config.users, config.companies, UsersState(0, (), ()))
    rows = read_export(EXPORT.read_text())
    return {o.legacy.user_id: o for o in plan_migration(rows, config, "DE", CUTOFF, directory, {})}


def test_hand_checked_outcomes(migrating: Config) -> None:
    got = _outcomes(migrating)
    assert len(got) == 322
    status = {uid: (o.status, o.roles) for uid, o in got.items() if not uid.startswith("bulk")}
    assert status == {
        # airtwo had no administrator: the three with most rights, ties to the later login,
        # then to the user id
        "air2.top": ("promoted to admin", ("admin",)),
        "air2.tie-late": ("promoted to admin", ("admin",)),
        "air2.tie-early": ("promoted to admin", ("admin",)),
        "air2.tie-early-b": ("migrated", ("input",)),
        "air2.stale-boss": ("not migrated", ()),  # last login the day before the cut-off
        "air2.edge": ("migrated", ("input",)),  # on the cut-off day
        "air2.edge-time": ("migrated", ("input",)),  # at 23:59 that day
        "air2.never": ("not migrated", ()),
        "a3.admin": ("migrated", ("admin",)),  # agent3's one administrator
        "a3.many-rights": ("migrated", ("output",)),  # not promoted: agent3 has its admin
        "a4.admin1": ("migrated", ("admin",)),
        "a4.admin2": ("migrated", ("admin",)),
        "a4.admin3": ("migrated", ("admin",)),
        "a4.admin4": ("not migrated", ()),  # the fourth administrator is stale
        "a5.old": ("not migrated", ()),
        "ghost.user": ("not migrated", ()),
        "-dash": ("not migrated", ()),
        "agent1": ("not migrated", ()),
        "a3.twice": ("migrated", ("output",)),
        "A3.Twice": ("not migrated", ()),
        "Demo.Clerk": ("migrated", ("input",)),
        "broken.date": ("not migrated", ()),
    }
    reasons = {
        uid: got[uid].reason
        for uid in (
            "air2.stale-boss",
            "air2.never",
            "ghost.user",
            "-dash",
            "agent1",
            "A3.Twice",
            "broken.date",
        )
    }
    assert reasons == {
        "air2.stale-boss": "no login since the cut-off (last: 2026-06-29)",
        "air2.never": "no login since the cut-off (last: never)",
        "ghost.user": "company 555 is not a participant of DE",
        "-dash": "'-dash' cannot be a login name",
        "agent1": "login agent1 is taken by a user of agent1",
        "A3.Twice": "user id listed twice (line 20)",  # the first listing
        "broken.date": "last_login '31/12/2026' is not a date",
    }
    assert got["Demo.Clerk"].login == "demo.clerk" and got["Demo.Clerk"].company == "demoair"


def test_the_bulk_follows_the_rule(migrating: Config) -> None:
    got = _outcomes(migrating)
    counts = Counter((o.company, o.status) for uid, o in got.items() if uid.startswith("bulk"))
    # every second bulk user is stale; by company, rows 0,4,8.. demoair, 1,5,.. agent3 (all
    # stale), 2,6,.. agent4, 3,7,.. airtwo (all stale)
    assert counts == {
        ("demoair", "migrated"): 75,
        ("agent3", "not migrated"): 75,
        ("agent4", "migrated"): 75,
        ("airtwo", "not migrated"): 75,
    }
    assert {
        o.roles for uid, o in got.items() if uid.startswith("bulk") and o.company == "agent4"
    } == {("output",)}
    totals = Counter(o.migrated for o in got.values())
    assert totals == {True: 163, False: 159}


def test_an_export_without_its_columns_is_refused() -> None:
    with pytest.raises(ExportError, match="user_id"):
        read_export("company_code,name\n997,x\n")


def _cli(config: Config, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["users", *args, "--config", str(config.directory)], clock=lambda: NOW)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_command_migrates_reports_and_runs_again_unchanged(
    migrating: Config, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    export = tmp_path / "export.csv"
    shutil.copy(EXPORT, export)
    args = ("migrate", str(export), "--country", "DE", "--cutoff", "2026-06-30")
    code, out, err = _cli(migrating, *args, "--dry-run", capsys=capsys)
    assert code == 0 and "would create 163 users" in err
    assert not migrating.gateway.database.exists() or _changes(migrating) == 0
    code, out, err = _cli(migrating, *args, capsys=capsys)
    assert code == 0 and "created 163 users" in err, err
    assert _changes(migrating) == 163
    outbox = migrating.gateway.mailboxes_dir
    agent3 = list(
        csv.reader(
            io.StringIO((outbox / "agent3/outbox/user-migration-DE-2026-06-30.csv").read_text())
        )
    )
    assert agent3[0][:3] == ["company", "company code", "user id"]
    assert {r[0] for r in agent3[1:]} == {"agent3"} and len(agent3) - 1 == 75 + 5
    ops = (outbox / "cassops/outbox/user-migration-DE-2026-06-30.csv").read_text()
    assert ops.count("\n") == 323
    pdf = outbox / "airtwo/outbox/user-migration-DE-2026-06-30.pdf"
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "promoted to admin" in text and "air2.top" in text and "ghost.user" not in text
    # the administrators of a migrated company work on: one demotes a promoted admin
    code, out, _ = _cli(migrating, "list", "--company", "airtwo", "--format", "json", capsys=capsys)
    assert '"source": "migration"' in out
    before = (outbox / "airtwo/outbox/user-migration-DE-2026-06-30.csv").read_bytes()
    code, out, err = _cli(migrating, *args, capsys=capsys)
    assert code == 0 and "created 0 users" in err
    assert _changes(migrating) == 163
    assert (outbox / "airtwo/outbox/user-migration-DE-2026-06-30.csv").read_bytes() == before


def _changes(config: Config) -> int:
    with db_connect(config.gateway.database) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM user_changes").fetchone()[0])
