"""Suite-wide settings: the third-party warnings opencass silences (named in one place)."""

from __future__ import annotations

import pytest

from opencass import thirdparty_warnings


def pytest_configure(config: pytest.Config) -> None:
    # After the "error" of pyproject.toml, so these few named ones win over it.
    for line in thirdparty_warnings.pytest_filters():
        config.addinivalue_line("filterwarnings", line)
