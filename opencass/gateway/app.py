"""The gateway daemon: ``startup()`` → ``serve()`` → ``shutdown()``.

Theory of operation
-------------------
Startup loads the configuration (a bad one stops the start with exit code 2), opens the store,
starts the worker pool, creates every company's mailbox tree, reconciles spool, store and
inboxes (resuming unfinished files) and only then accepts SFTP connections, watches the inboxes
and rescans them periodically.  Signals only set events: SIGTERM/SIGINT ask for shutdown,
SIGHUP for a reload (a configuration that fails to load is logged and the old one kept;
sessions are not dropped).  Shutdown is an ordered checklist: stop accepting connections and
claims, let in-flight files finish within ``shutdown_grace_seconds`` (the rest resume at the
next start), close sessions, stop the pool, close the store last.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from opencass import files
from opencass.billing.calendar_publish import publish_hook
from opencass.billing.registry import message_handlers, milestone_jobs
from opencass.clock import Clock, system_clock
from opencass.config.diff import restart_only_changes
from opencass.config.loader import ConfigError, config_digest, diff_configs, load_config
from opencass.config.model import Config
from opencass.documents.workers import die_with
from opencass.gateway import systemd
from opencass.gateway.answers import load_signing_key, public_key_pem
from opencass.gateway.cluster import Node, default_node_name
from opencass.gateway.intake import Intake
from opencass.gateway.metrics import GatewayMetrics, MetricsServer
from opencass.gateway.pool import WorkerPool
from opencass.gateway.scheduler import CloseScheduler
from opencass.gateway.watcher import rescan_every, watch_inboxes
from opencass.identity.certificates import Trust, TrustError, load_trust
from opencass.identity.directory import Directory, read_directory
from opencass.identity.handler import user_handlers
from opencass.outbox.service import OutboxService
from opencass.processes import worker_context
from opencass.store import AuditWriteError, SqliteStore, open_store

log = structlog.get_logger("opencass.gateway")
AUDIT_RETRY_SECONDS = 5.0  # how often a failed audit trail is tried again


class _Events:
    """What the SFTP endpoint reports, routed to intake and the audit trail."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def uploaded(self, company: str, user: str, path: Path, size: int, sandbox: bool) -> None:
        self.gateway.intake_or_raise().arrived(path, user)

    def audit(self, event: str, **fields: Any) -> None:
        self.gateway.metrics.audit(event, fields)
        store = self.gateway.store
        if store is None:
            return
        keys = ("company", "user", "session", "file_id")
        named = {k: str(fields.pop(k)) if fields.get(k) is not None else None for k in keys}
        task = asyncio.get_running_loop().create_task(store.audit(event, **named, **fields))
        self.gateway.background.add(task)
        task.add_done_callback(self.gateway.audit_written)


class Gateway:
    """The daemon; ``run()`` is the whole life."""

    def __init__(
        self,
        config_dir: Path,
        *,
        port: int | None = None,
        fault: Callable[[str], None] | None = None,
        workers: int | None = None,
        clock: Clock = system_clock,
        node: str = "",
    ) -> None:
        """``node``: this gateway's name among the nodes sharing its store (default
        ``OPENCASS_NODE``, else the host name; each node needs its own)."""
        self.config_dir = config_dir
        self.node_name = node or default_node_name()
        self.node: Node | None = None
        self.config_digest = ""
        self.clock = clock
        self.port_override = port
        self.fault = fault
        self.workers = workers or max(1, min(os.cpu_count() or 1, 4))
        self.config: Config | None = None
        self.store: SqliteStore | None = None
        self.intake: Intake | None = None
        self.pool: WorkerPool | None = None
        self.sftp: Any = None
        self.closes: CloseScheduler | None = None
        self.outbox: OutboxService | None = None  # notifications and deliveries
        self.stop = asyncio.Event()
        self.reload_requested = asyncio.Event()
        self.ready = asyncio.Event()
        self.background: set[asyncio.Task[Any]] = set()
        self.metrics = GatewayMetrics()
        self.metrics_server: MetricsServer | None = None
        self.portal: Any = None  # opencass.portal.app.Portal when [portal] is configured
        self.directory = Directory({})  # the effective users (files and store)
        self.trust = Trust()  # the operator's user CA keys and revocation list

    def current_config(self) -> Config:
        """The configuration in force (swapped whole on reload)."""
        assert self.config is not None
        return self.config

    def intake_or_raise(self) -> Intake:
        """The intake pipeline (after startup)."""
        assert self.intake is not None
        return self.intake

    @property
    def port(self) -> int:
        """The SFTP port actually listened on."""
        return int(self.sftp.port) if self.sftp else 0

    # -- phases --------------------------------------------------------------------------------

    async def startup(self) -> None:
        """Load config, open the store, reconcile, then start listening."""
        from opencass.gateway.sftp import start_sftp_server

        self.config = config = load_config(self.config_dir)
        settings = config.gateway
        self.store = await open_store(settings.database, self.clock)
        await self._start_node(settings)
        self.trust = await asyncio.to_thread(load_trust, settings.certificates)
        await self.refresh_users()
        # The calendars (when changed) are published in a thread while the intake starts.
        key, _ = await asyncio.gather(
            self._start_intake(config), publish_hook(config, self.store, self.clock)
        )
        await self._start_scheduler(config)
        node = self.node
        assert node is not None
        self.outbox = OutboxService(
            self.current_config,
            audit=self.store.audit,
            clock=self.clock,
            lease=lambda: node.take("outbox"),
        )
        await self.outbox.start()  # resumes whatever was queued before a stop or crash
        self.sftp = await start_sftp_server(
            self.current_config,
            _Events(self),
            host=settings.listen_host,
            port=self.port_override if self.port_override is not None else settings.listen_port,
            server_host_keys=[settings.host_key],
            gateway_public_key=public_key_pem(key),
            on_download=self.outbox.downloaded,
            get_directory=lambda: self.directory,
            get_trust=lambda: self.trust,
            clock=self.clock,
        )
        self._start_metrics(settings.metrics_listen)
        await self._start_portal(config)
        node.listen = f"{settings.listen_host}:{self.port}"
        await self.store.audit("gateway_started", port=self.port, node=self.node_name)
        log.info("gateway_ready", host=settings.listen_host, port=self.port)
        systemd.notify(f"READY=1\nSTATUS=listening on {settings.listen_host}:{self.port}")
        self.ready.set()

    async def _start_portal(self, config: Config) -> None:
        """The participant portal, when ``[portal]`` is configured (its sign-in failures count
        on the SFTP endpoint's ban list)."""
        if not config.gateway.portal.enabled:
            return
        from opencass.portal.app import PortalDeps, start_portal

        assert self.store is not None and self.outbox is not None
        deps = PortalDeps(
            config=self.current_config,
            directory=lambda: self.directory,
            bans=self.sftp.bans,
            clock=self.clock,
            audit=self.store.audit,
            downloaded=self.outbox.downloaded,
            submit=self._portal_submit,
        )
        self.portal = await start_portal(deps)

    async def _portal_submit(self, company: str, user: str, name: str, data: bytes) -> None:
        """A file or message given to the portal by ``user`` for ``company``: into the
        company's inbox as an SFTP upload would be, then claimed by the intake (same checks,
        same report and receipt).  ``FailedError`` when the name is taken."""
        from opencass.gateway.mailbox import deliver_upload

        inbox = self.current_config().gateway.mailboxes_dir / company / "inbox"
        path = await asyncio.to_thread(deliver_upload, inbox, name, data, user)
        self.intake_or_raise().arrived(path, user)

    async def _start_node(self, settings: Any) -> None:
        """Register this gateway as a node of its store and start its heartbeat."""
        from opencass import __version__

        self.config_digest = await asyncio.to_thread(config_digest, self.config_dir)
        node = Node(
            settings.database,
            self.node_name,
            lease_seconds=lambda: self.current_config().gateway.store.lease_seconds,
            listen=f"{settings.listen_host}:{self.port_override or settings.listen_port}",
            version=__version__,
            config_digest=lambda: self.config_digest,
        )
        try:
            await node.start()  # NodeRunning: another process runs under this name
        except BaseException:
            await node.stop()  # (its connection closed; the running node's row untouched)
            raise
        self.node = node  # (only a started node is stopped at shutdown)

    async def _start_intake(self, config: Config) -> object:
        """The worker pool and intake; files left by a previous run reconciled and queued, the
        inboxes scanned.  The signing key."""
        settings = config.gateway
        ctx = worker_context()
        self.pool = WorkerPool(
            lambda: ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=ctx,
                initializer=_worker_init,
                initargs=(os.getpid(),),
            )
        )
        await asyncio.get_running_loop().run_in_executor(self.pool, _warm)
        key = load_signing_key(settings.signing_key)
        self.intake = Intake(
            self.current_config,
            self.store,
            self.pool,
            key,
            parallel=self.workers,
            now=self.clock,
            handlers=(*message_handlers(), *user_handlers()),
            on_done=lambda row, waited: self.metrics.file_done(row.outcome or "", waited),
            node=self.node,
            **self._hooks(),
        )
        for company in config.companies:
            files.mailbox_dirs(settings.mailboxes_dir, company)
        await self._remove_dead_uploads(config)
        for row in await self.intake.reconcile():
            self._spawn(self.intake.process(row))
        for path in await asyncio.to_thread(self.intake.scan_inboxes):
            self.intake.arrived(path)
        return key

    async def _start_scheduler(self, config: Config) -> None:
        """The calendar's closes and jobs.  Periods are closed on the calendar from this
        gateway's first start on; periods already due before it are the operator's to close
        (``opencass period close``)."""
        first = await self.store.first_event_at("gateway_started")
        since = datetime.fromisoformat(first) if first else self.clock()
        self.closes = CloseScheduler(
            config,
            self.store,
            since=since,
            pool=self.pool,
            now=self.clock,
            observe=self.metrics.close_done,
            jobs=milestone_jobs(),
            node=self.node_name,
        )
        await self.closes.start()

    def _start_metrics(self, listen: str) -> None:
        """The Prometheus endpoint, when ``gateway.metrics_listen`` asks for one."""
        intake, pool, store = self.intake, self.pool, self.store
        assert intake is not None and pool is not None and store is not None
        self.metrics.read(
            sessions=lambda: self.sftp.logged_in() if self.sftp else 0,
            unauthenticated=lambda: self.sftp.unauthenticated_count() if self.sftp else 0,
            inflight=lambda: intake.busy,
            pool_healthy=lambda: pool.healthy,
            pool_rebuilds=lambda: pool.rebuilds,
            audit_pending=lambda: store.audit_pending,
            deliveries=self._deliveries,
        )
        if listen:
            self.metrics_server = MetricsServer(self.metrics, listen)
            log.info("metrics_listening", listen=listen, port=self.metrics_server.port)

    def _deliveries(self) -> dict[str, int]:
        stats = self.outbox.stats if self.outbox else None
        if stats is None:
            return {}
        return {"delivered": stats.delivered, "failed": stats.failed, "dead": stats.dead}

    async def _remove_dead_uploads(self, config: Config) -> None:
        """Before any client connects: what uploads of a dead gateway left in the inboxes."""
        from opencass.gateway.mailbox import remove_dead_uploads

        busy_for = 0.0  # alone: every temp file is a dead gateway's
        if self.node is not None and not await self.node.alone():
            # another node's sessions may be writing theirs: only those idle past any session
            busy_for = 2 * config.gateway.idle_timeout_seconds + 60
        for company in sorted(config.companies):
            tree = config.gateway.mailboxes_dir / company
            removed = await asyncio.to_thread(remove_dead_uploads, tree, busy_for)
            if removed:
                log.warning("dead_uploads_removed", company=company, files=removed)
                assert self.store is not None
                await self.store.audit("dead_uploads_removed", company=company, files=removed)

    def _hooks(self) -> dict[str, Any]:
        return {"fault": self.fault} if self.fault else {}

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def serve(self) -> None:
        """Run until asked to stop."""
        config = self.current_config()
        intake = self.intake_or_raise()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(watch_inboxes(config.gateway.mailboxes_dir, intake.arrived, self.stop))
            tg.create_task(rescan_every(config.gateway.rescan_seconds, intake.rescan, self.stop))
            tg.create_task(self._reloads())
            tg.create_task(self._watch_users())
            tg.create_task(self._risk_checks())
            interval = systemd.watchdog_interval()
            if interval:
                tg.create_task(self._watchdog(interval))
            await self.stop.wait()
            self.reload_requested.set()  # wake the reload loop so the group can end

    async def refresh_users(self) -> None:
        """Read the effective users again (files and store); close the sessions of users
        suspended or removed meanwhile.  A new conflict between files and store is logged."""
        config = self.current_config()
        new = await asyncio.to_thread(read_directory, config)
        for conflict in sorted(set(new.conflicts) - set(self.directory.conflicts)):
            log.warning("user_conflict", conflict=conflict)
        changed = new.version != self.directory.version
        self.directory = new
        if self.sftp is not None:
            closed = self.sftp.users_changed()
            if changed:
                log.info("users_changed", version=new.version, sessions_closed=closed)

    async def _watch_users(self) -> None:
        """Apply user changes (self-service messages, operator commands) within seconds."""
        from opencass.store.connect import read_only
        from opencass.store.users import changes_version

        database = self.current_config().gateway.database
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                poll = self.current_config().gateway.users_poll_seconds
                await asyncio.wait_for(self.stop.wait(), timeout=poll)
            try:
                version = await asyncio.to_thread(read_only, database, changes_version, 0)
                if version != self.directory.version:
                    await self.refresh_users()
            except Exception:  # the next poll tries again; the old users stay in force
                log.exception("users_refresh_failed")

    async def _risk_checks(self) -> None:
        """Agents' exposure alerts, every ``risk_check_seconds`` (each raised once)."""
        from opencass.billing.risk import risk_check

        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                wait = self.current_config().gateway.risk_check_seconds
                await asyncio.wait_for(self.stop.wait(), timeout=wait)
            if self.stop.is_set():
                return
            try:
                await asyncio.to_thread(risk_check, self.current_config(), None, self.clock())
            except Exception:  # the next round tries again
                log.exception("risk_check_failed")

    async def _reloads(self) -> None:
        while True:
            await self.reload_requested.wait()
            self.reload_requested.clear()
            if self.stop.is_set():
                return
            await self.reload()

    def healthy(self) -> bool:
        """False while the gateway cannot process files (its worker pool broken and not
        rebuilt yet, or its audit trail not writable): systemd's watchdog is then not fed."""
        pool_ok = self.pool is None or self.pool.healthy
        return pool_ok and (self.store is None or self.store.audit_failure is None)

    def audit_written(self, task: asyncio.Task[Any]) -> None:
        """A background audit write ended; a failed one stops intake until the trail can be
        written again (its events stay queued: none is lost while the gateway runs)."""
        self.background.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        log.error("audit_write_failed", error=str(task.exception()))
        if self.intake is not None and self.intake.accepting and not self.stop.is_set():
            self.intake.accepting = False
            log.error("intake_paused", reason="the audit trail cannot be written")
            self._spawn(self._recover_audit())

    async def _recover_audit(self) -> None:
        assert self.store is not None and self.intake is not None
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=AUDIT_RETRY_SECONDS)
            try:
                await self.store.flush_audit()
            except AuditWriteError:
                continue
            log.warning("intake_resumed", reason="the audit trail is written again")
            self.intake.accepting = True
            await self.intake.rescan()
            return

    async def _watchdog(self, interval: float) -> None:
        while not self.stop.is_set():
            if self.healthy():
                systemd.notify("WATCHDOG=1")
            else:
                log.error("watchdog_not_fed", reason="the worker pool or the audit trail fails")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=interval)

    async def reload(self) -> bool:
        """Load the configuration again; keep the old one if the new one is bad."""
        try:
            new = await asyncio.to_thread(load_config, self.config_dir)
        except ConfigError as e:
            log.error("config_reload_failed", problems=[str(p) for p in e.problems])
            return False
        fixed = restart_only_changes(self.config, new) if self.config else []
        if fixed:
            log.error(
                "config_reload_refused",
                reason="these settings take effect only at a restart; nothing was changed",
                settings=fixed,
            )
            if self.store:
                await self.store.audit("config_reload_refused", settings=fixed)
            return False
        old, self.config = self.config, new
        self.config_digest = await asyncio.to_thread(config_digest, self.config_dir)
        try:
            self.trust = await asyncio.to_thread(load_trust, new.gateway.certificates)
        except TrustError as e:
            log.error("certificate_trust_reload_failed", error=str(e), kept="the previous trust")
        await self.refresh_users()
        if self.closes is not None:
            await self.closes.reschedule(new)
        changes = diff_configs(old, new) if old else []
        for company in new.companies:
            files.mailbox_dirs(new.gateway.mailboxes_dir, company)
        log.info("config_reloaded", changes=changes)
        if self.store:
            await self.store.audit("config_reloaded", changes=changes)
            await publish_hook(new, self.store, self.clock)  # a changed calendar, notified
        return True

    async def shutdown(self) -> None:
        """Stop accepting, drain in-flight files, close sessions, pool and store (in order)."""
        systemd.notify("STOPPING=1")
        settings = self.current_config().gateway if self.config else None
        grace = settings.shutdown_grace_seconds if settings else 5.0
        if self.sftp is not None:
            self.sftp.stop_accepting()
        if self.intake is not None:
            finished = await self.intake.drain(grace)
            log.info("intake_drained", complete=finished)
        if self.closes is not None:
            await self.closes.shutdown(grace)
        if self.outbox is not None:
            await self.outbox.drain(grace)
        for task in list(self.background):
            task.cancel()
        if self.sftp is not None:
            self.sftp.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.sftp.wait_closed(), timeout=5)
        if self.portal is not None:
            await self.portal.stop()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        if self.metrics_server is not None:
            await asyncio.to_thread(self.metrics_server.close)
        if self.node is not None:
            await self.node.stop()  # its leases released: another node takes over at once
        if self.store is not None:
            with contextlib.suppress(Exception):
                await self.store.audit("gateway_stopped")
            await self.store.close()
        log.info("gateway_stopped")

    async def run(self) -> None:
        """Startup, serve until SIGTERM/SIGINT, shutdown."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop.set)
        loop.add_signal_handler(signal.SIGINT, self.stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload_requested.set)
        try:
            await self.startup()
            await self.serve()
        finally:
            await self.shutdown()


def _worker_init(gateway_pid: int) -> None:
    """Pool workers leave SIGINT to the gateway, which stops them in order, and die with it: a
    killed gateway must leave no orphan that could still write the ledger.  (A forkserver
    worker's parent is the fork server, which outlives the gateway, so the worker watches the
    gateway itself.)"""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=die_with, args=(gateway_pid,), daemon=True).start()


def _warm() -> int:
    """Import the codecs in a pool worker before the first file arrives."""
    import opencass.gateway.assess  # noqa: F401

    return os.getpid()
