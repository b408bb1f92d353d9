"""How a booked record is kept: its HOT line when it came as HOT, else JSON of the model.

Both forms decode back to an equal model record (``from_payload``), so the settlement engine
reads one canonical model whatever format the airline used.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import date
from decimal import Decimal
from typing import Any

from opencass.codecs.hot.layouts import DIALECTS, Layout
from opencass.codecs.hot.records import decoder_for, values_decoder
from opencass.model import (
    AwbRecord,
    CorrectionRecord,
    DetailRecord,
    Dialect,
    ImportRecord,
    OtherCharge,
    OtherChargesRecord,
    RawRecord,
    minor_units,
)

_CLASSES: dict[str, type] = {
    c.__name__: c
    for c in (AwbRecord, CorrectionRecord, OtherChargesRecord, ImportRecord, RawRecord)
}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal | date):
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    if isinstance(value, OtherCharge):
        return [value.code, value.entitlement, value.payment, str(value.amount)]
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def to_json(rec: DetailRecord) -> str:
    """A JSON object of the record's fields (Decimals and dates as strings)."""
    body = {f.name: _plain(getattr(rec, f.name)) for f in fields(rec)}
    return json.dumps({"type": type(rec).__name__, **body}, separators=(",", ":"))


def from_json(text: str) -> DetailRecord:
    """The record ``to_json`` wrote."""
    raw = json.loads(text)
    cls = _CLASSES[raw.pop("type")]
    values: dict[str, Any] = {}
    for f in fields(cls):
        v = raw[f.name]
        kind = str(f.type)
        if f.name == "charges":
            v = tuple(OtherCharge(c, e, p, Decimal(a)) for c, e, p, a in v)
        elif "Decimal" in kind:
            v = Decimal(v)
        elif "date" in kind and v is not None:
            v = date.fromisoformat(v)
        elif isinstance(v, list):
            v = tuple(v)
        values[f.name] = v
    rec: DetailRecord = cls(**values)
    return rec


def to_payload(rec: DetailRecord, hot_line: str | None, dialect: Dialect | None) -> tuple[str, str]:
    """(format, text): the HOT line as received when there is one, else JSON."""
    if hot_line is not None and dialect is not None:
        return f"hot-{dialect}", hot_line
    return "json", to_json(rec)


def payload_values(
    fmt: str, names: tuple[str, ...], model: type
) -> Callable[[str, str], tuple[Any, ...] | None] | None:
    """For payloads of format ``fmt``: ``values(text, currency_hint)``, the values of the
    fields ``names`` that ``from_payload`` would decode, when the line's record is a ``model``
    (None otherwise: decode it with ``from_payload``); None for a format that is not HOT."""
    details = hot_details(fmt)
    if details is None:
        return None
    decoders = {
        rid: values_decoder(layout, names)
        for rid, layout in details.items()
        if layout.model is model and set(names) <= {f.name for f in layout.fields}
    }

    def values(text: str, currency_hint: str) -> tuple[Any, ...] | None:
        decode = decoders.get(text[:3])
        if decode is None:
            return None
        return decode(text, _payload_units(currency_hint))

    return values


def _payload_units(currency_hint: str) -> int:
    """The minor units a stored HOT line's amounts are read with."""
    return minor_units(currency_hint) if currency_hint else 2


def hot_details(fmt: str) -> Mapping[str, Layout] | None:
    """The detail layouts, by record id, of stored lines of format ``fmt`` (``hot-<dialect>``);
    None for a format that is not HOT.  Raises ValueError for a dialect opencass has not."""
    if not fmt.startswith("hot-"):
        return None
    return DIALECTS[Dialect(fmt.removeprefix("hot-"))].details


def from_payload(fmt: str, text: str, currency_hint: str = "") -> DetailRecord:
    """The model record of a stored payload."""
    if fmt == "json":
        return from_json(text)
    details = hot_details(fmt)
    if details is None:
        raise ValueError(f"{fmt!r} is not a payload format")
    layout = details[text[:3]]
    rec: DetailRecord = decoder_for(layout)(text, _payload_units(currency_hint))
    return rec
