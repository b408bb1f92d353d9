"""The store's tests run on both backends: SQLite and PostgreSQL (``tests.kit.pg``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from opencass.config.model import Config
from opencass.store.connect import Database, PgUrl
from tests.kit.gateway import demo_config
from tests.kit.pg import pg_server

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def config(request: pytest.FixtureRequest, tmp_path: Path) -> Config:
    """The demo configuration, its store on each backend in turn."""
    return demo_config(tmp_path, backend=str(request.param))


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """A store with the schema, on each backend in turn."""
    if request.param == "postgresql":
        return PgUrl(pg_server().new_database())
    return tmp_path / "x.db"


@pytest.fixture(params=BACKENDS)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """A store not yet made (an empty database), on each backend in turn."""
    if request.param == "postgresql":
        return PgUrl(pg_server().new_database(empty=True))
    return tmp_path / "x.db"
