"""An XML billing submission is booked like a HOT file: what the decoder rejects is not booked."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import replace
from pathlib import Path

from opencass.cli.samples import sample_billing_file
from opencass.codecs.onerecord import decode_submission, encode_submission
from opencass.gateway.assess import assess
from opencass.model import AwbRecord
from opencass.store import open_store
from tests.kit.gateway import PERIOD_START, demo_config, job, spooled


def _booked(database: Path) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(database)) as conn:
        return conn.execute("SELECT record_type, awb_serial FROM ledger ORDER BY id").fetchall()


async def test_rejected_waybill_is_not_booked(tmp_path: Path) -> None:
    config = demo_config(tmp_path)
    store = await open_store(config.gateway.database)
    try:
        billing = sample_billing_file(PERIOD_START)
        awbs = [r for r in billing.records if isinstance(r, AwbRecord)]
        bad = awbs[0]
        data = encode_submission(billing, base_iri=config.gateway.public_url)
        # a wrong check digit on the first waybill: the decoder keeps the record, with an
        # error finding on its line
        old = f"<cargo:waybillNumber>{bad.awb_serial}</cargo:waybillNumber>"
        wrong = f"{bad.awb_serial[:-1]}{(int(bad.awb_serial[-1]) + 1) % 10}"
        data = data.replace(
            old.encode(), f"<cargo:waybillNumber>{wrong}</cargo:waybillNumber>".encode(), 1
        )
        bad = replace(bad, awb_serial=wrong)
        decoded = decode_submission(data)
        assert decoded.record_lines is not None and decoded.file is not None
        assert len(decoded.record_lines) == len(decoded.file.records) == len(billing.records)
        assert any(f.is_error and f.line is not None for f in decoded.findings)

        path = await spooled(store, config, data, name="billing.xml")
        summary = assess(job(config, path))
        assert summary.outcome == "partially_accepted"
        booked = _booked(config.gateway.database)
        assert booked and ("AWM", bad.awb_serial) not in booked
        others = {r.awb_serial for r in awbs[1:]}
        assert others <= {serial for _, serial in booked}
    finally:
        await store.close()


async def test_clean_xml_books_every_record(tmp_path: Path) -> None:
    config = demo_config(tmp_path)
    store = await open_store(config.gateway.database)
    try:
        billing = sample_billing_file(PERIOD_START)
        data = encode_submission(replace(billing), base_iri=config.gateway.public_url)
        path = await spooled(store, config, data, name="billing.xml")
        assert assess(job(config, path)).outcome == "accepted"
        assert len(_booked(config.gateway.database)) == len(decode_submission(data).file.records)  # type: ignore[union-attr]
    finally:
        await store.close()
