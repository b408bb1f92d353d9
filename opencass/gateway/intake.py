"""Exactly-once intake: claim each arrived file, assess it, answer it, archive it.

Theory of operation
-------------------
See ``states`` for the state machine.  ``Intake.arrived(path)`` is called for every candidate
file the watcher, the SFTP endpoint or a rescan reports; it claims the file by renaming it into
the spool (only one caller can win a rename) and drives it through the states.  ``reconcile()``
runs at start, before connections are accepted: spooled files the store does not know yet are
recorded, files in unfinished states are resumed, and inboxes are scanned.

Spool layout: ``<spool>/<company>/<live|sandbox>/<file id>__<original name>``; the name alone
tells company, sandbox, id and original name, so a crash between the rename and the insert
loses nothing.  Test hooks: ``fault(step)`` is called between every two steps (a no-op in
production); a test raises or kills the process there.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import sqlite3
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from opencass.billing.messages import MessageHandler
from opencass.clock import Clock, system_clock
from opencass.codecs import detect_format
from opencass.config.model import Config
from opencass.events import Event, EventType, event
from opencass.files import fsync_dir, write_atomic
from opencass.findings import Finding, finding
from opencass.gateway import states
from opencass.gateway.answers import AnswerNames, report_text, sign
from opencass.gateway.assess import (
    AssessJob,
    AssessSummary,
    assess,
    assess_merge,
    assess_slice,
    plan_slices,
)
from opencass.gateway.cluster import Node
from opencass.gateway.context import submission_context
from opencass.gateway.mailbox import is_ignored_name, uploader_of
from opencass.gateway.messages import MessageSummary, assess_message, message_kind
from opencass.gateway.pool import BrokenProcessPool
from opencass.store import FileRow, NewFile, StaleState, Store

log = structlog.get_logger("opencass.intake")

MAX_ATTEMPTS = 3
RECORD_PATIENCE = 120.0  # seconds a claimed file waits for the store to be recorded
CLUSTER_CLAIM_DELAY = 1.0  # seconds a node waits before claiming a file another node's
# session may have uploaded (see ``arrived``)
ignored = is_ignored_name  # dot-files and partial uploads are never claimed


_FILE_EVENTS = {
    "accepted": EventType.FILE_ACCEPTED,
    "partially_accepted": EventType.FILE_PARTIALLY_ACCEPTED,
    "duplicate": EventType.FILE_DUPLICATE,
}


def file_event(row: FileRow, report: str) -> Event:
    """The business event of an answered file (its report is in the submitter's outbox)."""
    kind = _FILE_EVENTS.get(row.outcome or "", EventType.FILE_REJECTED)
    where = "sandbox " if row.sandbox else ""
    counts = ", ".join(f"{k} {v}" for k, v in sorted(row.counts.items()))
    return event(
        kind,
        row.id,
        summary=f"{where}file {row.name} ({row.id}): {row.outcome or 'rejected'}"
        + (f"; {counts}" if counts else ""),
        company=row.company,
        country=row.country,
        period=row.period,
        object_kind="file",
        object_ref=row.id,
        document=report,
        data={"sandbox": row.sandbox, "counts": dict(row.counts), "name": row.name},
    )


def _message_kind(path: Path, handlers: Sequence[MessageHandler]) -> str | None:
    """The message kind of a spooled XML message, or None for anything else (blocking)."""
    with path.open("rb") as f:
        head = f.read(65536)
    return message_kind(head, handlers) if detect_format(head[:4096]) == "xml" else None


def _arrival(row: FileRow) -> datetime:
    """When the file arrived (its claim), as an aware time."""
    at = datetime.fromisoformat(row.received_at)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def new_file_id(now: datetime) -> str:
    """A sortable, unique file id: ``F`` + UTC time + random."""
    return f"F{now:%Y%m%d%H%M%S}{secrets.token_hex(3).upper()}"


def sha256_of(path: Path) -> tuple[str, int]:
    """(hex digest, size) of a file (blocking: run in a thread)."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


@dataclass(frozen=True, slots=True)
class Located:
    """Where an inbox file belongs."""

    company: str
    sandbox: bool
    name: str


def locate(mailboxes: Path, path: Path) -> Located | None:
    """The company and inbox of ``path``, or None if it is not directly in an inbox."""
    try:
        parts = path.relative_to(mailboxes).parts
    except ValueError:
        return None
    if len(parts) == 3 and parts[1] == "inbox":
        return Located(parts[0], False, parts[2])
    if len(parts) == 4 and parts[1:3] == ("sandbox", "inbox"):
        return Located(parts[0], True, parts[3])
    return None


def _changed_since(path: Path, since: float) -> bool:
    """True when ``path`` was renamed or changed after ``since`` (or is gone)."""
    try:
        return path.stat().st_ctime > since
    except FileNotFoundError:
        return True


def _no_fault(step: str) -> None:
    return None


NAME_MAX = 255  # bytes of one file name (Linux file systems)


def spool_name(file_id: str, name: str) -> str:
    """``<file id>__<name>``, the name shortened (its end kept) to fit one file name; the
    store keeps the name whole."""
    room = NAME_MAX - len(file_id.encode()) - 2
    raw = name.encode()
    if len(raw) > room:
        raw = raw[-room:]
        while raw and (raw[0] & 0xC0) == 0x80:  # do not start inside a UTF-8 sequence
            raw = raw[1:]
    return f"{file_id}__{raw.decode()}"


class Intake:
    """Claims and processes arrived files; see the module docstring."""

    def __init__(
        self,
        get_config: Callable[[], Config],
        store: Store,
        pool: Executor,
        signing_key: object,
        *,
        fault: Callable[[str], None] = _no_fault,
        now: Clock = system_clock,
        parallel: int = 1,
        handlers: Sequence[MessageHandler],
        on_done: Callable[[FileRow, float], None] | None = None,
        node: Node | None = None,
    ) -> None:
        self.get_config = get_config
        self.store = store
        self.pool = pool
        self.key = signing_key
        self.fault = fault
        self.now = now
        self.parallel = parallel  # workers a large file may be sliced across
        self.handlers = tuple(handlers)  # XML message kinds besides billing submissions
        self.on_done = on_done  # (the answered file, seconds from its arrival) for metrics
        self.node = node  # this gateway as a node of several (leases); None: alone, no leases
        self.uploaders: dict[Path, str] = {}  # path → user, reported by the SFTP endpoint
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._claiming: set[Path] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._failures: dict[str, int] = {}  # file id → failed attempts (this run)
        self._spooling: set[Path] = set()  # renamed into the spool, not yet recorded
        self.accepting = True

    # -- paths -------------------------------------------------------------------------------

    @property
    def settings(self):  # type: ignore[no-untyped-def]
        return self.get_config().gateway

    def _spool_dir(self, company: str, sandbox: bool) -> Path:
        return self.settings.spool_dir / company / ("sandbox" if sandbox else "live")

    def _outbox(self, row: FileRow) -> Path:
        box = self.settings.mailboxes_dir / row.company
        return box / "sandbox" / "outbox" if row.sandbox else box / "outbox"

    # -- arrival and claim -------------------------------------------------------------------

    def arrived(self, path: Path, user: str = "") -> None:
        """A candidate file appeared in an inbox: claim and process it in the background."""
        if user:
            if len(self.uploaders) > 10_000:
                self.uploaders.clear()
            self.uploaders[path] = user
        if not self.accepting or path in self._claiming or ignored(path.name):
            return
        where = locate(self.settings.mailboxes_dir, path)
        if where is None or where.company not in self.get_config().companies:
            return
        self._claiming.add(path)
        # Beside other nodes, a file this node's SFTP session did not report waits a moment:
        # the node whose session uploaded it claims it first and records its user.
        wait = CLUSTER_CLAIM_DELAY if not user and self.node and self.node.others else 0.0
        task = self._spawn(self._claim_and_process(path, where, wait))
        task.add_done_callback(lambda _t: self._claiming.discard(path))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _claim_and_process(self, path: Path, where: Located, wait: float = 0.0) -> None:
        if wait:
            await asyncio.sleep(wait)
        row = await self.claim(path, where)
        if row is not None:
            await self.process(row)

    async def claim(self, path: Path, where: Located) -> FileRow | None:
        """Move ``path`` into the spool and record it; None if someone else claimed it."""
        now = self.now()
        file_id = new_file_id(now)
        spool = self._spool_dir(where.company, where.sandbox)
        target = spool / spool_name(file_id, where.name)
        self._spooling.add(target)
        try:
            try:
                await asyncio.to_thread(spool.mkdir, parents=True, exist_ok=True)
                await asyncio.to_thread(os.rename, path, target)
            except FileNotFoundError:
                return None
            await asyncio.to_thread(fsync_dir, spool)
            self.fault("claimed")
            if self.node is not None:  # the file is this node's before other nodes can see it
                await self.node.take(f"file:{file_id}")
            user = self.uploaders.pop(path, "") or await asyncio.to_thread(uploader_of, target)
            row = await self._record_soon(target, where, user, now)
            if self.node is not None and (row is None or row.id != file_id):
                await self.node.release(f"file:{file_id}")  # recorded under another id
            return row
        finally:
            self._spooling.discard(target)

    async def _record_soon(
        self, spooled: Path, where: Located, user: str, now: datetime
    ) -> FileRow | None:
        """``_record`` a file just claimed, waiting out a store that is unavailable for a
        while (a database restarting): the file and its uploader are recorded as soon as it is
        back.  (Past ``RECORD_PATIENCE`` the spooled file is left to the rescans, recorded as
        an orphan.)"""
        waited = 0.0
        while True:
            try:
                return await self._record(
                    spooled, where.company, where.sandbox, user, now, name=where.name
                )
            except sqlite3.OperationalError as e:
                if waited >= RECORD_PATIENCE:
                    raise
                log.warning("file_record_waits", path=str(spooled), error=str(e))
                await asyncio.sleep(0.5)
                waited += 0.5

    async def _record(
        self,
        spooled: Path,
        company: str,
        sandbox: bool,
        user: str,
        now: datetime,
        *,
        name: str | None = None,
    ) -> FileRow | None:
        file_id, _, spooled_as = spooled.name.partition("__")
        name = name or spooled_as
        digest, size = await asyncio.to_thread(sha256_of, spooled)
        while True:
            new = NewFile(
                id=file_id,
                company=company,
                user=user,
                name=name,
                sandbox=sandbox,
                sha256=digest,
                size=size,
                received_at=now.isoformat(timespec="microseconds"),
                spool_path=str(spooled),
            )
            if await self.store.create_file(new):
                break
            known = await self.store.get_file(file_id)
            if known is not None and known.spool_path == str(spooled):
                return known  # this very file, recorded before (a restart's reconcile)
            # another file drew the same id (same second, same random part): a new id
            file_id = new_file_id(now)
            fresh = spooled.with_name(spool_name(file_id, name))
            await asyncio.to_thread(os.rename, spooled, fresh)
            await asyncio.to_thread(fsync_dir, fresh.parent)
            spooled = fresh
        await self.store.audit(
            "file_received",
            company=company,
            user=user or None,
            file_id=file_id,
            name=name,
            size=size,
            sha256=digest,
            sandbox=sandbox,
        )
        self.fault("recorded")
        return await self.store.get_file(file_id)

    # -- processing ----------------------------------------------------------------------------

    async def process(self, row: FileRow) -> None:
        """Drive one file to ``archived``, resuming from whatever state it is in."""
        if row.id in self._inflight:
            return
        task = asyncio.current_task()
        assert task is not None
        self._inflight[row.id] = task
        bound = log.bind(file_id=row.id, company=row.company, user=row.user or None)
        current: FileRow | None = row
        lease = f"file:{row.id}" if self.node is not None else ""
        try:
            if lease and not await self.node.take(lease):  # type: ignore[union-attr]
                lease = ""
                bound.info("file_held_by_another_node")
                return
            if lease:  # what it is now (another node may have finished it before the lease)
                current = await self.store.get_file(row.id)
                if current is None or current.state == states.TERMINAL:
                    return
            while current is not None and current.state != states.TERMINAL:
                try:
                    await self._step(current)
                except BrokenProcessPool:
                    # a worker died (killed, out of memory): the pool is rebuilt on the next
                    # submission; try again at once (a file given up is answered at once)
                    failures = await self._failed_attempt(current)
                    bound.warning("worker_died", attempt=failures)
                    if failures > MAX_ATTEMPTS:
                        raise
                current = await self.store.get_file(row.id)
            if current is not None:
                bound.info("file_done", outcome=current.outcome, counts=current.counts)
                if self.on_done is not None:
                    waited = (self.now() - _arrival(current)).total_seconds()
                    self.on_done(current, waited)
        except StaleState:
            bound.info("file_taken_elsewhere")
        except sqlite3.OperationalError as e:
            # the store is unavailable (a database restarting, a lock held too long): not the
            # file's fault, so not an attempt; the next rescan resumes it
            bound.warning("file_waits_for_store", error=str(e))
        except Exception:
            # The file stays in its state and the next rescan resumes it; a file that cannot
            # be assessed after MAX_ATTEMPTS tries is answered with INTERNAL_ERROR instead of
            # waiting forever (it is kept, in the archive, for the operator).
            bound.exception("file_failed", attempt=self._failures.get(row.id, 0) + 1)
            await self._failed_attempt(current or row)
        finally:
            self._inflight.pop(row.id, None)
            if lease:
                await self.node.release(lease)  # type: ignore[union-attr]

    async def _failed_attempt(self, row: FileRow) -> int:
        """Count a failed attempt at ``row``; the number so far.  From ``MAX_ATTEMPTS`` on, a
        file still ``received`` is given up: answered with ``INTERNAL_ERROR``."""
        failures = self._failures[row.id] = self._failures.get(row.id, 0) + 1
        if failures >= MAX_ATTEMPTS and row.state == states.RECEIVED:
            await self._give_up(row)
        return failures

    async def _give_up(self, row: FileRow) -> None:
        problem = finding(
            "INTERNAL_ERROR",
            f"the gateway could not process this file after {MAX_ATTEMPTS} attempts; nothing "
            "was booked, the file is kept and the operator has been alerted",
        )
        await self.store.transition(
            row.id,
            states.RECEIVED,
            states.FAILED,
            {"attempts": MAX_ATTEMPTS},
            outcome="rejected",
            findings=[problem],
        )
        await self.store.audit("file_failed", company=row.company, file_id=row.id)
        log.error("file_given_up", file_id=row.id, company=row.company)
        self._spawn(self.process(await self.store.get_file(row.id) or row))

    async def _step(self, row: FileRow) -> None:
        if row.state == states.RECEIVED:
            original = await self.store.find_original(row)
            if original is not None:
                await self.store.transition(
                    row.id,
                    states.RECEIVED,
                    states.DUPLICATE,
                    {"original": original.id},
                    duplicate_of=original.id,
                    outcome="duplicate",
                    country=original.country,
                    period=original.period,
                )
            else:
                self.fault("assessing")
                await self._assess(row)
            self.fault("assessed")
        elif row.state in (states.DUPLICATE, states.ASSESSED, states.FAILED):
            await self._answer(row)
            self.fault("answered")
            await self.store.transition(row.id, row.state, states.ANSWERED)
            self.fault("answered-recorded")
        elif row.state == states.ANSWERED:
            await self._archive(row)
            self.fault("archived")
            await self.store.transition(row.id, states.ANSWERED, states.ARCHIVED)
        else:
            raise ValueError(f"unknown state {row.state}")

    async def _assess(self, row: FileRow) -> None:
        config = self.get_config()
        kind = await asyncio.to_thread(_message_kind, Path(row.spool_path), self.handlers)
        if kind is not None:
            message = await self._assess_message(row, config)
            await self._assessed(row, message, message=message.kind)
            return
        company = config.companies.get(row.company)
        job = AssessJob(
            database=str(config.gateway.database),
            file_id=row.id,
            spool_path=row.spool_path,
            sandbox=row.sandbox,
            all_or_nothing=bool(company and company.all_or_nothing),
            # judged as of the file's arrival: a file uploaded before a cut-off is in time,
            # however long it waited (a restart, a queue) before being assessed
            context=submission_context(config, row.company, _arrival(row), bool(row.sandbox)),
            max_records=config.gateway.limits.max_records,
            max_xml_bytes=config.gateway.limits.max_xml_bytes,
            clock=self.now,
        )
        loop = asyncio.get_running_loop()
        threshold = config.gateway.limits.parallel_min_bytes
        pieces = await loop.run_in_executor(self.pool, plan_slices, job, self.parallel, threshold)
        if pieces:  # a large HOT file: its slices in parallel, then one merge
            slices = await asyncio.gather(
                *(
                    loop.run_in_executor(self.pool, assess_slice, job, part, piece)
                    for part, piece in enumerate(pieces)
                )
            )
            self.fault("sliced")
            summary = await loop.run_in_executor(self.pool, assess_merge, job, pieces, slices)
        else:
            summary = await loop.run_in_executor(self.pool, assess, job)
        await self._assessed(row, summary)

    async def _assessed(
        self, row: FileRow, summary: AssessSummary | MessageSummary, **extra: Any
    ) -> None:
        if not summary.moved:
            raise StaleState(f"{row.id} was assessed by another worker")
        await self.store.audit(
            "file_assessed",
            company=row.company,
            file_id=row.id,
            outcome=summary.outcome,
            counts=summary.counts,
            **extra,
        )

    async def _assess_message(self, row: FileRow, config: Config) -> MessageSummary:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.pool,
            assess_message,
            str(config.gateway.database),
            row.id,
            row.spool_path,
            row.company,
            row.user,
            row.sandbox,
            _arrival(row),
            config,
            self.handlers,
        )

    async def _findings(self, row: FileRow) -> list[Finding]:
        if row.state == states.DUPLICATE:
            return [
                finding(
                    "DUPLICATE_FILE",
                    f"these bytes (SHA-256 {row.sha256[:16]}…) were received before as "
                    f"{row.duplicate_of}; nothing was booked again",
                )
            ]
        return await self.store.findings(row.id)

    async def _answer(self, row: FileRow) -> None:
        from opencass.codecs import onerecord

        findings = await self._findings(row)
        names = AnswerNames.of(row)
        outbox = self._outbox(row)
        base = self.settings.public_url
        info = onerecord.SubmissionInfo(
            file_id=row.id,
            file_name=row.name,
            company=row.company,
            user=row.user,
            sha256=row.sha256,
            size=row.size,
            received_at=row.received_at,
            outcome=row.outcome or "rejected",
            counts=dict(row.counts),
            sandbox=row.sandbox,
            format=row.format,
            dialect=row.dialect,
            country=row.country,
            period=row.period,
            duplicate_of=row.duplicate_of,
        )

        def write() -> None:  # encoding up to 10,000 findings and fsyncs: not on the loop
            report = onerecord.encode_validation_report(info, findings, base_iri=base)
            receipt = onerecord.encode_receipt(info, base_iri=base)
            signature = sign(self.key, receipt)  # type: ignore[arg-type]
            outbox.mkdir(parents=True, exist_ok=True)
            text = report_text(row, findings).encode()
            for name, data in (
                (names.report_xml, report),
                (names.report_txt, text),
                (names.receipt, receipt),
                (names.signature, signature),
            ):
                write_atomic(outbox / name, data, sync_dir=False)
            fsync_dir(outbox)

        await asyncio.to_thread(write)
        await self.store.record_events([file_event(row, names.report_xml)])
        await self.store.audit(
            "file_answered",
            company=row.company,
            file_id=row.id,
            outcome=row.outcome,
            report=names.report_xml,
            receipt=names.receipt,
        )

    async def _archive(self, row: FileRow) -> None:
        spooled = Path(row.spool_path)
        target = self.settings.archive_dir / row.company / spooled.name

        def move() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            if spooled.exists():
                os.replace(spooled, target)
                fsync_dir(target.parent)

        await asyncio.to_thread(move)

    # -- start and stop ------------------------------------------------------------------------

    async def reconcile(self) -> list[FileRow]:
        """Before serving: record orphaned spool files, then return every unfinished file."""
        from opencass.store.booking import clear_staging

        left = await asyncio.to_thread(clear_staging, self.settings.database)
        if left:
            log.info("staging_files_removed", count=left)
        await self._record_orphans()
        return await self.store.files_in_states(states.UNFINISHED)

    async def _record_orphans(self) -> None:
        """Record spooled files the store does not know (a crash or an error after the claim).
        Beside other live nodes, only files spooled longer ago than a lease: a younger one may
        be another node's, between its claim and its record."""
        known = {Path(r.spool_path) for r in await self.store.files_in_states(states.UNFINISHED)}
        young = 0.0
        if self.node is not None and not await self.node.alone():
            young = self.node.wall() - self.node.lease_seconds()
        for spooled in await asyncio.to_thread(self._spooled_files):
            company, kind = spooled.parent.parent.name, spooled.parent.name
            file_id = spooled.name.partition("__")[0]
            if spooled in known or spooled in self._spooling:
                continue
            if young and await asyncio.to_thread(_changed_since, spooled, young):
                continue
            if await self.store.get_file(file_id) is not None:
                continue
            log.info("spool_orphan_recorded", file_id=file_id, company=company)
            user = await asyncio.to_thread(uploader_of, spooled)
            await self._record(spooled, company, kind == "sandbox", user, self.now())

    def _spooled_files(self) -> list[Path]:
        """Every file in the spool, ``<company>/<live|sandbox>/<id>__<name>`` (blocking)."""
        spool = self.settings.spool_dir
        return sorted(
            spooled
            for company_dir in spool.glob("*")
            if company_dir.is_dir()
            for kind in ("live", "sandbox")
            for spooled in (company_dir / kind).glob("F*__*")
        )

    def scan_inboxes(self) -> list[Path]:
        """Every claimable file in every inbox (blocking: run in a thread)."""
        root = self.settings.mailboxes_dir
        found: list[Path] = []
        for company in self.get_config().companies:
            for inbox in (root / company / "inbox", root / company / "sandbox" / "inbox"):
                if inbox.is_dir():
                    found += [p for p in inbox.iterdir() if p.is_file() and not ignored(p.name)]
        return sorted(found)

    async def rescan(self) -> None:
        """Claim whatever the watcher may have missed and resume stuck files."""
        await self._record_orphans()
        for path in await asyncio.to_thread(self.scan_inboxes):
            self.arrived(path)
        rows = await self.store.files_in_states(states.UNFINISHED)
        held = await self.node.held_elsewhere("file:") if self.node and rows else set()
        for row in rows:
            if row.id not in self._inflight and f"file:{row.id}" not in held and self.accepting:
                self._spawn(self.process(row))

    async def drain(self, timeout: float) -> bool:
        """Stop claiming and wait for in-flight files; True if all finished in time."""
        self.accepting = False
        tasks = set(self._inflight.values()) | self._tasks
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        return not pending

    @property
    def busy(self) -> int:
        """Files being processed now."""
        return len(self._inflight)
