"""Benchmark of the participant portal's pages on the close benchmark's data (issue 20):
1,000,000 AWBs, 5,000 agents, 100 airlines by default, after the period's final close.

``python -m bench.portal_bench [--awbs N --agents M --airlines K --requests R]`` uses the ledger
``bench.close_bench`` builds (cached under ``bench/out/``; built here when missing), runs the
final close once when no expected remittance is stored yet (the agents' dashboards show the
statements' figures), then serves the portal on 127.0.0.1 and requests each page ``R`` times
(50) one after the other, as a signed-in user of an agent, an airline and the CASS office:
the dashboards, an airline's statistics and an agent's AWB search.  Prints per page the
median, p95 and max of the time from request to the last byte of the page, and the page size.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web

from bench.close_bench import COUNTRY, OUT, PERIOD, build_ledger, config_for
from bench.generate import Spec
from opencass.config.model import Company, CompanyKind, Config, PortalSettings, Role, User
from opencass.gateway.mailbox import BanList
from opencass.identity.directory import Directory, Member
from opencass.portal.app import COOKIE, PortalDeps, build_app
from opencass.portal.sessions import SIGNED_IN, Session, SessionCodec
from opencass.store.connect import connect_read_only


def _now() -> datetime:
    return datetime.now(UTC)


def _config(data_dir: Path, spec: Spec) -> Config:
    config = config_for(data_dir, spec)
    ops = Company("cassops", CompanyKind.OPERATOR, "CASS Operations", countries=(COUNTRY,))
    gateway = replace(config.gateway, portal=PortalSettings(listen="127.0.0.1:0"))
    return replace(config, gateway=gateway, companies={**config.companies, "cassops": ops})


def _closed(config: Config) -> None:
    """The period's final close (once): the expected remittances the agents' pages show."""
    from opencass.billing.risk import risk_check

    migrate_sync_at(config)
    conn = connect_read_only(config.gateway.database)
    try:
        n = conn.execute("SELECT COUNT(*) FROM remittance_lines").fetchone()[0]
        assessed = conn.execute("SELECT COUNT(*) FROM risk_positions").fetchone()[0]
    finally:
        conn.close()
    reference = datetime(2026, 12, 15, 12, tzinfo=UTC)
    if not n:
        from opencass.billing.closing import run_close
        from opencass.billing.remittance import expect_remittance

        t0 = time.perf_counter()
        result = run_close(config, COUNTRY, PERIOD, reference, workers=2)
        expect_remittance(config, COUNTRY, PERIOD, result.settlement, reference, reference)
        print(f"closed the period once: {time.perf_counter() - t0:.1f} s")
    if not assessed:  # the risk check after the close: the agents' risk capacity used
        t0 = time.perf_counter()
        risk_check(config, COUNTRY, reference)
        print(f"assessed every agent's risk once: {time.perf_counter() - t0:.1f} s")


def migrate_sync_at(config: Config) -> None:
    """The store at the latest schema (a ledger cached by an older version)."""
    from opencass.store.connect import connect_sync, migrate_sync

    conn = connect_sync(config.gateway.database)
    try:
        migrate_sync(conn)
    finally:
        conn.close()


def _an_awb(config: Config, agent_code: str) -> str:
    conn = connect_read_only(config.gateway.database)
    try:
        row = conn.execute(
            "SELECT airline_prefix, awb_serial FROM ledger WHERE country = ? AND period = ?"
            " AND agent_code = ? AND record_type = 'AWM' LIMIT 1",
            (COUNTRY, PERIOD, agent_code),
        ).fetchone()
    finally:
        conn.close()
    return f"{row[0]}-{row[1]}" if row else "000-00000000"


async def _serve(
    config: Config, users: dict[str, str]
) -> tuple[web.AppRunner, str, dict[str, str]]:
    members = {
        name: Member(User(name, company, frozenset({Role.ADMIN})))
        for name, company in users.items()
    }
    deps = PortalDeps(
        config=lambda: config,
        directory=lambda: Directory(members),
        bans=BanList(),
        clock=_now,
        audit=_no_audit,
    )
    key = b"portal-bench-key-" + b"0" * 15
    runner = web.AppRunner(build_app(deps, key), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    codec = SessionCodec(key, 1800)
    cookies = {}
    for name, company in users.items():
        s = replace(Session.fresh(name, SIGNED_IN, _now().timestamp()), company=company,
                    country=COUNTRY, lang="en")  # fmt: skip
        cookies[name] = codec.dump(s)
    return runner, f"http://127.0.0.1:{port}", cookies


async def _no_audit(event: str, **fields: object) -> None:
    return None


async def _measure(base: str, cookie: str, path: str, n: int) -> tuple[list[float], int]:
    times, size = [], 0
    async with aiohttp.ClientSession(cookies={COOKIE: cookie}) as session:
        for _ in range(n):
            t0 = time.perf_counter()
            async with session.get(base + path) as r:
                body = await r.read()
                assert r.status == 200, (path, r.status)
            times.append(time.perf_counter() - t0)
            size = len(body)
    return times, size


async def _run(config: Config, spec: Spec, n: int) -> None:
    agent = next(c for c in config.companies.values() if c.kind is CompanyKind.AGENT)
    airline = next(c for c in config.companies.values() if c.kind is CompanyKind.AIRLINE)
    users = {"bench-agent": agent.id, "bench-airline": airline.id, "bench-ops": "cassops"}
    runner, base, cookies = await _serve(config, users)
    awb = _an_awb(config, agent.agent_codes[COUNTRY][0])
    pages = [
        ("agent dashboard", "bench-agent", "/"),
        ("agent AWB search", "bench-agent", f"/awb?q={awb}"),
        ("airline dashboard", "bench-airline", "/"),
        ("airline statistics", "bench-airline", f"/statistics?period={PERIOD}"),
        ("operator dashboard", "bench-ops", "/"),
    ]
    print(
        f"{spec.awbs:,} AWBs, {spec.agents:,} agents, {spec.airlines} airlines; {n} requests each"
    )
    print(f"{'page':22} {'median ms':>10} {'p95 ms':>8} {'max ms':>8} {'bytes':>8}")
    try:
        for label, user, path in pages:
            times, size = await _measure(base, cookies[user], path, n)
            ms = sorted(t * 1000 for t in times)
            p95 = ms[max(0, round(0.95 * len(ms)) - 1)]
            print(f"{label:22} {statistics.median(ms):10.1f} {p95:8.1f} {ms[-1]:8.1f} {size:8}")
    finally:
        await runner.cleanup()


def main() -> None:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--awbs", type=int, default=1_000_000)
    p.add_argument("--agents", type=int, default=5_000)
    p.add_argument("--airlines", type=int, default=100)
    p.add_argument("--requests", type=int, default=50)
    a = p.parse_args()
    spec = Spec(awbs=a.awbs, agents=a.agents, airlines=a.airlines)
    data_dir = OUT / f"close-{a.awbs}-{a.agents}-{a.airlines}"
    database = data_dir / "opencass.db"
    if not database.exists():
        tmp = database.with_suffix(".building")
        tmp.unlink(missing_ok=True)
        build_ledger(tmp, spec)
        tmp.rename(database)
    config = _config(data_dir, spec)
    _closed(config)
    asyncio.run(_run(config, spec, a.requests))


if __name__ == "__main__":
    main()
