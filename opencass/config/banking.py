"""Bank details, payment options, financial security and risk rules in the configuration.

Per company and country (``participants/<id>.toml``)::

    [company.banking.DE]
    iban = "DE89370400440532013000"      # validated (schwifty): check digits, length, bank
    bic = "COBADEFFXXX"
    holder = "Agent Two Logistics Ltd"   # default: the company's legal name
    mandate_id = "AGENT2-DD-0001"        # a SEPA direct debit mandate (agents on direct debit)
    mandate_signed = 2026-01-15
    mandate_scheme = "CORE"              # CORE or B2B
    [[company.banking.DE.options]]       # how the agent pays, from a period on
    option = "direct_debit"              # transfer (default), direct_debit, prefunded
    from_period = "20260101M"
    [company.banking.DE.security]        # financial security (risk)
    kind = "guarantee"                   # guarantee or deposit
    amount = "50000.00"
    currency = "EUR"
    expires = 2027-06-30

Per country (``countries.toml``)::

    [countries.DE.collection]            # the CASS office's own collection account
    iban = "...", bic = "...", holder = "...", creditor_id = "DE98ZZZ09999999999"
    pain008 = "pain.008.001.02"          # or pain.008.001.08
    pain001 = "pain.001.001.03"          # or pain.001.001.09
    [countries.DE.risk]
    review_failed_status = "C"           # ... see RiskPolicy
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import partial

from opencass.config.reader import Table
from opencass.config.remembered import remembered

__all__ = [
    "OPTIONS",
    "BankAccount",
    "Banking",
    "Collection",
    "Mandate",
    "PaymentOption",
    "RiskPolicy",
    "Security",
    "read_banking",
    "read_collection",
    "read_risk",
]

OPTIONS = ("transfer", "direct_debit", "prefunded")
PAIN008 = ("pain.008.001.02", "pain.008.001.08")
PAIN001 = ("pain.001.001.03", "pain.001.001.09")


@dataclass(frozen=True, slots=True)
class BankAccount:
    """An account: IBAN (normalised, no spaces), BIC, holder."""

    iban: str
    bic: str
    holder: str


@dataclass(frozen=True, slots=True)
class Mandate:
    """A SEPA direct debit mandate the agent signed for the CASS office."""

    id: str
    signed: date
    scheme: str = "CORE"  # CORE or B2B


@dataclass(frozen=True, slots=True)
class PaymentOption:
    """How an agent pays from ``from_period`` (a period code) on."""

    option: str  # transfer, direct_debit, prefunded
    from_period: str


@dataclass(frozen=True, slots=True)
class Security:
    """A financial security held for an agent: a bank guarantee or a cash deposit."""

    kind: str  # guarantee, deposit
    amount: Decimal
    currency: str
    expires: date | None = None


@dataclass(frozen=True, slots=True)
class Banking:
    """A company's bank details, mandate, payment options and security in one country."""

    account: BankAccount | None = None
    mandate: Mandate | None = None
    options: tuple[PaymentOption, ...] = ()  # ordered by from_period
    security: Security | None = None

    def option_for(self, period: str) -> str:
        """The payment option in force for ``period`` (``transfer`` before any)."""
        found = "transfer"
        for o in self.options:
            if o.from_period <= period:
                found = o.option
        return found


@dataclass(frozen=True, slots=True)
class Collection:
    """The CASS office's collection account in a country and the pain versions it sends."""

    account: BankAccount
    creditor_id: str  # SEPA creditor identifier
    pain008: str = "pain.008.001.02"
    pain001: str = "pain.001.001.03"


@dataclass(frozen=True, slots=True)
class RiskPolicy:
    """``[countries.XX.risk]``: how an agent's risk status and capacity are judged.

    Status C: the last financial review failed, or a default, or ``c_irregularities``
    irregularities within 12 months; status B: ``b_irregularities``; A otherwise.  Capacity
    (NewGen ISS): status A/B: (billing days + remittance days) x the average daily billing of
    the three busiest periods of the last 12 months, plus ``capacity_margin_percent``; status C:
    the financial security.  Alerts at each of ``alert_percents`` of the capacity, and
    ``security_warning_days`` before a security expires."""

    b_irregularities: int = 1
    c_irregularities: int = 2
    capacity_margin_percent: int = 100
    alert_percents: tuple[int, ...] = (50, 75, 100)
    security_warning_days: int = 30


def _schwifty(kind: str, value: str) -> str:
    """``value`` as schwifty writes an IBAN (compact) or a BIC; ValueError with its reason."""
    import schwifty
    from schwifty.exceptions import SchwiftyException

    try:
        if kind == "IBAN":
            return str(schwifty.IBAN(value).compact)
        return str(schwifty.BIC(value))
    except SchwiftyException as e:
        raise ValueError(str(e)) from None


def _account(t: Table, default_holder: str) -> BankAccount | None:
    iban, bic = t.opt("iban", str, ""), t.opt("bic", str, "")
    holder = t.opt("holder", str, default_holder)
    if not iban and not bic:
        return None
    answers = remembered()
    try:
        iban = answers.check("iban", iban, partial(_schwifty, "IBAN", iban))
    except ValueError as e:
        t.problem("iban", f"{iban!r} is not a valid IBAN: {e}")
    try:
        bic = answers.check("bic", bic, partial(_schwifty, "BIC", bic))
    except ValueError as e:
        t.problem("bic", f"{bic!r} is not a valid BIC: {e}")
    if not holder:
        t.problem("holder", "the account holder's name is needed")
    return BankAccount(iban, bic, holder)


def _mandate(t: Table) -> Mandate | None:
    mid = t.opt("mandate_id", str, "")
    if not mid:
        return None
    signed = t.raw("mandate_signed", date, required=True)
    scheme = t.opt("mandate_scheme", str, "CORE")
    if scheme not in ("CORE", "B2B"):
        t.problem("mandate_scheme", f"{scheme!r} is not CORE or B2B")
    if len(mid) > 35:
        t.problem("mandate_id", "a mandate id has at most 35 characters")
    return Mandate(mid, signed or date.min, scheme)


def _options(t: Table, has_mandate: bool) -> tuple[PaymentOption, ...]:
    out = []
    for sub in t.tables("options"):
        option = sub.opt("option", str, "transfer")
        period = sub.req("from_period", str) or ""
        if option not in OPTIONS:
            sub.problem("option", f"{option!r} is not one of {', '.join(OPTIONS)}")
        if option == "direct_debit" and not has_mandate:
            sub.problem("option", "direct debit needs a mandate (mandate_id, mandate_signed)")
        out.append(PaymentOption(option, period))
    return tuple(sorted(out, key=lambda o: o.from_period))


def _amount(t: Table, name: str) -> Decimal:
    raw = t.req(name, str) or "0"
    try:
        value = Decimal(raw)
    except InvalidOperation:
        t.problem(name, f"{raw!r} is not an amount")
        return Decimal(0)
    if not value.is_finite() or value < 0:
        t.problem(name, f"{raw!r} is not a positive amount")
    return value


def _security(t: Table) -> Security | None:
    if not t.data:
        return None
    kind = t.opt("kind", str, "guarantee")
    if kind not in ("guarantee", "deposit"):
        t.problem("kind", f"{kind!r} is not guarantee or deposit")
    return Security(kind, _amount(t, "amount"), t.req("currency", str) or "",
                    t.raw("expires", date, required=False))  # fmt: skip


def read_banking(t: Table, countries: tuple[str, ...], legal_name: str) -> dict[str, Banking]:
    """``[company.banking.XX]`` of a company, by country."""
    out = {}
    for code in list(t.data):
        sub = t.table(code)
        mandate = _mandate(sub)
        account = _account(sub, legal_name)
        if mandate is not None and account is None:
            sub.problem("iban", "a mandate needs the account it debits (iban, bic)")
        options = _options(sub, mandate is not None)
        banking = Banking(account, mandate, options, _security(sub.table("security")))
        if code in countries:
            out[code] = banking
        else:
            t.problem(code, f"{code} is not one of the company's countries")
    return out


def read_collection(t: Table) -> Collection | None:
    """``[countries.XX.collection]``, or None."""
    if not t.data:
        return None
    account = _account(t, "")
    creditor = t.req("creditor_id", str) or ""
    if creditor and not _creditor_id_ok(creditor):
        t.problem("creditor_id", f"{creditor!r} is not a SEPA creditor identifier")
    pain008, pain001 = t.opt("pain008", str, PAIN008[0]), t.opt("pain001", str, PAIN001[0])
    if pain008 not in PAIN008:
        t.problem("pain008", f"{pain008!r} is not one of {', '.join(PAIN008)}")
    if pain001 not in PAIN001:
        t.problem("pain001", f"{pain001!r} is not one of {', '.join(PAIN001)}")
    if account is None:
        t.problem("iban", "the collection account needs iban and bic")
        return None
    return Collection(account, creditor, pain008, pain001)


def read_risk(t: Table) -> RiskPolicy:
    """``[countries.XX.risk]`` (every key optional)."""
    d = RiskPolicy()
    percents = tuple(int(v) for _, v in t.items("alert_percents", int)) or d.alert_percents
    return RiskPolicy(
        t.opt("b_irregularities", int, d.b_irregularities),
        t.opt("c_irregularities", int, d.c_irregularities),
        t.opt("capacity_margin_percent", int, d.capacity_margin_percent),
        tuple(sorted(percents)),
        t.opt("security_warning_days", int, d.security_warning_days),
    )


def _creditor_id_ok(value: str) -> bool:
    """ISO 7064 MOD 97-10 over the id without its business code (EPC262-08)."""
    text = value.replace(" ", "").upper()
    if len(text) < 8 or not text[:2].isalpha() or not text[2:4].isdigit():
        return False
    rest = text[7:] + text[:2] + text[2:4]
    digits = "".join(str(int(ch, 36)) for ch in rest if ch.isalnum())
    return len(digits) > 0 and int(digits) % 97 == 1
