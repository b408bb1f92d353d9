"""Shared set-up for the calendar tests: the demo configuration (DE, monthly, 2026 and 2027)
plus a second CASS country (US, fortnightly, two months of 2026) with a Japanese airline."""

from __future__ import annotations

import calendar as _calendar
import re
from datetime import date
from pathlib import Path

from opencass.config import load_config
from opencass.config.demo import MILESTONES
from opencass.config.model import Config
from tests.kit.gateway import init_demo_store

TODAY = date(2026, 6, 1)
US_COUNTRY = """
[countries.US]
name = "United States"
currency = "USD"
timezone = "America/New_York"
language = "en"
office = "NYC"
"""
US_AIRLINE = """[company]
id = "usair"
kind = "airline"
legal_name = "US Air Cargo Inc."
languages = ["ja", "en"]
countries = ["US"]

[company.airline_prefixes]
US = ["001"]
"""


def _us_calendar() -> str:
    lines = ['country = "US"', "year = 2026"]
    for month in (1, 2):
        end = _calendar.monthrange(2026, month)[1]
        for n, (first, last) in enumerate(((1, 15), (16, end)), 1):
            lines += ["", "[[periods]]", f'code = "2026{month:02}{n:02}F"']
            lines += [f"billing_from = 2026-{month:02}-{first:02}"]
            lines += [f"billing_to = 2026-{month:02}-{last:02}"]
            for name, milestone in MILESTONES.items():
                lines.append(f"{name} = {milestone.after(date(2026, month, last)).isoformat()}")
    return "\n".join(lines) + "\n"


def calendar_config(tmp_path: Path) -> Path:
    """Write the configuration; its directory."""
    directory = tmp_path / "config"
    init_demo_store(directory, today=TODAY)
    with (directory / "countries.toml").open("a", encoding="utf-8") as f:
        f.write(US_COUNTRY)
    (directory / "calendars" / "US-2026.toml").write_text(_us_calendar(), "utf-8")
    (directory / "participants" / "usair.toml").write_text(US_AIRLINE, "utf-8")
    return directory


def load(directory: Path) -> Config:
    """The configuration in ``directory``."""
    return load_config(directory)


def edit_period(directory: Path, code: str, **values: str) -> None:
    """Change milestones of one period in its calendar file (``remittance_day="2026-12-21"``)."""
    path = next(p for p in (directory / "calendars").glob("*.toml") if code in p.read_text())
    text = path.read_text()
    start = text.index(f'code = "{code}"')
    end = text.find("[[periods]]", start)
    end = len(text) if end < 0 else end
    block = text[start:end]
    for key, value in values.items():
        block, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", block)
        assert n == 1, key
    path.write_text(text[:start] + block + text[end:])


def pdf_text(data: bytes, tmp_path: Path) -> str:
    """The text of a PDF, as poppler's pdftotext reads it."""
    import subprocess

    path = tmp_path / "extract.pdf"
    path.write_bytes(data)
    done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True)
    return done.stdout.decode("utf-8")
