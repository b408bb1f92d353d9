"""The typed, frozen configuration of a gateway: settings, CASS countries, participants, calendars.

Loaded once from TOML files by ``opencass.config.load_config`` and never mutated: a reload
builds a new ``Config`` and swaps it in whole.  Every value here has been validated; code that
receives a ``Config`` does not check it again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from opencass.config.banking import Banking, Collection, RiskPolicy
from opencass.config.database import Database, PgUrl
from opencass.config.invoicing import Invoicing
from opencass.config.legal import Contact, PostalAddress
from opencass.config.netting import NettingConfig
from opencass.config.policies import DisputePolicy, RemittancePolicy
from opencass.config.push import PushTarget
from opencass.config.subscriptions import Subscription
from opencass.errors import ConfigurationError


class Role(enum.StrEnum):
    """What a user may do in its company's mailbox (ARCHITECTURE.md "Mailboxes")."""

    ADMIN = "admin"  # everything
    INPUT = "input"  # write the inboxes, read the outboxes
    OUTPUT = "output"  # read (and delete) in the outboxes
    READONLY = "readonly"  # list and read the outboxes


class CountryState(enum.StrEnum):
    """Where a country stands in its go-live wave (``countries.toml``: ``state``, ``go_live``)."""

    PLANNED = "planned"  # users may be set up and migrated; nobody logs in
    SANDBOX = "sandbox"  # logins reach only /sandbox/inbox and /sandbox/outbox
    LIVE = "live"


class CompanyKind(enum.StrEnum):
    """The part a company plays in CASS."""

    AIRLINE = "airline"
    AGENT = "agent"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class BanPolicy:
    """Brute-force protection: failures scored per client address and per user in a sliding
    window.  An address is banned; a user never is (anyone could lock an airline out): its
    logins from addresses that failed are slowed down instead."""

    max_failures: int = 5
    window_seconds: float = 300.0
    ban_seconds: float = 900.0


@dataclass(frozen=True, slots=True)
class Limits:
    """Input limits enforced where input is taken."""

    max_upload_bytes: int = 1 << 30  # one file
    company_quota_bytes: int = 10 << 30  # a company's whole mailbox tree
    max_records: int = 5_000_000  # one billing file
    max_xml_bytes: int = 512 << 20
    max_sessions: int = 500  # logged-in connections at once
    # Connections not logged in yet, counted apart from sessions (a flood of silent TCP
    # connections must not lock the users out): per client address, and in all; past the
    # total the oldest is dropped to make room, past the per-address cap the new one.
    max_unauthenticated: int = 64
    max_unauthenticated_per_address: int = 16
    parallel_min_bytes: int = 16 << 20  # HOT files at least this large are read in slices


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    """``[gateway.outbox]``: notification and delivery (``opencass.outbox``)."""

    poll_seconds: float = 1.0  # how often new events are looked for
    max_attempts: int = 8  # a delivery failing this often becomes a dead letter
    retry_base_seconds: float = 10.0  # first retry delay; doubles per attempt
    retry_max_seconds: float = 3600.0  # longest retry delay
    concurrency: int = 16  # companies delivered to at the same time
    reminder_days: int = 3  # a document not downloaded after this many days is reminded of
    reminder_check_seconds: float = 3600.0  # how often reminders are checked


@dataclass(frozen=True, slots=True)
class CertificateSettings:
    """``[gateway.certificates]``: central identity through OpenSSH user certificates.

    ``ca_keys`` names a file of the operator's user CA public keys, one OpenSSH line each (like
    sshd's ``TrustedUserCAKeys``); ``revoked_keys`` a revocation list (like sshd's
    ``RevokedKeys``): the text form ``ssh-keygen -k`` reads (``serial:``, ``id:``, ``key:``,
    ``sha256:`` lines) or plain public keys.  Both are read again on SIGHUP.  Empty: none."""

    ca_keys: str = ""
    revoked_keys: str = ""


@dataclass(frozen=True, slots=True)
class PdfSigningSettings:
    """``[gateway.pdf_signing]``: the CASS office's certificate that signs issued PDFs (PAdES,
    ``opencass.documents.signing``).  ``certificate`` and ``key`` are PEM files (or
    ``certificate`` one PKCS #12 file), ``chain`` a PEM file of intermediate certificates,
    ``password_env`` the environment variable holding the key's password, ``timestamp_url``
    an RFC 3161 time-stamp server (PAdES B-T).  Empty ``certificate``: PDFs are not signed."""

    certificate: str = ""
    key: str = ""
    chain: str = ""
    password_env: str = ""
    timestamp_url: str = ""

    @property
    def enabled(self) -> bool:
        """True when a certificate is configured."""
        return bool(self.certificate)


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """``[store]`` in gateway.toml: where the ledger is.  Empty ``url``: SQLite, the file
    ``opencass.db`` in the data directory (the default, nothing to install); a libpq URI
    ``postgresql://user@host:port/database``: PostgreSQL (a password is best given as libpq
    takes it outside this file: ``PGPASSWORD`` or ``~/.pgpass``).  ``lease_seconds``: with
    several gateway nodes on one store, how long what a node holds (a file it processes, the
    outbox) outlives its last heartbeat before another node takes it over."""

    url: str = ""
    lease_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class OidcSettings:
    """``[portal.oidc]``: sign-in at the operator's OpenID Connect provider (off while
    ``issuer`` is empty).  The client secret is read from the environment variable
    ``client_secret_env``; the ID token's ``user_claim`` names the opencass user (its login
    name, or with ``email`` the user whose e-mail address it is)."""

    issuer: str = ""
    client_id: str = ""
    client_secret_env: str = ""
    user_claim: str = "preferred_username"
    scopes: tuple[str, ...] = ("openid", "profile", "email")

    @property
    def enabled(self) -> bool:
        """True when a provider is configured."""
        return bool(self.issuer)


@dataclass(frozen=True, slots=True)
class PortalSettings:
    """``[portal]`` in gateway.toml: the participant portal, a web interface served by the
    daemon beside SFTP (off while ``listen`` is empty).  ``tls_certificate`` and ``tls_key``
    (PEM files; both or neither): HTTPS, else plain HTTP behind a TLS-terminating reverse
    proxy whose addresses are in ``trusted_proxies`` (only their ``X-Forwarded-For`` and
    ``X-Forwarded-Proto`` are believed).  A session ends after ``idle_minutes`` unused."""

    listen: str = ""  # host:port
    tls_certificate: str = ""
    tls_key: str = ""
    trusted_proxies: tuple[str, ...] = ()
    idle_minutes: float = 30.0
    oidc: OidcSettings = field(default_factory=OidcSettings)

    @property
    def enabled(self) -> bool:
        """True when the portal is configured."""
        return bool(self.listen)

    @property
    def tls(self) -> bool:
        """True when the portal itself speaks HTTPS."""
        return bool(self.tls_certificate)


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """``gateway.toml``: where the gateway listens and keeps its data."""

    listen_host: str = "127.0.0.1"
    listen_port: int = 2222
    host_key: Path = Path("keys/ssh_host_ed25519_key")  # relative to the config dir
    signing_key: Path = Path("keys/receipt_signing_ed25519.pem")  # Ed25519 PKCS#8 PEM
    data_dir: Path = Path("/var/lib/opencass")  # mailboxes/, spool/, archive/, opencass.db
    public_url: str = "https://opencass.invalid"  # base of IRIs in XML messages
    login_grace_seconds: float = 30.0
    idle_timeout_seconds: float = 600.0
    rescan_seconds: float = 30.0
    shutdown_grace_seconds: float = 20.0
    log_level: str = "info"
    metrics_listen: str = ""  # host:port of the Prometheus endpoint; empty: no endpoint
    limits: Limits = field(default_factory=Limits)
    ban: BanPolicy = field(default_factory=BanPolicy)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    certificates: CertificateSettings = field(default_factory=CertificateSettings)
    pdf_signing: PdfSigningSettings = field(default_factory=PdfSigningSettings)
    users_poll_seconds: float = 1.0  # how often the store is asked for user changes
    risk_check_seconds: float = 3600.0  # how often agents' exposure alerts are checked
    # [store]: a table of its own in gateway.toml, beside [gateway] (not [gateway.store])
    store: StoreSettings = field(default_factory=StoreSettings, metadata={"toml": "store"})
    portal: PortalSettings = field(default_factory=PortalSettings, metadata={"toml": "portal"})

    @property
    def mailboxes_dir(self) -> Path:
        """Root of every company's mailbox tree."""
        return self.data_dir / "mailboxes"

    @property
    def spool_dir(self) -> Path:
        """Where claimed files wait while they are processed."""
        return self.data_dir / "spool"

    @property
    def archive_dir(self) -> Path:
        """Where processed inputs are kept."""
        return self.data_dir / "archive"

    @property
    def database(self) -> Database:
        """The store: the SQLite file in the data directory, or ``[store] url``."""
        if self.store.url:
            return PgUrl(self.store.url)
        return self.data_dir / "opencass.db"


@dataclass(frozen=True, slots=True)
class Country:
    """A CASS operation of a country: ``countries.toml``.  ``[countries.DE]`` is Germany's CASS
    Export, ``[countries.DE-I]`` its CASS Import, each with its own currency, calendar,
    participants and policies."""

    code: str  # the operation's key: ISO 3166 alpha-2 (export), e.g. DE, or DE-I (import)
    name: str
    currency: str  # ISO 4217, e.g. EUR
    timezone: str  # IANA, e.g. Europe/Berlin
    language: str = "en"  # default language of documents
    office: str = ""  # CASS office code written in hand-off trailers
    disputes: DisputePolicy = field(default_factory=DisputePolicy)
    remittance: RemittancePolicy = field(default_factory=RemittancePolicy)
    invoicing: Invoicing = field(default_factory=Invoicing)  # opencass.config.invoicing
    collection: Collection | None = None  # the CASS office's collection account (banking)
    risk: RiskPolicy = field(default_factory=RiskPolicy)
    state: CountryState = CountryState.LIVE  # before go_live
    go_live: datetime | None = None  # aware, in the country's time zone: live from then on
    netting: NettingConfig = field(default_factory=NettingConfig)  # opencass.config.netting

    @property
    def kind(self) -> str:
        """``export`` (key ``DE``) or ``import`` (key ``DE-I``): the CASS system operated."""
        return "import" if self.code.endswith("-I") else "export"

    @property
    def iso(self) -> str:
        """The ISO 3166 country of the operation: ``DE`` for both ``DE`` and ``DE-I``."""
        return self.code[:2]

    @property
    def operation_code(self) -> str:
        """IATA's operation code, e.g. ``DE_CAS_E_EUR`` or ``DE_CAS_I_EUR``."""
        return f"{self.iso}_CAS_{self.kind[0].upper()}_{self.currency}"

    def state_at(self, now: datetime) -> CountryState:
        """The country's state at ``now``: ``live`` once ``go_live`` has passed."""
        if self.go_live is not None and now >= self.go_live:
            return CountryState.LIVE
        return self.state


@dataclass(frozen=True, slots=True)
class User:
    """A login: belongs to one company, has roles and OpenSSH public keys."""

    name: str
    company: str  # Company.id
    roles: frozenset[Role]
    public_keys: tuple[str, ...] = ()  # OpenSSH "ssh-ed25519 AAAA... comment" lines
    password_hash: str | None = None  # only if configured; password login is off otherwise
    totp_secret: str | None = None  # base32; the portal's second factor (RFC 6238)

    def can(self, *roles: Role) -> bool:
        """True when the user holds ``admin`` or any of ``roles``."""
        return Role.ADMIN in self.roles or any(r in self.roles for r in roles)


@dataclass(frozen=True, slots=True)
class Company:
    """A participant: ``participants/<id>.toml``."""

    id: str  # lower-case, [a-z0-9_-]; also the mailbox directory name
    kind: CompanyKind
    legal_name: str
    languages: tuple[str, ...] = ("en",)
    countries: tuple[str, ...] = ()  # CASS countries the company takes part in
    airline_prefixes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # by country
    agent_codes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # 11 digits, by country
    all_or_nothing: bool = False  # reject the whole file when one record is bad
    tax_id: str = ""  # VAT id (validated with python-stdnum where it knows the format)
    address: str = ""  # on one line
    postal: PostalAddress | None = None  # in its parts ([company.address]; needed by invoices)
    registration: str = ""  # commercial register entry
    electronic_address: str = ""  # "scheme:identifier" (EN 16931 BT-34/BT-49)
    contact: Contact | None = None
    invoice_formats: tuple[str, ...] = ()  # "ubl", "facturx"; empty: the country's choice
    subscriptions: tuple[Subscription, ...] = ()  # defaults of its kind + its [[subscriptions]]
    push: PushTarget | None = None  # its own SFTP server ([push]), if any
    banking: dict[str, Banking] = field(default_factory=dict)  # by country (config.banking)

    @property
    def language(self) -> str:
        """The company's preferred language."""
        return self.languages[0] if self.languages else "en"


@dataclass(frozen=True, slots=True)
class Period:
    """One billing period of a country's calendar, with its milestones (local times)."""

    country: str
    code: str  # IATA period code YYYYMMPPF, e.g. 20261101M
    billing_from: date
    billing_to: date
    upload_cutoff: datetime  # Airline Input Upload Cut-Off (aware, country time zone)
    reports_available: datetime  # CASS reports Availability (preliminary close)
    agent_correction_cutoff: datetime
    airline_response_cutoff: datetime
    billing_available: datetime  # final billing
    remittance_day: date
    settlement_day: date

    @property
    def frequency(self) -> str:
        """The frequency code: M, F, R, W, V or D."""
        return self.code[-1]


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration."""

    directory: Path
    gateway: GatewaySettings
    countries: dict[str, Country]
    companies: dict[str, Company]
    users: dict[str, User]  # by login name
    calendars: dict[str, tuple[Period, ...]]  # by country, ordered by billing_from

    def user(self, name: str) -> User | None:
        """The user with login ``name``, if any."""
        return self.users.get(name)

    def company_of(self, user: User) -> Company:
        """The company a user belongs to."""
        return self.companies[user.company]

    def path(self, p: Path) -> Path:
        """``p`` resolved against the config directory when relative."""
        return p if p.is_absolute() else self.directory / p

    def period_for(self, country: str, day: date) -> Period | None:
        """The period of ``country`` whose billing range contains ``day``."""
        for period in self.calendars.get(country, ()):
            if period.billing_from <= day <= period.billing_to:
                return period
        return None


class PeriodError(ConfigurationError):
    """An unknown CASS country, or a period its calendar does not have."""

    code = "PERIOD_UNKNOWN"


def find_period(config: Config, country: str, code: str) -> tuple[Country, Period]:
    """The configured country and its period ``code``; PeriodError when either is unknown."""
    c = config.countries.get(country)
    if c is None:
        raise PeriodError(f"unknown CASS country {country!r}")
    for p in config.calendars.get(country, ()):
        if p.code == code:
            return c, p
    raise PeriodError(f"no period {code!r} in the calendar of {country}")


def local_today(config: Config, country: str, now: datetime) -> date:
    """``now``'s day in the country's time zone."""
    return now.astimezone(ZoneInfo(config.countries[country].timezone)).date()
