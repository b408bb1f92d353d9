"""Suite-wide settings and the fixtures several test folders share.

The third-party warnings opencass silences are named in one place (``thirdparty_warnings``).
Fixtures: ``config`` (the demo configuration in a temporary directory, calendar around the
suite's fixed instant), ``store`` (its store, opened), ``env`` (both), ``gw`` (the demo gateway
running on 127.0.0.1).  A test module defining a fixture of the same name uses its own.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from opencass import processes, thirdparty_warnings
from opencass.config.model import Config
from opencass.store import SqliteStore, open_store
from tests.kit.daemon import Running, running_demo
from tests.kit.gateway import demo_config

# Every check of the configuration runs in the tests (and in the processes they start): an
# answer remembered by an earlier test or run must not stand in for the check under test.
# tests/config/test_remembered.py turns remembering on where it tests it.
os.environ["OPENCASS_CACHE_DIR"] = "off"

# The suite makes hundreds of process pools of both kinds (intake and rendering) in each of its
# processes: the fork server preloads what render workers import as well (about a second each).
processes.PRELOAD.append("opencass.documents.warm")


def pytest_configure(config: pytest.Config) -> None:
    # After the "error" of pyproject.toml, so these few named ones win over it.
    for line in thirdparty_warnings.pytest_filters():
        config.addinivalue_line("filterwarnings", line)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """The demo configuration (files in ``tmp_path/config``)."""
    return demo_config(tmp_path)


@pytest.fixture
async def store(config: Config) -> AsyncIterator[SqliteStore]:
    """The store of ``config``, open."""
    s = await open_store(config.gateway.database)
    yield s
    await s.close()


@pytest.fixture
def env(config: Config, store: SqliteStore) -> tuple[Config, SqliteStore]:
    """The demo configuration and its open store."""
    return config, store


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Running]:
    """The demo gateway serving on a free port of 127.0.0.1."""
    async with running_demo(tmp_path) as running:
        yield running
