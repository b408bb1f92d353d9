"""``[countries.XX.netting]``: what a CASS operation bills per record, as lists of money fields.

Each term is a money field of the record, added; a ``-`` in front subtracts it.  Correction
terms name the P/C indicator a field that has one must carry (``weight_charge/P``).  A list left out
keeps opencass's default (SETTLEMENT.md's formula for export, every charge billed for import)::

    [countries.DE-I.netting]
    # the consignee's agent pays every collect charge but the charges due agent
    import = ["weight_charges", "charges_due_carrier", "fee", "handling_charges",
              "storage_charges", "other_charge_1", "other_charge_2", "miscellaneous_charges"]

The settlement engine builds its terms from these (``opencass.settlement.netting.terms_of``);
this module checks them when the configuration is read, so a typo is a configuration problem
and never a failed close.
"""

from __future__ import annotations

from dataclasses import dataclass

from opencass.config.reader import Table
from opencass.model import (
    AwbRecord,
    CorrectionRecord,
    ImportRecord,
    indicator_fields,
    money_fields,
)

__all__ = ["NettingConfig", "read_netting"]

Terms = tuple[tuple[str, int], ...]
CorrectionTerms = tuple[tuple[str, str, int], ...]


@dataclass(frozen=True, slots=True)
class NettingConfig:
    """The operation's netting terms as configured; None: opencass's default for that kind."""

    awb: Terms | None = None
    correction: CorrectionTerms | None = None
    imports: Terms | None = None


def _term(t: Table, key: str, text: str, allowed: frozenset[str]) -> tuple[str, str, int] | None:
    """(field, P/C indicator or "", sign) of one term, or None (reported)."""
    sign = -1 if text.startswith("-") else 1
    name, _, indicator = text.lstrip("+-").partition("/")
    if name not in allowed:
        known = ", ".join(sorted(allowed))
        t.add(key, f"{name!r} is not a money field of the record (one of {known})")
        return None
    return name, indicator, sign


def _list(t: Table, name: str, cls: type, pc: bool) -> tuple[tuple[str, str, int], ...] | None:
    if name not in t.data:
        t.read.add(name)
        return None
    allowed, with_pc = money_fields(cls), indicator_fields(cls) if pc else frozenset()
    out: list[tuple[str, str, int]] = []
    seen: set[tuple[str, str]] = set()
    for key, text in t.items(name, str):
        term = _term(t, key, text, allowed)
        if term is None:
            continue
        field, indicator, _sign = term
        if indicator and (indicator not in ("P", "C") or field not in with_pc):
            t.add(key, f"{text!r}: only a field with a P/C indicator takes /P or /C")
        elif field in with_pc and not indicator:
            t.add(key, f"{text!r}: {field} has a P/C indicator: write {field}/P or {field}/C")
        elif (field, indicator) in seen:
            t.add(key, f"{text!r} appears twice")
        else:
            seen.add((field, indicator))
            out.append(term)
    if not out and not any(p.key.startswith(t.key(name)) for p in t.problems):
        t.problem(name, "must name at least one money field")
    return tuple(out)


def read_netting(t: Table) -> NettingConfig:
    """``[countries.XX.netting]`` (every list optional): ``awb``, ``correction``, ``import``."""
    awb = _list(t, "awb", AwbRecord, pc=False)
    correction = _list(t, "correction", CorrectionRecord, pc=True)
    imports = _list(t, "import", ImportRecord, pc=False)
    return NettingConfig(
        awb=None if awb is None else tuple((n, s) for n, _, s in awb),
        correction=correction,
        imports=None if imports is None else tuple((n, s) for n, _, s in imports),
    )
