"""The Prometheus endpoint, scraped by curl and read by Prometheus' own text parser; and the
Grafana dashboard in docs/ only uses metrics the endpoint serves."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
from pathlib import Path

import asyncssh
from prometheus_client.parser import text_string_to_metric_families

from opencass.gateway.app import Gateway
from tests.kit import REPO
from tests.kit.gateway import TODAY, init_demo_store, sample_bytes, steady_clock

DASHBOARD = REPO / "docs" / "grafana-dashboard.json"


def _scrape(port: int) -> dict[str, float]:
    text = subprocess.run(
        ["curl", "-sS", "--fail", f"http://127.0.0.1:{port}/metrics"],
        capture_output=True, text=True, check=True, timeout=10,
    ).stdout  # fmt: skip
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return values


async def _gateway(tmp_path: Path, listen: str) -> Gateway:
    config_dir = tmp_path / "config"
    init_demo_store(config_dir, today=TODAY)
    toml = config_dir / "gateway.toml"
    text = toml.read_text()
    assert 'metrics_listen = ""' in text  # off in the demo
    toml.write_text(text.replace('metrics_listen = ""', f'metrics_listen = "{listen}"'))
    gateway = Gateway(config_dir, port=0, workers=1, clock=steady_clock())
    await gateway.startup()
    return gateway


async def test_the_endpoint_counts_what_happens(tmp_path: Path) -> None:
    gateway = await _gateway(tmp_path, "127.0.0.1:0")
    task = asyncio.create_task(gateway.serve())
    try:
        assert gateway.metrics_server is not None
        port = gateway.metrics_server.port
        before = _scrape(port)
        assert before["opencass_worker_pool_healthy"] == 1
        key = gateway.config_dir / "keys" / "demoair"
        async with asyncssh.connect(
            "127.0.0.1", gateway.port, username="demoair", client_keys=[str(key)],
            known_hosts=None, agent_path=None,
        ) as conn:  # fmt: skip
            async with conn.start_sftp_client() as sftp, sftp.open("/inbox/m.hot", "wb") as f:
                await f.write(sample_bytes())
            assert _scrape(port)["opencass_sessions"] == 1
            for _ in range(200):
                after = await asyncio.to_thread(_scrape, port)
                if after.get("opencass_files_total{outcome=accepted}"):
                    break
                await asyncio.sleep(0.05)
        wrong = tmp_path / "wrong"
        asyncssh.generate_private_key("ssh-ed25519").write_private_key(wrong)
        with contextlib.suppress(asyncssh.PermissionDenied, asyncssh.DisconnectError):
            await asyncssh.connect(
                "127.0.0.1", gateway.port, username="demoair", client_keys=[str(wrong)],
                known_hosts=None, agent_path=None,
            )  # fmt: skip
        await asyncio.sleep(0.2)
        after = _scrape(port)
        assert after["opencass_logins_total{outcome=ok}"] == 1
        assert after["opencass_logins_total{outcome=failed}"] >= 1
        assert after["opencass_uploads_total{box=live}"] == 1
        assert after["opencass_upload_bytes_total"] == len(sample_bytes())
        assert after["opencass_files_total{outcome=accepted}"] == 1
        assert after["opencass_intake_seconds_count"] == 1
        assert after["opencass_intake_seconds_sum"] > 0
        gateway.metrics.close_done("final", 42.0)  # as the scheduler reports one
        closes = _scrape(port)
        assert closes["opencass_close_seconds_count{kind=final}"] == 1
        assert closes["opencass_close_seconds_sum{kind=final}"] == 42.0
        assert "opencass_audit_pending" in after and "opencass_intake_inflight" in after
    finally:
        gateway.stop.set()
        await task
        await gateway.shutdown()


async def test_off_unless_configured(tmp_path: Path) -> None:
    gateway = await _gateway(tmp_path, "")
    try:
        assert gateway.metrics_server is None
    finally:
        gateway.stop.set()
        await gateway.shutdown()


def test_the_dashboard_uses_served_metrics_only() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\bopencass_[a-z_]+", e)}
    served = {
        "opencass_sessions", "opencass_unauthenticated_connections", "opencass_logins_total",
        "opencass_bans_total", "opencass_uploads_total", "opencass_upload_bytes_total",
        "opencass_files_total", "opencass_intake_seconds_bucket", "opencass_intake_inflight",
        "opencass_audit_pending", "opencass_worker_pool_healthy",
        "opencass_worker_pool_rebuilds_total", "opencass_close_seconds_bucket",
        "opencass_deliveries_total",
    }  # fmt: skip
    assert used == served
