"""What the tests read from the documentation: its examples must keep working."""

from __future__ import annotations

import re

from tests.kit import REPO

__all__ = ["dispute_examples", "example_files", "user_administration_example", "withdrawal_example"]


def example_files() -> dict[str, str]:
    """The TOML blocks of docs/configuration.md by the file name on their first line."""
    text = (REPO / "docs" / "configuration.md").read_text("utf-8")
    return dict(re.findall(r"```toml\n# (\S+)\n(.*?)```", text, re.DOTALL))


def dispute_examples() -> list[bytes]:
    """The dispute messages shown in docs/formats.md, in their order."""
    text = (REPO / "docs" / "formats.md").read_text("utf-8")
    section = text.split("### Disputes", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    return [m.encode() for m in re.findall(r"```xml\n(.*?)```", section, re.S)]


def withdrawal_example() -> bytes:
    """The withdrawal request shown in docs/formats.md."""
    text = (REPO / "docs" / "formats.md").read_text("utf-8")
    section = text.split("### Withdrawals", 1)[1].split("\n### ", 1)[0]
    found = re.search(r"```xml\n(.*?)```", section, re.S)
    assert found is not None, "docs/formats.md shows no withdrawal request"
    return found.group(1).encode()


def user_administration_example() -> bytes:
    """The user administration message shown in docs/formats.md."""
    text = (REPO / "docs" / "formats.md").read_text("utf-8")
    section = text.split("### User administration", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```xml\n(.*?)```", section, re.S)
    assert found is not None, "docs/formats.md shows no user administration message"
    return found.group(1).encode()
