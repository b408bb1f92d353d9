"""``opencass receipt verify``: a participant checks a receipt with the gateway's public key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from opencass.codecs.onerecord import SubmissionInfo, encode_receipt
from opencass.config import init_demo
from opencass.gateway.answers import load_signing_key, public_key_pem, sign
from tests.kit.gateway import CLOCK_ENV, TODAY


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opencass.cli", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=CLOCK_ENV,
    )


def test_verify_valid_tampered_and_wrong_key(tmp_path: Path) -> None:
    config = tmp_path / "config"
    init_demo(config, today=TODAY)
    key = load_signing_key(config / "keys" / "receipt_signing_ed25519.pem")
    info = SubmissionInfo(
        file_id="F1",
        file_name="a.hot",
        company="demoair",
        user="demoair",
        sha256="ab" * 32,
        size=10,
        received_at="2026-11-22T00:00:00+00:00",
        outcome="accepted",
        counts={},
    )
    receipt = tmp_path / "receipt.xml"
    receipt.write_bytes(encode_receipt(info, base_iri="https://opencass.invalid"))
    (tmp_path / "receipt.xml.sig").write_bytes(sign(key, receipt.read_bytes()))
    public = tmp_path / "gateway.pub"
    public.write_bytes(public_key_pem(key))

    assert run("receipt", "verify", receipt, "--key", public).returncode == 0
    assert run("receipt", "verify", receipt, "--config", config).returncode == 0  # key from config

    receipt.write_bytes(receipt.read_bytes().replace(b"a.hot", b"b.hot"))
    bad = run("receipt", "verify", receipt, "--key", public)
    assert bad.returncode == 1 and "INVALID" in bad.stderr

    other = tmp_path / "other"
    init_demo(other, today=TODAY)
    receipt.write_bytes(receipt.read_bytes().replace(b"b.hot", b"a.hot"))
    other_key = other / "keys" / "receipt_signing_ed25519.pub.pem"
    wrong = run("receipt", "verify", receipt, "--key", other_key)
    assert wrong.returncode == 1
    assert run("receipt", "verify", tmp_path / "missing.xml", "--key", public).returncode == 2
