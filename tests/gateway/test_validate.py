"""Parallel validation of HOT files gives exactly what the sequential reader gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.generate import Spec, write_hot
from opencass.codecs import hot
from opencass.gateway.validate import validate_hot_file
from opencass.model import Dialect


def _summary(result: hot.DecodeResult) -> tuple[object, ...]:
    found = sorted((f.code, f.line, f.field) for f in result.findings)
    return (result.valid, result.counts, found)


@pytest.fixture(scope="module")
def billing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("par") / "billing.hot"
    write_hot(path, Spec(agents=50), "176", 3000, Dialect.HANDOFF)
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text("ascii").splitlines(keepends=True)


def _variant(tmp_path: Path, lines: list[str]) -> Path:
    out = tmp_path / "variant.hot"
    out.write_text("".join(lines), "ascii")
    return out


def _check_equal(path: Path, workers: int = 2) -> hot.DecodeResult:
    sequential = hot.decode(path.read_bytes(), keep_records=False)
    parallel = validate_hot_file(path, workers=workers, min_bytes=0)
    assert _summary(parallel) == _summary(sequential)
    return parallel


def test_valid_file_same_counts(billing: Path) -> None:
    result = _check_equal(billing, workers=3)
    assert result.valid and result.counts["AWM"] == 3000


def test_duplicate_across_slices_is_found(billing: Path, tmp_path: Path) -> None:
    lines = _lines(billing)
    first_awm = next(i for i, line in enumerate(lines) if line.startswith("AWM"))
    lines.insert(len(lines) - 1, lines[first_awm])  # same AWB near the end; counts now off
    result = _check_equal(_variant(tmp_path, lines))
    codes = {f.code for f in result.findings}
    assert {"AWB_DUPLICATE", "TRAILER_COUNT_MISMATCH"} <= codes
    dup = next(f for f in result.findings if f.code == "AWB_DUPLICATE")
    assert dup.line == len(lines) - 1


def test_correction_pair_split_across_slices(billing: Path, tmp_path: Path) -> None:
    lines = _lines(billing)
    cco = next(i for i, line in enumerate(lines) if line.startswith("CCO"))
    ccr = lines.pop(cco + 1)
    lines.insert(len(lines) - 2, ccr)  # the revision travels to the far end of the file
    result = _check_equal(_variant(tmp_path, lines))
    assert not any(f.code.startswith("CORRECTION_") for f in result.findings)


def test_unpaired_and_malformed_records_in_both_halves(billing: Path, tmp_path: Path) -> None:
    lines = _lines(billing)
    lines[5] = lines[5][:60] + "X" + lines[5][61:]
    cco = [i for i, line in enumerate(lines) if line.startswith("CCO")][-1]
    del lines[cco]  # its CCR is now alone
    result = _check_equal(_variant(tmp_path, lines))
    codes = [f.code for f in result.findings]
    assert "FIELD_NOT_NUMERIC" in codes and "CORRECTION_ORIGINAL_MISSING" in codes
    assert "TRAILER_COUNT_MISMATCH" in codes
