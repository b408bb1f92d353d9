"""Disputes through the real message path: a real SQLite ledger with the demo billing booked,
dispute files in the spool judged by ``assess_message`` at injected times (never the clock).

The demo sample bills AWB 997-62144154 to agent1 (23470068510) for 3987.26 EUR, and AWB
997-10000012 to agent2 for 802.75 + a CCA of 45.00 = 847.75 EUR.  Milestones of the demo
period (Europe/Berlin): reports the 5th of the next month 08:00, agent cut-off the 10th 23:59,
airline cut-off the 13th 23:59, billing the 15th 08:00.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from opencass.billing.closing import run_close
from opencass.billing.dispute_jobs import escalate_period, escalation_time
from opencass.billing.registry import message_handlers, milestone_jobs
from opencass.cli.samples import DEMO_AGENTS
from opencass.codecs.onerecord.dispute import (
    DisputeRequest,
    DisputeStatusUpdate,
    encode_dispute,
)
from opencass.config.model import Config, Period
from opencass.gateway.assess import assess
from opencass.gateway.messages import MessageSummary, assess_message, message_kind
from opencass.settlement.netting import ItemKind
from opencass.store import NewFile, SqliteStore, open_store
from opencass.store.connect import connect_sync
from opencass.store.disputes import dispute_by_iri, history, open_disputed_amounts
from tests.kit.docs import dispute_examples
from tests.kit.gateway import PERIOD_CODE, demo_config, job, sample_bytes, spooled

AGENT1, AGENT2 = DEMO_AGENTS
AWB1, AWB2 = "62144154", "10000012"  # agent1's (3987.26), agent2's (847.75 with its CCA)
BASE = "https://gw.example"


@dataclass
class World:
    config: Config
    store: SqliteStore
    period: Period
    next_period: Period
    n: int = 0

    def at(self, milestone: str, delta: timedelta = timedelta(0)) -> datetime:
        return getattr(self.period, milestone) + delta  # type: ignore[no-any-return]

    async def submit(
        self, data: bytes, company: str, at: datetime, *, sandbox: bool = False
    ) -> tuple[MessageSummary, list[str]]:
        """Spool ``data`` as received from ``company`` at ``at``; judge it; its finding codes."""
        self.n += 1
        file_id = f"M{self.n:03d}"
        spool = self.config.gateway.spool_dir / company / ("sandbox" if sandbox else "live")
        spool.mkdir(parents=True, exist_ok=True)
        path = spool / f"{file_id}__dispute.xml"
        path.write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        new = NewFile(
            file_id, company, company, "d.xml", sandbox, sha, len(data), at.isoformat(), str(path)
        )
        await self.store.create_file(new)
        db = str(self.config.gateway.database)
        summary = assess_message(
            db, file_id, str(path), company, company, sandbox, at, self.config, message_handlers()
        )
        codes = [f.code for f in await self.store.findings(file_id)]
        return summary, codes

    def conn(self) -> sqlite3.Connection:
        return connect_sync(self.config.gateway.database)

    def events(self, kind: str) -> list[sqlite3.Row]:
        with self.conn() as c:
            return list(c.execute("SELECT * FROM events WHERE type = ? ORDER BY id", (kind,)))


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    config = demo_config(tmp_path)
    store = await open_store(config.gateway.database)
    path = await spooled(store, config, sample_bytes())
    assert assess(job(config, path)).outcome == "accepted"
    periods = config.calendars["DE"]
    i = next(i for i, p in enumerate(periods) if p.code == PERIOD_CODE)
    yield World(config, store, periods[i], periods[i + 1])
    await store.close()


def request(
    iri: str = "urn:uuid:00000000-0000-4000-8000-000000000001",
    *,
    kind: str = "change",
    agent: str = AGENT1,
    serial: str = AWB1,
    claimed: str | None = "3937.26",
    disputed: str = "50.00",
    currency: str = "EUR",
    at: str = "2026-01-01T00:00:00Z",
) -> bytes:
    return encode_dispute(
        DisputeRequest(
            iri=iri, kind=kind, agent_code=agent, requested_at=at, country="DE",
            period=PERIOD_CODE, airline_prefix="997", awb_serial=serial,
            reason="weight charge rated at the wrong rate", currency=currency,
            disputed_amount=Decimal(disputed),
            claimed_amount=None if claimed is None else Decimal(claimed),
        ),
        base_iri=BASE,
    )  # fmt: skip


def update(
    status: str,
    iri: str = "urn:uuid:00000000-0000-4000-8000-000000000001",
    *,
    kind: str = "change",
    corrected: str | None = None,
    comment: str = "",
) -> bytes:
    return encode_dispute(
        DisputeStatusUpdate(
            iri=iri, kind=kind, status=status, at="2026-01-01T00:00:00Z",
            currency=None if corrected is None else "EUR",
            corrected_amount=None if corrected is None else Decimal(corrected), comment=comment,
        ),
        base_iri=BASE,
    )  # fmt: skip


def _totals(world: World, period: str, reference: datetime) -> dict[str, Decimal]:
    result = run_close(world.config, "DE", period, reference)
    s = result.settlement
    return {**{a.agent_code: a.total for a in s.agents}, **{a.airline_prefix: a.total
            for a in s.airlines}}  # fmt: skip


# -- the happy paths ----------------------------------------------------------------------------


async def test_dispute_roots_are_registered_message_kinds() -> None:
    assert message_kind(request(), message_handlers()) == "dispute"
    assert message_kind(request(kind="verification", claimed=None), message_handlers()) == "dispute"


async def test_accepted_before_billing_adjusts_the_final_billing(world: World) -> None:
    before = _totals(world, PERIOD_CODE, world.period.billing_available)
    assert before[AGENT1] == Decimal("3902.26")  # 3987.26 − 85.00
    summary, codes = await world.submit(
        request(), "agent1", world.at("reports_available", timedelta(hours=1))
    )
    assert (summary.outcome, summary.kind, codes) == ("accepted", "dispute", [])
    (opened,) = world.events("dispute.opened")
    assert (opened["company"], opened["agent_code"], opened["airline_prefix"]) == (
        "demoair", AGENT1, "997",
    )  # fmt: skip
    assert json.loads(opened["data"])["disputed"] == "50.00"
    with world.conn() as c:
        assert open_disputed_amounts(c, "DE", PERIOD_CODE) == {AGENT1: Decimal("50.00")}

    summary, codes = await world.submit(
        update("REQUEST_ACCEPTED"), "demoair", world.at("airline_response_cutoff")
    )
    assert (summary.outcome, codes) == ("accepted", [])
    (answered,) = world.events("dispute.answered")
    data = json.loads(answered["data"])
    assert answered["company"] == "agent1"
    assert (data["status"], data["corrected"], data["adjustment"], data["adjust_period"]) == (
        "accepted", "3937.26", "-50.00", PERIOD_CODE,
    )  # fmt: skip
    with world.conn() as c:
        assert open_disputed_amounts(c, "DE", PERIOD_CODE) == {}

    after = _totals(world, PERIOD_CODE, world.period.billing_available)
    assert after[AGENT1] == Decimal("3852.26")  # 3902.26 − 50.00, by hand
    assert after["997"] == before["997"] - Decimal("50.00")
    assert after[AGENT2] == before[AGENT2]
    result = run_close(world.config, "DE", PERIOD_CODE, world.period.billing_available)
    (adj,) = [i for i in result.settlement.items if i.kind is ItemKind.ADJUSTMENT]
    assert (adj.agent_code, adj.airline_prefix, adj.amount) == (AGENT1, "997", Decimal("-50.00"))
    assert adj.reference.startswith("DSP-")
    preliminary = run_close(
        world.config, "DE", PERIOD_CODE, world.period.billing_available, stage="preliminary"
    )
    assert all("prelim-" in d.name for d in preliminary.planned)


async def test_airline_states_its_own_corrected_amount(world: World) -> None:
    await world.submit(request(), "agent1", world.at("reports_available"))
    _, codes = await world.submit(
        update("REQUEST_ACCEPTED", corrected="3967.26"),
        "demoair",
        world.at("agent_correction_cutoff"),
    )
    assert codes == []
    after = _totals(world, PERIOD_CODE, world.period.billing_available)
    assert after[AGENT1] == Decimal("3882.26")  # 3902.26 − 20.00


async def test_acceptance_after_the_final_close_began_goes_to_the_next_period(
    world: World,
) -> None:
    """The operator closed the period for good ahead of the calendar: the billing date has
    passed for this period, so an acceptance adjusts the next period instead."""
    await world.submit(request(), "agent1", world.at("reports_available"))
    final_before = run_close(world.config, "DE", PERIOD_CODE, world.period.billing_available)
    with world.conn() as c:
        c.execute(
            "INSERT INTO closes (country, period, kind, reference, started_at, completed_at)"
            " VALUES ('DE', ?, 'final', 'x', 'y', 'z')",
            (PERIOD_CODE,),
        )
    _, codes = await world.submit(
        update("REQUEST_ACCEPTED"), "demoair", world.at("airline_response_cutoff")
    )
    assert codes == []
    (answered,) = world.events("dispute.answered")
    assert json.loads(answered["data"])["adjust_period"] == world.next_period.code
    final_after = run_close(world.config, "DE", PERIOD_CODE, world.period.billing_available)
    assert [d.document() for d in final_after.planned] == [d.document() for d in
                                                            final_before.planned]  # fmt: skip
    nxt = run_close(world.config, "DE", world.next_period.code, world.next_period.billing_available)
    (adj,) = nxt.settlement.items
    assert (adj.kind, adj.agent_code, adj.amount) == (
        ItemKind.ADJUSTMENT,
        AGENT1,
        Decimal("-50.00"),
    )
    assert nxt.settlement.summary.agents_total == nxt.settlement.summary.airlines_total
    # and a new dispute of the finally billed period is refused
    _, codes = await world.submit(
        request("urn:x:late", serial=AWB1), "agent1", world.at("reports_available")
    )
    assert codes == ["DISPUTE_PERIOD_FINAL"]


async def test_verification_rejected_with_comment_and_full_history(world: World) -> None:
    iri = "urn:uuid:00000000-0000-4000-8000-0000000000v1"
    t1 = world.at("reports_available", timedelta(days=1))
    t2 = world.at("airline_response_cutoff", timedelta(hours=-1))
    _, codes = await world.submit(
        request(iri, kind="verification", claimed=None, disputed="100.00"), "agent1", t1
    )
    assert codes == []
    _, codes = await world.submit(
        update("REQUEST_REJECTED", iri, kind="verification", comment="rate per contract"),
        "demoair", t2,
    )  # fmt: skip
    assert codes == []
    (answered,) = world.events("dispute.answered")
    assert json.loads(answered["data"])["status"] == "rejected"
    with world.conn() as c:
        d = dispute_by_iri(c, iri)
        assert d is not None and d.status == "REQUEST_REJECTED" and d.comment == "rate per contract"
        steps = history(c, d.id)
    assert [(h.company, h.action, h.at, h.why) for h in steps] == [
        ("agent1", "opened", t1.isoformat(), "weight charge rated at the wrong rate"),
        ("demoair", "rejected", t2.isoformat(), "rate per contract"),
    ]
    assert steps[0].file_id == "M001" and steps[1].file_id == "M002"
    assert _totals(world, PERIOD_CODE, world.period.billing_available)[AGENT1] == Decimal(
        "3902.26"
    )  # a rejection changes nothing


async def test_agent_revokes_and_the_airline_hears_of_it(world: World) -> None:
    await world.submit(request(), "agent1", world.at("reports_available"))
    _, codes = await world.submit(
        update("REQUEST_REVOKED", comment="found it"), "agent1", world.at("agent_correction_cutoff")
    )
    assert codes == []
    (revoked,) = world.events("dispute.revoked")
    assert revoked["company"] == "demoair"
    _, codes = await world.submit(
        update("REQUEST_ACCEPTED"), "demoair", world.at("agent_correction_cutoff")
    )
    assert codes == ["DISPUTE_ALREADY_ANSWERED"]


# -- deadlines and refusals ----------------------------------------------------------------------


async def test_dispute_across_the_agent_cutoff(world: World) -> None:
    cutoff = world.at("agent_correction_cutoff")
    _, codes = await world.submit(request("urn:x:on-time"), "agent1", cutoff)
    assert codes == []
    _, codes = await world.submit(
        request("urn:x:late", serial=AWB1), "agent1", cutoff + timedelta(seconds=1)
    )
    assert codes == ["DISPUTE_AFTER_CUTOFF"]
    with world.conn() as c:
        assert dispute_by_iri(c, "urn:x:late") is None


async def test_answer_across_the_airline_cutoff(world: World) -> None:
    await world.submit(request(), "agent1", world.at("reports_available"))
    late = world.at("airline_response_cutoff", timedelta(minutes=1))
    summary, codes = await world.submit(update("REQUEST_ACCEPTED"), "demoair", late)
    assert (summary.outcome, codes) == ("rejected", ["DISPUTE_ANSWER_AFTER_CUTOFF"])
    assert world.events("dispute.answered") == []


@pytest.mark.parametrize(
    ("data", "company", "code"),
    [
        (request(serial="99999999"), "agent1", "DISPUTE_UNKNOWN_AWB"),
        (request(serial=AWB2, claimed="797.75"), "agent1", "DISPUTE_NOT_YOUR_AWB"),
        (request(agent=AGENT2), "agent1", "DISPUTE_NOT_YOUR_CODE"),
        (request(), "demoair", "DISPUTE_SENDER_NOT_AGENT"),
        (request(disputed="40.00"), "agent1", "DISPUTE_AMOUNT_MISMATCH"),
        (request(claimed="3987.26", disputed="0.00"), "agent1", "DISPUTE_AMOUNT_INVALID"),
        (request(claimed="3937.265", disputed="49.995"), "agent1", "DISPUTE_AMOUNT_INVALID"),
        (request(currency="USD"), "agent1", "DISPUTE_CURRENCY"),
        (update("REQUEST_ACCEPTED", "urn:x:nothing"), "demoair", "DISPUTE_UNKNOWN"),
        (b"<api:ChangeRequest xmlns:api='https://onerecord.iata.org/ns/api#'/>", "agent1",
         "XML_SCHEMA_INVALID"),
    ],
)  # fmt: skip
async def test_refusals_have_their_own_codes(
    world: World, data: bytes, company: str, code: str
) -> None:
    summary, codes = await world.submit(data, company, world.at("reports_available"))
    assert (summary.outcome, codes) == ("rejected", [code])
    assert world.events("dispute.opened") == []


async def test_answer_refusals(world: World) -> None:
    await world.submit(request(), "agent1", world.at("reports_available"))
    t = world.at("agent_correction_cutoff")
    cases = [
        (update("REQUEST_ACCEPTED"), "agent1", "DISPUTE_NOT_YOUR_DISPUTE"),
        (update("REQUEST_REVOKED"), "demoair", "DISPUTE_NOT_YOUR_DISPUTE"),
        (update("REQUEST_ACCEPTED"), "agent2", "DISPUTE_NOT_YOUR_DISPUTE"),
        (update("REQUEST_REJECTED"), "demoair", "DISPUTE_ANSWER_INCOMPLETE"),
        (update("REQUEST_ACCEPTED", kind="verification"), "demoair", "DISPUTE_KIND_MISMATCH"),
        (request(), "agent1", "DISPUTE_DUPLICATE_ID"),
        (request("urn:x:again"), "agent1", "DISPUTE_ALREADY_OPEN"),
    ]
    for data, company, code in cases:
        assert (await world.submit(data, company, t))[1] == [code], code
    await world.submit(update("REQUEST_REJECTED", comment="no"), "demoair", t)
    _, codes = await world.submit(update("REQUEST_ACCEPTED"), "demoair", t)
    assert codes == ["DISPUTE_ALREADY_ANSWERED"]


async def test_verification_accepted_needs_the_corrected_amount(world: World) -> None:
    iri = "urn:x:v"
    await world.submit(
        request(iri, kind="verification", claimed=None), "agent1", world.at("reports_available")
    )
    t = world.at("agent_correction_cutoff")
    accept = update("REQUEST_ACCEPTED", iri, kind="verification")
    assert (await world.submit(accept, "demoair", t))[1] == ["DISPUTE_ANSWER_INCOMPLETE"]
    accept = update("REQUEST_ACCEPTED", iri, kind="verification", corrected="3987.00")
    assert (await world.submit(accept, "demoair", t))[1] == []
    assert _totals(world, PERIOD_CODE, world.period.billing_available)[AGENT1] == Decimal(
        "3902.00"
    )  # 3902.26 − 0.26


async def test_sandbox_judges_alike_and_changes_nothing(world: World) -> None:
    summary, codes = await world.submit(
        request(), "agent1", world.at("reports_available"), sandbox=True
    )
    assert (summary.outcome, codes) == ("accepted", [])
    with world.conn() as c:
        assert c.execute("SELECT COUNT(*) FROM disputes").fetchone()[0] == 0
        assert c.execute("SELECT COUNT(*) FROM dispute_events").fetchone()[0] == 0
    assert world.events("dispute.opened") == []
    late = world.at("agent_correction_cutoff", timedelta(days=1))
    _, codes = await world.submit(request("urn:x:s2"), "agent1", late, sandbox=True)
    assert codes == ["DISPUTE_AFTER_CUTOFF"]


# -- escalation ---------------------------------------------------------------------------------


async def test_unanswered_disputes_escalate_to_the_operator_once(world: World) -> None:
    await world.submit(request(), "agent1", world.at("reports_available"))
    await world.submit(
        request("urn:x:2", kind="verification", claimed=None, serial=AWB1, agent=AGENT1),
        "agent1",
        world.at("reports_available"),
    )  # fmt: skip  (refused: AWB1 already disputed by agent1)
    iri2 = "urn:x:agent2"
    await world.submit(
        request(iri2, agent=AGENT2, serial=AWB2, claimed="800.00", disputed="47.75"),
        "agent2", world.at("reports_available"),
    )  # fmt: skip
    await world.submit(
        update("REQUEST_REJECTED", iri2, comment="no"),
        "demoair",
        world.at("agent_correction_cutoff"),
    )
    due = escalation_time(world.period, world.config)
    assert due == world.period.airline_response_cutoff + timedelta(days=1)  # demo policy
    db = world.config.gateway.database
    assert escalate_period(db, world.config, "DE", PERIOD_CODE, due) == 1
    (escalated,) = world.events("dispute.escalated")
    assert (escalated["company"], escalated["agent_code"]) == ("cassops", AGENT1)
    assert escalate_period(db, world.config, "DE", PERIOD_CODE, due) == 0  # once
    assert len(world.events("dispute.escalated")) == 1
    with world.conn() as c:
        d = dispute_by_iri(c, "urn:uuid:00000000-0000-4000-8000-000000000001")
        assert d is not None and d.escalated and d.status == "REQUEST_PENDING"
        assert [h.action for h in history(c, d.id)] == ["opened", "escalated"]
        # still open: still withheld where the country allows it
        assert open_disputed_amounts(c, "DE", PERIOD_CODE) == {AGENT1: Decimal("50.00")}


async def test_readme_examples_through_the_handler(world: World) -> None:
    change, verification, accept, reject, revoke = [
        e.replace(b"20261101M", PERIOD_CODE.encode()) for e in dispute_examples()
    ]
    t = world.at("reports_available")
    assert (await world.submit(change, "agent1", t))[1] == []
    assert (await world.submit(verification, "agent1", t))[1] == []
    assert (await world.submit(accept, "demoair", t))[1] == []
    assert (await world.submit(reject, "demoair", t))[1] == []
    assert (await world.submit(revoke, "agent1", t))[1] == ["DISPUTE_UNKNOWN"]
    after = _totals(world, PERIOD_CODE, world.period.billing_available)
    assert after[AGENT1] == Decimal("3852.26")


async def test_operator_lists_and_shows_disputes(world: World) -> None:
    import argparse
    import io

    from opencass.cli.dispute import cmd_dispute

    await world.submit(request(), "agent1", world.at("reports_available"))
    await world.submit(update("REQUEST_ACCEPTED"), "demoair", world.at("agent_correction_cutoff"))

    def run(**kw: object) -> tuple[int, str]:
        out = io.StringIO()
        code = cmd_dispute(argparse.Namespace(config="unused", **kw), config=world.config, out=out)
        return code, out.getvalue()

    code, text = run(dispute_command="list", country="DE", period=PERIOD_CODE, status=None)
    assert code == 0 and f"997-{AWB1}" in text and "accepted" in text and "50.00 EUR" in text
    assert run(dispute_command="list", country="DE", period=None, status="pending")[1] == (
        "no disputes\n"
    )
    dispute_id = text.split()[0]
    code, text = run(dispute_command="show", dispute=dispute_id)
    assert code == 0 and "1." in text and "opened" in text and "2." in text
    assert f"adjusts:   the final billing of {PERIOD_CODE}" in text
    assert run(dispute_command="show", dispute="DSP-nothing")[0] == 2


async def test_a_second_dispute_adjusts_from_what_the_first_left(world: World) -> None:
    t = world.at("reports_available")
    await world.submit(request(), "agent1", t)
    await world.submit(update("REQUEST_ACCEPTED"), "demoair", t)  # 3987.26 → 3937.26
    second = request("urn:x:second", claimed="3927.26", disputed="10.00")  # of 3937.26
    assert (await world.submit(second, "agent1", t))[1] == []
    assert (await world.submit(update("REQUEST_ACCEPTED", "urn:x:second"), "demoair", t))[1] == []
    after = _totals(world, PERIOD_CODE, world.period.billing_available)
    assert after[AGENT1] == Decimal("3842.26")  # 3902.26 − 50.00 − 10.00


async def test_scheduler_escalates_at_the_policy_time(world: World) -> None:
    from opencass.gateway.scheduler import CloseScheduler

    await world.submit(request(), "agent1", world.at("reports_available"))
    due = escalation_time(world.period, world.config)
    runs: list[str] = []

    def final(c: Config, country: str, code: str, reference: datetime) -> object:
        runs.append(code)
        return code

    # an hour before (not a second: the scheduler plans the job on the wall clock, and a
    # preliminary close that takes over a second would let it fire before the shutdown)
    for now, escalated in ((due - timedelta(hours=1), 0), (due, 1)):
        sched = CloseScheduler(
            world.config, world.store, now=lambda n=now: n, run=final,  # type: ignore[misc]
            write=lambda c, r: [], jobs=milestone_jobs(),
        )  # fmt: skip
        await sched.start()
        await sched.idle()
        jobs = sched.jobs()
        await sched.shutdown()
        assert len(world.events("dispute.escalated")) == escalated
    assert f"DE:{PERIOD_CODE}:dispute-escalation" not in jobs
    rows = {(r["period"], r["kind"]): r for r in await world.store.closes()}
    assert rows[(PERIOD_CODE, "dispute-escalation")]["documents"] == 1


async def test_acceptance_with_no_period_left_to_carry_it_is_refused(world: World) -> None:
    await world.submit(request(), "agent1", world.at("reports_available"))
    with world.conn() as c:
        for p in world.config.calendars["DE"]:
            c.execute(
                "INSERT INTO closes (country, period, kind, reference, started_at)"
                " VALUES ('DE', ?, 'final', 'x', 'y')",
                (p.code,),
            )
    summary, codes = await world.submit(
        update("REQUEST_ACCEPTED"), "demoair", world.at("agent_correction_cutoff")
    )
    assert (summary.outcome, codes) == ("rejected", ["DISPUTE_NO_PERIOD"])
    with world.conn() as c:
        d = dispute_by_iri(c, "urn:uuid:00000000-0000-4000-8000-000000000001")
        assert d is not None and d.status == "REQUEST_PENDING"


async def test_final_close_with_an_accepted_dispute_issues_invoice_and_expects_payment(
    world: World,
) -> None:
    """Defect: the invoice re-read the ledger without the dispute's adjustment and refused the
    close (InvoiceError), leaving no invoice and no expected remittance."""
    from opencass.billing.final import final_close

    await world.submit(request(), "agent1", world.at("reports_available", timedelta(hours=1)))
    await world.submit(update("REQUEST_ACCEPTED"), "demoair", world.at("airline_response_cutoff"))
    billing = world.period.billing_available
    outcome = final_close(world.config, "DE", PERIOD_CODE, billing, billing)
    invoices = [p for p in outcome.paths if "_invoice_" in p.name and p.suffix == ".xml"]
    mine = [p for p in invoices if AGENT1 in p.name]
    assert len(mine) == 1
    xml = mine[0].read_text()
    # 3987.26 − 85.00 (the CCA) − 50.00 (the accepted dispute), by hand
    assert '<cbc:PayableAmount currencyID="EUR">3852.26</cbc:PayableAmount>' in xml
    with world.conn() as c:
        expected = dict(
            c.execute(
                "SELECT agent_code, amount FROM remittance_expected WHERE country = 'DE'"
                " AND period = ?",
                (PERIOD_CODE,),
            ).fetchall()
        )
    assert Decimal(expected[AGENT1]) == Decimal("3852.26")
    assert Decimal(expected[AGENT2]) == Decimal("847.75")
