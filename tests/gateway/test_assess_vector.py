"""The judge's batch path (``_Judge.on_rows``) against its per-record path (``on_record``).

The same file is assessed twice into one store: once as the gateway does (clean AWB records in
array batches) and once with the reader's vector path turned off (``HotReader.scan`` replaced by
``feed``: a fault injected into our own code, not a mock of a peer).  The outcome, every finding
and every booked ledger row must be equal — on files whose AWB records break the participant
rules (an unknown agent, executed after the period, before it: booked late, tax carried that
the rules disagree with), besides the codec's own faults.
"""

from __future__ import annotations

import random
from contextlib import closing
from datetime import timedelta
from typing import Any

import pytest

from opencass.codecs.hot.layouts import AWB_HANDOFF
from opencass.codecs.hot.reader import HotReader
from opencass.config.model import Config
from opencass.gateway.assess import assess
from opencass.store import SqliteStore
from tests.kit.db import db_connect
from tests.kit.gateway import PERIOD_START, big_billing_file, job, spooled
from tests.kit.hot import agent

COLS = {f.name: (f.start - 1, f.end) for f in AWB_HANDOFF.fields}


def _put(line: str, name: str, value: str) -> str:
    a, b = COLS[name]
    assert len(value) == b - a, (name, value)
    return line[:a] + value + line[b:]


def _mutate(lines: list[str], rng: random.Random) -> list[str]:
    """Participant-rule faults on some AWB lines, and a few codec faults."""
    out = list(lines)
    awbs = [i for i, line in enumerate(out) if line.startswith("AWM")]
    end = PERIOD_START + timedelta(days=40)
    for i in rng.sample(awbs, 40):
        what = rng.choice(["agent", "after", "late", "tax", "dup", "byte", "crlf-trim"])
        line = out[i]
        if what == "agent":
            line = _put(line, "agent_code", agent(f"99{rng.randrange(10**8):08d}"))
        elif what == "after":
            line = _put(line, "execution_date", f"{end:%y%m%d}")
        elif what == "late":
            line = _put(line, "execution_date", f"{PERIOD_START - timedelta(days=9):%y%m%d}")
        elif what == "tax":
            line = _put(line, "vat_indicator", "Y")
            line = _put(line, "tax_due_airline", f"{rng.randrange(1, 10**6):08d}")
        elif what == "dup":
            line = out[rng.choice(awbs)]
        elif what == "byte":
            col = rng.randrange(250)
            line = line[:col] + rng.choice("0 9X-") + line[col + 1 :]
        else:
            line = line.rstrip()
        out[i] = line
    return out


async def _assess(config: Config, store: SqliteStore, data: bytes, file_id: str) -> Any:
    path = await spooled(store, config, data, file_id=file_id, name=f"{file_id}.hot")
    summary = assess(job(config, path, file_id))
    found = [
        (f.code, f.severity, f.line, f.field, f.columns, f.message)
        for f in await store.findings(file_id)
    ]
    with closing(db_connect(config.gateway.database)) as conn, conn:
        booked = conn.execute(
            "SELECT line, record_type, country, period, airline_prefix, awb_serial, agent_code,"
            " reference, currency, late, payload_format, payload FROM ledger"
            " WHERE file_id = ? ORDER BY line",
            (file_id,),
        ).fetchall()
        # the same AWBs are assessed again: withdraw this file's (an AWB is billed once)
        conn.execute("UPDATE ledger SET withdrawn = 1 WHERE file_id = ?", (file_id,))
    return summary.outcome, summary.counts, found, booked


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_batches_judge_and_book_as_records_do(
    env: tuple[Config, SqliteStore], monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    config, store = env
    lines = big_billing_file(200).decode().splitlines()
    edited = _mutate(lines, random.Random(seed))
    data = ("\n".join(edited) + "\n").encode()
    if seed % 2:
        data = data.replace(b"\n", b"\r\n")
    fast = await _assess(config, store, data, f"V{seed}")
    with monkeypatch.context() as m:
        m.setattr(HotReader, "scan", HotReader.feed)
        slow = await _assess(config, store, data, f"S{seed}")
    assert fast[0] == slow[0]
    assert fast[1] == slow[1]
    assert fast[2] == slow[2]
    assert fast[3] == slow[3]
    codes = {f[0] for f in fast[2]}
    assert {"AGENT_UNKNOWN", "EXECUTION_AFTER_PERIOD", "TAX_MISMATCH"} & codes


async def test_a_clean_file_is_booked_from_batches(
    env: tuple[Config, SqliteStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every AWB of a clean file goes the batch way (on_record meets none of them), and the
    late flag comes out of the batch."""
    config, store = env
    lines = big_billing_file(100).decode().splitlines()
    late = f"{PERIOD_START - timedelta(days=3):%y%m%d}"
    edited = [
        _put(line, "execution_date", late) if line.startswith("AWM") and i % 2 else line
        for i, line in enumerate(lines)
    ]
    seen: list[str] = []
    from opencass.gateway import assess as assess_module

    original = assess_module._Judge.on_record

    def spy(self: Any, rec: Any, *args: Any) -> None:
        seen.append(rec.record_id)
        original(self, rec, *args)

    monkeypatch.setattr(assess_module._Judge, "on_record", spy)
    outcome, counts, found, booked = await _assess(
        config, store, ("\n".join(edited) + "\n").encode(), "C1"
    )
    assert outcome == "accepted" and found == []
    awm = sum(line.startswith("AWM") for line in lines)
    assert (
        seen.count("AWM") == seen.count("AW1") == seen.count("CCO") == seen.count("CCR") == 0 < awm
    )
    assert counts["booked"] == len(lines) - 2 == len(booked)
    late_rows = [row for row in booked if row[1] == "AWM" and row[9]]
    assert len(late_rows) == sum(
        1 for i, line in enumerate(lines) if line.startswith("AWM") and i % 2
    )
