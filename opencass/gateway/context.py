"""The plain data the participant rules need, taken from the configuration."""

from __future__ import annotations

from datetime import datetime

from opencass.config.model import CompanyKind, Config, CountryState
from opencass.settlement.rules import CountryRules, PeriodWindow, SubmissionContext
from opencass.settlement.tax import TaxEngine

# Per configuration object (a reload makes a new one) and company: the rules' country data.
# Keyed by id(), holding the config itself so the id cannot be reused while cached.
_CACHE: dict[int, tuple[Config, dict[str, dict[str, CountryRules]]]] = {}


def _countries(config: Config, company_id: str) -> dict[str, CountryRules]:
    entry = _CACHE.get(id(config))
    if entry is None:
        if len(_CACHE) >= 4:
            _CACHE.pop(next(iter(_CACHE)))
        entry = _CACHE[id(config)] = (config, {})
    per_company = entry[1]
    found = per_company.get(company_id)
    if found is not None:
        return found
    company = config.companies.get(company_id)
    countries: dict[str, CountryRules] = {}
    for code, country in config.countries.items():
        agents = frozenset(
            a for c in config.companies.values() for a in c.agent_codes.get(code, ())
        )
        periods = tuple(
            PeriodWindow(
                p.code, p.billing_from, p.billing_to, p.upload_cutoff, p.billing_available.date()
            )
            for p in config.calendars.get(code, ())
        )
        owned = frozenset(company.airline_prefixes.get(code, ())) if company else frozenset()
        live = country.state is CountryState.LIVE
        tax = TaxEngine.for_config(config, country, None) if country.invoicing.tax else None
        countries[code] = CountryRules(
            country.currency, owned, agents, periods, live, None if live else country.go_live, tax
        )
    per_company[company_id] = countries
    return countries


def submission_context(
    config: Config, company_id: str, now: datetime, sandbox: bool = False
) -> SubmissionContext:
    """What the rules need to judge a submission of ``company_id`` at ``now``."""
    company = config.companies.get(company_id)
    return SubmissionContext(
        company=company_id,
        is_airline=bool(company and company.kind is CompanyKind.AIRLINE),
        now=now,
        countries=_countries(config, company_id),
        sandbox=sandbox,
    )
