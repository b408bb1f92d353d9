"""Netting stored AWB lines without building their records: what a large close spends most on.

A close nets every AWB of its period from the line the ledger stores.  Decoding each line into
an ``AwbRecord`` (37 fields, a dozen Decimals) and netting the record costs ~17 µs; the
netting reads ten of those fields.  Two shortcuts give the same item amount:

- ``VectorAwbs``: the AWB lines of a batch of rows that the record decoder accepts
  (``opencass.codecs.hot.vector.well_formed``: the decoder's own checks, as array operations)
  and that are in the period's currency are netted as integer arrays of minor units — the
  terms' signed sum of whole numbers, exact, with nothing to convert or round;
- ``QuickAwbs``: any other stored HOT AWB line is read with ``values_decoder`` (every check of
  the decoder, only the fields netting needs) and netted by ``awb_due_of``, the code
  ``awb_due`` runs.

Both are for a close without tax rules (the tax engine reads the whole record); a line neither
takes is decoded and netted as before.  ``tests/settlement/test_quick_netting.py`` compares the
three ways on generated and mutated lines with random netting terms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from itertools import islice
from typing import TYPE_CHECKING, Any

from opencass.codecs.hot.layouts import Kind, Layout, columns
from opencass.codecs.payload import hot_details, payload_values
from opencass.model import AwbRecord, BookedRow, minor_units
from opencass.settlement.netting import ItemAmount, ItemKind, Netting, awb_due_of

if TYPE_CHECKING:  # numpy is imported when a batch is netted, not with the package
    import numpy.typing as npt

__all__ = ["AWB_TYPES", "QuickAwbs", "VectorAwbs", "netted_awbs"]

AWB_TYPES = frozenset({"AWM", "AWB"})
_FIELDS = ("airline_prefix", "awb_serial", "agent_code", "use_indicator", "currency")
_UNKNOWN: Any = object()
_LENGTH = 250  # a stored HOT line

Netted = tuple[ItemAmount, bool]  # an AWB's item amount, and whether charges are due


def netted_awbs(
    rows: Iterable[BookedRow], netting: Netting, currency: str, batch: int = 8192
) -> Iterator[tuple[BookedRow, Netted | None]]:
    """Each row, with its AWB netted by ``VectorAwbs`` or ``QuickAwbs`` (None: a row neither
    nets, to be decoded), in the order of ``rows``."""
    vector, quick = VectorAwbs(netting, currency), QuickAwbs(netting, currency)
    it = iter(rows)
    while chunk := list(islice(it, batch)):
        for row, got in zip(chunk, vector(chunk), strict=True):
            if got is None and row.record_type in AWB_TYPES:
                got = quick(row)
            yield row, got


class QuickAwbs:
    """Nets one stored AWB line from the fields netting reads (``payload_values``)."""

    def __init__(self, netting: Netting, currency: str) -> None:
        self.terms, self.currency = netting.awb, currency
        self.names = (*_FIELDS, "rate_of_exchange", *(n for n, _ in netting.awb.terms))
        self.formats: dict[str, Callable[[str, str], tuple[Any, ...] | None] | None] = {}

    def __call__(self, row: BookedRow) -> Netted | None:
        """(its item amount, whether charges are due), or None: decode the record instead.
        Raises what the decoder raises for the line."""
        values = self.formats.get(row.payload_format, _UNKNOWN)
        if values is _UNKNOWN:
            fmt = row.payload_format
            values = self.formats[fmt] = payload_values(fmt, self.names, AwbRecord)
        got = values(row.payload, row.currency) if values is not None else None
        if got is None:
            return None
        prefix, serial, agent, use, currency, rate, *terms = got
        due = use == "R"  # AwbRecord.charges_due
        amount = awb_due_of(
            f"{prefix}-{serial}", due, terms, currency, rate, self.currency, self.terms
        )
        return ItemAmount(prefix, serial, ItemKind.AWB, "", agent, amount), due


class _Plan:
    """Where one AWB layout keeps what netting reads, as 0-based columns."""

    def __init__(self, layout: Layout, netting: Netting) -> None:
        at = columns(layout)
        self.layout = layout
        self.prefix, self.serial, self.agent = (at[n] for n in _FIELDS[:3])
        self.use = at["use_indicator"][0]
        self.currency = at["currency"]
        signs = {f.allowed: f.start - 1 for f in layout.fields if f.kind is Kind.SIGN}
        self.terms = [(at[name], sign, signs.get(name)) for name, sign in netting.awb.terms]


class VectorAwbs:
    """Nets the clean AWB lines of a batch of stored rows in the period's currency as arrays;
    ``QuickAwbs`` or the decoder take the others.  A batch with fewer than ``min_rows`` lines
    of a layout leaves them to ``QuickAwbs`` (arrays do not pay for a few lines, and a small
    close need not import numpy)."""

    min_rows = 64

    def __init__(self, netting: Netting, currency: str) -> None:
        self.netting, self.currency = netting, currency
        self.mu = minor_units(currency)
        self.zero = Decimal(0).scaleb(-self.mu)
        self.plans: dict[tuple[str, str], _Plan | None] = {}

    def _plan(self, fmt: str, rid: str) -> _Plan | None:
        key = (fmt, rid)
        if key not in self.plans:
            try:
                details = hot_details(fmt)
            except ValueError:  # not a dialect: QuickAwbs and the decoder refuse it
                details = None
            layout = details.get(rid) if details is not None else None
            ok = layout is not None and layout.model is AwbRecord
            self.plans[key] = _Plan(layout, self.netting) if ok and layout else None
        return self.plans[key]

    def __call__(self, batch: Sequence[BookedRow]) -> list[Netted | None]:
        """Per row of ``batch``: its netted AWB, or None (not an AWB line this nets)."""
        out: list[Netted | None] = [None] * len(batch)
        groups: dict[int, tuple[_Plan, list[int]]] = {}
        for i, row in enumerate(batch):
            if row.record_type not in AWB_TYPES or len(row.payload) != _LENGTH:
                continue
            plan = self._plan(row.payload_format, row.payload[:3])
            if plan is not None and row.payload.isascii():
                groups.setdefault(id(plan), (plan, []))[1].append(i)
        for plan, rows in groups.values():
            if len(rows) >= self.min_rows:
                self._net(plan, [batch[i] for i in rows], rows, out)
        return out

    def _net(
        self, plan: _Plan, rows: list[BookedRow], where: list[int], out: list[Netted | None]
    ) -> None:
        import numpy as np

        from opencass.codecs.hot.vector import integers, well_formed

        text = "".join(r.payload for r in rows).encode("ascii")
        m: npt.NDArray[np.uint8] = np.frombuffer(text, dtype=np.uint8).reshape(-1, _LENGTH)
        a, b = plan.currency
        ok = well_formed(m, plan.layout) & np.all(
            m[:, a:b] == np.frombuffer(self.currency.encode("ascii"), dtype=np.uint8), axis=1
        )
        due = m[:, plan.use] == ord("R")
        total = np.zeros(len(m), dtype=np.int64)
        for (a, b), sign, sign_col in plan.terms:
            value = integers(m, a, b)
            if sign_col is not None:
                value = np.where(m[:, sign_col] == ord("-"), -value, value)
            total += value if sign > 0 else -value
        total = np.where(due, total, 0)
        mu, zero = self.mu, self.zero
        for k in np.flatnonzero(ok).tolist():
            row = rows[k]
            payload = row.payload
            units = int(total[k])
            amount = Decimal(units).scaleb(-mu) if units else zero
            item = ItemAmount(
                payload[slice(*plan.prefix)], payload[slice(*plan.serial)], ItemKind.AWB, "",
                payload[slice(*plan.agent)], amount,
            )  # fmt: skip
            out[where[k]] = (item, bool(due[k]))
