"""The delivery queue against a real SQLite store and real mailbox directories, on a fake clock:
fan-out, order per lane, retries with backoff, dead letters and ``outbox retry``, crash and
restart (exactly one file), drain on shutdown, reminders, ``outbox status``."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opencass.cli.outbox import cmd_outbox
from opencass.codecs.onerecord.notification import decode_notification
from opencass.config import init_demo, load_config
from opencass.config.model import Config, OutboxSettings
from opencass.events import Event, EventType
from opencass.outbox.service import OutboxService
from opencass.store import queue as q
from opencass.store.connect import connect_migrated
from opencass.store.events import record_events
from tests.kit.gateway import TODAY

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclasses.dataclass
class Env:
    config: Config
    config_dir: Path
    conn: sqlite3.Connection
    clock: Clock

    def service(self, **kw: object) -> OutboxService:
        return OutboxService(lambda: self.config, clock=self.clock, **kw)  # type: ignore[arg-type]

    def outbox(self, company: str) -> Path:
        return self.config.gateway.mailboxes_dir / company / "outbox"

    def files(self, company: str, pattern: str = "*") -> list[str]:
        folder = self.outbox(company)
        return sorted(p.name for p in folder.glob(pattern)) if folder.is_dir() else []

    def record(self, *events: Event, at: datetime = T0) -> None:
        with self.conn:
            record_events(self.conn, events, at=at.isoformat(timespec="microseconds"))

    def states(self, company: str) -> list[tuple[int, str, int]]:
        sql = "SELECT id, state, attempts FROM deliveries WHERE company = ? ORDER BY id"
        return [tuple(r) for r in self.conn.execute(sql, (company,))]  # type: ignore[misc]

    def settings(self, **kw: object) -> None:
        outbox = dataclasses.replace(self.config.gateway.outbox, **kw)  # type: ignore[arg-type]
        gateway = dataclasses.replace(self.config.gateway, outbox=outbox)
        self.config = dataclasses.replace(self.config, gateway=gateway)


@pytest.fixture
def env(config: Config, tmp_path: Path) -> Iterator[Env]:
    """The demo configuration (each backend in turn: tests/store/conftest.py) and its store."""
    conn = connect_migrated(config.gateway.database)
    conn.row_factory = None
    e = Env(config, tmp_path / "config", conn, Clock())
    e.settings(max_attempts=3, retry_base_seconds=10.0, retry_max_seconds=15.0)
    yield e
    conn.close()


def answered(n: int, company: str = "agent1") -> Event:
    return Event(
        EventType.DISPUTE_ANSWERED,
        f"dispute.answered:{company}:{n}",
        f"dispute {n} answered",
        company=company,
        country="DE",
        data={"status": "accepted"},
    )


def test_backoff_doubles_up_to_the_bound() -> None:
    assert [q.backoff(n, 10, 60) for n in range(1, 6)] == [10, 20, 40, 60, 60]


async def test_events_fan_out_once_to_the_mailboxes_of_the_subscribers(env: Env) -> None:
    env.record(answered(1), answered(2, "agent2"))
    overdue = Event(EventType.PAYMENT_OVERDUE, "overdue:1", "agent2 is late", company="agent2")
    env.record(overdue)
    svc = env.service()
    await svc.open()
    try:
        assert await svc.run_once() == 5  # agent1, agent2 (x2: answer and overdue), ops xml+txt
        assert await svc.run_once() == 0  # nothing new: fanned out exactly once
    finally:
        await svc.close()
    assert env.files("agent1") == ["20261122T100000Z_notification_1.xml"]
    assert env.files("agent2") == [
        "20261122T100000Z_notification_2.xml",
        "20261122T100000Z_notification_3.xml",
    ]
    assert env.files("cassops") == [
        "20261122T100000Z_notification_3.txt",
        "20261122T100000Z_notification_3.xml",
    ]
    assert env.files("demoair") == []
    doc = decode_notification((env.outbox("agent1") / env.files("agent1")[0]).read_bytes())
    assert doc.event_type == "CHANGE_REQUEST_ACCEPTED" and doc.company == "agent1"
    assert doc.event_id == 1 and doc.business_event == "dispute.answered"
    assert q.cursor(env.conn) == 3


async def test_a_failing_lane_waits_with_backoff_then_dead_letters_and_retry(env: Env) -> None:
    outbox = env.outbox("agent1")
    outbox.parent.mkdir(parents=True, exist_ok=True)
    outbox.write_text("not a directory")  # a real fault: the mailbox cannot be written
    env.record(answered(1), answered(2), answered(3, "agent2"))
    svc = env.service()
    await svc.open()
    try:
        await svc.run_once()
        assert env.states("agent2") == [(3, "delivered", 1)]  # other lanes are not held up
        assert env.states("agent1") == [(1, "pending", 1), (2, "pending", 0)]  # in order
        await svc.run_once()  # not due yet: no attempt
        assert env.states("agent1")[0] == (1, "pending", 1)
        env.clock.now += timedelta(seconds=10)
        await svc.run_once()
        assert env.states("agent1")[0] == (1, "pending", 2)
        env.clock.now += timedelta(seconds=15)  # 20 s bounded to 15
        await svc.run_once()  # third failure: dead letter; the lane moves on (and fails)
        assert env.states("agent1") == [(1, "dead", 3), (2, "pending", 1)]
        outbox.unlink()  # mended
        env.clock.now += timedelta(seconds=10)
        await svc.run_once()
        assert env.states("agent1") == [(1, "dead", 3), (2, "delivered", 2)]
        assert env.files("agent1") == ["20261122T100000Z_notification_2.xml"]
        out = io.StringIO()
        args = argparse.Namespace(config=str(env.config_dir), outbox_command="status",
                                  company=None, format="json")  # fmt: skip
        assert cmd_outbox(args, out) == 0
        status = json.loads(out.getvalue())
        assert [d["id"] for d in status["dead"]] == [1]
        assert "FileExistsError" in status["dead"][0]["last_error"]
        retry = argparse.Namespace(config=str(env.config_dir), outbox_command="retry", id=1)
        assert cmd_outbox(retry, io.StringIO(), now=env.clock.now) == 0
        assert cmd_outbox(retry, io.StringIO(), io.StringIO(), now=env.clock.now) == 1  # not dead
        await svc.run_once()
        assert env.states("agent1") == [(1, "delivered", 1), (2, "delivered", 2)]
        assert len(env.files("agent1")) == 2
    finally:
        await svc.close()


async def test_a_crash_before_the_commit_repeats_the_delivery_and_leaves_one_file(
    env: Env,
) -> None:
    env.record(*(answered(n) for n in range(1, 6)))

    def crash(step: str) -> None:
        raise RuntimeError(f"crash at {step}")

    first = env.service(fault=crash)
    await first.open()
    with pytest.raises(RuntimeError):
        await first.run_once()  # files written, not yet recorded as delivered
    await first.close()
    written = env.files("agent1")
    assert len(written) == 5 and all(s == "pending" for _, s, _ in env.states("agent1"))
    before = {n: (env.outbox("agent1") / n).read_bytes() for n in written}
    again = env.service()
    await again.open()
    try:
        assert await again.run_once() == 5
    finally:
        await again.close()
    assert env.files("agent1") == written  # exactly one file per notification
    assert list(env.outbox("agent1").glob(".*")) == []  # no temp file left
    assert {n: (env.outbox("agent1") / n).read_bytes() for n in written} == before
    assert all(s == "delivered" for _, s, _ in env.states("agent1"))


async def test_shutdown_drains_what_is_due_and_a_restart_resumes(env: Env) -> None:
    env.settings(poll_seconds=3600.0)
    svc = env.service()
    await svc.start()
    env.record(answered(1), answered(2))  # while the loop sleeps
    assert await svc.drain(grace=10) is True
    assert len(env.files("agent1")) == 2
    env.record(answered(3))  # while the gateway is down
    svc = env.service()
    await svc.start()
    assert await svc.drain(grace=10) is True
    assert len(env.files("agent1")) == 3


async def test_reminder_for_a_document_nobody_collected(env: Env) -> None:
    env.settings(reminder_days=3)
    outbox = env.outbox("agent1")
    outbox.mkdir(parents=True)

    def available(name: str) -> Event:
        (outbox / name).write_text("statement")
        return Event(
            EventType.DOCUMENT_AVAILABLE,
            f"document:agent1:{name}",
            f"final statement {name}",
            company="agent1",
            country="DE",
            object_kind="statement",
            document=name,
            data={"format": "xml"},
        )

    gone, calendar = available("gone.xml"), available("cal.pdf")
    (outbox / "gone.xml").unlink()  # removed from the outbox: nothing to remind of
    calendar = dataclasses.replace(calendar, object_kind="calendar")  # informative only
    env.record(available("old.xml"), available("taken.xml"), gone, calendar,
               at=T0 - timedelta(days=4))  # fmt: skip
    env.record(available("new.xml"), at=T0 - timedelta(days=1))
    svc = env.service()
    await svc.open()
    try:
        assert await svc.downloaded("agent1", "agent1", "/outbox/taken.xml", 9) is True
        assert await svc.downloaded("agent1", "agent1", "/outbox/taken.xml", 9) is False
        assert await svc.downloaded("agent1", "agent1", "/inbox/x.hot", 9) is False
        await svc.run_once()
        assert svc.stats.reminders == 1
        (name,) = env.files("agent1", "*_notification_*.xml")
        doc = decode_notification((outbox / name).read_bytes())
        assert doc.business_event == "document.not_collected" and doc.document == "old.xml"
        assert await svc.check_reminders(force=True) == 0  # reminded once only
        env.clock.now += timedelta(days=3)
        assert await svc.check_reminders(force=True) == 1  # new.xml now
        status = q.company_status(env.conn, "agent1")
        collected = {d["name"]: d["collected_by"] for d in status["documents"]}
        assert collected["taken.xml"] == "agent1"
        assert collected["old.xml"] is None and collected["new.xml"] is None
    finally:
        await svc.close()
    out = io.StringIO()
    args = argparse.Namespace(config=str(env.config_dir), outbox_command="status",
                              company="agent1", format="text")  # fmt: skip
    assert cmd_outbox(args, out) == 0
    text = out.getvalue()
    assert "taken.xml: available" in text and "collected" in text and "NOT collected" in text
    bad = argparse.Namespace(config=str(env.config_dir), outbox_command="status",
                             company="nobody", format="text")  # fmt: skip
    assert cmd_outbox(bad, io.StringIO(), io.StringIO()) == 2


def test_outbox_settings_are_read_from_gateway_toml(tmp_path: Path) -> None:
    init_demo(tmp_path / "c", today=TODAY)
    toml = tmp_path / "c" / "gateway.toml"
    toml.write_text(toml.read_text().replace("reminder_days = 3", "reminder_days = 5"))
    assert load_config(tmp_path / "c").gateway.outbox.reminder_days == 5
    assert OutboxSettings().max_attempts == 8


def test_the_cursor_only_moves_forward(env: Env) -> None:
    """Defect (PostgreSQL): the cursor's upsert used SQLite's two-argument MAX()."""
    plan = [q.Planned("agent1", "mailbox", "notification", "n.xml")]
    env.record(answered(1), answered(2), answered(3))
    q.advance(env.conn, [(1, plan)], T0)
    q.advance(env.conn, [(3, plan)], T0)
    assert q.cursor(env.conn) == 3
    q.advance(env.conn, [(2, plan)], T0)  # an older pass finishing late
    assert q.cursor(env.conn) == 3
