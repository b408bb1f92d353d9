"""Loading a configuration directory into a ``Config``: strict TOML reading, every problem at once.

The directory (``docs/configuration.md`` shows a complete one)::

    gateway.toml             [gateway], [gateway.limits], [gateway.ban]
    countries.toml           [countries.XX], one table per CASS country
    participants/<id>.toml   [company] and [[users]]: one file per company
    calendars/*.toml         country, year and [[periods]]

Reading never stops at the first problem: every file is read whole, every value checked, cross
references checked once all files are read, and all problems raised together in one
``ConfigError``.  A key nobody asked for is unknown and is a problem too.  Problems name the
file (relative to the directory) and the dotted key, e.g. ``company.agent_codes.DE[0]``.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import itertools
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, tzinfo
from functools import cache, partial
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opencass.config.banking import read_banking, read_collection, read_risk
from opencass.config.diff import calendar_changes, diff_configs
from opencass.config.invoicing import FORMATS, read_invoicing
from opencass.config.keys import public_key_error
from opencass.config.legal import read_identity
from opencass.config.model import (
    BanPolicy,
    CertificateSettings,
    Company,
    CompanyKind,
    Config,
    Country,
    CountryState,
    GatewaySettings,
    Limits,
    OidcSettings,
    PdfSigningSettings,
    Period,
    PortalSettings,
    Role,
    StoreSettings,
    User,
)
from opencass.config.netting import read_netting
from opencass.config.policies import DisputePolicy, RemittancePolicy
from opencass.config.push import read_push
from opencass.config.reader import ConfigError, Problem, Table
from opencass.config.remembered import problem, remembered
from opencass.config.subscriptions import read_subscriptions
from opencass.model import agent_check_digit, is_currency, is_recipient_code

__all__ = ["ConfigError", "Problem", "calendar_changes", "diff_configs", "load_config"]

E = TypeVar("E", bound=enum.Enum)
S = TypeVar("S", GatewaySettings, Limits, BanPolicy)

MAX_FILE_BYTES = 1 << 20  # a config file or a public key file
COMPANY_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
COUNTRY_CODE = re.compile(r"[A-Z]{2}(?:-I)?")  # DE: CASS Export; DE-I: CASS Import
PERIOD_CODE = re.compile(r"[0-9]{6}[0-9]{2}[MFRWVD]")
AIRLINE_PREFIX = re.compile(r"[0-9]{3}")
AGENT_CODE = re.compile(r"[0-9]{11}")
LANGUAGE = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?")
B64 = "[A-Za-z0-9+/]+={0,2}"
TOTP_SECRET = re.compile(r"[A-Z2-7]{16,128}")  # RFC 4648 base32, unpadded (``opencass users totp``)
PASSWORD_HASH = re.compile(rf"scrypt\$[0-9]+\$[0-9]+\$[0-9]+\${B64}\${B64}")  # hash_password
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
MILESTONES = (  # in the order they must fall
    "upload_cutoff",
    "reports_available",
    "agent_correction_cutoff",
    "airline_response_cutoff",
    "billing_available",
)


# --- values ---------------------------------------------------------------------------------


@cache
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _language_problem(tag: str) -> str | None:
    """Why ``tag`` is not a language of the CLDR data; a good one is remembered (babel costs
    a short command more than the rest of its start-up)."""
    return problem("language", tag, partial(_cldr_language_problem, tag))


def _known_currency(code: str) -> bool:
    """``is_currency``, remembered when true."""
    return problem("currency", code, lambda: None if is_currency(code) else "unknown") is None


def _cldr_language_problem(tag: str) -> str | None:
    from babel import Locale, UnknownLocaleError

    if not LANGUAGE.fullmatch(tag):
        return f"{tag!r} is not a language code like 'de' or 'pt_BR'"
    try:
        Locale.parse(tag, sep="-" if "-" in tag else "_")
    except (UnknownLocaleError, ValueError):
        return f"{tag!r} is not a language known to the CLDR data"
    return None


def _prefix_problem(code: str, operation: str = "") -> str | None:
    if AIRLINE_PREFIX.fullmatch(code):
        return None
    return f'{code!r} is not an airline prefix: exactly 3 digits, e.g. "020"'


def _recipient_problem(code: str, operation: str) -> str | None:
    """A CASS Import consignee agent's recipient code: the country and nine digits."""
    if not is_recipient_code(code):
        return f"{code!r} is not a recipient code: the country and 9 digits, e.g. JP054000004"
    if code[:2] != operation[:2]:
        return f"{code} is not a recipient code of {operation[:2]}"
    return None


def _agent_code_problem(code: str, operation: str = "") -> str | None:
    if operation.endswith("-I"):
        return _recipient_problem(code, operation)
    if not AGENT_CODE.fullmatch(code):
        return f"{code!r} is not an agent code: exactly 11 digits"
    if (check := agent_check_digit(code[:10])) != int(code[10]):
        return f"wrong check digit in {code}: {code[:10]} modulo 7 is {check}, not {code[10]}"
    return None


def _public_key_problem(line: str) -> str | None:
    if "PRIVATE KEY" in line:
        return "this is a private key: give the public key (the .pub file)"
    if "\n" in line.strip():
        return "one public key per entry"
    if (error := public_key_error(line)) is not None:
        return f"not an OpenSSH public key ({error})"
    return None


def _localize(naive: datetime, zone: tzinfo) -> tuple[datetime, bool]:
    """``naive`` in ``zone``, and whether that local time exists (not in a DST gap)."""
    aware = naive.replace(tzinfo=zone)
    return aware, aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


# --- the loader -----------------------------------------------------------------------------


class _Loader:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.problems: list[Problem] = []
        # public key data -> (company, user, file): a key logs in as one company only
        self.key_owners: dict[str, tuple[str, str, str]] = {}

    def add(self, file: str, key: str, reason: str) -> None:
        self.problems.append(Problem(file, key, reason))

    def resolve(self, path: Path) -> Path:
        return Path(os.path.normpath(self.dir / path))

    def read_text(self, path: Path) -> str:
        """The UTF-8 text of ``path``; raises ``ValueError`` with a reason."""
        try:
            if not path.is_file():
                raise ValueError(f"no such file: {path}")
            if (size := path.stat().st_size) > MAX_FILE_BYTES:
                raise ValueError(f"{size} bytes, at most {MAX_FILE_BYTES} allowed")
            return path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("not UTF-8 text") from None
        except OSError as e:
            raise ValueError(f"cannot read {path}: {e.strerror}") from None

    def read_toml(self, path: Path) -> Table | None:
        name = path.relative_to(self.dir).as_posix()
        try:
            data = tomllib.loads(self.read_text(path))
        except tomllib.TOMLDecodeError as e:
            self.add(name, "", f"not valid TOML: {e}")
            return None
        except ValueError as e:
            self.add(name, "", str(e))
            return None
        return Table(self.problems, name, data, "")

    def toml_files(self, sub: str) -> list[Path]:
        folder = self.dir / sub
        if folder.exists() and not folder.is_dir():
            self.add(sub, "", "must be a directory")
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.glob("*.toml") if not p.name.startswith("."))

    def enum(self, t: Table, name: str, kind: type[E]) -> E | None:
        value = t.req(name, str)
        try:
            return None if value is None else kind(value)
        except ValueError:
            t.problem(name, f"{value!r} is not one of {', '.join(str(m.value) for m in kind)}")
            return None

    # gateway.toml

    def gateway(self) -> GatewaySettings:
        root = self.read_toml(self.dir / "gateway.toml")
        if root is None:
            return GatewaySettings()
        t = root.table("gateway", required=True)
        settings = _read_settings(t, GatewaySettings)
        _check_numbers(t, settings, "gateway")
        _check_gateway(t, settings)
        for name in ("host_key", "signing_key"):
            path = self.resolve(getattr(settings, name))
            if not path.is_file():
                t.problem(name, f"no such file: {path}")
        certificates = self.certificates(t, settings)
        pdf_signing = self.pdf_signing(t, settings)
        store = _store(root.table("store"))
        portal = self.portal(root.table("portal"))
        root.close()
        return dataclasses.replace(
            settings,
            store=store,
            portal=portal,
            certificates=certificates,
            pdf_signing=pdf_signing,
            host_key=self.resolve(settings.host_key),
            signing_key=self.resolve(settings.signing_key),
            data_dir=self.resolve(settings.data_dir),
        )

    def portal(self, t: Table) -> PortalSettings:
        """``[portal]``: off without ``listen``; TLS files (both or neither) must exist."""
        listen = t.opt("listen", str, "")
        if listen:
            _portal_listen(t, listen)
        files = {}
        for name in ("tls_certificate", "tls_key"):
            value = t.opt(name, str, "")
            if value:
                path = self.resolve(Path(value))
                if not path.is_file():
                    t.problem(name, f"no such file: {path}")
                value = str(path)
            files[name] = value
        if bool(files["tls_certificate"]) != bool(files["tls_key"]):
            t.problem("tls_key", "tls_certificate and tls_key go together (both or neither)")
        idle = t.opt("idle_minutes", float, PortalSettings().idle_minutes)
        if not 1 <= idle <= 1440:
            t.problem("idle_minutes", f"{idle} is not between 1 and 1440 minutes")
        oidc = _oidc(t.table("oidc"))
        return PortalSettings(
            listen, trusted_proxies=_proxies(t), idle_minutes=idle, oidc=oidc, **files
        )

    def pdf_signing(self, t: Table, settings: GatewaySettings) -> PdfSigningSettings:
        """``[gateway.pdf_signing]`` with its files resolved; a named file must exist."""
        s = settings.pdf_signing
        out = {}
        for name in ("certificate", "key", "chain"):
            value = getattr(s, name)
            out[name] = str(self.resolve(Path(value))) if value else ""
            if value and not Path(out[name]).is_file():
                t.add(f"gateway.pdf_signing.{name}", f"no such file: {out[name]}")
        pkcs12 = out["certificate"].endswith((".p12", ".pfx"))
        if out["certificate"] and not out["key"] and not pkcs12:
            t.add("gateway.pdf_signing.key", "missing: the certificate's private key (PEM)")
        if s.timestamp_url and urlsplit(s.timestamp_url).scheme not in ("http", "https"):
            t.add("gateway.pdf_signing.timestamp_url", f"{s.timestamp_url!r} is not an http(s) URL")
        return dataclasses.replace(s, **out)

    def certificates(self, t: Table, settings: GatewaySettings) -> CertificateSettings:
        """``[gateway.certificates]`` with its files resolved; a named file must exist."""
        out = {}
        for name in ("ca_keys", "revoked_keys"):
            value = getattr(settings.certificates, name)
            out[name] = str(self.resolve(Path(value))) if value else ""
            if value and not Path(out[name]).is_file():
                t.add(f"gateway.certificates.{name}", f"no such file: {out[name]}")
        if out["revoked_keys"] and not out["ca_keys"]:
            t.add("gateway.certificates.revoked_keys", "a revocation list needs ca_keys")
        return CertificateSettings(**out)

    # countries.toml

    def countries(self) -> dict[str, Country]:
        root = self.read_toml(self.dir / "countries.toml")
        if root is None:
            return {}
        table = root.table("countries", required=True)
        out = {}
        for code in list(table.data):
            t = table.table(code)
            if not COUNTRY_CODE.fullmatch(code):
                table.problem(
                    code,
                    "an operation is named by its country's 2 capital letters (ISO 3166), e.g. "
                    "DE for CASS Export, and DE-I for CASS Import",
                )
            if isinstance(table.data[code], dict):
                out[code] = _country(t, code)
        root.close()
        return out

    # participants/*.toml

    def participants(
        self, countries: Mapping[str, Country]
    ) -> tuple[dict[str, Company], dict[str, User]]:
        companies: dict[str, Company] = {}
        users: dict[str, User] = {}
        user_files: dict[str, str] = {}
        owners: dict[tuple[str, str, str], str] = {}  # (what, country, code) -> file
        for path in self.toml_files("participants"):
            root = self.read_toml(path)
            if root is None:
                continue
            t = root.table("company", required=True)
            company = self.company(t, path.stem, countries)
            company = self.outbox_rules(root, company)
            for what in ("airline_prefixes", "agent_codes"):
                self.claim_codes(t, what, getattr(company, what), owners)
            companies.setdefault(company.id, company)
            for ut in root.tables("users"):
                user = self.user(ut, company.id)
                if user.name in user_files:
                    ut.problem(
                        "name", f"user {user.name!r} is already defined in {user_files[user.name]}"
                    )
                elif user.name:
                    users[user.name], user_files[user.name] = user, root.file
            root.close()
        return companies, users

    def company(self, t: Table, stem: str, countries: Mapping[str, Country]) -> Company:
        cid = t.req("id", str) or ""
        if cid and not COMPANY_ID.fullmatch(cid):
            t.problem("id", f"{cid!r} is not a company id: lower-case letters, digits, - and _")
        elif cid and cid != stem:
            t.problem("id", f"must match the file name: {cid!r} lives in participants/{cid}.toml")
        kind = self.enum(t, "kind", CompanyKind)
        legal_name = t.text("legal_name") or ""
        languages = _languages(t)
        mine = []
        for key, code in t.items("countries", str):
            if code not in countries:
                t.add(key, f"unknown country {code!r}: not in countries.toml")
            elif code in mine:
                t.add(key, f"{code} is listed twice")
            else:
                mine.append(code)
        prefixes = _code_map(t, "airline_prefixes", _prefix_problem, mine, countries)
        agent_codes = _code_map(t, "agent_codes", _agent_code_problem, mine, countries)
        if kind is not None:
            _check_kind(t, kind, mine, prefixes, agent_codes)
        return Company(
            id=cid,
            kind=kind or CompanyKind.OPERATOR,
            legal_name=legal_name,
            languages=languages,
            countries=tuple(mine),
            airline_prefixes=prefixes,
            agent_codes=agent_codes,
            all_or_nothing=t.opt("all_or_nothing", bool, False),
            **_legal(t),
            banking=read_banking(t.table("banking"), tuple(mine), legal_name),
        )

    def outbox_rules(self, root: Table, company: Company) -> Company:
        """The company with its ``[push]`` target and subscription rules."""
        push = read_push(root, self.dir)
        subs = read_subscriptions(
            root, company.kind, company.countries, company.airline_prefixes,
            company.agent_codes, has_push="push" in root.data,
        )  # fmt: skip
        return dataclasses.replace(company, push=push, subscriptions=subs)

    def claim_codes(
        self,
        t: Table,
        what: str,
        codes: Mapping[str, tuple[str, ...]],
        owners: dict[tuple[str, str, str], str],
    ) -> None:
        for country, values in codes.items():
            for i, code in enumerate(values):
                owner = owners.setdefault((what, country, code), t.file)
                if owner != t.file:
                    t.add(
                        f"{t.key(what)}.{country}[{i}]",
                        f"{code} in {country} already belongs to {owner}",
                    )

    def user(self, t: Table, company: str) -> User:
        name = t.req("name", str) or ""
        if name and not USER_NAME.fullmatch(name):
            t.problem("name", f"{name!r} is not a user name: lower-case letters, digits, . - and _")
        roles = set()
        for key, value in t.items("roles", str, required=True):
            try:
                roles.add(Role(value))
            except ValueError:
                t.add(key, f"{value!r} is not one of {', '.join(r.value for r in Role)}")
        if "roles" in t.data and t.data["roles"] == []:
            t.problem("roles", "a user needs at least one role")
        keys = []
        for key, line in t.items("public_keys", str):
            if reason := _public_key_problem(line):
                t.add(key, reason)
            keys.append(line.strip())
            self.own_key(t, key, line, company, name)
        for key, rel in t.items("public_key_files", str):
            found = self.key_file(t, key, rel)
            keys += found
            for line in found:
                self.own_key(t, key, line, company, name)
        password_hash = t.raw("password_hash", str, required=False)
        if password_hash is not None and not PASSWORD_HASH.fullmatch(password_hash):
            reason = (
                "must be a hash as `opencass` writes it (scrypt$N$r$p$salt$hash), never a password"
            )
            t.problem("password_hash", reason)
        totp = t.raw("totp_secret", str, required=False)
        if totp is not None and not TOTP_SECRET.fullmatch(totp):
            t.problem("totp_secret", "must be a base32 secret of at least 16 characters")
        return User(
            name, company, frozenset(roles), tuple(dict.fromkeys(keys)), password_hash, totp
        )

    def own_key(self, t: Table, key: str, line: str, company: str, user: str) -> None:
        """Report a public key configured for users of two companies (whoever holds the
        private key could log in as either)."""
        parts = line.split()
        if len(parts) < 2:
            return
        owner = self.key_owners.setdefault(parts[1], (company, user, t.file))
        if owner[0] != company:
            t.add(
                key,
                f"this public key is also user {owner[1]}'s of company {owner[0]} ({owner[2]}):"
                " one key may log in for one company only",
            )

    def key_file(self, t: Table, key: str, rel: str) -> list[str]:
        try:
            text = self.read_text(self.resolve(Path(rel)))
        except ValueError as e:
            t.add(key, str(e))
            return []
        if "PRIVATE KEY" in text:
            t.add(key, f"{rel} holds a private key: give the public key (the .pub file)")
            return []
        lines = [(n, s.strip()) for n, s in enumerate(text.splitlines(), 1)]
        lines = [(n, s) for n, s in lines if s and not s.startswith("#")]
        for n, line in lines:
            if reason := _public_key_problem(line):
                t.add(key, f"{rel} line {n}: {reason}")
        if not lines:
            t.add(key, f"{rel} holds no public key")
        return [line for _, line in lines]

    # calendars/*.toml

    def calendars(self, countries: Mapping[str, Country]) -> dict[str, tuple[Period, ...]]:
        found: list[tuple[Period, str, str]] = []  # period, file, key of its table
        for path in self.toml_files("calendars"):
            root = self.read_toml(path)
            if root is None:
                continue
            country, year = root.req("country", str), root.req("year", int)
            if country is not None and country not in countries:
                root.problem("country", f"unknown country {country!r}: not in countries.toml")
            known = countries.get(country or "")
            zone = (_zone(known.timezone) if known else None) or UTC
            periods = [(t, _period(t, country or "", zone)) for t in root.tables("periods")]
            if root.data.get("periods", []) == []:
                root.problem("periods", "missing: a calendar has at least one [[periods]] table")
            years = {p.code[:4] for _, p in periods if p is not None}
            if year is not None and years - {str(year)}:
                root.problem("year", f"{year} does not match the periods' years {sorted(years)}")
            found += [(p, root.file, t.prefix) for t, p in periods if p is not None]
            root.close()
        return self.arrange(found)

    def arrange(self, found: list[tuple[Period, str, str]]) -> dict[str, tuple[Period, ...]]:
        """Periods by country, ordered by billing_from; overlaps and repeated codes reported."""
        by_country: dict[str, list[tuple[Period, str, str]]] = {}
        for item in sorted(found, key=lambda i: (i[0].billing_from, i[0].billing_to)):
            by_country.setdefault(item[0].country, []).append(item)
        for items in by_country.values():
            seen: dict[str, str] = {}
            latest: tuple[Period, str, str] | None = None
            for p, file, key in items:
                if latest and p.billing_from <= latest[0].billing_to:
                    prev = latest[0]
                    span = f"{prev.billing_from} to {prev.billing_to}"
                    self.add(
                        file, f"{key}.billing_from", f"overlaps {prev.code} ({span}) in {latest[1]}"
                    )
                if p.code in seen:
                    self.add(file, f"{key}.code", f"{p.code} is already defined in {seen[p.code]}")
                seen.setdefault(p.code, file)
                if latest is None or p.billing_to > latest[0].billing_to:
                    latest = (p, file, key)
        return {c: tuple(i[0] for i in items) for c, items in by_country.items()}


def _portal_listen(t: Table, listen: str) -> None:
    host, sep, port = listen.rpartition(":")
    if not (host and sep and port.isdigit() and 0 <= int(port) <= 65535):
        t.problem("listen", f"{listen!r} is not host:port")


def _proxies(t: Table) -> tuple[str, ...]:
    found = t.opt("trusted_proxies", list, [])
    out = []
    for p in found:
        try:
            out.append(str(ipaddress.ip_network(str(p), strict=False)))
        except ValueError:
            t.problem("trusted_proxies", f"{p!r} is not an IP address or network")
    return tuple(out)


def _oidc(t: Table) -> OidcSettings:
    """``[portal.oidc]``: an https issuer (http only on the loopback), its client, the claim."""
    d = OidcSettings()
    issuer = t.opt("issuer", str, "").rstrip("/")
    out = OidcSettings(
        issuer,
        t.opt("client_id", str, ""),
        t.opt("client_secret_env", str, ""),
        t.opt("user_claim", str, d.user_claim),
        tuple(str(s) for s in t.opt("scopes", list, list(d.scopes))),
    )
    if not issuer:
        return out
    url = urlsplit(issuer)
    local = url.hostname in ("127.0.0.1", "localhost", "::1")
    if (
        not url.netloc
        or url.scheme not in ("https", "http")
        or (url.scheme == "http" and not local)
    ):
        t.problem("issuer", f"{issuer!r} is not an https URL (http only on the loopback, to test)")
    if not out.client_id:
        t.problem("client_id", "must be given with an issuer")
    if "openid" not in out.scopes:
        t.problem("scopes", "must include openid")
    return out


def _store(t: Table) -> StoreSettings:
    """``[store]``: an empty URL (SQLite) or a PostgreSQL one."""
    url = t.opt("url", str, "")
    if url and not url.startswith(("postgresql://", "postgres://")):
        t.problem("url", f"{url!r} is not a PostgreSQL URL (postgresql://user@host/database)")
    lease = t.opt("lease_seconds", float, StoreSettings().lease_seconds)
    if not 3 <= lease <= 3600:
        t.problem("lease_seconds", f"{lease} is not between 3 and 3600 seconds")
    return StoreSettings(url=url, lease_seconds=lease)


def _read_settings(t: Table, cls: type[S]) -> S:
    defaults = cls()
    values: dict[str, Any] = {}
    for f in dataclasses.fields(defaults):
        default = getattr(defaults, f.name)
        if f.metadata.get("toml"):  # a top-level table of the file, read by its own reader
            values[f.name] = default
        elif dataclasses.is_dataclass(default):
            values[f.name] = _read_settings(t.table(f.name), cast(Any, type(default)))
        elif isinstance(default, Path):
            values[f.name] = Path(t.opt(f.name, str, str(default)))
        else:
            values[f.name] = t.opt(f.name, type(default), default)
    return cls(**values)


def _check_numbers(t: Table, settings: Any, prefix: str) -> None:
    """Every number of the settings is positive and finite; paths are not empty."""
    for f in dataclasses.fields(settings):
        value, key = getattr(settings, f.name), f"{prefix}.{f.name}"
        if dataclasses.is_dataclass(value):
            _check_numbers(t, value, key)
        elif isinstance(value, Path) and str(value) == ".":
            t.add(key, "must name a file or directory")
        elif f.name == "listen_port":
            if not 0 <= value <= 65535:
                t.add(key, f"{value} is not a TCP port (0 to 65535)")
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int | float) and not (math.isfinite(value) and value > 0):
            t.add(key, f"must be a positive number, found {value}")


def _check_gateway(t: Table, settings: GatewaySettings) -> None:
    if settings.log_level not in LOG_LEVELS:
        t.problem("log_level", f"{settings.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    url = urlsplit(settings.public_url)
    if url.scheme not in ("http", "https") or not url.netloc:
        t.problem("public_url", f"{settings.public_url!r} is not an http(s) URL")
    if not settings.listen_host.strip():
        t.problem("listen_host", "must not be empty")
    if settings.metrics_listen:
        host, sep, port = settings.metrics_listen.rpartition(":")
        if not (host and sep and port.isdigit() and 0 <= int(port) <= 65535):
            t.problem("metrics_listen", f"{settings.metrics_listen!r} is not host:port")


def _country(t: Table, code: str) -> Country:
    name, currency, timezone = t.text("name"), t.req("currency", str), t.req("timezone", str)
    language = t.opt("language", str, "en")
    if currency is not None and not _known_currency(currency):
        t.problem("currency", f"{currency!r} is not an ISO 4217 currency code")
    if timezone is not None and _zone(timezone) is None:
        t.problem("timezone", f"{timezone!r} is not an IANA time zone, e.g. Europe/Berlin")
    if reason := _language_problem(language):
        t.problem("language", reason)
    office = t.opt("office", str, "")
    policies = {}
    for key, cls in (("disputes", DisputePolicy), ("remittance", RemittancePolicy)):
        sub = t.table(key)
        policies[key] = _read_settings(sub, cast(Any, cls))
        _check_numbers(sub, policies[key], sub.key("")[:-1])
    invoicing = read_invoicing(t.table("invoicing"), _language_problem)
    state, go_live = _wave(t, timezone)
    collection, risk = read_collection(t.table("collection")), read_risk(t.table("risk"))
    netting = read_netting(t.table("netting"))
    return Country(
        code, name or "", currency or "", timezone or "", language, office, **policies,
        invoicing=invoicing, collection=collection, risk=risk, state=state, go_live=go_live,
        netting=netting,
    )  # fmt: skip


def _wave(t: Table, timezone: str | None) -> tuple[CountryState, datetime | None]:
    """A country's ``state`` (planned, sandbox, live) and ``go_live`` (local date and time)."""
    value = t.opt("state", str, "live")
    try:
        state = CountryState(value)
    except ValueError:
        t.problem("state", f"{value!r} is not one of {', '.join(s.value for s in CountryState)}")
        state = CountryState.LIVE
    raw = t.raw("go_live", datetime, required=False)
    if raw is None:
        return state, None
    if raw.tzinfo is not None:
        t.problem("go_live", "a local date and time without offset, e.g. 2027-01-15T08:00:00")
        return state, None
    zone = _zone(timezone) if timezone else None
    if state is CountryState.LIVE:
        t.problem("go_live", "a go-live date is for a country not live yet (state planned/sandbox)")
    return state, raw.replace(tzinfo=zone) if zone is not None else None


def _languages(t: Table) -> tuple[str, ...]:
    if "languages" in t.data and t.data["languages"] == []:
        t.problem("languages", "must name at least one language")
    languages = []
    for key, tag in t.items("languages", str):
        if reason := _language_problem(tag):
            t.add(key, reason)
        languages.append(tag)
    return tuple(languages) or ("en",)


def _code_map(
    t: Table,
    name: str,
    check: Callable[[str, str], str | None],
    mine: Sequence[str],
    countries: Mapping[str, Country],
) -> dict[str, tuple[str, ...]]:
    sub = t.table(name)
    out = {}
    for country in list(sub.data):
        if country not in countries:
            sub.problem(country, f"unknown country {country!r}: not in countries.toml")
        elif country not in mine:
            sub.problem(country, f"{country} is not in the company's countries")
        codes: list[str] = []
        for key, code in sub.items(country, str):
            if reason := check(code, country):
                sub.add(key, reason)
            elif code in codes:
                sub.add(key, f"{code} is listed twice")
            else:
                codes.append(code)
        out[country] = tuple(codes)
    return out


def _legal(t: Table) -> dict[str, Any]:
    """A company's legal identity (``opencass.config.legal``), checked, and its invoice
    formats."""
    identity = read_identity(t)
    fields = {f.name: getattr(identity, f.name) for f in dataclasses.fields(identity)}
    return {**fields, "invoice_formats": t.names("invoice_formats", FORMATS)}


def _check_kind(
    t: Table,
    kind: CompanyKind,
    mine: Sequence[str],
    prefixes: Mapping[str, tuple[str, ...]],
    agent_codes: Mapping[str, tuple[str, ...]],
) -> None:
    needs = {CompanyKind.AIRLINE: "airline_prefixes", CompanyKind.AGENT: "agent_codes"}
    for name, codes in (("airline_prefixes", prefixes), ("agent_codes", agent_codes)):
        if needs.get(kind) != name and any(codes.values()):
            t.problem(name, f"a company of kind {kind} has no {name}")
    if kind not in needs:
        return
    if not mine and not t.data.get("countries"):
        t.problem("countries", f"a company of kind {kind} takes part in at least one country")
    given = t.data.get(needs[kind], {})  # a bad code was reported already: not "missing" too
    for country in mine:
        if isinstance(given, dict) and not given.get(country):
            t.problem(needs[kind], f"missing: {needs[kind]} for {country}")


def _period(t: Table, country: str, zone: tzinfo) -> Period | None:
    code = t.req("code", str)
    billing_from, billing_to = t.req("billing_from", date), t.req("billing_to", date)
    local = {name: t.req(name, datetime) for name in MILESTONES}
    remittance, settlement = t.req("remittance_day", date), t.req("settlement_day", date)
    if code is not None and (not PERIOD_CODE.fullmatch(code) or code[6:8] == "00"):
        t.problem("code", f"{code!r} is not a period code YYYYMMPPF, e.g. 20261101M")
    elif code and billing_from and code[:6] != billing_from.strftime("%Y%m"):
        t.problem(
            "code", f"{code} does not match billing_from {billing_from} (its month is {code[:6]})"
        )
    if billing_from and billing_to and billing_from > billing_to:
        t.problem("billing_to", f"{billing_to} is before billing_from {billing_from}")
    cutoff = local["upload_cutoff"]
    if billing_to and cutoff and cutoff.date() <= billing_to:
        t.problem("upload_cutoff", f"{cutoff} must be after billing_to {billing_to}")
    for before, after in itertools.pairwise(MILESTONES):
        first, then = local[before], local[after]
        if first and then and then < first:
            t.problem(after, f"{then} is before {before} {first}")
    final = local["billing_available"]
    if final and remittance and remittance < final.date():
        t.problem("remittance_day", f"{remittance} is before billing_available {final.date()}")
    if remittance and settlement and settlement < remittance:
        t.problem("settlement_day", f"{settlement} is before remittance_day {remittance}")
    aware = {}
    for name, naive in local.items():
        if naive is not None:
            aware[name], exists = _localize(naive, zone)
            if not exists:
                t.problem(name, f"{naive} does not exist in {zone} (daylight-saving gap)")
    if code is None or not billing_from or not billing_to or not remittance or not settlement:
        return None
    if len(aware) < len(MILESTONES):
        return None
    return Period(
        country,
        code,
        billing_from,
        billing_to,
        **aware,
        remittance_day=remittance,
        settlement_day=settlement,
    )


def load_config(directory: Path) -> Config:
    """Read and check the config in ``directory``; raise ``ConfigError`` listing every problem."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError([Problem(".", "", f"no configuration directory at {directory}")])
    loader = _Loader(directory.resolve())
    gateway = loader.gateway()
    countries = loader.countries()
    companies, users = loader.participants(countries)
    calendars = loader.calendars(countries)
    remembered().save()  # the checks that passed, for the next process
    if loader.problems:
        raise ConfigError(sorted(loader.problems, key=lambda p: p.file))
    return Config(loader.dir, gateway, countries, companies, users, calendars)


def config_digest(directory: Path) -> str:
    """The SHA-256 (first 16 hex digits) of the files a configuration is read from, in name
    order: equal on two nodes running the same configuration (``cluster status`` compares)."""
    import hashlib

    directory = Path(directory)
    h = hashlib.sha256()
    paths = [directory / "gateway.toml", directory / "countries.toml"]
    for folder in ("participants", "calendars"):
        paths += sorted(p for p in (directory / folder).glob("*.toml") if p.name[0] != ".")
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        h.update(f"{path.relative_to(directory)}\0{len(data)}\0".encode() + data)
    return h.hexdigest()[:16]
