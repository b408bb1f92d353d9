"""XML benchmark: validate + decode throughput of a ONE Record billing submission."""

from __future__ import annotations

import time
from pathlib import Path

from bench.generate import Spec, header, records
from opencass.codecs import hot, onerecord
from opencass.model import BillingFile, Dialect

OUT = Path(__file__).parent / "out"


def xml_file(waybills: int) -> Path:
    """A generated billing submission with ``waybills`` AWBs (cached in bench/out)."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"bench-{waybills}.xml"
    if not path.exists():
        spec = Spec(agents=5000)
        h = header(spec, "176", Dialect.HANDOFF)
        recs = tuple(records(spec, "176", waybills, 1))
        trailer = hot.build_trailer(h, recs, Dialect.HANDOFF, office="FRA")
        data = onerecord.encode_submission(BillingFile(Dialect.HANDOFF, h, recs, trailer))
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def bench_xml(waybills: int) -> None:
    """Print waybills/s of decode_submission next to the raw read-and-split baseline."""
    path = xml_file(waybills)
    data = path.read_bytes()
    t = time.perf_counter()
    lines = len(path.read_bytes().split(b"\n"))
    base = time.perf_counter() - t
    t = time.perf_counter()
    result = onerecord.decode_submission(data)
    secs = time.perf_counter() - t
    assert result.valid, result.findings[:3]
    n = result.counts["waybills"]
    print(f"\nXML: {path.name}: {n:,} waybills, {len(data) / 2**20:,.0f} MiB, {lines:,} lines")
    print(
        f"{'validate + decode, 1 process':44} {n / secs:>12,.0f} waybills/s   "
        f"baseline {lines / base:>12,.0f} lines/s ({n / base:,.0f} waybills/s)   "
        f"ratio {base / secs:6.3f}"
    )
