"""The one event builder: keys name their cause as every stored event's key always did."""

from __future__ import annotations

import pytest

from opencass.events import EventType, event


@pytest.mark.parametrize(
    ("kind", "cause", "key"),
    [
        (EventType.FILE_ACCEPTED, ("F1",), "file.accepted:F1"),
        (EventType.DOCUMENT_AVAILABLE, ("agent1", "x.pdf"), "document:agent1:x.pdf"),
        (EventType.PAYMENT_OVERDUE, ("DE", "20261101M", "23470068510", "agent1"),
         "payment.overdue:DE:20261101M:23470068510:agent1"),
        (EventType.CALENDAR_CHANGED, ("agent1", "DE", 2026, "ab12"),
         "calendar.changed:agent1:DE:2026:ab12"),
        (EventType.DISPUTE_ESCALATED, ("D1", ""), "dispute.escalated:D1:"),
    ],
)  # fmt: skip
def test_the_key_is_the_type_and_the_cause(kind: EventType, cause: tuple[object], key: str) -> None:
    made = event(kind, *cause, summary="s", company="agent1")
    assert (made.type, made.key, made.summary, made.company) == (kind, key, "s", "agent1")


def test_a_summary_is_required() -> None:
    with pytest.raises(TypeError):
        event(EventType.FILE_ACCEPTED, "F1")  # type: ignore[call-arg]
