"""The user administration message (``cass:UserAdministration``): the documented example, a
round trip, RDF readers, and what the schema and the safe parser refuse."""

from __future__ import annotations

import pytest
from rdflib import Graph, Literal, Namespace

from opencass.codecs.onerecord.jsonld import XmlRejectedError
from opencass.codecs.onerecord.users import (
    UserAdministration,
    UserChangeRequest,
    decode_user_administration,
    encode_user_administration,
)
from tests.kit.docs import user_administration_example

CASS = Namespace("https://w3id.org/opencass/ns/billing#")


def test_the_documented_example_decodes() -> None:
    message = decode_user_administration(user_administration_example())
    add, grant = message.changes
    assert (add.kind, add.user, add.full_name, add.roles) == (
        "add-user",
        "agent1-clerk",
        "Jana Novak",
        ("input",),
    )
    assert add.keys[0].startswith("ssh-ed25519 AAAAC3Nza") and add.line == 6
    assert (grant.kind, grant.user, grant.access_company, grant.roles) == (
        "grant-access",
        "agent2",
        "agent1",
        ("output",),
    )


def test_round_trip_and_rdflib_reads_the_changes() -> None:
    changes = tuple(
        UserChangeRequest(kind, f"user-{i}", roles=("input", "output"), email="a&b@example.com")
        for i, kind in enumerate(("add-user", "set-roles", "suspend-user"))
    )
    message = UserAdministration("urn:uuid:00000000-0000-4000-8000-00000000aa01", changes)
    data = encode_user_administration(message)
    back = decode_user_administration(data)
    assert [(c.kind, c.user, c.roles, c.email) for c in back.changes] == [
        (c.kind, c.user, c.roles, c.email) for c in changes
    ]
    graph = Graph().parse(data=data, format="xml")
    names = set(graph.objects(None, CASS.userName))
    assert names == {Literal("user-0"), Literal("user-1"), Literal("user-2")}
    assert len(set(graph.objects(None, CASS.userChange))) == 3


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        (lambda d: d.replace(b"add-user", b"make-god"), "XML_SCHEMA_INVALID"),
        (
            lambda d: d.replace(b"<cass:userName>agent1-clerk</cass:userName>", b""),
            "XML_SCHEMA_INVALID",
        ),
        (
            lambda d: b'<!DOCTYPE x [<!ENTITY e "e">]>' + d.split(b"?>", 1)[1],
            "XML_DOCTYPE_FORBIDDEN",
        ),
        (lambda d: d[:-40], "XML_MALFORMED"),
    ],
)
def test_refused_messages(edit: object, code: str) -> None:
    data = edit(user_administration_example())  # type: ignore[operator]
    with pytest.raises(XmlRejectedError) as caught:
        decode_user_administration(data)
    assert caught.value.findings[0].code == code


def test_more_than_a_hundred_changes_are_refused() -> None:
    changes = tuple(UserChangeRequest("suspend-user", f"u{i}") for i in range(101))
    with pytest.raises(XmlRejectedError):
        encode_user_administration(
            UserAdministration("urn:uuid:00000000-0000-4000-8000-00000000aa02", changes)
        )
