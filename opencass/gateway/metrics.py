"""The Prometheus/OpenMetrics endpoint of the gateway (off unless ``gateway.metrics_listen``).

Counters and histograms are fed by the daemon's own events: the SFTP endpoint's audit events
(logins, refusals, bans, uploads), intake's finished files (by outcome, with the time from
arrival to answer), the scheduler's closes (by kind, with their duration).  Gauges are read
when Prometheus scrapes: sessions, connections not logged in, files in flight, the worker
pool's health and rebuilds, audit events waiting to be written, and the outbox's deliveries.
Each gateway has its own registry (tests run several in one process).  ``docs/grafana-
dashboard.json`` is a dashboard over these names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["GatewayMetrics", "MetricsServer", "parse_listen"]

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
_CLOSE_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600)


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as (host, port); ``ValueError`` when malformed."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536 or not host:
        raise ValueError(f"{value!r} is not host:port")
    return host.strip("[]"), int(port)


@dataclass
class _Readings:
    """What the gauges read at scrape time (callables into the running daemon)."""

    sessions: Callable[[], int]
    unauthenticated: Callable[[], int]
    inflight: Callable[[], int]
    pool_healthy: Callable[[], bool]
    pool_rebuilds: Callable[[], int]
    audit_pending: Callable[[], int]
    deliveries: Callable[[], dict[str, int]]


class _Gauges(Collector):
    def __init__(self, readings: _Readings) -> None:
        self.r = readings

    def collect(self) -> Iterator[Any]:
        r = self.r
        yield GaugeMetricFamily("opencass_sessions", "SFTP connections logged in", r.sessions())
        yield GaugeMetricFamily(
            "opencass_unauthenticated_connections",
            "SFTP connections not logged in yet",
            r.unauthenticated(),
        )
        yield GaugeMetricFamily(
            "opencass_intake_inflight", "files being processed now", r.inflight()
        )
        yield GaugeMetricFamily(
            "opencass_worker_pool_healthy", "1 while the worker pool can take work",
            1 if r.pool_healthy() else 0,
        )  # fmt: skip
        yield CounterMetricFamily(
            "opencass_worker_pool_rebuilds", "worker pools replaced after a worker died",
            r.pool_rebuilds(),
        )  # fmt: skip
        yield GaugeMetricFamily(
            "opencass_audit_pending", "audit events waiting to be written", r.audit_pending()
        )
        deliveries = CounterMetricFamily(
            "opencass_deliveries", "outbox deliveries by result", labels=["state"]
        )
        for state, n in sorted(r.deliveries().items()):
            deliveries.add_metric([state], n)
        yield deliveries


class GatewayMetrics:
    """The gateway's metrics (see the module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.logins = Counter("opencass_logins", "SFTP logins by outcome", ["outcome"], registry=r)
        self.bans = Counter("opencass_bans", "client addresses banned", registry=r)
        self.uploads = Counter("opencass_uploads", "files uploaded", ["box"], registry=r)
        self.upload_bytes = Counter("opencass_upload_bytes", "bytes uploaded", registry=r)
        self.files = Counter("opencass_files", "files answered, by outcome", ["outcome"],
                             registry=r)  # fmt: skip
        self.intake_seconds = Histogram(
            "opencass_intake_seconds", "from a file's arrival to its answer",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.close_seconds = Histogram(
            "opencass_close_seconds", "duration of calendar closes and milestone jobs",
            ["kind"], buckets=_CLOSE_BUCKETS, registry=r,
        )  # fmt: skip

    def read(self, **readings: Callable[..., Any]) -> None:
        """Register the gauges read at scrape time (keyword names of ``_Readings``)."""
        self.registry.register(_Gauges(_Readings(**readings)))

    def audit(self, event: str, fields: dict[str, Any]) -> None:
        """Count what an SFTP audit event tells."""
        if event == "login_ok":
            self.logins.labels("ok").inc()
        elif event == "login_failed":
            self.logins.labels("failed").inc()
        elif event == "login_refused":
            self.logins.labels("refused").inc()
        elif event == "banned":
            self.bans.inc()
        elif event == "upload":
            self.uploads.labels("sandbox" if fields.get("sandbox") else "live").inc()
            self.upload_bytes.inc(int(fields.get("size") or 0))

    def file_done(self, outcome: str, seconds: float) -> None:
        """A file was answered."""
        self.files.labels(outcome).inc()
        self.intake_seconds.observe(max(seconds, 0.0))

    def close_done(self, kind: str, seconds: float) -> None:
        """A close or milestone job ended."""
        self.close_seconds.labels(kind).observe(seconds)


class MetricsServer:
    """The HTTP endpoint (prometheus_client's, in a thread of its own)."""

    def __init__(self, metrics: GatewayMetrics, listen: str) -> None:
        host, port = parse_listen(listen)
        self.server, self.thread = start_http_server(port, host, registry=metrics.registry)

    @property
    def port(self) -> int:
        """The port listened on (the configured one, or the kernel's choice for 0)."""
        return int(self.server.server_address[1])

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
