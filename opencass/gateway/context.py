"""The plain data the participant rules need, taken from the configuration."""

from __future__ import annotations

from datetime import datetime

from opencass.config.model import CompanyKind, Config
from opencass.settlement.rules import CountryRules, PeriodWindow, SubmissionContext


def submission_context(config: Config, company_id: str, now: datetime) -> SubmissionContext:
    """What the rules need to judge a submission of ``company_id`` at ``now``."""
    company = config.companies.get(company_id)
    countries: dict[str, CountryRules] = {}
    for code, country in config.countries.items():
        agents = frozenset(
            a for c in config.companies.values() for a in c.agent_codes.get(code, ())
        )
        periods = tuple(
            PeriodWindow(p.code, p.billing_from, p.billing_to, p.upload_cutoff)
            for p in config.calendars.get(code, ())
        )
        owned = frozenset(company.airline_prefixes.get(code, ())) if company else frozenset()
        countries[code] = CountryRules(country.currency, owned, agents, periods)
    return SubmissionContext(
        company=company_id,
        is_airline=bool(company and company.kind is CompanyKind.AIRLINE),
        now=now,
        countries=countries,
    )
