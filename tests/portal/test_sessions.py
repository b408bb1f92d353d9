"""The portal's session cookie (``opencass.portal.sessions``) and the client address behind a
proxy (``opencass.portal.app.client_address``)."""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from opencass.portal.app import client_address
from opencass.portal.sessions import AWAITING_CODE, SIGNED_IN, Session, SessionCodec, load_key

KEY = b"k" * 32


def test_a_session_reads_back_as_it_was_signed() -> None:
    codec = SessionCodec(KEY, idle_seconds=600)
    s = replace(Session.fresh("agent1", SIGNED_IN, 1000.0), company="agent1", country="DE")
    assert codec.load(codec.dump(s), 1000.0) == s
    assert codec.load(codec.dump(s), 1599.0) == s


def test_an_idle_session_ends_and_a_used_one_lives_on() -> None:
    codec = SessionCodec(KEY, idle_seconds=600)
    s = Session.fresh("agent1", SIGNED_IN, 1000.0)
    assert codec.load(codec.dump(s), 1600.0) is None
    assert codec.load(codec.dump(s.touched(1500.0)), 2000.0) is not None
    assert codec.load(codec.dump(s), 999.0) is None  # from the future: not ours


def test_the_second_factor_must_follow_the_password_within_five_minutes() -> None:
    codec = SessionCodec(KEY, idle_seconds=3600)
    s = Session.fresh("agent1", AWAITING_CODE, 1000.0)
    assert codec.load(codec.dump(s), 1299.0) is not None
    assert codec.load(codec.dump(s), 1300.0) is None


def test_altered_forged_or_malformed_cookies_are_no_session() -> None:
    codec = SessionCodec(KEY, idle_seconds=600)
    value = codec.dump(Session.fresh("agent1", SIGNED_IN, 1000.0))
    body, mac = value.split(".")
    other = SessionCodec(b"x" * 32, idle_seconds=600)
    forged = other.dump(Session.fresh("ops", SIGNED_IN, 1000.0))
    swapped = codec.dump(Session.fresh("ops", SIGNED_IN, 1000.0)).split(".")[0] + "." + mac
    for bad in (forged, swapped, body, body + ".", "a.b.c", "", "%%%.%%%", body[:-2] + "." + mac):
        assert codec.load(bad, 1000.0) is None, bad
    assert Session.fresh("a", SIGNED_IN, 0).sid != Session.fresh("a", SIGNED_IN, 0).sid


def test_the_key_is_made_once_private_and_shared(tmp_path: Path) -> None:
    path = tmp_path / "data" / "portal_session.key"
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(load_key(path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1 and len(keys[0]) == 32
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["portal_session.key"]


def test_the_client_address_is_believed_from_trusted_proxies_only() -> None:
    def request(peer: str, forwarded: str) -> Any:  # what client_address reads of a request
        return SimpleNamespace(remote=peer, headers={"X-Forwarded-For": forwarded})

    trusted = ("10.0.0.0/8",)
    assert client_address(request("203.0.113.9", "1.2.3.4"), trusted) == "203.0.113.9"
    assert client_address(request("10.0.0.2", "1.2.3.4"), trusted) == "1.2.3.4"
    # a client's own X-Forwarded-For entry before the proxy's is not believed
    assert client_address(request("10.0.0.2", "6.6.6.6, 1.2.3.4"), trusted) == "1.2.3.4"
    assert client_address(request("10.0.0.2", "1.2.3.4, 10.0.0.7"), trusted) == "1.2.3.4"
    assert client_address(request("10.0.0.2", "1.2.3.4"), ()) == "10.0.0.2"


def test_a_statistics_table_keeps_the_top_lines_and_sums_the_rest() -> None:
    from decimal import Decimal

    from opencass.documents.reports.data import StatLine
    from opencass.portal.pages import TOP, top

    lines = tuple(
        StatLine(f"K{i:03d}", "", 1, Decimal(i), Decimal(i * 10), 2, Decimal(2 * i), Decimal(i))
        for i in range(TOP + 5)
    )
    assert top(lines[:TOP], "rest") == lines[:TOP]
    shown = top(lines, "rest")
    assert len(shown) == TOP + 1 and shown[-1].key == "rest" and shown[-1].name == "(5)"
    assert [x.key for x in shown[:-1]] == [f"K{i:03d}" for i in range(5, TOP + 5)]
    for field in ("awbs", "weight_kg", "revenue", "ytd_awbs", "ytd_weight_kg", "ytd_revenue"):
        assert sum(getattr(x, field) for x in shown) == sum(getattr(x, field) for x in lines)


def test_the_documents_shown_are_the_newest(tmp_path: Path) -> None:
    from opencass.config.model import Config, GatewaySettings
    from opencass.portal.pages import DOCUMENTS_SHOWN, documents

    config = Config(tmp_path, GatewaySettings(data_dir=tmp_path), {}, {}, {}, {})
    outbox = tmp_path / "mailboxes" / "agent1" / "outbox"
    outbox.mkdir(parents=True)
    for i in range(DOCUMENTS_SHOWN + 5):
        p = outbox / f"doc{i:04d}.pdf"
        p.write_bytes(b"x")
        os.utime(p, (1_000_000 + i, 1_000_000 + i))
    (outbox / ".hidden.tmp").write_bytes(b"x")
    shown = documents(config, "agent1", None)
    assert len(shown) == DOCUMENTS_SHOWN
    assert (
        shown[0]["name"] == f"doc{DOCUMENTS_SHOWN + 4:04d}.pdf"
        and shown[-1]["name"] == "doc0005.pdf"
    )
    assert not any(d["downloaded"] for d in shown)
