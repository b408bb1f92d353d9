"""The ``opencass`` command as a user runs it: exit codes, JSON shape, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from opencass.cli.samples import write_samples
from tests.kit.gateway import CLOCK_ENV, TODAY

FINDING_KEYS = ["code", "severity", "scope", "line", "record_type", "field", "columns", "message"]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opencass.cli", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=CLOCK_ENV,
    )


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    good, broken, *_messages = write_samples(tmp_path_factory.mktemp("samples"), TODAY)
    return {"good": good, "broken": broken}


def test_validate_valid_file_exits_0(samples: dict[str, Path]) -> None:
    r = run("validate", samples["good"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert ": valid" in r.stdout.splitlines()[0]


def test_validate_json_shape(samples: dict[str, Path]) -> None:
    r = run("validate", samples["broken"], "--format", "json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert list(doc) == ["file", "format", "dialect", "valid", "counts", "findings"]
    assert doc["format"] == "hot" and doc["dialect"] == "handoff" and doc["valid"] is False
    assert doc["counts"]["errors"] == 3 and doc["counts"]["AWM"] == 3
    for f in doc["findings"]:
        assert list(f) == FINDING_KEYS
    by_code = {f["code"]: f for f in doc["findings"]}
    assert by_code["AWB_CHECK_DIGIT"]["line"] == 2
    assert by_code["FIELD_NOT_NUMERIC"]["columns"] == [57, 68]
    assert by_code["FIELD_NOT_NUMERIC"]["field"] == "weight_charge_prepaid"
    assert by_code["TRAILER_MISSING"]["scope"] == "file"


def test_validate_text_lists_every_finding(samples: dict[str, Path]) -> None:
    r = run("validate", samples["broken"])
    assert r.returncode == 1
    for code in ("AWB_CHECK_DIGIT", "FIELD_NOT_NUMERIC", "TRAILER_MISSING"):
        assert code in r.stdout
    assert "line 4, AWM, weight_charge_prepaid [57-68]" in r.stdout


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (bytes(range(256)) * 8, "FORMAT_UNKNOWN"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 300, "FORMAT_UNKNOWN"),
        (b"", "FILE_EMPTY"),
        (b"hello world\nthis is not a billing file\n", "HEADER_MISSING"),
        (b"AAA\xff\xfe garbage", "ENCODING_NON_ASCII"),
    ],
)
def test_garbage_gives_findings_not_tracebacks(tmp_path: Path, content: bytes, code: str) -> None:
    path = tmp_path / "input.bin"
    path.write_bytes(content)
    r = run("validate", path, "--format", "json")
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert code in {f["code"] for f in json.loads(r.stdout)["findings"]}


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("validate", tmp_path / "missing.hot").returncode == 2
    assert run("validate").returncode == 2
    assert run("frobnicate").returncode == 2
    assert run("convert", tmp_path / "x", "--to", "pdf").returncode == 2


def test_convert_between_dialects_round_trips(samples: dict[str, Path], tmp_path: Path) -> None:
    participant = tmp_path / "p.hot"
    r = run(
        "convert", samples["good"], "--to", "hot", "--dialect", "participant", "-o", participant
    )
    assert r.returncode == 0, r.stderr
    assert participant.read_bytes().startswith(b"AAADE")
    assert run("validate", participant).returncode == 0
    back = run("convert", participant, "--to", "hot", "--dialect", "handoff")
    original = samples["good"].read_text("ascii").splitlines()
    converted = back.stdout.splitlines()
    # Everything but the trailer's CASS office code (the participant trailer has none).
    assert converted[:-1] == original[:-1]
    assert converted[-1][:6] == original[-1][:6] and converted[-1][9:] == original[-1][9:]


def test_convert_invalid_input_exits_1_with_findings(samples: dict[str, Path]) -> None:
    r = run("convert", samples["broken"], "--to", "hot")
    assert r.returncode == 1
    assert r.stdout == ""
    assert "AWB_CHECK_DIGIT" in r.stderr


def test_every_command_of_the_parser_has_its_function() -> None:
    """A command added to the parser without a line in ``COMMANDS`` would fail only when run."""
    import argparse

    from opencass.cli import COMMANDS, command
    from opencass.cli.parsers import build_parser
    from tests.kit.gateway import NOW

    def choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return dict(sub.choices)

    names = set()
    for name, parser in choices(build_parser()).items():
        names |= {f"demo {d}" for d in choices(parser)} if name == "demo" else {name}
    assert names == set(COMMANDS)
    assert all(callable(command(name, lambda: NOW)) for name in names)
