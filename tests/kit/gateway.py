"""Shared set-up for gateway tests: a demo configuration, a store and spooled files."""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from opencass.cli.samples import sample_billing_file
from opencass.clock import CLOCK_START_VARIABLE, SteadyClock
from opencass.codecs import hot
from opencass.config import init_demo, load_config
from opencass.config.model import Config
from opencass.gateway.assess import AssessJob
from opencass.gateway.context import submission_context
from opencass.store import NewFile, SqliteStore
from tests.kit.pg import pg_server

# Every test runs at one fixed instant, never at today's date: the daemon, the commands and
# the demo calendar get a clock that starts there (``make test-dates`` moves it, and the wall
# clock with it, to the days where calendars and clocks turn). The tests bill NOW's period.
NOW = datetime.fromisoformat(os.environ.get("OPENCASS_TEST_NOW") or "2026-11-18T10:00:00+00:00")
TODAY = NOW.astimezone(ZoneInfo("Europe/Berlin")).date()  # the demo country's day
PERIOD_START = TODAY.replace(day=1)
PERIOD_CODE = f"{PERIOD_START:%Y%m}01M"
# For commands run as processes: their clock starts at NOW too.
CLOCK_ENV = {**os.environ, CLOCK_START_VARIABLE: NOW.isoformat()}


def steady_clock() -> SteadyClock:
    """A clock that starts at NOW and runs at the real pace (for a daemon under test)."""
    return SteadyClock(NOW)


def init_demo_store(directory: Path, **kw: Any) -> Any:
    """``init_demo`` into ``directory``, its store on the tests' backend (``store_backend``)."""
    info = init_demo(directory, **kw)
    if store_backend() == "postgresql":
        set_store_url(Path(directory), pg_server().new_database())
    return info


def demo_config(tmp_path: Path, port: int = 0, backend: str = "") -> Config:
    """The demo configuration written into ``tmp_path/config``; its store on ``backend``
    ("sqlite" or "postgresql"; by default ``OPENCASS_TEST_STORE``'s, else SQLite): on
    PostgreSQL a new database of the tests' server (``tests.kit.pg``)."""
    init_demo(tmp_path / "config", sftp_port=port or 2222, today=TODAY)
    if (backend or store_backend()) == "postgresql":
        set_store_url(tmp_path / "config", pg_server().new_database())
    return load_config(tmp_path / "config")


def set_store_url(config_dir: Path, url: str) -> None:
    """Point the demo configuration in ``config_dir`` at the store ``url``."""
    toml = config_dir / "gateway.toml"
    text = toml.read_text(encoding="utf-8")
    assert '[store]\nurl = ""' in text, "the demo's gateway.toml has an empty [store] url"
    toml.write_text(text.replace('[store]\nurl = ""', f'[store]\nurl = "{url}"'), "utf-8")


def store_backend() -> str:
    """The store the tests run on: ``OPENCASS_TEST_STORE`` (sqlite, the default, or
    postgresql)."""
    backend = os.environ.get("OPENCASS_TEST_STORE", "sqlite") or "sqlite"
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"OPENCASS_TEST_STORE={backend!r}: sqlite or postgresql")
    return backend


def sample_bytes() -> bytes:
    """The valid demo billing file (airline 997, agents 1 and 2, this month's period)."""
    return hot.encode(sample_billing_file(PERIOD_START))


async def spooled(
    store: SqliteStore,
    config: Config,
    data: bytes,
    *,
    file_id: str = "F1",
    company: str = "demoair",
    sandbox: bool = False,
    name: str = "billing.hot",
) -> Path:
    """Put ``data`` in the spool and record it as received."""
    import hashlib

    spool = config.gateway.spool_dir / company / ("sandbox" if sandbox else "live")
    spool.mkdir(parents=True, exist_ok=True)
    path = spool / f"{file_id}__{name}"
    path.write_bytes(data)
    await store.create_file(
        NewFile(
            file_id,
            company,
            "demoair",
            name,
            sandbox,
            hashlib.sha256(data).hexdigest(),
            len(data),
            NOW.isoformat(),
            str(path),
        )
    )
    return path


def job(
    config: Config,
    path: Path,
    file_id: str = "F1",
    *,
    company: str = "demoair",
    sandbox: bool = False,
    all_or_nothing: bool = False,
    now: datetime = NOW,
) -> AssessJob:
    """An assessment job as the intake would build it."""
    return AssessJob(
        database=str(config.gateway.database),
        file_id=file_id,
        spool_path=str(path),
        sandbox=sandbox,
        all_or_nothing=all_or_nothing,
        context=submission_context(config, company, now, sandbox),
    )


def big_billing_file(copies: int = 300, first: int = 0) -> bytes:
    """The demo billing file's records ``copies`` times over (distinct AWBs), as one file;
    ``first``: the copy to start at (files made from disjoint ranges share no AWB)."""
    from opencass.model import AwbRecord, CorrectionRecord, OtherChargesRecord

    base = sample_billing_file(PERIOD_START)
    records = []
    for i in range(first, first + copies):
        for r in base.records:
            serial7 = f"{(int(r.awb_serial[:7]) + i * 10) % 10**7:07d}"
            serial = serial7 + str(int(serial7) % 7)
            if isinstance(r, AwbRecord | CorrectionRecord | OtherChargesRecord):
                records.append(replace(r, awb_serial=serial))
    trailer = hot.build_trailer(base.header, records, base.dialect, office="FRA")
    return hot.encode(replace(base, records=tuple(records), trailer=trailer))


def with_lines(data: bytes, edit: dict[int, str]) -> bytes:
    """``data`` with some 0-based lines replaced."""
    lines = data.decode("ascii").splitlines()
    for i, text in edit.items():
        lines[i] = text
    return ("\n".join(lines) + "\n").encode("ascii")


__all__ = [
    "NOW",
    "PERIOD_CODE",
    "PERIOD_START",
    "TODAY",
    "big_billing_file",
    "demo_config",
    "job",
    "replace",
    "sample_bytes",
    "spooled",
    "with_lines",
]


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
