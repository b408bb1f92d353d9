"""Certificate trust and the revocation list against OpenSSH itself: certificates made by
``ssh-keygen -s``, revocation decided by our list and by ``ssh-keygen -Q`` on a binary KRL that
``ssh-keygen -k`` built from the same text: both must agree."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import asyncssh
import pytest

from opencass.config.model import CertificateSettings
from opencass.gateway.sftp import _cert_facts
from opencass.identity.certificates import (
    CertFacts,
    TrustError,
    load_trust,
    parse_revocations,
)
from tests.kit.identity import keygen, sign_certificate

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)


def _facts(cert: Path) -> CertFacts:
    return _cert_facts(asyncssh.import_certificate(cert.read_text()))


def _openssh_revoked(krl: Path, cert: Path) -> bool:
    done = subprocess.run(
        ["ssh-keygen", "-Q", "-f", str(krl), str(cert)], capture_output=True, text=True
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode == 1


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    path = tmp_path / "user_ca"
    keygen(path)
    return path


def test_the_facts_of_an_ssh_keygen_certificate(ca: Path, tmp_path: Path) -> None:
    key = tmp_path / "alice"
    line = keygen(key)
    cert = sign_certificate(
        ca,
        key,
        principals="alice,alice2",
        serial=42,
        key_id="alice@corp",
        validity="20260101:20270101",
    )
    facts = _facts(cert)
    assert facts.user_cert and facts.serial == 42 and facts.key_id == "alice@corp"
    assert facts.principals == ("alice", "alice2")
    assert facts.valid_after == int(datetime(2026, 1, 1).astimezone().timestamp())
    assert facts.key_blob == asyncssh.import_public_key(line).public_data
    assert facts.ca_blob == asyncssh.read_public_key(f"{ca}.pub").public_data


def test_our_revocations_agree_with_ssh_keygen(ca: Path, tmp_path: Path) -> None:
    keys = {}
    for name in ("k1", "k2", "k3", "k4", "k5", "k6", "k7"):
        keys[name] = tmp_path / name
        keygen(keys[name])
    spec = tmp_path / "revoked.txt"
    k4_line = Path(f"{keys['k4']}.pub").read_text().strip()
    k5_print = subprocess.run(
        ["ssh-keygen", "-lf", f"{keys['k5']}.pub", "-E", "sha256"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    k7_line = Path(f"{keys['k7']}.pub").read_text().strip()
    spec.write_text(
        f"# revoked\nserial: 10-20\nserial: 99\nid: lost-laptop\nkey: {k4_line}\n"
        f"hash: {k5_print}\nsha256: {k7_line}\n"
    )
    krl = tmp_path / "krl"
    subprocess.run(
        ["ssh-keygen", "-q", "-k", "-f", str(krl), "-s", f"{ca}.pub", str(spec)], check=True
    )
    revocations = parse_revocations(spec.read_text())
    certs = {
        "k1": sign_certificate(
            ca, keys["k1"], principals="u", serial=15, key_id="a"
        ),  # serial range
        "k2": sign_certificate(ca, keys["k2"], principals="u", serial=21, key_id="b"),  # just after
        "k3": sign_certificate(ca, keys["k3"], principals="u", serial=5, key_id="lost-laptop"),
        "k4": sign_certificate(ca, keys["k4"], principals="u", serial=6, key_id="c"),  # key
        "k5": sign_certificate(ca, keys["k5"], principals="u", serial=7, key_id="d"),  # sha256
        "k6": sign_certificate(ca, keys["k6"], principals="u", serial=99, key_id="e"),
        "k7": sign_certificate(ca, keys["k7"], principals="u", serial=8, key_id="f"),  # sha256
    }
    ours = {n: revocations.reason(_facts(c)) is not None for n, c in certs.items()}
    theirs = {n: _openssh_revoked(krl, c) for n, c in certs.items()}
    assert (
        ours
        == theirs
        == {
            "k1": True,
            "k2": False,
            "k3": True,
            "k4": True,
            "k5": True,
            "k6": True,
            "k7": True,
        }
    )


def test_trust_rules(ca: Path, tmp_path: Path) -> None:
    (tmp_path / "revoked").write_text("serial: 3\n")
    trust = load_trust(CertificateSettings(f"{ca}.pub", str(tmp_path / "revoked")))
    key = tmp_path / "bob"
    keygen(key)

    def refusal(
        principals: str | None, serial: int, validity: str, login: str = "bob"
    ) -> str | None:
        cert = sign_certificate(
            ca, key, principals=principals, serial=serial, key_id="x", validity=validity
        )
        return trust.refusal(_facts(cert), login, NOW)

    wide = "20200101:20991231"
    assert refusal("bob", 1, wide) is None
    assert refusal("bob", 1, wide, login="alice") is not None
    assert "no principal" in (refusal(None, 1, wide) or "")
    assert "expired" in (refusal("bob", 1, "20260101:20261118") or "")  # ends before NOW
    assert "not valid yet" in (refusal("bob", 1, "20261119:20991231") or "")
    assert "revoked" in (refusal("bob", 3, wide) or "")
    rogue = tmp_path / "rogue"
    keygen(rogue)
    cert = sign_certificate(rogue, key, principals="bob", serial=1, key_id="x")
    assert "not trusted" in (trust.refusal(_facts(cert), "bob", NOW) or "")


def test_bad_trust_files_are_configuration_errors(ca: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("serial: ten\n")
    with pytest.raises(TrustError, match="line 1"):
        load_trust(CertificateSettings(f"{ca}.pub", str(bad)))
    krl = tmp_path / "krl"
    spec = tmp_path / "spec"
    spec.write_text("serial: 1\n")
    subprocess.run(
        ["ssh-keygen", "-q", "-k", "-f", str(krl), "-s", f"{ca}.pub", str(spec)], check=True
    )
    with pytest.raises(TrustError, match="binary KRL"):
        load_trust(CertificateSettings(f"{ca}.pub", str(krl)))
    assert load_trust(CertificateSettings()).ca_keys == frozenset()
