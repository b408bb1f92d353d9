"""The front door and the documentation: both commands, every finding code, the examples."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from opencass.findings import CATALOGUE, catalogue_markdown
from tests.kit import REPO

ROOT = REPO
README = (ROOT / "README.md").read_text("utf-8")
FORMATS = (ROOT / "docs" / "formats.md").read_text("utf-8")


def test_readme_shows_the_two_commands() -> None:
    assert "make run" in README and "make test" in README


def test_readme_is_a_front_door_whose_links_lead_somewhere() -> None:
    assert len(README.splitlines()) <= 160
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    assert {"docs/index.md", "docs/manuals/operator.md", "docs/formats.md"} <= set(links)
    assert [link for link in links if not (ROOT / link).exists()] == []


def test_docs_list_every_finding_code() -> None:
    missing = [code for code in CATALOGUE if f"`{code}`" not in FORMATS]
    assert missing == []


def test_the_documented_catalogue_is_the_code_s() -> None:
    table = FORMATS.split("<!-- findings:start -->\n", 1)[1].split("\n<!-- findings:end -->")[0]
    assert table == catalogue_markdown()


def test_update_docs_rewrites_only_the_table(tmp_path: Path) -> None:
    page = tmp_path / "formats.md"
    page.write_text("before\n<!-- findings:start -->\nSTALE TABLE\n<!-- findings:end -->\nafter\n")
    subprocess.run(
        [sys.executable, "-m", "opencass.findings", "--update-docs", str(page)], check=True
    )
    text = page.read_text()
    assert text.startswith("before\n") and text.endswith("after\n")
    assert "STALE TABLE" not in text and "`FORMAT_UNKNOWN`" in text
