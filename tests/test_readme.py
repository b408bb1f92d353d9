"""The README documents the contract: both commands and every finding code."""

from __future__ import annotations

from pathlib import Path

from opencass.findings import CATALOGUE

README = (Path(__file__).parents[1] / "README.md").read_text("utf-8")


def test_readme_shows_the_two_commands() -> None:
    assert "make run" in README and "make test" in README


def test_readme_lists_every_finding_code() -> None:
    missing = [code for code in CATALOGUE if f"`{code}`" not in README]
    assert missing == []
