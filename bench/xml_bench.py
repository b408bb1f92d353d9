"""XML benchmark: a ONE Record billing submission decoded as intake decodes it (read from its
file chunk by chunk, each waybill XSD-validated and decoded, its records streamed to the
booking) against a baseline of lxml's own streaming parse of the same file with the same
per-waybill XSD validation (issue 18: ≤ 1.2× the baseline, RSS ≤ 200 MB at any size).

Each is run 3 times in a fresh process; the median and minimum time and the peak RSS are
printed, with the ratio of the medians.  ``python -m bench.xml_bench [--waybills N]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.generate import Spec, header, records
from bench.measure import peak_rss_mb
from opencass.codecs import hot, onerecord
from opencass.model import BillingFile, BillingHeader, DetailRecord, Dialect

OUT = Path(__file__).parent / "out"
RUNS = 3


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


class _Count:
    """The booking's place in the subject: counts what streams by, keeps nothing."""

    def __init__(self) -> None:
        self.records = 0

    def header(self, header: BillingHeader) -> None:
        pass

    def record(self, rec: DetailRecord, line: int) -> None:
        self.records += 1


def _subject(path: Path) -> dict[str, float]:
    sink = _Count()
    t = time.perf_counter()
    result = onerecord.decode_submission_file(path, max_bytes=1 << 40, sink=sink)
    secs = time.perf_counter() - t
    assert result.valid, result.findings[:3]
    return {"s": secs, "waybills": result.counts["waybills"], "records": sink.records}


def _baseline(path: Path) -> dict[str, float]:
    from lxml import etree

    from opencass.codecs.onerecord.safe import load_schema
    from opencass.codecs.onerecord.vocab import tag

    schema, has_waybill = load_schema(), tag("cass:hasWaybill")
    t = time.perf_counter()
    n = 0
    for _event, el in etree.iterparse(str(path), events=("end",), tag=has_waybill):
        if not schema(el):
            raise AssertionError(schema.error_log.last_error)  # type: ignore[attr-defined]
        n += 1
        el.clear(keep_tail=True)  # lxml's own streaming idiom: drop what was read
        while el.getprevious() is not None:
            del el.getparent()[0]
    return {"s": time.perf_counter() - t, "waybills": n, "records": 0}


def _run(kind: str, waybills: int) -> dict[str, float]:
    argv = [sys.executable, "-m", "bench.xml_bench", "--child", kind, "--waybills", str(waybills)]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    figures: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return figures


def bench_xml(waybills: int) -> None:
    """Print the subject's and the baseline's figures and their ratio."""
    path = xml_file(waybills)
    size = path.stat().st_size
    print(f"\nXML: {path.name}: {waybills:,} waybills, {size / 2**20:,.0f} MiB")
    medians = {}
    for kind in ("baseline", "subject"):
        runs = [_run(kind, waybills) for _ in range(RUNS)]
        times = [r["s"] for r in runs]
        medians[kind] = statistics.median(times)
        rss = max(r["rss_mb"] for r in runs)
        what = (
            "lxml iterparse + per-waybill XSD" if kind == "baseline"
            else f"decode streamed, {int(runs[0]['records']):,} records to a sink"
        )  # fmt: skip
        print(
            f"  {kind:8} {what:48} median {medians[kind]:6.2f} s  min {min(times):6.2f} s  "
            f"{runs[0]['waybills'] / medians[kind]:>9,.0f} waybills/s  peak RSS {rss:5.0f} MB"
        )
    print(f"  ratio subject/baseline {medians['subject'] / medians['baseline']:.2f} "
          "(target ≤ 1.2, RSS ≤ 200 MB)")  # fmt: skip


def main() -> None:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--waybills", type=int, default=100_000)
    p.add_argument("--child", choices=("subject", "baseline"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        path = xml_file(a.waybills)
        figures = _subject(path) if a.child == "subject" else _baseline(path)
        figures["rss_mb"] = peak_rss_mb()
        print(json.dumps(figures))
        return
    bench_xml(a.waybills)


if __name__ == "__main__":
    main()
