"""What a render worker needs (reportlab and the fonts, pyhanko, the report and
invoice builders), imported by importing this module.  A fork server that names it in its
preload (``opencass.processes.PRELOAD``) forks render workers that start with all of it
loaded: importing pyhanko alone takes a worker ~1 s.  The gateway's fork server does not (its
intake workers would carry it); the test suite's processes, which make hundreds of render
pools, do (``tests/conftest.py``)."""

from __future__ import annotations

import opencass.documents.invoices
import opencass.documents.reports  # noqa: F401
from opencass.documents.pdf import register_fonts
from opencass.documents.signing import import_pyhanko

import_pyhanko()
register_fonts()
