"""The close's large-period machinery gives the same bytes as the plain path.

A close streams the ledger (``LedgerRows``), copies hand-off lines booked in the hand-off
dialect instead of re-encoding them, builds documents lazily and may build them in two
processes.  Each shortcut is checked here against the straightforward computation.
"""

from __future__ import annotations

import os
import re
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bench.generate import Spec, agent_codes, airline_prefixes, header, records
from opencass.billing.closelock import take
from opencass.billing.closing import STAGING, run_close, write_documents
from opencass.codecs.hot.writer import HotWriter
from opencass.config.model import Company, CompanyKind, Config, Country, GatewaySettings, Period
from opencass.model import AwbRecord, CorrectionRecord, Dialect, OtherChargesRecord
from opencass.settlement.close import (
    BookedRow,
    RowsSource,
    close_period,
    collect_items,
    handoff_file,
)
from opencass.store.connect import connect_sync, migrate_sync
from opencass.store.ledger import LedgerRows
from tests.kit.db import db_connect

SPEC = Spec(awbs=600, agents=12, airlines=3, seed=7)
COUNTRY = Country("DE", "Germany", "EUR", "Europe/Berlin", office="FRA")
ZONE = ZoneInfo("Europe/Berlin")
START, END = date(2026, 11, 1), date(2026, 11, 30)


def _at(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 12, tzinfo=ZONE)


PERIOD = Period(
    "DE", "20261101M", START, END,
    _at(END + timedelta(days=3)), _at(END + timedelta(days=5)), _at(END + timedelta(days=10)),
    _at(END + timedelta(days=13)), _at(END + timedelta(days=15)),
    END + timedelta(days=20), END + timedelta(days=22),
)  # fmt: skip
REFERENCE = datetime(2026, 12, 16, 11, 0, tzinfo=UTC)


def _rows() -> list[BookedRow]:
    """Generated billing booked as the ledger books it (hand-off lines, every fifth late)."""
    rows: list[BookedRow] = []
    n = 0
    for prefix in airline_prefixes(SPEC.airlines):
        w = HotWriter(header(SPEC, prefix, Dialect.HANDOFF), Dialect.HANDOFF)
        for rec in records(SPEC, prefix, SPEC.awbs // SPEC.airlines, 1):
            n += 1
            agent = currency = reference = ""
            if isinstance(rec, AwbRecord | CorrectionRecord):
                agent, currency = rec.agent_code, rec.currency
            if isinstance(rec, CorrectionRecord | OtherChargesRecord):
                reference = rec.reference
            line = w.line(rec).rstrip("\n")
            # a reserved position carrying text must come out blank in the hand-off file
            if rec.record_id == "AWM":  # columns 239-249 are reserved
                line = line[:238] + "RESERVEDXYZ" + line[249:]
            rows.append(
                BookedRow(n, rec.record_id, rec.airline_prefix, rec.awb_serial, agent,
                          reference, currency, n % 5 == 0, "hot-handoff", line)
            )  # fmt: skip
    return rows


def _parties() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    agents = {f"a{i}": (code,) for i, code in enumerate(agent_codes(SPEC))}
    airlines = {f"air{p}": (p,) for p in airline_prefixes(SPEC.airlines)}
    return agents, airlines


def _close(source: object) -> dict[tuple[str, str], bytes]:
    agents, airlines = _parties()
    result = close_period(
        source,  # type: ignore[arg-type]
        country=COUNTRY, period=PERIOD, reference=REFERENCE, agents=agents, airlines=airlines,
    )  # fmt: skip
    return {(d.company, d.name): d.data for d in result.documents}


def test_copied_handoff_lines_equal_encoded_ones() -> None:
    rows = _rows()
    docs = _close(rows)
    _, written, _ = collect_items(rows)
    agents, airlines = _parties()
    checked = 0
    for company, (code,) in {**agents, **airlines}.items():
        is_agent = company.startswith("a") and not company.startswith("air")
        mine = [
            b for b in written if (b.row.agent_code if is_agent else b.row.airline_prefix) == code
        ]
        expected = handoff_file(
            mine, COUNTRY, PERIOD, REFERENCE,
            agent_code=code if is_agent else "", airline_prefix="" if is_agent else code,
        )  # fmt: skip
        name = next(n for (c, n) in docs if c == company and n.endswith(f"_{code}.hot"))
        assert docs[(company, name)] == expected
        checked += 1
    assert checked == len(agents) + len(airlines)
    some = next(v for (c, n), v in docs.items() if n.endswith(".hot") and c.startswith("air"))
    assert b"RESERVEDXYZ" not in some  # reserved text blanked
    assert any(line[33:34] == b"L" for line in some.splitlines()[1:-1])  # late flag set


def _ledger(path: Path, rows: list[BookedRow]) -> None:
    conn = connect_sync(path)
    migrate_sync(conn)
    now = "2026-12-01T00:00:00+00:00"
    conn.execute(
        "INSERT INTO files (id, company, name, sandbox, sha256, size, received_at, spool_path,"
        " state, country, period, updated_at) VALUES ('F1', 'x', 'x', 0, 'h', 0, ?, '',"
        " 'archived', 'DE', '20261101M', ?)",
        (now, now),
    )
    conn.executemany(
        "INSERT INTO ledger (id, file_id, line, record_type, country, period, airline_prefix,"
        " awb_serial, agent_code, reference, currency, late, payload_format, payload)"
        " VALUES (?, 'F1', 1, ?, 'DE', '20261101M', ?, ?, ?, ?, ?, ?, ?, ?)",
        [(r.id, r.record_type, r.airline_prefix, r.awb_serial, r.agent_code, r.reference,
          r.currency, int(r.late), r.payload_format, r.payload) for r in rows],
    )  # fmt: skip
    conn.close()


def test_ledger_source_equals_rows_in_memory(tmp_path: Path) -> None:
    rows = _rows()
    db = tmp_path / "opencass.db"
    _ledger(db, rows)
    source = LedgerRows(db, "DE", "20261101M")
    assert [r.id for r in source.booking_order()] == [r.id for r in rows]
    assert _close(source) == _close(RowsSource(rows))


def _config(data_dir: Path) -> Config:
    agents, airlines = _parties()
    companies = {
        cid: Company(cid, CompanyKind.AGENT, cid, countries=("DE",), agent_codes={"DE": codes})
        for cid, codes in agents.items()
    } | {
        cid: Company(cid, CompanyKind.AIRLINE, cid, countries=("DE",),
                     airline_prefixes={"DE": codes})
        for cid, codes in airlines.items()
    }  # fmt: skip
    return Config(
        data_dir, GatewaySettings(data_dir=data_dir), {"DE": COUNTRY}, companies, {},
        {"DE": (PERIOD,)},
    )  # fmt: skip


@pytest.mark.parametrize("workers", [1, 2])
def test_written_documents_are_the_planned_bytes(tmp_path: Path, workers: int) -> None:
    rows = _rows()
    config = _config(tmp_path)
    _ledger(config.gateway.database, rows)
    result = run_close(config, "DE", "20261101M", REFERENCE)
    # a temporary an older version left in an outbox is removed, never published
    legacy = config.gateway.mailboxes_dir / "a0" / "outbox" / ".old.abc.close-tmp"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"partial")
    # a crashed write's staging directory is removed; a live writer's is left alone
    staging = config.gateway.data_dir / STAGING
    dead, alive = staging / "dead", staging / "alive"
    for d in (dead, alive):
        d.mkdir(parents=True)
        (d / "000000").write_bytes(b"half a document")
    (dead / ".writer.lock").write_text("{}")  # nobody holds it
    held = take(alive / ".writer.lock", {"pid": os.getpid()})
    assert held is not None
    try:
        paths = write_documents(config, result, workers=workers)
    finally:
        os.close(held)
    assert not legacy.exists() and not dead.exists()
    assert (alive / "000000").exists()
    assert sorted(p.name for p in staging.iterdir()) == ["alive"]  # this run's own is gone
    on_disk = {(p.parent.parent.name, p.name): p.read_bytes() for p in paths}
    assert on_disk == {(d.company, d.name): d.data for d in result.documents}
    assert len(on_disk) == 3 * (SPEC.agents + SPEC.airlines)
    leftovers = [p for p in config.gateway.mailboxes_dir.rglob(".*")]
    assert leftovers == []


def test_a_failing_builder_fails_the_write(tmp_path: Path) -> None:
    rows = _rows()
    config = _config(tmp_path)
    _ledger(config.gateway.database, rows)
    result = run_close(config, "DE", "20261101M", REFERENCE)
    db_connect(config.gateway.database).execute("DROP TABLE ledger").connection.commit()
    with pytest.raises((RuntimeError, sqlite3.Error)):
        write_documents(config, result, workers=2)
    published = [p for p in config.gateway.mailboxes_dir.rglob("*") if p.suffix == ".hot"]
    assert published == []  # nothing renamed into place when a document could not be built


def _odd_rows() -> list[BookedRow]:
    """``_rows`` with what pairing in parts must handle: an original whose revision comes much
    later, a revision without its original, and an AWB the ledger holds twice."""
    rows = _rows()
    n = len(rows)
    halves = [r for r in rows if r.record_type in ("CCO", "CCR")]
    original, revised = halves[0], halves[1]
    assert (original.record_type, revised.record_type) == ("CCO", "CCR")
    late = revised._replace(id=n + 1)  # the revision of the first pair, booked last
    rows = [r for r in rows if r.id != revised.id] + [late]
    lone = halves[3]._replace(id=n + 2)  # a second copy of a revision: left unpaired
    awb = next(r for r in rows if r.record_type == "AWM")
    return [*rows, lone, awb._replace(id=n + 3)]


@pytest.mark.parametrize("parts", [2, 3])
def test_netting_in_parts_equals_netting_in_one_pass(tmp_path: Path, parts: int) -> None:
    from opencass.settlement.close import in_turn

    rows = _odd_rows()
    db = tmp_path / "opencass.db"
    _ledger(db, rows)
    agents, airlines = _parties()
    results = []
    for source, run in (
        (RowsSource(rows), None),
        (RowsSource(rows), in_turn),
        (LedgerRows(db, "DE", "20261101M"), in_turn),
    ):
        results.append(
            close_period(
                source,
                country=COUNTRY,
                period=PERIOD,
                reference=REFERENCE,
                agents=agents,
                airlines=airlines,
                run=run,
                parts=parts,
            )
        )
    one, *split = results
    assert one.unpaired and one.settlement.summary.corrections
    for r in split:
        assert r.settlement == one.settlement
        assert r.unpaired == one.unpaired
        assert r.documents == one.documents


def test_a_part_is_the_same_rows_in_sql_and_in_memory(tmp_path: Path) -> None:
    from opencass.settlement.close import part_of

    rows = _rows()[:40]
    serials = ["", "7", "A", "12", "1A", "ÄÖ", "62144154", "00000001", "9" * 11]
    rows += [rows[i]._replace(id=1000 + i, awb_serial=s) for i, s in enumerate(serials)]
    db = tmp_path / "opencass.db"
    _ledger(db, rows)
    ledger, memory = LedgerRows(db, "DE", "20261101M"), RowsSource(rows)
    for n in (2, 3):
        seen = []
        for k in range(n):
            ids = [r.id for r in ledger.booking_order((k, n))]
            assert ids == [r.id for r in memory.booking_order((k, n))]
            assert all(part_of(r.awb_serial, n) == k for r in ledger.booking_order((k, n)))
            seen += ids
        assert sorted(seen) == [r.id for r in rows]  # every row in exactly one part
    assert len({part_of(r.awb_serial, 2) for r in rows}) == 2


def test_run_close_nets_in_two_processes_as_in_one(tmp_path: Path) -> None:
    import opencass.settlement.close as close_module

    rows = _odd_rows()
    config = _config(tmp_path)
    _ledger(config.gateway.database, rows)
    one = run_close(config, "DE", "20261101M", REFERENCE)
    pids = tmp_path / "pids"
    net_part = close_module._net_part

    def spy(*args: object) -> object:
        with pids.open("a") as f:
            f.write(f"{os.getpid()}\n")
        return net_part(*args)  # type: ignore[arg-type]

    close_module._net_part = spy  # type: ignore[assignment]
    try:
        two = run_close(config, "DE", "20261101M", REFERENCE, workers=2)
    finally:
        close_module._net_part = net_part
    assert len(set(pids.read_text().split())) == 2  # the parts were netted by two processes
    assert two.settlement == one.settlement
    assert two.unpaired == one.unpaired
    assert two.documents == one.documents


def _exit_hard() -> int:
    os._exit(3)


class _UnpicklableError(Exception):
    def __reduce__(self) -> Any:
        raise TypeError("no")


def _raise_unpicklable() -> int:
    raise _UnpicklableError("the reason")


def test_forked_jobs_return_in_order_and_raise_what_a_child_raised() -> None:
    from opencass.billing.closing import forked

    assert forked([lambda: os.getpid(), lambda: "b", lambda: [3]])[1:] == ["b", [3]]
    assert forked([lambda: os.getpid(), lambda: os.getpid()])[1] != os.getpid()
    with pytest.raises(ZeroDivisionError):
        forked([lambda: 1, lambda: 1 // 0])
    with pytest.raises(KeyError):  # the first failed job's exception, every job waited for
        forked([lambda: {}["x"], lambda: 1 // 0])
    with pytest.raises(RuntimeError, match="failed"):
        forked([lambda: 1, _exit_hard])
    with pytest.raises(RuntimeError, match="_UnpicklableError: the reason"):
        forked([lambda: 1, _raise_unpicklable])


@pytest.mark.parametrize("rounding", ["line", "document"])
def test_netting_in_parts_with_tax_equals_one_pass(tmp_path: Path, rounding: str) -> None:
    # the VAT sums per agent and per airline are merged from the parts; tax rounded per
    # document keeps running totals in booking order, so that close is netted in one pass
    from dataclasses import replace

    from opencass.settlement.close import in_turn
    from opencass.settlement.tax import TaxEngine
    from tests.kit.gateway import demo_config

    demo = demo_config(tmp_path / "demo").countries["DE"].invoicing
    invoicing = replace(demo, tax_rounding=rounding)
    country = replace(COUNTRY, invoicing=invoicing)
    agents, airlines = _parties()
    rows = _odd_rows()
    results = []
    for run in (None, in_turn):
        engine = TaxEngine(
            country, PERIOD, registered_agents=[c for v in agents.values() for c in v],
            established_airlines=[p for v in airlines.values() for p in v],
        )  # fmt: skip
        results.append(
            close_period(
                RowsSource(rows),
                country=country,
                period=PERIOD,
                reference=REFERENCE,
                agents=agents,
                airlines=airlines,
                tax=engine,
                run=run,
                parts=2,
            )
        )
    one, two = results
    assert two.settlement == one.settlement
    assert two.documents == one.documents
    vat = [d for d in one.documents if d.name.endswith(".csv") and b"\nVAT," in b"\n" + d.data]
    taxed = [d for d in vat if not re.search(rb",VAT,[^,]*,0\.00,", d.data)]
    assert taxed, "the generated period must carry VAT for this test to compare anything"


def test_fewer_collections_restores_the_thresholds_when_the_last_close_ends() -> None:
    import gc

    from opencass.processes import fewer_collections

    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold()[0] == 50_000 and gc.get_freeze_count() > 0
        with fewer_collections():  # another close, in another thread of the process
            pass
        assert gc.get_threshold()[0] == 50_000 and gc.get_freeze_count() > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_writing_plans_with_fewer_collections_and_starts_each_writeback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The paths of every document are made before the build starts: with the default
    thresholds they set off full collections over all the close holds (measured: 2.9 s of a
    1M-AWB close).  Each built document's writeback starts at once, so the one sync() that
    makes the close durable has little left to write."""
    import gc

    import opencass.billing.closing as closing

    rows = _rows()
    config = _config(tmp_path)
    _ledger(config.gateway.database, rows)
    result = run_close(config, "DE", "20261101M", REFERENCE)
    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []
    real_remove = closing.remove_temporaries

    def remove_temporaries(outbox: Path) -> None:  # runs while the outboxes are planned
        seen.append(gc.get_threshold())
        real_remove(outbox)

    advised: list[tuple[str, int]] = []
    real_advise = os.posix_fadvise

    def advise(fd: int, offset: int, length: int, what: int) -> None:
        advised.append((os.readlink(f"/proc/self/fd/{fd}"), what))
        real_advise(fd, offset, length, what)

    monkeypatch.setattr(closing, "remove_temporaries", remove_temporaries)
    monkeypatch.setattr(os, "posix_fadvise", advise)
    paths = write_documents(config, result, workers=1)
    assert seen and all(t[0] == 50_000 for t in seen)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    assert len(advised) == len(paths)
    assert {what for _, what in advised} == {os.POSIX_FADV_DONTNEED}
    staging = config.gateway.data_dir / STAGING
    assert all(Path(name).parent.parent == staging for name, _ in advised)
