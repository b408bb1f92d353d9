"""Languages of the documents the gateway sends: message catalogs and locale formatting.

Six languages are supported (:data:`LANGUAGES`). Each document family has its own gettext
domain (``reports``, ``invoices``, ``calendar``) with one catalog per language in
``opencass/locale/<lang>/LC_MESSAGES/<domain>.po``, written by the family's owner and compiled
to ``.mo`` by the build (``make catalogs``, i.e. ``python -m opencass.documents.i18n compile``).
A catalog whose ``.mo`` is missing or older than its ``.po`` is read from the ``.po`` instead,
so a fresh checkout works before the build step ran.

Modules that translate declare their domain with a module-level ``I18N_DOMAIN = "<domain>"``
and mark strings with ``_("...")`` (or ``N_("...")`` for strings translated later); the
catalog check (:func:`missing_translations`, run by the tests) extracts those msgids with
Babel's extractor and requires a non-empty, placeholder-compatible translation in every
language.

Usage::

    t = translator(company.language, "reports")
    _ = t.gettext
    _("Payment Summary"), t.money(Decimal("1234.5"), "EUR"), t.date(period_end)
"""

from __future__ import annotations

import gettext as _gettext
import io
import re
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date as _date
from datetime import datetime as _datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path

from babel import Locale, negotiate_locale
from babel.dates import format_date, format_datetime
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from babel.numbers import (
    format_currency,
    format_decimal,
    format_percent,
    get_currency_precision,
    get_decimal_symbol,
    get_group_symbol,
    get_minus_sign_symbol,
)

from opencass.documents.choices import LANGUAGES
from opencass.files import write_atomic

__all__ = [
    "DOMAINS",
    "LANGUAGES",
    "LOCALE_DIR",
    "Translator",
    "compile_catalogs",
    "missing_translations",
    "negotiate",
    "translator",
]

DOMAINS: tuple[str, ...] = ("reports", "invoices", "calendar")

# The Babel locale behind each language (formatting of numbers, dates and currencies).
_LOCALE_IDS = {
    "en": "en_GB",
    "fr": "fr_FR",
    "es": "es_ES",
    "de": "de_DE",
    "zh": "zh_Hans_CN",
    "ja": "ja_JP",
}

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"

_QUANTA = {d: Decimal(1).scaleb(-d) for d in range(5)}  # 1, 0.1, ..., 0.0001
_PLACEHOLDER = re.compile(r"\{[^{}]*\}|%\([a-z_]+\)[sd]")


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark ``message`` for extraction without translating it now."""
    return message


def negotiate(lang: str | None) -> str:
    """The supported language closest to ``lang`` ("fr-CA" -> "fr", "zh_TW" -> "zh"), else "en"."""
    if not lang:
        return "en"
    tag = lang.strip().replace("-", "_")
    if tag in LANGUAGES:
        return tag
    found = negotiate_locale([tag, tag.lower()], list(LANGUAGES), sep="_")
    if found:
        return str(found)
    try:
        parsed = Locale.parse(tag)
    except (ValueError, TypeError, LookupError):
        return "en"
    return parsed.language if parsed.language in LANGUAGES else "en"


def _catalog_path(lang: str, domain: str, suffix: str, base: Path = LOCALE_DIR) -> Path:
    return base / lang / "LC_MESSAGES" / f"{domain}{suffix}"


def _load_catalog(lang: str, domain: str) -> Catalog | None:
    po = _catalog_path(lang, domain, ".po")
    mo = _catalog_path(lang, domain, ".mo")
    try:
        if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
            with mo.open("rb") as fh:
                return read_mo(fh)
        if po.exists():
            with po.open("rb") as fh:
                return read_po(fh, locale=_LOCALE_IDS[lang], domain=domain)
    except (OSError, ValueError) as exc:  # a broken catalog must not stop a close
        print(f"opencass.i18n: cannot read {domain} catalog for {lang}: {exc}", file=sys.stderr)
    return None


@dataclass(slots=True)
class Translator:
    """Translation and locale formatting for one language and one gettext domain."""

    lang: str
    domain: str
    locale: Locale
    _messages: dict[str, str] = field(default_factory=dict, repr=False)
    _plurals: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _plural_fn: object = field(default=None, repr=False)
    _symbols: dict[int, str] | None = field(default=None, repr=False)
    _dates: dict[_date, str] = field(default_factory=dict, repr=False)  # a period has ~30
    _plain: dict[str, str] = field(default_factory=dict, repr=False)  # number(v), no digits

    # -- messages -------------------------------------------------------------------------
    def gettext(self, msgid: str) -> str:
        """The translation of ``msgid`` (``msgid`` itself when the catalog lacks it)."""
        return self._messages.get(msgid) or msgid

    __call__ = gettext

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """Plural-aware translation (catalog plural rules; English rule as fallback)."""
        forms = self._plurals.get(singular)
        if forms and callable(self._plural_fn):
            index = int(self._plural_fn(n))
            if 0 <= index < len(forms) and forms[index]:
                return forms[index]
        return singular if n == 1 else plural

    # -- formatting -----------------------------------------------------------------------
    def money(self, amount: Decimal | int, currency: str) -> str:
        """``amount`` in ``currency``, rounded half up to the currency's digits, per locale."""
        quantum = Decimal(1).scaleb(-get_currency_precision(currency))
        value = Decimal(amount).quantize(quantum, rounding=ROUND_HALF_UP)
        return str(format_currency(value, currency, locale=self.locale))

    def number(self, value: Decimal | int, digits: int | None = None) -> str:
        """A grouped number; ``digits`` fixes the fraction digits, else it is shown as is."""
        if digits is None and isinstance(value, int):  # counts: the fast way below
            digits = 0
        if digits is None:  # rates and the like: few values, each formatted once
            key = str(value)  # not the value: Decimal("19") == Decimal("19.0"), shown apart
            text = self._plain.get(key)
            if text is None:
                text = str(format_decimal(value, locale=self.locale, decimal_quantization=False))
                if len(self._plain) < 4096:
                    self._plain[key] = text
            return text
        quantum = _QUANTA.get(digits) or Decimal(1).scaleb(-digits)
        value = Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP)
        if self._symbols is None:
            self._symbols = str.maketrans(
                {
                    ",": get_group_symbol(self.locale),
                    ".": get_decimal_symbol(self.locale),
                    "-": get_minus_sign_symbol(self.locale),
                }
            )
        # Python's grouping with the locale's symbols: what Babel's "#,##0.00" pattern gives
        # for these locales (a test compares them), at a fraction of the cost.
        return f"{value:,.{digits}f}".translate(self._symbols)

    def percent(self, value: Decimal | float | int, digits: int | None = None) -> str:
        """A fraction as a percentage (``Decimal("0.05")`` -> "5 %" in French)."""
        if digits is None:
            return str(format_percent(value, locale=self.locale, decimal_quantization=False))
        base = self.locale.percent_formats[None].pattern  # e.g. "#,##0\u202f%"
        pattern = base.replace("#,##0", "#,##0" + ("." + "0" * digits if digits > 0 else ""), 1)
        return str(format_percent(value, format=pattern, locale=self.locale))

    def date(self, d: _date) -> str:
        """A date in the locale's medium format ("22 Nov 2026", "2026年11月22日")."""
        text = self._dates.get(d)
        if text is None:
            text = str(format_date(d, "medium", locale=self.locale))
            if len(self._dates) < 4096:
                self._dates[d] = text
        return text

    def datetime(self, dt: _datetime) -> str:
        """A date and time in the locale's medium format, in ``dt``'s own time zone."""
        return str(format_datetime(dt, "medium", tzinfo=dt.tzinfo, locale=self.locale))


@lru_cache(maxsize=64)
def _translator(lang: str, domain: str) -> Translator:
    locale = Locale.parse(_LOCALE_IDS[lang])
    t = Translator(lang=lang, domain=domain, locale=locale)
    catalog = _load_catalog(lang, domain)
    if catalog is not None:
        for message in catalog:
            if not message.id or message.fuzzy:
                continue
            if isinstance(message.id, tuple):
                forms = message.string if isinstance(message.string, tuple) else ()
                t._plurals[message.id[0]] = tuple(forms)
            elif message.string:
                t._messages[str(message.id)] = str(message.string)
        try:
            t._plural_fn = _gettext.c2py(catalog.plural_expr)
        except (ValueError, AttributeError):
            t._plural_fn = None
    return t


_lock = threading.Lock()


_made: dict[tuple[str | None, str], Translator] = {}  # read without the lock: one lookup


def translator(lang: str | None, domain: str) -> Translator:
    """The (cached) translator for ``lang`` (negotiated to a supported language) and ``domain``."""
    found = _made.get((lang, domain))
    if found is not None:  # a report asks for it for every amount it shows
        return found
    with _lock:
        made = _translator(negotiate(lang), domain)
        if len(_made) < 256:
            _made[(lang, domain)] = made
        return made


# -- build step and checks --------------------------------------------------------------------


def compile_catalogs(base: Path = LOCALE_DIR) -> list[Path]:
    """Compile each ``<lang>/LC_MESSAGES/<domain>.po`` under ``base``; the ``.mo`` paths."""
    written = []
    for po in sorted(base.glob("*/LC_MESSAGES/*.po")):
        lang = po.parent.parent.name
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=_LOCALE_IDS.get(lang, lang), domain=po.stem)
        mo = po.with_suffix(".mo")
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        write_atomic(mo, buffer.getvalue())
        written.append(mo)
    with _lock:
        _translator.cache_clear()
        _made.clear()
    return written


_DOMAIN_DECL = re.compile(r"""^I18N_DOMAIN\s*(?::\s*\w+\s*)?=\s*["'](\w+)["']""", re.M)


def source_domains(root: Path | None = None) -> dict[str, list[Path]]:
    """Python files under ``root`` (the opencass package) grouped by their ``I18N_DOMAIN``."""
    root = root or Path(__file__).resolve().parent.parent
    found: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*.py")):
        m = _DOMAIN_DECL.search(path.read_text(encoding="utf-8"))
        if m:
            found.setdefault(m.group(1), []).append(path)
    return found


def extract_msgids(paths: Iterable[Path]) -> Iterator[tuple[str, Path, int]]:
    """Each ``_``/``N_``/``gettext`` msgid in ``paths``, with file and line (Babel's extractor)."""
    from babel.messages.extract import extract

    keywords = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
    for path in paths:
        with path.open("rb") as fh:
            for lineno, message, _comments, _context in extract(
                "python", fh, keywords=keywords, comment_tags=()
            ):
                ids = message if isinstance(message, tuple) else (message,)
                for msgid in ids[:1]:
                    if msgid:
                        yield msgid, path, lineno


def missing_translations(base: Path = LOCALE_DIR) -> list[str]:
    """Problems in the catalogs: a msgid used in code without a usable translation somewhere."""
    problems = []
    for domain, paths in sorted(source_domains().items()):
        used: dict[str, str] = {}
        for msgid, path, lineno in extract_msgids(paths):
            used.setdefault(msgid, f"{path.name}:{lineno}")
        for lang in LANGUAGES:
            po = _catalog_path(lang, domain, ".po", base)
            if not po.exists():
                problems.append(f"{domain}/{lang}: no catalog {po}")
                continue
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=_LOCALE_IDS[lang], domain=domain)
            for msgid, where in sorted(used.items()):
                msg = catalog.get(msgid)
                if msg is None or not msg.string or msg.fuzzy:
                    problems.append(f"{domain}/{lang}: no translation of {msgid!r} ({where})")
                    continue
                strings = msg.string if isinstance(msg.string, tuple) else (msg.string,)
                want = sorted(_PLACEHOLDER.findall(msgid))
                for s in strings:
                    if sorted(_PLACEHOLDER.findall(str(s))) != want:
                        problems.append(
                            f"{domain}/{lang}: placeholders differ in {msgid!r} -> {s!r}"
                        )
    return problems


def _main(argv: list[str]) -> int:
    if argv[:1] == ["compile"]:
        for mo in compile_catalogs():
            print(mo.relative_to(LOCALE_DIR.parent.parent))
        return 0
    if argv[:1] == ["check"]:
        problems = missing_translations()
        for p in problems:
            print(p)
        return 1 if problems else 0
    print("usage: python -m opencass.documents.i18n compile|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
