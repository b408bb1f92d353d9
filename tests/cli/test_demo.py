"""``init_demo``: a complete configuration that loads, valid keys, safe modes, the login line."""

from __future__ import annotations

import asyncio
import calendar
import itertools
import shlex
import stat
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncssh
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from opencass.config import (
    CompanyKind,
    Config,
    DemoError,
    Role,
    init_demo,
    is_demo,
    load_config,
)
from opencass.config.demo import MILESTONES, calendar_toml
from tests.kit.gateway import TODAY, free_port
from tests.kit.tools import needs_tool

BERLIN = ZoneInfo("Europe/Berlin")
USERS = {"demoair": "demoair", "agent1": "agent1", "agent2": "agent2", "ops": "cassops"}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo") / "opencass"
    info = init_demo(directory, sftp_port=2299, today=date(2026, 11, 20))
    assert info.created and info.directory == directory
    return directory


@pytest.fixture(scope="module")
def config(demo_dir: Path) -> Config:
    return load_config(demo_dir)


# --- content ---------------------------------------------------------------------------------


def test_exactly_the_demo_participants(config: Config) -> None:
    companies = {cid: (c.kind, c.legal_name) for cid, c in config.companies.items()}
    assert companies == {
        "demoair": (CompanyKind.AIRLINE, "Demo Air AG"),
        "agent1": (CompanyKind.AGENT, "Agent One Spedition GmbH"),
        "agent2": (CompanyKind.AGENT, "Agent Two Logistics Ltd"),
        "cassops": (CompanyKind.OPERATOR, "CASS Operations Demo"),
    }
    assert config.companies["demoair"].airline_prefixes == {"DE": ("997",)}
    assert config.companies["agent1"].agent_codes == {"DE": ("23470068510",)}
    assert config.companies["agent2"].agent_codes == {"DE": ("12345620022",)}
    assert config.companies["agent1"].language == "de"
    assert config.companies["agent2"].language == "en"
    assert all(c.countries == ("DE",) for c in config.companies.values())
    assert {u: user.company for u, user in config.users.items()} == USERS
    assert all(u.roles == {Role.ADMIN} and len(u.public_keys) == 1 for u in config.users.values())


def test_demo_country_and_gateway(config: Config, demo_dir: Path) -> None:
    de = config.countries["DE"]
    assert (de.name, de.currency, de.timezone, de.language, de.office) == (
        *("Germany", "EUR", "Europe/Berlin", "de", "FRA"),
    )
    assert list(config.countries) == ["DE"]
    gw = config.gateway
    assert (gw.listen_host, gw.listen_port, gw.data_dir) == ("127.0.0.1", 2299, demo_dir / "data")
    assert gw.public_url == "https://opencass.invalid"
    assert gw.host_key == demo_dir / "keys" / "ssh_host_ed25519_key"


def test_demo_calendars(config: Config, demo_dir: Path) -> None:
    assert sorted(p.name for p in (demo_dir / "calendars").iterdir()) == [
        "DE-2026.toml",
        "DE-2027.toml",
    ]
    periods = config.calendars["DE"]
    assert [p.code for p in periods] == [
        f"{y}{m:02}01M" for y in (2026, 2027) for m in range(1, 13)
    ]
    for before, after in itertools.pairwise(periods):
        assert after.billing_from == before.billing_to + timedelta(days=1)
    november = config.period_for("DE", date(2026, 11, 30))
    assert november is not None and november.code == "20261101M"
    assert (november.billing_from, november.billing_to) == (date(2026, 11, 1), date(2026, 11, 30))
    assert november.upload_cutoff == datetime(2026, 12, 3, 23, 59, tzinfo=BERLIN)
    assert november.upload_cutoff.astimezone(ZoneInfo("UTC")).hour == 22
    assert november.reports_available == datetime(2026, 12, 5, 8, 0, tzinfo=BERLIN)
    assert november.agent_correction_cutoff == datetime(2026, 12, 10, 23, 59, tzinfo=BERLIN)
    assert november.airline_response_cutoff == datetime(2026, 12, 13, 23, 59, tzinfo=BERLIN)
    assert november.billing_available == datetime(2026, 12, 15, 8, 0, tzinfo=BERLIN)
    assert (november.remittance_day, november.settlement_day) == (
        date(2026, 12, 20),
        date(2026, 12, 22),
    )
    assert november.frequency == "M"


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1990, max_value=2200))
def test_demo_calendar_of_any_year_loads(year: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "calendars").mkdir()
        (root / "calendars" / f"DE-{year}.toml").write_text(calendar_toml(year))
        countries = (
            '[countries.DE]\nname = "Germany"\ncurrency = "EUR"\ntimezone = "Europe/Berlin"\n'
        )
        (root / "countries.toml").write_text(countries)
        (root / "key").write_text("the loader only checks that key files exist")
        (root / "gateway.toml").write_text('[gateway]\nhost_key = "key"\nsigning_key = "key"\n')
        periods = load_config(root).calendars["DE"]
    assert len(periods) == 12 and periods[0].billing_from == date(year, 1, 1)
    assert periods[1].billing_to.day == (29 if calendar.isleap(year) else 28)
    assert periods[-1].billing_to == date(year, 12, 31)
    assert all(p.upload_cutoff.date() == p.billing_to + timedelta(days=3) for p in periods)


def test_leap_year_february() -> None:
    assert "billing_to = 2028-02-29\nupload_cutoff = 2028-03-03T23:59:00" in calendar_toml(2028)
    assert "billing_to = 2027-02-28\n" in calendar_toml(2027)


def test_milestone_offsets_are_named_constants() -> None:
    offsets = {name: m.days for name, m in MILESTONES.items()}
    assert offsets == {
        "upload_cutoff": 3,
        "reports_available": 5,
        "agent_correction_cutoff": 10,
        "airline_response_cutoff": 13,
        "billing_available": 15,
        "remittance_day": 20,
        "settlement_day": 22,
    }


@pytest.mark.parametrize("today", [date(2026, 11, 18), date(2031, 12, 31), date(2028, 2, 29)])
def test_calendar_covers_todays_year_and_the_next(tmp_path: Path, today: date) -> None:
    init_demo(tmp_path / "d", today=today)
    years = {p.billing_from.year for p in load_config(tmp_path / "d").calendars["DE"]}
    assert years == {today.year, today.year + 1}


# --- keys ------------------------------------------------------------------------------------


def test_user_keys_load_and_match_the_config(config: Config, demo_dir: Path) -> None:
    info_keys = {u: demo_dir / "keys" / u for u in USERS}
    for user, path in info_keys.items():
        private = asyncssh.read_private_key(path)
        assert private.algorithm == b"ssh-ed25519"
        public = private.export_public_key("openssh").decode().strip()
        assert config.users[user].public_keys == (public,)
        assert (demo_dir / "keys" / f"{user}.pub").read_text().strip() == public


def test_host_key_matches_known_hosts(demo_dir: Path) -> None:
    private = asyncssh.read_private_key(demo_dir / "keys" / "ssh_host_ed25519_key")
    public = private.export_public_key("openssh").decode().strip()
    assert (demo_dir / "keys" / "ssh_host_ed25519_key.pub").read_text().strip() == public
    assert (demo_dir / "known_hosts").read_text().strip() == f"[127.0.0.1]:2299 {public}"


def test_signing_key_is_ed25519_pkcs8(demo_dir: Path) -> None:
    pem = (demo_dir / "keys" / "receipt_signing_ed25519.pem").read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    spki = (demo_dir / "keys" / "receipt_signing_ed25519.pub.pem").read_bytes()
    public = serialization.load_pem_public_key(spki)
    signature = key.sign(b"receipt")
    assert isinstance(public, Ed25519PublicKey)
    public.verify(signature, b"receipt")


def test_private_keys_are_0600(demo_dir: Path) -> None:
    secrets = [*USERS, "ssh_host_ed25519_key", "receipt_signing_ed25519.pem"]
    for name in secrets:
        assert stat.S_IMODE((demo_dir / "keys" / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE((demo_dir / "keys").stat().st_mode) == 0o700


def test_users_get_different_keys(config: Config) -> None:
    keys = [u.public_keys[0].split()[1] for u in config.users.values()]
    assert len(set(keys)) == 4


# --- where it is written ---------------------------------------------------------------------


def test_existing_demo_is_left_alone(demo_dir: Path) -> None:
    before = {p: p.read_bytes() for p in demo_dir.rglob("*") if p.is_file()}
    info = init_demo(demo_dir, sftp_port=4000, today=TODAY)
    assert not info.created and info.sftp_port == 2299 and info.directory == demo_dir
    assert list(info.keys) == ["demoair", "agent1", "agent2", "ops"]
    assert {p: p.read_bytes() for p in demo_dir.rglob("*") if p.is_file()} == before


def test_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DemoError, match="not empty"):
        init_demo(tmp_path, today=TODAY)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(DemoError, match="not a directory"):
        init_demo(tmp_path / "f", today=TODAY)


def test_refuses_a_bad_port(tmp_path: Path) -> None:
    with pytest.raises(DemoError, match="TCP port"):
        init_demo(tmp_path / "d", sftp_port=0, today=TODAY)


def test_empty_directory_and_new_parents_are_fine(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert init_demo(tmp_path / "empty", today=TODAY).created
    assert init_demo(tmp_path / "a" / "b" / "c", today=TODAY).created
    for root in (tmp_path / "empty", tmp_path / "a" / "b" / "c"):
        assert is_demo(root) and not [p for p in root.iterdir() if p.name.startswith(".")]


def test_broken_demo_is_reported(tmp_path: Path) -> None:
    init_demo(tmp_path / "d", today=TODAY)
    (tmp_path / "d" / "countries.toml").unlink()
    with pytest.raises(DemoError, match="no longer loads"):
        init_demo(tmp_path / "d", today=TODAY)


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import opencass.config.demo as demo

    def fail(root: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(demo, "_write_signing_key", fail)
    with pytest.raises(DemoError, match="No space left"):
        init_demo(tmp_path / "d", today=TODAY)
    assert list((tmp_path / "d").iterdir()) == []
    monkeypatch.undo()
    assert init_demo(tmp_path / "d", today=TODAY).created  # an empty directory is accepted again


# --- the login line --------------------------------------------------------------------------


def test_sftp_command_line(demo_dir: Path) -> None:
    info = init_demo(demo_dir, today=TODAY)
    assert shlex.split(info.sftp_command("agent1")) == [
        "sftp",
        "-i",
        str(demo_dir / "keys" / "agent1"),
        "-P",
        "2299",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        f"UserKnownHostsFile={demo_dir / 'known_hosts'}",
        "-o",
        "IdentitiesOnly=yes",
        "agent1@127.0.0.1",
    ]


def test_sftp_command_quotes_spaces(tmp_path: Path) -> None:
    info = init_demo(tmp_path / "my demo", today=TODAY)
    args = shlex.split(info.sftp_command("ops"))
    assert args[2] == str(tmp_path / "my demo" / "keys" / "ops")


class _DemoServer(asyncssh.SSHServer):
    def __init__(self, config: Config) -> None:
        self.config = config

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        user = self.config.user(username)
        keys = [asyncssh.import_public_key(line) for line in (user.public_keys if user else ())]
        return any(k.public_data == key.public_data for k in keys)


@needs_tool("sftp", "the OpenSSH client is the printed line's client")
async def test_sftp_line_logs_in_with_openssh(tmp_path: Path) -> None:
    """The printed line works as is: host key known, user key accepted, a file goes up."""
    port = free_port()
    info = init_demo(tmp_path / "demo", sftp_port=port, today=TODAY)
    config = load_config(info.directory)
    root = tmp_path / "mailbox"
    root.mkdir()
    server = await asyncssh.listen(
        "127.0.0.1",
        port,
        server_host_keys=[str(config.gateway.host_key)],
        server_factory=lambda: _DemoServer(config),
        sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=bytes(root)),
    )
    try:
        (tmp_path / "billing.hot").write_text("hello")
        batch = tmp_path / "batch"
        batch.write_text(f"put {tmp_path / 'billing.hot'} /billing.hot\n")
        args = shlex.split(info.sftp_command("agent1"))
        proc = await asyncio.create_subprocess_exec(
            *args[:-1],
            "-b",
            str(batch),
            args[-1],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, (out + err).decode()
        assert (root / "billing.hot").read_text() == "hello"
    finally:
        server.close()
        await server.wait_closed()
