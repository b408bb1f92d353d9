"""``[portal]`` in gateway.toml and a user's ``totp_secret``: what the loader accepts and what
it refuses, each with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from opencass.config import load_config
from opencass.config.demo import init_demo
from opencass.config.diff import restart_only_changes
from opencass.config.reader import ConfigError
from tests.kit.gateway import TODAY


def _demo(tmp_path: Path) -> Path:
    init_demo(tmp_path / "c", today=TODAY, portal_port=0)
    return tmp_path / "c"


def _portal(directory: Path, table: str) -> None:
    toml = directory / "gateway.toml"
    text = toml.read_text()
    start = text.index("[portal]")
    toml.write_text(text[:start] + table + "\n")


def test_the_demo_serves_the_portal_with_a_second_factor_for_each_user(tmp_path: Path) -> None:
    config = load_config(_demo(tmp_path))
    assert config.gateway.portal.listen == "127.0.0.1:0" and not config.gateway.portal.tls
    assert all(u.totp_secret and u.password_hash for u in config.users.values())
    init_demo(tmp_path / "off", today=TODAY)
    off = load_config(tmp_path / "off")
    assert not off.gateway.portal.enabled
    assert not any(u.totp_secret for u in off.users.values())


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ('[portal]\nlisten = "8443"', "listen"),
        ('[portal]\nlisten = "h:99999"', "listen"),
        ('[portal]\nlisten = "h:1"\ntls_key = "keys/x.pem"', "tls_key"),
        ('[portal]\nlisten = "h:1"\ntls_certificate = "nope.pem"', "tls_certificate"),
        (
            '[portal]\nlisten = "h:1"\ntrusted_proxies = ["10.0.0.0/8", "proxy.example"]',
            "trusted_proxies",
        ),
        ('[portal]\nlisten = "h:1"\nidle_minutes = 0.5', "idle_minutes"),
    ],
)
def test_bad_portal_settings_are_refused(tmp_path: Path, table: str, key: str) -> None:
    directory = _demo(tmp_path)
    _portal(directory, table)
    with pytest.raises(ConfigError, match=key):
        load_config(directory)


def test_a_malformed_totp_secret_is_refused(tmp_path: Path) -> None:
    directory = _demo(tmp_path)
    path = directory / "participants" / "agent1.toml"
    text = path.read_text()
    secret = load_config(directory).users["agent1"].totp_secret
    assert secret
    path.write_text(text.replace(secret, "not base32!"))
    with pytest.raises(ConfigError, match="totp_secret"):
        load_config(directory)


def test_moving_the_portal_needs_a_restart(tmp_path: Path) -> None:
    directory = _demo(tmp_path)
    before = load_config(directory)
    _portal(directory, '[portal]\nlisten = "127.0.0.1:8999"\ntrusted_proxies = ["10.0.0.1"]')
    after = load_config(directory)
    assert after.gateway.portal.trusted_proxies == ("10.0.0.1/32",)
    assert restart_only_changes(before, after) == ["portal.listen 127.0.0.1:0 → 127.0.0.1:8999"]


@pytest.mark.parametrize(
    ("oidc", "key"),
    [
        ('issuer = "http://idp.example.org"\nclient_id = "c"', "issuer"),
        ('issuer = "https://idp.example.org"', "client_id"),
        ('issuer = "https://idp.example.org"\nclient_id = "c"\nscopes = ["profile"]', "scopes"),
    ],
)
def test_bad_openid_connect_settings_are_refused(tmp_path: Path, oidc: str, key: str) -> None:
    directory = _demo(tmp_path)
    _portal(directory, f'[portal]\nlisten = "127.0.0.1:0"\n\n[portal.oidc]\n{oidc}')
    with pytest.raises(ConfigError, match=key):
        load_config(directory)


def test_the_providers_claim_names_an_active_user(tmp_path: Path) -> None:
    from opencass.identity.directory import Directory, Member
    from opencass.portal.oidc import member_for

    config = load_config(_demo(tmp_path))
    users = config.users
    directory = Directory(
        {
            "agent1": Member(users["agent1"], email="Ops@Agent1.example"),
            "agent2": Member(users["agent2"], status="suspended", email="two@example.org"),
        }
    )
    assert member_for({"preferred_username": "agent1"}, "preferred_username", directory)
    assert member_for({"preferred_username": "agent2"}, "preferred_username", directory) is None
    assert member_for({"preferred_username": "ops"}, "preferred_username", directory) is None
    found = member_for({"email": "ops@agent1.example"}, "email", directory)
    assert found is not None and found.name == "agent1"
    unverified = {"email": "ops@agent1.example", "email_verified": False}
    assert member_for(unverified, "email", directory) is None
    assert member_for({"email": "two@example.org"}, "email", directory) is None
    assert member_for({}, "email", directory) is None
