"""The PDFs' fonts: which TrueType font draws each language, registered once per process, and
text measured and broken into lines with them (the page writer is ``documents.pages``).

Fonts are TrueType files embedded (subset) in every PDF:

* Latin languages (en, fr, es, de): DejaVu Sans (Debian ``fonts-dejavu-core``); reportlab's own
  Bitstream Vera is the fallback when DejaVu is absent.
* Chinese (zh): WenQuanYi Micro Hei (Debian ``fonts-wqy-microhei``, a TrueType collection,
  sub-font 0); Japanese (ja): IPAGothic (Debian ``fonts-ipafont-gothic``, TrueType), so kanji
  take their Japanese shapes. Each falls back to the other. ``make fonts`` installs them.
  (Noto CJK is CFF-flavoured OpenType, which reportlab cannot embed.)

``OPENCASS_FONT_DIRS`` (``os.pathsep``-separated) adds directories to search first.
reportlab reads the font files (metrics, glyphs, the subsets a PDF embeds).
"""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from opencass.documents.i18n import negotiate
from opencass.errors import ConfigurationError

__all__ = [
    "MIN_HEADER_SIZE",
    "FontMissingError",
    "font_for",
    "pdf_date",
    "register_fonts",
    "wrapped",
]


class FontMissingError(ConfigurationError, RuntimeError):
    """No usable TrueType font for a script: run ``make fonts`` (installs the Debian packages)."""

    code = "FONT_MISSING"


_SYSTEM_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts")

# Family name -> candidates (file name, sub-font index) for (regular, bold).
_FAMILIES: dict[str, tuple[tuple[str, int], tuple[str, int]]] = {
    "DejaVuSans": (("DejaVuSans.ttf", 0), ("DejaVuSans-Bold.ttf", 0)),
    "WQYMicroHei": (("wqy-microhei.ttc", 0), ("wqy-microhei.ttc", 0)),
    "IPAGothic": (("ipag.ttf", 0), ("ipag.ttf", 0)),
}
# Preference order per script.
_SCRIPT_FAMILIES = {
    "latin": ("DejaVuSans", "Vera"),
    "zh": ("WQYMicroHei", "IPAGothic"),
    "ja": ("IPAGothic", "WQYMicroHei"),
}

_lock = threading.Lock()
_registered: dict[str, tuple[str, str] | None] = {}  # family -> (regular, bold) names or None
_file_index: dict[str, Path] | None = None


def _font_files() -> dict[str, Path]:
    global _file_index
    if _file_index is None:
        index: dict[str, Path] = {}
        extra = [d for d in os.environ.get("OPENCASS_FONT_DIRS", "").split(os.pathsep) if d]
        for base in [*extra, *_SYSTEM_DIRS]:
            root = Path(base)
            if not root.is_dir():
                continue
            for path in sorted(root.rglob("*.tt[fc]")):
                index.setdefault(path.name, path)
        _file_index = index
    return _file_index


def _register_family(family: str) -> tuple[str, str] | None:
    if family in _registered:
        return _registered[family]
    names: tuple[str, str] | None = None
    if family == "Vera":  # shipped inside reportlab
        pdfmetrics.registerFont(TTFont("Vera", "Vera.ttf"))
        pdfmetrics.registerFont(TTFont("VeraBd", "VeraBd.ttf"))
        names = ("Vera", "VeraBd")
    else:
        files = _font_files()
        (reg_file, reg_idx), (bold_file, bold_idx) = _FAMILIES[family]
        if reg_file in files:
            regular = family
            pdfmetrics.registerFont(TTFont(regular, files[reg_file], subfontIndex=reg_idx))
            bold = family + "-Bold"
            if bold_file in files and (bold_file, bold_idx) != (reg_file, reg_idx):
                pdfmetrics.registerFont(TTFont(bold, files[bold_file], subfontIndex=bold_idx))
            else:
                bold = regular  # the CJK fonts have no bold face
            names = (regular, bold)
    if names is not None:
        pdfmetrics.registerFontFamily(
            names[0], normal=names[0], bold=names[1], italic=names[0], boldItalic=names[1]
        )
    _registered[family] = names
    return names


def _script(lang: str) -> str:
    lang = negotiate(lang)
    return lang if lang in ("zh", "ja") else "latin"


def font_for(lang: str) -> tuple[str, str]:
    """The registered (regular, bold) font names that draw ``lang``; registers them once."""
    script = _script(lang)
    with _lock:
        for family in _SCRIPT_FAMILIES[script]:
            names = _register_family(family)
            if names is not None:
                return names
    raise FontMissingError(
        f"no TrueType font for {script!r} text: install fonts-wqy-microhei and "
        "fonts-ipafont-gothic (make fonts) or set OPENCASS_FONT_DIRS"
    )


def register_fonts() -> None:
    """Register every font now (e.g. in a worker process's initializer)."""
    for lang in ("en", "zh", "ja"):
        font_for(lang)


MIN_HEADER_SIZE = 5.0  # points: a header word is set smaller, down to this, rather than broken


def wrapped(text: str, font: str, size: float, width: float, lang: str) -> list[str]:
    """``text`` broken into lines no wider than ``width`` (points) in ``font`` at ``size``:
    between words, or between any two characters in Chinese and Japanese (or inside a word
    longer than the line)."""
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return [text]
    lines: list[str] = []
    line = ""
    units = list(text) if lang in ("zh", "ja") else text.split(" ")
    glue = "" if lang in ("zh", "ja") else " "
    for unit in units:
        trial = f"{line}{glue}{unit}" if line else unit
        if pdfmetrics.stringWidth(trial, font, size) <= width:
            line = trial
            continue
        if line:
            lines.append(line)
        line = ""
        for char in unit:  # a word longer than the line is broken where it must be
            if line and pdfmetrics.stringWidth(line + char, font, size) > width:
                lines.append(line)
                line = ""
            line += char
    if line:
        lines.append(line)
    return lines


def pdf_date(at: datetime) -> str:
    """``at`` as a PDF date string (ISO 32000 7.9.4), with its UTC offset."""
    offset = at.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"D:{at:%Y%m%d%H%M%S}{sign}{hours:02d}'{mins:02d}'"
