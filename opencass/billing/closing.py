"""Closing a period against the real ledger and mailboxes (the I/O around ``settlement.close``).

The booked records of one country and period are the ledger rows of that country and period,
not withdrawn, of live (non-sandbox) files in state assessed, answered or archived.  The pure
``close_period`` nets them and builds the documents; conservation is checked there before any
document exists, so a failed check writes nothing.  Documents are then written atomically into
``<mailboxes>/<company>/outbox/`` under names fixed by the reference time, so closing again with
the same reference time replaces the same files with the same bytes.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import secrets
import shutil
import signal
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

from opencass.billing.closelock import held_by_nobody, take
from opencass.config.database import Database
from opencass.config.model import CompanyKind, Config, PeriodError, find_period
from opencass.events import Event, EventType, event
from opencass.files import OUTBOX, fsync_dir
from opencass.processes import fewer_collections
from opencass.settlement.close import (
    CloseResult,
    Document,
    PlannedDocument,
    close_period,
)
from opencass.settlement.disputes import adjustment
from opencass.settlement.netting import Adjustment
from opencass.settlement.tax import TaxEngine
from opencass.store import closes as store_closes
from opencass.store.ledger import LedgerRows, accepted_disputes, take_snapshot
from opencass.store.rows import utc_stamp
from opencass.store.sqlite import record_events_now

__all__ = [
    "FINAL",
    "PRELIMINARY",
    "STAGING",
    "CloseDone",
    "CloseError",
    "claim_close",
    "close_events",
    "dispute_adjustments",
    "document_events",
    "finish_close",
    "forked",
    "record_close_events",
    "remove_abandoned_staging",
    "remove_temporaries",
    "run_close",
    "write_documents",
    "write_planned",
]

FINAL, PRELIMINARY = "final", "preliminary"  # close stages (and the ``closes`` kinds)


class CloseError(PeriodError):
    """A close that cannot run: unknown country or period, or already done."""


def _participants(config: Config, country: str) -> tuple[dict[str, tuple[str, ...]], ...]:
    agents: dict[str, tuple[str, ...]] = {}
    airlines: dict[str, tuple[str, ...]] = {}
    for cid, c in sorted(config.companies.items()):
        if c.kind is CompanyKind.AGENT and c.agent_codes.get(country):
            agents[cid] = c.agent_codes[country]
        elif c.kind is CompanyKind.AIRLINE and c.airline_prefixes.get(country):
            airlines[cid] = c.airline_prefixes[country]
    return agents, airlines


def dispute_adjustments(database: Database, country: str, period: str) -> list[Adjustment]:
    """The accepted disputes the final billing of ``period`` carries, as netting items
    (corrected − billed, reference = the dispute id)."""
    rows = accepted_disputes(database, country, period)
    return [
        adjustment(d.airline_prefix, d.agent_code, d.billed_amount, d.corrected_amount, d.id)
        for d in rows
        if d.corrected_amount is not None
    ]


def run_close(
    config: Config,
    country: str,
    period: str,
    reference: datetime,
    *,
    stage: str = FINAL,
    workers: int = 1,
) -> CloseResult:
    """Net the period from the ledger, with the accepted disputes it carries, and build its
    documents (writes nothing); stage ``preliminary`` plans the preliminary statements.

    ``workers=2`` nets half the AWBs in a forked child process (``forked``): only for a
    single-threaded caller, as ``write_planned``'s."""
    c, p = find_period(config, country, period)
    snapshot = take_snapshot(config.gateway.database, country, period)
    rows = LedgerRows(config.gateway.database, country, period, snapshot)
    agents, airlines = _participants(config, country)
    with fewer_collections():
        result = close_period(
            rows,
            country=c,
            period=p,
            reference=reference,
            agents=agents,
            airlines=airlines,
            base_iri=config.gateway.public_url,
            adjustments=dispute_adjustments(config.gateway.database, country, period),
            preliminary=stage == PRELIMINARY,
            tax=TaxEngine.for_config(config, c, p),
            run=forked if workers > 1 and hasattr(os, "fork") else None,
            parts=workers,
        )
    return replace(result, snapshot=snapshot)


def _child(job: Callable[[], Any], out: int, parent: int) -> NoReturn:
    """In a forked child: run ``job``, send (ok, result or exception) pickled to ``out``."""
    code = 1
    try:
        _die_with_parent(parent)
        outcome: tuple[bool, Any]
        try:
            outcome = (True, job())
        except Exception as e:
            outcome = (False, e)
        try:
            data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            what = outcome[1]
            data = pickle.dumps((False, RuntimeError(f"{type(what).__name__}: {what}")))
        with os.fdopen(out, "wb") as f:
            f.write(data)
        code = 0
    finally:
        os._exit(code)


def _outcome(pid: int, fd: int) -> tuple[bool, Any]:
    with os.fdopen(fd, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        return False, RuntimeError(f"a forked close process failed (status {status})")
    result: tuple[bool, Any] = pickle.loads(data)  # noqa: S301 - our own child's bytes
    return result


def forked(jobs: Sequence[Callable[[], Any]]) -> list[Any]:
    """A ``Runner`` (``opencass.settlement.close``): the first job in this process, each other
    in a forked child that sends its result back pickled through a pipe; all side by side.
    The first failed job's exception is raised once every job has ended.  Only for a
    single-threaded caller (see ``write_planned``)."""
    parent = os.getpid()
    children: list[tuple[int, int]] = []
    try:
        for job in jobs[1:]:
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child (measured by its result)
                os.close(read)
                _child(job, write, parent)
            os.close(write)
            children.append((pid, read))
        outcomes: list[tuple[bool, Any]]
        try:
            outcomes = [(True, jobs[0]())]
        except Exception as e:
            outcomes = [(False, e)]
        while children:
            outcomes.append(_outcome(*children[0]))
            children.pop(0)
    finally:
        for pid, fd in children:  # only when this process is interrupted
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                os.close(fd)
    for ok, value in outcomes:
        if not ok:
            raise value
    return [value for _, value in outcomes]


def write_documents(config: Config, result: CloseResult, *, workers: int = 1) -> list[Path]:
    """Write every document of a close into its company's outbox (see ``write_planned``)."""
    return write_planned(config, result.planned, workers=workers)


def write_planned(
    config: Config, planned: Iterable[PlannedDocument], *, workers: int = 1
) -> list[Path]:
    """Write documents into their companies' outboxes, atomically; the paths written.

    Documents are built one at a time into this run's own staging directory under the data
    directory (never in an outbox, where participants would see them); one ``sync()`` then
    makes them all durable at once (thousands of per-file fsyncs would dominate a large
    close), after which each is renamed into place and the outboxes are synced: a reader sees
    a whole document or none.  A crash leaves at most a staging directory, which a later write
    removes once no process holds its lock -- never another live run's.

    ``workers=2`` builds every other document in a forked child process (``forked``:
    building is CPU work, two cores halve it).  Only for a single-threaded caller — the
    ``period close`` command, or a close run in a worker process — never from a thread of the
    gateway.

    All of it runs with fewer collections (``fewer_collections``): the paths of a large close
    are tens of thousands of new objects, and with the default thresholds they set off full
    collections over the close's millions of live objects (2.9 s of a 1M-AWB close's writing).
    """
    with fewer_collections():
        return _write_planned(config, list(planned), workers)


def _write_planned(config: Config, planned: list[PlannedDocument], workers: int) -> list[Path]:
    mailboxes = config.gateway.mailboxes_dir
    outboxes = {mailboxes / doc.company / OUTBOX for doc in planned}
    for outbox in outboxes:
        outbox.mkdir(parents=True, exist_ok=True)
        remove_temporaries(outbox)
    staging_root = config.gateway.data_dir / STAGING
    remove_abandoned_staging(staging_root)
    # Built in a staging directory of this run, never where participants can see them; the
    # run's lock in it tells a later cleanup that its writer is alive.
    staging, lock = _new_staging(staging_root)
    try:
        pairs = [
            (
                doc,
                staging / f"{n:06d}",
                mailboxes / doc.company / OUTBOX / doc.name,
            )
            for n, doc in enumerate(planned)
        ]
        jobs = [(d, t) for d, t, _ in pairs]
        if workers > 1 and len(pairs) >= 16 and hasattr(os, "fork"):
            forked([partial(_build, jobs[0::2]), partial(_build, jobs[1::2])])
        else:
            _build(jobs)
        os.sync()
        written: list[Path] = []
        for _, tmp, path in pairs:
            os.replace(tmp, path)
            written.append(path)
        for d in sorted(outboxes):
            fsync_dir(d)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        os.close(lock)
    return written


def _build(jobs: list[tuple[PlannedDocument, Path]]) -> None:
    advise = getattr(os, "posix_fadvise", None)
    for doc, tmp in jobs:
        with tmp.open("wb") as f:
            f.write(doc.build())
            if advise is not None:
                # Start writing it to disk now, while the next ones are built (on Linux
                # "don't need" begins the writeback of dirty pages without waiting for it):
                # the one sync() that makes the close durable then has little left to do.
                f.flush()
                advise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def _die_with_parent(parent: int) -> None:
    """Make a forked helper die with the process that forked it (a killed close must leave no
    process behind that still writes into the outboxes)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


_TMP = ".close-tmp"
STAGING = "staging"
_LOCK = ".writer.lock"


def remove_temporaries(outbox: Path) -> None:
    """Remove the hidden temporaries (``.<name>.<token>.close-tmp``) that versions which built
    documents inside the outboxes may have left there."""
    for stale in outbox.glob(f".*{_TMP}"):
        with contextlib.suppress(OSError):
            stale.unlink()


_NEW = ".new-"  # a staging directory being made: its lock not taken yet
_NEW_MAX_AGE = 3600.0  # seconds; older, its maker died before taking the lock


def _new_staging(root: Path) -> tuple[Path, int]:
    """A staging directory of this run, with its lock held: made under a hidden name, locked,
    then renamed, so no cleanup (of this or another process) can see it unlocked."""
    token = secrets.token_hex(8)
    making = root / f"{_NEW}{token}"
    making.mkdir(parents=True)
    lock = take(making / _LOCK, {"pid": os.getpid()})
    assert lock is not None  # a directory nobody else knows yet
    staging = root / token
    os.rename(making, staging)
    return staging, lock


def remove_abandoned_staging(root: Path) -> list[Path]:
    """Remove the staging directories under ``root`` whose writer is gone (its lock is free),
    and ones a writer died making; the ones removed."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for d in sorted(root.iterdir()):
            if not d.is_dir():
                continue
            if d.name.startswith(_NEW):
                with contextlib.suppress(FileNotFoundError):
                    stale = os.stat(d).st_mtime < time.time() - _NEW_MAX_AGE
                    if stale:
                        shutil.rmtree(d, ignore_errors=True)
                        removed.append(d)
            elif held_by_nobody(d / _LOCK):
                shutil.rmtree(d, ignore_errors=True)
                removed.append(d)
    return removed


def _document_kind(name: str) -> tuple[str, str, str]:
    """(kind, party code, extension) from ``<stamp>_<kind>_<period>_<code>.<ext>``."""
    stem, _, ext = name.rpartition(".")
    parts = stem.split("_")
    return (parts[1], parts[-1], ext) if len(parts) >= 4 else ("document", "", ext)


def document_events(
    config: Config, docs: Iterable[Document | PlannedDocument], country: str, period: str,
    stage: str,
) -> list[Event]:  # fmt: skip
    """One ``document.available`` event per document written into an outbox."""
    events: list[Event] = []
    for doc in docs:
        kind, code, ext = _document_kind(doc.name)
        company = config.companies.get(doc.company)
        agent = company is not None and company.kind is CompanyKind.AGENT
        events.append(
            event(
                EventType.DOCUMENT_AVAILABLE,
                doc.company,
                doc.name,
                summary=f"{stage} {kind} ({ext}) for {code or doc.company}, "
                f"{country} period {period}",
                company=doc.company,
                country=country,
                period=period,
                agent_code=code if agent and code.isdigit() else None,
                airline_prefix=code if not agent and len(code) == 3 else None,
                object_kind=kind,
                object_ref=doc.name,
                document=doc.name,
                data={"stage": stage, "format": ext},
            )
        )
    return events


def close_events(
    config: Config, result: CloseResult, country: str, period: str, stage: str, reference: datetime
) -> list[Event]:
    """The business events of a close: one per document written, then the period closed."""
    events = document_events(config, result.planned, country, period, stage)
    s = result.settlement.summary
    events.append(
        event(
            EventType.PERIOD_CLOSED,
            country,
            period,
            stage,
            summary=f"{country} period {period}: {stage} close, {s.awbs} AWBs, "
            f"{s.agents} agents, {s.airlines} airlines, {s.agents_total} {s.currency}",
            country=country,
            period=period,
            object_kind="period",
            object_ref=f"{country}:{period}",
            data={
                "stage": stage,
                "reference": reference.isoformat(),
                "documents": len(result.planned),
                "total": str(s.agents_total),
                "currency": s.currency,
            },
        )
    )
    return events


def record_close_events(config: Config, events: list[Event], now: datetime) -> int:
    """Record events from a synchronous caller (the ``period close`` command)."""
    return record_events_now(config.gateway.database, events, utc_stamp(now))


class CloseDone(CloseError):  # noqa: N818 - a verdict, like CloseError
    """The stage of that period was closed before (refused without ``force``)."""

    code = "CLOSE_DONE"


def claim_close(
    config: Config,
    country: str,
    period: str,
    stage: str,
    reference: datetime,
    *,
    force: bool,
    now: datetime,
) -> bool:
    """Record a close from a synchronous caller in the ``closes`` table (as the scheduler
    does), so that the scheduler does not run the same stage again.  CloseDone when the stage
    was completed before and ``force`` is not given.  True when this call created the record."""
    claim = store_closes.claim_close(
        config.gateway.database,
        country,
        period,
        stage,
        reference.isoformat(),
        utc_stamp(now),
        force=force,
    )
    if claim.completed_at is not None:
        raise CloseDone(
            f"the {stage} close of {country} {period} was completed at {claim.completed_at} "
            f"(reference {claim.reference}); --force writes it again"
        )
    return claim.created


def finish_close(
    config: Config,
    country: str,
    period: str,
    stage: str,
    documents: int | None,
    now: datetime,
) -> None:
    """Mark a claimed close completed with its document count; ``None`` withdraws a claim
    this caller created (the close failed before writing anything)."""
    store_closes.finish_close(
        config.gateway.database, country, period, stage, documents, utc_stamp(now)
    )
