"""Users and identity through the whole daemon: company administrators change their users by
message, the changes apply within seconds without a reload, OpenSSH clients log in with keys
and with ``ssh-keygen`` certificates, several companies per login, go-live waves."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from opencass.cli.samples import write_samples
from opencass.codecs.onerecord.users import UserChangeRequest as Change
from tests.kit.daemon import Running
from tests.kit.db import db_connect
from tests.kit.gateway import TODAY, sample_bytes
from tests.kit.identity import admin, keygen, openssh_sftp, report_text, sign_certificate


async def _login_works(gw: Running, user: str, key: Path, within: float = 10.0) -> float:
    """Seconds until the daemon has ``user`` active (polled: failed logins would get the
    address banned), then a login with OpenSSH ``sftp`` listing its root."""
    start = time.monotonic()
    while gw.gateway.directory.active(user) is None:
        assert time.monotonic() - start < within, f"{user} not active after {within} s"
        await asyncio.sleep(0.05)
    seconds = time.monotonic() - start
    done = await openssh_sftp(gw.port, user, key, "ls /\n")
    assert done.returncode == 0, done.stderr
    return seconds


async def test_an_admin_adds_a_user_who_logs_in_within_seconds(gw: Running, tmp_path: Path) -> None:
    key = tmp_path / "clerk"
    line = keygen(key)
    denied = await openssh_sftp(gw.port, "agent1-clerk", key, "ls /\n")
    assert denied.returncode != 0
    clerk = Change(
        "add-user",
        "agent1-clerk",
        full_name="Jana Novak",
        email="jana@agent1.example",
        roles=("input",),
        keys=(line,),
    )
    message = admin(clerk)
    await gw.upload("agent1", "add-clerk.xml", message)
    report = await report_text(gw, "agent1", "add-clerk.xml")
    assert "Outcome:      accepted" in report, report
    seconds = await _login_works(gw, "agent1-clerk", key)
    assert seconds < 5
    got = tmp_path / "profile.json"
    fetched = await openssh_sftp(gw.port, "agent1-clerk", key, f"get /my-profile.json {got}\n")
    assert fetched.returncode == 0, fetched.stderr
    profile = json.loads(got.read_text())
    assert profile["user"] == "agent1-clerk" and profile["company"] == "agent1"
    assert profile["roles"] == ["input"] and profile["source"] == "self-service"
    assert profile["keys"][0].startswith("ssh-ed25519 SHA256:")
    # the profile is read-only
    put = await openssh_sftp(gw.port, "agent1-clerk", key, f"put {got} /my-profile.json\n")
    assert put.returncode != 0


async def test_the_change_is_in_the_audit_with_who_when_and_what(
    gw: Running, tmp_path: Path
) -> None:
    line = keygen(tmp_path / "k")
    await gw.upload(
        "agent1", "add.xml", admin(Change("add-user", "a1-x", roles=("output",), keys=(line,)))
    )
    assert "accepted" in await report_text(gw, "agent1", "add.xml")
    db = gw.gateway.current_config().gateway.database

    def read_then_delete() -> tuple[list[Any], list[Any]]:
        with db_connect(db) as conn:
            rows = conn.execute(
                "SELECT actor, actor_company, action, user, at FROM user_changes"
            ).fetchall()
            audit = conn.execute(
                "SELECT company, user, data FROM audit WHERE event = 'user_change'"
            ).fetchall()
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute("DELETE FROM user_changes")
        return rows, audit

    # In a thread: the gateway runs on this event loop and may still be finishing the file's
    # bookkeeping; a write made on the loop would wait for a lock the blocked loop holds.
    rows, audit = await asyncio.to_thread(read_then_delete)
    assert rows[0][:4] == ("agent1", "agent1", "add-user", "a1-x") and rows[0][4].startswith(
        "2026-11-18"
    )
    assert audit[0][:2] == ("agent1", "agent1") and json.loads(audit[0][2])["target"] == "a1-x"


@pytest.mark.parametrize(
    ("sender", "change", "code"),
    [
        ("agent1", Change("set-roles", "agent2", roles=("input",)), "USER_NOT_IN_COMPANY"),
        ("agent1", Change("add-user", "demoair", roles=("input",)), "USER_NAME_TAKEN"),
        ("agent1", Change("remove-user", "agent1"), "USER_LAST_ADMIN"),
        ("agent1", Change("suspend-user", "agent1"), "USER_LAST_ADMIN"),
        ("agent1", Change("set-roles", "agent1", roles=("output",)), "USER_LAST_ADMIN"),
        ("agent1", Change("add-user", "Bad Name", roles=("input",)), "USER_NAME_INVALID"),
        ("agent1", Change("add-user", "a1-y", roles=("root",)), "USER_ROLE_INVALID"),
        (
            "agent1",
            Change("add-key", "agent1", keys=("ssh-ed25519 AAAAnotakey",)),
            "USER_KEY_INVALID",
        ),
    ],
)
async def test_refusals_are_coded_and_change_nothing(
    gw: Running, sender: str, change: Change, code: str
) -> None:
    before = gw.gateway.directory
    await gw.upload(sender, "change.xml", admin(change))
    report = await report_text(gw, sender, "change.xml")
    assert "Outcome:      rejected" in report and code in report, report
    await asyncio.sleep(1.5)  # longer than the daemon's poll: a change would show by now
    assert gw.gateway.directory.members == before.members


async def test_a_key_of_another_user_is_refused(gw: Running) -> None:
    theirs = (gw.config_dir / "keys" / "agent2.pub").read_text().strip()
    await gw.upload(
        "agent1", "steal.xml", admin(Change("add-user", "a1-z", roles=("input",), keys=(theirs,)))
    )
    assert "USER_KEY_IN_USE" in await report_text(gw, "agent1", "steal.xml")


async def test_a_short_rsa_key_is_refused(gw: Running, tmp_path: Path) -> None:
    weak = keygen(tmp_path / "weak", "rsa", 2048)
    await gw.upload(
        "agent1", "weak.xml", admin(Change("add-user", "a1-w", roles=("input",), keys=(weak,)))
    )
    assert "USER_KEY_WEAK" in await report_text(gw, "agent1", "weak.xml")


async def test_one_refused_change_refuses_the_whole_message(gw: Running, tmp_path: Path) -> None:
    ok = keygen(tmp_path / "ok")
    message = admin(
        Change("add-user", "a1-ok", roles=("input",), keys=(ok,)), Change("remove-user", "agent1")
    )
    await gw.upload("agent1", "two.xml", message)
    report = await report_text(gw, "agent1", "two.xml")
    assert "USER_LAST_ADMIN" in report and "rejected" in report
    await asyncio.sleep(1.5)
    assert "a1-ok" not in gw.gateway.directory.members


async def test_a_user_without_admin_role_cannot_administer(gw: Running, tmp_path: Path) -> None:
    key = tmp_path / "clerk"
    line = keygen(key)
    await gw.upload(
        "agent1", "add.xml", admin(Change("add-user", "a1-in", roles=("input",), keys=(line,)))
    )
    assert "accepted" in await report_text(gw, "agent1", "add.xml")
    await _login_works(gw, "a1-in", key)
    other = keygen(tmp_path / "other")
    local = tmp_path / "up.xml"
    local.write_bytes(admin(Change("add-user", "a1-evil", roles=("admin",), keys=(other,))))
    done = await openssh_sftp(gw.port, "a1-in", key, f"put {local} /inbox/up.xml\n")
    assert done.returncode == 0, done.stderr
    assert "USER_ADMIN_REQUIRED" in await report_text(gw, "agent1", "up.xml")


async def test_rights_change_while_a_session_is_open(gw: Running, tmp_path: Path) -> None:
    key = tmp_path / "clerk"
    line = keygen(key)
    await gw.upload(
        "agent1", "add.xml", admin(Change("add-user", "a1-c", roles=("input",), keys=(line,)))
    )
    assert "accepted" in await report_text(gw, "agent1", "add.xml")
    await _login_works(gw, "a1-c", key)
    async with asyncssh.connect(
        "127.0.0.1",
        gw.port,
        username="a1-c",
        client_keys=[str(key)],
        known_hosts=None,
        agent_path=None,
    ) as conn:
        async with conn.start_sftp_client() as sftp:
            async with sftp.open("/inbox/first.txt", "wb") as f:
                await f.write(b"x")
            await gw.upload(
                "agent1", "roles.xml", admin(Change("set-roles", "a1-c", roles=("readonly",)))
            )
            assert "accepted" in await report_text(gw, "agent1", "roles.xml")
            deadline = time.monotonic() + 5
            while gw.gateway.directory.active("a1-c").user.roles != {"readonly"}:  # type: ignore[union-attr]
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            with pytest.raises(asyncssh.SFTPPermissionDenied, match="input"):
                async with sftp.open("/inbox/second.txt", "wb") as f:
                    await f.write(b"y")
            assert "/inbox" not in str(await sftp.listdir("/outbox"))  # reading still works
        await gw.upload("agent1", "suspend.xml", admin(Change("suspend-user", "a1-c")))
        await asyncio.wait_for(conn.wait_closed(), 10)  # the suspended user's session is closed
    refused = await openssh_sftp(gw.port, "a1-c", key, "ls /\n")
    assert refused.returncode != 0
    await gw.upload("agent1", "back.xml", admin(Change("reactivate-user", "a1-c")))
    await _login_works(gw, "a1-c", key)


async def test_two_admins_removing_each_other_at_once_leave_one(
    gw: Running, tmp_path: Path
) -> None:
    key = tmp_path / "second"
    line = keygen(key)
    await gw.upload(
        "agent1", "add.xml", admin(Change("add-user", "a1-admin2", roles=("admin",), keys=(line,)))
    )
    assert "accepted" in await report_text(gw, "agent1", "add.xml")
    await _login_works(gw, "a1-admin2", key)
    first = tmp_path / "first.xml"
    first.write_bytes(admin(Change("remove-user", "a1-admin2")))
    second = tmp_path / "second.xml"
    second.write_bytes(admin(Change("remove-user", "agent1")))
    await asyncio.gather(
        openssh_sftp(gw.port, "agent1", gw.key("agent1"), f"put {first} /inbox/r1.xml\n"),
        openssh_sftp(gw.port, "a1-admin2", key, f"put {second} /inbox/r2.xml\n"),
    )
    reports = [await report_text(gw, "agent1", name) for name in ("r1.xml", "r2.xml")]
    outcomes = sorted("accepted" if "Outcome:      accepted" in r else "rejected" for r in reports)
    assert outcomes == ["accepted", "rejected"]
    # whoever came second was removed already: no longer an administrator
    assert sum("USER_ADMIN_REQUIRED" in r for r in reports) == 1
    await asyncio.sleep(1.5)
    assert len(gw.gateway.directory.admins("agent1")) == 1


async def test_two_admins_stepping_down_at_once_leave_one(gw: Running, tmp_path: Path) -> None:
    key = tmp_path / "second"
    line = keygen(key)
    await gw.upload(
        "agent1", "add.xml", admin(Change("add-user", "a1-admin2", roles=("admin",), keys=(line,)))
    )
    assert "accepted" in await report_text(gw, "agent1", "add.xml")
    await _login_works(gw, "a1-admin2", key)
    first = tmp_path / "first.xml"
    first.write_bytes(admin(Change("set-roles", "agent1", roles=("input",))))
    second = tmp_path / "second.xml"
    second.write_bytes(admin(Change("set-roles", "a1-admin2", roles=("input",))))
    await asyncio.gather(
        openssh_sftp(gw.port, "agent1", gw.key("agent1"), f"put {first} /inbox/s1.xml\n"),
        openssh_sftp(gw.port, "a1-admin2", key, f"put {second} /inbox/s2.xml\n"),
    )
    reports = [await report_text(gw, "agent1", name) for name in ("s1.xml", "s2.xml")]
    outcomes = sorted("accepted" if "Outcome:      accepted" in r else "rejected" for r in reports)
    assert outcomes == ["accepted", "rejected"]
    assert sum("USER_LAST_ADMIN" in r for r in reports) == 1
    await asyncio.sleep(1.5)
    assert len(gw.gateway.directory.admins("agent1")) == 1


async def test_access_to_another_company_needs_both_sides(gw: Running, tmp_path: Path) -> None:
    # agent1's admin offers agent1 to agent2's admin; effective once agent2 agrees too
    await gw.upload(
        "agent1",
        "grant.xml",
        admin(Change("grant-access", "agent2", access_company="agent1", roles=("output",))),
    )
    assert "accepted" in await report_text(gw, "agent1", "grant.xml")
    await asyncio.sleep(1.5)
    assert gw.gateway.directory.active("agent2").access == {}  # type: ignore[union-attr]
    await gw.upload(
        "agent2", "agree.xml", admin(Change("grant-access", "agent2", access_company="agent1"))
    )
    assert "accepted" in await report_text(gw, "agent2", "agree.xml")
    got = tmp_path / "listing"
    deadline = time.monotonic() + 10
    while True:
        done = await openssh_sftp(gw.port, "agent2", gw.key("agent2"), "ls -1 /\n")
        if "agent1.DE" in done.stdout or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert "agent1.DE" in done.stdout and "agent2.DE" in done.stdout, done.stdout
    # agent1's outbox readable through it, its inbox closed (output role only)
    async with gw.connect("agent2") as conn, conn.start_sftp_client() as sftp:
        assert "inbox" in await sftp.listdir("/agent1.DE")
        await sftp.listdir("/agent1.DE/outbox")
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            async with sftp.open("/agent1.DE/inbox/x.hot", "wb") as f:
                await f.write(b"x")
        async with sftp.open("/agent2.DE/inbox/own.txt", "wb") as f:  # its own, as before
            await f.write(b"x")
    del got


async def test_a_country_in_its_sandbox_wave_opens_only_the_sandbox(gw: Running) -> None:
    countries = gw.config_dir / "countries.toml"
    countries.write_text(
        countries.read_text().replace(
            "[countries.DE]\n",
            '[countries.DE]\nstate = "sandbox"\ngo_live = 2027-01-15T08:00:00\n',
            1,
        )
    )
    assert await gw.gateway.reload()
    async with gw.connect("demoair") as conn, conn.start_sftp_client() as sftp:
        with pytest.raises(asyncssh.SFTPPermissionDenied, match="sandbox wave"):
            async with sftp.open("/inbox/november.hot", "wb") as f:
                await f.write(sample_bytes())
        async with sftp.open("/sandbox/inbox/november.hot", "wb") as f:
            await f.write(sample_bytes())
    report = await report_text(gw, "demoair", "november.hot", box="sandbox/outbox")
    assert "Outcome:      accepted" in report, report


async def test_a_planned_country_lets_nobody_in(gw: Running) -> None:
    countries = gw.config_dir / "countries.toml"
    countries.write_text(
        countries.read_text().replace("[countries.DE]\n", '[countries.DE]\nstate = "planned"\n', 1)
    )
    assert await gw.gateway.reload()
    done = await openssh_sftp(gw.port, "demoair", gw.key("demoair"), "ls /\n")
    assert done.returncode != 0
    ops = await openssh_sftp(
        gw.port, "ops", gw.key("ops"), "ls /\n"
    )  # the CASS office has no country
    assert ops.returncode == 0, ops.stderr


# -- certificates -------------------------------------------------------------------------


def _trust(gw: Running, tmp_path: Path, revoked: str = "") -> Path:
    """The operator's user CA (made by ssh-keygen) trusted in gateway.toml, with ``revoked``
    as the revocation list; reload to apply."""
    ca = tmp_path / "user_ca"
    if not ca.exists():
        keygen(ca)
    (gw.config_dir / "keys" / "revoked").write_text(revoked)
    gateway_toml = gw.config_dir / "gateway.toml"
    text = gateway_toml.read_text()
    text = text.replace('ca_keys = ""', f'ca_keys = "{ca}.pub"')
    text = text.replace('revoked_keys = ""', 'revoked_keys = "keys/revoked"')
    gateway_toml.write_text(text)
    return ca


async def test_certificates_from_the_operators_ca(gw: Running, tmp_path: Path) -> None:
    ca = _trust(gw, tmp_path)
    assert await gw.gateway.reload()
    user_key = tmp_path / "agent1-laptop"
    keygen(user_key)  # a key agent1 never registered: only the certificate lets it in
    cert = sign_certificate(ca, user_key, principals="agent1", serial=7, key_id="agent1@ops")
    cert_opt = ("-o", f"CertificateFile={cert}")
    ok = await openssh_sftp(gw.port, "agent1", user_key, "ls /\n", *cert_opt)
    assert ok.returncode == 0, ok.stderr
    # the same certificate is not agent2's
    other = await openssh_sftp(gw.port, "agent2", user_key, "ls /\n", *cert_opt)
    assert other.returncode != 0
    # revoked by serial, reloaded on SIGHUP-equivalent reload
    _trust(gw, tmp_path, revoked="serial: 5-9\n")
    assert await gw.gateway.reload()
    revoked = await openssh_sftp(gw.port, "agent1", user_key, "ls /\n", *cert_opt)
    assert revoked.returncode != 0
    audit = await gw.gateway.store.audit_events("certificate_refused")  # type: ignore[union-attr]
    assert any("serial 7 is revoked" in json.dumps(a) for a in audit)


@pytest.mark.parametrize(
    ("principals", "validity", "reason"),
    [
        (None, "20200101:20991231", "names no principal"),
        ("agent1", "20200101:20210101", "expired"),
        ("agent1", "20990101:20991231", "not valid yet"),
        ("someone,else", "20200101:20991231", "not for 'agent1'"),
    ],
)
async def test_certificates_refused(
    gw: Running, tmp_path: Path, principals: str | None, validity: str, reason: str
) -> None:
    ca = _trust(gw, tmp_path)
    assert await gw.gateway.reload()
    user_key = tmp_path / "laptop"
    keygen(user_key)
    cert = sign_certificate(
        ca, user_key, principals=principals, serial=1, key_id="k", validity=validity
    )
    done = await openssh_sftp(
        gw.port, "agent1", user_key, "ls /\n", "-o", f"CertificateFile={cert}"
    )
    assert done.returncode != 0
    audit = await gw.gateway.store.audit_events("certificate_refused")  # type: ignore[union-attr]
    assert any(reason in json.dumps(a) for a in audit), audit


async def test_a_certificate_of_an_untrusted_ca_is_refused(gw: Running, tmp_path: Path) -> None:
    _trust(gw, tmp_path)
    assert await gw.gateway.reload()
    rogue = tmp_path / "rogue_ca"
    keygen(rogue)
    user_key = tmp_path / "laptop"
    keygen(user_key)
    cert = sign_certificate(rogue, user_key, principals="agent1", serial=1, key_id="k")
    done = await openssh_sftp(
        gw.port, "agent1", user_key, "ls /\n", "-o", f"CertificateFile={cert}"
    )
    assert done.returncode != 0


async def test_a_removed_users_history_stays_with_its_company(gw: Running, tmp_path: Path) -> None:
    key = tmp_path / "clerk"
    line = keygen(key)
    add = admin(Change("add-user", "air-clerk", roles=("input",), keys=(line,)))
    await gw.upload("demoair", "add.xml", add)
    assert "accepted" in await report_text(gw, "demoair", "add.xml")
    await _login_works(gw, "air-clerk", key)
    local = tmp_path / "november.hot"
    local.write_bytes(sample_bytes())
    put = await openssh_sftp(gw.port, "air-clerk", key, f"put {local} /inbox/november.hot\n")
    assert put.returncode == 0, put.stderr
    assert "accepted" in await report_text(gw, "demoair", "november.hot")
    await gw.upload("demoair", "remove.xml", admin(Change("remove-user", "air-clerk")))
    assert "accepted" in await report_text(gw, "demoair", "remove.xml")
    db = gw.gateway.current_config().gateway.database
    with db_connect(db) as conn:
        files = conn.execute(
            "SELECT user, outcome FROM files WHERE name = 'november.hot'"
        ).fetchall()
        booked = conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]
    assert files == [("air-clerk", "accepted")] and booked == 6
    await asyncio.sleep(1.5)
    removed = gw.gateway.directory.members["air-clerk"]
    assert removed.status == "removed" and removed.user.public_keys == ()


async def test_the_demo_walk_adds_agent1_clerk(gw: Running, tmp_path: Path) -> None:
    """README step 6: the sample message, the sample key, OpenSSH sftp."""
    samples = {p.name: p for p in write_samples(tmp_path / "samples", TODAY)}
    put = await openssh_sftp(
        gw.port, "agent1", gw.key("agent1"), f"put {samples['user-add-sample.xml']} /inbox/\n"
    )
    assert put.returncode == 0, put.stderr
    assert "accepted" in await report_text(gw, "agent1", "user-add-sample.xml")
    assert await _login_works(gw, "agent1-clerk", tmp_path / "samples" / "agent1-clerk") < 5
    # written again, the samples keep the key (the message names the same one)
    again = {p.name: p for p in write_samples(tmp_path / "samples", TODAY)}
    assert again["user-add-sample.xml"].read_bytes() == samples["user-add-sample.xml"].read_bytes()
