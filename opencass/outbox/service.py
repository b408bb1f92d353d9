"""The outbox service inside the gateway: fan events out, deliver, retry, remind, track downloads.

Theory of operation
-------------------
One task loops: fan out new events (``queue.advance`` with ``notify.plan``), deliver every lane
that is due, record reminders when their check is due, then sleep until new work may exist
(``poll_seconds``, or ``wake()``).  Store work runs on one ``sqlite3`` connection in one
database thread; rendering and file writes run in worker threads; pushes run on the event loop
(asyncssh).  At most ``concurrency`` lanes (subscriber, channel) are delivered at once; within a
lane deliveries go strictly in order and a failure stops the lane until its backoff expires (see
``opencass.store.queue``).

Shutdown (``drain``) stops looking for new events, delivers what is due now within the grace
period, then stops claiming: a delivery already started finishes (bounded), the rest stays
queued and goes out at the next start.  Nothing here holds state the store does not: a crash at
any point loses nothing and, because file names are fixed by the event and writes are atomic
(mailbox) or idempotent (push), duplicates nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import structlog

from opencass.clock import system_clock
from opencass.config.database import Database
from opencass.config.model import Config
from opencass.config.selfservice import CompanySettings, apply_settings
from opencass.documents.notifications import render
from opencass.errors import PeerError
from opencass.files import sync_filesystem, write_atomic
from opencass.outbox.notify import document_source, plan
from opencass.store import queue as q
from opencass.store.connect import connect_migrated
from opencass.store.events import StoredEvent, events_after
from opencass.store.settings import company_settings

__all__ = ["DeliveryError", "OutboxService", "OutboxStats"]

log = structlog.get_logger("opencass.outbox")
T = TypeVar("T")
BATCH = 200  # events fanned out per transaction; push deliveries claimed per lane at once
MAILBOX_BATCH = 2000  # mailbox deliveries written per flush
FINISH_SECONDS = 5.0  # how long a started delivery may still take once shutdown stops claims
_OUTBOX_PATHS = ("/outbox/", "/sandbox/outbox/")


class DeliveryError(PeerError):
    """A delivery could not be made; ``retryable`` says whether trying later can help."""

    code = "DELIVERY_FAILED"

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass
class OutboxStats:
    """Counters since start (for logs, tests and the benchmark)."""

    fanned_out: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    reminders: int = 0
    latencies: list[float] = field(default_factory=list)  # event recorded → delivered, seconds


def _mailbox_batch(
    root: Path, base_iri: str, items: list[q.Delivery]
) -> tuple[list[q.Delivery], list[tuple[q.Delivery, Exception]]]:
    """Render and write mailbox files in order, then make them durable with one flush; a
    failure skips the rest of its lane.  (done, failures) (blocking)."""
    done: list[q.Delivery] = []
    failures: list[tuple[q.Delivery, Exception]] = []
    blocked: set[str] = set()
    made: set[Path] = set()
    for d in items:
        if d.company in blocked:
            continue
        try:
            box = "sandbox/outbox" if d.event.event.data.get("sandbox") else "outbox"
            folder = root / d.company / box
            if folder not in made:
                folder.mkdir(parents=True, exist_ok=True)
                made.add(folder)
            write_atomic(folder / d.name, render(d.event, d.company, d.kind, base_iri), fsync=False)
        except Exception as exc:
            failures.append((d, exc))
            blocked.add(d.company)
        else:
            done.append(d)
    if done:
        sync_filesystem(root)
    return done, failures


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("outbox_push_pass_failed", error=f"{type(exc).__name__}: {exc}")


def _dispatch_batch(conn: sqlite3.Connection, config: Config, now: datetime) -> int:
    """Fan out up to ``BATCH`` events past the cursor; how many events (blocking)."""
    events = events_after(conn, q.cursor(conn), BATCH)
    if not events:
        return 0
    q.advance(conn, [(e.id, plan(e, config)) for e in events], now)
    return len(events)


class OutboxService:
    """Delivers notifications and documents (see the module docstring)."""

    def __init__(
        self,
        get_config: Callable[[], Config],
        *,
        database: Database | None = None,
        clock: Callable[[], datetime] | None = None,
        pusher: Any = None,
        audit: Callable[..., Awaitable[None]] | None = None,
        fault: Callable[[str], None] | None = None,
        lease: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        """``lease``: beside other gateway nodes, asks whether this one delivers now (one node
        at a time holds the outbox's lease; the others stand by and take over when it lapses)."""
        self._file_config = get_config
        self._settings: dict[str, CompanySettings] = {}  # companies' own (the portal's)
        self._applied: tuple[Config, dict[str, CompanySettings], Config] | None = None
        self._lease = lease
        self.active = lease is None  # whether the last pass delivered (held the lease)
        self._database = database
        self._clock = clock or system_clock
        self._pusher = pusher
        self._own_pusher = pusher is None
        self._audit = audit
        self._fault = fault
        self._db: sqlite3.Connection | None = None
        self._exec = ThreadPoolExecutor(1, thread_name_prefix="outbox-db")
        self._task: asyncio.Task[None] | None = None
        self._push_task: asyncio.Task[int] | None = None
        self._done: list[q.Delivery] = []  # made, waiting for the group commit
        self._commit: asyncio.Future[None] | None = None
        self._wake = asyncio.Event()
        self._draining = False
        self._claiming = True
        self._next_reminders: datetime | None = None
        self.stats = OutboxStats()

    # -- plumbing ----------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The service clock, UTC."""
        return self._clock().astimezone(UTC)

    def _config(self) -> Config:
        """The configuration with the companies' own settings (their rules and push servers,
        read from the store before each fan-out) applied."""
        config, applied = self._file_config(), self._applied
        if applied is None or applied[0] is not config or applied[1] is not self._settings:
            merged = apply_settings(config, self._settings)
            applied = self._applied = (config, self._settings, merged)
        return applied[2]

    async def _db_call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._exec, functools.partial(fn, self._db, *args))

    def _open(self) -> None:
        conn = connect_migrated(self._database or self._config().gateway.database)
        conn.row_factory = None
        self._db = conn

    async def open(self) -> None:
        """Open the store connection (in the database thread)."""
        if self._db is None:
            await asyncio.get_running_loop().run_in_executor(self._exec, self._open)

    def pusher(self) -> Any:
        """The push client (made on first use)."""
        if self._pusher is None:
            from opencass.outbox.push import Pusher

            self._pusher = Pusher()
        return self._pusher

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store and start the loop (resuming whatever is queued)."""
        await self.open()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def wake(self) -> None:
        """New events may exist: look now rather than at the next poll."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            draining = self._draining
            try:
                await self._pass()
            except Exception:
                log.exception("outbox_loop_failed")
            if draining:  # the pass after shutdown was asked for is the last
                if self._push_task is not None:
                    await asyncio.gather(self._push_task, return_exceptions=True)
                return
            poll = self._config().gateway.outbox.poll_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=poll)
            self._wake.clear()

    async def _pass(self) -> None:
        """One pass of the loop: pushes run in the background, so a slow participant server
        never holds up the mailboxes.  Skipped while another node holds the outbox."""
        if self._lease is not None:
            active = await self._lease()
            if active != self.active:
                log.info("outbox_lease", active=active)
            self.active = active
            if not active:
                return
        await self.dispatch()
        await self.check_reminders()
        await self.dispatch()
        await self.deliver_mailbox()
        if self._push_task is None or self._push_task.done():
            self._push_task = asyncio.get_running_loop().create_task(self.deliver_push())
            self._push_task.add_done_callback(_log_failure)

    async def run_once(self) -> int:
        """Fan out every new event, check reminders when due, deliver everything due (mailbox,
        then push, awaited); the number of deliveries made."""
        await self.dispatch()
        await self.check_reminders()
        await self.dispatch()
        return await self.deliver_due()

    async def drain(self, grace: float) -> bool:
        """Stop: one last pass delivers what is due within ``grace`` seconds; then claims stop,
        started deliveries may finish (bounded), the rest stays queued; True when the last pass
        completed."""
        self._draining = True
        self._wake.set()
        task, self._task = self._task, None
        complete = True
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), timeout=grace)
            if not task.done():
                complete = False
                self._claiming = False
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(task), timeout=FINISH_SECONDS)
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        push, self._push_task = self._push_task, None
        if push is not None and not push.done():
            self._claiming = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(push), timeout=FINISH_SECONDS)
            push.cancel()
            with contextlib.suppress(BaseException):
                await push
        await self.close()
        log.info("outbox_drained", complete=complete, delivered=self.stats.delivered)
        return complete

    async def close(self) -> None:
        """Close the push client and the store connection."""
        self._claiming = False
        if self._own_pusher and self._pusher is not None:
            with contextlib.suppress(Exception):
                await self._pusher.close()
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.get_running_loop().run_in_executor(self._exec, db.close)
        self._exec.shutdown(wait=False)

    # -- fan-out -----------------------------------------------------------------------------------

    async def dispatch(self) -> int:
        """Fan out every event past the cursor; how many events."""
        total = 0
        settings = await self._db_call(company_settings)
        if settings != self._settings:
            self._settings = settings
        while self._claiming:
            n = await self._db_call(_dispatch_batch, self._config(), self.now())
            total += n
            if n < BATCH:
                break
        self.stats.fanned_out += total
        return total

    # -- delivery ----------------------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Deliver everything due: the mailboxes, then the push lanes; how many."""
        return await self.deliver_mailbox() + await self.deliver_push()

    async def deliver_mailbox(self) -> int:
        """Write every due mailbox delivery, batch by batch across lanes; how many."""
        made = 0
        while self._claiming:
            batch = await self._db_call(q.due_in_order, self.now(), "mailbox", MAILBOX_BATCH)
            if not batch:
                break
            config = self._config()
            root, base = config.gateway.mailboxes_dir, config.gateway.public_url
            done, failures = await asyncio.to_thread(_mailbox_batch, root, base, batch)
            await self._finish(done)
            states = [await self._failed(d, exc) for d, exc in failures]
            made += len(done)
            if not done and q.DEAD not in states:
                break
        return made

    async def deliver_push(self) -> int:
        """Deliver every due push lane (``concurrency`` at once) until none is due; how many."""
        made = 0
        limit = asyncio.Semaphore(self._config().gateway.outbox.concurrency)
        while self._claiming:
            lanes = await self._db_call(q.due_lanes, self.now(), "push")
            if not lanes:
                break
            found = await asyncio.gather(
                *(self._lane(c, ch, limit) for c, ch in lanes), return_exceptions=True
            )
            for failure in found:  # every lane has finished: none is left running
                if isinstance(failure, BaseException):
                    raise failure
            results = [r for r in found if not isinstance(r, BaseException)]
            made += sum(n for n, _ in results)
            if not any(more for _, more in results):
                break
        return made

    async def _lane(self, company: str, channel: str, limit: asyncio.Semaphore) -> tuple[int, bool]:
        """Deliver one lane in order until it is empty, blocked or not due; (made, progressed)."""
        async with limit:
            made = 0
            while self._claiming:
                batch = await self._db_call(q.lane_head, company, channel, self.now(), BATCH)
                if not batch:
                    return made, made > 0
                ok, blocked = await self._deliver_batch(channel, batch)
                made += ok
                if blocked:  # waits for its backoff; a dead letter lets the lane go on
                    return made, made > 0
            return made, made > 0

    async def _deliver_batch(self, channel: str, batch: list[q.Delivery]) -> tuple[int, bool]:
        """Push a lane's batch in order, stopping at the first failure; (how many were made,
        whether the lane is now blocked by a delivery waiting for its retry)."""
        done: list[q.Delivery] = []
        try:
            for d in batch:
                if not self._claiming:
                    break
                await self._push(d)
                done.append(d)
        except Exception as exc:
            failing = batch[len(done)]
            await self._finish(done)
            state = await self._failed(failing, exc)
            return len(done), state != q.DEAD
        await self._finish(done)
        return len(done), len(done) < len(batch)

    async def _push(self, d: q.Delivery) -> None:
        from opencass.outbox.push import PushError

        config = self._config()
        company = config.companies.get(d.company)
        target = company.push if company is not None else None
        if target is None:
            raise DeliveryError(f"{d.company} has no [push] target", retryable=True)
        if d.kind == "document":
            path = config.gateway.mailboxes_dir / d.source
            if not await asyncio.to_thread(path.is_file):
                raise DeliveryError(f"document {d.source} is gone", retryable=False)
            source: Path | bytes = path
        else:
            base = config.gateway.public_url
            source = await asyncio.to_thread(render, d.event, d.company, d.kind, base)
        try:
            await self.pusher().push(target, d.name, source)
        except PushError as exc:
            raise DeliveryError(str(exc), retryable=exc.retryable) from exc

    async def _finish(self, done: list[q.Delivery]) -> None:
        """Record deliveries as made (group commit: lanes finishing while a commit runs share
        the next one); returns once they are committed."""
        if not done:
            return
        if self._fault is not None:
            self._fault("before_delivered")
        self._done.extend(done)
        while any(x is done[-1] for x in self._done):
            if self._commit is None or self._commit.done():
                self._commit = asyncio.ensure_future(self._commit_done())
            await asyncio.shield(self._commit)

    async def _commit_done(self) -> None:
        items, self._done = self._done, []
        now = self.now()
        try:
            await self._db_call(q.mark_delivered, [d.id for d in items], now)
        except BaseException:
            self._done = items + self._done
            raise
        self.stats.delivered += len(items)
        for d in items:
            with contextlib.suppress(ValueError):
                at = datetime.fromisoformat(d.event.at)
                self.stats.latencies.append((now - at).total_seconds())

    async def _failed(self, d: q.Delivery, exc: Exception) -> str:
        retryable = getattr(exc, "retryable", True)
        settings = self._config().gateway.outbox
        state = await self._db_call(
            functools.partial(
                q.failed,
                retryable=bool(retryable),
                max_attempts=settings.max_attempts,
                base=settings.retry_base_seconds,
                most=settings.retry_max_seconds,
            ),
            d.id,
            f"{type(exc).__name__}: {exc}",
            self.now(),
        )
        self.stats.failed += 1
        if state == q.DEAD:
            self.stats.dead += 1
        log.warning(
            "delivery_failed", delivery=d.id, company=d.company, channel=d.channel,
            name=d.name, error=str(exc), state=state,
        )  # fmt: skip
        return state

    # -- downloads and reminders -------------------------------------------------------------------

    async def downloaded(self, company: str, user: str, path: str, size: int | None) -> bool:
        """A user started downloading ``path`` (as the client sees it); True the first time
        for that user and file (then audited as ``first_download``)."""
        if not path.startswith(_OUTBOX_PATHS) or self._db is None:
            return False
        first = await self._db_call(q.record_download, company, path, user, size, self.now())
        if first and self._audit is not None:
            await self._audit("first_download", company=company, user=user, path=path, size=size)
        return bool(first)

    async def check_reminders(self, *, force: bool = False) -> int:
        """Record ``document.not_collected`` events for documents nobody downloaded within
        ``reminder_days``; runs every ``reminder_check_seconds`` unless ``force``."""
        settings = self._config().gateway.outbox
        now = self.now()
        if not force and self._next_reminders is not None and now < self._next_reminders:
            return 0
        self._next_reminders = now + timedelta(seconds=settings.reminder_check_seconds)
        days = settings.reminder_days
        root = self._config().gateway.mailboxes_dir

        def exists(found: StoredEvent) -> bool:  # a document removed from the outbox is not due
            return (root / document_source(found.event)).is_file()

        n = await self._db_call(
            functools.partial(q.record_reminders, now=now),
            now - timedelta(days=days),
            days,
            exists,
        )
        self.stats.reminders += n
        return int(n)
