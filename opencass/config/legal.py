"""A participant's legal identity: postal address, contact, tax id, electronic address.

What an invoice needs of its seller and buyer (EN 16931 BG-4/BG-7, BG-5/BG-8, BG-6/BG-9,
BT-31/BT-48, BT-34/BT-49).  In a participant file::

    [company]
    tax_id = "DE812345673"          # VAT id, checked with python-stdnum where it knows the
                                    # country's format (its prefix: DE, FR, CH, ...)
    registration = "HRB 12345, Amtsgericht Frankfurt am Main"
    electronic_address = "EM:billing@agent-one.example"   # scheme:id (EAS code list)

    [company.address]               # or address = "one line" (older form, not for invoices)
    street = "Cargo City Süd 558"
    additional = "Gebäude 5"        # optional
    city = "Frankfurt am Main"
    postcode = "60549"
    subdivision = "Hessen"          # optional
    country = "DE"                  # ISO 3166 alpha-2

    [company.contact]
    name = "Billing desk"
    phone = "+49 69 1234 0"
    email = "billing@agent-one.example"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial

from opencass.config.reader import Table
from opencass.config.remembered import problem

__all__ = [
    "Contact",
    "Identity",
    "PostalAddress",
    "read_contact",
    "read_identity",
    "read_postal",
    "tax_id_problem",
]

_COUNTRY = re.compile(r"[A-Z]{2}")
#: EAS (electronic address scheme) codes commonly used; any 4-digit ICD code is accepted too.
_EAS = frozenset({"EM", "0088", "0060", "0204", "9930", "9925", "9957", "0208", "0007", "0192"})


@dataclass(frozen=True, slots=True)
class PostalAddress:
    """A postal address in its parts."""

    street: str = ""
    additional: str = ""
    city: str = ""
    postcode: str = ""
    subdivision: str = ""
    country: str = ""  # ISO 3166 alpha-2

    def one_line(self) -> str:
        """The address on one line: street, postcode city, country."""
        parts = [self.street, self.additional, f"{self.postcode} {self.city}".strip(),
                 self.subdivision, self.country]  # fmt: skip
        return ", ".join(p for p in parts if p)


@dataclass(frozen=True, slots=True)
class Contact:
    """Whom to ask about a document."""

    name: str = ""
    phone: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class Identity:
    """What a company's or an issuer's table says of its legal identity, checked."""

    tax_id: str = ""
    address: str = ""  # on one line
    postal: PostalAddress | None = None
    registration: str = ""
    electronic_address: str = ""
    contact: Contact | None = None


def read_identity(t: Table) -> Identity:
    """``tax_id``, ``address`` (a line or a table), ``registration``, ``electronic_address``
    and ``[...contact]`` of ``t``; a VAT id or an electronic address that does not check out
    is a problem."""
    tax_id = t.opt("tax_id", str, "")
    if tax_id and (why := tax_id_problem(tax_id)):
        t.problem("tax_id", why)
    electronic = t.opt("electronic_address", str, "")
    if electronic and (why := electronic_address_problem(electronic)):
        t.problem("electronic_address", why)
    address, postal = read_postal(t)
    registration = t.opt("registration", str, "")
    return Identity(tax_id, address, postal, registration, electronic, read_contact(t))


def read_postal(t: Table, name: str = "address") -> tuple[str, PostalAddress | None]:
    """``address`` as one line, or the table ``[...address]`` (its one-line form as well)."""
    value = t.data.get(name)
    if not isinstance(value, dict):
        return t.opt(name, str, ""), None
    a = t.table(name)
    address = PostalAddress(
        street=a.req("street", str) or "",
        additional=a.opt("additional", str, ""),
        city=a.req("city", str) or "",
        postcode=a.opt("postcode", str, ""),
        subdivision=a.opt("subdivision", str, ""),
        country=a.req("country", str) or "",
    )
    if address.country and not _COUNTRY.fullmatch(address.country):
        a.problem("country", f"{address.country!r} is not an ISO 3166 alpha-2 code such as DE")
    return address.one_line(), address


def read_contact(t: Table) -> Contact | None:
    """``[...contact]``, if present."""
    if "contact" not in t.data:
        t.read.add("contact")
        return None
    c = t.table("contact")
    contact = Contact(c.opt("name", str, ""), c.opt("phone", str, ""), c.opt("email", str, ""))
    if contact.email and "@" not in contact.email:
        c.problem("email", f"{contact.email!r} is not an e-mail address")
    return contact


def tax_id_problem(value: str) -> str | None:
    """Why ``value`` is not a valid VAT id (None: valid, or a format python-stdnum does not
    know, which is accepted as written); a valid one is remembered (``remembered``)."""
    return problem("vat", value, partial(_tax_id_problem, value))


def _tax_id_problem(value: str) -> str | None:
    from stdnum import get_cc_module
    from stdnum.exceptions import ValidationError

    compact = re.sub(r"[\s.\-]", "", value).upper()
    prefix = compact[:2]
    if not _COUNTRY.fullmatch(prefix):
        return None  # a national number without a country prefix: not checked
    module = get_cc_module("gr" if prefix == "EL" else prefix.lower(), "vat")
    if module is None:
        return None
    try:
        module.validate(compact)
    except ValidationError as e:
        return f"{value!r} is not a valid {prefix} VAT id ({e})"
    return None


def electronic_address_problem(value: str) -> str | None:
    """Why ``value`` (``scheme:identifier``) is not an electronic address."""
    scheme, sep, ident = value.partition(":")
    if not sep or not ident.strip():
        return f"{value!r} is not scheme:identifier, e.g. EM:billing@example.com"
    if scheme not in _EAS and not re.fullmatch(r"\d{4}", scheme):
        return f"{scheme!r} is not an electronic address scheme (EAS code, e.g. EM or 0088)"
    return None
