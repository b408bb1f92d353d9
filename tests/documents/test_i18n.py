"""Languages: negotiation, catalogs (complete in every language), locale formatting."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from opencass.documents import i18n
from opencass.documents.i18n import LANGUAGES, negotiate, translator


@pytest.mark.parametrize(
    ("tag", "lang"),
    [
        ("en", "en"),
        ("fr-CA", "fr"),
        ("de_AT", "de"),
        ("es-419", "es"),
        ("zh-Hans", "zh"),
        ("zh_TW", "zh"),
        ("ja-JP", "ja"),
        ("pt-BR", "en"),
        ("", "en"),
        (None, "en"),
        ("not a tag!", "en"),
    ],
)
def test_negotiation_falls_back_to_a_supported_language(tag: str | None, lang: str) -> None:
    assert negotiate(tag) == lang
    assert translator(tag, "reports").lang == lang


def test_chinese_is_simplified_chinese() -> None:
    t = translator("zh", "reports")
    assert str(t.locale) == "zh_Hans_CN"


def test_translators_are_cached() -> None:
    assert translator("fr", "reports") is translator("fr-FR", "reports")


def test_every_msgid_in_code_is_translated_in_every_language() -> None:
    domains = i18n.source_domains()
    assert "reports" in domains  # the scan finds the modules that declare a domain
    problems = i18n.missing_translations()
    assert problems == [], "\n".join(problems[:40])


def test_catalog_check_catches_a_missing_translation(tmp_path: Path) -> None:
    base = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, base, ignore=shutil.ignore_patterns("*.mo"))
    po = base / "de" / "LC_MESSAGES" / "reports.po"
    text = po.read_text(encoding="utf-8")
    po.write_text(text.replace('msgstr "Seite {page} von {pages}"', 'msgstr ""'), encoding="utf-8")
    problems = i18n.missing_translations(base)
    assert any("reports/de" in p and "Page {page} of {pages}" in p for p in problems)


def test_compile_writes_mo_files_read_back(tmp_path: Path) -> None:
    base = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, base, ignore=shutil.ignore_patterns("*.mo"))
    written = i18n.compile_catalogs(base)
    assert {p.parent.parent.name for p in written} >= set(LANGUAGES)
    from babel.messages.mofile import read_mo

    with (base / "ja" / "LC_MESSAGES" / "reports.mo").open("rb") as fh:
        catalog = read_mo(fh)
    assert catalog.get("Page {page} of {pages}").string == "{page} / {pages} ページ"


@pytest.mark.parametrize(
    ("lang", "money", "number", "day"),
    [
        ("en", "€1,234,567.46", "12,345.60", "22 Nov 2026"),
        ("fr", "1\u202f234\u202f567,46\xa0€", "12\u202f345,60", "22 nov. 2026"),
        ("es", "1.234.567,46\xa0€", "12.345,60", "22 nov 2026"),
        ("de", "1.234.567,46\xa0€", "12.345,60", "22.11.2026"),
        ("zh", "€1,234,567.46", "12,345.60", "2026年11月22日"),
        ("ja", "€1,234,567.46", "12,345.60", "2026/11/22"),
    ],
)
def test_locale_formatting(lang: str, money: str, number: str, day: str) -> None:
    t = translator(lang, "reports")
    assert t.money(Decimal("1234567.456"), "EUR") == money
    assert t.number(Decimal("12345.6"), 2) == number
    assert t.date(date(2026, 11, 22)) == day
    assert "2026" in t.datetime(datetime(2026, 11, 22, 3, 4, 5, tzinfo=UTC))


def test_number_without_digits_keeps_every_digit_and_money_uses_currency_digits() -> None:
    t = translator("en", "reports")
    assert t.number(Decimal("12345.6789")) == "12,345.6789"
    assert t.number(7) == "7"
    assert t.money(Decimal("1234.5"), "JPY").endswith("1,235")  # yen have no minor unit
    assert t.percent(Decimal("0.05")) == "5%"
    assert translator("fr", "reports").percent(Decimal("0.055"), 1) == "5,5\xa0%"


def test_translation_and_fallback_to_msgid() -> None:
    assert translator("de", "reports")("Page {page} of {pages}") == "Seite {page} von {pages}"
    assert translator("de", "reports")("no such message") == "no such message"
    assert translator("de", "no-such-domain")("Page {page} of {pages}") == "Page {page} of {pages}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_fast_number_formatting_matches_babel(lang: str) -> None:
    import random

    from babel.numbers import format_decimal

    t = translator(lang, "reports")
    rng = random.Random(5)
    values = [Decimal(0), Decimal("-0.004"), Decimal("999.995"), Decimal("-1234567.891")]
    values += [
        Decimal(rng.randrange(-(10**12), 10**12)).scaleb(-rng.randrange(0, 5)) for _ in range(300)
    ]
    for digits in (0, 1, 2, 3, 4):
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        for v in values:
            q = v.quantize(Decimal(1).scaleb(-digits), rounding="ROUND_HALF_UP")
            assert t.number(v, digits) == format_decimal(q, format=pattern, locale=t.locale), v
    counts = [
        0,
        7,
        -12,
        1234,
        56789,
        10**9 + 7,
        *(rng.randrange(-(10**9), 10**9) for _ in range(200)),
    ]
    for n in counts:  # a count (an int) takes the fast way too, and reads as Babel has it
        assert t.number(n) == format_decimal(n, locale=t.locale), n


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_number_without_digits_is_babels_each_time_it_is_asked(lang: str) -> None:
    """Such numbers (rates) are formatted once per translator and remembered."""
    from babel.numbers import format_decimal

    t = translator(lang, "reports")
    values = [Decimal("19"), Decimal("19.0"), Decimal("7.50"), Decimal("7.5"), Decimal("-0.125")]
    values += [Decimal("1234567.5"), Decimal("19"), Decimal("7.50")]
    expected = [format_decimal(v, locale=t.locale, decimal_quantization=False) for v in values]
    assert [t.number(v) for v in values] == expected
