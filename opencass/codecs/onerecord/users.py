"""Company administration (``cass:UserAdministration``): encode and decode.

A company's administrator puts this message into the company's inbox to change its users; the
gateway applies every change of the message or none, and answers with a validation report and a
receipt::

    <cass:UserAdministration xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
        xmlns:cass="https://w3id.org/opencass/ns/billing#"
        rdf:about="urn:uuid:8d5e0a52-3f7e-4c1e-9a57-0a6f1f0f4b21">
      <cass:userChange>
        <cass:UserChange>
          <cass:changeKind>add-user</cass:changeKind>
          <cass:userName>agent1-ops</cass:userName>
          <cass:personName>Jana Novak</cass:personName>
          <cass:userRole>input</cass:userRole>
          <cass:publicKey>ssh-ed25519 AAAAC3Nza... jana@laptop</cass:publicKey>
        </cass:UserChange>
      </cass:userChange>
    </cass:UserAdministration>

Change kinds: ``add-user`` (roles, keys, name, e-mail), ``set-roles`` (the roles replace the
old ones), ``add-key``, ``remove-key``, ``suspend-user``, ``reactivate-user``, ``remove-user``,
``grant-access`` and ``revoke-access`` (with ``cass:accessCompany``: the other company).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opencass.codecs.onerecord import rdfxml as rx
from opencass.codecs.onerecord.jsonld import XmlRejectedError
from opencass.codecs.onerecord.safe import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    Rejected,
    load_schema,
    parse_document,
    validate,
)
from opencass.codecs.onerecord.vocab import tag
from opencass.findings import Scope, finding

__all__ = [
    "CHANGE_KINDS",
    "USER_ADMINISTRATION_TAG",
    "UserAdministration",
    "UserChangeRequest",
    "decode_user_administration",
    "encode_user_administration",
]

ROOT = "cass:UserAdministration"
#: The root element of a user administration message, in Clark notation.
USER_ADMINISTRATION_TAG = tag(ROOT)
CHANGE_KINDS = (
    "add-user", "set-roles", "add-key", "remove-key", "suspend-user", "reactivate-user",
    "remove-user", "grant-access", "revoke-access",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class UserChangeRequest:
    """One change; ``line`` is where it starts in the message (for findings)."""

    kind: str
    user: str
    company: str | None = None  # the company of a new user (the operator's messages only)
    access_company: str | None = None  # grant-access, revoke-access: the other company
    full_name: str = ""
    email: str = ""
    roles: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    line: int | None = None


@dataclass(frozen=True, slots=True)
class UserAdministration:
    """A message: its IRI and its changes, in order."""

    about: str
    changes: tuple[UserChangeRequest, ...]


def _change_xml(c: UserChangeRequest) -> str:
    values: list[tuple[str, str]] = [("changeKind", c.kind), ("userName", c.user)]
    values += [("userCompany", c.company)] if c.company else []
    values += [("accessCompany", c.access_company)] if c.access_company else []
    values += [("personName", c.full_name)] if c.full_name else []
    values += [("emailAddress", c.email)] if c.email else []
    values += [("userRole", r) for r in c.roles] + [("publicKey", k) for k in c.keys]
    inner = "".join(f"<cass:{p}>{rx.escape_text(v)}</cass:{p}>\n" for p, v in values)
    return f"<cass:userChange>\n<cass:UserChange>\n{inner}</cass:UserChange>\n</cass:userChange>"


def encode_user_administration(message: UserAdministration) -> bytes:
    """The message as UTF-8 RDF/XML, valid against the opencass XSD (deterministic)."""
    body = "\n".join(_change_xml(c) for c in message.changes)
    text = rx.root_start(ROOT, message.about, ("rdf", "cass")) + body + "\n" + rx.root_end(ROOT)
    data = text.encode("utf-8")
    decode_user_administration(data)  # the schema has the last word
    return data


def decode_user_administration(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> UserAdministration:
    """The message in ``data``; XmlRejectedError (with its findings) when it is not valid."""
    try:
        doc = parse_document(data, max_bytes)
    except Rejected as exc:
        raise XmlRejectedError([exc.finding]) from exc
    return user_administration_of(doc, max_depth=max_depth)


def _request(node: Any) -> UserChangeRequest:
    values: dict[str, list[str]] = {}
    for child in node:
        values.setdefault(child.tag.rpartition("}")[2], []).append((child.text or "").strip())

    def one(name: str) -> str:
        return values.get(name, [""])[0]

    return UserChangeRequest(
        kind=one("changeKind"),
        user=one("userName"),
        company=one("userCompany") or None,
        access_company=one("accessCompany") or None,
        full_name=one("personName"),
        email=one("emailAddress"),
        roles=tuple(values.get("userRole", ())),
        keys=tuple(values.get("publicKey", ())),
        line=node.sourceline,
    )


def user_administration_of(root: Any, *, max_depth: int = DEFAULT_MAX_DEPTH) -> UserAdministration:
    """The message of an already (safely) parsed root element; XmlRejectedError when invalid."""
    if root.tag != USER_ADMINISTRATION_TAG:
        wrong = finding("XML_ROOT_UNKNOWN", f"the root is {root.tag}, not {ROOT}", line=1,
                        scope=Scope.FILE)  # fmt: skip
        raise XmlRejectedError([wrong])
    problem = validate(load_schema(), root, max_depth)
    if problem is not None:
        raise XmlRejectedError([problem])
    changes = tuple(_request(wrapper[0]) for wrapper in root)
    about = str(root.get("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about"))
    return UserAdministration(about, changes)
