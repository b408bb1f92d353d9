"""Assessing one claimed file: decode, validate, apply participant rules, book — in a worker.

Theory of operation
-------------------
This runs in a worker process (never on the event loop) with its own SQLite connection.  It
streams the spooled file through the codec, checks the participant rules, and writes the
records that may be booked into a staging table of its own, in batches (each batch a short
transaction, so other writers are never blocked for long).  When the whole file is judged, one final
transaction moves the file from ``received`` to ``assessed`` (compare-and-set: a second
worker on the same file finds it moved and changes nothing), copies the accepted records from
staging into the ledger, stores the findings and drops the staging table.  A crash anywhere before
that commit leaves the file ``received`` and its staging table is dropped on the next attempt;
a crash after it leaves it ``assessed`` and nothing is booked twice.

Outcomes: ``accepted`` (no error), ``partially_accepted`` (record errors; the rest booked),
``rejected`` (a file-level error, every record bad, or an all-or-nothing participant with any
error).  In the sandbox the outcome is computed the same way and nothing is booked: its records
are staged in a TEMP table of the worker's connection, never in the store.

An AWB is billed once per country (``settlement.rules``): the staged originals (``AWM``/``AWB``)
are joined with the ledger index ``ledger_by_awb`` in SQL, never probed one by one from Python.
The join runs before the final transaction, in a read snapshot (for a sliced file, each slice's
worker joins its own staging table, in parallel); the final transaction, which holds the write
lock, then only joins what the ledger gained since that snapshot (nothing, unless another file
was booked meanwhile), and joins everything again if a file was withdrawn meanwhile.  So two
files billing the same AWB at the same time never both book it.  XML records have no line
number: they are staged under ``-n`` (the n-th record) so that a rejection can exclude them; the
ledger stores NULL for them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from opencass.clock import Clock, stamp, system_clock
from opencass.codecs import detect_format
from opencass.codecs.checks import FileChecker
from opencass.codecs.hot.layouts import CORRECTION
from opencass.codecs.hot.reader import HotReader
from opencass.codecs.hot.vector import CleanRows, date_number
from opencass.codecs.payload import to_payload
from opencass.findings import Finding, Scope, Severity, finding
from opencass.gateway.validate import PARALLEL_MIN_BYTES, _boundaries, file_chunks
from opencass.model import (
    AwbRecord,
    BillingHeader,
    BillingTrailer,
    CorrectionRecord,
    DetailRecord,
    Dialect,
    ImportRecord,
    OtherChargesRecord,
    RawRecord,
)
from opencass.settlement.rules import (
    HeaderVerdict,
    PeriodWindow,
    SubmissionContext,
    already_billed,
    check_billing_party,
    check_execution,
    check_header,
    check_record,
    tax_mismatch,
)
from opencass.store.booking import (
    Billed,
    Moved,
    billed_before,
    billed_now,
    book_assessed,
    connect_for_booking,
    drop_staging,
    duplicates_across,
    stage,
    staged_tables,
    staging_table,
)
from opencass.store.connect import is_pg
from opencass.store.tx import write_lock

__all__ = [
    "AssessJob",
    "AssessSummary",
    "SliceResult",
    "assess",
    "assess_merge",
    "assess_slice",
    "plan_slices",
]

BATCH = 20_000
MAX_FINDINGS = 10_000


@dataclass(frozen=True, slots=True)
class AssessJob:
    """What a worker needs to assess one file (picklable)."""

    database: str
    file_id: str
    spool_path: str
    sandbox: bool
    all_or_nothing: bool
    context: SubmissionContext
    max_records: int = 5_000_000
    max_xml_bytes: int = 512 << 20
    clock: Clock = system_clock  # stamps the rows it writes


@dataclass(slots=True)
class AssessSummary:
    """What the worker decided."""

    file_id: str
    outcome: str
    format: str
    dialect: str | None
    country: str | None
    period: str | None
    counts: dict[str, int] = field(default_factory=dict)
    moved: bool = True  # False when another worker had already assessed the file


class _Judge:
    """Collects findings and staging rows while a file is read."""

    def __init__(self, job: AssessJob, conn: sqlite3.Connection, part: int = 0) -> None:
        self.job, self.conn, self.part = job, conn, part
        self.findings: list[Finding] = []
        self.errors = self.warnings = self.file_errors = 0
        self.rejected: set[int] = set()
        self.verdict: HeaderVerdict | None = None
        self.header: BillingHeader | None = None
        self.rows: list[tuple[Any, ...]] = []
        self.staged = 0
        self.records = 0
        self._agent_set: frozenset[str] | None = None
        self._agent_array: Any = None

    def reject(self, f: Finding, key: int) -> None:
        """Add a record-level finding of the record staged under ``key`` (its line, or the
        ``-n`` of an XML record, whose findings carry no line)."""
        self.add([f])
        if f.is_error and f.line is None:
            self.rejected.add(key)

    def add_billed(self, rows: dict[int, tuple[str, str, str, str]]) -> None:
        """``AWB_ALREADY_BILLED`` for staged originals the ledger already holds."""
        for key in sorted(rows, key=lambda k: (k < 0, abs(k))):
            record_type, prefix, serial, earlier = rows[key]
            line = key if key > 0 else None
            self.reject(already_billed(line, record_type, prefix, serial, earlier), key)

    def add(self, found: Iterable[Finding]) -> None:
        for f in found:
            if f.severity is Severity.ERROR:
                self.errors += 1
                if f.scope is Scope.FILE:
                    self.file_errors += 1
                elif f.line is not None:
                    self.rejected.add(f.line)
            else:
                self.warnings += 1
            if len(self.findings) < MAX_FINDINGS:
                self.findings.append(f)

    def on_header(self, header: BillingHeader) -> None:
        self.header = header
        self.verdict = check_header(header, self.job.context)
        self.add(self.verdict.findings)

    def on_header_silent(self, header: BillingHeader) -> None:
        """The header of a later slice: needed for the rules, reported by the first slice."""
        self.header = header
        self.verdict = check_header(header, self.job.context)

    def on_record(
        self, rec: DetailRecord, line: int | None, hot: str | None, d: Dialect | None
    ) -> None:
        """Check one record against the participant rules and stage it for booking."""
        self.records += 1
        verdict, header = self.verdict, self.header
        if verdict is None or header is None:
            return
        kind = type(rec)
        if kind is RawRecord:
            return
        period = verdict.period
        key = line if line is not None else -self.records  # XML: the n-th record
        late, agent, reference, currency = 0, "", "", ""
        if kind is AwbRecord or kind is CorrectionRecord or kind is ImportRecord:
            r: Any = rec
            agent, currency = r.agent_code, r.currency
            reference = r.reference if kind is CorrectionRecord else ""
            if agent not in verdict.agents:
                problem = check_record(rec, line, verdict.agents)
                if problem is not None:
                    self.reject(problem, key)
            if verdict.prefixes is not None and r.airline_prefix not in verdict.prefixes:
                other = check_billing_party(r, line, self.job.context.company, verdict.prefixes)
                if other is not None:
                    self.reject(other, key)
            if kind is AwbRecord and verdict.tax is not None:
                self.check_tax(r, line, period)
            if period is not None:
                executed = r.execution_date
                if executed < period.billing_from:
                    late = 1
                elif executed > period.billing_to:
                    after = check_execution(r, line, period)
                    if after is not None:
                        self.reject(after, key)
        elif kind is OtherChargesRecord:
            reference = rec.reference  # type: ignore[union-attr]
        fmt, payload = (
            (f"hot-{d}", hot) if hot is not None and d is not None else to_payload(rec, None, None)
        )
        self.rows.append(
            (
                self.job.file_id,
                key,
                rec.record_id,
                header.operation,
                period.code if period else None,
                rec.airline_prefix,  # type: ignore[union-attr]
                rec.awb_serial,  # type: ignore[union-attr]
                agent,
                reference,
                currency,
                late,
                fmt,
                payload,
            )
        )
        if len(self.rows) >= BATCH:
            self.flush()

    def on_rows(self, rows: CleanRows, d: Dialect | None) -> None:
        """Check and stage a batch of clean AWB records the way ``on_record`` would, in array
        operations; a row some rule finds fault with goes through ``on_record`` itself."""
        verdict, header = self.verdict, self.header
        if verdict is None or header is None or d is None:
            self.records += len(rows)
            return
        if rows.itemised:
            self._stage_itemised(rows, header.operation, verdict.period, f"hot-{d}")
            return
        agents = rows.column("agent_code")
        odd = ~np.isin(np.array(agents), self._agents(verdict.agents))
        if verdict.prefixes is not None:
            owned = np.array(sorted(verdict.prefixes), dtype=str)
            odd |= ~np.isin(np.array(rows.column("airline_prefix")), owned)
        period = verdict.period
        late = np.zeros(len(rows), dtype=np.bool_)
        if period is not None:
            executed = rows.dates("execution_date")
            late = executed < date_number(period.billing_from)
            odd |= executed > date_number(period.billing_to)
        correcting = rows.layout is CORRECTION
        if verdict.tax is not None and not correcting:  # tax to compare: the per-record way
            odd |= rows.nonzero("tax_due_airline") | rows.nonzero("tax_due_agent")
        texts = rows.texts()
        lines = rows.lines.tolist()
        for i in np.flatnonzero(odd).tolist():  # in line order, as on_record would meet them
            self.on_record(rows.record(i), lines[i], texts[i], d)
        keep = ~odd
        self.records += int(np.count_nonzero(keep))
        kept = np.flatnonzero(keep).tolist()
        if not kept:
            return
        ids, prefixes, serials = (
            rows.record_ids(),
            rows.column("airline_prefix"),
            rows.column("awb_serial"),
        )
        currencies, flags = rows.column("currency"), late.tolist()
        job, op, code, fmt = (
            self.job.file_id,
            header.operation,
            period.code if period else None,
            f"hot-{d}",
        )
        refs = [r.rstrip() for r in rows.column("reference")] if correcting else [""] * len(rows)
        self.rows.extend(
            (job, lines[i], ids[i], op, code, prefixes[i], serials[i], agents[i], refs[i],
             currencies[i], int(flags[i]), fmt, texts[i])
            for i in kept
        )  # fmt: skip
        if len(self.rows) >= BATCH:
            self.flush()

    def _stage_itemised(
        self, rows: CleanRows, op: str, period: PeriodWindow | None, fmt: str
    ) -> None:
        """Stage a batch of itemised charges (no participant rule applies to them)."""
        self.records += len(rows)
        code, job = period.code if period else None, self.job.file_id
        self.rows.extend(
            (job, line, rid, op, code, prefix, serial, "", reference.rstrip(), "", 0, fmt, text)
            for line, rid, prefix, serial, reference, text in zip(
                rows.lines.tolist(),
                rows.record_ids(),
                rows.column("airline_prefix"),
                rows.column("awb_serial"),
                rows.column("reference"),
                rows.texts(),
                strict=True,
            )
        )
        if len(self.rows) >= BATCH:
            self.flush()

    def _agents(self, agents: frozenset[str]) -> Any:
        """The agent codes as a sorted array (made once per file)."""
        if self._agent_array is None or self._agent_set is not agents:
            self._agent_set, self._agent_array = agents, np.array(sorted(agents), dtype=str)
        return self._agent_array

    def check_tax(self, rec: AwbRecord, line: int | None, period: PeriodWindow | None) -> None:
        """``TAX_MISMATCH`` for each side whose tax differs from the country's rules."""
        assert self.verdict is not None and self.verdict.tax is not None
        day = period.invoice_day if period is not None else None
        for m in self.verdict.tax.mismatches(rec, day):
            self.add([tax_mismatch(rec, line, m)])

    def flush(self) -> None:
        if not self.rows:
            return
        # The sandbox stages into a TEMP table of this connection: judged the same, never stored.
        stage(self.conn, self.job.file_id, self.part, self.rows, temp=self.job.sandbox)
        self.staged += len(self.rows)
        self.rows.clear()


def _read_hot(path: Path, judge: _Judge, piece: Piece | None = None) -> HotReader:
    """Read the whole file, or one slice of it (``piece``: start, end, first line, header end)."""
    reader = HotReader(max_records=judge.job.max_records, max_findings=MAX_FINDINGS)

    def take(events: Iterable[tuple[int, Any] | CleanRows]) -> None:
        on_record = judge.on_record
        for event in events:
            if type(event) is CleanRows:
                judge.on_rows(event, reader.dialect)
                continue
            line, rec = event  # type: ignore[misc]
            kind = type(rec)
            if kind is BillingHeader:
                judge.on_header(rec)
            elif kind is not BillingTrailer:
                on_record(rec, line, reader.text, reader.dialect)

    if piece is None:
        for chunk in file_chunks(path):
            take(reader.scan(chunk))
        take(reader.close())
    else:
        start, end, first_line, header_end = piece
        take(reader.feed(next(file_chunks(path, 0, header_end))))
        reader.line = first_line - 1
        for chunk in file_chunks(path, max(start, header_end), end):
            take(reader.scan(chunk))
        take(reader.close(end_of_file=False))
    judge.add(reader.findings)
    # The reader keeps at most MAX_FINDINGS; its counts stay exact, so add what it left out.
    judge.errors += reader.errors - sum(f.is_error for f in reader.findings)
    judge.warnings += reader.warnings - sum(not f.is_error for f in reader.findings)
    judge.file_errors = max(judge.file_errors, reader.file_errors)
    judge.rejected |= reader.rejected_lines
    return reader


class _XmlSink:
    """Streams a submission's header and records into the judge as the decoder reads them
    (the file is never whole in memory, its records never all at once)."""

    def __init__(self, judge: _Judge) -> None:
        self.judge = judge

    def header(self, header: BillingHeader) -> None:
        self.judge.on_header(header)

    def record(self, rec: DetailRecord, line: int) -> None:
        # the record's source line: a record the decoder rejects is then left out of the
        # booking like a rejected HOT line (rejected lines are excluded at commit)
        self.judge.on_record(rec, line, None, None)


def _read_xml(path: Path, judge: _Judge) -> None:
    from opencass.codecs import onerecord

    before = len(judge.findings)
    result = onerecord.decode_submission_file(
        path, max_bytes=judge.job.max_xml_bytes, sink=_XmlSink(judge)
    )
    judged = judge.findings[before:]  # what the rules found while the records streamed by
    del judge.findings[before:]
    judge.add(result.findings)  # the decoder's findings first, as the report lists them
    judge.findings += judged[: max(0, MAX_FINDINGS - len(judge.findings))]
    if result.file is None:
        judge.file_errors = max(judge.file_errors, 1)  # stopped: nothing of it is booked
        return
    bad_lines = {f.line for f in result.findings if f.is_error and f.scope is Scope.RECORD}
    judge.rejected |= {line for line in bad_lines if line is not None}


def _outcome(judge: _Judge) -> str:
    if judge.file_errors or judge.header is None or judge.records == 0:
        return "rejected"
    if judge.errors == 0:
        return "accepted"
    if judge.job.all_or_nothing or len(judge.rejected) >= judge.records:
        return "rejected"
    return "partially_accepted"


def _commit(
    conn: sqlite3.Connection, judge: _Judge, summary: AssessSummary, parts: int = 1
) -> None:
    """Move the file to ``assessed`` and book, inside the caller's write transaction; commits
    (or rolls back when another worker moved the file first)."""
    job = judge.job
    move = Moved(
        job.file_id,
        stamp(job.clock),
        summary.format,
        summary.dialect,
        summary.outcome,
        summary.country,
        summary.period,
        summary.counts,
    )
    book = summary.outcome != "rejected" and not job.sandbox and judge.staged > 0
    booked = book_assessed(
        conn, move, judge.findings, book=book, rejected=judge.rejected, parts=parts
    )
    if booked is None:
        summary.moved = False
    else:
        summary.counts["booked"] = booked


def _duplicates(conn: sqlite3.Connection, job: AssessJob, part: int) -> list[Finding]:
    """AWB_DUPLICATE for AWBs of slice ``part`` that an earlier slice already billed (the first
    line of each in this slice; repeats within the slice were reported by its own checker)."""
    return [
        finding(
            "AWB_DUPLICATE",
            f"AWB {key[:3]}-{key[3:]} is billed more than once in this file",
            line=line,
            record_type="AWM",
            field="awb_serial",
        )
        for line, key in duplicates_across(conn, job.file_id, part)
    ]


def _finish(
    conn: sqlite3.Connection,
    judge: _Judge,
    kind: str,
    dialect: str | None,
    parts: int = 1,
    billed: Billed | None = None,
) -> AssessSummary:
    """Check the AWB-once rule, order and cap the findings, decide the outcome, commit."""
    judge.flush()
    tables = staged_tables(conn, judge.job.file_id, parts)
    if billed is None:
        billed = billed_before(conn, tables)
    with write_lock(conn):
        judge.add_billed(billed_now(conn, tables, billed).rows)
        summary = _summary(judge, kind, dialect)
        _commit(conn, judge, summary, parts)
    return summary


def _summary(judge: _Judge, kind: str, dialect: str | None) -> AssessSummary:
    """Order and cap the findings; the outcome and counts."""
    judge.findings.sort(key=lambda f: (f.line is not None, f.line or 0))
    if len(judge.findings) > MAX_FINDINGS:
        del judge.findings[MAX_FINDINGS:]
    if len(judge.findings) < judge.errors + judge.warnings:
        hidden = judge.errors + judge.warnings - len(judge.findings)
        judge.findings.append(finding("FINDINGS_TRUNCATED", f"{hidden} more not listed"))
    verdict = judge.verdict
    return AssessSummary(
        file_id=judge.job.file_id,
        outcome=_outcome(judge),
        format=kind,
        dialect=dialect,
        country=judge.header.operation if judge.header else None,
        period=verdict.period.code if verdict and verdict.period else None,
        counts={
            "records": judge.records,
            "errors": judge.errors,
            "warnings": judge.warnings,
            "rejected_records": len(judge.rejected),
        },
    )


def assess(job: AssessJob) -> AssessSummary:
    """Assess one spooled file and book what may be booked (see the module docstring)."""
    path = Path(job.spool_path)
    conn = connect_for_booking(job.database)
    try:
        drop_staging(conn, job.file_id)  # left by a crashed attempt
        judge = _Judge(job, conn)
        with path.open("rb") as f:
            kind = detect_format(f.read(4096))
        dialect = None
        if kind == "hot":
            reader = _read_hot(path, judge)
            dialect = str(reader.dialect) if reader.dialect else None
        elif kind == "xml":
            _read_xml(path, judge)
        else:
            judge.add([finding("FORMAT_UNKNOWN", "neither a HOT billing file nor opencass XML")])
        return _finish(conn, judge, kind, dialect)
    finally:
        conn.close()


# --- large HOT files: slices in parallel, then one merge ----------------------------------------

Piece = tuple[int, int, int, int]  # start, end, first line, header end (bytes, bytes, line, bytes)


def plan_slices(job: AssessJob, workers: int, min_bytes: int = PARALLEL_MIN_BYTES) -> list[Piece]:
    """Slices for a large, well-framed HOT file; [] when one worker should read it whole."""
    path = Path(job.spool_path)
    size = path.stat().st_size
    if workers < 2 or size < min_bytes or job.sandbox:
        return []
    with path.open("rb") as f:
        header = f.readline(4096)
    if detect_format(header) != "hot" or not header.endswith(b"\n"):
        return []
    probe = HotReader()
    list(probe.feed(header))
    if probe.findings or probe.header is None:
        return []
    conn = connect_for_booking(job.database)
    try:
        drop_staging(conn, job.file_id)  # left by a crashed attempt
    finally:
        conn.close()
    return [
        (a, b, line, len(header)) for a, b, line in _boundaries(path, size, len(header), workers)
    ]


@dataclass(slots=True)
class SliceResult:
    """What one slice's worker hands to the merge."""

    part: int
    findings: list[Finding]
    errors: int
    warnings: int
    file_errors: int
    rejected: set[int]
    records: int
    staged: int
    checker: FileChecker | None
    trailer: BillingTrailer | None
    trailer_line: int | None
    lines: int
    dialect: str | None
    billed: Billed | None = None  # originals of this slice already in the ledger


def assess_slice(job: AssessJob, part: int, piece: Piece) -> SliceResult:
    """Read, check and stage one slice of a large HOT file (no end-of-file checks)."""
    conn = connect_for_booking(job.database)
    try:
        judge = _Judge(job, conn, part)
        if part:  # the header's own findings are the first slice's to report
            judge.on_header = judge.on_header_silent  # type: ignore[method-assign]
        reader = _read_hot(Path(job.spool_path), judge, piece)
        judge.flush()
        # This slice's originals against the ledger, in parallel with the other slices.
        mine = staging_table(job.file_id, part, pg=is_pg(conn))
        billed = billed_before(conn, [mine] if judge.staged else [])
        if reader.checker is not None:
            # The AWBs seen are in the staging table; the merge finds duplicates across slices
            # there, so the (large) set does not travel between processes.
            reader.checker.forget_awbs()
        return SliceResult(
            part,
            judge.findings,
            judge.errors,
            judge.warnings,
            judge.file_errors,
            judge.rejected,
            judge.records,
            judge.staged,
            reader.checker,
            reader.trailer,
            reader._trailer_line,
            reader.line,
            str(reader.dialect) if reader.dialect else None,
            billed,
        )
    finally:
        conn.close()


def assess_merge(job: AssessJob, pieces: list[Piece], slices: list[SliceResult]) -> AssessSummary:
    """Merge the slices' states in file order, run the end-of-file checks once, commit."""
    conn = connect_for_booking(job.database)
    try:
        judge = _Judge(job, conn)
        header_end = pieces[0][3]
        merger = HotReader(max_records=job.max_records, max_findings=MAX_FINDINGS)
        for _line, rec in merger.feed(next(file_chunks(Path(job.spool_path), 0, header_end))):
            if isinstance(rec, BillingHeader):
                judge.header, judge.verdict = rec, check_header(rec, job.context)
        checker = slices[0].checker
        assert checker is not None
        for sl in slices:
            judge.findings += sl.findings
            judge.errors += sl.errors
            judge.warnings += sl.warnings
            judge.file_errors += sl.file_errors
            judge.rejected |= sl.rejected
            judge.records += sl.records
            judge.staged += sl.staged
            if sl.part and sl.checker is not None:
                checker.absorb(sl.checker)
                judge.add(_duplicates(conn, job, sl.part))
        last = slices[-1]
        merger.checker = checker
        merger.trailer, merger._trailer_line, merger.line = (
            last.trailer,
            last.trailer_line,
            last.lines,
        )
        merger.finish_checks()
        judge.add(merger.findings)
        judge.rejected |= checker.rejected_lines
        billed = Billed.merge(sl.billed for sl in slices)
        return _finish(conn, judge, "hot", slices[0].dialect, len(slices), billed)
    finally:
        conn.close()
