"""Loading the configuration: strictness, every problem with its file and key, resolved paths."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncssh
import pytest

from opencass.config import ConfigError, Problem, Role, init_demo, load_config

BERLIN = ZoneInfo("Europe/Berlin")
DEMO_TODAY = date(2026, 5, 1)  # the demo then holds the 2026 and 2027 calendars of DE
HASH = "scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0MTI="


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("template") / "demo"
    init_demo(directory, today=DEMO_TODAY)
    return directory


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the demo configuration, free to break."""
    return Path(shutil.copytree(demo_template, tmp_path / "config"))


def edit(root: Path, file: str, old: str | None, new: str | None) -> None:
    """Replace the one occurrence of ``old`` in ``file``; append when ``old`` is None; delete the
    file when ``new`` is None."""
    path = root / file
    if new is None:
        path.unlink()
        return
    text = path.read_text("utf-8") if path.exists() else ""
    if old is None:
        path.write_text(text + new, "utf-8")
        return
    assert text.count(old) == 1, f"{old!r} must occur once in {file}"
    path.write_text(text.replace(old, new), "utf-8")


def problems_of(directory: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load_config(directory)
    return info.value.problems


# --- the good configuration ------------------------------------------------------------------


def test_demo_loads_with_absolute_paths(demo: Path) -> None:
    config = load_config(demo)
    assert config.directory == demo.resolve()
    assert config.gateway.host_key == demo / "keys" / "ssh_host_ed25519_key"
    assert config.gateway.signing_key == demo / "keys" / "receipt_signing_ed25519.pem"
    assert config.gateway.data_dir == demo / "data"
    assert config.gateway.database == demo / "data" / "opencass.db"


def test_relative_config_directory_gives_absolute_paths(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(demo.parent)
    config = load_config(Path(demo.name))
    assert config.directory.is_absolute() and config.gateway.data_dir == demo / "data"


def test_absolute_data_dir_and_defaults(demo: Path, tmp_path: Path) -> None:
    (demo / "gateway.toml").write_text(f'[gateway]\ndata_dir = "{tmp_path / "var"}"\n')
    gateway = load_config(demo).gateway
    assert gateway.data_dir == tmp_path / "var"
    assert gateway.listen_port == 2222 and gateway.limits.max_sessions == 500
    assert gateway.ban.window_seconds == 300.0 and isinstance(gateway.ban.window_seconds, float)


def test_integer_accepted_where_a_number_is_expected(demo: Path) -> None:
    edit(demo, "gateway.toml", "window_seconds = 300.0", "window_seconds = 60")
    ban = load_config(demo).gateway.ban
    assert ban.window_seconds == 60.0 and isinstance(ban.window_seconds, float)


def test_milestones_are_aware_in_the_country_zone(demo: Path) -> None:
    config = load_config(demo)
    november = config.period_for("DE", date(2026, 11, 15))
    assert november is not None and november.code == "20261101M"
    assert november.upload_cutoff == datetime(2026, 12, 3, 23, 59, tzinfo=BERLIN)
    assert november.upload_cutoff.utcoffset() == timedelta(hours=1)
    march = config.period_for("DE", date(2026, 3, 1))
    assert march is not None and march.upload_cutoff.utcoffset() == timedelta(hours=2)


def test_calendars_sorted_by_billing_from_across_files(demo: Path) -> None:
    # file names sort 2027 first; the calendar must still be in date order
    (demo / "calendars" / "DE-2026.toml").rename(demo / "calendars" / "z-DE-2026.toml")
    periods = load_config(demo).calendars["DE"]
    assert [p.billing_from for p in periods] == sorted(p.billing_from for p in periods)
    assert periods[0].code == "20260101M" and len(periods) == 24


def test_inline_public_key_and_password_hash(demo: Path) -> None:
    line = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    edit(
        demo,
        "participants/agent1.toml",
        'roles = ["admin"]',
        f'roles = ["input", "output"]\npublic_keys = ["{line}"]\npassword_hash = "{HASH}"',
    )
    user = load_config(demo).users["agent1"]
    assert user.roles == {Role.INPUT, Role.OUTPUT}
    assert user.public_keys[0] == line and len(user.public_keys) == 2
    assert user.password_hash == HASH


def test_other_files_in_participants_are_ignored(demo: Path) -> None:
    (demo / "participants" / "README.txt").write_text("not config")
    (demo / "participants" / ".agent1.toml.swp").write_text("junk")
    (demo / "participants" / "agent1.toml~").write_text("junk")
    assert set(load_config(demo).companies) == {"demoair", "agent1", "agent2", "cassops"}


def test_no_participants_or_calendars_is_valid(demo: Path) -> None:
    shutil.rmtree(demo / "participants")
    shutil.rmtree(demo / "calendars")
    config = load_config(demo)
    assert config.companies == {} and config.users == {} and config.calendars == {}


def test_missing_directory(tmp_path: Path) -> None:
    problems = problems_of(tmp_path / "nowhere")
    assert [(p.file, p.key) for p in problems] == [(".", "")]
    assert "nowhere" in problems[0].reason


# --- bad configurations: each names its file and key -------------------------------------------

GW, CO, A1, A2, AIR, CAL = (
    "gateway.toml",
    "countries.toml",
    "participants/agent1.toml",
    "participants/agent2.toml",
    "participants/demoair.toml",
    "calendars/DE-2026.toml",
)
NOV = "periods[10]"  # the November 2026 period in DE-2026.toml


@dataclass(frozen=True)
class Case:
    id: str
    edits: list[tuple[str, str | None, str | None]]  # (file, old, new), see edit()
    expected: list[tuple[str, str, str]]  # exactly these (file, key, part of the reason)


CASES = [
    Case("unknown-top-level-key", [(GW, "[gateway]\n", 'colour = "red"\n[gateway]\n')],
         [(GW, "colour", "unknown key")]),
    Case("unknown-nested-key", [(GW, "max_sessions =", "max_sesions =")],
         [(GW, "gateway.limits.max_sesions", "did you mean 'max_sessions'")]),
    Case("unknown-table", [(A1, None, "\n[extra]\nfoo = 1\n")], [(A1, "extra", "unknown key")]),
    Case("unknown-user-key", [(A1, 'roles = ["admin"]', 'roles = ["admin"]\nshell = "sh"')],
         [(A1, "users[0].shell", "unknown key")]),
    Case("wrong-type-string-for-int", [(GW, "listen_port = 2222", 'listen_port = "2222"')],
         [(GW, "gateway.listen_port", "must be an integer, found string '2222'")]),
    Case("wrong-type-bool", [(A1, "[company]\n", '[company]\nall_or_nothing = "yes"\n')],
         [(A1, "company.all_or_nothing", "must be true or false")]),
    Case("wrong-type-table", [(GW, "[gateway.ban]\n", "[gateway.bans]\n")],
         [(GW, "gateway.bans", "unknown key (did you mean 'ban'?)")]),
    Case("store-not-postgresql", [(GW, '[store]\nurl = ""', '[store]\nurl = "mysql://db/x"')],
         [(GW, "store.url", "is not a PostgreSQL URL")]),
    Case("store-under-gateway", [(GW, '[store]\nurl = ""', '[gateway.store]\nurl = ""')],
         [(GW, "gateway.store", "unknown key")]),
    Case("port-out-of-range", [(GW, "listen_port = 2222", "listen_port = 70000")],
         [(GW, "gateway.listen_port", "not a TCP port")]),
    Case("limit-not-positive", [(GW, "max_sessions = 500", "max_sessions = 0")],
         [(GW, "gateway.limits.max_sessions", "positive")]),
    Case("bad-log-level", [(GW, 'log_level = "info"', 'log_level = "loud"')],
         [(GW, "gateway.log_level", "not one of")]),
    Case("bad-public-url", [(GW, '"https://opencass.invalid"', '"opencass.invalid"')],
         [(GW, "gateway.public_url", "URL")]),
    Case("host-key-missing", [("keys/ssh_host_ed25519_key", "", None)],
         [(GW, "gateway.host_key", "no such file")]),
    Case("toml-syntax", [(GW, None, "listen_port =\n")], [(GW, "", "not valid TOML")]),
    Case("gateway-missing", [(GW, "", None)], [(GW, "", "no such file")]),
    Case("gateway-table-missing", [(GW, "", None), (GW, None, "[gatewey]\nlisten_port = 1\n")],
         [(GW, "gateway", "missing"), (GW, "gatewey", "unknown key (did you mean 'gateway'?)")]),
    Case("bad-currency", [(CO, 'currency = "EUR"', 'currency = "EUX"')],
         [(CO, "countries.DE.currency", "not an ISO 4217 currency")]),
    Case("bad-timezone", [(CO, '"Europe/Berlin"', '"Europe/Berlinn"')],
         [(CO, "countries.DE.timezone", "not an IANA time zone")]),
    Case("country-name-missing", [(CO, 'name = "Germany"\n', "")],
         [(CO, "countries.DE.name", "missing")]),
    Case("bad-country-code",
         [(CO, None, '[countries.Fr]\nname = "France"\ncurrency = "EUR"\ntimezone = "UTC"\n')],
         [(CO, "countries.Fr", "2 capital letters")]),
    Case("bad-country-language", [(CO, 'language = "de"', 'language = "xx"')],
         [(CO, "countries.DE.language", "not a language")]),
    Case("bad-agent-check-digit", [(A1, '"23470068510"', '"23470068511"')],
         [(A1, "company.agent_codes.DE[0]", "check digit")]),
    Case("agent-code-too-short", [(A1, '"23470068510"', '"2347006851"')],
         [(A1, "company.agent_codes.DE[0]", "exactly 11 digits")]),
    Case("prefix-two-digits", [(AIR, '["997"]', '["97"]')],
         [(AIR, "company.airline_prefixes.DE[0]", "exactly 3 digits")]),
    Case("prefix-not-ascii-digits", [(AIR, '["997"]', '["٩٩٧"]')],
         [(AIR, "company.airline_prefixes.DE[0]", "exactly 3 digits")]),
    Case("prefix-as-integer", [(AIR, '["997"]', "[997]")],
         [(AIR, "company.airline_prefixes.DE[0]", "must be a string")]),
    Case("airline-without-prefix", [(AIR, '[company.airline_prefixes]\nDE = ["997"]\n', "")],
         [(AIR, "company.airline_prefixes", "missing: airline_prefixes for DE")]),
    Case("agent-with-prefixes", [(A2, None, '\n[company.airline_prefixes]\nDE = ["998"]\n')],
         [(A2, "company.airline_prefixes", "no airline_prefixes")]),
    Case("same-agent-code-twice", [(A2, '"12345620022"', '"23470068510"')],
         [(A2, "company.agent_codes.DE[0]", "already belongs to participants/agent1.toml")]),
    Case("duplicate-user", [(A2, 'name = "agent2"', 'name = "agent1"')],
         [(A2, "users[0].name", "already defined in participants/agent1.toml")]),
    Case("unknown-country-reference", [(A1, 'countries = ["DE"]', 'countries = ["DE", "FR"]')],
         [(A1, "company.countries[1]", "unknown country 'FR'")]),
    Case("unknown-country-in-codes",
         [(A1, 'DE = ["23470068510"]', 'DE = ["23470068510"]\nFR = []')],
         [(A1, "company.agent_codes.FR", "unknown country 'FR'")]),
    Case("agent-without-country", [(A1, 'countries = ["DE"]', "countries = []")],
         [(A1, "company.agent_codes.DE", "not in the company's countries"),
          (A1, "company.banking.DE", "not one of the company's countries"),
          (A1, "company.countries", "at least one country")]),
    Case("bad-kind", [(A1, 'kind = "agent"', 'kind = "forwarder"')],
         [(A1, "company.kind", "'forwarder' is not one of airline, agent, operator")]),
    Case("company-id-not-file-name", [(A2, 'id = "agent2"', 'id = "agent-two"')],
         [(A2, "company.id", "must match the file name")]),
    Case("bad-company-id", [(A2, 'id = "agent2"', 'id = "Agent2"')],
         [(A2, "company.id", "not a company id")]),
    Case("bad-language", [(A2, 'languages = ["en"]', 'languages = ["en", "xx"]')],
         [(A2, "company.languages[1]", "not a language")]),
    Case("bad-user-name", [(A1, 'name = "agent1"', 'name = "Agent 1"')],
         [(A1, "users[0].name", "not a user name")]),
    Case("bad-role", [(A1, '["admin"]', '["admin", "superuser"]')],
         [(A1, "users[0].roles[1]", "'superuser' is not one of admin, input, output, readonly")]),
    Case("no-roles", [(A1, '["admin"]', "[]")], [(A1, "users[0].roles", "at least one role")]),
    Case("unparseable-public-key",
         [(A1, 'public_key_files = ["keys/agent1.pub"]', 'public_keys = ["ssh-ed25519 AAAAnot"]')],
         [(A1, "users[0].public_keys[0]", "not an OpenSSH public key")]),
    Case("public-key-file-missing", [(A1, '"keys/agent1.pub"', '"keys/nobody.pub"')],
         [(A1, "users[0].public_key_files[0]", "no such file")]),
    Case("private-key-given-as-public", [(A1, '"keys/agent1.pub"', '"keys/agent1"')],
         [(A1, "users[0].public_key_files[0]", "private key")]),
    Case("bad-key-in-key-file", [("keys/agent1.pub", None, "ssh-ed25519 AAAAbroken\n")],
         [(A1, "users[0].public_key_files[0]", "keys/agent1.pub line 2: not an OpenSSH")]),
    Case("password-in-clear", [(A1, '["admin"]', '["admin"]\npassword_hash = "hunter2"')],
         [(A1, "users[0].password_hash", "never a password")]),
    Case("password-with-dollars", [(A1, '["admin"]', '["admin"]\npassword_hash = "pa$$w0rd"')],
         [(A1, "users[0].password_hash", "never a password")]),
    Case("overlapping-periods", [(CAL, "billing_to = 2026-11-30", "billing_to = 2026-12-01")],
         [(CAL, "periods[11].billing_from", "overlaps 20261101M (2026-11-01 to 2026-12-01)")]),
    Case("milestones-out-of-order",
         [(CAL, "reports_available = 2026-12-05T08:00:00",
           "reports_available = 2026-12-02T08:00:00")],
         [(CAL, f"{NOV}.reports_available", "before upload_cutoff")]),
    Case("upload-cutoff-inside-period",
         [(CAL, "upload_cutoff = 2026-12-03T23:59:00", "upload_cutoff = 2026-11-30T23:59:00")],
         [(CAL, f"{NOV}.upload_cutoff", "must be after billing_to 2026-11-30")]),
    Case("remittance-before-billing",
         [(CAL, "remittance_day = 2026-12-20", "remittance_day = 2026-12-14")],
         [(CAL, f"{NOV}.remittance_day", "before billing_available 2026-12-15")]),
    Case("settlement-before-remittance",
         [(CAL, "settlement_day = 2026-12-22", "settlement_day = 2026-12-19")],
         [(CAL, f"{NOV}.settlement_day", "before remittance_day 2026-12-20")]),
    Case("billing-to-before-from", [(CAL, "billing_to = 2026-11-30", "billing_to = 2026-10-30")],
         [(CAL, f"{NOV}.billing_to", "before billing_from")]),
    Case("bad-period-code", [(CAL, '"20261101M"', '"20261101X"')],
         [(CAL, f"{NOV}.code", "not a period code")]),
    Case("period-number-zero", [(CAL, '"20261101M"', '"20261100M"')],
         [(CAL, f"{NOV}.code", "not a period code")]),
    Case("period-code-wrong-month", [(CAL, '"20261101M"', '"20261001M"')],
         [(CAL, f"{NOV}.code", "does not match billing_from 2026-11-01"),
          (CAL, f"{NOV}.code", "20261001M is already defined in calendars/DE-2026.toml")]),
    Case("offset-date-time",
         [(CAL, "upload_cutoff = 2026-12-03T23:59:00",
           "upload_cutoff = 2026-12-03T23:59:00+01:00")],
         [(CAL, f"{NOV}.upload_cutoff", "must be a local date-time without offset")]),
    Case("date-for-date-time",
         [(CAL, "upload_cutoff = 2026-12-03T23:59:00", "upload_cutoff = 2026-12-03")],
         [(CAL, f"{NOV}.upload_cutoff", "found date")]),
    Case("time-in-dst-gap",
         [(CAL, "billing_available = 2026-03-15T08:00:00",
           "billing_available = 2026-03-29T02:30:00"),
          (CAL, "remittance_day = 2026-03-20", "remittance_day = 2026-03-30"),
          (CAL, "settlement_day = 2026-03-22", "settlement_day = 2026-03-31")],
         [(CAL, "periods[1].billing_available", "does not exist in Europe/Berlin")]),
    Case("calendar-year-mismatch", [(CAL, "year = 2026", "year = 2025")],
         [(CAL, "year", "2025 does not match the periods' years ['2026']")]),
    Case("calendar-unknown-country", [(CAL, 'country = "DE"', 'country = "FR"')],
         [(CAL, "country", "unknown country 'FR'")]),
    Case("calendar-without-periods",
         [("calendars/empty.toml", None, 'country = "DE"\nyear = 2026\n')],
         [("calendars/empty.toml", "periods", "at least one")]),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_config_names_file_and_key(demo: Path, case: Case) -> None:
    for file, old, new in case.edits:
        edit(demo, file, old, new)
    problems = problems_of(demo)
    assert sorted((p.file, p.key) for p in problems) == sorted((f, k) for f, k, _ in case.expected)
    for file, key, reason in case.expected:
        reasons = [p.reason for p in problems if (p.file, p.key) == (file, key)]
        assert any(reason in r for r in reasons), (reason, reasons)


def test_missing_countries_cascades_to_every_reference(demo: Path) -> None:
    (demo / "countries.toml").unlink()
    problems = problems_of(demo)
    assert Problem(CO, "", f"no such file: {demo / CO}") in problems
    assert (A1, "company.countries[0]") in {(p.file, p.key) for p in problems}
    assert (CAL, "country") in {(p.file, p.key) for p in problems}


def test_all_problems_reported_at_once(demo: Path) -> None:
    edit(demo, CO, 'currency = "EUR"', 'currency = "EUX"')
    edit(demo, A1, '"23470068510"', '"23470068511"')
    edit(demo, A1, '["admin"]', '["root"]')
    edit(demo, CAL, "billing_to = 2026-11-30", "billing_to = 2026-12-01")
    edit(demo, GW, "max_sessions =", "max_sesions =")
    with pytest.raises(ConfigError) as info:
        load_config(demo)
    where = [(p.file, p.key) for p in info.value.problems]
    assert where == [  # grouped by file, in file-name order
        (CAL, "periods[11].billing_from"),
        (CO, "countries.DE.currency"),
        (GW, "gateway.limits.max_sesions"),
        (A1, "company.agent_codes.DE[0]"),
        (A1, "users[0].roles[0]"),
    ]
    lines = str(info.value).splitlines()
    assert len(lines) == 5
    assert lines[3].startswith(f"{A1}: company.agent_codes.DE[0]: wrong check digit in 23470068511")


def test_problem_text() -> None:
    assert str(Problem("a.toml", "x.y[0]", "bad")) == "a.toml: x.y[0]: bad"
    assert str(Problem("a.toml", "", "not valid TOML")) == "a.toml: not valid TOML"
    error = ConfigError([Problem("a.toml", "k", "r1"), Problem("b.toml", "", "r2")])
    assert isinstance(error, Exception) and str(error) == "a.toml: k: r1\nb.toml: r2"


def test_oversized_file_is_refused(demo: Path) -> None:
    edit(demo, A1, None, "# " + "x" * (1 << 20) + "\n")
    assert [(p.file, p.key) for p in problems_of(demo)] == [(A1, "")]


def test_non_utf8_file_is_refused(demo: Path) -> None:
    (demo / CO).write_bytes(b'[countries.DE]\nname = "Deutschl\xe4nd"\n')
    problems = problems_of(demo)
    assert Problem(CO, "", "not UTF-8 text") in problems


def test_one_key_for_users_of_two_companies_is_a_configuration_error(demo: Path) -> None:
    """Defect: agent1's public key configured for agent2's user too let agent1 log in as
    agent2 without a word."""
    agent1_key = (demo / "keys" / "agent1.pub").read_text().strip()
    edit(
        demo,
        "participants/agent2.toml",
        "public_key_files = [",
        f'public_keys = ["{agent1_key}"]\npublic_key_files = [',
    )
    (problem,) = [p for p in problems_of(demo) if "one company only" in p.reason]
    assert problem.file == "participants/agent2.toml"
    assert "agent1" in problem.reason and "participants/agent1.toml" in problem.reason
