"""External programs the tests use (installed by ``make test``)."""

from __future__ import annotations

import os
import shutil

import pytest


def needs_tool(name: str, why: str) -> pytest.MarkDecorator:
    """Skip where ``name`` is missing, but fail under ``make test`` (which installs it)."""
    missing = shutil.which(name) is None and not os.path.exists(name)
    if missing and os.environ.get("OPENCASS_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{name} is missing ({why}); make test installs it", pytrace=False)
    return pytest.mark.skipif(missing, reason=f"{name} is missing ({why})")
