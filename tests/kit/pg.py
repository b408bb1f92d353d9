"""A PostgreSQL server for the tests: the one named by ``OPENCASS_TEST_PG_URL``, or a private
throw-away cluster (Debian's ``postgresql`` binaries: initdb into a temporary directory, started
with pg_ctl on a free port of 127.0.0.1, as the unprivileged ``postgres`` user when the tests
run as root), stopped at the end of the run.  Each test gets a database of its own, copied from
a template migrated once."""

from __future__ import annotations

import atexit
import itertools
import os
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

__all__ = ["PgServer", "pg_server"]

_counter = itertools.count(1)


def _bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """A running server the tests may create databases on."""

    def __init__(self, base_url: str, stop: list[str] | None = None, home: Path | None = None):
        self.base_url = base_url  # ends with "/": a database name is appended
        self._stop = stop
        self._home = home
        self._template: str | None = None
        self._ready: queue.Queue[str | BaseException] | None = None
        self._stopped = False

    def url(self, database: str) -> str:
        """The URL of ``database`` on this server."""
        return self.base_url + database

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self, *, empty: bool = False) -> str:
        """The URL of a new database with the store's schema (``empty``: without).  Databases
        with the schema are made ahead by a thread (making one takes the server ~0.2-0.4 s,
        which overlaps with the tests' own work)."""
        if empty:
            name = f"opencass_test_{os.getpid()}_{next(_counter)}"
            self._admin(f"CREATE DATABASE {name}")
            return self.url(name)
        if self._ready is None:
            self._make_template()
            self._ready = queue.Queue(maxsize=3)
            threading.Thread(target=self._make_ahead, daemon=True).start()
        url = self._ready.get(timeout=120)
        if isinstance(url, BaseException):
            raise url
        return url

    def restart(self) -> None:
        """Restart the server (fast: every session is ended; a private server only)."""
        assert self._home is not None and self._stop is not None
        restart = [*self._stop[:-3], "-m", "fast", "-l", str(self._home / "log"), "-w", "restart"]
        subprocess.run(restart, check=True, capture_output=True)

    def clone(self, url: str) -> str:
        """A new database holding what the database at ``url`` holds (nobody connected)."""
        name = f"opencass_test_{os.getpid()}_{next(_counter)}"
        source = url.rsplit("/", 1)[1]
        self._admin(f"CREATE DATABASE {name} TEMPLATE {source} STRATEGY FILE_COPY")
        return self.url(name)

    def _make_ahead(self) -> None:
        assert self._ready is not None
        while not self._stopped:
            try:
                url = self._copy_template()
            except BaseException as e:  # handed to the test that waits for it
                self._ready.put(e)
                return
            self._ready.put(url)

    def _copy_template(self) -> str:
        name = f"opencass_test_{os.getpid()}_{next(_counter)}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {self._template} STRATEGY FILE_COPY")
        return self.url(name)

    def _make_template(self) -> None:
        if self._template is None:
            from opencass.store.pg import connect_pg, migrate_pg

            name = f"opencass_template_{os.getpid()}"
            self._admin(f"DROP DATABASE IF EXISTS {name}")
            self._admin(f"CREATE DATABASE {name}")
            conn = connect_pg(self.url(name))
            migrate_pg(conn)
            conn.close()
            self._template = name

    def stop(self) -> None:
        """Stop the private cluster (nothing for a server named by the environment)."""
        self._stopped = True
        if self._stop:
            subprocess.run(self._stop, capture_output=True, check=False)
            self._stop = None
        if self._home:
            # Removed by a process of its own, which outlives this one: pytest-xdist ends its
            # workers before removing ~1.5 GB of databases finishes, which left them in /tmp.
            # (It retries: a backend told to quit may still be writing for a moment.)
            script = 'for i in 1 2 3 4 5 6 7 8; do rm -rf "$0"; [ -e "$0" ] || break; sleep 1; done'
            os.posix_spawnp("sh", ["sh", "-c", script, str(self._home)], os.environ, setsid=True)
            self._home = None


def _start_private(*, durable: bool = False) -> PgServer:
    bindir = _bindir()
    if bindir is None:
        if os.environ.get("OPENCASS_REQUIRE_TOOLS"):
            raise RuntimeError("PostgreSQL's initdb is not installed (make system installs it)")
        pytest.skip("PostgreSQL is not installed (make system installs it)")
    home = Path(tempfile.mkdtemp(prefix="opencass-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to "postgres"
        shutil.chown(home, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = home / "data", _free_port()
    subprocess.run(
        [
            *as_user,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "opencass",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:  # the tests' throw-away data: no fsync (a benchmark keeps the defaults)
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(
        [
            *as_user,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(home / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    stop = [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
    return PgServer(f"postgresql://opencass@127.0.0.1:{port}/", stop, home)


_server: list[PgServer] = []


def pg_server(*, durable: bool = False) -> PgServer:
    """The tests' PostgreSQL server, started on first use (stopped when the run ends);
    ``durable``: with PostgreSQL's default fsync and commit settings (benchmarks)."""
    if not _server:
        url = os.environ.get("OPENCASS_TEST_PG_URL")
        server = PgServer(url.rstrip("/") + "/") if url else _start_private(durable=durable)
        _server.append(server)
        atexit.register(server.stop)
    return _server[0]
