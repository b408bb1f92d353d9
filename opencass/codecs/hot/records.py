"""One generic reader and writer of fixed-width records, driven by the tables in ``layouts``.

Theory of operation
-------------------
Decoding a record has two paths, both derived from the same table:

* the **fast path** is a function generated once per layout when this module is imported: it
  slices the line with one ``itemgetter`` call, checks every digit field in one
  ``str.isdigit`` over their concatenation, converts each field by its kind and builds the
  frozen model instance.  Any deviation raises ``Malformed`` and nothing more;
* the **diagnostic path**, ``check_fields``, walks the table field by field and returns one
  finding for every malformed field (code, field name, columns).  It runs only for lines the
  fast path refused, so well-formed files never pay for it.

``tests/test_hot_records.py`` checks that both paths agree on random mutations.  Encoding walks
the table directly (it is never on a hot path large enough to matter).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import MISSING, fields
from datetime import date
from decimal import Decimal
from operator import itemgetter
from typing import Any

from opencass.codecs.hot.layouts import OC_SLOT, OC_SLOTS, Field, Kind, Layout
from opencass.errors import InputError
from opencass.findings import Finding, Scope, finding
from opencass.model import (
    BillingTrailer,
    OtherCharge,
    frozen_builder,
    is_currency,
    minor_units,
)

__all__ = [
    "EncodeError",
    "Malformed",
    "check_fields",
    "decoder_for",
    "encode_record",
    "values_decoder",
]


class Malformed(InputError):  # noqa: N818 - a signal between the two paths, not an error report
    """The fast path refused a line; ``check_fields`` says why."""

    code = "RECORD_MALFORMED"


class EncodeError(InputError, ValueError):
    """A model value does not fit its fixed-width field."""

    code = "FIELD_DOES_NOT_FIT"


_DIGIT_KINDS = {Kind.NUM, Kind.INT, Kind.AMOUNT, Kind.DEC1, Kind.DEC2, Kind.DATE}
_DATES: dict[str, date] = {}
_MU: dict[str, int] = {}
_ZEROS = {mu: Decimal(0).scaleb(-mu) for mu in range(5)}


def parse_date(text: str) -> date:
    """``YYMMDD`` → date (00-79 → 20xx, 80-99 → 19xx); raises Malformed when invalid."""
    found = _DATES.get(text)
    if found is not None:
        return found
    if len(text) != 6 or not text.isdigit():
        raise Malformed
    yy = int(text[:2])
    try:
        value = date(2000 + yy if yy < 80 else 1900 + yy, int(text[2:4]), int(text[4:]))
    except ValueError:
        raise Malformed from None
    if len(_DATES) < 100_000:  # dates in billing files are few; the bound is a safety net
        _DATES[text] = value
    return value


def format_date(value: date) -> str:
    """date → ``YYMMDD``."""
    if not 1980 <= value.year <= 2079:
        raise EncodeError(f"date {value} is outside the YYMMDD window 1980-2079")
    return value.strftime("%y%m%d")


def currency_units(code: str) -> int:
    """Minor units of ``code``; raises Malformed for an unknown currency."""
    found = _MU.get(code)
    if found is None:
        if not is_currency(code):
            raise Malformed
        found = _MU[code] = minor_units(code)
    return found


def _scaled(text: str, places: int) -> Decimal:
    return _ZEROS[places] if text.count("0") == len(text) else Decimal(text).scaleb(-places)


def decode_slots(text: str, places: int) -> tuple[OtherCharge, ...]:
    """The itemised other-charge slots (code, entitlement, P/C, amount) until the first blank."""
    charges: list[OtherCharge] = []
    for i in range(OC_SLOTS):
        slot = text[i * OC_SLOT : (i + 1) * OC_SLOT]
        if slot.isspace():
            if text[i * OC_SLOT :].strip():
                raise Malformed  # a used slot after a blank one
            break
        code, ent, pc, amount = slot[:2], slot[2], slot[3], slot[4:]
        if not (code.isalnum() and ent in "AC" and pc in "PC" and amount.isdigit()):
            raise Malformed
        charges.append(OtherCharge(code, ent, pc, _scaled(amount, places)))
    return tuple(charges)


# --- fast path: generated per layout -------------------------------------------------------


def _model_defaults(model: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(model):
        if f.default is not MISSING:
            out[f.name] = f.default
    return out


# The statements and the value expression decoding a field of each kind: ``{v}`` is the field's
# text, ``{x}`` a variable of its own, ``{blank}`` its width of spaces, ``{zero}`` of zeros.
_DECODE: dict[Kind, tuple[tuple[str, ...], str]] = {
    Kind.ID: ((), "{v}"),
    Kind.RES: ((), "{v}"),
    Kind.NUM: ((), "{v}"),
    Kind.CUR: ((), "{v}"),
    Kind.TEXT: ((), "{v}.rstrip()"),
    Kind.REQ: (("{x} = {v}.rstrip()", "if not {x}: raise Malformed"), "{x}"),
    Kind.NUMOPT: (
        ("{x} = {v}", "if {x} == {blank}: {x} = ''", "elif not {x}.isdigit(): raise Malformed"),
        "{x}",
    ),
    Kind.INT: ((), "int({v})"),
    Kind.INTOPT: (
        (
            "{x} = {v}",
            "if {x} == {blank}: {x} = None",
            "elif {x}.isdigit(): {x} = int({x})",
            "else: raise Malformed",
        ),
        "{x}",
    ),
    Kind.DATE: ((), "(_DATES.get({v}) or _date({v}))"),
    Kind.DATEOPT: ((), "(None if {v} == {blank} else _DATES.get({v}) or _date({v}))"),
    # Decimal("000000346290E-2") == Decimal("3462.90"), exponent included, in one call.
    Kind.AMOUNT: (("{x} = _Z[mu] if {v} == {zero} else _D({v} + ex)",), "{x}"),
    Kind.DEC1: (("{x} = _Z[1] if {v} == {zero} else _D({v} + 'E-1')",), "{x}"),
    Kind.DEC2: (("{x} = _Z[2] if {v} == {zero} else _D({v} + 'E-2')",), "{x}"),
    Kind.RATE: (
        (
            "if {v} == {rzero}: {x} = _RZ",
            "elif {v}[{point}] != '.' or not ({v}[:{point}] + {v}[{point} + 1:]).isdigit():"
            " raise Malformed",
            "else: {x} = _D({v})",
        ),
        "{x}",
    ),
    Kind.IND: (("if {v} not in {allowed}: raise Malformed",), "{v}.rstrip()"),
    Kind.SIGN: (("if {v} not in '- ': raise Malformed",), "{v}"),
    Kind.OCSLOTS: ((), "_slots({v}, mu)"),
}


def _field_code(i: int, f: Field, out: list[str]) -> str:
    """Append the statements decoding field ``i``; return the expression of its value."""
    names = {
        "v": f"v{i}",
        "x": f"x{i}",
        "blank": repr(" " * f.width),
        "zero": repr("0" * f.width),
        "allowed": repr(f.allowed),
        "point": str(f.width - 6),  # RATE: five decimals after the point
        "rzero": repr("0" * (f.width - 6) + ".00000"),
    }
    statements, expr = _DECODE[f.kind]
    if f.kind in (Kind.TEXT, Kind.IND) and f.width == 1:  # one character: blank is ''
        statements = statements if f.kind is Kind.IND else ()
        expr = "('' if {v} == ' ' else {v})"
    out.extend(line.format(**names) for line in statements)
    return expr.format(**names)


_EX = {mu: f"E-{mu}" for mu in range(5)}


def _model_expr(layout: Layout, name: str, exprs: dict[str, str], defaults: dict[str, Any]) -> str:
    if name == "reserved":
        res = [exprs[f.name] for f in layout.fields if f.kind is Kind.RES]
        return "(" + "".join(f"{r}, " for r in res) + ")"
    if name == "type_counts" and layout.model is BillingTrailer:
        pairs = [
            f"({f.name[6:]!r}, {exprs[f.name]})"
            for f in layout.fields
            if f.name.startswith("count_")
        ]
        return "(" + "".join(f"{p}, " for p in pairs) + ")"
    if name in exprs:
        return exprs[name]
    if name in defaults:
        return repr(defaults[name])
    absent = dict(layout.absent)
    if name in absent:
        return repr(absent[name])
    raise AssertionError(f"{layout.name}: model field {name} has no column and no default")


# Kinds whose decoding cannot fail once the line's digits are checked (left out of a values
# decoder when not asked for), and kinds decoded by an expression that can (kept in it)
_CANNOT_FAIL = {Kind.AMOUNT, Kind.DEC1, Kind.DEC2}
_MAY_FAIL = {Kind.DATE, Kind.DATEOPT, Kind.OCSLOTS}


def _compile(layout: Layout, wanted: tuple[str, ...] | None = None) -> Callable[[str, int], Any]:
    """The decoder of ``layout``; with ``wanted``, one that makes every check the decoder makes
    but returns only those fields' values, as a tuple (see ``values_decoder``)."""
    out: list[str] = []
    exprs: dict[str, str] = {}
    cur = next((i for i, f in enumerate(layout.fields) if f.kind is Kind.CUR), None)
    if cur is not None:
        out.append(f"mu = _MU.get(v{cur})")
        out.append(f"if mu is None: mu = _mu(v{cur})")
        out.append("ex = _EX[mu]")
    skip = set() if wanted is None else {f.name for f in layout.fields} - set(wanted)
    for i, f in enumerate(layout.fields):
        if f.name in skip and f.kind in _CANNOT_FAIL:
            continue
        exprs[f.name] = _field_code(i, f, out)
    for f in layout.fields:  # apply signs once their amounts are known
        if f.kind is Kind.SIGN and f.allowed in exprs:
            amount = exprs[f.allowed]
            out.append(f"if {exprs[f.name]} == '-': {amount} = {amount}.copy_negate()")
    digits = [i for i, f in enumerate(layout.fields) if f.kind in _DIGIT_KINDS]
    if wanted is None:
        defaults = _model_defaults(layout.model)
        args = [_model_expr(layout, f.name, exprs, defaults) for f in fields(layout.model)]
        result = "_build(" + ", ".join(args) + ")"
    else:  # what the decoder refuses is refused here too: its failing expressions evaluated
        out += [exprs[f.name] for f in layout.fields if f.name in skip and f.kind in _MAY_FAIL]
        result = "(" + "".join(f"{exprs[name]}, " for name in wanted) + ")"
    body = [
        "(" + "".join(f"v{i}, " for i in range(len(layout.fields))) + ") = v = _get(s)",
        "if not ''.join(_digits(v)).isdigit(): raise Malformed",
        *out,
        "return " + result,
    ]
    src = "def decode(s, mu):\n" + "".join(f"    {line}\n" for line in body)
    ns: dict[str, Any] = {
        "_get": itemgetter(*(slice(f.start - 1, f.end) for f in layout.fields)),
        "_digits": itemgetter(*digits) if len(digits) > 1 else (lambda v: (v[digits[0]],)),
        "_build": frozen_builder(layout.model),
        "_date": parse_date,
        "_DATES": _DATES,
        "_MU": _MU,
        "_RZ": Decimal("0.00000"),
        "_EX": _EX,
        "_mu": currency_units,
        "_D": Decimal,
        "_Z": _ZEROS,
        "_slots": decode_slots,
        "Malformed": Malformed,
    }
    exec(compile(src, f"<hot layout {layout.name}>", "exec"), ns)  # noqa: S102
    decode: Callable[[str, int], Any] = ns["decode"]
    return decode


_DECODERS: dict[int, Callable[[str, int], Any]] = {}


def decoder_for(layout: Layout) -> Callable[[str, int], Any]:
    """The fast decoder of ``layout``: ``decode(line250, default_minor_units) -> record``.

    ``default_minor_units`` scales amounts of layouts without a currency field (AW1/CC3/DC3:
    they take the currency of the record they itemise).  Raises ``Malformed``.  The line must
    be printable ASCII (the reader screens for that before it decodes).
    """
    found = _DECODERS.get(id(layout))
    if found is None:
        found = _DECODERS[id(layout)] = _compile(layout)
    return found


_VALUES: dict[tuple[int, tuple[str, ...]], Callable[[str, int], tuple[Any, ...]]] = {}


def values_decoder(layout: Layout, names: tuple[str, ...]) -> Callable[[str, int], tuple[Any, ...]]:
    """``decode(line250, default_minor_units) -> (values of names)``: the values
    ``decoder_for(layout)`` gives those fields (each a field of the layout), after every check
    it makes (it raises ``Malformed`` for the same lines), without building the record or
    converting the amounts not asked for.  For a reader that needs a few fields of many lines
    (the close nets a million AWBs from nine of their 37 fields)."""
    missing = set(names) - {f.name for f in layout.fields}
    if missing:
        raise ValueError(f"{layout.name} has no field {', '.join(sorted(missing))}")
    key = (id(layout), names)
    found = _VALUES.get(key)
    if found is None:
        found = _VALUES[key] = _compile(layout, names)
    return found


# --- diagnostic path --------------------------------------------------------------------------


def _field_problem(f: Field, v: str) -> tuple[str, str] | None:
    """(code, message) for one malformed field value, or None."""
    k = f.kind
    blank = v.isspace()
    if k in (Kind.NUM, Kind.INT, Kind.AMOUNT, Kind.DEC1, Kind.DEC2) or (
        k in (Kind.NUMOPT, Kind.INTOPT) and not blank
    ):
        if not v.isdigit():
            return "FIELD_NOT_NUMERIC", f"{f.name} must be {f.width} digits, found {v!r}"
    elif k is Kind.REQ and blank:
        return "FIELD_REQUIRED", f"{f.name} is blank"
    elif k is Kind.DATE or (k is Kind.DATEOPT and not blank):
        try:
            parse_date(v)
        except Malformed:
            return "FIELD_INVALID_DATE", f"{f.name} is not a valid YYMMDD date: {v!r}"
    elif k is Kind.RATE and not re.fullmatch(rf"\d{{{f.width - 6}}}\.\d{{5}}", v):
        shape = "0" * (f.width - 6) + ".00000"
        return "FIELD_INVALID_RATE", f"{f.name} must look like {shape}, found {v!r}"
    elif k is Kind.CUR and not is_currency(v):
        return "CURRENCY_UNKNOWN", f"{f.name} {v!r} is not an ISO 4217 currency code"
    elif k in (Kind.IND, Kind.SIGN):
        allowed = f.allowed if k is Kind.IND else "- "
        if v not in allowed:
            shown = " or ".join(repr(c) for c in allowed)
            return "FIELD_INVALID_INDICATOR", f"{f.name} must be {shown}, found {v!r}"
    return None


def check_fields(
    layout: Layout, text: str, line: int | None, scope: Scope | None = None
) -> list[Finding]:
    """One finding per malformed field of ``text`` (a 250-character line) under ``layout``.

    ``scope`` is ``Scope.FILE`` for header and trailer records, whose faults reject the file;
    their findings then carry the codes HEADER_INVALID / TRAILER_INVALID.
    """
    found: list[Finding] = []
    rid = text[:3]
    for f in layout.fields:
        problem = _field_problem(f, text[f.start - 1 : f.end])
        if problem is None:
            continue
        code, message = problem
        if scope is Scope.FILE:
            code = "HEADER_INVALID" if layout.role == "header" else "TRAILER_INVALID"
        found.append(
            finding(
                code,
                message,
                line=line,
                record_type=rid,
                field=f.name,
                columns=f.columns,
                scope=scope,
            )
        )
    return found


# --- encoding ---------------------------------------------------------------------------------


def _fixed(value: Decimal, places: int, width: int, name: str) -> str:
    scaled = abs(value).scaleb(places)
    if scaled != scaled.to_integral_value():
        raise EncodeError(f"{name}={value} has more than {places} decimal places")
    text = str(int(scaled))
    if len(text) > width:
        raise EncodeError(f"{name}={value} does not fit {width} digits")
    return text.zfill(width)


def _fit(text: str, f: Field) -> str:
    if len(text) > f.width:
        raise EncodeError(f"{f.name}={text!r} is longer than {f.width} characters")
    return text.ljust(f.width)


def _encode_slots(charges: tuple[OtherCharge, ...], places: int, f: Field) -> str:
    if len(charges) > OC_SLOTS:
        raise EncodeError(f"more than {OC_SLOTS} itemised other charges in one record")
    for c in charges:
        if not (len(c.code) == 2 and c.code.isalnum() and c.code.isascii()):
            raise EncodeError(f"other charge code {c.code!r} must be 2 letters or digits")
        if c.entitlement not in ("A", "C") or c.payment not in ("P", "C"):
            raise EncodeError(f"other charge {c.code}: entitlement A/C and payment P/C required")
    text = "".join(
        f"{c.code:<2.2}{c.entitlement:1.1}{c.payment:1.1}{_fixed(c.amount, places, 12, c.code)}"
        for c in charges
    )
    return text.ljust(f.width)


def _encode_field(f: Field, record: Any, value: Any, mu: int) -> str:
    k = f.kind
    if value is None:
        return " " * f.width
    if k in (Kind.INT, Kind.INTOPT):
        return _fit(str(value).zfill(f.width), f)
    if k in (Kind.DATE, Kind.DATEOPT):
        return format_date(value)
    if k in (Kind.AMOUNT, Kind.DEC1, Kind.DEC2):
        places = {Kind.AMOUNT: mu, Kind.DEC1: 1, Kind.DEC2: 2}[k]
        return _fixed(value, places, f.width, f.name)
    if k is Kind.RATE:
        if value < 0 or value >= 10 ** (f.width - 6):
            shape = "0" * (f.width - 6) + ".00000"
            raise EncodeError(f"{f.name}={value} does not fit {shape}")
        return f"{value:0{f.width}.5f}"
    if k is Kind.SIGN:
        return "-" if getattr(record, f.allowed).is_signed() else " "
    if k is Kind.OCSLOTS:
        return _encode_slots(value, mu, f)
    return _fit(str(value), f)


def encode_record(
    layout: Layout, record: Any, default_mu: int = 2, *, keep_reserved: bool = True
) -> str:
    """The 250-character line of ``record`` under ``layout`` (no line end).

    Reserved positions are written from ``record.reserved`` (blank when it is empty or when
    ``keep_reserved`` is false, e.g. when the record came from another dialect).
    """
    cur = getattr(record, "currency", "")
    mu = minor_units(cur) if cur else default_mu
    reserved = iter((getattr(record, "reserved", ()) or ()) if keep_reserved else ())
    counts = dict(getattr(record, "type_counts", ()) or ())
    parts: list[str] = []
    for f in layout.fields:
        if f.kind is Kind.RES:
            value: Any = next(reserved, " " * f.width)
            if len(value) != f.width:
                raise EncodeError(f"reserved {f.name} must be {f.width} characters")
        elif f.name.startswith("count_"):
            value = counts.get(f.name[6:])
        elif f.kind is Kind.SIGN:
            value = ""
        elif f.kind is Kind.ID:
            value = getattr(record, "record_id", layout.record_ids[0])
        else:
            value = getattr(record, f.name, None)
            if value is None and f.kind in (Kind.TEXT, Kind.NUMOPT, Kind.REQ, Kind.CUR):
                value = ""
        parts.append(_encode_field(f, record, value, mu))
    return "".join(parts)
