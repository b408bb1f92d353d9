"""Subscription rules: reading ``[[subscriptions]]`` strictly, the defaults, matching events."""

from __future__ import annotations

from pathlib import Path

import pytest

from opencass.config import init_demo, load_config
from opencass.config.loader import ConfigError
from opencass.config.subscriptions import (
    Channel,
    Subscription,
    default_rules,
    document_format,
    matches,
)
from opencass.events import Event, EventType
from tests.kit.gateway import TODAY

AGENT1 = "23470068510"


def ev(type_: EventType, **kw: object) -> Event:
    return Event(type=type_, key=f"k:{type_}:{kw}", summary="s", **kw)  # type: ignore[arg-type]


def covered(kind: str, event: Event, company: str, countries: tuple[str, ...] = ("DE",)) -> bool:
    return any(matches(r, event, company, countries) for r in default_rules(kind))


# -- defaults ----------------------------------------------------------------------------------


def test_defaults_tell_agents_and_airlines_about_their_own_events_only() -> None:
    answered = ev(EventType.DISPUTE_ANSWERED, company="agent1", country="DE")
    assert covered("agent", answered, "agent1")
    assert not covered("agent", answered, "agent2")  # someone else's dispute
    assert covered("airline", ev(EventType.WITHDRAWAL_DONE, company="air", country="DE"), "air")
    closed = ev(EventType.PERIOD_CLOSED, country="DE", period="20261101M")
    assert covered("agent", closed, "agent1")  # country-wide: every participant of DE
    assert not covered("agent", closed, "agent1", ("FR",))


def test_defaults_do_not_notify_what_already_is_a_document_in_the_outbox() -> None:
    doc = ev(EventType.DOCUMENT_AVAILABLE, company="agent1", document="a_statement_x.xml")
    assert not covered("agent", doc, "agent1")
    assert not covered("airline", ev(EventType.FILE_ACCEPTED, company="air"), "air")
    reminder = ev(EventType.DOCUMENT_NOT_COLLECTED, company="agent1", document="x.pdf")
    assert covered("agent", reminder, "agent1")  # the reminder is not filtered by format


def test_operators_watch_every_company_but_only_what_needs_attention() -> None:
    overdue = ev(EventType.PAYMENT_OVERDUE, company="agent2", country="FR")
    assert covered("operator", overdue, "cassops", ())
    assert not covered("operator", ev(EventType.DISPUTE_OPENED, company="x"), "cassops")
    (rule,) = default_rules("operator")
    assert rule.notification_formats == {"xml", "text"} and rule.default


# -- matching ------------------------------------------------------------------------------------


def test_filters_must_contain_the_events_value() -> None:
    rule = Subscription(
        frozenset({EventType.DISPUTE_OPENED}), airline_prefixes=frozenset({"020"}), scope="all"
    )
    assert matches(rule, ev(EventType.DISPUTE_OPENED, airline_prefix="020"), "ops")
    assert not matches(rule, ev(EventType.DISPUTE_OPENED, airline_prefix="160"), "ops")
    assert matches(rule, ev(EventType.DISPUTE_OPENED), "ops")  # names no airline: not filtered
    kinds = Subscription(
        frozenset({EventType.DISPUTE_ANSWERED, EventType.DOCUMENT_AVAILABLE}),
        document_kinds=frozenset({"statement"}),
    )
    answer = ev(EventType.DISPUTE_ANSWERED, company="a", object_kind="dispute")
    invoice = ev(EventType.DOCUMENT_AVAILABLE, company="a", object_kind="invoice", document="i.xml")
    assert matches(kinds, answer, "a") and not matches(kinds, invoice, "a")


def test_document_events_match_only_listed_formats() -> None:
    rule = Subscription(frozenset({EventType.DOCUMENT_AVAILABLE}), formats=frozenset({"pdf"}))
    pdf = ev(EventType.DOCUMENT_AVAILABLE, company="a", document="s.pdf", object_kind="statement")
    xml = ev(EventType.DOCUMENT_AVAILABLE, company="a", document="s.xml", data={"format": "xml"})
    assert document_format(pdf) == "pdf" and document_format(xml) == "xml"
    assert matches(rule, pdf, "a") and not matches(rule, xml, "a")
    assert rule.notification_formats == frozenset()  # pdf only: push it, no notification
    kinds = Subscription(rule.events, formats=frozenset({"pdf"}), document_kinds=frozenset({"x"}))
    assert not matches(kinds, pdf, "a")


# -- reading ---------------------------------------------------------------------------------------


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    init_demo(tmp_path / "config", today=TODAY)
    return tmp_path / "config"


def append(config: Path, company: str, text: str) -> None:
    path = config / "participants" / f"{company}.toml"
    path.write_text(path.read_text() + "\n" + text)


def problems(config: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    return [str(p) for p in caught.value.problems]


def test_a_company_without_rules_gets_its_kinds_defaults(demo: Path) -> None:
    config = load_config(demo)
    assert config.companies["agent1"].subscriptions == default_rules("agent")
    assert config.companies["cassops"].subscriptions == default_rules("operator")
    assert config.companies["agent1"].push is None


def test_rules_are_read_and_added_to_the_defaults(demo: Path) -> None:
    append(
        demo,
        "agent1",
        '[[subscriptions]]\nevents = ["document.available", "dispute.answered"]\n'
        'document_kinds = ["statement"]\ncountries = ["DE"]\nagent_codes = ["23470068510"]\n'
        'airline_prefixes = ["997"]\nformats = ["xml", "pdf", "text"]\n'
        'description = "statements"\n',
    )
    rules = load_config(demo).companies["agent1"].subscriptions
    assert rules[0].default and len(rules) == 2
    rule = rules[1]
    assert rule.events == {EventType.DOCUMENT_AVAILABLE, EventType.DISPUTE_ANSWERED}
    assert rule.formats == {"xml", "pdf", "text"} and rule.channels == {Channel.MAILBOX}
    assert rule.agent_codes == {AGENT1} and rule.airline_prefixes == {"997"}
    assert rule.document_kinds == {"statement"} and rule.description == "statements"


def test_defaults_can_be_switched_off_and_star_means_every_event(demo: Path) -> None:
    path = demo / "participants" / "demoair.toml"  # a top-level key: before any table
    path.write_text("subscription_defaults = false\n" + path.read_text())
    append(demo, "demoair", '[[subscriptions]]\nevents = ["*"]\n')
    (rule,) = load_config(demo).companies["demoair"].subscriptions
    assert rule.events == frozenset(EventType) and not rule.default


def test_bad_rules_are_reported_with_file_and_key(demo: Path) -> None:
    append(
        demo,
        "agent1",
        '[[subscriptions]]\nevents = ["statement.ready"]\nformats = ["docx"]\n'
        'channels = ["push", "fax"]\nscope = "all"\nagent_codes = ["12345620022"]\n'
        'countries = ["FR"]\nfilter = 1\n\n[[subscriptions]]\nevents = []\n',
    )
    found = problems(demo)
    where = "participants/agent1.toml: subscriptions[0]"
    expected = [
        f"{where}.events[0]: 'statement.ready' is not an event type",
        f"{where}.formats[0]: 'docx' is not one of xml, hot, pdf, xlsx, csv, text",
        f"{where}.channels[1]: 'fax' is not one of mailbox, push",
        f'{where}.scope: "all" (every company\'s events) is for operators only',
        f"{where}.agent_codes[0]: '12345620022' is not one of the company's agent_codes",
        f"{where}.countries: FR is not one of the company's countries",
        f'{where}.channels: channel "push" needs a [push] table in this file',
        f"{where}.filter: unknown key",
        "participants/agent1.toml: subscriptions[1].events: name at least one event type",
    ]
    for text in expected:
        assert any(p.startswith(text) for p in found), (text, found)


def test_an_operator_may_watch_everything(demo: Path) -> None:
    append(
        demo,
        "cassops",
        '[[subscriptions]]\nevents = ["dispute.opened"]\nscope = "all"\n'
        'airline_prefixes = ["020"]\ncountries = ["FR"]\n',
    )
    rule = load_config(demo).companies["cassops"].subscriptions[-1]
    assert rule.scope == "all" and rule.airline_prefixes == {"020"}
    assert matches(rule, ev(EventType.DISPUTE_OPENED, airline_prefix="020", country="FR"), "x")


def test_the_examples_readme_rule_means_what_it_says(tmp_path: Path) -> None:
    from tests.kit.docs import example_files

    root = tmp_path / "config"
    init_demo(root, today=TODAY)
    for name, text in example_files().items():
        (root / name).write_text(text, "utf-8")
    config = load_config(root)
    assert config.gateway.outbox.reminder_days == 3 and config.gateway.outbox.max_attempts == 8
    company = config.companies["agent1"]
    default, rule = company.subscriptions
    assert default.default and rule.description == "statements and answers from Demo Air"
    statement = ev(EventType.DOCUMENT_AVAILABLE, company="agent1", object_kind="statement",
                   document="s.xml", agent_code=AGENT1)  # fmt: skip
    assert matches(rule, statement, "agent1", company.countries)
    other = ev(EventType.DISPUTE_ANSWERED, company="agent1", airline_prefix="020")
    assert not matches(rule, other, "agent1", company.countries)
    assert matches(rule, ev(EventType.DISPUTE_ANSWERED, company="agent1", airline_prefix="997"),
                   "agent1", company.countries)  # fmt: skip
    assert rule.notification_formats == {"xml", "text"}
