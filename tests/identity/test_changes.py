"""The self-service rules (identity.changes) and the effective users (identity.directory) on
the demo configuration, without a daemon: each rule, each refusal, files against the store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from opencass.codecs.onerecord.users import UserChangeRequest as Change
from opencass.config.model import CompanyKind, Config, Role
from opencass.identity.changes import Actor, Plan, plan_changes
from opencass.identity.directory import build_directory, file_sha
from opencass.store.users import StoredUser, UsersState
from tests.kit.identity import keygen

NOW = "2026-11-18T10:00:00+00:00"
EMPTY = UsersState(0, (), ())


def _apply(config: Config, state: UsersState, plan: Plan) -> UsersState:
    """The store's state after a plan (as write_plan would leave it)."""
    users = {u.name: u for u in state.users} | plan.users
    access = {(a.user, a.company): a for a in state.access}
    for key, value in plan.access.items():
        if value is None:
            access.pop(key, None)
        else:
            access[key] = value
    return UsersState(state.version + 1, tuple(users.values()), tuple(access.values()))


def _plan(config: Config, state: UsersState, sender: str, company: str, *changes: Change) -> Plan:
    actor = Actor(sender, company, "F1")
    return plan_changes(changes, actor, state, config.users, config.companies, NOW)


def _codes(plan: Plan) -> list[str]:
    return [f.code for f in plan.findings]


@pytest.fixture
def key(tmp_path: Path) -> str:
    return keygen(tmp_path / "k")


def test_an_admin_adds_a_user_of_its_company(config: Config, key: str) -> None:
    plan = _plan(
        config,
        EMPTY,
        "agent1",
        "agent1",
        Change("add-user", "a1-new", roles=("input", "output"), keys=(key,)),
    )
    assert not plan.refused
    new = plan.users["a1-new"]
    assert (new.company, new.roles, new.status, new.source) == (
        "agent1",
        ("input", "output"),
        "active",
        "self-service",
    )
    assert new.keys == (key,) and plan.records[0][:3] == ("add-user", "a1-new", "agent1")
    d = build_directory(config.users, config.companies, _apply(config, EMPTY, plan))
    member = d.active("a1-new")
    assert member is not None and member.user.roles == {Role.INPUT, Role.OUTPUT}


def test_only_admins_of_the_inbox_company_administer(config: Config, key: str) -> None:
    add = Change("add-user", "x-new", roles=("input",), keys=(key,))
    assert _codes(_plan(config, EMPTY, "agent1", "agent2", add)) == ["USER_ADMIN_REQUIRED"]
    assert _codes(_plan(config, EMPTY, "nobody", "agent1", add)) == ["USER_ADMIN_REQUIRED"]
    plan = _plan(config, EMPTY, "agent1", "agent1", Change("add-user", "a1-in", roles=("input",)))
    state = _apply(config, EMPTY, plan)
    assert _codes(_plan(config, state, "a1-in", "agent1", add)) == ["USER_ADMIN_REQUIRED"]


def test_the_operator_administers_every_company(config: Config, key: str) -> None:
    ops = next(c.id for c in config.companies.values() if c.kind is CompanyKind.OPERATOR)
    plan = _plan(
        config,
        EMPTY,
        "ops",
        ops,
        Change("add-user", "a2-new", company="agent2", roles=("output",), keys=(key,)),
        Change("set-roles", "agent1", roles=("admin", "input")),
    )
    assert not plan.refused, plan.findings
    assert plan.users["a2-new"].company == "agent2" and plan.users["a2-new"].source == "operator"
    # another company's admin may not name another company
    other = _plan(
        config,
        EMPTY,
        "agent1",
        "agent1",
        Change("add-user", "a2-x", company="agent2", roles=("output",)),
    )
    assert _codes(other) == ["USER_NOT_IN_COMPANY"]


def test_a_company_never_loses_its_last_admin(config: Config) -> None:
    for change in (
        Change("remove-user", "agent1"),
        Change("suspend-user", "agent1"),
        Change("set-roles", "agent1", roles=("input",)),
    ):
        assert _codes(_plan(config, EMPTY, "agent1", "agent1", change)) == ["USER_LAST_ADMIN"]
    # with a second admin, the first may step down; then the second is the last
    plan = _plan(
        config,
        EMPTY,
        "agent1",
        "agent1",
        Change("add-user", "a1-two", roles=("admin",)),
        Change("set-roles", "agent1", roles=("input",)),
    )
    assert not plan.refused
    state = _apply(config, EMPTY, plan)
    last = _plan(config, state, "a1-two", "agent1", Change("suspend-user", "a1-two"))
    assert _codes(last) == ["USER_LAST_ADMIN"]


def test_keys_are_checked_and_never_shared(config: Config, key: str, tmp_path: Path) -> None:
    weak = keygen(tmp_path / "rsa2048", "rsa", 2048)
    strong = keygen(tmp_path / "rsa3072", "rsa", 3072)
    ecdsa = keygen(tmp_path / "ec", "ecdsa")
    dsa_like = "ssh-dss AAAAB3NzaC1kc3MAAACBAP"
    theirs = config.users["agent2"].public_keys[0]
    cases = {
        weak: "USER_KEY_WEAK",
        dsa_like: "USER_KEY_INVALID",
        theirs: "USER_KEY_IN_USE",
        "not a key": "USER_KEY_INVALID",
    }
    for line, code in cases.items():
        plan = _plan(config, EMPTY, "agent1", "agent1", Change("add-key", "agent1", keys=(line,)))
        assert _codes(plan) == [code], line
    plan = _plan(
        config, EMPTY, "agent1", "agent1", Change("add-key", "agent1", keys=(strong, ecdsa, key))
    )
    assert not plan.refused
    assert plan.users["agent1"].keys == (*config.users["agent1"].public_keys, strong, ecdsa, key)
    # the same key for two new users in one message: the second is refused
    two = _plan(
        config,
        EMPTY,
        "agent1",
        "agent1",
        Change("add-user", "a1-a", roles=("input",), keys=(key,)),
        Change("add-user", "a1-b", roles=("input",), keys=(key,)),
    )
    assert _codes(two) == ["USER_KEY_IN_USE"]


def test_removing_a_key_it_does_not_have(config: Config, key: str) -> None:
    plan = _plan(config, EMPTY, "agent1", "agent1", Change("remove-key", "agent1", keys=(key,)))
    assert _codes(plan) == ["USER_KEY_UNKNOWN"]


def test_names_are_unique_and_never_reused(config: Config) -> None:
    plan = _plan(config, EMPTY, "agent1", "agent1", Change("add-user", "a1-gone", roles=("input",)))
    state = _apply(config, EMPTY, plan)
    state = _apply(
        config, state, _plan(config, state, "agent1", "agent1", Change("remove-user", "a1-gone"))
    )
    again = _plan(
        config, state, "agent1", "agent1", Change("add-user", "a1-gone", roles=("input",))
    )
    assert _codes(again) == ["USER_NAME_TAKEN"]
    assert _codes(
        _plan(config, EMPTY, "agent1", "agent1", Change("add-user", "agent2", roles=("input",)))
    ) == ["USER_NAME_TAKEN"]


def test_state_changes_follow_the_states(config: Config) -> None:
    assert _codes(
        _plan(config, EMPTY, "agent1", "agent1", Change("reactivate-user", "agent1"))
    ) == ["USER_STATE"]
    plan = _plan(
        config,
        EMPTY,
        "agent1",
        "agent1",
        Change("add-user", "a1-s", roles=("input",)),
        Change("suspend-user", "a1-s"),
        Change("suspend-user", "a1-s"),
    )
    assert _codes(plan) == ["USER_STATE"]


def test_a_file_user_taken_over_keeps_its_entry_fingerprint(config: Config, key: str) -> None:
    plan = _plan(config, EMPTY, "agent1", "agent1", Change("add-key", "agent1", keys=(key,)))
    stored = plan.users["agent1"]
    assert stored.file_sha == file_sha(config.users["agent1"])
    state = _apply(config, EMPTY, plan)
    d = build_directory(config.users, config.companies, state)
    assert d.conflicts == () and key in d.members["agent1"].user.public_keys
    # the operator edits the file entry afterwards: the store wins, and it is reported
    edited = dataclasses.replace(config.users["agent1"], roles=frozenset({Role.OUTPUT, Role.ADMIN}))
    d2 = build_directory(config.users | {"agent1": edited}, config.companies, state)
    assert d2.members["agent1"].user.roles == {Role.ADMIN}
    assert len(d2.conflicts) == 1 and "users reset agent1" in d2.conflicts[0]


def test_a_file_user_and_a_self_service_user_of_the_same_name(config: Config) -> None:
    clash = StoredUser("newbie", "agent1", ("input",), (), "active", "self-service")
    file_user = dataclasses.replace(config.users["agent2"], name="newbie")
    d = build_directory(
        config.users | {"newbie": file_user}, config.companies, UsersState(1, (clash,), ())
    )
    assert d.members["newbie"].company == "agent1"
    assert any("newbie" in c and "store's user applies" in c for c in d.conflicts)


def test_access_needs_both_companies(config: Config) -> None:
    host = _plan(
        config,
        EMPTY,
        "agent1",
        "agent1",
        Change("grant-access", "agent2", access_company="agent1", roles=("output",)),
    )
    assert not host.refused
    state = _apply(config, EMPTY, host)
    assert build_directory(config.users, config.companies, state).members["agent2"].access == {}
    home = _plan(
        config, state, "agent2", "agent2", Change("grant-access", "agent2", access_company="agent1")
    )
    state = _apply(config, state, home)
    member = build_directory(config.users, config.companies, state).members["agent2"]
    assert member.access == {"agent1": frozenset({Role.OUTPUT})}
    assert member.as_user("agent1") is not None and member.as_user("demoair") is None
    # a third company can do neither side
    third = _plan(
        config,
        state,
        "demoair",
        "demoair",
        Change("revoke-access", "agent2", access_company="agent1"),
    )
    assert _codes(third) == ["USER_NOT_IN_COMPANY"]
    # either side revokes
    gone = _apply(
        config,
        state,
        _plan(
            config,
            state,
            "agent2",
            "agent2",
            Change("revoke-access", "agent2", access_company="agent1"),
        ),
    )
    assert build_directory(config.users, config.companies, gone).members["agent2"].access == {}
    unknown = _plan(
        config,
        EMPTY,
        "agent1",
        "agent1",
        Change("grant-access", "agent2", access_company="nowhere", roles=("output",)),
    )
    assert _codes(unknown) == ["ACCESS_COMPANY_UNKNOWN"]


def test_every_refusal_of_a_message_is_reported_with_its_line(config: Config) -> None:
    plan = _plan(
        config,
        EMPTY,
        "agent1",
        "agent1",
        Change("add-user", "Bad", roles=("input",), line=4),
        Change("set-roles", "agent2", roles=("input",), line=11),
    )
    assert [(f.code, f.line) for f in plan.findings] == [
        ("USER_NAME_INVALID", 4),
        ("USER_NOT_IN_COMPANY", 11),
    ]
