"""The portal's words: every ``_('...')`` of its templates is declared in ``words.py``, so the
catalog check (tests/documents/test_i18n.py) requires its translation in all six languages;
none is declared unused."""

from __future__ import annotations

import re
from pathlib import Path

from opencass.portal.words import WORDS

TEMPLATES = Path(__file__).resolve().parents[2] / "opencass" / "portal" / "templates"


def _used() -> set[str]:
    found: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        found |= set(re.findall(r"_\('([^']*)'\)", path.read_text(encoding="utf-8")))
    return found


def test_every_word_of_the_templates_is_declared_and_each_declared_word_used() -> None:
    used = _used()
    assert used, "no words found: the pattern no longer matches the templates"
    assert used - set(WORDS) == set()
    assert set(WORDS) - used == set()
