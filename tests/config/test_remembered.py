"""Checks of third-party identifiers remembered between processes (``config.remembered``):
a second process loads the same configuration without importing the checking libraries and
gets the same configuration; what fails is checked (and refused) every time; a stale, corrupt
or unwritable memo costs time, never a wrong answer; private keys are remembered by digest."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from opencass.config import init_demo
from opencass.config.remembered import Remembered
from tests.kit.gateway import TODAY

LIBRARIES = ("schwifty", "stdnum", "cryptography", "babel", "asyncssh")

PROBE = """
import hashlib, json, pickle, sys
from pathlib import Path
from opencass.config.loader import load_config, ConfigError
try:
    config = load_config(Path(sys.argv[1]))
    digest = hashlib.sha256(repr(config).encode()).hexdigest()
    error = ""
except ConfigError as e:
    digest, error = "", str(e)
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2].split(",")))
print(json.dumps({"digest": digest, "error": error, "loaded": loaded}))
"""


def _load(config: Path, cache: str) -> dict[str, object]:
    env = {**os.environ, "OPENCASS_CACHE_DIR": cache, "PYTHONHASHSEED": "0"}  # sets in repr
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(config), ",".join(LIBRARIES)],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    result: dict[str, object] = json.loads(out)
    return result


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    init_demo(tmp_path / "config", today=TODAY)
    return tmp_path / "config"


def test_second_process_loads_the_same_config_without_the_libraries(
    demo: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = _load(demo, str(cache))
    assert first["error"] == "" and {"schwifty", "stdnum", "cryptography"} <= set(
        first["loaded"]  # type: ignore[arg-type]
    )
    (memo,) = cache.glob("checks-*.json")
    assert stat.S_IMODE(memo.stat().st_mode) == 0o600
    kinds = {key.split("\x00")[0] for key in json.loads(memo.read_text())["answers"]}
    assert {"iban", "bic", "vat", "public-key", "language", "currency"} <= kinds
    second = _load(demo, str(cache))
    assert second == {"digest": first["digest"], "error": "", "loaded": []}
    # and with remembering off, every check runs again
    off = _load(demo, "off")
    assert off["digest"] == first["digest"] and "schwifty" in off["loaded"]  # type: ignore[operator]


def test_a_bad_value_is_refused_every_time_and_never_remembered(demo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _load(demo, str(cache))  # the good values are remembered
    company = next(p for p in (demo / "participants").glob("*.toml") if "iban" in p.read_text())
    good = company.read_text()
    iban = good.split('iban = "', 1)[1].split('"', 1)[0]
    bad = iban[:-1] + str((int(iban[-1]) + 1) % 10)
    company.write_text(good.replace(iban, bad))
    for _ in range(2):
        result = _load(demo, str(cache))
        assert "is not a valid IBAN" in str(result["error"]), result
    (memo,) = cache.glob("checks-*.json")
    remembered = json.loads(memo.read_text())["answers"]
    assert f"iban\x00{iban}" in remembered and f"iban\x00{bad}" not in remembered
    company.write_text(good)
    assert _load(demo, str(cache))["error"] == ""


def test_private_keys_are_remembered_by_digest_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from opencass.config import keys, remembered

    memo = Remembered(tmp_path / "m.json", stamp="v1")
    monkeypatch.setattr(remembered, "_current", memo)
    key = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )  # fmt: skip
    assert keys.private_key_error(key) is None
    assert keys.private_key_error(b"not a key") is not None
    memo.save()
    text = (tmp_path / "m.json").read_text()
    assert hashlib.sha256(key).hexdigest() in text
    assert "PRIVATE KEY" not in text and key.decode().splitlines()[1] not in text
    assert hashlib.sha256(b"not a key").hexdigest() not in text  # refused: not remembered


def test_stale_corrupt_and_unwritable_memos(tmp_path: Path) -> None:
    calls: list[str] = []

    def check(value: str) -> str:
        calls.append(value)
        if value == "bad":
            raise ValueError("bad value")
        return value.upper()

    path = tmp_path / "m.json"
    memo = Remembered(path, stamp="v1")
    assert memo.check("k", "good", lambda: check("good")) == "GOOD"
    for _ in range(2):
        with pytest.raises(ValueError, match="bad value"):
            memo.check("k", "bad", lambda: check("bad"))
    memo.save()
    assert calls == ["good", "bad", "bad"]
    again = Remembered(path, stamp="v1")
    assert again.check("k", "good", lambda: check("good")) == "GOOD" and len(calls) == 3
    # another library version: the file is not used
    assert Remembered(path, stamp="v2").check("k", "good", lambda: check("good")) == "GOOD"
    assert len(calls) == 4
    # a corrupt file is ignored
    path.write_text('{"stamp": "v1", "answers": [1, 2]')
    assert Remembered(path, stamp="v1").check("k", "good", lambda: check("good")) == "GOOD"
    assert len(calls) == 5
    # a directory that cannot be written: nothing fails, nothing is left behind
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        memo = Remembered(locked / "sub" / "m.json", stamp="v1")
        memo.check("k", "good", lambda: check("good"))
        memo.save()
        if os.geteuid() != 0:  # root writes anyway
            assert not list(locked.iterdir())
    finally:
        locked.chmod(0o700)
    # off: every check runs
    off = Remembered(None, on=False)
    off.check("k", "good", lambda: check("good"))
    off.check("k", "good", lambda: check("good"))
    assert calls[-2:] == ["good", "good"]
