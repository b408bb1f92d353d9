"""The official EN 16931 business rules (CEN/TC 434 validation XSLT, run with Saxon-HE).

The artefacts are in ``../shared/reference/en16931/`` (sources and licence there).  A test that
needs them skips only where ``../shared`` is absent (a copy of the repository on its own); under
CI (``CI`` set) their absence is a failure.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

__all__ = ["Failure", "check_cii", "check_ubl", "rules_dir"]

SVRL = "http://purl.oclc.org/dsdl/svrl"


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed assert of the rules: its id, flag (fatal / warning) and text."""

    rule: str
    flag: str
    location: str
    text: str


def rules_dir() -> Path:
    """Where the official XSLT files are (the test is skipped, or fails in CI, without them)."""
    here = Path(__file__).resolve().parents[2]
    path = here.parent / "shared" / "reference" / "en16931"
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the EN 16931 rules are missing: {path}")
        pytest.skip("../shared/reference/en16931 is absent (a copy of the repository alone)")
    return path


@functools.cache
def _executable(name: str):  # type: ignore[no-untyped-def]
    from saxonche import PySaxonProcessor

    proc = PySaxonProcessor(license=False)
    xslt = proc.new_xslt30_processor()
    return proc, xslt.compile_stylesheet(stylesheet_file=str(rules_dir() / name))


def _run(name: str, xml: bytes) -> list[Failure]:
    proc, executable = _executable(name)
    node = proc.parse_xml(xml_text=xml.decode("utf-8"))
    svrl = executable.transform_to_string(xdm_node=node)
    root = etree.fromstring(svrl.encode("utf-8"))
    return [
        Failure(
            f.get("id", ""),
            f.get("flag", ""),
            f.get("location", ""),
            " ".join("".join(f.itertext()).split()),
        )
        for f in root.iter(f"{{{SVRL}}}failed-assert")
    ]


def check_ubl(xml: bytes) -> list[Failure]:
    """The failed asserts of a UBL 2.1 invoice or credit note."""
    return _run("EN16931-UBL-validation.xslt", xml)


def check_cii(xml: bytes) -> list[Failure]:
    """The failed asserts of a UN/CEFACT CII invoice (the XML of Factur-X)."""
    return _run("EN16931-CII-validation.xslt", xml)
