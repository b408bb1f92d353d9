"""A dispute through the whole daemon on 127.0.0.1: real SFTP uploads into the agent's and the
airline's inboxes, real intake, answers in the outboxes, the dispute and its events in the store.

The daemon runs on the real clock, in a demo calendar made for today: the current period is open
and its Agent Correction Cut-Off is weeks ahead, so the dispute is on time.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncssh

from opencass.cli.samples import DEMO_AGENTS
from opencass.codecs.onerecord.dispute import (
    DisputeRequest,
    DisputeStatusUpdate,
    encode_dispute,
)
from tests.kit.daemon import Running
from tests.kit.db import db_connect
from tests.kit.gateway import PERIOD_CODE, sample_bytes

IRI = "urn:uuid:6f1c2a7e-0000-4000-8000-0000000e2e01"


async def _upload(gw: Running, user: str, name: str, data: bytes) -> None:
    gateway, config_dir = gw.gateway, gw.config_dir
    async with (
        asyncssh.connect(
            "127.0.0.1", gateway.port, username=user, known_hosts=None, agent_path=None,
            client_keys=[str(config_dir / "keys" / user)],
        ) as conn,
        conn.start_sftp_client() as sftp,
        sftp.open(f"/inbox/{name}", "wb") as f,
    ):  # fmt: skip
        await f.write(data)


async def _answer(gw: Running, company: str, name: str) -> str:
    """The text validation report of the file ``name`` once it is in the outbox."""
    folder = gw.gateway.current_config().gateway.mailboxes_dir / company / "outbox"
    for _ in range(600):  # the report appears when intake has judged the file
        for p in sorted(folder.glob("*_validation_*.txt")) if folder.exists() else ():
            text = p.read_text()
            if name in text:
                return text
        await asyncio.sleep(0.05)
    raise AssertionError(f"no report of {name} in {folder}")


async def test_dispute_opened_and_accepted_over_sftp(gw: Running) -> None:
    await _upload(gw, "demoair", "november.hot", sample_bytes())
    assert "Outcome:      accepted" in await _answer(gw, "demoair", "november.hot")

    request = DisputeRequest(
        iri=IRI, kind="change", agent_code=DEMO_AGENTS[0], requested_at="2026-11-22T10:00:00Z",
        country="DE", period=PERIOD_CODE, airline_prefix="997", awb_serial="62144154",
        reason="wrong rate", currency="EUR", disputed_amount=Decimal("50.00"),
        claimed_amount=Decimal("3937.26"),
    )  # fmt: skip
    await _upload(
        gw, "agent1", "dispute.xml", encode_dispute(request, base_iri="https://x.example")
    )
    text = await _answer(gw, "agent1", "dispute.xml")
    assert "Outcome:      accepted" in text, text

    # the airline is told, and answers from its own inbox
    wrong = DisputeStatusUpdate(IRI, "change", "REQUEST_REJECTED", "2026-11-23T10:00:00Z")
    await _upload(gw, "demoair", "reject.xml", encode_dispute(wrong, base_iri="https://x.example"))
    text = await _answer(gw, "demoair", "reject.xml")
    assert "DISPUTE_ANSWER_INCOMPLETE" in text and "rejected" in text
    accept = DisputeStatusUpdate(IRI, "change", "REQUEST_ACCEPTED", "2026-11-23T10:00:00Z")
    await _upload(gw, "demoair", "accept.xml", encode_dispute(accept, base_iri="https://x.example"))
    assert "Outcome:      accepted" in await _answer(gw, "demoair", "accept.xml")

    db = gw.gateway.current_config().gateway.database
    with db_connect(db) as conn:
        status, corrected, period = conn.execute(
            "SELECT status, corrected_amount, adjust_period FROM disputes WHERE request_iri = ?",
            (IRI,),
        ).fetchone()
        events = conn.execute(
            "SELECT type, company FROM events WHERE object_kind = 'dispute' ORDER BY id"
        ).fetchall()
    assert (status, corrected, period) == ("REQUEST_ACCEPTED", "3937.26", PERIOD_CODE)
    assert events == [("dispute.opened", "demoair"), ("dispute.answered", "agent1")]
