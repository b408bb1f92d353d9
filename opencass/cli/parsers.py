"""The ``opencass`` command line: every command's arguments, and nothing else (light to import:
``opencass --help`` reads this module only; a command's own module is imported when it runs)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from opencass import __version__
from opencass.documents.choices import AUDIENCES, LANGUAGES
from opencass.errors import EXIT_CONFIG

__all__ = ["DEFAULT_CONFIG", "DISPUTE_STATUSES", "build_parser"]

DEFAULT_CONFIG = "/etc/opencass"
#: the ``--status`` names of ``dispute list`` and the statuses they stand for
DISPUTE_STATUSES = {
    "pending": "REQUEST_PENDING",
    "accepted": "REQUEST_ACCEPTED",
    "rejected": "REQUEST_REJECTED",
    "revoked": "REQUEST_REVOKED",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_CONFIG, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``opencass`` command."""

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="DIR",
        default=os.environ.get("OPENCASS_CONFIG", DEFAULT_CONFIG),
        help="configuration directory (env OPENCASS_CONFIG, default %(default)s)",
    )
    p = _Parser(prog="opencass", description="Open CASS gateway.", parents=[common])
    p.add_argument("--version", action="version", version=f"opencass {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_file_commands(sub, common)
    _add_demo_commands(sub, common)
    k = sub.add_parser("check-config", parents=[common], help="load and check the configuration")
    k.add_argument("--format", choices=["text", "json"], default="text")
    sv = sub.add_parser("serve", parents=[common], help="run the gateway daemon")
    sv.add_argument("--port", type=int, help="SFTP port (overrides gateway.toml)")
    sv.add_argument(
        "--node", default="",
        help="this gateway's name among the nodes sharing its store (default: OPENCASS_NODE,"
        " else the host name)",
    )  # fmt: skip
    for add in (
        add_period_parser,
        add_dispute_parser,
        add_calendar_parser,
        add_payment_parser,
        add_outbox_parser,
        add_users_parser,
        add_store_parser,
        add_cluster_parser,
    ):
        add(sub, common)
    r = sub.add_parser("receipt", parents=[common], help="receipts")
    rsub = r.add_subparsers(dest="receipt_command", required=True, parser_class=_Parser)
    rv = rsub.add_parser("verify", parents=[common], help="check a receipt's signature")
    rv.add_argument("file", type=Path, help="the receipt; its signature is FILE.sig")
    rv.add_argument("--signature", type=Path, help="signature file (default FILE.sig)")
    rv.add_argument("--key", type=Path, help="gateway public key PEM (default: from --config)")
    d = sub.add_parser("document", parents=[common], help="issued documents")
    dsub = d.add_subparsers(dest="document_command", required=True, parser_class=_Parser)
    dv = dsub.add_parser("verify", parents=[common], help="check a signed PDF's signature")
    dv.add_argument("file", type=Path, help="the PDF (an invoice, a report)")
    dv.add_argument(
        "--trust", type=Path, action="append", default=[],
        help="a trusted certificate (PEM; repeatable); default: the gateway's signing "
        "certificate from --config",
    )  # fmt: skip
    dv.add_argument("--format", choices=["text", "json"], default="text")
    return p


def _add_file_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """``validate`` and ``convert``."""
    v = sub.add_parser("validate", parents=[common], help="validate a HOT or XML billing file")
    v.add_argument("file", type=Path)
    v.add_argument("--format", choices=["text", "json"], default="text")
    v.add_argument(
        "--workers", type=int, default=0, help="processes for large HOT files (default: cores)"
    )
    c = sub.add_parser("convert", parents=[common], help="convert between HOT, XML and JSON-LD")
    c.add_argument("file", type=Path)
    c.add_argument("--to", choices=["hot", "xml", "jsonld"], required=True)
    c.add_argument("-o", "--output", type=Path, help="output file (default: standard output)")
    c.add_argument("--dialect", choices=["handoff", "participant"], help="HOT dialect to write")
    c.add_argument("--format", choices=["text", "json"], default="text", help="findings format")


def _add_demo_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """``demo sample``, ``demo init`` and ``demo push-server``."""
    d = sub.add_parser("demo", parents=[common], help="demo material")
    dsub = d.add_subparsers(dest="demo_command", required=True, parser_class=_Parser)
    s = dsub.add_parser("sample", parents=[common], help="write sample billing files into DIR")
    s.add_argument("dir", type=Path)
    i = dsub.add_parser("init", parents=[common], help="write a complete demo configuration")
    i.add_argument("dir", type=Path)
    i.add_argument("--sftp-port", type=int, default=2222)
    i.add_argument(
        "--portal-port", type=int, default=0, help="serve the participant portal on this port"
    )
    i.add_argument(
        "--with-import", action="store_true", help="Germany's CASS Import operation DE-I too"
    )
    add_push_server_parser(dsub, common)


def add_period_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``period close`` and ``period status`` to the ``opencass`` sub-parsers ``sub``."""
    p = sub.add_parser("period", parents=[common], help="billing periods: close, status")
    psub = p.add_subparsers(dest="period_command", required=True, parser_class=type(p))
    c = psub.add_parser("close", parents=[common], help="net a period and write its outputs")
    c.add_argument("--country", required=True, help="CASS country code, e.g. DE")
    c.add_argument("--period", required=True, help="period code, e.g. 20261101M")
    c.add_argument(
        "--final",
        action="store_true",
        help="the final close, dated at Billing Availability"
        " (without it: the preliminary close, statements only)",
    )
    c.add_argument(
        "--force", action="store_true", help="close again a stage that was completed before"
    )
    c.add_argument("--dry-run", action="store_true", help="print the totals, write nothing")
    c.add_argument(
        "--no-reports",
        dest="reports",
        action="store_false",
        help="final close without the PDF/Excel reports and invoices",
    )
    c.add_argument("--at", help="reference time (ISO 8601) instead of now; ignored with --final")
    s = psub.add_parser("status", parents=[common], help="a period's milestones and bookings")
    s.add_argument("--country", required=True)
    s.add_argument("--period", help="period code (default: the period containing today)")


def add_payment_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``payment record`` and ``payment status`` to the ``opencass`` sub-parsers."""
    p = sub.add_parser("payment", parents=[common], help="agents' remittances: record, status")
    psub = p.add_subparsers(dest="payment_command", required=True, parser_class=type(p))
    r = psub.add_parser("record", parents=[common], help="record a payment received from an agent")
    r.add_argument("--country", required=True, help="CASS country code, e.g. DE")
    r.add_argument("--agent", required=True, help="the agent code (11 digits)")
    r.add_argument("--amount", required=True, help="amount received, e.g. 1234.50")
    r.add_argument("--date", required=True, help="value date, YYYY-MM-DD")
    r.add_argument("--period", help="period code (default: the oldest with something owed)")
    r.add_argument("--reference", default="", help="the bank's or the agent's reference")
    s = psub.add_parser("status", parents=[common], help="expected, paid, irregularities, defaults")
    s.add_argument("--country", required=True)
    s.add_argument("--period", help="only this period")
    s.add_argument("--agent", help="only this agent code")
    f = psub.add_parser("files", parents=[common], help="write the period's pain files again")
    f.add_argument("--country", required=True)
    f.add_argument("--period", required=True)
    a = sub.add_parser("agent", parents=[common], help="agents: reinstate after a default")
    asub = a.add_subparsers(dest="agent_command", required=True, parser_class=type(a))
    r = asub.add_parser("reinstate", parents=[common], help="lift an agent's default")
    r.add_argument("--country", required=True)
    r.add_argument("--agent", required=True, help="the agent code (11 digits)")
    r.add_argument("--reason", required=True, help="why: recorded and sent to the parties")
    k = sub.add_parser("risk", parents=[common], help="agents' risk: report, review")
    ksub = k.add_subparsers(dest="risk_command", required=True, parser_class=type(k))
    rp = ksub.add_parser("report", parents=[common], help="status, capacity, exposure per agent")
    rp.add_argument("--country")
    rp.add_argument("--format", choices=["text", "json", "csv", "pdf"], default="text")
    rp.add_argument("-o", "--output", help="file to write (pdf: required)")
    rv = ksub.add_parser("review", parents=[common], help="record a financial review's result")
    rv.add_argument("--country", required=True)
    rv.add_argument("--agent", required=True)
    rv.add_argument("--result", choices=["pass", "fail"], required=True)
    rv.add_argument("--note", default="")
    sc = ksub.add_parser("security", parents=[common], help="record a security held")
    sc.add_argument("--country", required=True)
    sc.add_argument("--agent", required=True)
    sc.add_argument("--kind", choices=["guarantee", "deposit", "none"], required=True)
    sc.add_argument("--amount", help="e.g. 25000.00 (none: omit)")
    sc.add_argument("--currency", help="default: the country's")
    sc.add_argument("--expires", help="YYYY-MM-DD")
    ck = ksub.add_parser("check", parents=[common], help="raise the alerts due now")
    ck.add_argument("--country")


def add_users_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``users …`` and ``countries status`` to the ``opencass`` sub-parsers ``sub``."""
    p = sub.add_parser("users", parents=[common], help="users: list, show, export, migrate, ...")
    usub = p.add_subparsers(dest="users_command", required=True, parser_class=type(p))
    for name, text in (
        ("list", "the effective users, where each came from, last login"),
        ("export", "the same with names, e-mails and keys (csv by default)"),
    ):
        ls = usub.add_parser(name, parents=[common], help=text)
        ls.add_argument("--company", help="only this company's users (and those with access)")
        default = "csv" if name == "export" else "text"
        ls.add_argument("--format", choices=["text", "json", "csv"], default=default)
    sh = usub.add_parser("show", parents=[common], help="one user and every change to it")
    sh.add_argument("user")
    sh.add_argument("--format", choices=["text", "json"], default="text")
    m = usub.add_parser("migrate", parents=[common], help="migrate the old system's users")
    m.add_argument("export", help="the old system's user export (CSV; docs/operating.md)")
    m.add_argument("--country", required=True, help="CASS country migrated, e.g. DE")
    m.add_argument("--cutoff", required=True, help="YYYY-MM-DD: users not logged in since stay")
    m.add_argument("--dry-run", action="store_true", help="report only; change nothing")
    r = usub.add_parser("reset", parents=[common], help="give a user back to the files")
    r.add_argument("user")
    for name in ("grant", "revoke"):
        g = usub.add_parser(name, parents=[common], help=f"{name} access to another company")
        g.add_argument("user")
        g.add_argument("--company", required=True, help="the company whose mailbox it is")
        g.add_argument("--roles", required=name == "grant", help="e.g. input,output")
    c = sub.add_parser("countries", parents=[common], help="CASS countries: go-live status")
    csub = c.add_subparsers(dest="countries_command", required=True, parser_class=type(c))
    st = csub.add_parser("status", parents=[common], help="states and go-live dates")
    st.add_argument("--format", choices=["text", "json"], default="text")


def add_dispute_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``dispute list`` and ``dispute show`` to the ``opencass`` sub-parsers ``sub``."""
    p = sub.add_parser("dispute", parents=[common], help="disputes: list, show")
    dsub = p.add_subparsers(dest="dispute_command", required=True, parser_class=type(p))
    ls = dsub.add_parser("list", parents=[common], help="disputes, oldest first")
    ls.add_argument("--country", help="CASS country code, e.g. DE")
    ls.add_argument("--period", help="period code of the disputed billing, e.g. 20261101M")
    ls.add_argument(
        "--status", choices=sorted(DISPUTE_STATUSES), help="only disputes in this status"
    )
    sh = dsub.add_parser("show", parents=[common], help="one dispute with its full history")
    sh.add_argument("dispute", help="dispute id (DSP-…) or the request IRI")


def add_calendar_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``calendar export`` to the ``opencass`` sub-parsers ``sub``."""
    p = sub.add_parser("calendar", parents=[common], help="billing calendars: export")
    csub = p.add_subparsers(dest="calendar_command", required=True, parser_class=type(p))
    e = csub.add_parser(
        "export",
        parents=[common],
        help="export the calendar as CSV (IATA portal columns), PDF or iCalendar",
    )
    e.add_argument(
        "--country",
        action="append",
        metavar="CC",
        help="CASS country (repeatable or DE,US; default all)",
    )
    e.add_argument("--kind", default="cass", help="cass (default) or bsp (not held: an error)")
    e.add_argument("--frequency", metavar="F", help="M, F, R, W, V, D or monthly, weekly, ...")
    e.add_argument("--currency", metavar="XXX", help="only countries operating in this currency")
    e.add_argument("--audience", choices=AUDIENCES, default="airline", help="columns and events")
    e.add_argument("--format", choices=("csv", "pdf", "ics"), required=True)
    e.add_argument("-o", "--output", type=Path, help="output file (default: standard output)")
    e.add_argument("--year", type=int, help="only this year's periods (default: every year)")
    e.add_argument(
        "--language",
        choices=LANGUAGES,
        help="PDF and ICS language (default: the country's, or en for several countries)",
    )


def add_outbox_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``outbox status`` and ``outbox retry`` to the ``opencass`` sub-parsers ``sub``."""
    p = sub.add_parser("outbox", parents=[common], help="deliveries: status, retry dead letters")
    osub = p.add_subparsers(dest="outbox_command", required=True, parser_class=type(p))
    s = osub.add_parser("status", parents=[common], help="queued, delivered and dead deliveries")
    s.add_argument("--company", help="one company: its deliveries and documents (collected?)")
    s.add_argument("--format", choices=("text", "json"), default="text")
    r = osub.add_parser("retry", parents=[common], help="queue a dead letter again")
    r.add_argument("id", type=int, help="the delivery id (from `outbox status`)")


def add_store_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``store migrate`` and ``store copy`` to the ``opencass`` sub-parsers ``sub``."""
    p = sub.add_parser("store", parents=[common], help="the store: migrate, copy to PostgreSQL")
    ssub = p.add_subparsers(dest="store_command", required=True, parser_class=type(p))
    ssub.add_parser(
        "migrate", parents=[common], help="bring the configured store's schema up to date"
    )
    c = ssub.add_parser(
        "copy", parents=[common], help="copy every row into another (empty) store, then check"
    )
    c.add_argument(
        "--from", dest="source", metavar="URL",
        help="the store copied: sqlite:///path/opencass.db or postgresql://… (default: the"
        " configured one)",
    )  # fmt: skip
    c.add_argument("--to", dest="target", metavar="URL", required=True, help="the empty store")


def add_cluster_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``cluster status`` to the ``opencass`` sub-parsers ``sub``."""
    p = sub.add_parser("cluster", parents=[common], help="the gateway nodes sharing the store")
    csub = p.add_subparsers(dest="cluster_command", required=True, parser_class=type(p))
    s = csub.add_parser(
        "status", parents=[common], help="the nodes, their last heartbeat and their leases"
    )
    s.add_argument("--format", choices=["text", "json"], default="text")


def add_push_server_parser(
    dsub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    ps = dsub.add_parser(
        "push-server", parents=[common], help="run a participant's own SFTP server to push to"
    )
    ps.add_argument("--dir", type=Path, required=True, help="where pushed files land")
    ps.add_argument("--port", type=int, required=True, help="TCP port on --host (0: any free)")
    ps.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    ps.add_argument(
        "--authorized-key",
        type=Path,
        required=True,
        metavar="FILE",
        help="public key(s) allowed to log in: the gateway's push client key (.pub)",
    )
    ps.add_argument(
        "--host-key",
        type=Path,
        required=True,
        metavar="FILE",
        help="the server's private host key (an Ed25519 key is written there if missing)",
    )
    ps.add_argument("--username", help="the only user name accepted (default: any)")
