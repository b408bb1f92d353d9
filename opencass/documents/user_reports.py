"""Operator reports as documents, rendered from plain rows: the legacy migration report (CSV
and PDF) a company and the operator receive (``identity.migration`` decides what it says), and
table reports such as the risk report (``opencass risk report --format pdf``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime

from reportlab.lib.units import mm

from opencass.documents.pages import Block, Gap, Grid, Heading, render_blocks

__all__ = ["MIGRATION_HEADER", "migration_csv", "migration_pdf", "table_pdf"]

MIGRATION_HEADER = (
    "company", "company code", "user id", "login", "name", "e-mail", "last login", "rights",
    "status", "roles", "reason",
)  # fmt: skip
_WIDTHS_MM = (20, 20, 24, 24, 30, 38, 18, 10, 24, 18, 40)


def migration_csv(rows: Sequence[Sequence[str]]) -> bytes:
    """The report as CSV (UTF-8, a header row, CRLF line ends as RFC 4180 has them)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(MIGRATION_HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def migration_pdf(
    title: str, summary: Sequence[str], rows: Sequence[Sequence[str]], created: datetime
) -> bytes:
    """The report as a landscape PDF: a title, summary lines, then one row per user."""
    story: list[Block] = [Heading(line, "body") for line in summary]
    story.append(Gap(4 * mm))
    widths = [w * mm for w in _WIDTHS_MM]
    story.append(Grid(MIGRATION_HEADER, [list(r) for r in rows], widths, "LLLLLLLRLLL"))
    return render_blocks(story, lang="en", title=title, subject="user migration", landscape=True,
                      created=created, footer="opencass user migration")  # fmt: skip


def table_pdf(
    title: str, header: Sequence[str], rows: Sequence[Sequence[str]], created: datetime,
    widths_mm: Sequence[float],
) -> bytes:  # fmt: skip
    """A landscape PDF with a title and one table (the operator's reports)."""
    story: list[Block] = [Heading(title, "title"), Gap(3 * mm)]
    widths = [w * mm for w in widths_mm]
    story.append(Grid(list(header), [list(r) for r in rows], widths, "L" * len(widths)))
    return render_blocks(story, lang="en", title=title, landscape=True, created=created,
                      footer="opencass")  # fmt: skip
