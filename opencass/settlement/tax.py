"""The tax of an AWB from the country's rules: split into taxed parts, computed, checked.

Pure: no clock, no database, no files (the airport table is read once, from the
``airportsdata`` package, when a rule asks whether a shipment is domestic).

Theory of operation
-------------------
An AWB's amounts that can be taxed are its *bases* (``opencass.config.tax``): weight charge,
valuation charge, other charges due carrier and the discount (the airline's side, whose VAT is
the record's "tax due airline"), and the commission and the other charges due agent (the
agent's side, "tax due agent").  For each base, the first rule in force on the record's *tax
point* (its execution date, or the period's final billing day when the country says
``tax_point = "invoice"``) that lists the base and whose conditions hold decides its category
and rate; a base no rule takes is untaxed (``untaxed_category``, 0 %).  ``portions`` gives the
record's bases summed per (side, category, rate).

**Computed tax** (``TaxEngine.apply``, used by the close and by everything that reads the
close's records again — invoices, reports, disputes): a side whose tax the record leaves at
zero gets rate × base, rounded to the record currency's minor units with the rule's rounding.
With ``tax_rounding = "line"`` each record is rounded on its own; with ``"document"`` the tax
of one agent code, currency, side, category and rate is rounded once, as a running total: a
record gets round(Σ so far) − round(Σ before it), so the records of an invoice add up to the
tax of the invoice's exact base, and the split stays deterministic because records are always
taken in booking order.  A side that carries tax keeps it: the file's own figure is what the
airline billed.

**Checking** (``TaxEngine.mismatches``, at intake): a side that carries tax is compared with the
line-rounded computed tax; a difference beyond the rule's tolerance (one minor unit unless
configured) is a ``TAX_MISMATCH`` warning with both amounts.

Corrections (CCA/ADM/ACM) carry their own VAT figures and are taken as they are.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext
from typing import NamedTuple

from opencass.config.model import CompanyKind, Config, Country, Period
from opencass.config.tax import AGENT_BASES, AIRLINE_BASES, TaxRule
from opencass.model import ZERO, AwbRecord, frozen_replacer, minor_units

__all__ = ["AGENT", "AIRLINE", "Mismatch", "Portion", "TaxEngine", "airport_country"]

AIRLINE, AGENT = "airline", "agent"
_Context = tuple[date, bool, bool, bool]  # tax point, domestic, agent registered, established
# per base: the record's field, the (side, category, rate) it is summed in, the rule (or None)
_Plan = tuple[tuple[str, tuple[str, str, Decimal], "TaxRule | None"], ...]
_FIELDS = {  # base -> the AwbRecord field holding it
    "weight": "weight_charge_prepaid",
    "valuation": "valuation_charge_prepaid",
    "carrier_charges": "other_charges_carrier_prepaid",
    "discount": "discount",
    "commission": "commission",
    "agent_charges": "other_charges_agent_collect",
}
_TAX_FIELD = {AIRLINE: "tax_due_airline", AGENT: "tax_due_agent"}


@functools.cache
def _evolve() -> Callable[..., AwbRecord]:
    """A fast ``dataclasses.replace`` for an AWB record (``frozen_replacer``), made once:
    ``dataclasses.replace`` itself costs ~20 µs a record."""
    return frozen_replacer(AwbRecord)


@functools.cache
def _airports() -> dict[str, str]:
    import airportsdata

    return {code: a["country"] for code, a in airportsdata.load("IATA").items()}


def airport_country(code: str) -> str | None:
    """The ISO country of an IATA airport code (None: unknown)."""
    return _airports().get(code.strip().upper())


class Portion(NamedTuple):  # a tuple: several are made for every record taxed
    """A record's bases of one side in one category and rate (record currency, exact)."""

    side: str  # AIRLINE or AGENT
    category: str  # UNCL 5305
    rate: Decimal
    base: Decimal
    rule: TaxRule | None  # None: no rule takes these bases (untaxed)

    @property
    def key(self) -> tuple[str, str, Decimal]:
        """(side, category, rate)."""
        return (self.side, self.category, self.rate)


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A side whose carried tax differs from the computed one."""

    field: str  # tax_due_airline or tax_due_agent
    carried: Decimal
    computed: Decimal


class TaxEngine:
    """The tax rules of one country and period, with who is registered where."""

    def __init__(
        self,
        country: Country,
        period: Period | None,
        *,
        registered_agents: Collection[str] = (),
        established_airlines: Collection[str] = (),
        airports: Callable[[str], str | None] = airport_country,
    ) -> None:
        self.country, self.period = country, period
        self.invoicing = country.invoicing
        self.registered_agents = frozenset(registered_agents)
        self.established_airlines = frozenset(established_airlines)
        self.airports = airports
        self._running: dict[tuple[str, str, str, str, Decimal], tuple[Decimal, Decimal]] = {}
        # what decides a rule, memoised: a period has few days, routes and parties
        self._rules: dict[tuple[_Context, str], TaxRule | None] = {}
        self._routes: dict[tuple[str, str], bool] = {}
        self._plans: dict[_Context, _Plan] = {}

    @classmethod
    def for_config(cls, config: Config, country: Country, period: Period | None) -> TaxEngine:
        """The engine of ``country``: agents registered for tax when their company has a tax
        id; airlines established when their company's tax id is of the country."""
        agents: set[str] = set()
        airlines: set[str] = set()
        for c in config.companies.values():
            if c.kind is CompanyKind.AGENT and c.tax_id:
                agents.update(c.agent_codes.get(country.code, ()))
            elif c.kind is CompanyKind.AIRLINE and _registered_in(c.tax_id, country.code):
                airlines.update(c.airline_prefixes.get(country.code, ()))
        return cls(country, period, registered_agents=agents, established_airlines=airlines)

    @property
    def active(self) -> bool:
        """True when the country has tax rules (otherwise nothing is computed or checked)."""
        return bool(self.invoicing.tax)

    def fresh(self) -> TaxEngine:
        """The same rules with no running totals (a second pass over the same records)."""
        engine = TaxEngine(
            self.country, self.period, registered_agents=self.registered_agents,
            established_airlines=self.established_airlines, airports=self.airports,
        )  # fmt: skip
        # what the rules decide does not change: the memos are shared (one plan per context
        # for a whole close, not one per agent)
        engine._rules, engine._routes, engine._plans = self._rules, self._routes, self._plans
        return engine

    def tax_point(self, rec: AwbRecord, invoice_day: date | None = None) -> date:
        """The day that picks the rule: execution date, or the period's final billing day
        (``invoice_day`` when given: at intake the engine knows no period)."""
        if self.invoicing.tax_point == "invoice":
            if invoice_day is not None:
                return invoice_day
            if self.period is not None:
                return self.period.billing_available.date()
        return rec.execution_date

    def domestic(self, rec: AwbRecord) -> bool:
        """Origin and destination both in the country."""
        route = (rec.origin, rec.destination)
        found = self._routes.get(route)
        if found is None:
            code = self.country.code
            found = self.airports(rec.origin) == code and self.airports(rec.destination) == code
            self._routes[route] = found
        return found

    def _context(self, rec: AwbRecord, invoice_day: date | None = None) -> _Context:
        return (
            self.tax_point(rec, invoice_day),
            self.domestic(rec),
            rec.agent_code in self.registered_agents,
            rec.airline_prefix in self.established_airlines,
        )

    @staticmethod
    def _holds(rule: TaxRule, context: _Context, base: str) -> bool:
        day, domestic, registered, established = context
        if base not in rule.bases or not rule.applies(day):
            return False
        if rule.shipment != "any" and (rule.shipment == "domestic") != domestic:
            return False
        if rule.agent_registered is not None and rule.agent_registered != registered:
            return False
        return rule.airline_established is None or rule.airline_established == established

    def _rule(self, context: _Context, base: str) -> TaxRule | None:
        key = (context, base)
        if key not in self._rules:
            rules = self.invoicing.tax
            self._rules[key] = next((r for r in rules if self._holds(r, context, base)), None)
        return self._rules[key]

    def rule_for(self, rec: AwbRecord, base: str) -> TaxRule | None:
        """The rule that taxes ``base`` of ``rec`` (None: untaxed)."""
        return self._rule(self._context(rec), base)

    def portions(self, rec: AwbRecord, invoice_day: date | None = None) -> list[Portion]:
        """The record's non-zero bases per (side, category, rate), airline side first."""
        if not rec.charges_due:
            return []
        context = self._context(rec, invoice_day)
        plan = self._plans.get(context)
        if plan is None:
            plan = self._plans[context] = self._plan(context)
        sums: dict[tuple[str, str, Decimal], tuple[Decimal, TaxRule | None]] = {}
        for field, key, rule in plan:
            value: Decimal = getattr(rec, field)
            if value:
                entry = sums.get(key)  # the first base's rule stands for its key, as it did
                sums[key] = (ZERO + value, rule) if entry is None else (entry[0] + value, entry[1])
        return [
            Portion(side, cat, rate, base, rule) for (side, cat, rate), (base, rule) in sums.items()
        ]

    def _plan(self, context: _Context) -> _Plan:
        """Per base of a context, in order: the record field, its (side, category, rate) and
        the rule taxing it (what ``portions`` sums, decided once per context)."""
        plan: list[tuple[str, tuple[str, str, Decimal], TaxRule | None]] = []
        for side, bases in ((AIRLINE, AIRLINE_BASES), (AGENT, AGENT_BASES)):
            for base in bases:
                rule = self._rule(context, base)
                if rule is None:
                    key = (side, self.invoicing.untaxed_category, Decimal(0))
                else:
                    key = (side, rule.category, rule.rate)
                plan.append((_FIELDS[base], key, rule))
        return tuple(plan)

    def _round(self, value: Decimal, currency: str, rule: TaxRule | None) -> Decimal:
        unit = Decimal(1).scaleb(-minor_units(currency))
        mode = rule.rounding_mode if rule is not None else "ROUND_HALF_UP"
        rounded = value.quantize(unit, rounding=mode)
        return rounded.copy_abs() if rounded.is_zero() else rounded

    def computed(self, rec: AwbRecord, invoice_day: date | None = None) -> dict[str, Decimal]:
        """The line-rounded tax of each side (record currency)."""
        out = {AIRLINE: ZERO, AGENT: ZERO}
        with localcontext() as ctx:
            ctx.prec = 64
            for p in self.portions(rec, invoice_day):
                if p.rate:
                    out[p.side] += self._round(p.base * p.rate / 100, rec.currency, p.rule)
        return out

    def _document(self, rec: AwbRecord, p: Portion) -> Decimal:
        key = (rec.agent_code, rec.currency, p.side, p.category, p.rate)
        exact, rounded = self._running.get(key, (ZERO, ZERO))
        exact += p.base * p.rate / 100
        now = self._round(exact, rec.currency, p.rule)
        self._running[key] = (exact, now)
        return now - rounded

    def apply(self, rec: AwbRecord) -> AwbRecord:
        """``rec`` with the computed tax on each side that carries none (the same object when
        nothing changes).  Call in booking order (document rounding keeps running totals)."""
        if not self.active or not rec.charges_due:
            return rec
        carried = {AIRLINE: rec.tax_due_airline, AGENT: rec.tax_due_agent}
        if all(carried.values()):
            return rec
        tax = {AIRLINE: ZERO, AGENT: ZERO}
        document = self.invoicing.tax_rounding == "document"
        with localcontext() as ctx:
            ctx.prec = 64
            for p in self.portions(rec):
                if not p.rate or carried[p.side]:
                    continue
                if document:
                    tax[p.side] += self._document(rec, p)
                else:
                    tax[p.side] += self._round(p.base * p.rate / 100, rec.currency, p.rule)
        changes = {_TAX_FIELD[s]: v for s, v in tax.items() if v and not carried[s]}
        if not changes:
            return rec
        return _evolve()(rec, vat_indicator="Y", **changes)

    def mismatches(self, rec: AwbRecord, invoice_day: date | None = None) -> list[Mismatch]:
        """Sides that carry tax differing from the computed tax by more than the tolerance
        (``invoice_day``: the final billing day of the record's period, at intake)."""
        if not self.active or not rec.charges_due:
            return []
        portions = self.portions(rec, invoice_day)
        computed = self.computed(rec, invoice_day)
        unit = Decimal(1).scaleb(-minor_units(rec.currency))
        out = []
        for side, carried in ((AIRLINE, rec.tax_due_airline), (AGENT, rec.tax_due_agent)):
            if not carried:
                continue
            rules = [p.rule for p in portions if p.side == side and p.rule]
            tolerance = max((r.tolerance for r in rules if r.tolerance is not None), default=unit)
            if abs(carried - computed[side]) > tolerance:
                out.append(Mismatch(_TAX_FIELD[side], carried, computed[side]))
        return out


def _registered_in(tax_id: str, country: str) -> bool:
    prefix = tax_id.strip()[:2].upper()
    return prefix == country or (prefix == "EL" and country == "GR")


def by_side(portions: list[Portion]) -> dict[str, list[Portion]]:
    """``portions`` grouped by side."""
    out: dict[str, list[Portion]] = defaultdict(list)
    for p in portions:
        out[p.side].append(p)
    return out
