"""An XML billing submission is booked like a HOT file: what the decoder rejects is not booked."""

from __future__ import annotations

from contextlib import closing
from dataclasses import replace
from pathlib import Path

from opencass.cli.samples import sample_billing_file
from opencass.codecs.onerecord import decode_submission, encode_submission
from opencass.gateway.assess import assess
from opencass.model import AwbRecord
from opencass.store import open_store
from tests.kit.db import db_connect
from tests.kit.gateway import PERIOD_START, demo_config, job, spooled


def _booked(database: Path) -> list[tuple[str, str]]:
    with closing(db_connect(database)) as conn:
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


async def test_a_file_stopped_after_records_streamed_books_none_of_them(tmp_path: Path) -> None:
    # the records stream into the booking as they are read; a schema error in the last waybill
    # stops the file: what streamed before is not booked, the file is rejected
    config = demo_config(tmp_path)
    store = await open_store(config.gateway.database)
    try:
        data = encode_submission(sample_billing_file(PERIOD_START))
        last = data.rindex(b"<cargo:waybillPrefix>")
        data = data[:last] + b"<cargo:bogus>1</cargo:bogus>" + data[last:]
        path = await spooled(store, config, data, name="billing.xml")
        summary = assess(job(config, path))
        assert summary.outcome == "rejected"
        assert _booked(config.gateway.database) == []
        codes = [f.code for f in await store.findings("F1")]
        assert codes[0] == "XML_SCHEMA_INVALID", codes
    finally:
        await store.close()


async def test_the_decoders_findings_come_before_the_rules(tmp_path: Path) -> None:
    # a wrong check digit (the decoder) and an agent not in the country (the rules): the
    # report lists the decoder's first, as when the file was decoded whole
    config = demo_config(tmp_path)
    store = await open_store(config.gateway.database)
    try:
        billing = sample_billing_file(PERIOD_START)
        awbs = [r for r in billing.records if isinstance(r, AwbRecord)]
        stranger = replace(awbs[-1], agent_code="12345610015")
        records = tuple(stranger if r is awbs[-1] else r for r in billing.records)
        data = encode_submission(replace(billing, records=records))
        serial = awbs[0].awb_serial
        wrong = f"{serial[:-1]}{(int(serial[-1]) + 1) % 10}"
        data = data.replace(f">{serial}<".encode(), f">{wrong}<".encode(), 1)
        path = await spooled(store, config, data, name="billing.xml")
        assert assess(job(config, path)).outcome == "partially_accepted"
        codes = [f.code for f in await store.findings("F1")]
        assert codes.index("AWB_CHECK_DIGIT") < codes.index("AGENT_UNKNOWN"), codes
    finally:
        await store.close()


async def test_a_submission_over_the_xml_limit_is_refused_unread(tmp_path: Path) -> None:
    config = demo_config(tmp_path)
    store = await open_store(config.gateway.database)
    try:
        data = encode_submission(sample_billing_file(PERIOD_START))
        path = await spooled(store, config, data, name="billing.xml")
        summary = assess(replace(job(config, path), max_xml_bytes=len(data) - 1))
        assert summary.outcome == "rejected"
        assert [f.code for f in await store.findings("F1")] == ["FILE_TOO_LARGE"]
        assert _booked(config.gateway.database) == []
    finally:
        await store.close()
