"""``opencass demo init DIR``: a complete, working configuration to try the gateway on one machine.

The demo is one CASS country (DE), an airline, two agents and the CASS office, each with one
admin user and a fresh Ed25519 key pair, the gateway's SSH host key and receipt-signing key, and
monthly calendars for this year and the next.  Files are written into a hidden staging folder
inside the target and moved into place only once they all load, ``gateway.toml`` (which carries
the demo marker) last, so an interrupted run never leaves something that looks like a demo.
"""

from __future__ import annotations

import base64
import calendar
import functools
import json
import os
import secrets
import shlex
import shutil
import tempfile
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from opencass.config.loader import load_config
from opencass.config.model import (
    CompanyKind,
    Config,
    GatewaySettings,
    PdfSigningSettings,
    PortalSettings,
)
from opencass.config.passwords import hash_password
from opencass.config.reader import ConfigError
from opencass.errors import ConfigurationError

DEMO_MARKER = "# opencass demo configuration"
DEFAULT_SFTP_PORT = 2222
HOST = "127.0.0.1"
PUBLIC_URL = "https://opencass.invalid"
COUNTRY, COUNTRY_NAME, CURRENCY, TIMEZONE, LANGUAGE, OFFICE = (
    "DE",
    "Germany",
    "EUR",
    "Europe/Berlin",
    "de",
    "FRA",
)
#: Germany's CASS Import: demoair delivers at destination and bills agent1 as consignee agent
IMPORT_OPERATION, IMPORT_NAME = "DE-I", "Germany (CASS Import)"
IMPORT_CODES = {"demoair": ("997",), "agent1": ("DE054000001",)}
HOST_KEY = "keys/ssh_host_ed25519_key"
SIGNING_KEY = "keys/receipt_signing_ed25519.pem"
SIGNING_PUBLIC_KEY = "keys/receipt_signing_ed25519.pub.pem"
PDF_CERT = "keys/pdf_signing_cert.pem"  # self-signed: the demo's stand-in for the office's
PDF_KEY = "keys/pdf_signing_key.pem"
#: agent1's own SFTP server (``opencass demo push-server``) and the gateway's key to log in there
PUSH_COMPANY = "agent1"
PUSH_CLIENT_KEY = "keys/push_to_agent1"
PUSH_SERVER_HOST_KEY = "keys/agent1_server_host_ed25519_key"
PUSH_SERVER_DIR = "agent1-server"


@dataclass(frozen=True, slots=True)
class Milestone:
    """When a period milestone falls: ``days`` after the last billing day, at ``at`` local time."""

    days: int
    at: time | None = None  # None: a day (remittance, settlement), not a moment

    def after(self, last_day: date) -> date | datetime:
        """The milestone of the period whose last billing day is ``last_day``."""
        day = last_day + timedelta(days=self.days)
        return day if self.at is None else datetime.combine(day, self.at)


UPLOAD_CUTOFF = Milestone(3, time(23, 59))
REPORTS_AVAILABLE = Milestone(5, time(8, 0))
AGENT_CORRECTION_CUTOFF = Milestone(10, time(23, 59))
AIRLINE_RESPONSE_CUTOFF = Milestone(13, time(23, 59))
BILLING_AVAILABLE = Milestone(15, time(8, 0))
REMITTANCE_DAY = Milestone(20)
SETTLEMENT_DAY = Milestone(22)
MILESTONES = {  # Period field -> when, in calendar order
    "upload_cutoff": UPLOAD_CUTOFF,
    "reports_available": REPORTS_AVAILABLE,
    "agent_correction_cutoff": AGENT_CORRECTION_CUTOFF,
    "airline_response_cutoff": AIRLINE_RESPONSE_CUTOFF,
    "billing_available": BILLING_AVAILABLE,
    "remittance_day": REMITTANCE_DAY,
    "settlement_day": SETTLEMENT_DAY,
}


@dataclass(frozen=True, slots=True)
class DemoCompany:
    """A demo participant: one company with one admin user named ``user``."""

    id: str
    kind: CompanyKind
    legal_name: str
    languages: tuple[str, ...]
    user: str
    codes: tuple[str, ...] = ()  # airline prefixes or agent codes in COUNTRY


COMPANIES = (
    DemoCompany("demoair", CompanyKind.AIRLINE, "Demo Air AG", ("de", "en"), "demoair", ("997",)),
    DemoCompany(
        "agent1", CompanyKind.AGENT, "Agent One Spedition GmbH", ("de",), "agent1", ("23470068510",)
    ),
    DemoCompany(
        "agent2", CompanyKind.AGENT, "Agent Two Logistics Ltd", ("en",), "agent2", ("12345620022",)
    ),
    DemoCompany("cassops", CompanyKind.OPERATOR, "CASS Operations Demo", ("en",), "ops"),
)
USERS = tuple(c.user for c in COMPANIES)


class DemoError(ConfigurationError):
    """The demo cannot be written where asked (the message says why and what to do)."""

    code = "DEMO_INVALID"


@dataclass(frozen=True, slots=True)
class DemoInfo:
    """Where a demo configuration is and how to log in to it."""

    directory: Path
    sftp_port: int
    keys: dict[str, Path] = field(default_factory=dict)  # user -> private key file
    created: bool = True  # False: the directory already held a demo, left unchanged
    push_port: int | None = None  # agent1's own SFTP server, if the demo pushes to one
    portal_url: str = ""  # the participant portal, when the demo serves it
    totp: dict[str, str] = field(default_factory=dict)  # user -> TOTP secret (the portal)

    def push_server_command(self) -> str:
        """The command that runs agent1's own SFTP server, which the gateway pushes to."""
        d = self.directory
        return shlex.join(
            ["opencass", "demo", "push-server", "--dir", str(d / PUSH_SERVER_DIR),
             "--port", str(self.push_port), "--username", PUSH_COMPANY,
             "--authorized-key", str(d / (PUSH_CLIENT_KEY + ".pub")),
             "--host-key", str(d / PUSH_SERVER_HOST_KEY)]
        )  # fmt: skip

    @property
    def known_hosts(self) -> Path:
        """The demo's own known_hosts file, so the user's ~/.ssh is never touched."""
        return self.directory / "known_hosts"

    def sftp_command(self, user: str) -> str:
        """The OpenSSH ``sftp`` command line that logs ``user`` in to the demo gateway."""
        args = ["sftp", "-i", str(self.keys[user]), "-P", str(self.sftp_port)]
        args += ["-o", "StrictHostKeyChecking=accept-new"]
        args += ["-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "IdentitiesOnly=yes"]
        return shlex.join([*args, f"{user}@{HOST}"])


# --- the files ------------------------------------------------------------------------------


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string


def _settings_toml(table: str, settings: Any) -> list[str]:
    lines = [f"[{table}]"]
    for f in fields(settings):
        value = getattr(settings, f.name)
        if not is_dataclass(value):  # nested settings tables follow
            lines.append(f"{f.name} = {_toml(value)}")
    tables = []  # top-level tables of the file ([store]) come last
    for f in fields(settings):
        value = getattr(settings, f.name)
        if is_dataclass(value) and not isinstance(value, type):
            name = f.metadata.get("toml")
            if name:
                tables += ["", *_NOTES.get(name, ()), *_settings_toml(name, value)]
            else:
                lines += ["", *_settings_toml(f"{table}.{f.name}", value)]
    return lines + tables


_STORE_NOTE = (
    "# The store: empty url, SQLite (opencass.db in data_dir); a PostgreSQL database:",
    '# url = "postgresql://opencass@db.example.org/opencass" (the password from PGPASSWORD or',
    "# ~/.pgpass). `opencass store copy --to postgresql://...` moves an installation.",
    "# lease_seconds: with several gateway nodes on one store, how long what a node holds",
    "# outlives its last heartbeat before another node takes it over.",
)


_PORTAL_NOTE = (
    "# The participant portal (a web interface): off while listen is empty.  tls_certificate",
    "# and tls_key (PEM): HTTPS; otherwise put it behind a TLS proxy named in trusted_proxies.",
)
_NOTES = {"store": _STORE_NOTE, "portal": _PORTAL_NOTE}


def demo_password(user: str) -> str:
    """The demo user's portal password (a demo's, printed for anyone to use)."""
    return f"{user}-demo"


def gateway_toml(sftp_port: int, portal_port: int | None = None) -> str:
    """The demo's ``gateway.toml``: every setting written out, relative paths for the files."""
    on = portal_port is not None  # 0: on a free port (the tests)
    portal = PortalSettings(listen=f"{HOST}:{portal_port}") if on else PortalSettings()
    settings = GatewaySettings(
        portal=portal,
        listen_host=HOST,
        listen_port=sftp_port,
        host_key=Path(HOST_KEY),
        signing_key=Path(SIGNING_KEY),
        data_dir=Path("data"),
        public_url=PUBLIC_URL,
        pdf_signing=PdfSigningSettings(certificate=PDF_CERT, key=PDF_KEY),
    )
    head = [
        DEMO_MARKER,
        "# Written by `opencass demo init`; relative paths are read from this directory.",
        "",
    ]
    return "\n".join([*head, *_settings_toml("gateway", settings)]) + "\n"


def _operation_toml(key: str, name: str) -> list[str]:
    return [
        f"[countries.{key}]",
        f"name = {_toml(name)}",
        f"currency = {_toml(CURRENCY)}",
        f"timezone = {_toml(TIMEZONE)}",
        f"language = {_toml(LANGUAGE)}",
        f"office = {_toml(OFFICE)}",
        "",
        f"[countries.{key}.collection]    # the CASS office's collection account",
        'iban = "DE02100500000054540402"',
        'bic = "BELADEBEXXX"',
        'holder = "CASS Operations Demo"',
        'creditor_id = "DE98ZZZ09999999999"',
        "",
    ]


def countries_toml(imports: bool = False) -> str:
    """The demo's ``countries.toml``: Germany's CASS Export (DE), with ``imports`` its CASS
    Import (DE-I) too."""
    lines = [*_operation_toml(COUNTRY, COUNTRY_NAME), *INVOICING]
    if imports:
        lines += [
            "",
            "# CASS Import: the delivering airline bills the consignee's agent at destination",
            *_operation_toml(IMPORT_OPERATION, IMPORT_NAME),
            *IMPORT_INVOICING,
        ]
    return "\n".join(lines)


#: The import operation's invoices: collect and import charges as billed, no VAT computed.
IMPORT_INVOICING = (
    f"[countries.{IMPORT_OPERATION}.invoicing]",
    'issuer = "cassops"',
    'untaxed_category = "E"',
    'exemption_reason = "Steuerfreie Leistung (§ 4 Nr. 3 UStG)"',
    'formats = ["ubl", "facturx"]',
)


#: German VAT on the demo's invoices: carriage within Germany by an airline established there
#: is taxed at 19 % on the charges and, for an agent registered for VAT, on its commission;
#: by a foreign airline, the registered agent accounts for the VAT (reverse charge, § 13b
#: UStG); cross-border air freight and the agency for it are exempt (§ 4 Nr. 3 and 5 UStG).
INVOICING = (
    f"[countries.{COUNTRY}.invoicing]    # invoices of the final close (docs/documents.md)",
    'issuer = "cassops"',
    'tax_point = "execution"             # the AWB\'s execution date picks the rule',
    'tax_rounding = "line"',
    'untaxed_category = "E"',
    'exemption_reason = "Steuerfreie Leistung (§ 4 UStG)"',
    'formats = ["ubl", "facturx"]',
    "",
    f"[countries.{COUNTRY}.invoicing.payment_terms]",
    'de = "Zahlbar über CASS bis zum Remittance Day, {due}."',
    'en = "Payable through CASS by Remittance Day, {due}."',
    "",
    f"[countries.{COUNTRY}.invoicing.mentions]",
    'de = ["Abrechnung durch CASS Operations Demo im Namen und für Rechnung der '
    'Fluggesellschaften."]',
    'en = ["Billed by CASS Operations Demo in the name and for the account of the airlines."]',
    "",
    f"[[countries.{COUNTRY}.invoicing.tax]]     # domestic carriage, airline established here",
    "valid_from = 2007-01-01",
    'rate = "19"',
    'category = "standard"',
    'bases = ["weight", "valuation", "carrier_charges", "discount"]',
    'shipment = "domestic"',
    "airline_established = true",
    "",
    f"[[countries.{COUNTRY}.invoicing.tax]]     # the agency for it, agent registered for VAT",
    "valid_from = 2007-01-01",
    'rate = "19"',
    'category = "standard"',
    'bases = ["commission", "agent_charges"]',
    'shipment = "domestic"',
    "agent_registered = true",
    "",
    f"[[countries.{COUNTRY}.invoicing.tax]]     # domestic carriage by a foreign airline",
    "valid_from = 2007-01-01",
    'category = "reverse_charge"',
    'bases = ["weight", "valuation", "carrier_charges", "discount"]',
    'shipment = "domestic"',
    "airline_established = false",
    "agent_registered = true",
    'exemption_reason = "Steuerschuldnerschaft des Leistungsempfängers (§ 13b UStG)"',
    "",
    f"[[countries.{COUNTRY}.invoicing.tax]]     # cross-border air freight and its agency",
    "valid_from = 2007-01-01",
    'category = "exempt"',
    'shipment = "international"',
    'exemption_reason = "Steuerfreie grenzüberschreitende Güterbeförderung (§ 4 Nr. 3 und 5 UStG)"',
    'exemption_code = "VATEX-EU-132"',
    "",
)
#: the demo companies' legal identities (valid German VAT ids; agent2 has none)
LEGAL = {
    "demoair": ("DE450007896", "HRB 99001, Amtsgericht Frankfurt am Main",
                ("Flughafenstraße 1", "Frankfurt am Main", "60547", "Hessen"),
                ("Billing", "+49 69 9900 100", "billing@demoair.example")),
    "agent1": ("DE300004565", "HRB 99002, Amtsgericht Frankfurt am Main",
               ("Cargo City Süd 558", "Frankfurt am Main", "60549", "Hessen"),
               ("Buchhaltung", "+49 69 9900 200", "accounts@agent1.example")),
    "agent2": ("", "", ("Langer Kornweg 34", "Kelsterbach", "65451", "Hessen"),
               ("Accounts", "+49 6107 9900 300", "accounts@agent2.example")),
    "cassops": ("DE270001234", "HRB 99000, Amtsgericht Frankfurt am Main",
                ("Unterschweinstiege 2", "Frankfurt am Main", "60549", "Hessen"),
                ("CASS billing desk", "+49 69 9900 000", "billing@cass-demo.example")),
}  # fmt: skip


def legal_toml(c: DemoCompany) -> list[str]:
    """A demo company's tax id, register entry, electronic address, address and contact."""
    tax_id, registration, (street, city, postcode, state), (name, phone, email) = LEGAL[c.id]
    lines = [f"tax_id = {_toml(tax_id)}"] if tax_id else []
    if registration:
        lines.append(f"registration = {_toml(registration)}")
    lines += [
        f"electronic_address = {_toml('EM:' + email)}",
        "",
        "[company.address]",
        f"street = {_toml(street)}",
        f"city = {_toml(city)}",
        f"postcode = {_toml(postcode)}",
        f"subdivision = {_toml(state)}",
        f"country = {_toml(COUNTRY)}",
        "",
        "[company.contact]",
        f"name = {_toml(name)}",
        f"phone = {_toml(phone)}",
        f"email = {_toml(email)}",
    ]
    return lines


def push_toml(port: int, host_key: str) -> str:
    """agent1's push rule: statements and hand-off files to its own SFTP server as well."""
    return "\n".join(
        [
            "",
            "[push]                     # our own SFTP server: opencass demo push-server",
            f"host = {_toml(HOST)}",
            f"port = {port}",
            f"username = {_toml(PUSH_COMPANY)}",
            f"client_key = {_toml(PUSH_CLIENT_KEY)}",
            f"host_key = {_toml(host_key.strip())}",
            "",
            "[[subscriptions]]",
            'events = ["document.available"]',
            'document_kinds = ["statement", "prelim-statement", "handoff", "invoice"]',
            'formats = ["xml", "hot", "csv", "pdf", "xlsx", "text"]',
            'channels = ["push"]',
            'description = "statements, hand-off files and invoices to our own server"',
        ]
    )


#: the demo's bank details (published test IBANs): agent2 pays by SEPA direct debit, agent1
#: from a pre-funded account, both from the demo's first period; the CASS office collects
BANKING = {
    "demoair": ('iban = "DE89370400440532013000"', 'bic = "COBADEFFXXX"'),
    "agent1": ('iban = "DE02120300000000202051"', 'bic = "BYLADEM1001"'),
    "agent2": ('iban = "DE02500105170137075030"', 'bic = "INGDDEFFXXX"',
               'mandate_id = "AGENT2-DD-0001"', "mandate_signed = 2026-01-02",
               'mandate_scheme = "CORE"'),
}  # fmt: skip
OPTIONS = {"agent1": "prefunded", "agent2": "direct_debit"}
SECURITY = {"agent1": ("guarantee", "20000.00"), "agent2": ("deposit", "5000.00")}


def banking_toml(c: DemoCompany, first_period: str) -> list[str]:
    """A demo company's ``[company.banking.DE]`` (bank details, option, security)."""
    if c.id not in BANKING:
        return []
    lines = ["", f"[company.banking.{COUNTRY}]", *BANKING[c.id]]
    if c.id in OPTIONS:
        option = f"option = {_toml(OPTIONS[c.id])}"
        lines += ["", f"[[company.banking.{COUNTRY}.options]]", option,
                  f"from_period = {_toml(first_period)}"]  # fmt: skip
    if c.id in SECURITY:
        kind, amount = SECURITY[c.id]
        lines += ["", f"[company.banking.{COUNTRY}.security]", f"kind = {_toml(kind)}",
                  f"amount = {_toml(amount)}", f"currency = {_toml(CURRENCY)}"]  # fmt: skip
    return lines


def participant_toml(
    c: DemoCompany,
    push: str = "",
    first_period: str = "",
    imports: bool = False,
    totp_secret: str = "",
) -> str:
    """A demo company's ``participants/<id>.toml`` (``push``: tables to prepend to users;
    ``imports``: with the CASS Import operation DE-I)."""
    importer = imports and c.id in IMPORT_CODES
    lines = [
        "[company]",
        f"id = {_toml(c.id)}",
        f"kind = {_toml(c.kind.value)}",
        f"legal_name = {_toml(c.legal_name)}",
        f"languages = {_toml(c.languages)}",
        f"countries = {_toml([COUNTRY, IMPORT_OPERATION] if importer else [COUNTRY])}",
        *legal_toml(c),
    ]
    if c.codes:
        table = "airline_prefixes" if c.kind is CompanyKind.AIRLINE else "agent_codes"
        lines += ["", f"[company.{table}]", f"{COUNTRY} = {_toml(c.codes)}"]
        if importer:
            lines.append(f"{IMPORT_OPERATION} = {_toml(IMPORT_CODES[c.id])}")
    lines += banking_toml(c, first_period)
    if push:
        lines.append(push)
    lines += [
        "",
        "[[users]]",
        f"name = {_toml(c.user)}",
        'roles = ["admin"]',
        f"public_key_files = {_toml([f'keys/{c.user}.pub'])}",
    ]
    if totp_secret:  # the portal's demo login: password and second factor
        lines += [
            f"password_hash = {_toml(hash_password(demo_password(c.user)))}",
            f"totp_secret = {_toml(totp_secret)}",
        ]
    return "\n".join(lines) + "\n"


def calendar_toml(year: int, operation: str = COUNTRY) -> str:
    """The demo's calendar of ``year``: twelve monthly periods ``YYYYMM01M``."""
    lines = [
        f"# {operation} {year}: monthly periods",
        f"country = {_toml(operation)}",
        f"year = {year}",
    ]
    for month in range(1, 13):
        last = date(year, month, calendar.monthrange(year, month)[1])
        lines += ["", "[[periods]]", f'code = "{year}{month:02}01M"']
        lines += [f"billing_from = {last.replace(day=1)}", f"billing_to = {last}"]
        for name, milestone in MILESTONES.items():
            lines.append(f"{name} = {milestone.after(last).isoformat()}")
    return "\n".join(lines) + "\n"


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(data)


def _write_ssh_key(path: Path, comment: str) -> str:
    """A new Ed25519 key pair at ``path`` (OpenSSH, 0600) and ``path``.pub; the public line."""
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    _write_secret(path, key.export_private_key("openssh"))
    public = key.export_public_key("openssh").decode("ascii")
    path.with_name(path.name + ".pub").write_text(public, encoding="ascii")
    return public


def _write_signing_key(root: Path) -> None:
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pkcs8 = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    _write_secret(root / SIGNING_KEY, pkcs8)
    spki = key.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
    (root / SIGNING_PUBLIC_KEY).write_bytes(spki)


@functools.cache
def _pdf_signing_key() -> Any:
    """The RSA-3072 key of the demo's PDF certificate.  Generating one takes 0.1-2 s (a search
    for primes); a process that writes several demos (the test suite writes hundreds) makes it
    once and gives each demo its own certificate of it."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


def write_pdf_certificate(root: Path) -> None:
    """A self-signed RSA-3072 certificate that signs the demo's PDFs (a real office uses one
    issued by a trust service provider; this one is valid from 2000 to 2100 so that closes at
    any test date verify)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.x509.oid import NameOID

    key = _pdf_signing_key()
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, COUNTRY),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CASS Operations Demo"),
        x509.NameAttribute(NameOID.COMMON_NAME, "CASS Operations Demo document signing"),
    ])  # fmt: skip
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=True, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2000, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2100, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    _write_secret(root / PDF_KEY, pem)
    (root / PDF_CERT).write_bytes(cert.public_bytes(ser.Encoding.PEM))


def _write_demo(
    root: Path,
    sftp_port: int,
    year: int,
    push_port: int | None = None,
    imports: bool = False,
    portal_port: int | None = None,
) -> None:
    for sub in ("participants", "calendars"):
        (root / sub).mkdir()
    (root / "keys").mkdir(mode=0o700)
    host_public = _write_ssh_key(root / HOST_KEY, "opencass-demo-host")
    host = HOST if sftp_port == 22 else f"[{HOST}]:{sftp_port}"
    (root / "known_hosts").write_text(f"{host} {host_public}", encoding="ascii")
    _write_signing_key(root)
    write_pdf_certificate(root)
    push = ""
    if push_port:
        _write_ssh_key(root / PUSH_CLIENT_KEY, "opencass-demo-push")
        server_key = _write_ssh_key(root / PUSH_SERVER_HOST_KEY, "agent1-server")
        push = push_toml(push_port, server_key)
    for c in COMPANIES:
        _write_ssh_key(root / "keys" / c.user, f"{c.user}@opencass-demo")
        extra = push if c.id == PUSH_COMPANY else ""
        on = portal_port is not None
        secret = base64.b32encode(secrets.token_bytes(20)).decode("ascii") if on else ""
        toml = participant_toml(
            c, extra, first_period=f"{year}0101M", imports=imports, totp_secret=secret
        )
        (root / "participants" / f"{c.id}.toml").write_text(toml, "utf-8")
    for y in (year, year + 1):
        for op in (COUNTRY, IMPORT_OPERATION) if imports else (COUNTRY,):
            (root / "calendars" / f"{op}-{y}.toml").write_text(calendar_toml(y, op), "utf-8")
    (root / "countries.toml").write_text(countries_toml(imports), "utf-8")
    (root / "gateway.toml").write_text(gateway_toml(sftp_port, portal_port), "utf-8")


# --- init -----------------------------------------------------------------------------------


def is_demo(directory: Path) -> bool:
    """True when ``directory`` holds a configuration written by ``init_demo``."""
    try:
        with (directory / "gateway.toml").open(encoding="utf-8") as f:
            return f.readline().rstrip("\n") == DEMO_MARKER
    except (OSError, UnicodeDecodeError):
        return False


def _existing(directory: Path) -> DemoInfo:
    try:
        config = load_config(directory)
    except ConfigError as e:
        raise DemoError(f"{directory} holds a demo configuration that no longer loads:\n{e}") from e
    users = sorted(config.users, key=lambda u: (USERS.index(u) if u in USERS else len(USERS), u))
    keys = {u: config.directory / "keys" / u for u in users}
    keys = {u: path for u, path in keys.items() if path.is_file()}
    pusher = config.companies.get(PUSH_COMPANY)
    push_port = pusher.push.port if pusher is not None and pusher.push is not None else None
    return DemoInfo(
        config.directory, config.gateway.listen_port, keys, False, push_port,
        *_portal_logins(config),
    )  # fmt: skip


def _portal_logins(config: Config) -> tuple[str, dict[str, str]]:
    """The portal's address and each demo user's TOTP secret (when the portal is on)."""
    listen = config.gateway.portal.listen
    if not listen:
        return "", {}
    secrets_ = {u.name: u.totp_secret for u in config.users.values() if u.totp_secret}
    return f"http://{listen}/", dict(sorted(secrets_.items()))


def _publish(staging: Path, directory: Path) -> None:
    entries = sorted(staging.iterdir(), key=lambda p: p.name == "gateway.toml")
    for entry in entries:  # gateway.toml, which marks the demo, goes last
        entry.rename(directory / entry.name)


def init_demo(
    directory: Path,
    *,
    today: date,
    sftp_port: int = DEFAULT_SFTP_PORT,
    push_port: int | None = None,
    imports: bool = False,
    portal_port: int | None = None,
) -> DemoInfo:
    """Write the demo configuration into ``directory``, or return the demo already there.

    ``imports``: Germany's CASS Import operation DE-I as well (``opencass demo init
    --with-import``; ``make run`` writes it): demoair bills agent1 as consignee there.

    ``push_port``: agent1 also gets its statements pushed to its own SFTP server on that port
    of 127.0.0.1 (``DemoInfo.push_server_command`` starts one)."""
    if not 0 < sftp_port < 65536:
        raise DemoError(f"{sftp_port} is not a TCP port (1 to 65535)")
    directory = Path(directory).resolve()
    if directory.exists() and not directory.is_dir():
        raise DemoError(f"{directory} exists and is not a directory")
    year = today.year
    try:
        if directory.is_dir() and any(directory.iterdir()):
            if is_demo(directory):
                return _existing(directory)
            raise DemoError(f"{directory} is not empty: give a new or empty directory for the demo")
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".demo-", dir=directory))
        try:
            _write_demo(staging, sftp_port, year, push_port, imports, portal_port)
            load_config(staging)  # a demo that does not load is a bug: let it raise
            _publish(staging, directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as e:
        raise DemoError(f"cannot write the demo into {directory}: {e.strerror or e}") from e
    keys = {user: directory / "keys" / user for user in USERS}
    url, totp = _portal_logins(load_config(directory))
    return DemoInfo(directory, sftp_port, keys, True, push_port, url, totp)
